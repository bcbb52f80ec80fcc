#include "model/wan_dit.h"

#include <cmath>
#include <regex>
#include <set>

#include <ATen/ATen.h>
#include <torch/nn/modules/container/functional.h>

#include "io/json_config.h"
#include "io/key_map.h"
#include "kernels/fused_ops.h"
#include "kernels/quantized_attention.h"
#include "model/attention.h"
#include "model/block_streamer.h"
#include "model/weights.h"
#include "skyreels/error.h"
#include "skyreels/limits.h"
#include "skyreels/log.h"

namespace skyreels::model {
namespace {

using torch::nn::Functional;
using torch::nn::Sequential;

at::Tensor silu(const at::Tensor& x) { return at::silu(x); }

// The rows of a modulation table [T, dim] that apply to a chunk of frames: the one row of a scalar
// timestep, the chunk's frames of a per-frame table, or its tokens of a per-token table (the reference
// path's, rows frame-major).
at::Tensor chunk_rows(const at::Tensor& table, const FrameChunks::Chunk& c, std::int64_t frames, std::int64_t hw) {
  if (table.size(0) == 1) return table;
  if (table.size(0) == frames) return table.narrow(0, c.first, c.count);
  return table.narrow(0, c.first * hw, c.count * hw);
}

// sinusoidal_embedding_1d: [cos(t w_j), sin(t w_j)], w_j = 10000^(-j/half), in float64.
at::Tensor sinusoidal_embedding(const at::Tensor& t, std::int64_t dim) {
  const std::int64_t half = dim / 2;
  const auto position = t.to(at::kDouble);
  const auto omega = at::pow(10000.0, -at::arange(half, position.options()).div(static_cast<double>(half)));
  const auto sinusoid = at::outer(position, omega);
  return at::cat({at::cos(sinusoid), at::sin(sinusoid)}, 1);
}

// Latents [B, in_dim, F, H, W] whose sizes the patch divides.
void check_latent_shape(const WanDitConfig& c, const at::Tensor& x) {
  if (x.dim() != 5 || x.size(1) != c.in_dim || x.size(2) % c.patch_t || x.size(3) % c.patch_h || x.size(4) % c.patch_w)
    throw Error(ErrorCode::ShapeMismatch, "DiT input must be [B, " + std::to_string(c.in_dim) +
                                              ", F, H, W] with H, W divisible by the patch; got " + c10::str(x.sizes()));
}

// [F] (or [1]) timesteps -> one per token, frame-major: [F * hw].
at::Tensor per_token(const at::Tensor& t, std::int64_t frames, std::int64_t hw) {
  return t.flatten().expand({frames}).repeat_interleave(hw);
}

}  // namespace

FrameChunks::FrameChunks(std::int64_t frames, std::int64_t tokens_per_frame, std::int64_t token_budget) {
  const std::int64_t per_chunk =
      token_budget <= 0 ? frames : std::max<std::int64_t>(1, token_budget / std::max<std::int64_t>(tokens_per_frame, 1));
  for (std::int64_t first = 0; first < frames; first += per_chunk)
    chunks_.push_back({first, std::min(per_chunk, frames - first)});
}

// --- configuration ---------------------------------------------------------------------------------

WanDitConfig WanDitConfig::detect(const io::TensorSource& w, const io::JsonConfig* config_json) {
  WanDitConfig c;
  const auto size = [&](const char* key, std::size_t axis) { return weight_size(w, key, axis, "Wan DiT"); };
  c.dim = size("patch_embedding.weight", 0);
  c.in_dim = size("patch_embedding.weight", 1);
  c.patch_t = size("patch_embedding.weight", 2);
  c.patch_h = size("patch_embedding.weight", 3);
  c.patch_w = size("patch_embedding.weight", 4);
  c.text_dim = size("text_embedding.0.weight", 1);
  c.freq_dim = size("time_embedding.0.weight", 1);
  c.ffn_dim = size("blocks.0.ffn.0.weight", 0);
  // A crafted checkpoint can have empty axes; every size below divides or is divided by these.
  for (const auto& [name, value] : {std::pair<const char*, std::int64_t>{"dim", c.dim}, {"in_dim", c.in_dim},
                                    {"patch_t", c.patch_t}, {"patch_h", c.patch_h}, {"patch_w", c.patch_w},
                                    {"text_dim", c.text_dim}, {"freq_dim", c.freq_dim}, {"ffn_dim", c.ffn_dim}})
    if (value <= 0)
      throw Error(ErrorCode::ShapeMismatch, w.describe() + ": the Wan DiT's " + name + " is " + std::to_string(value) +
                                                " (patch_embedding.weight, text_embedding.0.weight, time_embedding.0.weight "
                                                "and blocks.0.ffn.0.weight must have no empty axis)");
  const auto patch = c.patch_t * c.patch_h * c.patch_w;
  const auto head_rows = size("head.head.weight", 0);
  if (head_rows <= 0 || head_rows % patch != 0)
    throw Error(ErrorCode::ShapeMismatch, w.describe() + ": head.head.weight has " + std::to_string(head_rows) +
                                              " rows, not a positive multiple of the patch's " + std::to_string(patch));
  c.out_dim = head_rows / patch;
  c.inject_sample_info = w.contains("fps_embedding.weight");
  c.num_layers = count_blocks(w);
  c.num_heads = c.dim / 128;

  if (config_json) {
    const auto& json = *config_json;
    if (json.has("num_heads")) c.num_heads = json.get_int("num_heads");
    else if (json.has("num_attention_heads")) c.num_heads = json.get_int("num_attention_heads");
    c.eps = json.get_double("eps", c.eps);
    // Values the config states must agree with the weights.
    auto agree = [&](const char* key, std::int64_t from_weights) {
      if (json.has(key) && json.get_int(key) != from_weights)
        throw Error(ErrorCode::ShapeMismatch, json.label() + ": \"" + key + "\" is " +
                                                  std::to_string(json.get_int(key)) + " but the weights have " +
                                                  std::to_string(from_weights));
    };
    agree("dim", c.dim);
    agree("ffn_dim", c.ffn_dim);
    agree("num_layers", c.num_layers);
    agree("in_dim", c.in_dim);
    agree("out_dim", c.out_dim);
    agree("freq_dim", c.freq_dim);
    agree("text_dim", c.text_dim);
    if (json.has("inject_sample_info") && !json.json()["inject_sample_info"].is_null() &&
        json.get_bool("inject_sample_info") != c.inject_sample_info)
      throw Error(ErrorCode::ShapeMismatch, json.label() + ": \"inject_sample_info\" disagrees with the weights " +
                                                "(fps_embedding " + (c.inject_sample_info ? "present" : "absent") + ")");
  }
  if (c.num_heads <= 0 || c.dim % c.num_heads != 0)
    throw Error(ErrorCode::ShapeMismatch, "dim " + std::to_string(c.dim) + " is not divisible by " +
                                              std::to_string(c.num_heads) + " heads");
  if (c.num_layers == 0) throw Error(ErrorCode::NotFound, w.describe() + ": no transformer blocks");
  logger("model")->debug("Wan DiT config: {}", c.describe());
  return c;
}

std::string WanDitConfig::describe() const {
  return "dim " + std::to_string(dim) + ", ffn " + std::to_string(ffn_dim) + ", " + std::to_string(num_heads) +
         " heads, " + std::to_string(num_layers) + " layers, text " + std::to_string(text_dim) + ", fps embedding " +
         (inject_sample_info ? "yes" : "no");
}

// --- attention ------------------------------------------------------------------------------------

WanSelfAttentionImpl::WanSelfAttentionImpl(const WanDitConfig& c, const at::TensorOptions& opts)
    : num_heads(c.num_heads) {
  q = register_module("q", Linear(c.dim, c.dim, true, opts));
  k = register_module("k", Linear(c.dim, c.dim, true, opts));
  v = register_module("v", Linear(c.dim, c.dim, true, opts));
  this->o = register_module("o", Linear(c.dim, c.dim, true, opts));
  norm_q = register_module("norm_q", RMSNorm(c.dim, c.eps, opts));
  norm_k = register_module("norm_k", RMSNorm(c.dim, c.eps, opts));
}

void WanSelfAttentionImpl::project_into(const at::Tensor& a, const Rope3d::Table& rope, const at::Tensor& q_out,
                                        const at::Tensor& k_out, const at::Tensor& v_out) {
  const auto x = a.to(at::kBFloat16);
  // The float8 mode quantizes the shared input once for the three projections.
  std::optional<kernels::Fp8Rows> xq;
  if (q->fp8() || k->fp8() || v->fp8()) xq = kernels::quantize_rows_fp8(x.reshape({-1, x.size(-1)}));
  const auto project = [&](Linear& w) { return w->fp8() ? w->forward_fp8(*xq, x.sizes()) : w(x); };
  // RMSNorm over the full dim and RoPE in float32, rounded to bf16 for the attention kernel.
  kernels::rms_norm_rope_into(q_out, project(q), norm_q->weight, rope.cos, rope.sin, norm_q->eps);
  kernels::rms_norm_rope_into(k_out, project(k), norm_k->weight, rope.cos, rope.sin, norm_k->eps);
  v_out.copy_(project(v).view(v_out.sizes()));
}

at::Tensor WanSelfAttentionImpl::attend(const at::Tensor& qh, const at::Tensor& kh, const at::Tensor& vh,
                                        std::int64_t tokens_per_frame, const WanDitCall& call) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(qh.size(3)));
  const AttentionFn kernel = call.quantized_attention ? &kernels::quantized_attention : &attention;
  auto run = [&](const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
    if (call.self_attention_probe) call.self_attention_probe(q, k, v);
    return call.causal_block_frames > 0
               ? block_causal_attention(q, k, v, scale, tokens_per_frame, call.causal_block_frames, kernel)
               : kernel(q, k, v, scale);
  };
  if (!call.parallel) return run(qh, kh, vh).flatten(2);
  // Ulysses: this rank's tokens of all heads -> all tokens of its heads, attend, and back.
  const auto& sp = *call.parallel;
  std::vector<std::int64_t> tokens;
  for (const auto f : sp.frames_per_rank(call.parallel_frames)) tokens.push_back(f * tokens_per_frame);
  const auto out = run(sp.gather_sequence(qh, tokens), sp.gather_sequence(kh, tokens), sp.gather_sequence(vh, tokens));
  return sp.scatter_sequence(out, tokens).flatten(2);
}

