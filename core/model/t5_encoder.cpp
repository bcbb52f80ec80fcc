#include "model/t5_encoder.h"

#include <cmath>
#include <limits>
#include <map>
#include <regex>
#include <set>

#include <ATen/ATen.h>
#include <c10/util/BFloat16.h>

#include "io/json_config.h"
#include "model/weights.h"
#include "skyreels/error.h"
#include "skyreels/log.h"

namespace skyreels::model {
namespace {

// The reference's rounding points under autocast(bf16) with bf16 weights (spec §7), which this file
// reproduces op by op:
//   embedding lookup                   bf16 (the table's dtype)
//   T5LayerNorm                        mean(x^2) in float32; x * rsqrt(.) promoted to float32, rounded
//                                      to bf16 (type_as(weight)), then weight * x in bf16
//   q, k, v, o, fc1, gate, fc2         bf16 GEMMs (autocast), float32 accumulation
//   q kᵀ (einsum -> bmm)               bf16
//   attention bias                     zeros of x's dtype (bf16) + position table, padded keys filled
//                                      with finfo(bf16).min; logits + bias in bf16
//   softmax                            float32, then cast back to bf16 (type_as)
//   GELU                               torch.pow autocasts to float32, so the tanh part and the
//                                      product are float32; only 0.5 * x stays bf16 (exact)
//   fc1(x) * gelu                      bf16 * float32 -> float32, rounded to bf16 by fc2's autocast
//   residual adds                      bf16
//   context * mask                     bf16
// In Float32 mode every step is float32.

at::ScalarType activation_dtype(T5Compute compute) {
  return compute == T5Compute::Bf16Autocast ? at::kBFloat16 : at::kFloat;
}

// torch.finfo(dtype).min: what the reference fills padded keys with.
double lowest(at::ScalarType dtype) {
  if (dtype == at::kBFloat16) return static_cast<double>(std::numeric_limits<c10::BFloat16>::lowest());
  return static_cast<double>(std::numeric_limits<float>::lowest());
}

// The reference's GELU: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). Under autocast its pow runs
// in float32 and promotes the rest; 0.5 * x stays in x's dtype (exact). Returns float32.
constexpr double kSqrt2OverPi = 0.79788456080286535588;  // math.sqrt(2 / math.pi)

at::Tensor gelu_tanh_as_reference(const at::Tensor& x) {
  const auto xf = x.to(at::kFloat);
  const auto inner = at::tanh((xf + xf.pow(3) * 0.044715) * kSqrt2OverPi) + 1.0;
  return (x * 0.5).to(at::kFloat) * inner;
}

// --- HF UMT5EncoderModel names --------------------------------------------------------------------

struct Rule {
  std::regex pattern;
  std::string replacement;
};

const std::vector<Rule>& hf_rules() {
  static const std::vector<Rule> rules = {
      {std::regex(R"(^shared\.weight$)"), "token_embedding.weight"},
      {std::regex(R"(^encoder\.embed_tokens\.weight$)"), "token_embedding.weight"},
      {std::regex(R"(^encoder\.block\.(\d+)\.layer\.0\.SelfAttention\.([qkvo])\.weight$)"), "blocks.$1.attn.$2.weight"},
      {std::regex(R"(^encoder\.block\.(\d+)\.layer\.0\.SelfAttention\.relative_attention_bias\.weight$)"),
       "blocks.$1.pos_embedding.embedding.weight"},
      {std::regex(R"(^encoder\.block\.(\d+)\.layer\.0\.layer_norm\.weight$)"), "blocks.$1.norm1.weight"},
      {std::regex(R"(^encoder\.block\.(\d+)\.layer\.1\.DenseReluDense\.wi_0\.weight$)"), "blocks.$1.ffn.gate.0.weight"},
      {std::regex(R"(^encoder\.block\.(\d+)\.layer\.1\.DenseReluDense\.wi_1\.weight$)"), "blocks.$1.ffn.fc1.weight"},
      {std::regex(R"(^encoder\.block\.(\d+)\.layer\.1\.DenseReluDense\.wo\.weight$)"), "blocks.$1.ffn.fc2.weight"},
      {std::regex(R"(^encoder\.block\.(\d+)\.layer\.1\.layer_norm\.weight$)"), "blocks.$1.norm2.weight"},
      {std::regex(R"(^encoder\.final_layer_norm\.weight$)"), "norm.weight"},
  };
  return rules;
}

}  // namespace

const char* to_string(T5Compute compute) {
  return compute == T5Compute::Bf16Autocast ? "bf16-autocast" : "float32";
}

// --- configuration ---------------------------------------------------------------------------------

T5EncoderConfig T5EncoderConfig::detect(const io::TensorSource& w, std::optional<std::int64_t> num_heads) {
  if (w.contains("pos_embedding.embedding.weight"))
    throw Error(ErrorCode::Unsupported, w.describe() + ": one relative position table shared by all layers (T5, "
                                                       "shared_pos=True); only umT5's per-layer tables are supported");
  T5EncoderConfig c;
  const auto size = [&](const char* key, std::size_t axis) { return weight_size(w, key, axis, "umT5 encoder"); };
  c.vocab = size("token_embedding.weight", 0);
  c.dim = size("token_embedding.weight", 1);
  c.dim_attn = size("blocks.0.attn.q.weight", 0);
  c.dim_ffn = size("blocks.0.ffn.fc1.weight", 0);
  c.num_buckets = size("blocks.0.pos_embedding.embedding.weight", 0);
  c.num_heads = size("blocks.0.pos_embedding.embedding.weight", 1);
  c.num_layers = count_blocks(w);
  if (num_heads && *num_heads != c.num_heads)
    throw Error(ErrorCode::ShapeMismatch, w.describe() + ": " + std::to_string(*num_heads) +
                                              " heads requested but the position tables have " +
                                              std::to_string(c.num_heads));
  if (c.num_heads <= 0 || c.dim_attn % c.num_heads != 0)
    throw Error(ErrorCode::ShapeMismatch, "attention dim " + std::to_string(c.dim_attn) + " is not divisible by " +
                                              std::to_string(c.num_heads) + " heads");
  if (c.num_buckets < 4 || c.num_buckets % 4 != 0)
    throw Error(ErrorCode::ShapeMismatch, w.describe() + ": " + std::to_string(c.num_buckets) +
                                              " relative position buckets (need a positive multiple of 4)");
  logger("model")->debug("umT5 encoder config: {}", c.describe());
  return c;
}

std::string T5EncoderConfig::describe() const {
  return "vocab " + std::to_string(vocab) + ", dim " + std::to_string(dim) + ", ffn " + std::to_string(dim_ffn) +
         ", " + std::to_string(num_heads) + " heads, " + std::to_string(num_layers) + " layers, " +
         std::to_string(num_buckets) + " buckets up to " + std::to_string(max_dist);
}

// --- relative positions -----------------------------------------------------------------------------

at::Tensor t5_relative_position_buckets(std::int64_t lq, std::int64_t lk, std::int64_t num_buckets,
                                        std::int64_t max_dist, c10::Device device) {
  const auto opts = at::TensorOptions().device(device).dtype(at::kLong);
  const auto rel = at::arange(lk, opts).unsqueeze(0) - at::arange(lq, opts).unsqueeze(1);  // key - query
  const std::int64_t half = num_buckets / 2;       // one half per direction
  const std::int64_t max_exact = half / 2;
  const auto distance = rel.abs();
  // Same float32 ops as the reference (log of distance / max_exact, divided by a double log), so the
  // truncation lands on the same side at distances where the exact value is an integer (16, 32, 64).
  // Distances below max_exact are exact; clamping them keeps log() finite where its result is unused.
  const auto scaled = at::log(distance.clamp_min(1).to(at::kFloat) / static_cast<double>(max_exact)) /
                      std::log(static_cast<double>(max_dist) / static_cast<double>(max_exact)) *
                      static_cast<double>(half - max_exact);
  const auto large = (scaled.to(at::kLong) + max_exact).clamp_max(half - 1);
  return rel.gt(0).to(at::kLong) * half + at::where(distance.lt(max_exact), distance, large);
}

// --- layers -------------------------------------------------------------------------------------------

T5LayerNormImpl::T5LayerNormImpl(std::int64_t dim, double eps_, const at::TensorOptions& options) : eps(eps_) {
  weight = register_parameter("weight", at::empty({dim}, options), false);
}

at::Tensor T5LayerNormImpl::forward(const at::Tensor& x, T5Compute compute) {
  const auto xf = x.to(at::kFloat);
  const auto normed = xf * at::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
  const auto dtype = activation_dtype(compute);
  return weight.to(dtype) * normed.to(dtype);
}

T5RelativeEmbeddingImpl::T5RelativeEmbeddingImpl(std::int64_t num_buckets, std::int64_t num_heads,
                                                 const at::TensorOptions& options) {
  embedding = register_module("embedding", Parameter(std::vector<std::int64_t>{num_buckets, num_heads}, options));
}

at::Tensor T5RelativeEmbeddingImpl::forward(const at::Tensor& buckets) {
  const auto lq = buckets.size(0), lk = buckets.size(1);
  return embedding->weight.index_select(0, buckets.flatten()).view({lq, lk, -1}).permute({2, 0, 1}).unsqueeze(0);
}

T5SelfAttentionImpl::T5SelfAttentionImpl(const T5EncoderConfig& c, const at::TensorOptions& opts)
    : num_heads(c.num_heads) {
  q = register_module("q", Linear(c.dim, c.dim_attn, false, opts));
  k = register_module("k", Linear(c.dim, c.dim_attn, false, opts));
  v = register_module("v", Linear(c.dim, c.dim_attn, false, opts));
  this->o = register_module("o", Linear(c.dim_attn, c.dim, false, opts));
}

at::Tensor T5SelfAttentionImpl::forward(const at::Tensor& x, const at::Tensor& bias) {
  const auto b = x.size(0), l = x.size(1);
  const auto heads = [&](const at::Tensor& t) { return t.view({b, l, num_heads, -1}).transpose(1, 2); };  // [B, H, L, D]
  const auto qh = heads(q(x)), kh = heads(k(x)), vh = heads(v(x));
  // No 1/sqrt(D): T5's initialisation folds it into q.
  const auto logits = at::matmul(qh, kh.transpose(-1, -2)) + bias;
  const auto probs = at::softmax(logits.to(at::kFloat), -1).to(x.scalar_type());
  return o(at::matmul(probs, vh).transpose(1, 2).reshape({b, l, -1}));
}

T5FeedForwardImpl::T5FeedForwardImpl(const T5EncoderConfig& c, const at::TensorOptions& opts) {
  gate_proj = Linear(c.dim, c.dim_ffn, false, opts);
  gate = register_module("gate", torch::nn::Sequential(gate_proj));
  fc1 = register_module("fc1", Linear(c.dim, c.dim_ffn, false, opts));
  fc2 = register_module("fc2", Linear(c.dim_ffn, c.dim, false, opts));
}

at::Tensor T5FeedForwardImpl::forward(const at::Tensor& x, T5Compute compute) {
  const auto hidden = fc1(x).to(at::kFloat) * gelu_tanh_as_reference(gate_proj(x));  // float32
  return fc2(hidden.to(activation_dtype(compute)));
}

T5BlockImpl::T5BlockImpl(const T5EncoderConfig& c, const at::TensorOptions& opts) {
  norm1 = register_module("norm1", T5LayerNorm(c.dim, c.eps, opts));
  attn = register_module("attn", T5SelfAttention(c, opts));
  norm2 = register_module("norm2", T5LayerNorm(c.dim, c.eps, opts));
  ffn = register_module("ffn", T5FeedForward(c, opts));
  pos_embedding = register_module("pos_embedding", T5RelativeEmbedding(c.num_buckets, c.num_heads, opts));
}

at::Tensor T5BlockImpl::forward(const at::Tensor& x, const at::Tensor& buckets, const at::Tensor& key_padding,
                                T5Compute compute) {
  const auto dtype = x.scalar_type();
  // This layer's position bias with padded keys filled with the dtype's lowest value (a fill, not an
  // add: the reference's masked_fill_), so their softmax weight is exactly zero.
  const auto bias = pos_embedding(buckets).to(dtype).masked_fill(key_padding, lowest(dtype));
  const auto h = x + attn(norm1(x, compute), bias);
  return h + ffn(norm2(h, compute), compute);
}

// --- the encoder --------------------------------------------------------------------------------------

T5EncoderImpl::T5EncoderImpl(const T5EncoderConfig& c, const at::TensorOptions& opts, T5Compute compute)
    : config_(c), compute_(compute) {
  token_embedding = register_module("token_embedding", Parameter(std::vector<std::int64_t>{c.vocab, c.dim}, opts));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (std::int64_t i = 0; i < c.num_layers; ++i) blocks->push_back(T5Block(c, opts));
  norm = register_module("norm", T5LayerNorm(c.dim, c.eps, opts));
}

at::Tensor T5EncoderImpl::forward(const at::Tensor& ids, const at::Tensor& mask) {
  if (ids.dim() != 2 || !mask.sizes().equals(ids.sizes()))
    throw Error(ErrorCode::ShapeMismatch, "umT5 encoder takes ids [B, L] and a mask of the same shape; got ids " +
                                              c10::str(ids.sizes()) + ", mask " + c10::str(mask.sizes()));
  if (at::isFloatingType(ids.scalar_type()) || ids.scalar_type() == at::kBool)
    throw Error(ErrorCode::BadArgument, "umT5 token ids must be integers");
  const auto dev = device();
  const auto tokens = ids.to(dev, at::kLong);
  if (tokens.numel() > 0) {
    // An id outside the table would be a device-side assert on CUDA; say which one instead.
    const auto lo = tokens.min().item<std::int64_t>(), hi = tokens.max().item<std::int64_t>();
    if (lo < 0 || hi >= config_.vocab)
      throw Error(ErrorCode::BadArgument, "token id " + std::to_string(lo < 0 ? lo : hi) + " is outside the vocabulary of " +
                                              std::to_string(config_.vocab));
  }
  const auto dtype = activation_dtype(compute_);
  const auto keep = mask.to(dev).ne(0);                               // [B, L]
  const auto key_padding = keep.logical_not().view({ids.size(0), 1, 1, ids.size(1)});
  const auto buckets = t5_relative_position_buckets(ids.size(1), ids.size(1), config_.num_buckets, config_.max_dist, dev);

  auto x = at::embedding(token_embedding->weight, tokens).to(dtype);  // dropout is off in eval
  for (const auto& block : *blocks) x = block->as<T5Block>()->forward(x, buckets, key_padding, compute_);
  return norm(x, compute_) * keep.unsqueeze(-1).to(dtype);
}

// --- loading -------------------------------------------------------------------------------------------

std::string t5_key_from_hf(const std::string& key) {
  for (const auto& rule : hf_rules())
    if (std::regex_search(key, rule.pattern)) return std::regex_replace(key, rule.pattern, rule.replacement);
  return key;
}

bool is_hf_t5(const std::vector<std::string>& keys) {
  for (const auto& key : keys)
    if (key == "shared.weight" || key.rfind("encoder.block.", 0) == 0 || key == "encoder.final_layer_norm.weight")
      return true;
  return false;
}

io::TensorSourcePtr t5_official_view(io::TensorSourcePtr source) {
  const auto keys = source->keys();
  if (!is_hf_t5(keys)) return source;
  // HF ties encoder.embed_tokens to shared; files may hold either name or both (the same table).
  const bool both_tables = source->contains("shared.weight") && source->contains("encoder.embed_tokens.weight");
  if (both_tables && source->shape("shared.weight") != source->shape("encoder.embed_tokens.weight"))
    throw Error(ErrorCode::CorruptFile, source->describe() + ": \"shared.weight\" and \"encoder.embed_tokens.weight\" "
                                                             "differ in shape; they should be one tied table");
  auto description = source->describe() + " (HF UMT5 layout)";
  // With both tables present, shared.weight is read and its tied copy left out.
  return io::renamed_view(
      std::move(source),
      [both_tables](const std::string& key) {
        return both_tables && key == "encoder.embed_tokens.weight" ? std::string() : t5_key_from_hf(key);
      },
      std::move(description));
}

T5Encoder load_t5_encoder(const io::TensorSourcePtr& weights, c10::Device device, const T5LoadOptions& options) {
  const auto source = t5_official_view(weights);
  auto config = T5EncoderConfig::detect(*source, options.num_heads);
  if (options.eps) config.eps = *options.eps;
  if (options.max_dist) config.max_dist = *options.max_dist;
  T5Encoder model(config, at::TensorOptions().device(device).dtype(options.dtype), options.compute);
  load_weights_strict(*model, *source);
  model->eval();
  return model;
}

T5Encoder load_t5_encoder(const std::string& weights, const std::string& config_json, c10::Device device,
                          const T5LoadOptions& options) {
  T5LoadOptions opts = options;
  // An HF config.json states heads, epsilon and the bucket range (the official .pth has none).
  if (!config_json.empty()) {
    const auto json = io::JsonConfig::load(config_json);
    const auto type = json.get_string("model_type", "");
    if (type == "umt5" || type == "t5" || type == "mt5") {
      if (!opts.num_heads && json.has("num_heads")) opts.num_heads = json.get_int("num_heads");
      if (!opts.eps && json.has("layer_norm_epsilon")) opts.eps = json.get_double("layer_norm_epsilon");
      if (!opts.max_dist && json.has("relative_attention_max_distance"))
        opts.max_dist = json.get_int("relative_attention_max_distance");
    }
  }
  const auto source = io::open_weights(weights);
  logger("model")->info("loading umT5 encoder from {}", source->describe());
  return load_t5_encoder(source, device, opts);
}

}  // namespace skyreels::model
