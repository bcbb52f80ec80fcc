#include "pipeline/flow_sampler.h"

#include "sched/flow_euler.h"
#include "sched/flow_unipc.h"

namespace skyreels::pipeline {

sched::FlowTimesteps flow_schedule(const GenerationSettings& s) {
  return s.timestep_list.empty() ? sched::make_flow_timesteps(s.steps, s.shift)
                                 : sched::flow_timesteps_from_list(s.timestep_list, s.shift);
}

std::unique_ptr<sched::FlowSolver> make_flow_solver(const GenerationSettings& s, const sched::FlowTimesteps& schedule,
                                                    const at::Tensor& sample_like) {
  if (s.sampler == Sampler::Euler) return std::make_unique<sched::FlowEuler>(schedule, sample_like);
  return std::make_unique<sched::FlowUniPC>(schedule, sample_like);
}

}  // namespace skyreels::pipeline