WanCrossAttentionImpl::WanCrossAttentionImpl(const WanDitConfig& c, const at::TensorOptions& opts)
    : num_heads(c.num_heads) {
  q = register_module("q", Linear(c.dim, c.dim, true, opts));
  k = register_module("k", Linear(c.dim, c.dim, true, opts));
  v = register_module("v", Linear(c.dim, c.dim, true, opts));
  this->o = register_module("o", Linear(c.dim, c.dim, true, opts));
  norm_q = register_module("norm_q", RMSNorm(c.dim, c.eps, opts));
  norm_k = register_module("norm_k", RMSNorm(c.dim, c.eps, opts));
}

at::Tensor WanCrossAttentionImpl::forward(const at::Tensor& x, const at::Tensor& context) {
  const auto b = x.size(0), l = x.size(1), lc = context.size(1), d = x.size(2) / num_heads;
  auto qh = at::empty({b, l, num_heads, d}, context.options().dtype(at::kBFloat16));
  kernels::rms_norm_into(qh, q(x.to(at::kBFloat16)), norm_q->weight, norm_q->eps);
  const auto kh = norm_k(k(context)).to(at::kBFloat16).view({b, lc, num_heads, d});
  const auto vh = v(context).view({b, lc, num_heads, d});
  return o(attention(qh, kh, vh, 1.0 / std::sqrt(static_cast<double>(d))).flatten(2));
}

