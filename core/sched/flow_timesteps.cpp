#include "sched/flow_timesteps.h"

#include <string>

#include "skyreels/error.h"

namespace skyreels::sched {
namespace {

double shifted(double sigma, double shift) { return shift * sigma / (1.0 + (shift - 1.0) * sigma); }

void require_positive_shift(double shift) {
  if (!(shift > 0.0)) throw Error(ErrorCode::BadArgument, "shift must be positive, got " + std::to_string(shift));
}

}  // namespace

FlowTimesteps make_flow_timesteps(int steps, double shift) {
  if (steps < 1) throw Error(ErrorCode::BadArgument, "steps must be at least 1, got " + std::to_string(steps));
  require_positive_shift(shift);

  // The reference takes sigma_max from a float32 table, so it is float32(0.999) widened to double.
  const double sigma_max = static_cast<double>(0.999f);
  // numpy.linspace(start, stop, n + 1) computes i * step + start with step = (stop - start) / n.
  const double step = (0.0 - sigma_max) / steps;

  FlowTimesteps out;
  out.timesteps.reserve(steps);
  out.sigmas.reserve(steps + 1);
  for (int i = 0; i < steps; ++i) {
    const double s = shifted(i * step + sigma_max, shift);
    out.timesteps.push_back(static_cast<std::int64_t>(s * kNumTrainTimesteps));
    out.sigmas.push_back(static_cast<float>(s));
  }
  out.sigmas.push_back(0.0f);
  return out;
}

std::string timestep_list_problem(const std::vector<int>& list) {
  if (list.empty()) return "the timestep list is empty";
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (list[i] < 1 || list[i] > kNumTrainTimesteps)
      return "timestep " + std::to_string(list[i]) + " is outside 1.." + std::to_string(kNumTrainTimesteps);
    if (i > 0 && list[i] >= list[i - 1])
      return "the timestep list must be strictly decreasing (" + std::to_string(list[i - 1]) + " then " +
             std::to_string(list[i]) + ")";
  }
  return "";
}

FlowTimesteps flow_timesteps_from_list(const std::vector<int>& list, double shift) {
  if (const auto why = timestep_list_problem(list); !why.empty()) throw Error(ErrorCode::BadArgument, why);
  require_positive_shift(shift);
  FlowTimesteps out;
  for (const int t : list) {
    const double s = shifted(static_cast<double>(t) / kNumTrainTimesteps, shift);
    out.timesteps.push_back(static_cast<std::int64_t>(s * kNumTrainTimesteps));
    out.sigmas.push_back(static_cast<float>(s));
  }
  out.sigmas.push_back(0.0f);
  return out;
}

}  // namespace skyreels::sched
