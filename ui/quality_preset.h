#pragma once

#include "skyreels/settings.h"

namespace skyreels::ui {

// The simple view's one knob for time against quality, relative to the model's recommended settings:
// its steps (Quality), half of them (Balanced), a quarter (Draft), or the few-step preset of
// step-distilled LoRAs and models. Custom: settings none of these gives (changed in the advanced view).
enum class QualityPreset { Quality = 0, Balanced, Draft, FewStep, Custom };

// The settings with the preset's sampler, steps, timesteps, shift and guidance; the rest is kept.
// Custom changes nothing.
GenerationSettings withQualityPreset(GenerationSettings settings, QualityPreset preset,
                                     const GenerationSettings& recommended);

// Which preset gives these settings (the first that does), or Custom.
QualityPreset qualityPresetOf(const GenerationSettings& settings, const GenerationSettings& recommended);

}  // namespace skyreels::ui
