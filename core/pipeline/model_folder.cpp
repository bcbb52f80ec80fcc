#include "pipeline/model_folder.h"

#include <algorithm>
#include <filesystem>
#include <initializer_list>
#include <vector>

#include "skyreels/error.h"
#include "skyreels/strings.h"

namespace skyreels::pipeline {
namespace {

namespace fs = std::filesystem;

bool is_there(const fs::path& p) {
  std::error_code ec;
  return fs::exists(p, ec);
}

// The first of `names` that exists under `dir`, or empty.
std::string first_existing(const fs::path& dir, std::initializer_list<const char*> names) {
  for (const char* name : names)
    if (is_there(dir / name)) return (dir / name).string();
  return {};
}

std::vector<std::string> files_ending(const fs::path& dir, const std::string& suffix) {
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.is_regular_file(ec) && ends_with(entry.path().filename().string(), suffix))
      found.push_back(entry.path().string());
  std::sort(found.begin(), found.end());
  return found;
}

// The DiT of the official layout: its shard index, its single file, or (shards without an index) the
// folder itself when no other part was converted to safetensors beside it.
std::string official_dit(const fs::path& root, bool other_safetensors) {
  const auto indexes = files_ending(root, ".safetensors.index.json");
  if (indexes.size() == 1) return indexes.front();
  if (auto file = first_existing(root, {"model.safetensors", "diffusion_pytorch_model.safetensors"}); !file.empty())
    return file;
  if (!other_safetensors && !files_ending(root, ".safetensors").empty()) return root.string();
  return {};
}

}  // namespace

const char* to_string(ModelFiles::Layout layout) {
  return layout == ModelFiles::Layout::Diffusers ? "diffusers" : "official";
}

ModelFiles locate_model_files(const std::string& root_text) {
  const fs::path root(root_text);
  std::error_code ec;
  if (!fs::is_directory(root, ec))
    throw Error(ErrorCode::NotFound, root_text + ": no such model folder (a SkyReels-V2-DF download, official or "
                                                 "diffusers layout)");
  ModelFiles files;
  files.root = root_text;
  std::vector<std::string> missing;
  auto require = [&missing](std::string& slot, std::string found, const std::string& looked_for) {
    if (found.empty()) missing.push_back(looked_for);
    slot = std::move(found);
  };

  if (fs::is_directory(root / "transformer", ec)) {
    files.layout = ModelFiles::Layout::Diffusers;
    auto dir_or_empty = [&](const char* name) { return fs::is_directory(root / name, ec) ? (root / name).string() : ""; };
    require(files.dit, dir_or_empty("transformer"), "transformer/");
    require(files.vae, dir_or_empty("vae"), "vae/");
    require(files.t5, dir_or_empty("text_encoder"), "text_encoder/");
    require(files.tokenizer, is_there(root / "tokenizer" / "spiece.model") ? (root / "tokenizer").string() : "",
            "tokenizer/spiece.model");
  } else {
    files.layout = ModelFiles::Layout::Official;
    require(files.vae, first_existing(root, {"Wan2.1_VAE.safetensors", "Wan2.1_VAE.pth"}),
            "Wan2.1_VAE.pth (or .safetensors)");
    require(files.t5,
            first_existing(root, {"models_t5_umt5-xxl-enc-bf16.safetensors", "models_t5_umt5-xxl-enc-bf16.pth"}),
            "models_t5_umt5-xxl-enc-bf16.pth (or .safetensors)");
    const bool converted = ends_with(files.vae, ".safetensors") || ends_with(files.t5, ".safetensors");
    require(files.dit, official_dit(root, converted),
            "the DiT (model.safetensors, diffusion_pytorch_model.safetensors or shards with *.safetensors.index.json)");
    require(files.tokenizer,
            is_there(root / "google" / "umt5-xxl" / "spiece.model") ? (root / "google" / "umt5-xxl").string() : "",
            "google/umt5-xxl/spiece.model");
  }
  files.settings = first_existing(root, {"skyreels-defaults.json"});

  if (!missing.empty()) {
    std::string text = root_text + " (" + to_string(files.layout) + " layout) lacks:";
    for (const auto& part : missing) text += "\n  - " + part;
    throw Error(ErrorCode::NotFound, text);
  }
  return files;
}

}  // namespace skyreels::pipeline
