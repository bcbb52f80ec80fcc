// The VAE's reconstruction loss (train/vae_trainer.h): L1 + MSE, plus an edge term that sees what a
// blur takes from an edge and nothing of a uniform shift.

#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "train/vae_trainer.h"

namespace {

using skyreels::train::reconstruction_loss;

// [1, 1, 1, 8, 8]: a bright square on a dark background, with a hard edge.
at::Tensor square() {
  auto x = at::full({1, 1, 1, 8, 8}, -1.0, at::kDouble);
  x.narrow(3, 2, 4).narrow(4, 2, 4).fill_(1.0);
  return x;
}

// The same, blurred by averaging each pixel with its four neighbours (edges replicated).
at::Tensor blurred(const at::Tensor& x) {
  const auto p = at::replication_pad2d(x.squeeze(2), {1, 1, 1, 1});
  const auto centre = p.narrow(2, 1, 8).narrow(3, 1, 8);
  const auto sum = centre + p.narrow(2, 0, 8).narrow(3, 1, 8) + p.narrow(2, 2, 8).narrow(3, 1, 8) +
                   p.narrow(2, 1, 8).narrow(3, 0, 8) + p.narrow(2, 1, 8).narrow(3, 2, 8);
  return (sum / 5).unsqueeze(2);
}

double loss(const at::Tensor& a, const at::Tensor& b, double edge_weight) {
  return reconstruction_loss(a, b, edge_weight).item<double>();
}

TEST(VaeReconstructionLoss, IsL1PlusMseWithoutTheEdgeTerm) {
  const auto x = square(), y = blurred(x);
  const auto e = y - x;
  EXPECT_NEAR(loss(y, x, 0.0), e.abs().mean().item<double>() + e.pow(2).mean().item<double>(), 1e-12);
  EXPECT_EQ(loss(x, x, 1.0), 0.0);
}

TEST(VaeReconstructionLoss, TheEdgeTermChargesABlurAndNotAUniformShift) {
  const auto x = square();
  // A uniform shift keeps every edge: the edge term adds nothing.
  EXPECT_NEAR(loss(x + 0.1, x, 1.0), loss(x + 0.1, x, 0.0), 1e-12);
  // A blur softens the edges: the term adds to the loss in proportion to its weight.
  const auto y = blurred(x);
  const double plain = loss(y, x, 0.0), one = loss(y, x, 1.0), two = loss(y, x, 2.0);
  EXPECT_GT(one, plain);
  EXPECT_NEAR(two - plain, 2 * (one - plain), 1e-9);
}

TEST(VaeReconstructionLoss, GradientsReachTheDecodedFrames) {
  auto y = blurred(square()).requires_grad_(true);
  reconstruction_loss(y, square(), 1.0).backward();
  ASSERT_TRUE(y.grad().defined());
  EXPECT_GT(y.grad().abs().sum().item<double>(), 0.0);
}

}  // namespace
