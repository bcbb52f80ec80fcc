#pragma once

// Fused elementwise work of the DiT block. Each op has a LibTorch fallback with the reference's op
// order and rounding; on CUDA tensors, when the kernels are built (SKYREELS_HAS_CUDA_KERNELS) and
// enabled, one kernel does the whole op in one pass. Callers never need to know which one ran.
//
// Modulation tables are float32 [T, D] with a contiguous last dim, broadcast over x [B, F, S, D]
// (F frames of S tokens): T = 1 (one row for all), F (one row per frame) or F * S (one per token).

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace skyreels::kernels {

// The kernels were compiled into this build.
bool cuda_kernels_built();
// Process-wide switch, on by default: off runs the fallbacks everywhere (for measuring and tests).
void set_fused_kernels_enabled(bool enabled);
bool fused_kernels_enabled();
// Fused kernels launched so far in this process (tests use it to prove the kernel path ran).
std::uint64_t fused_kernel_launches();

// LN(x) * (1 + scale) + shift, LN without affine parameters in float32; rounded to out_dtype.
at::Tensor modulated_layer_norm(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale, double eps,
                                at::ScalarType out_dtype);

// After self-attention: h = x + y * gate in float32, and the cross-attention input
// bf16(LayerNorm(bf16(h)) * weight + bias).
struct GatedResidualNorm {
  at::Tensor h, normed;
};
GatedResidualNorm gated_residual_affine_norm(const at::Tensor& x, const at::Tensor& y, const at::Tensor& gate,
                                             const at::Tensor& weight, const at::Tensor& bias, double eps);

// After cross-attention: h += y (h float32, updated in place), and the FFN input
// bf16(LN(h) * (1 + scale) + shift).
at::Tensor residual_modulated_layer_norm(at::Tensor& h, const at::Tensor& y, const at::Tensor& shift,
                                         const at::Tensor& scale, double eps);

// After the FFN: out = h + y * gate, rounded to out's dtype (out may be a strided view).
void gated_residual_into(const at::Tensor& out, const at::Tensor& h, const at::Tensor& y, const at::Tensor& gate);

// q or k of self-attention: y [B, N, H * Dh] (a GEMM output) -> RMSNorm over the whole row in float32
// times weight, rotated by cos/sin [N, Dh / 2], rounded into out [B, N, H, Dh] (bf16, may be a view).
void rms_norm_rope_into(const at::Tensor& out, const at::Tensor& y, const at::Tensor& weight, const at::Tensor& cos,
                        const at::Tensor& sin, double eps);

// The same without the rotation (cross-attention's q).
void rms_norm_into(const at::Tensor& out, const at::Tensor& y, const at::Tensor& weight, double eps);

// The VAE's RMS norm over channels and SiLU: x [B, C, ...] -> silu(x / max(||x||_C, 1e-12) * sqrt(C) *
// gamma) computed in float32 (gamma [C, 1, ...] float32), rounded to out_dtype.
at::Tensor channel_rms_norm_silu(const at::Tensor& x, const at::Tensor& gamma, at::ScalarType out_dtype);

// The reference's norms as LibTorch ops, in float32 (the models' RMSNorm and the VAE's RMS_norm, and
// the fallbacks above): x * rsqrt(mean(x^2) + eps) * weight over the last dim, and
// x / max(||x||_C, 1e-12) * sqrt(C) * gamma over dim 1.
at::Tensor rms_norm_fp32(const at::Tensor& x, const at::Tensor& weight, double eps);
at::Tensor channel_rms_norm_fp32(const at::Tensor& x, const at::Tensor& gamma);

// x [B, N, H, D] float32 as D/2 complex numbers of adjacent pairs, times cos + i sin ([N, D/2]); float32
// out.
at::Tensor rotate_pairs(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

// Row-wise float8 e4m3: x [M, K] -> values [M, K] and scale [M, 1] float32, x ≈ values * scale.
struct Fp8Rows {
  at::Tensor values, scale;
};
Fp8Rows quantize_rows_fp8(const at::Tensor& x);
// quantize_rows_fp8(gelu(x, tanh)) of bf16 rows, in one pass on CUDA (the FFN's inner activation).
Fp8Rows gelu_quantize_rows_fp8(const at::Tensor& x);
// The CUDA kernel alone, for any bf16 row it can take (a multiple of 8, up to 16384), for the tests that
// compare it with the fallback; quantize_rows_fp8 uses it wherever it can. Unsupported without them.
Fp8Rows quantize_rows_fp8_kernel(const at::Tensor& x);

}  // namespace skyreels::kernels