// --- block and head ---------------------------------------------------------------------------------

WanAttentionBlockImpl::WanAttentionBlockImpl(const WanDitConfig& c, const at::TensorOptions& opts) : eps(c.eps) {
  modulation = register_parameter("modulation", at::empty({1, 6, c.dim}, opts), false);
  self_attn = register_module("self_attn", WanSelfAttention(c, opts));
  norm3 = register_module("norm3", LayerNorm(c.dim, c.eps, opts));
  cross_attn = register_module("cross_attn", WanCrossAttention(c, opts));
  ffn = register_module("ffn", Sequential(Linear(c.dim, c.ffn_dim, true, opts), Functional(gelu_tanh),
                                          Linear(c.ffn_dim, c.dim, true, opts)));
}

at::Tensor WanAttentionBlockImpl::forward(const at::Tensor& x, const at::Tensor& e0, const Rope3d::Table& rope,
                                          const at::Tensor& context, const WanDitCall& call) {
  const auto b = x.size(0), frames = x.size(1), hw = x.size(2), dim = x.size(3);
  const auto heads = self_attn->num_heads;
  // Six float32 modulation rows per frame (per token on the reference path): shift/scale/gate of
  // attention, then of the FFN.
  const auto mod = modulation.to(at::kFloat) + e0;  // [Fe, 6, dim]
  const FrameChunks chunks(frames, b * hw, call.chunk_tokens);
  const auto m = [&](int i, const FrameChunks::Chunk& c) { return chunk_rows(mod.select(1, i), c, frames, hw); };

  // Self-attention: q, k, v of every token, a chunk of frames at a time, then one attention call.
  auto qh = at::empty({b, frames * hw, heads, dim / heads}, x.options());
  auto kh = at::empty_like(qh), vh = at::empty_like(qh);
  for (const auto& c : chunks) {
    const auto a = kernels::modulated_layer_norm(x.narrow(1, c.first, c.count), m(0, c), m(1, c), eps, at::kBFloat16);
    const auto tokens = [&](const at::Tensor& t) { return t.narrow(1, c.first * hw, c.count * hw); };
    self_attn->project_into(a.flatten(1, 2), rope.rows(c.first * hw, c.count * hw), tokens(qh), tokens(kh), tokens(vh));
  }
  const auto attended = self_attn->attend(qh, kh, vh, hw, call);  // [B, L, dim] bf16
  qh = kh = vh = at::Tensor();

  // The rest is token-wise: output projection and gated residual, cross-attention, FFN. The stream h
  // stays float32 inside the block.
  auto out = at::empty_like(x);
  for (const auto& c : chunks) {
    const auto y = self_attn->o(attended.narrow(1, c.first * hw, c.count * hw)).view({b, c.count, hw, dim});
    // Cross-attention sees the stream rounded to bf16, through norm3 (affine).
    auto [h, n3] = kernels::gated_residual_affine_norm(x.narrow(1, c.first, c.count), y, m(2, c), norm3->weight,
                                                       norm3->bias, norm3->eps);
    const auto f = kernels::residual_modulated_layer_norm(h, cross_attn(n3.flatten(1, 2), context).view_as(h), m(3, c),
                                                          m(4, c), eps);
    // SkyReels rounds the residual stream to bf16 after every block.
    kernels::gated_residual_into(out.narrow(1, c.first, c.count), h, feed_forward(f), m(5, c));
  }
  return out;
}

