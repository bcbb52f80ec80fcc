#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <vector>
#include <memory>
#include <optional>
#include <string>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include "io/json_config.h"
#include "io/tensor_source.h"
#include "model/layers.h"
#include "model/rope.h"
#include "model/sequence_parallel.h"

namespace skyreels::model {

class BlockStreamer;

// Shape of a Wan2.1 / SkyReels-V2 video DiT (DF-1.3B, DF-14B, Wan T2V 1.3B/14B, or tiny test nets).
struct WanDitConfig {
  std::int64_t in_dim = 16, out_dim = 16;
  std::int64_t dim = 1536, ffn_dim = 8960, freq_dim = 256, text_dim = 4096;
  std::int64_t num_heads = 12, num_layers = 30;
  std::int64_t patch_t = 1, patch_h = 2, patch_w = 2;
  double eps = 1e-6;
  bool inject_sample_info = false;  // the fps embedding (DF-1.3B)

  std::int64_t head_dim() const { return dim / num_heads; }

  // Shapes from the weights (official key names); heads from config.json when given (num_heads, or
  // diffusers' num_attention_heads), else dim / 128 as in every released model. A config that
  // disagrees with the weights is an error naming both.
  static WanDitConfig detect(const io::TensorSource& weights, const io::JsonConfig* config_json = nullptr);
  std::string describe() const;
};

// The time conditioning of one call, float32: e [Fe, dim] for the head and e0 [Fe, 6, dim] for the
// blocks, with Fe = 1 (one timestep), the frames, or the tokens (the reference's per-token tables).
struct TimeEmbedding {
  at::Tensor e, e0;
};

// The step cache's part in one call (a fast mode, pipeline/step_cache.h decides it).
struct BlockReuse {
  at::Tensor residual;         // defined: add this instead of running the blocks, when its shape fits
  bool keep_residual = false;  // return what the blocks added, for a later call to reuse
};

// One call's result.
struct DitOutput {
  at::Tensor v;               // the flow prediction [B, 16, F, H, W] float32
  bool reused = false;        // the blocks were skipped and BlockReuse::residual added instead
  at::Tensor block_residual;  // what the blocks added, [B, F, HW, dim] bf16 (this rank's frames), when kept
};

// Per-call options of the forward.
struct WanDitCall {
  // Block-causal self-attention (query block j sees blocks <= j); 0 = bidirectional, as released.
  std::int64_t causal_block_frames = 0;
  // Self-attention in 8 bits (the int8_attention fast mode, kernels/quantized_attention.h).
  bool quantized_attention = false;
  // Token-wise work (norms, modulation, projections, FFN, head) runs on chunks of whole frames of about
  // this many tokens (batch included), so no full-length float32 or FFN-wide temporary is alive at
  // once. 0: one chunk. The result does not depend on it beyond GEMM rounding.
  std::int64_t chunk_tokens = 16384;
  // Compute the time embedding and the float32 modulation tables per token, as the reference does,
  // instead of per frame. The numbers are the same; it exists to measure the reference's cost.
  bool per_token_modulation = false;
  // Ulysses sequence parallelism over several processes (each runs this forward on the same inputs and
  // gets the same output); null: this process computes every token.
  const SequenceParallel* parallel = nullptr;
  std::int64_t parallel_frames = 0;  // set by the forward on its own copy: frames of the whole sequence
  // Sees each block's self-attention inputs q, k, v [B, L, H, D] bf16 (normed, rotated; under Ulysses
  // this rank's heads over all tokens) just before they are attended, once a block in block order: a
  // measurement's view of real activations (skyreels-bench attention). Null: none.
  std::function<void(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v)> self_attention_probe;
};

// Consecutive runs of whole frames holding about `token_budget` tokens each (at least one frame).
class FrameChunks {
public:
  struct Chunk {
    std::int64_t first, count;
  };
  FrameChunks(std::int64_t frames, std::int64_t tokens_per_frame, std::int64_t token_budget);
  std::vector<Chunk>::const_iterator begin() const { return chunks_.begin(); }
  std::vector<Chunk>::const_iterator end() const { return chunks_.end(); }
  std::size_t size() const { return chunks_.size(); }

private:
  std::vector<Chunk> chunks_;
};

class WanSelfAttentionImpl : public torch::nn::Module {
public:
  WanSelfAttentionImpl(const WanDitConfig& config, const at::TensorOptions& options);
  // q, k, v [B, n, H, D] bf16 of a run of tokens a [B, n, dim], written into the given views (GEMMs
  // in bf16; RMSNorm and RoPE in float32 with the table rows of those tokens).
  void project_into(const at::Tensor& a, const Rope3d::Table& rope, const at::Tensor& q_out, const at::Tensor& k_out,
                    const at::Tensor& v_out);
  // Attention over all tokens: [B, L, H*D] bf16, before the output projection `o`.
  at::Tensor attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, std::int64_t tokens_per_frame,
                    const WanDitCall& call);

