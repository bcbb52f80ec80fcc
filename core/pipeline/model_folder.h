#pragma once

#include <string>

namespace skyreels::pipeline {

// Where each part of a DF model lives inside one downloaded folder. Two layouts are recognised:
//  - official (Skywork/SkyReels-V2-DF-*): config.json and the DiT's safetensors at the top (one file, or
//    shards with an *.index.json), Wan2.1_VAE.pth, models_t5_umt5-xxl-enc-bf16.pth (either .pth may
//    have been converted to .safetensors beside it) and the tokenizer in google/umt5-xxl/;
//  - diffusers (*-Diffusers): transformer/, vae/, text_encoder/ and tokenizer/ subfolders.
struct ModelFiles {
  enum class Layout { Official, Diffusers };

  std::string root;
  Layout layout = Layout::Official;
  std::string dit;        // a file, an index.json or a folder: what model::load_wan_dit takes
  std::string vae;        // what model::load_wan_vae takes
  std::string t5;         // what model::load_t5_encoder takes
  std::string tokenizer;  // the folder holding spiece.model
  std::string settings;   // optional skyreels-defaults.json (recommended settings), empty when absent
};

const char* to_string(ModelFiles::Layout layout);

// Finds every part under `root`. A missing folder, or a folder that lacks a part, is an
// Error(NotFound) that lists every missing part with the file names looked for.
ModelFiles locate_model_files(const std::string& root);

}  // namespace skyreels::pipeline