at::Tensor WanAttentionBlockImpl::feed_forward(const at::Tensor& x) {
  auto& down = *ffn[2]->as<LinearImpl>();
  if (!down.fp8()) return ffn->forward(x);
  const auto h = ffn[0]->as<LinearImpl>()->forward(x);  // bf16
  return down.forward_fp8(kernels::gelu_quantize_rows_fp8(h.reshape({-1, h.size(-1)})), h.sizes());
}

WanHeadImpl::WanHeadImpl(const WanDitConfig& c, const at::TensorOptions& opts) : eps(c.eps) {
  modulation = register_parameter("modulation", at::empty({1, 2, c.dim}, opts), false);
  head = register_module("head", Linear(c.dim, c.out_dim * c.patch_t * c.patch_h * c.patch_w, true, opts));
}

at::Tensor WanHeadImpl::forward(const at::Tensor& x, const at::Tensor& e, const WanDitCall& call) {
  const auto mod = modulation.to(at::kFloat) + e.unsqueeze(1);  // [Fe, 2, dim]: shift, scale
  const auto frames = x.size(1), hw = x.size(2);
  auto out = at::empty({x.size(0), frames, hw, head->weight.size(0)}, x.options().dtype(at::kFloat));
  for (const auto& c : FrameChunks(frames, x.size(0) * hw, call.chunk_tokens)) {
    const auto shift = chunk_rows(mod.select(1, 0), c, frames, hw);
    const auto scale = chunk_rows(mod.select(1, 1), c, frames, hw);
    // float32 GEMM, as the reference
    out.narrow(1, c.first, c.count)
        .copy_(head(kernels::modulated_layer_norm(x.narrow(1, c.first, c.count), shift, scale, eps, at::kFloat)));
  }
  return out;
}

