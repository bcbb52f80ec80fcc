#include "engine_queries.h"

#include <ATen/Context.h>

#include "pipeline/demo_model.h"
#include "pipeline/engine.h"
#include "telemetry/device_memory.h"

namespace skyreels::ui {

QString demoModelFolder() { return QString::fromStdString(pipeline::find_demo_model().string()); }

QString effectiveModelFolder(const QString& modelFolder) {
  return modelFolder.trimmed().isEmpty() ? demoModelFolder() : modelFolder.trimmed();
}

std::optional<pipeline::GenerationSettings> recommendedSettings(const QString& modelFolder, QString* error) {
  const auto folder = effectiveModelFolder(modelFolder);
  try {
    if (folder.isEmpty()) throw std::runtime_error("no model folder given and the demo model is not installed");
    // The constructor only locates the files; the models load on the first generation.
    return pipeline::Engine(folder.toStdString()).default_settings();
  } catch (const std::exception& e) {
    if (error) *error = QString::fromUtf8(e.what());
    return std::nullopt;
  }
}

QStringList availableDevices() {
  QStringList devices;
  if (telemetry::cuda_built() && at::hasCUDA()) devices << QStringLiteral("cuda");
  devices << QStringLiteral("cpu");
  return devices;
}

}  // namespace skyreels::ui
