#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include "io/tensor_source.h"
#include "model/layers.h"

namespace skyreels::model {

// Shape of a umT5 encoder (umT5-XXL as Wan2.1 / SkyReels-V2 ship it, or tiny test nets).
struct T5EncoderConfig {
  std::int64_t vocab = 256384, dim = 4096, dim_attn = 4096, dim_ffn = 10240;
  std::int64_t num_heads = 64, num_layers = 24;
  std::int64_t num_buckets = 32, max_dist = 128;  // bidirectional relative positions
  double eps = 1e-6;

  std::int64_t head_dim() const { return dim_attn / num_heads; }

  // Shapes from the weights (official key names). Heads and buckets are the two axes of every layer's
  // pos_embedding; `num_heads`, when given (a config file, a fixture's manifest), must agree with them.
  // max_dist and eps are not in the weights: the defaults above, as umT5-XXL.
  static T5EncoderConfig detect(const io::TensorSource& weights, std::optional<std::int64_t> num_heads = std::nullopt);
  std::string describe() const;
};

// Which dtypes the encoder runs in.
enum class T5Compute {
  // Everything in float32 (weights widened on use).
  Float32,
  // The reference as Wan runs it: bf16 weights under CUDA autocast(bf16). Its rounding points are
  // reproduced explicitly (LibTorch has no CPU autocast in C++): bf16 residual stream, GEMMs and
  // attention logits; norms' statistics, softmax and most of the GELU in float32 (see t5_encoder.cpp).
  Bf16Autocast,
};
const char* to_string(T5Compute compute);

// Bucket of each (query i, key j) pair for relative position j - i, as umT5 (bidirectional): half the
// buckets for keys after the query; within a half, exact distances below num_buckets / 4, then
// logarithmic up to max_dist. The log is taken in float32 as the reference does (it decides the
// boundaries at distances 16, 32 and 64). Returns [lq, lk] int64 on `device`.
at::Tensor t5_relative_position_buckets(std::int64_t lq, std::int64_t lk, std::int64_t num_buckets,
                                        std::int64_t max_dist, c10::Device device = c10::kCPU);

// The reference's T5LayerNorm: x * rsqrt(mean(x^2) + eps) * weight, statistics in float32, no mean
// subtraction, no bias.
class T5LayerNormImpl : public torch::nn::Module {
public:
  T5LayerNormImpl(std::int64_t dim, double eps, const at::TensorOptions& options);
  // Float32: float32 out. Bf16Autocast: the normalised x is rounded to bf16 and multiplied by the
  // bf16 weight in bf16, as the reference does with bf16 weights.
  at::Tensor forward(const at::Tensor& x, T5Compute compute);

  at::Tensor weight;
  double eps;
};
TORCH_MODULE(T5LayerNorm);

// The per-layer relative position table (reference: T5RelativeEmbedding), `embedding.weight` [buckets, heads].
class T5RelativeEmbeddingImpl : public torch::nn::Module {
public:
  T5RelativeEmbeddingImpl(std::int64_t num_buckets, std::int64_t num_heads, const at::TensorOptions& options);
  // buckets [lq, lk] -> bias [1, heads, lq, lk] in the table's dtype.
  at::Tensor forward(const at::Tensor& buckets);

  Parameter embedding{nullptr};
};
TORCH_MODULE(T5RelativeEmbedding);

// Multi-head self-attention, bias-free q/k/v/o, logits NOT scaled by 1/sqrt(head_dim) (T5 folds the
// scale into the weights). The reference calls this class T5Attention.
class T5SelfAttentionImpl : public torch::nn::Module {
public:
  T5SelfAttentionImpl(const T5EncoderConfig& config, const at::TensorOptions& options);
  // x [B, L, dim]; bias [B or 1, heads, L, L] (positions plus key padding) in x's dtype.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& bias);

  Linear q{nullptr}, k{nullptr}, v{nullptr}, o{nullptr};
  std::int64_t num_heads;
};
TORCH_MODULE(T5SelfAttention);

// Gated GELU FFN: fc2(fc1(x) * gelu_tanh(gate(x))). `gate` is the reference's nn.Sequential(Linear, GELU),
// hence the weight name gate.0.weight; the GELU has no weights and is applied in forward.
class T5FeedForwardImpl : public torch::nn::Module {
public:
  T5FeedForwardImpl(const T5EncoderConfig& config, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x, T5Compute compute);