// --- the transformer ----------------------------------------------------------------------------------

// The RoPE table's length is the per-window limit validate() checks settings against (limits.h), so a
// window that does not fit is refused before any work rather than failing in the forward.
WanDitImpl::WanDitImpl(const WanDitConfig& c, const at::TensorOptions& opts)
    : config_(c), rope_(c.head_dim(), limits::kMaxWindowLatents) {
  patch_embedding =
      register_module("patch_embedding", PatchEmbed(c.in_dim, c.dim, c.patch_t, c.patch_h, c.patch_w, opts));
  text_embedding = register_module(
      "text_embedding", Sequential(Linear(c.text_dim, c.dim, true, opts), Functional(gelu_tanh), Linear(c.dim, c.dim, true, opts)));
  time_embedding = register_module(
      "time_embedding", Sequential(Linear(c.freq_dim, c.dim, true, opts), Functional(silu), Linear(c.dim, c.dim, true, opts)));
  time_projection = register_module("time_projection", Sequential(Functional(silu), Linear(c.dim, 6 * c.dim, true, opts)));
  if (c.inject_sample_info) {
    fps_embedding = register_module("fps_embedding", Parameter(std::vector<std::int64_t>{2, c.dim}, opts));
    fps_projection = register_module(
        "fps_projection", Sequential(Linear(c.dim, c.dim, true, opts), Functional(silu), Linear(c.dim, 6 * c.dim, true, opts)));
  }
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (std::int64_t i = 0; i < c.num_layers; ++i) blocks->push_back(WanAttentionBlock(c, opts));
  head = register_module("head", WanHead(c, opts));
}

void WanAttentionBlockImpl::quantize_fp8() {
  for (auto* l : {&self_attn->q, &self_attn->k, &self_attn->v, &self_attn->o}) (*l)->quantize_fp8();
  for (auto* l : {&cross_attn->q, &cross_attn->k, &cross_attn->v, &cross_attn->o}) (*l)->quantize_fp8();
  for (const std::size_t i : {0u, 2u}) ffn[i]->as<LinearImpl>()->quantize_fp8();
}

void WanDitImpl::quantize_fp8() {
  // Streamed blocks wait in host memory, where float8 GEMMs cannot run; a streamed float8 model is made
  // block by block as it loads (load_wan_dit with fp8).
  if (streamer_)
    throw Error(ErrorCode::Unsupported, "float8 cannot be applied to a DiT whose blocks are streamed; load it with fp8");
  for (const auto& block : *blocks) block->as<WanAttentionBlock>()->quantize_fp8();
}

