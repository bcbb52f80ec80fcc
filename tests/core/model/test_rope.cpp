// Rope3d's tables against the formula of the reference spec (skyreels-df-reference.md, 2.2 RoPE),
// evaluated here in float64 one token and one channel at a time:
//   rope_params(N, D)[p, j] = exp(i * p * 10000^(-2j/D)), j < D/2,
// stacked as rope_params(., D - 4*(D/6)) for the frame index, then rope_params(., 2*(D/6)) twice for the
// row and the column (D = 128: 44, 42, 42 reals, i.e. 22, 21, 21 complex channels). Tokens are
// frame-major; positions restart at 0 in every call.

#include <cmath>
#include <cstdint>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "model/rope.h"
#include "skyreels/error.h"
#include "test_support.h"

namespace model = skyreels::model;
using skyreels::ErrorCode;
using skyreels::test::error_text;
using skyreels::test::test_device;

namespace {

// The angle of complex channel `c` of token (f, h, w), straight from the formula.
double reference_angle(std::int64_t head_dim, std::int64_t f, std::int64_t h, std::int64_t w, std::int64_t c) {
  const std::int64_t complex = head_dim / 2;
  const std::int64_t spatial = complex / 3;
  const std::int64_t frame = complex - 2 * spatial;
  auto angle = [](std::int64_t position, std::int64_t j, std::int64_t table_dim) {
    return static_cast<double>(position) * std::pow(10000.0, -2.0 * static_cast<double>(j) / static_cast<double>(table_dim));
  };
  if (c < frame) return angle(f, c, 2 * frame);
  if (c < frame + spatial) return angle(h, c - frame, 2 * spatial);
  return angle(w, c - frame - spatial, 2 * spatial);
}

// [F*H*W, D/2] float64 angles for a grid, token index (f*H + h)*W + w.
at::Tensor reference_angles(std::int64_t head_dim, std::int64_t frames, std::int64_t height, std::int64_t width,
                            std::int64_t first_frame) {
  const std::int64_t complex = head_dim / 2;
  std::vector<double> values;
  values.reserve(static_cast<std::size_t>(frames * height * width * complex));
  for (std::int64_t f = 0; f < frames; ++f)
    for (std::int64_t h = 0; h < height; ++h)
      for (std::int64_t w = 0; w < width; ++w)
        for (std::int64_t c = 0; c < complex; ++c) values.push_back(reference_angle(head_dim, first_frame + f, h, w, c));
  return at::tensor(values, at::kDouble).view({frames * height * width, complex});
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kCPU).to(at::kDouble) - b.to(at::kCPU).to(at::kDouble)).abs().max().item<double>();
}

}  // namespace

TEST(Rope3d, ChannelSplitFollowsTheReferenceTables) {
  // rope_params(1024, 44) and rope_params(1024, 42) twice for head_dim 128.
  const model::Rope3d d128(128);
  EXPECT_EQ(d128.frame_channels(), 22);
  EXPECT_EQ(d128.spatial_channels(), 21);
  const model::Rope3d d16(16);  // 8 complex: 8 - 2*2 = 4 frame, 2 + 2 spatial
  EXPECT_EQ(d16.frame_channels(), 4);
  EXPECT_EQ(d16.spatial_channels(), 2);
  const model::Rope3d d6(6);  // the smallest head: one channel each
  EXPECT_EQ(d6.frame_channels(), 1);
  EXPECT_EQ(d6.spatial_channels(), 1);
}

TEST(Rope3d, TableEqualsTheFormulaInFloat64) {
  const std::int64_t head_dim = 16, frames = 3, height = 2, width = 5;
  const model::Rope3d rope(head_dim);
  const auto table = rope.table(frames, height, width, test_device());
  ASSERT_EQ(table.cos.sizes(), (std::vector<std::int64_t>{frames * height * width, head_dim / 2}));
  EXPECT_EQ(table.cos.scalar_type(), at::kFloat);  // SkyReels builds and rotates in float32
  EXPECT_EQ(table.sin.scalar_type(), at::kFloat);
  EXPECT_EQ(table.cos.device(), test_device());
  const auto angles = reference_angles(head_dim, frames, height, width, 0);
  // Small positions: the float32 angle is within a few ulps, so cos/sin within ~1e-6.
  EXPECT_LT(max_abs_diff(table.cos, at::cos(angles)), 2e-6);
  EXPECT_LT(max_abs_diff(table.sin, at::sin(angles)), 2e-6);
}

