// The weight holders of core/model/layers.h against their math written out in float64 on the CPU:
// Linear (x W^T + b), LayerNorm ((x - mean) / sqrt(var + eps) * w + b), RMSNorm
// (x * rsqrt(mean(x^2) + eps) * w), PatchEmbed (a Conv3d with kernel == stride), GELU with the tanh
// approximation; plus what they promise about parameters, dtypes and the float8 mode.

#include <cmath>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "conformance/metrics.h"
#include "model/layers.h"
#include "skyreels/error.h"
#include "test_support.h"

namespace model = skyreels::model;
using skyreels::ErrorCode;
using skyreels::conformance::relative_l2;
using skyreels::test::error_text;
using skyreels::test::kBf16VsFloat64RelL2;
using skyreels::test::kFloat32RelL2;
using skyreels::test::test_device;

namespace {

at::TensorOptions on_device(at::ScalarType dtype) { return at::TensorOptions().device(test_device()).dtype(dtype); }

at::Tensor f64(const at::Tensor& t) { return t.to(at::kCPU).to(at::kDouble); }

std::set<std::string> parameter_names(torch::nn::Module& m) {
  std::set<std::string> names;
  for (const auto& p : m.named_parameters()) names.insert(p.key());
  return names;
}

// Restores the two TF32 switches on any exit.
class Tf32Restore {
public:
  Tf32Restore() : cudnn_(at::globalContext().allowTF32CuDNN()), cublas_(at::globalContext().allowTF32CuBLAS()) {}
  ~Tf32Restore() {
    at::globalContext().setAllowTF32CuDNN(cudnn_);
    at::globalContext().setAllowTF32CuBLAS(cublas_);
  }
  Tf32Restore(const Tf32Restore&) = delete;
  Tf32Restore& operator=(const Tf32Restore&) = delete;

private:
  bool cudnn_, cublas_;
};

}  // namespace

TEST(Layers, LinearHoldsWeightAndBiasAsRequested) {
  model::Linear with_bias(6, 4, true, on_device(at::kBFloat16));
  EXPECT_EQ(parameter_names(*with_bias), (std::set<std::string>{"weight", "bias"}));
  EXPECT_EQ(with_bias->weight.sizes(), (std::vector<std::int64_t>{4, 6}));
  EXPECT_EQ(with_bias->bias.sizes(), (std::vector<std::int64_t>{4}));
  EXPECT_EQ(with_bias->weight.scalar_type(), at::kBFloat16);
  EXPECT_EQ(with_bias->weight.device(), test_device());
  EXPECT_FALSE(with_bias->weight.requires_grad());
  model::Linear without(6, 4, false, on_device(at::kFloat));
  EXPECT_EQ(parameter_names(*without), (std::set<std::string>{"weight"}));
  EXPECT_FALSE(without->bias.defined());
}

TEST(Layers, LinearIsXTimesWeightTransposedPlusBias) {
  torch::NoGradGuard no_grad;
  at::manual_seed(1);
  model::Linear linear(6, 4, true, on_device(at::kFloat));
  linear->weight.normal_();
  linear->bias.normal_();
  const auto x = at::randn({2, 3, 6}).to(test_device());
  const auto expected = at::matmul(f64(x), f64(linear->weight).t()) + f64(linear->bias);
  const auto y = linear->forward(x);
  EXPECT_EQ(y.sizes(), (std::vector<std::int64_t>{2, 3, 4}));
  EXPECT_LT(relative_l2(y, expected), kFloat32RelL2);

  // bf16 input, float32 weights: computed (and returned) in the input's dtype.
  const auto xb = x.to(at::kBFloat16);
  const auto yb = linear->forward(xb);
  EXPECT_EQ(yb.scalar_type(), at::kBFloat16);
  EXPECT_LT(relative_l2(yb, at::matmul(f64(xb), f64(linear->weight).t()) + f64(linear->bias)), kBf16VsFloat64RelL2);

  // No bias: x W^T alone.
  model::Linear bare(6, 4, false, on_device(at::kFloat));
  bare->weight.copy_(linear->weight);
  EXPECT_LT(relative_l2(bare->forward(x), at::matmul(f64(x), f64(linear->weight).t())), kFloat32RelL2);
}

TEST(Layers, LinearFloat8IsCloseOrSaysWhyNot) {
  torch::NoGradGuard no_grad;
  at::manual_seed(2);
  model::Linear linear(64, 32, true, on_device(at::kBFloat16));
  linear->weight.normal_();
  linear->bias.normal_();
  const auto x = at::randn({16, 64}).to(on_device(at::kBFloat16));
  const auto expected = at::matmul(f64(x), f64(linear->weight).t()) + f64(linear->bias);
  const auto why = model::fp8_unsupported_reason(test_device());
  if (!test_device().is_cuda()) {
    EXPECT_FALSE(why.empty());
  }
  if (!why.empty()) {
    ErrorCode code{};
    EXPECT_NE(error_text([&] { linear->quantize_fp8(); }, &code), "");
    EXPECT_EQ(code, ErrorCode::Unsupported);
    EXPECT_FALSE(linear->fp8());
    // Still the bf16 layer.
    EXPECT_LT(relative_l2(linear->forward(x), expected), kBf16VsFloat64RelL2);
    return;
  }
  linear->quantize_fp8();
  EXPECT_TRUE(linear->fp8());
  const auto y = linear->forward(x);
  EXPECT_EQ(y.scalar_type(), at::kBFloat16);
  // e4m3 keeps 3 mantissa bits (up to 6 % per element, ~2-3 % rms), on both operands.
  EXPECT_LT(relative_l2(y, expected), 0.1);
}

