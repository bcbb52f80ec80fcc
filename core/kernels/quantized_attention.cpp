#include "kernels/quantized_attention.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "kernels/attention_shapes.h"
#include "skyreels/error.h"

#ifndef SKYREELS_HAS_SM90_ATTENTION
#define SKYREELS_HAS_SM90_ATTENTION 0
#endif
#if SKYREELS_HAS_SM90_ATTENTION
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "kernels/cuda/launch.h"
#endif

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

#if SKYREELS_HAS_SM90_ATTENTION
namespace {

std::int64_t round_up(std::int64_t n, std::int64_t m) { return (n + m - 1) / m * m; }

// The kernels read rows of 8 bf16 (16 bytes) at a time.
bool rows_aligned(const at::Tensor& x) {
  return x.stride(3) == 1 && reinterpret_cast<std::uintptr_t>(x.data_ptr()) % 16 == 0 && x.stride(0) % 8 == 0 &&
         x.stride(1) % 8 == 0 && x.stride(2) % 8 == 0;
}

// The kernel's variant (launch.h): SKYREELS_INT8_ATTENTION_KERNEL=one or pipelined picks another than
// the default, a tuning knob for measuring them on one build.
cuda::Int8AttentionVariant kernel_variant() {
  const char* env = std::getenv("SKYREELS_INT8_ATTENTION_KERNEL");
  const std::string name = env ? env : "";
  if (name == "one") return cuda::Int8AttentionVariant::OneWarpgroup;
  if (name == "pipelined") return cuda::Int8AttentionVariant::Pipelined;
  return cuda::Int8AttentionVariant::TwoWarpgroups;
}

void check_launch(const char* error) {
  if (error) throw Error(ErrorCode::Runtime, std::string("8-bit attention kernel failed: ") + error);
}

// Q per 128 queries, or K smoothed by its mean and per 64 keys, as the kernel's int8 rows.
QuantizedBlocks quantize_for_kernel(const at::Tensor& x, std::int64_t block, const at::Tensor& mean, void* stream) {
  const auto b = x.size(0), length = x.size(1), heads = x.size(2);
  const auto padded = round_up(length, cuda::kInt8AttentionTile);
  QuantizedBlocks out{at::empty({b, heads, padded, x.size(3)}, x.options().dtype(at::kChar)),
                      at::empty({b, heads, padded / block}, x.options().dtype(at::kFloat))};
  cuda::QuantizeBlocksArgs a;
  a.B = b, a.L = length, a.H = heads, a.Lpad = padded, a.block = block;
  a.x = x.data_ptr(), a.s0 = x.stride(0), a.s1 = x.stride(1), a.s2 = x.stride(2);
  a.mean = mean.defined() ? mean.data_ptr<float>() : nullptr;
  a.values = out.values.data_ptr(), a.scales = out.scales.data_ptr<float>();
  check_launch(cuda::quantize_blocks_int8(a, stream));
  return out;
}

at::Tensor quantized_attention_sm90(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale) {
  const c10::cuda::CUDAGuard guard(q.device());
  void* stream = at::cuda::getCurrentCUDAStream().stream();
  // K's mean over its tokens per (b, h), in float32: [B, H, 128].
  const auto mean = at::mean(k, {1}, /*keepdim=*/false, at::kFloat).contiguous();
  const auto qq = quantize_for_kernel(q, cuda::kInt8AttentionQueryBlock, at::Tensor(), stream);
  const auto kq = quantize_for_kernel(k, cuda::kInt8AttentionKeyBlock, mean, stream);
  auto out = at::empty(q.sizes(), q.options());
  cuda::Int8AttentionArgs a;
  a.B = q.size(0), a.H = q.size(2), a.Lq = q.size(1), a.Lk = k.size(1);
  a.Lq_pad = qq.values.size(2), a.Lk_pad = kq.values.size(2);
  a.q = qq.values.data_ptr(), a.q_scales = qq.scales.data_ptr<float>();
  a.k = kq.values.data_ptr(), a.k_scales = kq.scales.data_ptr<float>();
  a.v = v.data_ptr(), a.v_s0 = v.stride(0), a.v_s1 = v.stride(1), a.v_s2 = v.stride(2);
  a.out = out.data_ptr(), a.out_s0 = out.stride(0), a.out_s1 = out.stride(1), a.out_s2 = out.stride(2);
  a.scale = static_cast<float>(scale);
  a.variant = kernel_variant();
  check_launch(cuda::int8_attention_sm90(a, stream));
  return out;
}

}  // namespace
#endif

bool quantized_attention_kernel_applies(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
#if SKYREELS_HAS_SM90_ATTENTION
  if (!q.is_cuda() || q.device() != k.device() || q.device() != v.device()) return false;
  const auto* props = at::cuda::getDeviceProperties(q.device().index());
  if (props->major != 9 || props->minor != 0) return false;
  for (const auto* x : {&q, &k, &v})
    if (x->scalar_type() != at::kBFloat16 || x->dim() != 4 || x->size(3) != cuda::kInt8AttentionHeadDim ||
        !rows_aligned(*x))
      return false;
  return k.size(1) > 0;
#else
  (void)q, (void)k, (void)v;
  return false;
#endif
}

std::string quantized_attention_unsupported_reason(const c10::Device& device) {
  if (!device.is_cuda()) return {};
#if SKYREELS_HAS_SM90_ATTENTION
  const int index = device.index() < 0 ? at::cuda::current_device() : device.index();
  const auto* props = at::cuda::getDeviceProperties(index);
  if (props->major == 9 && props->minor == 0) return {};
  return std::string("8-bit attention needs a Hopper GPU (compute capability 9.0: H100, H200); ") + props->name +
         " has " + std::to_string(props->major) + "." + std::to_string(props->minor);
#else
  return "8-bit attention on a GPU needs the Hopper kernel, which this build lacks (it needs CUDA kernels on and "
         "nvcc 12 or newer)";
#endif
}

at::Tensor quantized_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale) {
  check_attention_shapes(q, k, v, "quantized attention");
#if SKYREELS_HAS_SM90_ATTENTION
  if (quantized_attention_kernel_applies(q, k, v)) return quantized_attention_sm90(q, k, v, scale);
#endif
  return quantized_attention_reference(q, k, v, scale);
}

}  // namespace skyreels::kernels
