#include "engine_queries.h"

#include "skyreels/engine.h"

namespace skyreels::ui {

QString demoModelFolder() { return QString::fromStdString(demo_model_folder()); }

QString effectiveModelFolder(const QString& modelFolder) {
  return modelFolder.trimmed().isEmpty() ? demoModelFolder() : modelFolder.trimmed();
}

std::optional<GenerationSettings> recommendedSettings(const QString& modelFolder, QString* error) {
  try {
    // Reads the folder's settings file; no engine is built and no model loads.
    return recommended_settings(modelFolder.trimmed().toStdString());
  } catch (const std::exception& e) {
    if (error) *error = QString::fromUtf8(e.what());
    return std::nullopt;
  }
}

QStringList availableDevices() {
  QStringList devices;
  for (const auto& d : available_devices()) devices << QString::fromStdString(d);
  return devices;
}

}  // namespace skyreels::ui