  Linear q{nullptr}, k{nullptr}, v{nullptr}, o{nullptr};
  RMSNorm norm_q{nullptr}, norm_k{nullptr};
  std::int64_t num_heads;
};
TORCH_MODULE(WanSelfAttention);

class WanCrossAttentionImpl : public torch::nn::Module {
public:
  WanCrossAttentionImpl(const WanDitConfig& config, const at::TensorOptions& options);
  // x: [B, L, dim] (norm3's output), context: [B, Lc, dim] bf16. Returns [B, L, dim] bf16.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& context);

  Linear q{nullptr}, k{nullptr}, v{nullptr}, o{nullptr};
  RMSNorm norm_q{nullptr}, norm_k{nullptr};
  std::int64_t num_heads;
};
TORCH_MODULE(WanCrossAttention);

class WanAttentionBlockImpl : public torch::nn::Module {
public:
  WanAttentionBlockImpl(const WanDitConfig& config, const at::TensorOptions& options);
  // x: [B, F, HW, dim] bf16 residual stream; e0: [Fe, 6, dim] float32 time modulation with Fe = F or 1.
  // Returns the new residual stream, bf16.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& e0, const Rope3d::Table& rope, const at::Tensor& context,
                     const WanDitCall& call);
  // ffn: Linear, tanh GELU, Linear (with float8 weights the GELU happens in the quantization of the
  // second GEMM's input).
  at::Tensor feed_forward(const at::Tensor& x);
  // The block's linear layers to float8 (LinearImpl::quantize_fp8).
  void quantize_fp8();

  at::Tensor modulation;  // [1, 6, dim]
  WanSelfAttention self_attn{nullptr};
  LayerNorm norm3{nullptr};
  WanCrossAttention cross_attn{nullptr};
  torch::nn::Sequential ffn{nullptr};
  double eps;
};
TORCH_MODULE(WanAttentionBlock);

class WanHeadImpl : public torch::nn::Module {
public:
  WanHeadImpl(const WanDitConfig& config, const at::TensorOptions& options);
  // x: [B, F, HW, dim] bf16; e: [Fe, dim] float32. Returns [B, F, HW, out_dim * patch] float32.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& e, const WanDitCall& call);

  at::Tensor modulation;  // [1, 2, dim]
  Linear head{nullptr};
  double eps;
};
TORCH_MODULE(WanHead);

// The transformer. forward() follows the reference's rounding points (spec §2.7): bf16 GEMMs and
// residual stream between blocks, float32 time embedding, modulation, norms, RoPE and head.
// Modulation stays per frame ([F, 6, dim]) and is broadcast over each frame's tokens.
class WanDitImpl : public torch::nn::Module {
public:
  WanDitImpl(const WanDitConfig& config, const at::TensorOptions& options);

