#pragma once

#include <optional>

#include "studio_job.h"

class QSettings;

namespace skyreels::ui {

// The form's last state in QSettings (organisation "SkyReels", application "SkyReels Studio" in the
// app; tests pass an INI file). The engine settings are kept as their JSON, so a field added to
// GenerationSettings round-trips without a change here.
void saveJob(QSettings& store, const StudioJob& job);
// nullopt when nothing was stored yet or the stored JSON is unreadable (a newer or damaged file).
std::optional<StudioJob> loadJob(QSettings& store);

}  // namespace skyreels::ui