bool WanDitImpl::fp8() const {
  return !blocks->is_empty() && blocks->ptr<WanAttentionBlockImpl>(0)->self_attn->q->fp8();
}

at::Tensor WanDitImpl::embed_text(const at::Tensor& context) {
  return text_embedding->forward(context.to(at::kBFloat16));
}

TimeEmbedding WanDitImpl::embed_time(const at::Tensor& t, int fps_index) {
  const auto device = patch_embedding->weight.device();
  // The sinusoid is rounded to bf16 (the weights' dtype), then the MLPs run in float32.
  const auto sinusoid = sinusoidal_embedding(t.to(device).flatten(), config_.freq_dim).to(at::kBFloat16).to(at::kFloat);
  const auto e = time_embedding->forward(sinusoid);
  auto e0 = time_projection->forward(e).unflatten(1, {6, config_.dim});
  if (config_.inject_sample_info) {
    if (fps_index != 0 && fps_index != 1)
      throw Error(ErrorCode::BadArgument, "fps index must be 0 (16 fps) or 1, got " + std::to_string(fps_index));
    const auto fps = fps_embedding->weight[fps_index].to(at::kFloat).unsqueeze(0);
    e0 = e0 + fps_projection->forward(fps).unflatten(1, {6, config_.dim});
  }
  return {e, e0};
}

TimeEmbedding WanDitImpl::time_embedding_for(const at::Tensor& t, std::int64_t frames, std::int64_t tokens_per_frame,
                                             int fps_index, const WanDitCall& call) {
  // The reference embeds the timestep of every token (its float32 tables are [L, 6, dim]); the same
  // rows per frame are what the fast path computes.
  return embed_time(call.per_token_modulation ? per_token(t, frames, tokens_per_frame) : t, fps_index);
}

at::Tensor WanDitImpl::forward(const at::Tensor& x, const at::Tensor& t, const at::Tensor& context, int fps_index,
                               const WanDitCall& call) {
  const auto& c = config_;
  check_latent_shape(c, x);
  const auto frames = x.size(2) / c.patch_t;
  if (t.numel() != frames && t.numel() != 1)
    throw Error(ErrorCode::ShapeMismatch, "timesteps must be one per latent frame (" + std::to_string(frames) +
                                              ") or one for all, got " + std::to_string(t.numel()));
  const auto time = time_embedding_for(t, frames, (x.size(3) / c.patch_h) * (x.size(4) / c.patch_w), fps_index, call);
  return forward_embedded(x, time, context, call).v;
}

