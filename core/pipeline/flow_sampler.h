#pragma once

#include <memory>

#include <ATen/core/Tensor.h>

#include "pipeline/generation_settings.h"
#include "sched/flow_solver.h"
#include "sched/flow_timesteps.h"

namespace skyreels::pipeline {

// The settings' noise levels: their explicit timestep list, or `steps` levels from the reference's
// formula, both shifted by `shift`.
sched::FlowTimesteps flow_schedule(const GenerationSettings& settings);

// The settings' solver (FlowUniPC or FlowEuler) on `schedule`, over latents like `sample_like`
// [C, F, H, W].
std::unique_ptr<sched::FlowSolver> make_flow_solver(const GenerationSettings& settings,
                                                    const sched::FlowTimesteps& schedule, const at::Tensor& sample_like);

}  // namespace skyreels::pipeline
