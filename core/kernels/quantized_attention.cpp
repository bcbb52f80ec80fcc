#include "kernels/quantized_attention.h"

#include <algorithm>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "kernels/attention_shapes.h"
#include "skyreels/error.h"

namespace skyreels::kernels {
namespace {

constexpr double kInt8Max = 127.0;
constexpr int kE4M3MantissaBits = 3;
constexpr int kE4M3MinExponent = -6;  // of the normal numbers; below, the subnormals' fixed step 2^-9
// Scores of at most this many elements (query rows x keys of one head) at a time: 64 MiB in float32.
constexpr std::int64_t kScoreElements = std::int64_t{1} << 24;

// Per-block scales [nb] spread over the tokens: [L].
at::Tensor per_token(const at::Tensor& scales, std::int64_t block, std::int64_t length) {
  return scales.repeat_interleave(block).narrow(0, 0, length);
}

// One head's tokens x [L, D], quantized per block of `block` tokens: values [L, D] float32, scales [nb].
QuantizedBlocks quantize_rows(const at::Tensor& x, std::int64_t block, QkFormat format) {
  const auto length = x.size(0), dim = x.size(1);
  const auto blocks = (length + block - 1) / block;
  auto xf = x.to(at::kFloat);
  if (const auto pad = blocks * block - length; pad > 0) xf = at::constant_pad_nd(xf, {0, 0, 0, pad});
  const auto grouped = xf.reshape({blocks, block, dim});
  const double qmax = format == QkFormat::Int8 ? kInt8Max : kE4M3Max;
  auto scales = grouped.abs().amax({1, 2}) / qmax;  // [nb]
  scales = at::where(scales > 0, scales, at::ones_like(scales));
  const auto scaled = grouped / scales.view({blocks, 1, 1});
  const auto values = format == QkFormat::Int8 ? at::round(scaled).clamp(-kInt8Max, kInt8Max) : round_to_e4m3(scaled);
  return {values.reshape({blocks * block, dim}).narrow(0, 0, length), scales};
}

}  // namespace

at::Tensor round_to_e4m3(const at::Tensor& x) {
  const auto xf = x.to(at::kFloat);
  const auto a = xf.abs().clamp_max(kE4M3Max);
  // The spacing of e4m3 around a: 2^(exponent - 3), the subnormals' below 2^-6. log2(0) = -inf clamps too.
  const auto exponent = at::floor(at::log2(a)).clamp_min(kE4M3MinExponent);
  const auto step = at::exp2(exponent - kE4M3MantissaBits);
  const auto rounded = (at::round(a / step) * step).clamp_max(kE4M3Max);  // at::round: ties to even
  return at::where(xf < 0, -rounded, rounded);
}

QuantizedBlocks quantize_per_block(const at::Tensor& x, std::int64_t block, QkFormat format) {
  if (x.dim() != 4) throw Error(ErrorCode::ShapeMismatch, "quantize_per_block takes [B, L, H, D]; got " + c10::str(x.sizes()));
  if (block < 1) throw Error(ErrorCode::BadArgument, "quantize_per_block: the block must hold at least one token");
  const auto b = x.size(0), heads = x.size(2);
  auto values = at::empty(x.sizes(), x.options().dtype(at::kFloat));
  auto scales = at::empty({b, (x.size(1) + block - 1) / block, heads}, x.options().dtype(at::kFloat));
  for (std::int64_t i = 0; i < b; ++i)
    for (std::int64_t h = 0; h < heads; ++h) {
      const auto q = quantize_rows(x.select(0, i).select(1, h), block, format);
      values.select(0, i).select(1, h).copy_(q.values);
      scales.select(0, i).select(1, h).copy_(q.scales);
    }
  return {values, scales};
}

at::Tensor quantized_attention_reference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale,
                                         const QuantizedAttentionOptions& options) {
  check_attention_shapes(q, k, v, "quantized attention");
  if (options.q_block < 1 || options.k_block < 1)
    throw Error(ErrorCode::BadArgument, "quantized attention: a block must hold at least one token");
  const auto lq = q.size(1), lk = k.size(1);
  // One head at a time (its scales are its own), queries in chunks: the float32 work stays a few
  // tensors of one head's size, as a kernel's tiles would.
  auto out = at::empty(q.sizes(), q.options());
  const auto chunk = std::max<std::int64_t>(1, std::min(lq, kScoreElements / std::max<std::int64_t>(lk, 1)));
  for (std::int64_t b = 0; b < q.size(0); ++b)
    for (std::int64_t h = 0; h < q.size(2); ++h) {
      // 1. K smoothed: q . mean(k) is the same for every key of a row, which softmax cancels.
      auto kf = k.select(0, b).select(1, h).to(at::kFloat);  // [Lk, D]
      if (options.smooth_k) kf = kf - kf.mean(0, /*keepdim=*/true);
      // 2. Q and K per block.
      const auto qq = quantize_rows(q.select(0, b).select(1, h), options.q_block, options.qk);
      const auto kq = quantize_rows(kf, options.k_block, options.qk);
      kf = at::Tensor();
      const auto q_scales = per_token(qq.scales, options.q_block, lq).unsqueeze(1);            // [Lq, 1]
      const auto k_scales = (per_token(kq.scales, options.k_block, lk) * scale).unsqueeze(0);  // [1, Lk]
      const auto k_values = kq.values.t();                                                     // [D, Lk]
      // 4. V per channel to e4m3 (its scale applied after the product, with P's fixed 448), or bf16.
      const auto vf = v.select(0, b).select(1, h).to(at::kFloat);  // [Lk, D]
      at::Tensor v_values, v_scales;
      if (options.pv == PvFormat::Float8E4M3) {
        auto s = vf.abs().amax(0, /*keepdim=*/true) / kE4M3Max;  // [1, D]
        s = at::where(s > 0, s, at::ones_like(s));
        v_values = round_to_e4m3(vf / s);
        v_scales = s / kE4M3Max;
      } else {
        v_values = vf.to(at::kBFloat16).to(at::kFloat);
      }
      auto o_head = out.select(0, b).select(1, h);  // [Lq, D]
      for (std::int64_t start = 0; start < lq; start += chunk) {
        const auto rows = std::min(chunk, lq - start);
        // 2. The scores from the 8-bit values, then their scales.
        const auto s = at::mm(qq.values.narrow(0, start, rows), k_values) * q_scales.narrow(0, start, rows) * k_scales;
        // 3. Unnormalized probabilities and their row sums, in float32.
        const auto p = at::exp(s - s.amax(-1, /*keepdim=*/true));
        const auto l = p.sum(-1, /*keepdim=*/true);
        const auto o = options.pv == PvFormat::Float8E4M3 ? at::mm(round_to_e4m3(p * kE4M3Max), v_values) * v_scales
                                                          : at::mm(p.to(at::kBFloat16).to(at::kFloat), v_values);
        o_head.narrow(0, start, rows).copy_(o / l);
      }
    }
  return out;
}

at::Tensor quantized_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale) {
  return quantized_attention_reference(q, k, v, scale);
}

}  // namespace skyreels::kernels
