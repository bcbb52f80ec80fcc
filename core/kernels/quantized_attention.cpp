#include "kernels/quantized_attention.h"

#include <algorithm>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "skyreels/error.h"

namespace skyreels::kernels {
namespace {

constexpr double kInt8Max = 127.0;
constexpr int kE4M3MantissaBits = 3;
constexpr int kE4M3MinExponent = -6;  // of the normal numbers; below, the subnormals' fixed step 2^-9
// Scores of at most this many elements (query rows x keys x heads x batch) at a time.
constexpr std::int64_t kScoreElements = std::int64_t{1} << 26;

std::string shape_text(const at::Tensor& t) {
  std::string s = "[";
  for (std::int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

void check_shapes(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  const bool ok = q.dim() == 4 && k.dim() == 4 && v.sizes() == k.sizes() && q.size(0) == k.size(0) &&
                  q.size(2) == k.size(2) && q.size(3) == k.size(3);
  if (!ok)
    throw Error(ErrorCode::ShapeMismatch, "quantized attention takes q [B, Lq, H, D] and k, v [B, Lk, H, D]; got " +
                                              shape_text(q) + ", " + shape_text(k) + ", " + shape_text(v));
}

// Per-block scales [B, nb, H] spread over the tokens: [B, L, H].
at::Tensor per_token(const at::Tensor& scales, std::int64_t block, std::int64_t length) {
  return scales.repeat_interleave(block, 1).narrow(1, 0, length);
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
  if (x.dim() != 4) throw Error(ErrorCode::ShapeMismatch, "quantize_per_block takes [B, L, H, D]; got " + shape_text(x));
  if (block < 1) throw Error(ErrorCode::BadArgument, "quantize_per_block: the block must hold at least one token");
  const auto b = x.size(0), length = x.size(1), heads = x.size(2), dim = x.size(3);
  const auto blocks = (length + block - 1) / block;
  auto xf = x.to(at::kFloat);
  if (const auto pad = blocks * block - length; pad > 0) xf = at::constant_pad_nd(xf, {0, 0, 0, 0, 0, pad});
  const auto grouped = xf.view({b, blocks, block, heads, dim});
  const double qmax = format == QkFormat::Int8 ? kInt8Max : kE4M3Max;
  auto scales = grouped.abs().amax({2, 4}) / qmax;  // [B, nb, H]
  scales = at::where(scales > 0, scales, at::ones_like(scales));
  const auto scaled = grouped / scales.view({b, blocks, 1, heads, 1});
  const auto values = format == QkFormat::Int8 ? at::round(scaled).clamp(-kInt8Max, kInt8Max) : round_to_e4m3(scaled);
  return {values.view({b, blocks * block, heads, dim}).narrow(1, 0, length).contiguous(), scales};
}

at::Tensor quantized_attention_reference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale,
                                         const QuantizedAttentionOptions& options) {
  check_shapes(q, k, v);
  const auto lq = q.size(1), lk = k.size(1);
  // 1. K smoothed: q . mean(k) is the same for every key of a row, which softmax cancels.
  auto kf = k.to(at::kFloat);
  if (options.smooth_k) kf = kf - kf.mean(1, /*keepdim=*/true);

  // 2. Q and K per block, [B, H, L, D] for the products; each token's scale alongside.
  const auto qq = quantize_per_block(q, options.q_block, options.qk);
  const auto kq = quantize_per_block(kf, options.k_block, options.qk);
  const auto q_values = qq.values.transpose(1, 2);                                      // [B, H, Lq, D]
  const auto k_values = kq.values.permute({0, 2, 3, 1});                                // [B, H, D, Lk]
  const auto q_scales = per_token(qq.scales, options.q_block, lq).transpose(1, 2).unsqueeze(-1);  // [B, H, Lq, 1]
  const auto k_scales = (per_token(kq.scales, options.k_block, lk) * scale).transpose(1, 2).unsqueeze(2);  // [B, H, 1, Lk]

  // 4. V: per channel to e4m3 (its scale applied after the product), or rounded to bf16.
  at::Tensor v_values, v_scales;  // [B, H, Lk, D], [B, H, 1, D]
  const auto vf = v.to(at::kFloat);
  if (options.pv == PvFormat::Float8E4M3) {
    auto s = vf.abs().amax(1, /*keepdim=*/true) / kE4M3Max;  // [B, 1, H, D]
    s = at::where(s > 0, s, at::ones_like(s));
    v_values = round_to_e4m3(vf / s).transpose(1, 2);
    v_scales = s.transpose(1, 2) / kE4M3Max;  // with P's fixed scale
  } else {
    v_values = vf.to(at::kBFloat16).to(at::kFloat).transpose(1, 2);
  }

  const auto per_row = std::max<std::int64_t>(1, q.size(0) * q.size(2) * lk);
  const auto chunk = std::max<std::int64_t>(1, std::min(lq, kScoreElements / per_row));
  std::vector<at::Tensor> outputs;
  for (std::int64_t start = 0; start < lq; start += chunk) {
    const auto rows = std::min(chunk, lq - start);
    // 2. The scores from the 8-bit values, then their scales.
    const auto s = at::matmul(q_values.narrow(2, start, rows), k_values) * q_scales.narrow(2, start, rows) * k_scales;
    // 3. Unnormalized probabilities and their row sums, in float32.
    const auto p = at::exp(s - s.amax(-1, /*keepdim=*/true));
    const auto l = p.sum(-1, /*keepdim=*/true);
    at::Tensor o;
    if (options.pv == PvFormat::Float8E4M3)
      o = at::matmul(round_to_e4m3(p * kE4M3Max), v_values) * v_scales;
    else
      o = at::matmul(p.to(at::kBFloat16).to(at::kFloat), v_values);
    outputs.push_back((o / l).transpose(1, 2));  // [B, rows, H, D]
  }
  const auto out = outputs.size() == 1 ? outputs[0] : at::cat(outputs, 1);
  return out.to(q.scalar_type());
}

at::Tensor quantized_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale) {
  return quantized_attention_reference(q, k, v, scale);
}

}  // namespace skyreels::kernels
