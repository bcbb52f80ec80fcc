// Attention against softmax(Q K^T * scale) V written out in float64 on the CPU, on the test device:
// the default backend, each backend this LibTorch has (LibTorch 2.x on CUDA: cuDNN, flash,
// memory-efficient, math), the math path, and block-causal attention against the dense mask of the
// reference spec (2.5: token i may attend j iff floor(frame(j)/cbs) <= floor(frame(i)/cbs)).

#include <algorithm>
#include <cstdint>
#include <iostream>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <gtest/gtest.h>

#include "conformance/metrics.h"
#include "model/attention.h"
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

// q [B, Lq, H, D], k and v [B, Lk, H, D] -> [B, Lq, H, D] float64 on the CPU. `allowed` [Lq, Lk]
// (bool) masks keys; undefined: no mask.
at::Tensor reference_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale,
                               const at::Tensor& allowed = {}) {
  const auto q64 = q.to(at::kCPU).to(at::kDouble), k64 = k.to(at::kCPU).to(at::kDouble);
  const auto v64 = v.to(at::kCPU).to(at::kDouble);
  auto scores = at::einsum("bqhd,bkhd->bhqk", {q64, k64}) * scale;
  if (allowed.defined()) scores = scores.masked_fill(allowed.logical_not(), -std::numeric_limits<double>::infinity());
  // Softmax written out: exp(s - max) / sum.
  const auto shifted = scores - std::get<0>(scores.max(-1, true));
  const auto weights = shifted.exp() / shifted.exp().sum(-1, true);
  return at::einsum("bhqk,bkhd->bqhd", {weights, v64});
}

// The spec's block-causal mask over `frames` frames of `tokens_per_frame` tokens, blocks of `cbs` frames.
at::Tensor block_causal_mask(std::int64_t frames, std::int64_t tokens_per_frame, std::int64_t cbs) {
  const std::int64_t tokens = frames * tokens_per_frame;
  std::vector<std::int64_t> allowed;
  for (std::int64_t i = 0; i < tokens; ++i)
    for (std::int64_t j = 0; j < tokens; ++j) allowed.push_back((j / tokens_per_frame) / cbs <= (i / tokens_per_frame) / cbs);
  return at::tensor(allowed, at::kLong).view({tokens, tokens}).to(at::kBool);
}

struct Qkv {
  at::Tensor q, k, v;
};

Qkv random_qkv(std::int64_t batch, std::int64_t lq, std::int64_t lk, std::int64_t heads, std::int64_t dim,
               at::ScalarType dtype, std::uint64_t seed) {
  at::manual_seed(seed);
  const auto o = at::TensorOptions().device(test_device()).dtype(dtype);
  return {at::randn({batch, lq, heads, dim}).to(o), at::randn({batch, lk, heads, dim}).to(o),
          at::randn({batch, lk, heads, dim}).to(o)};
}

// Restores LibTorch's own backend choice on any exit (the switches are process-wide).
class AutoBackendAfter {
public:
  AutoBackendAfter() = default;
  ~AutoBackendAfter() { model::set_attention_backend(model::AttentionBackend::Auto); }
  AutoBackendAfter(const AutoBackendAfter&) = delete;
  AutoBackendAfter& operator=(const AutoBackendAfter&) = delete;
};

}  // namespace

TEST(Attention, DefaultBackendEqualsSoftmaxAttentionInFloat64) {
  // Lq != Lk (cross-attention), several heads, a scale that is not 1/sqrt(D).
  const double scale = 0.3;
  {
    const auto in = random_qkv(2, 7, 5, 3, 8, at::kFloat, 1);
    const auto out = model::attention(in.q, in.k, in.v, scale);
    EXPECT_EQ(out.sizes(), in.q.sizes());
    EXPECT_EQ(out.scalar_type(), at::kFloat);
    EXPECT_EQ(out.device(), test_device());
    EXPECT_LT(relative_l2(out, reference_attention(in.q, in.k, in.v, scale)), kFloat32RelL2);
  }
  {
    // bf16 as in the models; D = 64 so every fused kernel takes the shape.
    const auto in = random_qkv(1, 33, 20, 2, 64, at::kBFloat16, 2);
    const auto out = model::attention(in.q, in.k, in.v, 1.0 / 8.0);
    EXPECT_EQ(out.scalar_type(), at::kBFloat16);
    EXPECT_LT(relative_l2(out, reference_attention(in.q, in.k, in.v, 1.0 / 8.0)), kBf16VsFloat64RelL2);
  }
}

TEST(Attention, MathPathEqualsSoftmaxAttentionInFloat64) {
  const auto in = random_qkv(2, 9, 6, 2, 16, at::kFloat, 3);
  const auto out = model::attention_math(in.q, in.k, in.v, 0.25);
  EXPECT_LT(relative_l2(out, reference_attention(in.q, in.k, in.v, 0.25)), kFloat32RelL2);
  const auto b = random_qkv(1, 9, 6, 2, 16, at::kBFloat16, 4);
  const auto out_bf16 = model::attention_math(b.q, b.k, b.v, 0.25);
  EXPECT_EQ(out_bf16.scalar_type(), at::kBFloat16);
  EXPECT_LT(relative_l2(out_bf16, reference_attention(b.q, b.k, b.v, 0.25)), kBf16VsFloat64RelL2);
}

