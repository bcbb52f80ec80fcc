#pragma once

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "studio_job.h"

namespace skyreels::ui {

// A job as JSON, for the saved queue: the engine's settings as to_json(GenerationSettings) writes them
// (so a field added there round-trips without a change here) plus the app's own fields.
nlohmann::json jobToJson(const StudioJob& job);
// Back from jobToJson; throws std::exception (nlohmann's or skyreels::Error) for a damaged entry.
StudioJob jobFromJson(const nlohmann::json& json);

// The form's LoRA list as the settings JSON writes LoRAs, each with its "enabled" flag.
std::string loraListJson(const std::vector<StudioLora>& list);
// Back from loraListJson (the settings' own reader checks each entry); empty when absent or unreadable.
std::vector<StudioLora> loraListFromJson(const std::string& text);

}  // namespace skyreels::ui