TEST(Rope3d, FullHeadAtLargePositionsEqualsTheFormula) {
  // head_dim 128 as in both models; frame positions near the end of the 1024-entry table. The reference
  // builds the angles in float32 (10000^x with x rounded, then times p), so an angle near 1000 rad is off
  // by ~1e-5 (3e-5 in cos/sin measured on the CPU); 5e-4 leaves room for the device's cos and sin. A
  // wrong frequency or position is off by O(1).
  const std::int64_t head_dim = 128, frames = 2, height = 3, width = 2, first = 1020;
  const model::Rope3d rope(head_dim);
  const auto table = rope.table(frames, height, width, test_device(), first);
  const auto angles = reference_angles(head_dim, frames, height, width, first);
  EXPECT_LT(max_abs_diff(table.cos, at::cos(angles)), 5e-4);
  EXPECT_LT(max_abs_diff(table.sin, at::sin(angles)), 5e-4);
  // Channel 0 of every axis has frequency 1: its angle is the position itself, exactly.
  const auto token = (1 * height + 2) * width + 1;  // f = first + 1, h = 2, w = 1
  EXPECT_NEAR(table.cos[token][0].item<double>(), std::cos(1021.0), 5e-4);
  EXPECT_NEAR(table.cos[token][22].item<double>(), std::cos(2.0), 1e-6);
  EXPECT_NEAR(table.cos[token][43].item<double>(), std::cos(1.0), 1e-6);
}

TEST(Rope3d, RowsSelectTokensOfTheTable) {
  const model::Rope3d rope(16);
  const auto table = rope.table(2, 2, 3, at::kCPU);
  const auto rows = table.rows(4, 5);
  EXPECT_TRUE(at::equal(rows.cos, table.cos.narrow(0, 4, 5)));
  EXPECT_TRUE(at::equal(rows.sin, table.sin.narrow(0, 4, 5)));
}

TEST(Rope3d, RotationDependsOnlyOnRelativePosition) {
  // What RoPE is for: <R(p) q, R(p') k> depends on p - p' only. Rotate q and k (adjacent pairs as
  // complex numbers) with the table in float64 and compare shifted pairs of tokens.
  const std::int64_t head_dim = 16, frames = 4, height = 3, width = 3;
  const model::Rope3d rope(head_dim);
  const auto table = rope.table(frames, height, width, at::kCPU);
  at::manual_seed(5);
  const auto q = at::randn({head_dim}, at::kDouble), k = at::randn({head_dim}, at::kDouble);
  auto rotated = [&](const at::Tensor& x, std::int64_t token) {
    const auto pairs = x.view({head_dim / 2, 2});
    const auto re = pairs.select(1, 0), im = pairs.select(1, 1);
    const auto c = table.cos[token].to(at::kDouble), s = table.sin[token].to(at::kDouble);
    return at::stack({re * c - im * s, re * s + im * c}, 1).flatten();
  };
  auto index = [&](std::int64_t f, std::int64_t h, std::int64_t w) { return (f * height + h) * width + w; };
  auto score = [&](std::int64_t tq, std::int64_t tk) { return (rotated(q, tq) * rotated(k, tk)).sum().item<double>(); };
  // (f, h, w) = (2, 1, 0) vs (1, 0, 2), both shifted by (+1, +1, 0), then by (-1, +1, 0).
  const double base = score(index(2, 1, 0), index(1, 0, 2));
  EXPECT_NEAR(score(index(3, 2, 0), index(2, 1, 2)), base, 1e-5);
  EXPECT_NEAR(score(index(1, 2, 0), index(0, 1, 2)), base, 1e-5);
  // A different offset gives a different score (else the test above would be vacuous).
  EXPECT_GT(std::abs(score(index(3, 2, 0), index(1, 1, 2)) - base), 1e-3);
  // Rotation keeps the norm.
  EXPECT_NEAR(rotated(q, index(3, 2, 2)).norm().item<double>(), q.norm().item<double>(), 1e-5);
}

TEST(Rope3d, PositionsRestartInEveryCallAndFirstFrameOffsetsFrames) {
  const model::Rope3d rope(16);
  const auto whole = rope.table(5, 2, 2, at::kCPU);
  const auto tail = rope.table(2, 2, 2, at::kCPU, 3);
  EXPECT_TRUE(at::allclose(tail.cos, whole.cos.narrow(0, 3 * 4, 2 * 4)));
  EXPECT_TRUE(at::allclose(tail.sin, whole.sin.narrow(0, 3 * 4, 2 * 4)));
  // Without the offset, the first token is position (0, 0, 0): no rotation at all.
  const auto head = rope.table(2, 2, 2, at::kCPU);
  EXPECT_TRUE(at::equal(head.cos[0], at::ones({8})));
  EXPECT_TRUE(at::equal(head.sin[0], at::zeros({8})));
}

TEST(Rope3d, RejectsBadHeadsAndPositionsPastTheTable) {
  ErrorCode code{};
  EXPECT_NE(error_text([] { model::Rope3d odd(15); }, &code), "");
  EXPECT_EQ(code, ErrorCode::BadArgument);
  EXPECT_NE(error_text([] { model::Rope3d tiny(4); }), "");
  const model::Rope3d rope(16, 8);
  EXPECT_NE(error_text([&] { rope.table(9, 1, 1, at::kCPU); }, &code), "");
  EXPECT_EQ(code, ErrorCode::BadArgument);
  EXPECT_NE(error_text([&] { rope.table(2, 1, 1, at::kCPU, 7); }), "");
  EXPECT_NE(error_text([&] { rope.table(1, 9, 1, at::kCPU); }), "");
  EXPECT_NE(error_text([&] { rope.table(1, 1, 9, at::kCPU); }), "");
  EXPECT_EQ(error_text([&] { rope.table(8, 8, 8, at::kCPU); }), "");
}
