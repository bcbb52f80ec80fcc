#pragma once

// The generation settings are part of the public API (skyreels/settings.h); the engine's internals
// name them in their own namespace.
#include "skyreels/settings.h"

namespace skyreels::pipeline {

using skyreels::apply_fix;
using skyreels::check_settings;
using skyreels::frames_for_seconds;
using skyreels::GenerationSettings;
using skyreels::kDefaultNegativePrompt;
using skyreels::LoraSetting;
using skyreels::parse_resolution;
using skyreels::require_valid;
using skyreels::settings_from_json;
using skyreels::SettingsProblem;
using skyreels::snap_frames;
using skyreels::to_json;
using skyreels::validate;

}  // namespace skyreels::pipeline