TEST(Attention, ScaleIsAppliedToTheScores) {
  // Scale 0: every key weighs the same, the output is the mean of the values (a dropped or inverted
  // scale would not give that).
  const auto in = random_qkv(1, 4, 6, 2, 8, at::kFloat, 5);
  const auto out = model::attention(in.q, in.k, in.v, 0.0);
  const auto mean = in.v.to(at::kDouble).mean(1, true).expand({1, 4, 2, 8});
  EXPECT_LT(relative_l2(out, mean), kFloat32RelL2);
  // A large scale picks the best key: compare with the float64 reference at that scale, not at 1.
  const auto sharp = model::attention(in.q, in.k, in.v, 4.0);
  EXPECT_LT(relative_l2(sharp, reference_attention(in.q, in.k, in.v, 4.0)), kFloat32RelL2);
  EXPECT_GT(relative_l2(sharp, reference_attention(in.q, in.k, in.v, 1.0)), 1e-2);
}

TEST(Attention, EveryAvailableBackendEqualsSoftmaxAttentionInFloat64) {
  const AutoBackendAfter restore;
  const auto in = random_qkv(1, 40, 40, 2, 64, at::kBFloat16, 6);
  const auto expected = reference_attention(in.q, in.k, in.v, 0.125);
  const std::vector<std::string> names = {"math", "efficient", "flash", "cudnn", "auto"};
  std::vector<std::string> ran;
  for (const auto& name : names) {
    const auto backend = model::parse_attention_backend(name);
    ErrorCode code{};
    if (!error_text([&] { model::set_attention_backend(backend); }, &code).empty()) {
      EXPECT_EQ(code, ErrorCode::Unsupported) << name;  // this LibTorch lacks it
      continue;
    }
    std::optional<at::Tensor> out;
    try {
      out = model::attention(in.q, in.k, in.v, 0.125);
    } catch (const c10::Error& e) {
      // LibTorch has the switch but no kernel of that kind for this device (e.g. efficient on a CPU).
      std::cout << "[ INFO     ] backend " << name << " cannot run here: " << e.what_without_backtrace() << "\n";
      continue;
    }
    ran.push_back(name);
    EXPECT_LT(relative_l2(*out, expected), kBf16VsFloat64RelL2) << name;
  }
  // Math (or the plain path of LibTorch 1.x) and auto always run.
  EXPECT_NE(std::find(ran.begin(), ran.end(), "math"), ran.end());
  EXPECT_NE(std::find(ran.begin(), ran.end(), "auto"), ran.end());
}

TEST(Attention, BlockCausalEqualsTheReferenceMask) {
  // cbs 1, cbs 2 over 5 frames (a last, shorter block), and cbs >= frames (plain attention).
  const std::int64_t tokens_per_frame = 3, frames = 5;
  for (const std::int64_t cbs : {1, 2, 5, 7}) {
    const auto in = random_qkv(2, frames * tokens_per_frame, frames * tokens_per_frame, 2, 8, at::kFloat, 10 + cbs);
    const auto out = model::block_causal_attention(in.q, in.k, in.v, 0.35, tokens_per_frame, cbs);
    const auto expected = reference_attention(in.q, in.k, in.v, 0.35, block_causal_mask(frames, tokens_per_frame, cbs));
    EXPECT_LT(relative_l2(out, expected), kFloat32RelL2) << "cbs " << cbs;
    if (cbs < frames) {  // the mask matters: plain attention is something else
      EXPECT_GT(relative_l2(out, reference_attention(in.q, in.k, in.v, 0.35)), 1e-2) << "cbs " << cbs;
    }
  }
  // bf16, as the DiT calls it.
  const auto in = random_qkv(1, 4 * 6, 4 * 6, 2, 64, at::kBFloat16, 20);
  const auto out = model::block_causal_attention(in.q, in.k, in.v, 0.125, 4, 2);
  EXPECT_EQ(out.scalar_type(), at::kBFloat16);
  EXPECT_LT(relative_l2(out, reference_attention(in.q, in.k, in.v, 0.125, block_causal_mask(6, 4, 2))),
            kBf16VsFloat64RelL2);
}

TEST(Attention, RejectsMismatchedShapes) {
  const auto in = random_qkv(1, 6, 6, 2, 8, at::kFloat, 30);
  ErrorCode code{};
  EXPECT_NE(error_text([&] { model::attention(in.q, in.k.narrow(3, 0, 4), in.v, 1.0); }, &code), "");
  EXPECT_EQ(code, ErrorCode::ShapeMismatch);
  EXPECT_NE(error_text([&] { model::attention_math(in.q, in.k, in.v.narrow(1, 0, 5), 1.0); }), "");
  EXPECT_NE(error_text([&] { model::attention(in.q.flatten(2), in.k, in.v, 1.0); }), "");
  // Block-causal: self-attention over whole frames only.
  EXPECT_NE(error_text([&] { model::block_causal_attention(in.q, in.k, in.v, 1.0, 4, 1); }, &code), "");
  EXPECT_EQ(code, ErrorCode::ShapeMismatch);
  const auto cross = random_qkv(1, 6, 9, 2, 8, at::kFloat, 31);
  EXPECT_NE(error_text([&] { model::block_causal_attention(cross.q, cross.k, cross.v, 1.0, 3, 1); }), "");
  EXPECT_NE(error_text([&] { model::block_causal_attention(in.q, in.k, in.v, 1.0, 3, 0); }), "");
}

TEST(Attention, BackendNamesMapToTheirBackends) {
  EXPECT_EQ(model::parse_attention_backend("auto"), model::AttentionBackend::Auto);
  EXPECT_EQ(model::parse_attention_backend("cudnn"), model::AttentionBackend::CuDNN);
  EXPECT_EQ(model::parse_attention_backend("flash"), model::AttentionBackend::Flash);
  EXPECT_EQ(model::parse_attention_backend("efficient"), model::AttentionBackend::Efficient);
  EXPECT_EQ(model::parse_attention_backend("math"), model::AttentionBackend::Math);
  ErrorCode code{};
  EXPECT_NE(error_text([] { model::parse_attention_backend("Flash"); }, &code), "");
  EXPECT_EQ(code, ErrorCode::BadArgument);
}
