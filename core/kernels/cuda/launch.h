#pragma once

// Raw-pointer entry points of the CUDA kernels (kernels/cuda/*.cu). Plain C++: no CUDA or LibTorch
// headers, so the .cu files build with nvcc alone and the ATen-facing checks live in fused_ops.cpp.
// Each launcher returns nullptr on success or the CUDA error text.

#include <cstdint>

namespace skyreels::kernels::cuda {

enum class DType { Float32, BFloat16 };

// A [B, F, S, D] view whose last dim is contiguous: element (b, f, s, d) at data + b*s0 + f*s1 + s*s2 + d.
struct RowTensor {
  void* data = nullptr;  // null: absent
  DType dtype = DType::Float32;
  std::int64_t s0 = 0, s1 = 0, s2 = 0;
};

// A float32 table with one row per x row, per frame or for all: row (r / divisor) % rows of x's row
// r = (b*F + f)*S + s.
struct RowTable {
  const float* data = nullptr;  // null: absent
  std::int64_t row_stride = 0, divisor = 1, rows = 1;
};

enum class NormKind { None, Plain, Affine };

// Per row: h = x (+ y * gate | + y); [h_out = h]; n = norm(h or bf16(h)) [* (1 + scale) + shift]; out = n.
// With NormKind::None, out = h.
struct ResidualNormArgs {
  std::int64_t B = 0, F = 0, S = 0, D = 0;
  RowTensor x, y, h_out, out;  // y is bf16, h_out float32
  RowTable gate, shift, scale;
  NormKind norm = NormKind::Plain;
  bool round_h_to_bf16 = false;
  const void* weight = nullptr;  // NormKind::Affine: [D] of weight_dtype
  const void* bias = nullptr;
  DType weight_dtype = DType::BFloat16;
  float eps = 1e-6f;
};
const char* residual_norm(const ResidualNormArgs& args, void* stream);

// q or k of self-attention: y [B, N, H*Dh] bf16 -> RMSNorm over H*Dh in float32 times weight, then the
// rotary embedding of each token (cos/sin [N, Dh/2] float32; null: no rotation), rounded to bf16
// into out [B, N, H, Dh].
struct RmsNormRopeArgs {
  std::int64_t B = 0, N = 0, H = 0, Dh = 0;
  const void* y = nullptr;
  std::int64_t y_s0 = 0, y_s1 = 0;
  const void* weight = nullptr;
  DType weight_dtype = DType::BFloat16;
  const float* cos = nullptr;
  const float* sin = nullptr;
  float eps = 1e-6f;
  void* out = nullptr;
  std::int64_t out_s0 = 0, out_s1 = 0;
};
const char* rms_norm_rope(const RmsNormRopeArgs& args, void* stream);

// Row-wise float8 (e4m3) quantization. The largest finite e4m3 value, and the smallest amax used
// for a scale (an all-zero row keeps a finite one). The scale is amax times the float32 reciprocal of
// 448, a product both the kernel and the LibTorch fallback compute exactly alike (a quotient would
// not: LibTorch divides by a scalar as a multiplication by its reciprocal, 1 ulp away at times).
constexpr float kFp8E4m3Max = 448.f;
constexpr float kFp8InverseE4m3Max = 1.f / kFp8E4m3Max;
constexpr float kFp8TinyAmax = 1e-12f;

// Row-wise float8 (e4m3) quantization: x [M, K] bf16 (row stride x_stride) -> q [M, K] contiguous and
// scale [M] float32 with x ≈ q * scale; scale = max(amax(row), tiny) * kFp8InverseE4m3Max. With
// gelu_tanh the row is first GELU(tanh)'d in float32 and rounded to bf16, as at::gelu on bf16 does
// (the FFN's inner activation, quantized for its second GEMM without a bf16 pass in between).
struct QuantizeRowsArgs {
  std::int64_t M = 0, K = 0;
  const void* x = nullptr;
  std::int64_t x_stride = 0;
  void* q = nullptr;
  float* scale = nullptr;
  bool gelu_tanh = false;
};
const char* quantize_rows_fp8(const QuantizeRowsArgs& args, void* stream);

}  // namespace skyreels::kernels::cuda