DitOutput WanDitImpl::forward_embedded(const at::Tensor& x, const TimeEmbedding& time, const at::Tensor& context,
                                       const WanDitCall& call, const BlockReuse& reuse) {
  const auto& c = config_;
  check_latent_shape(c, x);
  if (context.dim() != 3 || context.size(2) != c.text_dim)
    throw Error(ErrorCode::ShapeMismatch, "text context must be [B, L, " + std::to_string(c.text_dim) + "], got " +
                                              c10::str(context.sizes()));
  const auto batch = context.size(0);
  if (x.size(0) != batch && x.size(0) != 1)
    throw Error(ErrorCode::ShapeMismatch, "latent batch " + std::to_string(x.size(0)) + " does not match context batch " +
                                              std::to_string(batch));
  const auto frames = x.size(2) / c.patch_t, height = x.size(3) / c.patch_h, width = x.size(4) / c.patch_w;
  const auto rows = time.e0.defined() && time.e0.dim() == 3 ? time.e0.size(0) : -1;
  if (rows != 1 && rows != frames && rows != frames * height * width)
    throw Error(ErrorCode::ShapeMismatch, "the time embedding must have a row per latent frame (" + std::to_string(frames) +
                                              "), per token or one for all; got " + std::to_string(rows));
  if (call.causal_block_frames < 0) throw Error(ErrorCode::BadArgument, "causal block size must not be negative");

  // Latents shared by cond and uncond are embedded once.
  auto tokens = patch_embedding(x.to(at::kBFloat16));  // [B or 1, F, HW, dim]
  if (tokens.size(0) != batch) tokens = tokens.expand({batch, -1, -1, -1}).contiguous();
  const auto ctx = embed_text(context);
  auto e = time.e, e0 = time.e0;
  auto rope = rope_.table(frames, height, width, tokens.device());

  // Sequence parallel: keep this rank's frames of the tokens and of every per-frame table.
  WanDitCall local_call = call;
  std::int64_t first = 0, count = frames;
  if (call.parallel) {
    const auto& sp = *call.parallel;
    if (frames < sp.size())
      throw Error(ErrorCode::BadArgument, std::to_string(frames) + " latent frames cannot be split over " +
                                              std::to_string(sp.size()) + " ranks");
    first = sp.first_frame(frames);
    count = sp.frames_per_rank(frames)[sp.rank()];
    local_call.parallel_frames = frames;
    const auto hw = height * width;
    auto local_rows = [&](const at::Tensor& table) {
      if (table.size(0) == 1) return table;
      return table.size(0) == frames ? table.narrow(0, first, count) : table.narrow(0, first * hw, count * hw);
    };
    tokens = tokens.narrow(1, first, count).contiguous();
    e = local_rows(e);
    e0 = local_rows(e0);
    rope = rope.rows(first * hw, count * hw);
  }

  DitOutput result;
  result.reused = reuse.residual.defined() && reuse.residual.sizes() == tokens.sizes();
  if (result.reused) {
    tokens = tokens + reuse.residual;  // the step cache: the blocks' last contribution, reused
  } else {
    const auto before = reuse.keep_residual ? tokens : at::Tensor();
    try {
      for (std::int64_t i = 0; i < static_cast<std::int64_t>(blocks->size()); ++i) {
        if (streamer_) streamer_->ready(i);
        tokens = blocks[static_cast<std::size_t>(i)]->as<WanAttentionBlock>()->forward(tokens, e0, rope, ctx, local_call);
        if (streamer_) streamer_->done(i);
      }
    } catch (...) {
      if (streamer_) streamer_->abandon();  // no block left pointing at a slot, no copy left in flight
      throw;
    }
    if (reuse.keep_residual) result.block_residual = tokens - before;
  }

  // Head, then unpatchify: [B, F, h*w, pt*ph*pw*C] -> [B, C, F*pt, h*ph, w*pw].
  const auto out = head(tokens, e, local_call)
                       .view({batch, count, height, width, c.patch_t, c.patch_h, c.patch_w, c.out_dim})
                       .permute({0, 7, 1, 4, 2, 5, 3, 6})
                       .reshape({batch, c.out_dim, count * c.patch_t, height * c.patch_h, width * c.patch_w});
  if (!call.parallel) {
    result.v = out;
    return result;
  }
  std::vector<std::int64_t> out_frames;
  for (const auto f : call.parallel->frames_per_rank(frames)) out_frames.push_back(f * c.patch_t);
  result.v = call.parallel->gather_frames(out, out_frames);
  return result;
}

// --- loading ---------------------------------------------------------------------------------------------

WanDit load_wan_dit(const io::TensorSourcePtr& weights, const WanDitConfig& config, c10::Device device, bool fp8,
                    const DitStreaming& streaming) {
  if (fp8) {
    if (const auto why = fp8_unsupported_reason(device); !why.empty()) throw Error(ErrorCode::Unsupported, why);
    return load_wan_dit_by_block(weights, config, device, [](WanAttentionBlockImpl& b) { b.quantize_fp8(); }, streaming);
  }
  if (streaming.streamed_blocks > 0) return load_wan_dit_by_block(weights, config, device, nullptr, streaming);
  WanDit model(config, at::TensorOptions().device(device).dtype(at::kBFloat16));
  load_weights_strict(*model, *weights);
  model->eval();
  return model;
}

