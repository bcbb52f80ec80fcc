#include "quality_preset.h"

#include <algorithm>

namespace skyreels::ui {
namespace {

// A fraction of the recommended steps, never below 2 (one step leaves visible noise).
int stepsFor(QualityPreset preset, int recommendedSteps) {
  switch (preset) {
    case QualityPreset::Balanced: return std::max(2, (recommendedSteps + 1) / 2);
    case QualityPreset::Draft: return std::max(2, (recommendedSteps + 3) / 4);
    default: return recommendedSteps;
  }
}

bool sameSampling(const GenerationSettings& a, const GenerationSettings& b) {
  return a.sampler == b.sampler && a.timestep_list == b.timestep_list && a.steps == b.steps && a.shift == b.shift &&
         a.guidance_scale == b.guidance_scale;
}

}  // namespace

GenerationSettings withQualityPreset(GenerationSettings settings, QualityPreset preset,
                                     const GenerationSettings& recommended) {
  switch (preset) {
    case QualityPreset::Custom: return settings;
    case QualityPreset::FewStep: apply_few_step_preset(settings); return settings;
    case QualityPreset::Quality:
    case QualityPreset::Balanced:
    case QualityPreset::Draft: break;
  }
  settings.sampler = recommended.sampler;
  settings.timestep_list = recommended.timestep_list;
  settings.shift = recommended.shift;
  settings.guidance_scale = recommended.guidance_scale;
  // An explicit timestep list fixes the steps; fewer steps need no list.
  settings.steps = stepsFor(preset, recommended.steps);
  if (settings.steps != recommended.steps) settings.timestep_list.clear();
  return settings;
}

QualityPreset qualityPresetOf(const GenerationSettings& settings, const GenerationSettings& recommended) {
  for (const auto preset : {QualityPreset::Quality, QualityPreset::Balanced, QualityPreset::Draft, QualityPreset::FewStep})
    if (sameSampling(settings, withQualityPreset(settings, preset, recommended))) return preset;
  return QualityPreset::Custom;
}

}  // namespace skyreels::ui
