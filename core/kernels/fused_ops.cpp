#include "kernels/fused_ops.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <string>

#include <ATen/ATen.h>

#include "skyreels/error.h"
#include "kernels/cuda/launch.h"
#include "torch_compat.h"

#ifndef SKYREELS_HAS_CUDA_KERNELS
#define SKYREELS_HAS_CUDA_KERNELS 0
#endif
#if SKYREELS_HAS_CUDA_KERNELS
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace skyreels::kernels {
namespace {

std::atomic<bool> g_enabled{true};
std::atomic<std::uint64_t> g_launches{0};

#if SKYREELS_HAS_CUDA_KERNELS
// A launcher's result: counted, or an Error with CUDA's text.
void check_launch(const char* error) {
  if (error) throw Error(ErrorCode::Runtime, std::string("CUDA kernel failed: ") + error);
  g_launches.fetch_add(1, std::memory_order_relaxed);
}
#endif

void check_rows(const at::Tensor& x, const char* what) {
  if (x.dim() != 4) throw Error(ErrorCode::ShapeMismatch, std::string(what) + " must be [B, F, S, D], got " + c10::str(x.sizes()));
}

// A [T, D] table as a view that broadcasts over x [B, F, S, D].
at::Tensor broadcast_rows(const at::Tensor& table, const at::Tensor& x) {
  const auto frames = x.size(1), tokens = x.size(2), dim = x.size(3);
  if (table.dim() != 2 || table.size(1) != dim)
    throw Error(ErrorCode::ShapeMismatch, "modulation table must be [T, " + std::to_string(dim) + "], got " +
                                              c10::str(table.sizes()));
  if (table.size(0) == 1) return table.unsqueeze(0).unsqueeze(0);
  if (table.size(0) == frames) return table.unsqueeze(1).unsqueeze(0);
  if (table.size(0) == frames * tokens) return table.view({1, frames, tokens, dim});
  throw Error(ErrorCode::ShapeMismatch, "modulation table has " + std::to_string(table.size(0)) + " rows; x has " +
                                            std::to_string(frames) + " frames of " + std::to_string(tokens) + " tokens");
}

at::Tensor plain_layer_norm(const at::Tensor& x, double eps) { return at::layer_norm(x.to(at::kFloat), {x.size(-1)}, {}, {}, eps); }

#if SKYREELS_HAS_CUDA_KERNELS
using cuda::DType;

constexpr std::int64_t kVec = 8;            // elements per vector access of the kernels
constexpr std::int64_t kMaxRowSize = 8192;  // 256 threads x 4 chunks x 8 elements
constexpr std::int64_t kMaxQuantizeRow = 16384;  // 256 threads x 8 chunks x 8 elements

// 16-byte aligned, a contiguous last dim, and outer strides of whole vectors (never 0: a broadcast
// output would be written by several rows at once).
bool vectorizable(const at::Tensor& t) {
  if (!t.defined()) return true;
  if (t.stride(-1) != 1 || reinterpret_cast<std::uintptr_t>(t.data_ptr()) % 16 != 0) return false;
  for (std::int64_t d = 0; d + 1 < t.dim(); ++d)
    if (t.size(d) > 1 && (t.stride(d) == 0 || t.stride(d) % kVec != 0)) return false;
  return true;
}

bool is_16_or_32(const at::Tensor& t) { return t.scalar_type() == at::kBFloat16 || t.scalar_type() == at::kFloat; }

// The kernels take this call: CUDA tensors on one device, of supported dtypes and layouts, with rows of
// at most `max_row` elements.
bool use_kernels(std::initializer_list<const at::Tensor*> tensors, std::int64_t max_row = kMaxRowSize) {
  if (!g_enabled.load(std::memory_order_relaxed)) return false;
  const at::Tensor* first = nullptr;
  for (const auto* t : tensors) {
    if (!t->defined()) continue;
    if (!t->is_cuda() || (first && t->device() != first->device()) || !is_16_or_32(*t) || !vectorizable(*t))
      return false;
    if (t->size(-1) % kVec != 0 || t->size(-1) > max_row) return false;
    if (!first) first = t;
  }
  return true;
}

// float32 tables with a contiguous last dim on x's device.
bool tables_ok(const at::Tensor& x, std::initializer_list<const at::Tensor*> tables) {
  for (const auto* t : tables)
    if (t->defined() && (t->scalar_type() != at::kFloat || t->stride(-1) != 1 || t->device() != x.device())) return false;
  return true;
}

DType dtype_of(const at::Tensor& t) { return t.scalar_type() == at::kBFloat16 ? DType::BFloat16 : DType::Float32; }

cuda::RowTensor row_tensor(const at::Tensor& t) {
  if (!t.defined()) return {};
  return {t.data_ptr(), dtype_of(t), t.stride(0), t.stride(1), t.stride(2)};
}

cuda::RowTable row_table(const at::Tensor& table, const at::Tensor& x) {
  if (!table.defined()) return {};
  broadcast_rows(table, x);  // checks the shape
  const auto rows = table.size(0);
  const std::int64_t divisor = rows == x.size(1) * x.size(2) ? 1 : x.size(2);
  return {table.data_ptr<float>(), table.stride(0), divisor, rows};
}

void launch(const char* (*kernel)(const cuda::ResidualNormArgs&, void*), const cuda::ResidualNormArgs& args,
            const at::Tensor& x) {
  const c10::cuda::CUDAGuard guard(x.device());
  check_launch(kernel(args, c10::cuda::getCurrentCUDAStream().stream()));
}

cuda::ResidualNormArgs shape_args(const at::Tensor& x) {
  cuda::ResidualNormArgs a;
  a.B = x.size(0), a.F = x.size(1), a.S = x.size(2), a.D = x.size(3);
  return a;
}

// LN(x) * (1 + scale) + shift of x's rows, into `out`.
cuda::ResidualNormArgs modulated_norm_args(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale,
                                           double eps, const at::Tensor& out) {
  auto a = shape_args(x);
  a.x = row_tensor(x);
  a.out = row_tensor(out);
  a.shift = row_table(shift, x);
  a.scale = row_table(scale, x);
  a.norm = cuda::NormKind::Plain;
  a.eps = static_cast<float>(eps);
  return a;
}
#endif

}  // namespace

bool cuda_kernels_built() { return SKYREELS_HAS_CUDA_KERNELS != 0; }
void set_fused_kernels_enabled(bool enabled) { g_enabled.store(enabled); }
bool fused_kernels_enabled() { return g_enabled.load(); }
std::uint64_t fused_kernel_launches() { return g_launches.load(); }

at::Tensor modulated_layer_norm(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale, double eps,
                                at::ScalarType out_dtype) {
  check_rows(x, "modulated_layer_norm input");
#if SKYREELS_HAS_CUDA_KERNELS
  if (use_kernels({&x}) && tables_ok(x, {&shift, &scale}) && (out_dtype == at::kBFloat16 || out_dtype == at::kFloat)) {
    auto out = at::empty(x.sizes(), x.options().dtype(out_dtype));
    launch(cuda::residual_norm, modulated_norm_args(x, shift, scale, eps, out), x);
    return out;
  }
#endif
  return (plain_layer_norm(x, eps) * (1 + broadcast_rows(scale, x)) + broadcast_rows(shift, x)).to(out_dtype);
}

GatedResidualNorm gated_residual_affine_norm(const at::Tensor& x, const at::Tensor& y, const at::Tensor& gate,
                                             const at::Tensor& weight, const at::Tensor& bias, double eps) {
  check_rows(x, "gated residual input");
#if SKYREELS_HAS_CUDA_KERNELS
  if (use_kernels({&x, &y, &weight, &bias}) && y.scalar_type() == at::kBFloat16 && tables_ok(x, {&gate}) &&
      weight.scalar_type() == bias.scalar_type() && y.sizes() == x.sizes() && weight.numel() == x.size(3) &&
      bias.numel() == x.size(3)) {
    GatedResidualNorm r{at::empty(x.sizes(), x.options().dtype(at::kFloat)),
                        at::empty(x.sizes(), x.options().dtype(at::kBFloat16))};
    auto a = shape_args(x);
    a.x = row_tensor(x);
    a.y = row_tensor(y);
    a.gate = row_table(gate, x);
    a.h_out = row_tensor(r.h);
    a.out = row_tensor(r.normed);
    a.norm = cuda::NormKind::Affine;
    a.round_h_to_bf16 = true;
    a.weight = weight.data_ptr();
    a.bias = bias.data_ptr();
    a.weight_dtype = dtype_of(weight);
    a.eps = static_cast<float>(eps);
    launch(cuda::residual_norm, a, x);
    return r;
  }
#endif
  auto h = x.to(at::kFloat) + y * broadcast_rows(gate, x);
  auto normed = at::layer_norm(h.to(at::kBFloat16).to(at::kFloat), {h.size(-1)}, weight.to(at::kFloat),
                               bias.to(at::kFloat), eps)
                    .to(at::kBFloat16);
  return {std::move(h), std::move(normed)};
}

at::Tensor residual_modulated_layer_norm(at::Tensor& h, const at::Tensor& y, const at::Tensor& shift,
                                         const at::Tensor& scale, double eps) {
  check_rows(h, "residual stream");
#if SKYREELS_HAS_CUDA_KERNELS
  if (use_kernels({&h, &y}) && h.scalar_type() == at::kFloat && y.scalar_type() == at::kBFloat16 &&
      tables_ok(h, {&shift, &scale}) && y.sizes() == h.sizes()) {
    auto out = at::empty(h.sizes(), h.options().dtype(at::kBFloat16));
    auto a = modulated_norm_args(h, shift, scale, eps, out);
    a.y = row_tensor(y);
    a.h_out = row_tensor(h);  // each row is read whole before it is written
    launch(cuda::residual_norm, a, h);
    return out;
  }
#endif
  h.add_(y);
  return modulated_layer_norm(h, shift, scale, eps, at::kBFloat16);
}

void gated_residual_into(const at::Tensor& out, const at::Tensor& h, const at::Tensor& y, const at::Tensor& gate) {
  check_rows(h, "residual stream");
#if SKYREELS_HAS_CUDA_KERNELS
  if (use_kernels({&out, &h, &y}) && y.scalar_type() == at::kBFloat16 && tables_ok(h, {&gate}) &&
      out.sizes() == h.sizes() && y.sizes() == h.sizes()) {
    auto a = shape_args(h);
    a.x = row_tensor(h);
    a.y = row_tensor(y);
    a.gate = row_table(gate, h);
    a.out = row_tensor(out);
    a.norm = cuda::NormKind::None;
    launch(cuda::residual_norm, a, h);
    return;
  }
#endif
  out.copy_(h + y * broadcast_rows(gate, h));
}

void rms_norm_into(const at::Tensor& out, const at::Tensor& y, const at::Tensor& weight, double eps) {
  rms_norm_rope_into(out, y, weight, {}, {}, eps);
}

void rms_norm_rope_into(const at::Tensor& out, const at::Tensor& y, const at::Tensor& weight, const at::Tensor& cos,
                        const at::Tensor& sin, double eps) {
  const bool rotate = cos.defined();
  if (y.dim() != 3 || out.dim() != 4 || out.size(0) != y.size(0) || out.size(1) != y.size(1) ||
      out.size(2) * out.size(3) != y.size(2) ||
      (rotate && (cos.size(0) != y.size(1) || cos.size(1) * 2 != out.size(3))))
    throw Error(ErrorCode::ShapeMismatch, "rms_norm_rope: y " + c10::str(y.sizes()) + ", out " + c10::str(out.sizes()) +
                                              ", rope table " + c10::str(cos.sizes()) + " do not fit");
#if SKYREELS_HAS_CUDA_KERNELS
  const auto heads = out.size(2), head_dim = out.size(3);
  if (use_kernels({&y, &weight}) && y.scalar_type() == at::kBFloat16 && out.device() == y.device() &&
      weight.numel() == y.size(2) &&
      out.scalar_type() == at::kBFloat16 && out.stride(3) == 1 && out.stride(2) == head_dim &&
      out.stride(1) % kVec == 0 && out.stride(0) % kVec == 0 && head_dim % kVec == 0 && tables_ok(y, {&cos, &sin}) &&
      (!rotate || (cos.is_contiguous() && sin.is_contiguous())) && reinterpret_cast<std::uintptr_t>(out.data_ptr()) % 16 == 0) {
    cuda::RmsNormRopeArgs a;
    a.B = y.size(0), a.N = y.size(1), a.H = heads, a.Dh = head_dim;
    a.y = y.data_ptr();
    a.y_s0 = y.stride(0), a.y_s1 = y.stride(1);
    a.weight = weight.data_ptr();
    a.weight_dtype = dtype_of(weight);
    a.cos = rotate ? cos.data_ptr<float>() : nullptr;
    a.sin = rotate ? sin.data_ptr<float>() : nullptr;
    a.eps = static_cast<float>(eps);
    a.out = out.data_ptr();
    a.out_s0 = out.stride(0), a.out_s1 = out.stride(1);
    const c10::cuda::CUDAGuard guard(y.device());
    check_launch(cuda::rms_norm_rope(a, c10::cuda::getCurrentCUDAStream().stream()));
    return;
  }
#endif
  const auto normed = rms_norm_fp32(y, weight, eps);
  out.copy_(rotate ? rotate_pairs(normed.view(out.sizes()), cos, sin) : normed.view(out.sizes()));
}

at::Tensor channel_rms_norm_silu(const at::Tensor& x, const at::Tensor& gamma, at::ScalarType out_dtype) {
  if (x.dim() < 3 || gamma.numel() != x.size(1))
    throw Error(ErrorCode::ShapeMismatch, "channel RMS norm: x " + c10::str(x.sizes()) + " and gamma " +
                                              c10::str(gamma.sizes()) + " do not fit");
#if SKYREELS_HAS_CUDA_KERNELS
  if (fused_kernels_enabled() && x.is_cuda() && is_16_or_32(x) && x.is_contiguous() && gamma.device() == x.device() &&
      gamma.scalar_type() == at::kFloat && gamma.is_contiguous() &&
      (out_dtype == at::kBFloat16 || out_dtype == at::kFloat)) {
    auto out = at::empty(x.sizes(), x.options().dtype(out_dtype));
    cuda::ChannelNormSiluArgs a;
    a.B = x.size(0), a.C = x.size(1), a.S = x.numel() / std::max<std::int64_t>(1, x.size(0) * x.size(1));
    a.x = x.data_ptr();
    a.x_dtype = dtype_of(x);
    a.gamma = gamma.data_ptr<float>();
    a.out = out.data_ptr();
    a.out_dtype = dtype_of(out);
    const c10::cuda::CUDAGuard guard(x.device());
    check_launch(cuda::channel_rms_norm_silu(a, c10::cuda::getCurrentCUDAStream().stream()));
    return out;
  }
#endif
  return at::silu(channel_rms_norm_fp32(x, gamma)).to(out_dtype);
}

at::Tensor rms_norm_fp32(const at::Tensor& x, const at::Tensor& weight, double eps) {
  const auto xf = x.to(at::kFloat);
  return xf * at::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps) * weight.to(at::kFloat);
}

