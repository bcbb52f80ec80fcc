#include "hub/model_catalog.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace skyreels {
namespace {

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

constexpr std::uint64_t kGB = 1000ull * 1000 * 1000;
constexpr std::uint64_t kMB = 1000ull * 1000;

}  // namespace

const std::vector<OfficialModel>& official_models() {
  // Sizes: the DiT in bf16 (1.43 B and 14.3 B parameters), the umT5-XXL encoder (bf16, 11.4 GB) and
  // the Wan2.1 VAE (0.5 GB); the listing gives the exact figure when a download starts.
  static const std::vector<OfficialModel> models = {
      {"DF-1.3B-540P", "Skywork/SkyReels-V2-DF-1.3B-540P",
       "Diffusion forcing, 1.3B parameters, 544 x 960; fits a 16 GB card", 15 * kGB},
      {"DF-14B-540P", "Skywork/SkyReels-V2-DF-14B-540P",
       "Diffusion forcing, 14B parameters, 544 x 960; needs a 40 GB+ card (or --fp8)", 41 * kGB},
      {"DF-14B-720P", "Skywork/SkyReels-V2-DF-14B-720P",
       "Diffusion forcing, 14B parameters, 720 x 1280; needs a 40 GB+ card (or --fp8)", 41 * kGB},
  };
  return models;
}

const OfficialModel* find_official_model(const std::string& name) {
  const auto wanted = lower(name);
  for (const auto& model : official_models()) {
    const auto repo_name = model.repo.substr(model.repo.find('/') + 1);
    if (wanted == lower(model.name) || wanted == lower(model.repo) || wanted == lower(repo_name)) return &model;
  }
  return nullptr;
}

std::string format_bytes(std::uint64_t bytes) {
  char text[32];
  if (bytes >= kGB) std::snprintf(text, sizeof text, "%.1f GB", static_cast<double>(bytes) / kGB);
  else if (bytes >= kMB) std::snprintf(text, sizeof text, "%.0f MB", static_cast<double>(bytes) / kMB);
  else if (bytes >= 1000) std::snprintf(text, sizeof text, "%.0f KB", static_cast<double>(bytes) / 1000);
  else std::snprintf(text, sizeof text, "%llu B", static_cast<unsigned long long>(bytes));
  return text;
}

namespace hub {

const std::vector<ExpectedPart>& official_layout_parts() {
  // The published files: config.json (< 1 KB), Wan2.1_VAE.pth (508 MB), models_t5_umt5-xxl-enc-bf16.pth
  // (11.4 GB), google/umt5-xxl/spiece.model (4.5 MB).
  static const std::vector<ExpectedPart> parts = {
      {"the DiT's config", {"config.json"}, 100},
      {"the VAE", {"Wan2.1_VAE.pth", "Wan2.1_VAE.safetensors"}, 400 * kMB},
      {"the umT5 text encoder",
       {"models_t5_umt5-xxl-enc-bf16.pth", "models_t5_umt5-xxl-enc-bf16.safetensors"},
       10 * kGB},
      {"the tokenizer", {"google/umt5-xxl/spiece.model"}, 1 * kMB},
  };
  return parts;
}

std::uint64_t official_dit_min_bytes(const std::string& name) {
  // 1.43 B and 14.3 B parameters in bf16, less a margin.
  if (name == "DF-1.3B-540P") return 2600 * kMB;
  if (name.compare(0, 6, "DF-14B") == 0) return 27 * kGB;
  return 0;
}

const std::vector<DitShape>& official_dit_shapes() {
  static const std::vector<DitShape> shapes = {{"DF-1.3B", 1536, 30}, {"DF-14B", 5120, 40}};
  return shapes;
}

}  // namespace hub
}  // namespace skyreels
