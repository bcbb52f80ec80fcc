#pragma once

#include <cstdint>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "kernels/fused_ops.h"

namespace skyreels::model {

// Weight holders for the models. Unlike torch::nn's layers they allocate their parameters
// uninitialised, on the requested device and dtype: a 14B model is built directly on the GPU in
// bf16 and filled from the checkpoint, never initialised at random in fp32 on the host.
// The numerics (which dtype each op runs in) live in the model files, not here.

// y = x W^T + b, computed in the dtype of `x` (weights are cast when they differ).
class LinearImpl : public torch::nn::Module {
public:
  LinearImpl(std::int64_t in_features, std::int64_t out_features, bool bias, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x);
  // x already quantized (kernels::quantize_rows_fp8 of x [..., in] viewed as rows); `sizes` are x's.
  at::Tensor forward_fp8(const kernels::Fp8Rows& x, at::IntArrayRef sizes);

  // The fast mode's float8: the weight becomes e4m3 with one float32 scale per output row (its bf16
  // storage is freed), and forward() quantizes its input per row and multiplies in float8 with float32
  // accumulation, bf16 out. CUDA GPUs of compute capability 8.9+ with LibTorch 2.5+; irreversible.
  void quantize_fp8();
  bool fp8() const noexcept { return weight_fp8.defined(); }
  // A float8 layer's weight made again from a high-precision one, quantized as quantize_fp8 does (a
  // merged LoRA: lora/lora_merge.h). The buffers are overwritten in place, so their holders see it.
  void requantize_fp8(const at::Tensor& weight);

  at::Tensor weight;  // [out, in]
  at::Tensor bias;    // [out] or undefined
  at::Tensor weight_fp8, weight_scale;  // [out, in] e4m3 and [1, out] float32 after quantize_fp8()
};
TORCH_MODULE(Linear);

// LayerNorm's parameters (elementwise affine). Forward normalises in float32 and returns float32.
class LayerNormImpl : public torch::nn::Module {
public:
  LayerNormImpl(std::int64_t dim, double eps, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x);

  at::Tensor weight, bias;
  double eps;
};
TORCH_MODULE(LayerNorm);

// RMSNorm over the last dim: x * rsqrt(mean(x^2) + eps) * weight, in float32, float32 out.
class RMSNormImpl : public torch::nn::Module {
public:
  RMSNormImpl(std::int64_t dim, double eps, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x);

  at::Tensor weight;
  double eps;
};
TORCH_MODULE(RMSNorm);

// A bare parameter table (nn.Embedding's weight, or a Conv weight used as a matmul).
class ParameterImpl : public torch::nn::Module {
public:
  ParameterImpl(std::vector<std::int64_t> shape, const at::TensorOptions& options);
  at::Tensor weight;
};
TORCH_MODULE(Parameter);

// Conv3d with kernel == stride (patchify) as a matmul over patches: x [B, C, F, H, W] ->
// [B, F/pt, H/ph * W/pw, out] in x's dtype. Weight [out, C, pt, ph, pw] and bias [out] as in nn.Conv3d.
class PatchEmbedImpl : public torch::nn::Module {
public:
  PatchEmbedImpl(std::int64_t in_channels, std::int64_t out_channels, std::int64_t pt, std::int64_t ph,
                 std::int64_t pw, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x);

  at::Tensor weight, bias;
  std::int64_t pt, ph, pw;
};
TORCH_MODULE(PatchEmbed);

// Why float8 GEMMs cannot run on `device` (empty when they can): no CUDA, an older GPU, an older
// LibTorch.
std::string fp8_unsupported_reason(const c10::Device& device);

// GELU with the tanh approximation, as the reference's FFN and text MLP use.
at::Tensor gelu_tanh(const at::Tensor& x);

// While alive, float32 convolutions and matmuls on CUDA run at full float32 precision: LibTorch lets
// cuDNN use TF32 for them by default, which moves a float32 network by ~1e-3. Restores the previous
// settings on destruction. (Process-wide flags: the engine runs models from one thread.)
class FullFloat32Guard {
public:
  FullFloat32Guard();
  ~FullFloat32Guard();
  FullFloat32Guard(const FullFloat32Guard&) = delete;
  FullFloat32Guard& operator=(const FullFloat32Guard&) = delete;

private:
  bool cudnn_tf32_, cublas_tf32_;
};

}  // namespace skyreels::model
