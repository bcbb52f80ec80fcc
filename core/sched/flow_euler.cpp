#include "sched/flow_euler.h"

#include <string>
#include <utility>

#include <ATen/ATen.h>

#include "skyreels/error.h"

namespace skyreels::sched {

FlowEuler::FlowEuler(FlowTimesteps schedule, const at::Tensor& sample_like) : schedule_(std::move(schedule)) {
  if (sample_like.dim() != 4)
    throw Error(ErrorCode::ShapeMismatch,
                "FlowEuler expects latents [C, F, H, W], got " + std::to_string(sample_like.dim()) + " dims");
  if (schedule_.timesteps.empty() || schedule_.sigmas.size() != schedule_.timesteps.size() + 1)
    throw Error(ErrorCode::BadArgument, "FlowEuler: the schedule needs steps + 1 sigmas");
  counters_.assign(sample_like.size(1), 0);
}

float FlowEuler::velocity_weight(int k) const {
  return schedule_.sigmas.at(static_cast<std::size_t>(k) + 1) - schedule_.sigmas.at(static_cast<std::size_t>(k));
}

void FlowEuler::step(const at::Tensor& model_output, at::Tensor& sample, int first, int last) {
  if (first < 0 || last > frames() || first >= last)
    throw Error(ErrorCode::BadArgument, "FlowEuler::step: frame range [" + std::to_string(first) + ", " +
                                            std::to_string(last) + ") is empty or outside " +
                                            std::to_string(frames()) + " frames");
  const auto count = last - first;
  if (sample.dim() != 4 || sample.size(1) != frames())
    throw Error(ErrorCode::ShapeMismatch, "FlowEuler::step: sample must be [C, " + std::to_string(frames()) +
                                              ", H, W] as at construction");
  if (model_output.dim() != 4 || model_output.size(1) != count || model_output.size(0) != sample.size(0) ||
      model_output.size(2) != sample.size(2) || model_output.size(3) != sample.size(3))
    throw Error(ErrorCode::ShapeMismatch, "FlowEuler::step: model output must be [C, " + std::to_string(count) +
                                              ", H, W] for the selected frames");
  // Frames of one row may sit at different counters (asynchronous rows): one weight per frame, sent
  // in one copy, so there is no per-frame launch.
  std::vector<float> weights(static_cast<std::size_t>(count));
  for (int f = first; f < last; ++f) {
    const int k = counters_[f];
    if (k >= steps())
      throw Error(ErrorCode::BadArgument, "FlowEuler::step: frame " + std::to_string(f) + " has already taken all " +
                                              std::to_string(steps()) + " steps");
    weights[static_cast<std::size_t>(f - first)] = velocity_weight(k);
  }
  const auto w = at::tensor(weights, at::TensorOptions().dtype(at::kFloat)).to(sample.device()).view({1, count, 1, 1});
  auto x = sample.narrow(1, first, count);
  x.copy_(x.to(at::kFloat) + w * model_output.to(sample.device(), at::kFloat));
  for (int f = first; f < last; ++f) ++counters_[f];
}

}  // namespace skyreels::sched
