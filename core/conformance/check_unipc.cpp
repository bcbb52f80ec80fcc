#include <algorithm>
#include <string>

#include <ATen/ATen.h>

#include "conformance/checks.h"
#include "conformance/metrics.h"
#include "sched/flow_timesteps.h"
#include "sched/flow_unipc.h"
#include "skyreels/error.h"

namespace skyreels::conformance {
namespace {

// Drives the batched solver through every step. `staggered` advances the frames one at a time and
// out of order (last frame first), so frames at different counters share the solver; otherwise all
// frames step together. Returns the sample after each step, [steps, C, F, H, W].
at::Tensor run_solver(const at::Tensor& sample0, const at::Tensor& model_outputs, int steps, double shift,
                      bool staggered) {
  auto sample = sample0.clone();
  sched::FlowUniPC solver(steps, shift, sample);
  const int frames = static_cast<int>(sample.size(1));
  std::vector<at::Tensor> after;
  if (!staggered) {
    for (int i = 0; i < steps; ++i) {
      solver.step(model_outputs[i], sample, 0, frames);
      after.push_back(sample.clone());
    }
    return at::stack(after);
  }
  // Frame f runs f steps behind frame f+1; record each frame's sample after each of its steps.
  auto record = at::empty({steps, sample.size(0), frames, sample.size(2), sample.size(3)}, sample.options());
  for (int tick = 0; tick < steps + frames - 1; ++tick) {
    std::vector<int> selected;
    for (int f = frames - 1; f >= 0; --f) {
      const int k = tick - (frames - 1 - f);
      if (k >= 0 && k < steps) selected.push_back(f);
    }
    std::vector<at::Tensor> outputs;
    for (int f : selected) outputs.push_back(model_outputs[tick - (frames - 1 - f)].select(1, f));
    solver.step(at::stack(outputs, 1), sample, selected);
    for (int f : selected) record[tick - (frames - 1 - f)].select(1, f).copy_(sample.select(1, f));
  }
  return record;
}

}  // namespace

std::vector<Metric> check_unipc(const FixtureCase& fixture, const CheckOptions& options) {
  const auto& config = fixture.manifest().at("config");
  const int steps = config.at("steps").get<int>();
  const double shift = config.at("shift").get<double>();
  const double tolerance = fixture.tolerance("max");

  const auto schedule = sched::make_flow_timesteps(steps, shift);
  const auto ref_timesteps = fixture.tensor("out.timesteps");
  const auto ref_sigmas = fixture.tensor("out.sigmas");
  const auto our_timesteps = at::tensor(schedule.timesteps, at::kLong);
  const auto our_sigmas = at::tensor(schedule.sigmas, at::kFloat);
  const bool timesteps_equal = our_timesteps.sizes().equals(ref_timesteps.sizes()) && at::equal(our_timesteps, ref_timesteps);

  const c10::Device device(options.device);
  const auto sample0 = fixture.tensor("in.sample0").to(device);
  const auto model_outputs = fixture.tensor("in.model_outputs").to(device);
  const auto expected = fixture.tensor("out.samples");

  std::vector<Metric> metrics;
  metrics.push_back(make_metric("timesteps differing (exact)", timesteps_equal ? 0.0 : 1.0, 0.0));
  metrics.push_back(make_metric("sigmas rel L2", relative_l2(our_sigmas, ref_sigmas), tolerance));
  for (bool staggered : {false, true}) {
    const auto samples = run_solver(sample0, model_outputs, steps, shift, staggered).cpu();
    double worst = 0.0;
    for (int i = 0; i < steps; ++i) worst = std::max(worst, relative_l2(samples[i], expected[i]));
    metrics.push_back(make_metric(staggered ? "samples rel L2, frames at different counters (max over steps)"
                                            : "samples rel L2, frames together (max over steps)",
                                  worst, tolerance));
  }
  return metrics;
}

}  // namespace skyreels::conformance