at::Tensor channel_rms_norm_fp32(const at::Tensor& x, const at::Tensor& gamma) {
  // F.normalize: x / max(||x||_2 over channels, 1e-12); the norm runs in float32 under autocast.
  const auto xf = x.to(at::kFloat);
  const auto norm = xf.norm(2, {1}, /*keepdim=*/true).clamp_min(1e-12);
  return xf / norm * std::sqrt(static_cast<double>(x.size(1))) * gamma;
}

at::Tensor rotate_pairs(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const auto sizes = x.sizes();
  const auto pairs = x.view({sizes[0], sizes[1], sizes[2], sizes[3] / 2, 2});
  const auto re = pairs.select(-1, 0);
  const auto im = pairs.select(-1, 1);
  const auto c = cos.view({1, sizes[1], 1, sizes[3] / 2});
  const auto s = sin.view({1, sizes[1], 1, sizes[3] / 2});
  // (re + i im)(cos + i sin)
  return at::stack({re * c - im * s, re * s + im * c}, -1).view(sizes);
}

#if SKYREELS_HAS_CUDA_KERNELS && SKYREELS_TORCH_AT_LEAST(2, 1)
namespace {

bool quantize_kernel_takes(const at::Tensor& x) {
  return x.dim() == 2 && use_kernels({&x}, kMaxQuantizeRow) && x.scalar_type() == at::kBFloat16;
}

Fp8Rows quantize_with_kernel(const at::Tensor& x, bool gelu_tanh) {
  Fp8Rows r{at::empty(x.sizes(), x.options().dtype(at::kFloat8_e4m3fn)),
            at::empty({x.size(0), 1}, x.options().dtype(at::kFloat))};
  cuda::QuantizeRowsArgs a;
  a.M = x.size(0), a.K = x.size(1);
  a.x = x.data_ptr();
  a.x_stride = x.stride(0);
  a.q = r.values.data_ptr();
  a.scale = r.scale.data_ptr<float>();
  a.gelu_tanh = gelu_tanh;
  const c10::cuda::CUDAGuard guard(x.device());
  check_launch(cuda::quantize_rows_fp8(a, c10::cuda::getCurrentCUDAStream().stream()));
  return r;
}

}  // namespace
#endif

