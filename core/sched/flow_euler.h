#pragma once

#include <vector>

#include <ATen/core/Tensor.h>

#include "sched/flow_solver.h"

namespace skyreels::sched {

// The flow-matching Euler step, what the step-distilled models (CausVid, lightx2v, 4 to 8 steps, no
// guidance) are sampled with: x' = x + (sigma_{k+1} - sigma_k) * v for a frame at counter k. One
// model call per step and no history, so any schedule (make_flow_timesteps or an explicit list) works.
// The step is computed in float32 and rounded once to the sample dtype.
class FlowEuler : public FlowSolver {
public:
  // `sample_like` is the window's latent tensor [C, F, H, W]: it fixes F.
  FlowEuler(FlowTimesteps schedule, const at::Tensor& sample_like);

  const FlowTimesteps& schedule() const noexcept override { return schedule_; }
  int frames() const noexcept override { return static_cast<int>(counters_.size()); }
  int counter(int frame) const override { return counters_.at(frame); }
  void step(const at::Tensor& model_output, at::Tensor& sample, int first, int last) override;

  // The factor of v for a frame at counter k: sigma_{k+1} - sigma_k, in float32 as applied.
  float velocity_weight(int counter) const;

private:
  FlowTimesteps schedule_;
  std::vector<int> counters_;
};

}  // namespace skyreels::sched
