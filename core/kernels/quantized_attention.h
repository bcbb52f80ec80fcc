#pragma once

// 8-bit self-attention, the math of the `--attention int8` fast mode (issue 26), as LibTorch ops: the
// reference the GPU kernel is checked against, and the path on devices without the kernel.
//
// The recipe is the published one of 8-bit attention (SageAttention2's paper): K smoothed by its mean
// over tokens, which softmax cannot see; Q and K quantized per block of tokens, each block with one
// scale; the scores from the 8-bit products; P = exp(S - rowmax) and V rounded to bf16, or to float8
// e4m3 (P with the fixed scale 448, P <= 1; V per channel), their product accumulated in float32;
// O = P·V / l with the row sums l of the unquantized P.
//
// Measured on the CPU against float64 attention (tests/core/kernels/test_quantized_attention.cpp: random
// bf16 inputs, head dim 128, keys with a channel offset): INT8 Q·K with bf16 P·V meets the bars below
// (relative L2 0.014-0.026); e4m3 P·V misses the L2 bar (0.035-0.039: 3 mantissa bits on zero-mean
// values do not average out), e4m3 Q·K both bars (0.04-0.08). So the default is INT8 Q·K, bf16 P·V; the
// GPU kernel's choice is to be measured again on real activations.

#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

namespace skyreels::kernels {

enum class QkFormat { Int8, Float8E4M3 };
enum class PvFormat { Float8E4M3, BFloat16 };

struct QuantizedAttentionOptions {
  QkFormat qk = QkFormat::Int8;
  PvFormat pv = PvFormat::BFloat16;
  std::int64_t q_block = 128;  // query tokens (of one batch element and head) sharing a scale
  std::int64_t k_block = 64;   // key tokens sharing a scale
  bool smooth_k = true;
};

// The accuracy bars of one attention call against bf16 SDPA (issue 26); tests and the bench read them here.
inline constexpr double kQuantizedAttentionMinCosine = 0.999;
inline constexpr double kQuantizedAttentionMaxRelativeL2 = 0.03;

// The largest finite float8 e4m3 ("fn": no infinities) value.
inline constexpr double kE4M3Max = 448.0;

// Rounds to the nearest float8 e4m3 value, ties to even, saturating at +-448 (as the kernels convert
// scaled values). Float32 in and out.
at::Tensor round_to_e4m3(const at::Tensor& x);

// Symmetric per-block quantization of x [B, L, H, D] along its tokens: the `block` tokens of one batch
// element and head share scale = max|x| / qmax (127 for INT8, 448 for e4m3; an all-zero block gets 1).
// values = round(x / scale) clamped to +-127 (INT8) or round_to_e4m3(x / scale), as float32 [B, L, H, D];
// scales float32 [B, ceil(L / block), H].
struct QuantizedBlocks {
  at::Tensor values, scales;
};
QuantizedBlocks quantize_per_block(const at::Tensor& x, std::int64_t block, QkFormat format);

// Attention of q [B, Lq, H, D] over k, v [B, Lk, H, D] (any float dtype) with the recipe above, in
// float32 throughout (exact for the INT8 products: |sum q k| <= D * 127^2 < 2^24 for D <= 1024).
// Returns [B, Lq, H, D] in q's dtype. Queries go in chunks so the scores stay small.
at::Tensor quantized_attention_reference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale,
                                         const QuantizedAttentionOptions& options = {});

// Whether quantized_attention runs the Hopper kernel (kernels/cuda/attention_sm90.cu) for these
// tensors: built with it, a CUDA device of compute capability 9.0, bf16 [B, L, H, 128] whose rows start
// on 16 bytes.
bool quantized_attention_kernel_applies(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

// Why the 8-bit attention fast mode cannot run on `device`, or "" where it can: on the CPU (the
// reference above, for measuring the mode's quality cost) and on compute capability 9.0 with the
// kernel built. Other GPUs would get the reference at about the math attention's cost, so the engine
// refuses them before any work.
std::string quantized_attention_unsupported_reason(const c10::Device& device);

// The fast mode's entry, with the default options: the Hopper kernel where it applies, else the
// reference above (at about the cost of the math attention).
at::Tensor quantized_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale);

}  // namespace skyreels::kernels
