#pragma once

#include <cstdint>
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

inline constexpr int kNumTrainTimesteps = 1000;

}  // namespace skyreels::sched
