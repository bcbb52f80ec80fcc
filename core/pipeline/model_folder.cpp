#include "pipeline/model_folder.h"

#include <algorithm>
#include <filesystem>
#include <initializer_list>
#include <vector>

#include "io/json_config.h"
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

// The weights inside a diffusers part folder: its one safetensors file, its shard index, or the folder
// itself (shards without an index).
std::string weights_in(const fs::path& dir) {
  const auto indexes = files_ending(dir, ".safetensors.index.json");
  if (indexes.size() == 1) return indexes.front();
  const auto files = files_ending(dir, ".safetensors");
  if (files.size() == 1) return files.front();
  return files.empty() ? std::string() : dir.string();
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
    auto weights_under = [&](const char* name) { return fs::is_directory(root / name, ec) ? weights_in(root / name) : ""; };
    require(files.dit, weights_under("transformer"), "transformer/ (config.json and *.safetensors)");
    files.dit_config = first_existing(root / "transformer", {"config.json"});
    require(files.vae, weights_under("vae"), "vae/ (*.safetensors)");
    require(files.t5, weights_under("text_encoder"), "text_encoder/ (*.safetensors)");
    files.t5_config = first_existing(root / "text_encoder", {"config.json"});
    require(files.tokenizer, first_existing(root / "tokenizer", {"spiece.model"}), "tokenizer/spiece.model");
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
    // The official config.json describes the DiT; the umT5 .pth beside it has none of its own.
    files.dit_config = first_existing(root, {"config.json"});
    require(files.tokenizer, first_existing(root / "google" / "umt5-xxl", {"spiece.model"}),
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

GenerationSettings read_recommended_settings(const ModelFiles& files) {
  if (files.settings.empty()) return {};
  return settings_from_json(io::JsonConfig::load(files.settings).json());
}

}  // namespace skyreels::pipeline
