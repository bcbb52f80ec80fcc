#pragma once

#include <optional>
#include <string>

#include <ATen/core/Tensor.h>

namespace skyreels::model {

// Multi-head scaled-dot-product attention without a mask.
// q: [B, Lq, H, D], k and v: [B, Lk, H, D], all of one dtype (bf16 in the models). Returns [B, Lq, H, D]
// in that dtype. Softmax runs in float32 (as in flash/cuDNN kernels). On LibTorch 2.1+ this is
// at::scaled_dot_product_attention (fastest backend for the shape); on older versions a math path
// that processes queries in chunks so the score matrix stays small.
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale);

// Block-causal attention over frames: tokens are frame-major with `tokens_per_frame` tokens a frame;
// queries of frame block j (blocks of `frames_per_block` frames) see keys of blocks 0..j. Exact: one
// unmasked attention call per block over the key prefix. Self-attention only (Lq == Lk).
// `kernel` attends each block (attention, or the 8-bit kernels::quantized_attention).
using AttentionFn = at::Tensor (*)(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale);
at::Tensor block_causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale,
                                  std::int64_t tokens_per_frame, std::int64_t frames_per_block,
                                  AttentionFn kernel = nullptr);

// Which kernel scaled-dot-product attention uses on LibTorch 2.x (process-wide: LibTorch's switches
// are global). Auto leaves LibTorch's own choice. A backend this LibTorch lacks throws
// skyreels::Error(Unsupported).
enum class AttentionBackend { Auto = 0, CuDNN, Flash, Efficient, Math };
void set_attention_backend(AttentionBackend backend);
AttentionBackend parse_attention_backend(const std::string& name);  // auto|cudnn|flash|efficient|math

// The math path, always available (used by tests to compare backends).
at::Tensor attention_math(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale);

}  // namespace skyreels::model