TEST(Layers, LayerNormNormalisesInFloat32WithWeightBiasAndEps) {
  torch::NoGradGuard no_grad;
  at::manual_seed(3);
  // A large eps, so leaving it out (or putting it elsewhere) shows.
  const double eps = 0.5;
  model::LayerNorm norm(16, eps, on_device(at::kBFloat16));
  EXPECT_EQ(parameter_names(*norm), (std::set<std::string>{"weight", "bias"}));
  norm->weight.normal_();
  norm->bias.normal_();
  const auto x = (at::randn({3, 5, 16}) * 0.7 + 0.3).to(on_device(at::kBFloat16));
  const auto y = norm->forward(x);
  EXPECT_EQ(y.scalar_type(), at::kFloat);  // float32 out, as under the reference's autocast
  const auto x64 = f64(x);
  const auto mean = x64.mean(-1, true);
  const auto var = (x64 - mean).pow(2).mean(-1, true);  // biased variance, as nn.LayerNorm
  const auto expected = (x64 - mean) / at::sqrt(var + eps) * f64(norm->weight) + f64(norm->bias);
  EXPECT_LT(relative_l2(y, expected), kFloat32RelL2);
}

TEST(Layers, RmsNormIsXOverRootMeanSquareTimesWeightInFloat32) {
  torch::NoGradGuard no_grad;
  at::manual_seed(4);
  const double eps = 0.25;
  model::RMSNorm norm(24, eps, on_device(at::kBFloat16));
  EXPECT_EQ(parameter_names(*norm), (std::set<std::string>{"weight"}));
  norm->weight.normal_();
  const auto x = (at::randn({2, 7, 24}) * 0.5 + 0.2).to(on_device(at::kBFloat16));
  const auto y = norm->forward(x);
  EXPECT_EQ(y.scalar_type(), at::kFloat);
  EXPECT_EQ(y.device(), test_device());
  const auto x64 = f64(x);
  // Over the last dim only, no mean subtraction.
  const auto expected = x64 / at::sqrt(x64.pow(2).mean(-1, true) + eps) * f64(norm->weight);
  EXPECT_LT(relative_l2(y, expected), kFloat32RelL2);
}

TEST(Layers, ParameterIsOneWeightOfTheGivenShape) {
  model::Parameter table(std::vector<std::int64_t>{2, 3, 5}, on_device(at::kFloat));
  EXPECT_EQ(parameter_names(*table), (std::set<std::string>{"weight"}));
  EXPECT_EQ(table->weight.sizes(), (std::vector<std::int64_t>{2, 3, 5}));
  EXPECT_EQ(table->weight.device(), test_device());
}

TEST(Layers, PatchEmbedEqualsAConv3dWithKernelEqualToStride) {
  torch::NoGradGuard no_grad;
  at::manual_seed(5);
  // Unequal patch sides, so a transposed axis shows.
  const std::int64_t c = 3, out = 5, pt = 2, ph = 3, pw = 2;
  model::PatchEmbed embed(c, out, pt, ph, pw, on_device(at::kFloat));
  EXPECT_EQ(parameter_names(*embed), (std::set<std::string>{"weight", "bias"}));
  EXPECT_EQ(embed->weight.sizes(), (std::vector<std::int64_t>{out, c, pt, ph, pw}));  // as nn.Conv3d
  embed->weight.normal_();
  embed->bias.normal_();
  const auto x = at::randn({2, c, 4, 6, 4}).to(test_device());
  const auto y = embed->forward(x);
  // nn.Conv3d(c, out, kernel=stride=(pt, ph, pw)) in float64: [B, out, F', H', W'] -> [B, F', H'*W', out].
  const auto conv = at::conv3d(f64(x), f64(embed->weight), f64(embed->bias), {pt, ph, pw});
  const auto expected = conv.permute({0, 2, 3, 4, 1}).reshape({2, 2, 2 * 2, out});
  ASSERT_EQ(y.sizes(), expected.sizes());
  EXPECT_LT(relative_l2(y, expected), kFloat32RelL2);
  // The input's dtype sets the compute dtype.
  EXPECT_EQ(embed->forward(x.to(at::kBFloat16)).scalar_type(), at::kBFloat16);
}

TEST(Layers, GeluTanhIsTheTanhApproximation) {
  const auto x = at::linspace(-6.0, 6.0, 97, at::kFloat).to(test_device());
  const auto x64 = f64(x);
  const double k = std::sqrt(2.0 / std::acos(-1.0));
  const auto expected = 0.5 * x64 * (1.0 + at::tanh(k * (x64 + 0.044715 * x64.pow(3))));
  const auto y = model::gelu_tanh(x);
  EXPECT_LT(relative_l2(y, expected), kFloat32RelL2);
  // And not the erf GELU, which differs by up to ~1e-3 around |x| = 2.
  const auto erf_gelu = 0.5 * x64 * (1.0 + at::erf(x64 / std::sqrt(2.0)));
  EXPECT_GT((f64(y) - erf_gelu).abs().max().item<double>(), 1e-4);
}

TEST(Layers, FullFloat32GuardTurnsTf32OffAndRestoresIt) {
  const Tf32Restore restore;
  for (const bool before : {true, false}) {
    at::globalContext().setAllowTF32CuDNN(before);
    at::globalContext().setAllowTF32CuBLAS(before);
    {
      const model::FullFloat32Guard guard;
      EXPECT_FALSE(at::globalContext().allowTF32CuDNN());
      EXPECT_FALSE(at::globalContext().allowTF32CuBLAS());
    }
    EXPECT_EQ(at::globalContext().allowTF32CuDNN(), before);
    EXPECT_EQ(at::globalContext().allowTF32CuBLAS(), before);
  }
}
