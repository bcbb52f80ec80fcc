#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace skyreels::sched {

// The flow-matching noise levels of FlowUniPCMultistepScheduler.set_timesteps(steps, shift):
// sigma_i = shift*s / (1 + (shift-1)*s) with s = linspace(sigma_max, 0, steps+1)[i], i < steps,
// computed in double as numpy does, with sigma_max = float32(0.999).
struct FlowTimesteps {
  std::vector<std::int64_t> timesteps;  // [steps]: int64(sigma_i * 1000), truncated; what the model is fed
  std::vector<float> sigmas;            // [steps + 1]: float32(sigma_i), then a final 0
};

// Throws skyreels::Error(BadArgument) for steps < 1 or shift <= 0.
FlowTimesteps make_flow_timesteps(int steps, double shift);

// The noise levels of an explicit timestep list, as the step-distilled models (CausVid, lightx2v) are
// sampled: each entry t (1..1000, strictly decreasing, e.g. 1000 750 500 250) is an unshifted level
// s = t / 1000, shifted by the same formula, sigma = shift*s / (1 + (shift-1)*s). What the model is fed
// is int64(sigma * 1000), truncated as make_flow_timesteps does (the distillations' own code feeds the
// float, 937.5 here against our 937: the DiT takes integer timesteps). Throws
// skyreels::Error(BadArgument) with timestep_list_problem()'s text.
FlowTimesteps flow_timesteps_from_list(const std::vector<int>& list, double shift);

// Why `list` cannot be a timestep list (empty, an entry outside 1..1000, not strictly decreasing), or "".
std::string timestep_list_problem(const std::vector<int>& list);

inline constexpr int kNumTrainTimesteps = 1000;

}  // namespace skyreels::sched
