// The flow-matching Euler solver and explicit timestep lists, against float64 math written here.

#include <cmath>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "sched/flow_euler.h"
#include "sched/flow_timesteps.h"
#include "skyreels/error.h"
#include "test_support.h"

using skyreels::Error;
using skyreels::sched::FlowEuler;
using skyreels::sched::FlowTimesteps;

namespace {

// sigma(t) = shift*s / (1 + (shift-1)*s) with s = t / 1000, in float64.
double shifted_level(int t, double shift) {
  const double s = t / 1000.0;
  return shift * s / (1.0 + (shift - 1.0) * s);
}

double rel_l2(const at::Tensor& a, const at::Tensor& b) {
  const auto d = a.to(at::kDouble) - b.to(at::kDouble);
  return (d.norm() / b.to(at::kDouble).norm()).item<double>();
}

}  // namespace

TEST(FlowTimestepList, LevelsAreTheShiftedListAndTheModelGetsTruncatedTimesteps) {
  const auto levels = skyreels::sched::flow_timesteps_from_list({1000, 750, 500, 250}, 5.0);
  // shift 5: 1, 0.9375, 0.8333..., 0.625, then 0.
  EXPECT_EQ(levels.timesteps, (std::vector<std::int64_t>{1000, 937, 833, 625}));
  ASSERT_EQ(levels.sigmas.size(), 5u);
  const int list[] = {1000, 750, 500, 250};
  for (int i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(levels.sigmas[i], static_cast<float>(shifted_level(list[i], 5.0)));
  EXPECT_EQ(levels.sigmas[4], 0.0f);
  // shift 1 keeps the list.
  EXPECT_EQ(skyreels::sched::flow_timesteps_from_list({999, 500, 1}, 1.0).timesteps,
            (std::vector<std::int64_t>{999, 500, 1}));

  EXPECT_THROW(skyreels::sched::flow_timesteps_from_list({}, 5.0), Error);
  EXPECT_THROW(skyreels::sched::flow_timesteps_from_list({750, 1000}, 5.0), Error);
  EXPECT_THROW(skyreels::sched::flow_timesteps_from_list({1000, 0}, 5.0), Error);
  EXPECT_THROW(skyreels::sched::flow_timesteps_from_list({1000, 500}, 0.0), Error);
}

TEST(FlowEuler, StepsMatchFloat64MathWithFramesAtTheirOwnCounters) {
  const auto device = skyreels::test::test_device();
  const std::vector<int> list = {1000, 750, 500, 250};
  const double shift = 5.0;
  const auto levels = skyreels::sched::flow_timesteps_from_list(list, shift);
  std::vector<double> sigma;
  for (int t : list) sigma.push_back(shifted_level(t, shift));
  sigma.push_back(0.0);

  for (const auto dtype : {at::kFloat, at::kBFloat16}) {
    at::manual_seed(3);
    auto x = at::randn({4, 3, 5, 6}).to(device, dtype);
    auto expected = x.to(at::kDouble).cpu();
    FlowEuler solver(levels, x);
    std::vector<int> counter(3, 0);
    // Frame 0 starts first, frame 2 last, as in an asynchronous window; the step also rounds to dtype,
    // so the float64 reference takes the same rounded input each time.
    const std::vector<std::pair<int, int>> rows = {{0, 1}, {0, 2}, {0, 3}, {0, 3}, {1, 3}, {2, 3}};
    for (const auto& [first, last] : rows) {
      const auto v = at::randn({4, last - first, 5, 6}).to(device);
      for (int f = first; f < last; ++f) {
        const auto k = static_cast<std::size_t>(counter[f]++);
        auto frame = expected.narrow(1, f, 1);
        const auto x_in = x.narrow(1, f, 1).to(at::kDouble).cpu();
        frame.copy_(x_in + (sigma[k + 1] - sigma[k]) * v.narrow(1, f - first, 1).to(at::kDouble).cpu());
      }
      solver.step(v, x, first, last);
      const double tolerance = dtype == at::kFloat ? skyreels::test::kFloat32RelL2 : 4e-3;  // bf16: 2^-8
      EXPECT_LT(rel_l2(x.cpu(), expected), tolerance) << "rows up to [" << first << ", " << last << ")";
      expected = x.to(at::kDouble).cpu();  // the next step starts from the rounded sample, as the solver does
    }
    for (int f = 0; f < 3; ++f) EXPECT_EQ(solver.counter(f), 4);
    EXPECT_EQ(x.scalar_type(), dtype);
    // Every frame has taken its 4 steps.
    EXPECT_THROW(solver.step(at::zeros({4, 1, 5, 6}, device), x, 0, 1), Error);
  }
}

TEST(FlowEuler, OneStepFromPureNoiseLandsOnTheCleanSampleForAnExactVelocity) {
  // x_t = (1 - sigma) x0 + sigma * noise and v = noise - x0: Euler is exact on straight paths.
  at::manual_seed(5);
  const auto x0 = at::randn({2, 2, 3, 3}, at::kDouble);
  const auto noise = at::randn({2, 2, 3, 3}, at::kDouble);
  const auto levels = skyreels::sched::flow_timesteps_from_list({1000, 750, 500, 250}, 5.0);
  auto x = noise.to(at::kFloat);  // sigma_0 = 1
  FlowEuler solver(levels, x);
  for (int k = 0; k < 4; ++k) solver.step((noise - x0).to(at::kFloat), x, 0, 2);
  EXPECT_LT(rel_l2(x, x0), skyreels::test::kFloat32RelL2);
}

TEST(FlowEuler, BadShapesAndRangesAreErrors) {
  const auto levels = skyreels::sched::make_flow_timesteps(4, 8.0);
  EXPECT_THROW(FlowEuler(levels, at::zeros({3, 4})), Error);
  FlowEuler solver(levels, at::zeros({2, 3, 4, 4}));
  auto x = at::zeros({2, 3, 4, 4});
  EXPECT_THROW(solver.step(at::zeros({2, 2, 4, 4}), x, 0, 1), Error);  // output for 2 frames, range of 1
  EXPECT_THROW(solver.step(at::zeros({2, 1, 4, 4}), x, 2, 4), Error);  // outside the window
  auto wrong = at::zeros({2, 2, 4, 4});
  EXPECT_THROW(solver.step(at::zeros({2, 1, 4, 4}), wrong, 0, 1), Error);
}
