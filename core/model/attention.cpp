#include "model/attention.h"

#include <algorithm>

#include <ATen/ATen.h>

#include "kernels/attention_shapes.h"
#include "skyreels/error.h"
#include "torch_compat.h"

namespace skyreels::model {
namespace {

// Queries per chunk of the math path: keeps [B, H, chunk, Lk] float32 scores near 256 MB.
std::int64_t query_chunk(const at::Tensor& q, const at::Tensor& k) {
  const std::int64_t per_query = q.size(0) * q.size(2) * k.size(1) * 4;
  return std::max<std::int64_t>(1, (256ll << 20) / std::max<std::int64_t>(per_query, 1));
}

void check_shapes(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  kernels::check_attention_shapes(q, k, v, "attention");
}

}  // namespace

at::Tensor attention_math(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale) {
  check_shapes(q, k, v);
  const auto kt = k.to(at::kFloat).permute({0, 2, 3, 1});  // [B, H, D, Lk]
  const auto vf = v.to(at::kFloat).transpose(1, 2);        // [B, H, Lk, D]
  const auto chunk = query_chunk(q, k);
  std::vector<at::Tensor> outputs;
  for (std::int64_t start = 0; start < q.size(1); start += chunk) {
    const auto length = std::min(chunk, q.size(1) - start);
    const auto qc = q.narrow(1, start, length).to(at::kFloat).transpose(1, 2);  // [B, H, c, D]
    const auto probs = at::softmax(at::matmul(qc, kt) * scale, -1);
    outputs.push_back(at::matmul(probs, vf).transpose(1, 2).to(q.scalar_type()));
  }
  return outputs.size() == 1 ? outputs[0] : at::cat(outputs, 1);
}

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale) {
#if SKYREELS_HAS_SDPA
  check_shapes(q, k, v);
  // SDPA takes [B, H, L, D]; transposed views keep D contiguous, which the fused kernels need.
  return at::scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), {}, 0.0, false,
                                          scale)
      .transpose(1, 2);
#else
  return attention_math(q, k, v, scale);
#endif
}

void set_attention_backend(AttentionBackend backend) {
#if SKYREELS_HAS_SDPA
  auto& ctx = at::globalContext();
  const bool all = backend == AttentionBackend::Auto;
  ctx.setSDPUseFlash(all || backend == AttentionBackend::Flash);
  ctx.setSDPUseMemEfficient(all || backend == AttentionBackend::Efficient);
  ctx.setSDPUseMath(all || backend == AttentionBackend::Math);
#if SKYREELS_TORCH_AT_LEAST(2, 3)
  ctx.setSDPUseCuDNN(all || backend == AttentionBackend::CuDNN);
#else
  if (backend == AttentionBackend::CuDNN)
    throw Error(ErrorCode::Unsupported, "cuDNN attention needs LibTorch 2.3 or newer");
#endif
#else
  if (backend != AttentionBackend::Auto && backend != AttentionBackend::Math)
    throw Error(ErrorCode::Unsupported, "this LibTorch has no fused attention kernels; only the math path");
#endif
}

AttentionBackend parse_attention_backend(const std::string& name) {
  if (name == "auto") return AttentionBackend::Auto;
  if (name == "cudnn") return AttentionBackend::CuDNN;
  if (name == "flash") return AttentionBackend::Flash;
  if (name == "efficient") return AttentionBackend::Efficient;
  if (name == "math") return AttentionBackend::Math;
  throw Error(ErrorCode::BadArgument, "unknown attention backend \"" + name + "\" (auto, cudnn, flash, efficient, math)");
}

at::Tensor block_causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale,
                                  std::int64_t tokens_per_frame, std::int64_t frames_per_block, AttentionFn kernel) {
  if (!kernel) kernel = &attention;
  check_shapes(q, k, v);
  const std::int64_t block_tokens = tokens_per_frame * frames_per_block;
  if (block_tokens <= 0 || q.size(1) != k.size(1) || q.size(1) % tokens_per_frame != 0)
    throw Error(ErrorCode::ShapeMismatch, "block-causal attention needs self-attention over whole frames");
  auto out = at::empty_like(q);
  for (std::int64_t start = 0; start < q.size(1); start += block_tokens) {
    const auto end = std::min(start + block_tokens, q.size(1));
    out.narrow(1, start, end - start)
        .copy_(kernel(q.narrow(1, start, end - start), k.narrow(1, 0, end), v.narrow(1, 0, end), scale));
  }
  return out;
}

}  // namespace skyreels::model