WanDit load_wan_dit_by_block(const io::TensorSourcePtr& weights, const WanDitConfig& config, c10::Device device,
                             const std::function<void(WanAttentionBlockImpl&)>& on_block,
                             const DitStreaming& streaming) {
  // Host tensors are allocated, not touched, until filled; each is freed once its part has moved.
  WanDit model(config, at::TensorOptions().device(at::kCPU).dtype(at::kBFloat16));
  check_weights_fit(*model, *weights);
  const auto blocks = static_cast<std::int64_t>(model->blocks->size());
  if (streaming.streamed_blocks < 0 || streaming.streamed_blocks > blocks)
    throw Error(ErrorCode::BadArgument, "cannot stream " + std::to_string(streaming.streamed_blocks) + " of the DiT's " +
                                            std::to_string(blocks) + " blocks");
  const std::int64_t first_streamed = blocks - streaming.streamed_blocks;
  std::shared_ptr<BlockStreamer> streamer;
  if (streaming.streamed_blocks > 0) {
    std::vector<torch::nn::Module*> list;
    for (const auto& b : *model->blocks) list.push_back(b.get());
    streamer = std::make_shared<BlockStreamer>(std::move(list), first_streamed, streaming.stream_slots, device);
  }
  for (const auto& part : model->named_children()) {
    if (part.value().get() != model->blocks.ptr().get()) {
      copy_weights(*part.value(), *weights, part.key() + ".");
      part.value()->to(device);
      continue;
    }
    for (std::size_t i = 0; i < model->blocks->size(); ++i) {
      auto block = model->blocks[i];
      copy_weights(*block, *weights, "blocks." + std::to_string(i) + ".");
      const bool streamed = streamer && static_cast<std::int64_t>(i) >= first_streamed;
      // A streamed block with nothing to do on the device goes straight to its host home.
      if (!streamed || on_block) block->to(device);
      if (on_block) on_block(*block->as<WanAttentionBlockImpl>());
      if (streamed) streamer->adopt(static_cast<std::int64_t>(i));
    }
  }
  model->stream_blocks(streamer);
  for (const auto& p : model->named_parameters()) {
    const auto at = p.value().device();
    if (streamer && p.key().rfind("blocks.", 0) == 0 &&
        std::stoll(p.key().substr(7, p.key().find('.', 7) - 7)) >= first_streamed)
      continue;  // in host memory on purpose
    if (p.value().numel() > 0 && (at.type() != device.type() || (device.has_index() && at.index() != device.index())))
      throw Error(ErrorCode::Runtime, "load_wan_dit_by_block: " + p.key() + " did not reach " + device.str());
  }
  model->eval();
  return model;
}

io::TensorSourcePtr open_wan_dit_weights(const std::string& weights) {
  auto source = io::open_weights(weights);
  if (io::is_diffusers_dit(source->keys()))
    source = io::renamed_view(source, io::dit_key_from_diffusers, source->describe() + " (diffusers layout)");
  return source;
}

WanDitConfig read_wan_dit_config(const io::TensorSource& weights, const std::string& config_json) {
  std::optional<io::JsonConfig> json;
  if (!config_json.empty()) json = io::JsonConfig::load(config_json);
  return WanDitConfig::detect(weights, json ? &*json : nullptr);
}

WanDit load_wan_dit(const std::string& weights, const std::string& config_json, c10::Device device, bool fp8,
                    const DitStreaming& streaming) {
  const auto source = open_wan_dit_weights(weights);
  const auto config = read_wan_dit_config(*source, config_json);
  logger("model")->info("loading Wan DiT ({}) from {}", config.describe(), source->describe());
  return load_wan_dit(source, config, device, fp8, streaming);
}

}  // namespace skyreels::model
