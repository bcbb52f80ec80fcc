#pragma once

#include <optional>

#include <QString>
#include <QStringList>

#include "skyreels/settings.h"

namespace skyreels::ui {

// Small questions the form asks the engine on the GUI thread; none of them loads a model.

// The embedded demo model's folder, or an empty string when it is not installed or built.
QString demoModelFolder();
// The folder a job uses: `modelFolder`, or the demo model when it is empty.
QString effectiveModelFolder(const QString& modelFolder);
// The folder's recommended settings (skyreels-defaults.json, else the reference's defaults), or
// nullopt with `error` naming what is wrong (a missing model part, a damaged file).
std::optional<GenerationSettings> recommendedSettings(const QString& modelFolder, QString* error = nullptr);
// "cuda" first when this build and machine have a CUDA device, then "cpu".
QStringList availableDevices();

}  // namespace skyreels::ui
