// The fused ops against the math written out in float64 on the CPU, on the test device: on CUDA (with
// the kernels built) this checks the kernels, on the CPU the LibTorch fallbacks. On CUDA the kernels
// are also compared with the fallbacks directly.

#include <algorithm>
#include <cmath>
#include <functional>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "conformance/metrics.h"
#include "kernels/fused_ops.h"
#include "model/rope.h"
#include "skyreels/error.h"
#include "test_support.h"
#include "torch_compat.h"

namespace kernels = skyreels::kernels;
using skyreels::conformance::relative_l2;
using skyreels::test::kBf16NoiseRelL2;
using skyreels::test::kFloat32RelL2;
using skyreels::test::test_device;

namespace {

// Kernel vs fallback: the same float32 math up to the order of row reductions, so only rare
// last-bit flips of bf16 outputs.
constexpr double kKernelVsFallbackRelL2 = 1e-3;

at::TensorOptions on_device(at::ScalarType dtype) { return at::TensorOptions().device(test_device()).dtype(dtype); }

at::Tensor f64(const at::Tensor& t) { return t.to(at::kCPU).to(at::kDouble); }

at::Tensor layer_norm64(const at::Tensor& x, double eps) {
  const auto mean = x.mean(-1, true);
  const auto var = (x - mean).pow(2).mean(-1, true);
  return (x - mean) / at::sqrt(var + eps);
}

// [T, D] table as a broadcastable [1, F, S, D] view (T = 1, F or F*S), for the float64 math.
at::Tensor spread(const at::Tensor& table, std::int64_t frames, std::int64_t tokens) {
  const auto d = table.size(1);
  if (table.size(0) == 1) return table.view({1, 1, 1, d});
  if (table.size(0) == frames) return table.view({1, frames, 1, d});
  return table.view({1, frames, tokens, d});
}

// The fallbacks everywhere while alive (restored on any exit, a failed assertion included).
class FallbacksOnly {
public:
  FallbacksOnly() { kernels::set_fused_kernels_enabled(false); }
  ~FallbacksOnly() { kernels::set_fused_kernels_enabled(true); }
  FallbacksOnly(const FallbacksOnly&) = delete;
  FallbacksOnly& operator=(const FallbacksOnly&) = delete;
};

bool kernels_expected() { return test_device().is_cuda() && kernels::cuda_kernels_built(); }

// On CUDA with the kernels built: `op` launches a kernel, and its result matches the fallback's.
template <typename Op>
void expect_kernel_matches_fallback(const Op& op, double tolerance) {
  if (!kernels_expected()) return;
  const auto launches = kernels::fused_kernel_launches();
  const auto fused = op();
  EXPECT_GT(kernels::fused_kernel_launches(), launches) << "the kernel path did not run";
  at::Tensor fallback;
  {
    const FallbacksOnly fallbacks;
    fallback = op();
  }
  EXPECT_LT(relative_l2(fused, fallback), tolerance);
}

struct Shape {
  std::int64_t b = 2, f = 3, s = 5, d = 64;
};

// Row sizes of the tests: a tiny one, and the real models' (several 8-element chunks per thread, and
// the 256-thread blocks of 14B's rows).
const std::int64_t kRowSizes[] = {64, 1536, 5120};

class FusedOps : public ::testing::Test {
protected:
  void SetUp() override { at::manual_seed(11); }
  torch::NoGradGuard no_grad_;
};

TEST_F(FusedOps, ModulatedLayerNormMatchesFloat64ForEveryTableKind) {
  for (const auto d : kRowSizes) {
    Shape s;
    s.d = d;
    // A strided input: frames 1..3 of a 5-frame batch.
    const auto whole = at::randn({s.b, 5, s.s, s.d}, on_device(at::kBFloat16)) * 3 + 0.5;
    const auto x = whole.narrow(1, 1, s.f);
    for (const std::int64_t rows : {std::int64_t{1}, s.f, s.f * s.s}) {
      const auto shift = at::randn({rows, s.d}, on_device(at::kFloat));
      const auto scale = at::randn({rows, s.d}, on_device(at::kFloat)) * 0.3;
      const auto expected =
          layer_norm64(f64(x), 1e-6) * (1 + spread(f64(scale), s.f, s.s)) + spread(f64(shift), s.f, s.s);
      const auto bf16 = kernels::modulated_layer_norm(x, shift, scale, 1e-6, at::kBFloat16);
      const auto fp32 = kernels::modulated_layer_norm(x, shift, scale, 1e-6, at::kFloat);
      ASSERT_EQ(bf16.scalar_type(), at::kBFloat16);
      ASSERT_EQ(fp32.scalar_type(), at::kFloat);
      EXPECT_LT(relative_l2(bf16, expected), kBf16NoiseRelL2) << rows << " table rows";
      EXPECT_LT(relative_l2(fp32, expected), kFloat32RelL2) << rows << " table rows";
      expect_kernel_matches_fallback([&] { return kernels::modulated_layer_norm(x, shift, scale, 1e-6, at::kFloat); },
                                     kFloat32RelL2);
    }
  }
}

TEST_F(FusedOps, GatedResidualAffineNormMatchesFloat64) {
  for (const auto d : kRowSizes) {
    Shape s;
    s.d = d;
    const auto x = at::randn({s.b, s.f, s.s, s.d}, on_device(at::kBFloat16));
    const auto y = at::randn({s.b, s.f, s.s, s.d}, on_device(at::kBFloat16));
    const auto gate = at::randn({s.f, s.d}, on_device(at::kFloat));
    const auto weight = (at::randn({s.d}, on_device(at::kFloat)) + 1).to(at::kBFloat16);
    const auto bias = at::randn({s.d}, on_device(at::kFloat)).to(at::kBFloat16);
    const auto r = kernels::gated_residual_affine_norm(x, y, gate, weight, bias, 1e-6);

    const auto h = f64(x) + f64(y) * spread(f64(gate), s.f, s.s);
    const auto h_bf16 = h.to(at::kBFloat16).to(at::kDouble);  // norm3 sees the stream rounded to bf16
    const auto normed = layer_norm64(h_bf16, 1e-6) * f64(weight) + f64(bias);
    ASSERT_EQ(r.h.scalar_type(), at::kFloat);
    ASSERT_EQ(r.normed.scalar_type(), at::kBFloat16);
    EXPECT_LT(relative_l2(r.h, h), kFloat32RelL2);
    EXPECT_LT(relative_l2(r.normed, normed), kBf16NoiseRelL2);
    expect_kernel_matches_fallback(
        [&] { return kernels::gated_residual_affine_norm(x, y, gate, weight, bias, 1e-6).normed; },
        kKernelVsFallbackRelL2);
  }
}

TEST_F(FusedOps, ResidualModulatedLayerNormUpdatesTheStreamInPlace) {
  const Shape s;
  const auto h0 = at::randn({s.b, s.f, s.s, s.d}, on_device(at::kFloat));
  const auto y = at::randn({s.b, s.f, s.s, s.d}, on_device(at::kBFloat16));
  const auto shift = at::randn({s.f * s.s, s.d}, on_device(at::kFloat));
  const auto scale = at::randn({s.f * s.s, s.d}, on_device(at::kFloat));
  auto h = h0.clone();
  const auto f = kernels::residual_modulated_layer_norm(h, y, shift, scale, 1e-6);

  const auto h_expected = f64(h0) + f64(y);
  const auto f_expected =
      layer_norm64(h_expected, 1e-6) * (1 + spread(f64(scale), s.f, s.s)) + spread(f64(shift), s.f, s.s);
  EXPECT_LT(relative_l2(h, h_expected), kFloat32RelL2);
  EXPECT_LT(relative_l2(f, f_expected), kBf16NoiseRelL2);
  expect_kernel_matches_fallback(
      [&] {
        auto stream = h0.clone();
        return kernels::residual_modulated_layer_norm(stream, y, shift, scale, 1e-6);
      },
      kKernelVsFallbackRelL2);
}

TEST_F(FusedOps, GatedResidualIntoWritesOnlyItsView) {
  const Shape s;
  auto out = at::full({s.b, 5, s.s, s.d}, NAN, on_device(at::kBFloat16));
  const auto view = out.narrow(1, 2, s.f);
  const auto h = at::randn({s.b, s.f, s.s, s.d}, on_device(at::kFloat));
  const auto y = at::randn({s.b, s.f, s.s, s.d}, on_device(at::kBFloat16));
  const auto gate = at::randn({1, s.d}, on_device(at::kFloat));
  kernels::gated_residual_into(view, h, y, gate);
  EXPECT_LT(relative_l2(view, f64(h) + f64(y) * spread(f64(gate), s.f, s.s)), kBf16NoiseRelL2);
  EXPECT_TRUE(out.narrow(1, 0, 2).isnan().all().item<bool>());  // outside the view: untouched
  EXPECT_TRUE(out.narrow(1, 2 + s.f, 5 - 2 - s.f).isnan().all().item<bool>());
  expect_kernel_matches_fallback(
      [&] {
        auto o = at::empty({s.b, s.f, s.s, s.d}, on_device(at::kBFloat16));
        kernels::gated_residual_into(o, h, y, gate);
        return o;
      },
      kKernelVsFallbackRelL2);
}

TEST_F(FusedOps, ChannelRmsNormSiluMatchesFloat64) {
  for (const auto dtype : {at::kBFloat16, at::kFloat}) {
    const auto x = at::randn({2, 96, 3, 5, 7}, on_device(at::kFloat)).to(dtype) * 2;
    const auto gamma = (at::rand({96, 1, 1, 1}, on_device(at::kFloat)) + 0.5);
    const auto out = kernels::channel_rms_norm_silu(x, gamma, at::kBFloat16);
    ASSERT_EQ(out.scalar_type(), at::kBFloat16);
    const auto x64 = f64(x);
    const auto y = x64 / x64.pow(2).sum(1, true).sqrt().clamp_min(1e-12) * std::sqrt(96.0) * f64(gamma);
    EXPECT_LT(relative_l2(out, y * at::sigmoid(y)), kBf16NoiseRelL2);
    expect_kernel_matches_fallback([&] { return kernels::channel_rms_norm_silu(x, gamma, at::kFloat); }, kFloat32RelL2);
  }
}

TEST_F(FusedOps, RmsNormRopeMatchesFloat64) {
  // A tiny head layout and the real models' (12 and 40 heads of 128).
  const std::pair<std::int64_t, std::int64_t> layouts[] = {{4, 16}, {12, 128}, {40, 128}};
  for (const auto& [heads, head_dim] : layouts) {
    const std::int64_t b = 2, frames = 2, height = 3, width = 4, n = frames * height * width;
    const skyreels::model::Rope3d rope(head_dim);
    const auto table = rope.table(frames, height, width, test_device());
    const auto y = at::randn({b, n, heads * head_dim}, on_device(at::kBFloat16)) * 2;
    const auto weight = (at::rand({heads * head_dim}, on_device(at::kFloat)) + 0.5).to(at::kBFloat16);
    // Into tokens 5.. of a longer buffer, as the block fills q and k a chunk at a time.
    auto buffer = at::full({b, n + 5, heads, head_dim}, NAN, on_device(at::kBFloat16));
    const auto out = buffer.narrow(1, 5, n);
    kernels::rms_norm_rope_into(out, y, weight, table.cos, table.sin, 1e-6);

    const auto y64 = f64(y);
    const auto normed =
        (y64 / at::sqrt(y64.pow(2).mean(-1, true) + 1e-6) * f64(weight)).view({b, n, heads, head_dim / 2, 2});
    const auto re = normed.select(-1, 0), im = normed.select(-1, 1);
    const auto c = f64(table.cos).view({1, n, 1, head_dim / 2}), sn = f64(table.sin).view({1, n, 1, head_dim / 2});
    const auto expected = at::stack({re * c - im * sn, re * sn + im * c}, -1).view({b, n, heads, head_dim});
    EXPECT_LT(relative_l2(out, expected), kBf16NoiseRelL2);
    EXPECT_TRUE(buffer.narrow(1, 0, 5).isnan().all().item<bool>());

    auto plain = at::empty({b, n, heads, head_dim}, on_device(at::kBFloat16));
    kernels::rms_norm_into(plain, y, weight, 1e-6);
    EXPECT_LT(relative_l2(plain, normed.view({b, n, heads, head_dim})), kBf16NoiseRelL2);
    expect_kernel_matches_fallback(
        [&] {
          auto o = at::empty({b, n, heads, head_dim}, on_device(at::kBFloat16));
          kernels::rms_norm_rope_into(o, y, weight, table.cos, table.sin, 1e-6);
          return o;
        },
        kKernelVsFallbackRelL2);
  }
}

TEST_F(FusedOps, QuantizeRowsFp8KeepsEachRowWithinE4m3Precision) {
#if SKYREELS_TORCH_AT_LEAST(2, 1)
  for (const std::int64_t k : {96, 1536, 8960, 13824}) {  // up to the FFN's inner rows of 1.3B and 14B
    const auto x =
        at::randn({37, k}, on_device(at::kFloat)).mul(at::rand({37, 1}, on_device(at::kFloat)) * 10).to(at::kBFloat16);
    const auto q = kernels::quantize_rows_fp8(x);
    ASSERT_EQ(q.values.scalar_type(), at::kFloat8_e4m3fn);
    ASSERT_EQ(q.scale.sizes(), (at::IntArrayRef{37, 1}));
    // e4m3 keeps 3 mantissa bits: each value within 2^-4 relative, and each row's largest maps to 448.
    const auto back = q.values.to(at::kFloat) * q.scale;
    EXPECT_LT(relative_l2(back, f64(x)), 0.04) << k;
    const auto amax = f64(x).abs().amax(-1, true);
    EXPECT_LT(relative_l2(q.scale, amax / 448.0), kFloat32RelL2) << k;
    // On CUDA the kernel takes every one of these rows, and its codes are the fallback's.
    const auto launches = kernels::fused_kernel_launches();
    kernels::quantize_rows_fp8(x);
    EXPECT_EQ(kernels::fused_kernel_launches() > launches, kernels_expected()) << k;
    expect_kernel_matches_fallback([&] { return kernels::quantize_rows_fp8(x).values.to(at::kFloat); }, 1e-6);
  }
#else
  GTEST_SKIP() << "float8 needs LibTorch 2.1";
#endif
}

// The kernel alone at every row length the DiTs quantize: its scales and codes must be the fallback's,
// bit for bit. A mismatch prints where it sits in the row (which of a thread's 8-element chunks), both
// scales and the exact quotient (this found the scales 1 ulp apart: a quotient against LibTorch's
// multiplication by a reciprocal).
TEST_F(FusedOps, QuantizeKernelCodesAreTheFallbacksAtEveryRowLength) {
#if SKYREELS_TORCH_AT_LEAST(2, 1)
  if (!kernels_expected()) GTEST_SKIP() << "needs the CUDA kernels on a CUDA test device";
  for (const std::int64_t k : {96, 1536, 5120, 8960, 13824}) {
    const auto x =
        at::randn({37, k}, on_device(at::kFloat)).mul(at::rand({37, 1}, on_device(at::kFloat)) * 10).to(at::kBFloat16);
    const auto fused = kernels::quantize_rows_fp8_kernel(x);
    kernels::Fp8Rows fallback;
    {
      const FallbacksOnly fallbacks;
      fallback = kernels::quantize_rows_fp8(x);
    }
    EXPECT_TRUE(at::equal(fused.scale, fallback.scale)) << k;
    const auto a = fused.values.view(at::kByte).to(at::kCPU), b = fallback.values.view(at::kByte).to(at::kCPU);
    const auto differ = a.ne(b).nonzero();
    EXPECT_EQ(differ.size(0), 0) << k << ": " << differ.size(0) << " of " << a.numel() << " codes differ";
    const auto xs = x.to(at::kCPU).to(at::kDouble), sf = fused.scale.to(at::kCPU), sb = fallback.scale.to(at::kCPU);
    for (std::int64_t i = 0; i < std::min<std::int64_t>(differ.size(0), 6); ++i) {
      const auto r = differ[i][0].item<std::int64_t>(), c = differ[i][1].item<std::int64_t>();
      ADD_FAILURE() << "K " << k << " row " << r << " col " << c << " chunk slot " << (c / 8) / 256 << ": x "
                    << xs[r][c].item<double>() << ", scales " << sf[r][0].item<float>() << " / " << sb[r][0].item<float>()
                    << ", x/scale " << xs[r][c].item<double>() / sb[r][0].item<float>() << ", codes "
                    << int(a[r][c].item<std::uint8_t>()) << " / " << int(b[r][c].item<std::uint8_t>());
    }
  }
#else
  GTEST_SKIP() << "float8 needs LibTorch 2.1";
#endif
}

// The FFN's inner activation, GELU(tanh) and quantization in one pass: within e4m3 precision of the
// float64 GELU, and on CUDA the kernel's codes are the fallback's (GELU, then quantize) but where
// tanhf's last bit differs from LibTorch's and flips a bf16 rounding (rare).
TEST_F(FusedOps, GeluQuantizeIsTheQuantizedGeluOfEachRow) {
#if SKYREELS_TORCH_AT_LEAST(2, 1)
  for (const std::int64_t k : {1536, 8960, 13824}) {
    const auto x = (at::randn({37, k}, on_device(at::kFloat)) * 3).to(at::kBFloat16);
    const auto launches = kernels::fused_kernel_launches();
    const auto q = kernels::gelu_quantize_rows_fp8(x);
    EXPECT_EQ(kernels::fused_kernel_launches() > launches, kernels_expected()) << k;
    const auto x64 = f64(x);
    const auto gelu64 = x64 * 0.5 * (1 + at::tanh(std::sqrt(2.0 / M_PI) * (x64 + 0.044715 * x64.pow(3))));
    EXPECT_LT(relative_l2(q.values.to(at::kFloat) * q.scale, gelu64), 0.04) << k;
    if (!kernels_expected()) continue;
    kernels::Fp8Rows fallback;
    {
      const FallbacksOnly fallbacks;
      fallback = kernels::gelu_quantize_rows_fp8(x);
    }
    const auto differ = q.values.view(at::kByte).ne(fallback.values.view(at::kByte)).sum().item<std::int64_t>();
    EXPECT_LT(static_cast<double>(differ) / static_cast<double>(x.numel()), 1e-3) << k << ": " << differ << " codes";
  }
#else
  GTEST_SKIP() << "float8 needs LibTorch 2.1";
#endif
}

TEST_F(FusedOps, WrongTableShapesAreNamed) {
  const auto x = at::randn({1, 3, 5, 64}, on_device(at::kBFloat16));
  const auto table = at::randn({4, 64}, on_device(at::kFloat));  // neither 1, 3 nor 15 rows
  skyreels::ErrorCode code{};
  const auto message =
      skyreels::test::error_text([&] { kernels::modulated_layer_norm(x, table, table, 1e-6, at::kBFloat16); }, &code);
  EXPECT_EQ(code, skyreels::ErrorCode::ShapeMismatch);
  EXPECT_NE(message.find("4 rows"), std::string::npos) << message;
}

}  // namespace
