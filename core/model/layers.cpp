#include "model/layers.h"

#include <map>
#include <mutex>
#include <optional>
#include <string>

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <torch/version.h>

#include "skyreels/error.h"
#include "torch_compat.h"

#if defined(SKYREELS_WITH_CUDA)
#include <ATen/cuda/CUDAContext.h>
#endif

namespace skyreels::model {

LinearImpl::LinearImpl(std::int64_t in_features, std::int64_t out_features, bool with_bias,
                       const at::TensorOptions& options) {
  weight = register_parameter("weight", at::empty({out_features, in_features}, options), /*requires_grad=*/false);
  if (with_bias) bias = register_parameter("bias", at::empty({out_features}, options), /*requires_grad=*/false);
}

at::Tensor LinearImpl::forward(const at::Tensor& x) {
  if (fp8()) {
    const auto rows = x.reshape({-1, x.size(-1)}).to(at::kBFloat16);
    return forward_fp8(kernels::quantize_rows_fp8(rows.stride(-1) == 1 ? rows : rows.contiguous()), x.sizes());
  }
  const auto dtype = x.scalar_type();
  const auto w = weight.scalar_type() == dtype ? weight : weight.to(dtype);
  const auto b = !bias.defined() || bias.scalar_type() == dtype ? bias : bias.to(dtype);
  return at::linear(x, w, b);
}

at::Tensor LinearImpl::forward_fp8(const kernels::Fp8Rows& x, at::IntArrayRef sizes) {
#if SKYREELS_HAS_FP8_GEMM
  if (!fp8()) throw Error(ErrorCode::BadArgument, "float8 input to a Linear whose weight is not float8");
  auto out_sizes = sizes.vec();
  out_sizes.back() = weight_fp8.size(0);
  // Row-wise scales: x's per row [M, 1], the weight's per output [1, N]; the weight's transpose is the
  // column-major operand the float8 GEMM wants.
  const auto b = bias.defined() ? std::optional<at::Tensor>(bias) : std::nullopt;
  return at::_scaled_mm(x.values, weight_fp8.t(), x.scale, weight_scale, b, {}, at::kBFloat16,
                        /*use_fast_accum=*/true)
      .view(out_sizes);
#else
  (void)x;
  (void)sizes;
  throw Error(ErrorCode::Unsupported, fp8_unsupported_reason(weight.device()));
#endif
}

namespace {

// The one quantization of a weight, so a re-quantized layer is what loading would have made.
kernels::Fp8Rows quantize_weight(const at::Tensor& weight) {
  return kernels::quantize_rows_fp8(weight.to(at::kBFloat16).contiguous());
}

}  // namespace

void LinearImpl::quantize_fp8() {
  if (fp8()) return;
  if (const auto why = fp8_unsupported_reason(weight.device()); !why.empty()) throw Error(ErrorCode::Unsupported, why);
  auto q = quantize_weight(weight);
  // Registered, so whatever moves the module's tensors (WeightParking, to()) moves these too.
  weight_fp8 = register_buffer("weight_fp8", q.values);
  weight_scale = register_buffer("weight_scale", q.scale.view({1, -1}).contiguous());
  weight.set_();  // frees the bf16 copy; the parameter stays registered (empty)
}

void LinearImpl::requantize_fp8(const at::Tensor& new_weight) {
  if (!fp8()) throw Error(ErrorCode::BadArgument, "requantize_fp8 on a Linear whose weight is not float8");
  if (new_weight.sizes() != weight_fp8.sizes())
    throw Error(ErrorCode::ShapeMismatch, "requantize_fp8: a weight of shape " + c10::str(new_weight.sizes()) +
                                              " for a float8 weight of shape " + c10::str(weight_fp8.sizes()));
  const auto q = quantize_weight(new_weight.to(weight_fp8.device()));
  weight_fp8.copy_(q.values);
  weight_scale.copy_(q.scale.view({1, -1}));
}

std::string fp8_unsupported_reason(const c10::Device& device) {
#if !SKYREELS_HAS_FP8_GEMM
  (void)device;
  return "float8 GEMMs need a CUDA LibTorch 2.5 or newer (this one is " TORCH_VERSION ")";
#else
  if (!device.is_cuda()) return "float8 GEMMs need a CUDA GPU (the model is on " + device.str() + ")";
#if defined(SKYREELS_WITH_CUDA)
  const int index = device.index() < 0 ? at::cuda::current_device() : device.index();
  const auto* props = at::cuda::getDeviceProperties(index);
  if (props->major * 10 + props->minor < 89)
    return std::string("float8 GEMMs need compute capability 8.9 or newer (Ada, Hopper); ") + props->name + " has " +
           std::to_string(props->major) + "." + std::to_string(props->minor);
  // Row-wise scaled float8 GEMMs came to LibTorch per architecture and version: one small product,
  // tried once per GPU, says whether this pair has them, before any weight is converted.
  static std::mutex mutex;
  static std::map<int, std::string> tried;
  const std::lock_guard<std::mutex> lock(mutex);
  const auto known = tried.find(index);
  if (known != tried.end()) return known->second;
  std::string why;
  try {
    const auto opts = at::TensorOptions().device(c10::Device(c10::kCUDA, index));
    const auto a = at::ones({16, 16}, opts.dtype(at::kFloat)).to(at::kFloat8_e4m3fn);
    at::_scaled_mm(a, a.t(), at::ones({16, 1}, opts.dtype(at::kFloat)), at::ones({1, 16}, opts.dtype(at::kFloat)),
                   at::zeros({16}, opts.dtype(at::kBFloat16)), {}, at::kBFloat16, /*use_fast_accum=*/true);
  } catch (const c10::Error& e) {
    why = std::string("float8 GEMMs with row-wise scales are not available on ") + props->name +
          " with LibTorch " TORCH_VERSION ": " + e.what_without_backtrace();
  }
  tried[index] = why;
  return why;
#else
  return {};
#endif
#endif
}

LayerNormImpl::LayerNormImpl(std::int64_t dim, double eps_, const at::TensorOptions& options) : eps(eps_) {
  weight = register_parameter("weight", at::empty({dim}, options), false);
  bias = register_parameter("bias", at::empty({dim}, options), false);
}

at::Tensor LayerNormImpl::forward(const at::Tensor& x) {
  return at::layer_norm(x.to(at::kFloat), {x.size(-1)}, weight.to(at::kFloat), bias.to(at::kFloat), eps);
}

RMSNormImpl::RMSNormImpl(std::int64_t dim, double eps_, const at::TensorOptions& options) : eps(eps_) {
  weight = register_parameter("weight", at::empty({dim}, options), false);
}

at::Tensor RMSNormImpl::forward(const at::Tensor& x) { return kernels::rms_norm_fp32(x, weight, eps); }

ParameterImpl::ParameterImpl(std::vector<std::int64_t> shape, const at::TensorOptions& options) {
  weight = register_parameter("weight", at::empty(shape, options), false);
}

PatchEmbedImpl::PatchEmbedImpl(std::int64_t in_channels, std::int64_t out_channels, std::int64_t pt_,
                               std::int64_t ph_, std::int64_t pw_, const at::TensorOptions& options)
    : pt(pt_), ph(ph_), pw(pw_) {
  weight = register_parameter("weight", at::empty({out_channels, in_channels, pt, ph, pw}, options), false);
  bias = register_parameter("bias", at::empty({out_channels}, options), false);
}

at::Tensor PatchEmbedImpl::forward(const at::Tensor& x) {
  const auto b = x.size(0), c = x.size(1), f = x.size(2) / pt, h = x.size(3) / ph, w = x.size(4) / pw;
  // [B, C, f, pt, h, ph, w, pw] -> [B, f, h, w, C, pt, ph, pw]: each patch flattened in the weight's order.
  const auto patches = x.view({b, c, f, pt, h, ph, w, pw})
                           .permute({0, 2, 4, 6, 1, 3, 5, 7})
                           .reshape({b, f, h * w, c * pt * ph * pw});
  const auto dtype = x.scalar_type();
  return at::linear(patches, weight.reshape({weight.size(0), -1}).to(dtype), bias.to(dtype));
}

at::Tensor gelu_tanh(const at::Tensor& x) { return at::gelu(x, "tanh"); }

FullFloat32Guard::FullFloat32Guard()
    : cudnn_tf32_(at::globalContext().allowTF32CuDNN()), cublas_tf32_(at::globalContext().allowTF32CuBLAS()) {
  at::globalContext().setAllowTF32CuDNN(false);
  at::globalContext().setAllowTF32CuBLAS(false);
}

FullFloat32Guard::~FullFloat32Guard() {
  at::globalContext().setAllowTF32CuDNN(cudnn_tf32_);
  at::globalContext().setAllowTF32CuBLAS(cublas_tf32_);
}

}  // namespace skyreels::model
