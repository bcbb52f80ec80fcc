#pragma once

#include <cstdint>
#include <string>

// Where a generation's parts live under a GPU-memory budget (issue 24). A pure function of the model's
// shapes and the job's sizes: no device, no LibTorch, so it runs before any work and on any machine.

namespace skyreels::pipeline {

// What the job needs. Bytes are as loaded (bf16, or float8 blocks with --fp8).
struct MemoryNeeds {
  int dit_blocks = 0;
  std::int64_t block_bytes = 0;      // one DiT block's weights
  std::int64_t dit_other_bytes = 0;  // the DiT's weights outside the blocks (embeddings, head)
  std::int64_t dim = 0, ffn_dim = 0;
  std::int64_t tokens_per_call = 0;  // latent frames of a window x (H/16) x (W/16); dit_tokens()
  bool guidance = false;             // CFG: a batch-2 call, or two batch-1 calls
  bool prefer_batched_cfg = true;    // PipelineOptions::batched_cfg; the planner may still split
  std::int64_t chunk_tokens = 16384; // WanDitCall::chunk_tokens (0: unchunked, which the model underestimates)
  std::int64_t text_encoder_bytes = 0;  // 0: the prompts' embeddings are cached, nothing to place
  // One VAE decode call.
  std::int64_t decode_height = 0, decode_width = 0, decode_frames = 0;
  // Decodes that run while the DiT is still needed (async rows, long-video windows): only the last decode
  // can park the DiT.
  bool decodes_between_rows = false;
  // For messages, e.g. "544x960, 97 frames".
  std::string job_label;
};

enum class CfgPlacement { None, Batched, Split };
enum class TextPlacement { None, GpuThenFree, Cpu };

struct MemoryPlan {
  std::int64_t budget_bytes = 0;
  int resident_blocks = 0;
  int streamed_blocks = 0;  // the last blocks, copied into two device slots one block ahead of compute
  int stream_slots = 0;
  CfgPlacement cfg = CfgPlacement::None;
  TextPlacement text = TextPlacement::None;
  std::int64_t vae_tile = 0, vae_overlap = 0;  // latents; 0: untiled
  bool park_dit_for_last_decode = false;
  // Estimated peaks of each phase (bytes), and the largest.
  std::int64_t text_peak = 0, dit_peak = 0, decode_peak = 0, peak = 0;
  std::string description;  // one line for the CLI and the app

  bool vae_tiled() const { return vae_tile > 0; }
};

// The estimate's constants, calibrated from docs/performance.md (see memory_plan.cpp). Public so tests
// and the bench can compare the model with measurements.
std::int64_t dit_activation_bytes(const MemoryNeeds& needs, int batch);  // peak allocated beyond the weights
std::int64_t dit_call_bytes(const MemoryNeeds& needs, int batch);        // and the allocator's reserve: planned
std::int64_t vae_decode_bytes(std::int64_t height, std::int64_t width, std::int64_t frames, std::int64_t tile_latents);
// The usable part of a budget, after the safety margin.
std::int64_t usable_bytes(std::int64_t budget_bytes);

// Tokens of one DiT call: latent frames x (height/16) x (width/16).
std::int64_t dit_tokens(std::int64_t latent_frames, std::int64_t height, std::int64_t width);

// The plan that keeps most DiT blocks resident within the budget, or an Error(BadArgument) naming what
// does not fit, the figures, and the smallest budget that would.
MemoryPlan plan_memory(std::int64_t budget_bytes, const MemoryNeeds& needs);

// "7.6 GiB", as the descriptions and messages write bytes.
std::string gib_text(std::int64_t bytes);
std::int64_t gib_to_bytes(double gib);

}  // namespace skyreels::pipeline