namespace skyreels::kernels::cuda {

// The VAE's RMS_norm over channels followed by SiLU: x [B, C, S] (S contiguous positions) ->
// silu(x / max(||x||_C, 1e-12) * sqrt(C) * gamma[c]) in float32, rounded to out's dtype.
struct ChannelNormSiluArgs {
  std::int64_t B = 0, C = 0, S = 0;
  const void* x = nullptr;
  DType x_dtype = DType::BFloat16;
  const float* gamma = nullptr;
  void* out = nullptr;
  DType out_dtype = DType::BFloat16;
};
const char* channel_rms_norm_silu(const ChannelNormSiluArgs& args, void* stream);

}  // namespace skyreels::kernels::cuda

namespace skyreels::kernels::cuda {

// 8-bit self-attention on Hopper (attention_sm90.cu, built for sm_90a only; kernels/quantized_attention.cpp
// checks the device and the tensors). Head dim 128; bf16 q, k, v [B, L, H, 128] whose rows start on
// 16 bytes.
constexpr int kInt8AttentionHeadDim = 128;
constexpr int kInt8AttentionQueryBlock = 128;  // queries sharing a scale: one CTA's rows
constexpr int kInt8AttentionKeyBlock = 64;     // keys sharing a scale: half a key tile
// Token counts are padded to this in the quantized copies (zero rows).
constexpr int kInt8AttentionTile = 128;

// x [B, L, H, 128] bf16 (strides s0, s1, s2 in elements) -> values [B, H, Lpad, 128] int8 (rows from
// L to Lpad zero) and scales [B, H, Lpad / block] float32: per block of `block` tokens of one (b, h),
// scale = max|x - mean| / 127 (1 for an all-zero block), values = round(x / scale). `mean` [B, H, 128]
// float32, or null for none (Q).
struct QuantizeBlocksArgs {
  std::int64_t B = 0, L = 0, H = 0, Lpad = 0, block = 0;
  const void* x = nullptr;
  std::int64_t s0 = 0, s1 = 0, s2 = 0;
  const float* mean = nullptr;
  void* values = nullptr;
  float* scales = nullptr;
};
const char* quantize_blocks_int8(const QuantizeBlocksArgs& args, void* stream);

// The kernel's CTA shapes (attention_sm90.cu): two warpgroups of 64 query rows (one CTA an SM, each key
// tile loaded for 128 queries); one warpgroup (two CTAs an SM); two warpgroups whose softmax of each
// tile runs while the previous tile's P·V does.
enum class Int8AttentionVariant { TwoWarpgroups, OneWarpgroup, Pipelined };

// out [B, Lq, H, 128] bf16 = softmax(scale · Q·K^T) V from the quantized q and k above (q per 128
// queries, k per 64 keys) and bf16 v [B, Lk, H, 128].
struct Int8AttentionArgs {
  std::int64_t B = 0, H = 0, Lq = 0, Lk = 0, Lq_pad = 0, Lk_pad = 0;
  const void* q = nullptr;
  const float* q_scales = nullptr;
  const void* k = nullptr;
  const float* k_scales = nullptr;
  const void* v = nullptr;
  std::int64_t v_s0 = 0, v_s1 = 0, v_s2 = 0;
  void* out = nullptr;
  std::int64_t out_s0 = 0, out_s1 = 0, out_s2 = 0;
  float scale = 1.f;  // the softmax scale, 1/sqrt(128) in the DiT
  Int8AttentionVariant variant = Int8AttentionVariant::TwoWarpgroups;
};
const char* int8_attention_sm90(const Int8AttentionArgs& args, void* stream);

}  // namespace skyreels::kernels::cuda