  // x: [B, 16, F, H, W] latents (B = 1 is broadcast to the context's batch: CFG as one batch-2 call);
  // t: [F] per-frame timesteps, or [1] for one timestep for all frames (int64 or float);
  // context: [B, Lc, text_dim] text embeddings; fps_index: 0 (16 fps) or 1, used when the model has the
  // fps embedding. Returns the flow prediction [B, 16, F, H, W] float32.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& t, const at::Tensor& context, int fps_index = 1,
                     const WanDitCall& call = {});
  // The same on a time embedding computed beforehand (time_embedding_for, once per row however many
  // calls the row makes), with the step cache's reuse. Input-only: what the blocks did is returned.
  DitOutput forward_embedded(const at::Tensor& x, const TimeEmbedding& time, const at::Tensor& context,
                             const WanDitCall& call = {}, const BlockReuse& reuse = {});
  // The time embedding a call with per-frame timesteps t ([F] or [1]) on latents of `frames` x
  // `tokens_per_frame` tokens uses: per frame, or per token when `call` asks for the reference's tables.
  TimeEmbedding time_embedding_for(const at::Tensor& t, std::int64_t frames, std::int64_t tokens_per_frame,
                                   int fps_index, const WanDitCall& call);

  // The pieces of forward, exposed for tests that bisect against the reference's mid.* tensors.
  at::Tensor embed_text(const at::Tensor& context);             // [B, Lc, dim] bf16
  TimeEmbedding embed_time(const at::Tensor& t, int fps_index);  // a row per timestep in t

  const WanDitConfig& config() const noexcept { return config_; }

  // The float8 fast mode: every block's linear layers become e4m3 with per-row scales (LinearImpl::
  // quantize_fp8; about half the weight memory). Irreversible; an Error naming why on devices
  // without float8 GEMMs.
  void quantize_fp8();
  bool fp8() const;

  // Blocks streamed from host memory under a GPU-memory budget (block_streamer.h); null: all resident.
  // The streamer must have adopted its blocks before the next forward.
  void stream_blocks(std::shared_ptr<BlockStreamer> streamer) { streamer_ = std::move(streamer); }
  BlockStreamer* block_streamer() const noexcept { return streamer_.get(); }

  PatchEmbed patch_embedding{nullptr};
  torch::nn::Sequential text_embedding{nullptr}, time_embedding{nullptr}, time_projection{nullptr};
  Parameter fps_embedding{nullptr};
  torch::nn::Sequential fps_projection{nullptr};
  torch::nn::ModuleList blocks{nullptr};
  WanHead head{nullptr};

private:
  WanDitConfig config_;
  Rope3d rope_;
  std::shared_ptr<BlockStreamer> streamer_;
};
TORCH_MODULE(WanDit);

// Builds the model on `device` in bf16 and fills it from `weights` (official or diffusers key names),
// strictly: missing, unexpected or mis-shaped tensors are an error listing them. With `fp8` the blocks
// become float8 as they load (see load_wan_dit_by_block): the device never holds the bf16 model.
// With `streamed_blocks` > 0 the last that many blocks are streamed from host memory through
// `stream_slots` device slots (block_streamer.h) and the model loads block by block: the device never
// holds more than the resident parts plus one block.
struct DitStreaming {
  int streamed_blocks = 0;
  int stream_slots = 2;
};
WanDit load_wan_dit(const io::TensorSourcePtr& weights, const WanDitConfig& config, c10::Device device,
                    bool fp8 = false, const DitStreaming& streaming = {});
// The DiT's weights (a safetensors file, a shard index or a folder of shards) under the official names
// (a diffusers layout renamed), read on demand.
io::TensorSourcePtr open_wan_dit_weights(const std::string& weights);
// The config of those weights (open_wan_dit_weights) with their config.json (empty: none).
WanDitConfig read_wan_dit_config(const io::TensorSource& weights, const std::string& config_json);
// From the DiT's weights (as open_wan_dit_weights) and its config.json (empty: none);
// pipeline/model_folder.h finds both in a download.
WanDit load_wan_dit(const std::string& weights, const std::string& config_json, c10::Device device, bool fp8 = false,
                    const DitStreaming& streaming = {});

// The model built in host memory, checked against `weights`, then filled and moved to `device` one
// top-level part at a time, each block followed by `on_block` on the device: the device holds the
// finished parts plus one block as loaded, the host one part at a time.
// With streaming, the streamed blocks go on to host memory after `on_block`; with no `on_block` they go
// there straight from the checkpoint.
WanDit load_wan_dit_by_block(const io::TensorSourcePtr& weights, const WanDitConfig& config, c10::Device device,
                             const std::function<void(WanAttentionBlockImpl&)>& on_block,
                             const DitStreaming& streaming = {});

}  // namespace skyreels::model
