#pragma once

#include <filesystem>

#include "model/wan_vae.h"
#include "pipeline/generation_settings.h"
#include "train/dit_trainer.h"
#include "train/train_config.h"
#include "train/vae_trainer.h"

namespace skyreels::train {

// The settings a trained demo model recommends (its skyreels-defaults.json): the training clip's size
// and length, few steps (the videos are simple), the sampler's shift as trained.
pipeline::GenerationSettings demo_settings(const TrainConfig& config);

// Writes a trained model in the official SkyReels-V2 folder layout, so it loads through the same code
// as a download: model.safetensors + config.json (DiT, bf16), Wan2.1_VAE.safetensors (float32, with
// its latents_mean / latents_std), models_t5_umt5-xxl-enc-bf16.safetensors, google/umt5-xxl/
// spiece.model, skyreels-defaults.json and a README. Files are written beside their names and renamed.
void export_model(const std::filesystem::path& dir, const TrainConfig& config, TextToVideo& model, model::WanVae& vae,
                  const LatentStats& stats, const std::filesystem::path& tokenizer_model);

}  // namespace skyreels::train
