#include <string>

#include "conformance/checks.h"
#include "sched/df_schedule.h"
#include "sched/flow_timesteps.h"
#include "skyreels/error.h"

namespace skyreels::conformance {
namespace {

// Cells (or intervals) where `ours` and the reference's matrix differ; a shape difference counts all.
template <typename Ours, typename Json>
long count_mismatches(const Ours& ours, const Json& reference) {
  long mismatches = 0;
  const std::size_t rows = std::max(ours.size(), reference.size());
  for (std::size_t r = 0; r < rows; ++r) {
    if (r >= ours.size() || r >= reference.size() || ours[r].size() != reference[r].size()) {
      mismatches += static_cast<long>(r < reference.size() ? std::max<std::size_t>(reference[r].size(), 1) : 1);
      continue;
    }
    for (std::size_t f = 0; f < ours[r].size(); ++f)
      if (ours[r][f] != reference[r][f]) ++mismatches;
  }
  return mismatches;
}

// The fixture writes the update mask as 0/1.
std::vector<std::vector<int>> update_as_ints(const sched::DfSchedule& schedule) {
  std::vector<std::vector<int>> out;
  for (const auto& row : schedule.update_matrix()) out.emplace_back(row.begin(), row.end());
  return out;
}

}  // namespace

std::vector<Metric> check_schedule(const FixtureCase& fixture, const CheckOptions&) {
  const auto& cases = fixture.manifest().at("cases");
  std::vector<Metric> metrics;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto& input = cases[i].at("input");
    sched::DfScheduleParams params;
    params.num_frames = input.at("num_frames").get<int>();
    params.base_num_frames = input.at("base_num_frames").get<int>();
    params.ar_step = input.at("ar_step").get<int>();
    params.num_pre_ready = input.at("num_pre_ready").get<int>();
    params.causal_block_size = input.at("causal_block_size").get<int>();
    const auto steps = input.at("steps").get<int>();
    const auto shift = input.at("shift").get<double>();

    sched::DfSchedule schedule(params, sched::make_flow_timesteps(steps, shift).timesteps);
    std::vector<std::vector<int>> intervals;
    for (int r = 0; r < schedule.rows(); ++r) {
      const auto [first, last] = schedule.valid_interval(r);
      intervals.push_back({first, last});
    }
    const auto ref_intervals = cases[i].at("valid_interval").get<std::vector<std::vector<int>>>();
    const long mismatches =
        count_mismatches(schedule.timestep_matrix(), cases[i].at("step_matrix").get<std::vector<std::vector<long>>>()) +
        count_mismatches(schedule.counter_matrix(), cases[i].at("step_index").get<std::vector<std::vector<int>>>()) +
        count_mismatches(update_as_ints(schedule), cases[i].at("update_mask").get<std::vector<std::vector<int>>>()) +
        count_mismatches(intervals, ref_intervals);

    const std::string label = "config " + std::to_string(i) + " (F=" + std::to_string(params.num_frames) +
                              " base=" + std::to_string(params.base_num_frames) + " N=" + std::to_string(steps) +
                              " ar=" + std::to_string(params.ar_step) + " pre=" + std::to_string(params.num_pre_ready) +
                              " cbs=" + std::to_string(params.causal_block_size) + ") mismatching cells";
    metrics.push_back(make_metric(label, static_cast<double>(mismatches), 0.0));
  }
  if (metrics.empty()) throw Error(ErrorCode::CorruptFile, fixture.name() + ": schedule manifest has no cases");
  return metrics;
}

}  // namespace skyreels::conformance
