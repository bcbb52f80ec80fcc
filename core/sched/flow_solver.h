#pragma once

#include <vector>

#include <ATen/core/Tensor.h>

#include "sched/flow_timesteps.h"

namespace skyreels::sched {

// A flow-matching solver over the latent frames of one window [C, F, H, W], each frame at its own
// step counter, as the diffusion-forcing loop needs (frames of an asynchronous row sit at different
// steps). FlowUniPC (the reference's) and FlowEuler (the step-distilled models') implement it.
class FlowSolver {
public:
  virtual ~FlowSolver() = default;

  virtual const FlowTimesteps& schedule() const noexcept = 0;
  int steps() const noexcept { return static_cast<int>(schedule().timesteps.size()); }
  virtual int frames() const noexcept = 0;
  // Steps already taken by a frame (0..steps).
  virtual int counter(int frame) const = 0;

  // Advances frames [first, last) by one step each. `model_output` holds the flow prediction for
  // exactly those frames ([C, last - first, H, W], any float dtype); `sample` is the window's latent
  // tensor [C, F, H, W], updated in place for those frames. Throws skyreels::Error(BadArgument) for a
  // frame that has already taken every step, or ShapeMismatch for shapes that do not match.
  virtual void step(const at::Tensor& model_output, at::Tensor& sample, int first, int last) = 0;
};

}  // namespace skyreels::sched
