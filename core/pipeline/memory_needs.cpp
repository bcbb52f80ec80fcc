#include "pipeline/memory_needs.h"

#include <algorithm>
#include <filesystem>
#include <limits>
#include <system_error>

#include "io/tensor_source.h"
#include "model/wan_dit.h"
#include "pipeline/df_pipeline.h"

namespace skyreels::pipeline {
namespace {

std::int64_t numel(const std::vector<std::int64_t>& shape) {
  std::int64_t n = 1;
  for (const auto d : shape) n *= d;
  return n;
}

// bf16, or for a block's linear weight with fp8: e4m3 plus a float32 scale per output row.
std::int64_t loaded_bytes(const std::vector<std::int64_t>& shape, bool fp8_linear) {
  if (fp8_linear && shape.size() == 2) return numel(shape) + shape[0] * 4;
  return numel(shape) * 2;
}

}  // namespace

MemoryNeeds memory_needs(const io::TensorSource& weights, const GenerationSettings& s, const PipelineOptions& options,
                         std::int64_t text_encoder_bytes) {
  const auto config = model::WanDitConfig::detect(weights);
  MemoryNeeds n;
  n.dit_blocks = static_cast<int>(config.num_layers);
  n.dim = config.dim;
  n.ffn_dim = config.ffn_dim;
  // Every block has the same shapes: block 0 stands for all.
  for (const auto& key : weights.keys()) {
    const bool in_block = key.rfind("blocks.", 0) == 0;
    if (!in_block) n.dit_other_bytes += loaded_bytes(weights.shape(key), false);
    else if (key.rfind("blocks.0.", 0) == 0) n.block_bytes += loaded_bytes(weights.shape(key), s.fp8);
  }

  // A window's tokens: long videos run windows of base_num_frames.
  const auto window_frames = s.long_mode() ? s.base_num_frames : s.num_frames;
  const auto window_latents = (window_frames - 1) / 4 + 1;
  n.tokens_per_call = dit_tokens(window_latents, s.height, s.width);
  n.guidance = s.guidance_enabled();
  n.prefer_batched_cfg = options.batched_cfg;
  n.chunk_tokens = options.dit_call.chunk_tokens;
  n.text_encoder_bytes = text_encoder_bytes;

  n.decode_height = s.height;
  n.decode_width = s.width;
  const bool per_call = options.streaming_decode && options.decode_latents_per_call > 0;
  n.decode_frames = per_call ? std::min(window_frames, options.decode_latents_per_call * 4) : window_frames;
  // Async rows decode finished blocks while the DiT is still needed, and so do all but the last window.
  n.decodes_between_rows = (options.streaming_decode && s.ar_step > 0) || s.long_mode();
  n.job_label = std::to_string(s.height) + "x" + std::to_string(s.width) + ", " + std::to_string(s.num_frames) +
                " frames" + (s.long_mode() ? " in windows of " + std::to_string(s.base_num_frames) : "");
  return n;
}

void apply_memory_plan(const MemoryPlan& plan, PipelineOptions& run) {
  if (plan.cfg != CfgPlacement::None) run.batched_cfg = plan.cfg == CfgPlacement::Batched;
  if (plan.vae_tiled() && run.vae_tiling.tile == 0) run.vae_tiling = {plan.vae_tile, plan.vae_overlap};
  if (plan.park_dit_for_last_decode) run.park_dit_up_to_bytes = std::numeric_limits<std::int64_t>::max();
}

std::int64_t weights_file_bytes(const std::string& path) {
  std::error_code error;
  if (!std::filesystem::is_directory(path, error)) {
    const auto size = std::filesystem::file_size(path, error);
    return error ? 0 : static_cast<std::int64_t>(size);
  }
  std::int64_t total = 0;
  for (const auto& entry : std::filesystem::directory_iterator(path, error))
    if (entry.is_regular_file(error) && entry.path().extension() == ".safetensors")
      total += static_cast<std::int64_t>(entry.file_size(error));
  return total;
}

}  // namespace skyreels::pipeline