  torch::nn::Sequential gate{nullptr};
  Linear gate_proj{nullptr};  // gate[0]
  Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(T5FeedForward);

// One encoder layer (the reference's T5SelfAttention block): pre-norm attention with this layer's own
// relative position table, then pre-norm FFN, both residual.
class T5BlockImpl : public torch::nn::Module {
public:
  T5BlockImpl(const T5EncoderConfig& config, const at::TensorOptions& options);
  // x [B, L, dim] in the compute dtype; buckets [L, L]; key_padding [B, 1, 1, L] bool (true = padding).
  at::Tensor forward(const at::Tensor& x, const at::Tensor& buckets, const at::Tensor& key_padding, T5Compute compute);

  T5LayerNorm norm1{nullptr};
  T5SelfAttention attn{nullptr};
  T5LayerNorm norm2{nullptr};
  T5FeedForward ffn{nullptr};
  T5RelativeEmbedding pos_embedding{nullptr};
};
TORCH_MODULE(T5Block);

// The umT5 encoder (reference: T5Encoder with shared_pos=False).
class T5EncoderImpl : public torch::nn::Module {
public:
  T5EncoderImpl(const T5EncoderConfig& config, const at::TensorOptions& options,
                T5Compute compute = T5Compute::Bf16Autocast);

  // ids [B, L] int64 token ids; mask [B, L] (nonzero = real token, any integer or bool type).
  // Returns [B, L, dim] on the weights' device: float32 (Float32) or bf16 (Bf16Autocast), with the
  // rows of padded positions zero, as the reference's `context * mask`.
  at::Tensor forward(const at::Tensor& ids, const at::Tensor& mask);

  const T5EncoderConfig& config() const noexcept { return config_; }
  T5Compute compute() const noexcept { return compute_; }
  void set_compute(T5Compute compute) noexcept { compute_ = compute; }
  c10::Device device() const { return token_embedding->weight.device(); }

  Parameter token_embedding{nullptr};
  torch::nn::ModuleList blocks{nullptr};
  T5LayerNorm norm{nullptr};

private:
  T5EncoderConfig config_;
  T5Compute compute_;
};
TORCH_MODULE(T5Encoder);

// --- loading --------------------------------------------------------------------------------------

// Official name of an HF UMT5EncoderModel tensor ("shared.weight" -> "token_embedding.weight",
// "encoder.block.3.layer.1.DenseReluDense.wi_0.weight" -> "blocks.3.ffn.gate.0.weight", ...); names
// that are not part of the table are returned unchanged (strict loading then reports them).
std::string t5_key_from_hf(const std::string& key);
// True if the keys look like the HF layout (an "encoder.block." or "shared." tensor).
bool is_hf_t5(const std::vector<std::string>& keys);
// The official view of either layout. An HF file that has both shared.weight and its tied copy
// encoder.embed_tokens.weight is read from shared.weight (the copies must have the same shape).
io::TensorSourcePtr t5_official_view(io::TensorSourcePtr source);

struct T5LoadOptions {
  at::ScalarType dtype = at::kBFloat16;             // of the weights in memory
  T5Compute compute = T5Compute::Bf16Autocast;
  std::optional<std::int64_t> num_heads;            // checked against the weights when given
  std::optional<double> eps;
  std::optional<std::int64_t> max_dist;
};

// Builds the encoder on `device` and fills it from `weights` (official or HF names), strictly:
// missing, unexpected or mis-shaped tensors are an error listing them.
T5Encoder load_t5_encoder(const io::TensorSourcePtr& weights, c10::Device device, const T5LoadOptions& options = {});
// From models_t5_umt5-xxl-enc-bf16.pth, an HF safetensors file, an index.json or a folder of shards,
// with the HF config.json beside them (empty: none); pipeline/model_folder.h finds both in a download.
T5Encoder load_t5_encoder(const std::string& weights, const std::string& config_json, c10::Device device,
                          const T5LoadOptions& options = {});

}  // namespace skyreels::model
