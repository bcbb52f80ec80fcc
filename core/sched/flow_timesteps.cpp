#include "sched/flow_timesteps.h"

#include <string>

#include "skyreels/error.h"

namespace skyreels::sched {

FlowTimesteps make_flow_timesteps(int steps, double shift) {
  if (steps < 1) throw Error(ErrorCode::BadArgument, "steps must be at least 1, got " + std::to_string(steps));
  if (!(shift > 0.0)) throw Error(ErrorCode::BadArgument, "shift must be positive, got " + std::to_string(shift));

  // The reference takes sigma_max from a float32 table, so it is float32(0.999) widened to double.
  const double sigma_max = static_cast<double>(0.999f);
  // numpy.linspace(start, stop, n + 1) computes i * step + start with step = (stop - start) / n.
  const double step = (0.0 - sigma_max) / steps;

  FlowTimesteps out;
  out.timesteps.reserve(steps);
  out.sigmas.reserve(steps + 1);
  for (int i = 0; i < steps; ++i) {
    const double s = i * step + sigma_max;
    const double shifted = shift * s / (1.0 + (shift - 1.0) * s);
    out.timesteps.push_back(static_cast<std::int64_t>(shifted * kNumTrainTimesteps));
    out.sigmas.push_back(static_cast<float>(shifted));
  }
  out.sigmas.push_back(0.0f);
  return out;
}

}  // namespace skyreels::sched
