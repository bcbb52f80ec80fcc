#include "train/model_export.h"

#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "io/safetensors.h"
#include "pipeline/demo_model.h"
#include "skyreels/error.h"

namespace skyreels::train {
namespace {

namespace fs = std::filesystem;

std::vector<std::pair<std::string, at::Tensor>> parameters_as(torch::nn::Module& module, at::ScalarType dtype) {
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& p : module.named_parameters(true))
    tensors.emplace_back(p.key(), p.value().detach().to(at::kCPU, dtype).contiguous());
  return tensors;
}

// Written beside the file and renamed into place (io::write_safetensors), so a folder never holds half a file.
void write_tensors(const fs::path& file, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                   const std::string& what) {
  io::write_safetensors(file.string(), tensors, {{"skyreels", what}});
}

}  // namespace

pipeline::GenerationSettings demo_settings(const TrainConfig& config) {
  pipeline::GenerationSettings s;
  s.prompt = "a yellow triangle moves right on a blue background";
  s.height = config.clip.height;
  s.width = config.clip.width;
  s.num_frames = config.dit.clip_frames;
  s.base_num_frames = config.dit.clip_frames;
  s.fps = 16;
  s.steps = 10;
  s.guidance_scale = 5.0;
  s.shift = config.dit.noise.shift;
  s.ar_step = 0;
  s.causal_block_size = 1;
  return s;
}

void export_model(const fs::path& dir, const TrainConfig& config, TextToVideo& model, model::WanVae& vae,
                  const LatentStats& stats, const fs::path& tokenizer_model) {
  std::error_code ec;
  fs::create_directories(dir / "google" / "umt5-xxl", ec);
  if (ec) throw Error(ErrorCode::Runtime, dir.string() + ": cannot create the folder (" + ec.message() + ")");
  const std::string origin = "trained by skyreels-train (preset " + config.preset + ", seed " + std::to_string(config.seed) + ")";

  write_tensors(dir / "model.safetensors", parameters_as(*model->dit, at::kBFloat16), "demo DF DiT, " + origin);
  pipeline::write_dit_config(dir / "config.json", model->dit->config());

  auto vae_tensors = parameters_as(*vae, at::kFloat);
  vae_tensors.emplace_back("latents_mean", at::tensor(stats.mean, at::kFloat));
  vae_tensors.emplace_back("latents_std", at::tensor(stats.std, at::kFloat));
  write_tensors(dir / "Wan2.1_VAE.safetensors", vae_tensors, "demo Wan VAE, " + origin);

  write_tensors(dir / "models_t5_umt5-xxl-enc-bf16.safetensors", parameters_as(*model->text, at::kBFloat16),
                "demo umT5 encoder, " + origin);
  fs::copy_file(tokenizer_model, dir / "google" / "umt5-xxl" / "spiece.model", fs::copy_options::overwrite_existing, ec);
  if (ec) throw Error(ErrorCode::Runtime, tokenizer_model.string() + ": cannot copy the tokenizer (" + ec.message() + ")");

  pipeline::write_text_file(dir / "skyreels-defaults.json", to_json(demo_settings(config)).dump(2) + "\n");
  pipeline::write_text_file(
      dir / "README.md",
      "# SkyReels Studio demo model\n\n"
      "A small diffusion-forcing model (the Wan2.1 DiT, Wan VAE and umT5 architectures at small sizes), " +
          origin +
          " on procedural videos: one or two coloured shapes (circle, square, triangle; red, green, blue, yellow, "
          "white) moving left, right, up or down on a black, blue, green or gray background. Prompts such as "
          "\"a red circle moves right on a black background\" work; anything else gives shapes too.\n\n"
          "Retrain: see the README of SkyReels Studio (\"Retraining the demo model\").\n");
}

}  // namespace skyreels::train
