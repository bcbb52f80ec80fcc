#pragma once

#include <cstdint>
#include <vector>

#include "pipeline/generation_settings.h"
#include "skyreels/events.h"

namespace skyreels::pipeline {

// The plan's types are public (skyreels/events.h).
using skyreels::GenerationPlan;
using skyreels::PrefixSource;
using skyreels::WindowPlan;

// The windows the reference runs for these settings, which must be valid (validate()). `input_video_frames` is the
// length of the video to extend (0 otherwise).
GenerationPlan plan_generation(const GenerationSettings& settings, std::int64_t input_video_frames = 0);

// Python's floor division, which the reference's window count relies on for negative numerators.
std::int64_t floor_div(std::int64_t a, std::int64_t b);

}  // namespace skyreels::pipeline