Fp8Rows quantize_rows_fp8_kernel(const at::Tensor& x) {
#if SKYREELS_HAS_CUDA_KERNELS && SKYREELS_TORCH_AT_LEAST(2, 1)
  if (!g_enabled.load(std::memory_order_relaxed))
    throw Error(ErrorCode::Unsupported, "quantize_rows_fp8_kernel: the fused kernels are switched off");
  if (!quantize_kernel_takes(x))
    throw Error(ErrorCode::Unsupported, "quantize_rows_fp8_kernel takes a bf16 [M, K] CUDA tensor, K a multiple of 8 "
                                        "up to 16384");
  return quantize_with_kernel(x, false);
#else
  (void)x;
  throw Error(ErrorCode::Unsupported, "this build has no CUDA kernels");
#endif
}

Fp8Rows quantize_rows_fp8(const at::Tensor& x) {
#if SKYREELS_TORCH_AT_LEAST(2, 1)
  if (x.dim() != 2) throw Error(ErrorCode::ShapeMismatch, "quantize_rows_fp8 expects [M, K], got " + c10::str(x.sizes()));
#if SKYREELS_HAS_CUDA_KERNELS
  if (quantize_kernel_takes(x)) return quantize_with_kernel(x, false);
#endif
  const auto xf = x.to(at::kFloat);
  const auto scale = xf.abs().amax(-1, /*keepdim=*/true).clamp_min(cuda::kFp8TinyAmax) * cuda::kFp8InverseE4m3Max;
  return {(xf / scale).to(at::kFloat8_e4m3fn), scale};
#else
  (void)x;
  throw Error(ErrorCode::Unsupported, "float8 needs LibTorch 2.1 or newer");
#endif
}

Fp8Rows gelu_quantize_rows_fp8(const at::Tensor& x) {
#if SKYREELS_HAS_CUDA_KERNELS && SKYREELS_TORCH_AT_LEAST(2, 1)
  if (quantize_kernel_takes(x)) return quantize_with_kernel(x, true);
#endif
  return quantize_rows_fp8(at::gelu(x, "tanh"));
}

}  // namespace skyreels::kernels
