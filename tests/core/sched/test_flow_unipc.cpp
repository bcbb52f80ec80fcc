#include <random>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "sched/flow_unipc.h"
#include "skyreels/error.h"
#include "test_support.h"

using skyreels::Error;
using skyreels::sched::FlowUniPC;

namespace {

at::Tensor random_latents(int frames, at::ScalarType dtype, int seed) {
  at::manual_seed(seed);
  return at::randn({4, frames, 3, 5}).to(skyreels::test::test_device(), dtype);
}

at::Tensor random_outputs(int steps, int frames, int seed) {
  at::manual_seed(seed);
  return at::randn({steps, 4, frames, 3, 5}).to(skyreels::test::test_device());
}

}  // namespace

TEST(FlowUniPC, CoefficientsMatchTheSpecCheckValues) {
  FlowUniPC solver(30, 8.0, at::zeros({1, 1, 1, 1}));
  const auto k0 = solver.coefficients(0, false);
  EXPECT_EQ(k0.corr_order, 0);
  EXPECT_EQ(k0.keep, 1.0f);
  EXPECT_NEAR(k0.pred_ratio, 0.995704, 2e-6);
  EXPECT_NEAR(k0.pred_m0, 0.004296, 2e-6);
  const auto k2 = solver.coefficients(2, false);
  EXPECT_EQ(k2.corr_order, 2);
  EXPECT_NEAR(k2.corr_r, -5.00179, 1e-4);
  EXPECT_NEAR(k2.corr_rho0, 0.027537, 2e-5);
  EXPECT_NEAR(k2.corr_rho1, 0.531427, 2e-5);
  const auto k14 = solver.coefficients(14, false);
  EXPECT_NEAR(k14.corr_rho0, 0.082559, 2e-5);
  EXPECT_NEAR(k14.corr_rho1, 0.428651, 2e-5);
  const auto k29 = solver.coefficients(29, false);
  EXPECT_NEAR(k29.corr_rho0, 0.102828, 2e-5);
  EXPECT_NEAR(k29.corr_rho1, 0.457326, 2e-5);
  EXPECT_EQ(k29.pred_order, 1);
  EXPECT_EQ(k29.pred_m0, 1.0f);  // the last step lands on the x0 prediction
  EXPECT_EQ(k29.pred_ratio, 0.0f);
  // bf16 samples round rho as the reference does: 0.531427 -> 0.53125.
  EXPECT_EQ(solver.coefficients(2, true).corr_rho1, 0.53125f);
}

TEST(FlowUniPC, PredictorWeightsSumToOne) {
  FlowUniPC solver(30, 8.0, at::zeros({1, 1, 1, 1}));
  for (int k = 0; k < 30; ++k) {
    const auto c = solver.coefficients(k, false);
    EXPECT_NEAR(c.pred_ratio + c.pred_m0, 1.0, 1e-5) << "step " << k;
  }
}

TEST(FlowUniPC, OrdersFollowTheReference) {
  FlowUniPC solver(30, 8.0, at::zeros({1, 1, 1, 1}));
  for (int k = 0; k < 30; ++k) {
    const auto c = solver.coefficients(k, false);
    EXPECT_EQ(c.pred_order, (k == 0 || k == 29) ? 1 : 2) << k;
    EXPECT_EQ(c.corr_order, k == 0 ? 0 : (k == 1 ? 1 : 2)) << k;
  }
}

// Frames must not influence each other: stepping them together, one by one, or at different
// counters in the same call gives bitwise the same result.
TEST(FlowUniPC, FramesAtDifferentCountersStepTogetherExactly) {
  for (auto dtype : {at::kFloat, at::kBFloat16}) {
    const int steps = 7, frames = 5;
    const auto x0 = random_latents(frames, dtype, 1);
    const auto outputs = random_outputs(steps, frames, 2);

    // Reference: every frame alone.
    auto alone = x0.clone();
    for (int f = 0; f < frames; ++f) {
      FlowUniPC solver(steps, 5.0, alone);
      for (int k = 0; k < steps; ++k) solver.step(outputs[k].narrow(1, f, 1), alone, f, f + 1);
    }
    // All together.
    auto together = x0.clone();
    FlowUniPC joint(steps, 5.0, together);
    for (int k = 0; k < steps; ++k) joint.step(outputs[k], together, 0, frames);
    EXPECT_TRUE(at::equal(alone, together)) << dtype;

    // Staggered: frame f starts f ticks late; each tick steps every active frame at its own counter,
    // given in a scrambled order.
    auto staggered = x0.clone();
    FlowUniPC mixed(steps, 5.0, staggered);
    for (int tick = 0; tick < steps + frames; ++tick) {
      std::vector<int> selected;
      for (int f = frames - 1; f >= 0; --f)
        if (tick - f >= 0 && tick - f < steps) selected.push_back(f);
      if (selected.empty()) continue;
      std::vector<at::Tensor> v;
      for (int f : selected) v.push_back(outputs[tick - f].select(1, f));
      mixed.step(at::stack(v, 1), staggered, selected);
    }
    for (int f = 0; f < frames; ++f) EXPECT_EQ(mixed.counter(f), steps);
    EXPECT_TRUE(at::equal(alone, staggered)) << dtype;
  }
}

TEST(FlowUniPC, OnlySelectedFramesChange) {
  auto x = random_latents(4, at::kFloat, 3);
  const auto before = x.clone();
  FlowUniPC solver(10, 8.0, x);
  solver.step(random_outputs(1, 2, 4)[0], x, 1, 3);
  EXPECT_TRUE(at::equal(x.select(1, 0), before.select(1, 0)));
  EXPECT_TRUE(at::equal(x.select(1, 3), before.select(1, 3)));
  EXPECT_FALSE(at::equal(x.select(1, 1), before.select(1, 1)));
  EXPECT_EQ(solver.counter(0), 0);
  EXPECT_EQ(solver.counter(1), 1);
}

TEST(FlowUniPC, RejectsBadCalls) {
  auto x = random_latents(3, at::kFloat, 5);
  FlowUniPC solver(2, 8.0, x);
  const auto v = random_outputs(1, 3, 6)[0];
  EXPECT_THROW(solver.step(v, x, 0, 4), Error);                      // outside the window
  EXPECT_THROW(solver.step(v.narrow(1, 0, 2), x, 0, 3), Error);      // output for the wrong frames
  EXPECT_THROW(solver.step(v.narrow(1, 0, 2), x, {1, 1}), Error);    // a frame twice
  solver.step(v, x, 0, 3);
  solver.step(v, x, 0, 3);
  EXPECT_THROW(solver.step(v, x, 0, 3), Error);                      // every step taken
  EXPECT_THROW(FlowUniPC(10, 8.0, at::zeros({3, 4})), Error);        // not [C, F, H, W]
}
