#pragma once

#include <string>

#include "skyreels/settings.h"

namespace skyreels::pipeline {

// Where each part of a DF model lives inside one downloaded folder: the one place that knows the
// folder layouts. The loaders take the files found here and probe nothing themselves. Two layouts:
//  - official (Skywork/SkyReels-V2-DF-*): config.json and the DiT's safetensors at the top (one file, or
//    shards with an *.index.json), Wan2.1_VAE.pth, models_t5_umt5-xxl-enc-bf16.pth (either .pth may
//    have been converted to .safetensors beside it) and the tokenizer in google/umt5-xxl/;
//  - diffusers (*-Diffusers): transformer/, vae/, text_encoder/ and tokenizer/ subfolders.
struct ModelFiles {
  enum class Layout { Official, Diffusers };

  std::string root;
  Layout layout = Layout::Official;
  std::string dit;         // the DiT's weights: one safetensors file, a *.safetensors.index.json, or a
                           // folder of shards without an index
  std::string dit_config;  // its config.json, or empty
  std::string vae;         // the VAE's weights: Wan2.1_VAE.pth, a .safetensors file, or a folder of shards
  std::string t5;          // the umT5 encoder's weights (as vae)
  std::string t5_config;   // an HF config.json beside them (diffusers' text_encoder/), or empty
  std::string tokenizer;   // spiece.model
  std::string settings;    // optional skyreels-defaults.json (recommended settings), empty when absent
};

const char* to_string(ModelFiles::Layout layout);

// Finds every part under `root`. A missing folder, or a folder that lacks a part, is an
// Error(NotFound) that lists every missing part with the file names looked for.
ModelFiles locate_model_files(const std::string& root);

// The folder's recommended settings (skyreels-defaults.json), or the reference's defaults when it has
// none. A damaged file is an Error(CorruptFile) naming it.
GenerationSettings read_recommended_settings(const ModelFiles& files);

}  // namespace skyreels::pipeline
