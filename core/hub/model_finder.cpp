#include "hub/model_finder.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <vector>

#include <nlohmann/json.hpp>

#include "hub/hub_cache.h"
#include "hub/model_catalog.h"
#include "skyreels/models.h"
#include "skyreels/strings.h"

namespace skyreels {
namespace hub {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

std::string upper(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::toupper(c); });
  return text;
}

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);  // follows the Hub cache's symlinks
}

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

std::uint64_t size_of(const fs::path& p) {
  std::error_code ec;
  const auto size = fs::file_size(p, ec);
  return ec ? 0 : size;
}

std::vector<std::string> names_ending(const fs::path& dir, const std::string& suffix) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const auto name = entry.path().filename().string();
    if (!name.empty() && name[0] != '.' && ends_with(name, suffix) && is_file(entry.path())) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

Json read_small_json(const fs::path& file) {
  if (!is_file(file) || size_of(file) > (std::uint64_t{16} << 20)) return Json();
  std::ifstream in(file);
  return Json::parse(in, nullptr, /*allow_exceptions=*/false);
}

std::int64_t int_field(const Json& json, const char* key) {
  if (!json.is_object() || !json.contains(key) || !json[key].is_number_integer()) return 0;
  return json[key].get<std::int64_t>();
}

// "model-00003-of-00012.safetensors" -> {"model", 3, 12}.
struct ShardName {
  std::string prefix;
  int index = 0, count = 0;
};
std::optional<ShardName> parse_shard_name(const std::string& name) {
  const std::string suffix = ".safetensors";
  if (!ends_with(name, suffix)) return std::nullopt;
  const auto stem = name.substr(0, name.size() - suffix.size());
  const auto of = stem.rfind("-of-");
  if (of == std::string::npos || of < 6) return std::nullopt;
  const auto dash = stem.rfind('-', of - 1);
  if (dash == std::string::npos) return std::nullopt;
  const auto index_text = stem.substr(dash + 1, of - dash - 1), count_text = stem.substr(of + 4);
  auto digits = [](const std::string& t) {
    return !t.empty() && t.size() < 7 && std::all_of(t.begin(), t.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
  };
  if (!digits(index_text) || !digits(count_text)) return std::nullopt;
  return ShardName{stem.substr(0, dash), std::stoi(index_text), std::stoi(count_text)};
}

std::string shard_name(const std::string& prefix, int index, int count) {
  char text[64];
  std::snprintf(text, sizeof text, "-%05d-of-%05d.safetensors", index, count);
  return prefix + text;
}

// Checks one weights file and adds its problems; returns its data bytes.
std::uint64_t check_weights_file(const fs::path& folder, const std::string& name, std::vector<std::string>& problems) {
  const auto file = folder / name;
  if (!is_file(file)) {
    problems.push_back("missing " + name);
    return 0;
  }
  const auto size = size_of(file);
  if (ends_with(name, ".safetensors")) {
    const auto extent = read_safetensors_extent(file);
    if (!extent) {
      problems.push_back(name + " is damaged (its safetensors header cannot be read)");
      return 0;
    }
    if (size < extent->file_bytes) {
      problems.push_back(name + " is truncated (" + format_bytes(size) + " of " + format_bytes(extent->file_bytes) + ")");
      return 0;
    }
    return extent->data_bytes;
  }
  if (ends_with(name, ".pth") && !zip_archive_is_whole(file))
    problems.push_back(name + " is truncated or damaged (not a whole .pth archive; " + format_bytes(size) + ")");
  return size;
}

struct DitFiles {
  std::vector<std::string> files;  // relative to the folder
  std::vector<std::string> problems;
};

// The DiT's weights in a folder (official layout: at the top; diffusers: transformer/), as
// pipeline/model_folder.cpp finds them: an index and its shards, one file, or numbered shards.
DitFiles find_dit_files(const fs::path& folder, const std::string& sub, const std::set<std::string>& not_dit) {
  DitFiles dit;
  const auto dir = sub.empty() ? folder : folder / sub;
  const auto prefix = sub.empty() ? std::string() : sub + "/";
  const auto indexes = names_ending(dir, ".safetensors.index.json");
  if (!indexes.empty()) {
    const auto index = read_small_json(dir / indexes.front());
    dit.files.push_back(prefix + indexes.front());
    std::set<std::string> shards;
    if (index.is_object() && index.contains("weight_map") && index["weight_map"].is_object())
      for (const auto& [key, shard] : index["weight_map"].items())
        if (shard.is_string()) shards.insert(shard.get<std::string>());
    if (shards.empty()) dit.problems.push_back(prefix + indexes.front() + " is damaged (no weight_map)");
    for (const auto& shard : shards)
      if (shard.find("..") == std::string::npos && shard.find('/') == std::string::npos) dit.files.push_back(prefix + shard);
    return dit;
  }
  for (const char* single : {"model.safetensors", "diffusion_pytorch_model.safetensors"})
    if (is_file(dir / single)) {
      dit.files.push_back(prefix + single);
      return dit;
    }
  // Numbered shards without an index: every one of 1..count must be there.
  std::map<std::string, std::pair<int, std::set<int>>> groups;
  std::vector<std::string> loose;
  for (const auto& name : names_ending(dir, ".safetensors")) {
    if (not_dit.count(name)) continue;
    if (const auto shard = parse_shard_name(name)) {
      auto& group = groups[shard->prefix];
      group.first = std::max(group.first, shard->count);
      group.second.insert(shard->index);
    } else {
      loose.push_back(name);
    }
  }
  if (!groups.empty()) {
    const auto& [stem, group] = *groups.begin();
    for (int i = 1; i <= group.first; ++i) dit.files.push_back(prefix + shard_name(stem, i, group.first));
    return dit;
  }
  for (const auto& name : loose) dit.files.push_back(prefix + name);
  if (dit.files.empty())
    dit.problems.push_back(sub.empty() ? "missing the DiT's weights (model.safetensors, diffusion_pytorch_model.safetensors, "
                                         "or shards with their *.safetensors.index.json)"
                                       : "missing the DiT's weights (" + prefix + "*.safetensors)");
  return dit;
}

// The weights of a diffusers part folder (vae/, text_encoder/).
std::vector<std::string> part_weights(const fs::path& folder, const std::string& sub) {
  const auto dit = find_dit_files(folder, sub, {});
  return dit.files;
}

// A rough parameter count of a Wan DiT from its config (blocks' attention and FFN, which dominate).
std::uint64_t estimated_dit_params(std::int64_t dim, std::int64_t ffn, std::int64_t layers) {
  if (dim <= 0 || ffn <= 0 || layers <= 0) return 0;
  return static_cast<std::uint64_t>(layers) * static_cast<std::uint64_t>(8 * dim * dim + 2 * dim * ffn);
}

std::string name_from_shape(std::int64_t dim, std::int64_t layers, const std::string& hint,
                            const std::vector<std::string>& dit_files) {
  for (const auto& shape : official_dit_shapes()) {
    if (dim != shape.dim || layers != shape.num_layers) continue;
    const std::string family = shape.family;
    if (family == "DF-1.3B") return "DF-1.3B-540P";  // the only 1.3B DF release
    const auto text = upper(hint);
    if (text.find("720P") != std::string::npos) return family + "-720P";
    if (text.find("540P") != std::string::npos) return family + "-540P";
    for (const auto& file : dit_files) {  // the releases' shard sets differ
      if (file.find("-of-00006.") != std::string::npos) return family + "-720P";
      if (file.find("-of-00012.") != std::string::npos) return family + "-540P";
    }
    return family;
  }
  if (dim > 0 && dim < 1536) return "demo";
  return "unknown";
}

bool looks_like_model(const fs::path& dir) {
  if (!is_dir(dir)) return false;
  if (is_file(dir / "config.json") &&
      (is_file(dir / "Wan2.1_VAE.pth") || is_file(dir / "Wan2.1_VAE.safetensors") || is_file(dir / "model.safetensors") ||
       !names_ending(dir, ".safetensors").empty() || !names_ending(dir, ".safetensors.index.json").empty()))
    return true;
  if (is_dir(dir / "transformer") && is_dir(dir / "vae")) return true;
  return is_file(dir / "Wan2.1_VAE.pth") || is_file(dir / "Wan2.1_VAE.safetensors") ||
         is_file(dir / "models_t5_umt5-xxl-enc-bf16.pth") || is_file(dir / "models_t5_umt5-xxl-enc-bf16.safetensors");
}

std::uint64_t folder_bytes(const fs::path& dir) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
    if (is_file(it->path())) total += size_of(it->path());
  return total;
}

FoundModel inspect(const fs::path& folder, const std::string& hint) {
  FoundModel model;
  model.path = folder.string();
  auto& problems = model.problems;
  if (!is_dir(folder)) {
    model.name = "unknown";
    problems.push_back(folder.string() + " is not a folder");
    return model;
  }
  Json config;
  std::vector<std::string> dit_files;
  std::uint64_t dit_bytes = 0;
  const bool diffusers = is_dir(folder / "transformer");
  model.layout = diffusers ? "diffusers" : "official";
  std::vector<std::pair<const ExpectedPart*, std::string>> found_parts;  // official parts found, by name

  if (diffusers) {
    config = read_small_json(folder / "transformer" / "config.json");
    if (config.is_null()) problems.push_back("missing transformer/config.json");
    auto dit = find_dit_files(folder, "transformer", {});
    problems.insert(problems.end(), dit.problems.begin(), dit.problems.end());
    dit_files = dit.files;
    for (const auto& [sub, what] : {std::pair<std::string, std::string>{"vae", "the VAE"}, {"text_encoder", "the text encoder"}}) {
      const auto files = part_weights(folder, sub);
      if (files.empty()) problems.push_back("missing " + what + " (" + sub + "/*.safetensors)");
      for (const auto& file : files)
        if (!ends_with(file, ".json")) check_weights_file(folder, file, problems);
    }
    if (!is_file(folder / "tokenizer" / "spiece.model")) problems.push_back("missing tokenizer/spiece.model");
  } else {
    std::set<std::string> not_dit;
    for (const auto& part : official_layout_parts()) {
      for (const auto& name : part.names) not_dit.insert(name);
      const auto it = std::find_if(part.names.begin(), part.names.end(), [&](const std::string& n) { return is_file(folder / n); });
      if (it == part.names.end()) {
        std::string text = "missing " + part.names.front();
        if (part.names.size() > 1) text += " (or " + part.names[1] + ")";
        problems.push_back(text + ", " + part.what);
      } else {
        found_parts.emplace_back(&part, *it);
      }
    }
    config = read_small_json(folder / "config.json");
    if (is_file(folder / "config.json") && !config.is_object()) problems.push_back("config.json is damaged (not a JSON object)");
    auto dit = find_dit_files(folder, "", not_dit);
    problems.insert(problems.end(), dit.problems.begin(), dit.problems.end());
    dit_files = dit.files;
  }
  const auto problems_before_dit = problems.size();
  for (const auto& file : dit_files)
    if (!ends_with(file, ".json")) dit_bytes += check_weights_file(folder, file, problems);
  const bool dit_readable = problems.size() == problems_before_dit;

  // Name: the DiT's shape from its config (official: dim, num_layers; diffusers: heads x head_dim).
  std::int64_t dim = int_field(config, "dim"), layers = int_field(config, "num_layers"), ffn = int_field(config, "ffn_dim");
  if (dim == 0) dim = int_field(config, "num_attention_heads") * int_field(config, "attention_head_dim");
  model.name = name_from_shape(dim, layers, hint.empty() ? folder.filename().string() : hint, dit_files);

  // Sizes plausible: the official files' least sizes, and weights enough for the config's shape.
  if (!diffusers)
    for (const auto& [part, name] : found_parts) {
      const auto size = size_of(folder / name);
      if (official_dit_min_bytes(model.name) > 0 && size < part->official_min_bytes)
        problems.push_back(name + " is too small for " + model.name + " (" + format_bytes(size) + "; the published file is over " +
                           format_bytes(part->official_min_bytes) + ")");
      else if (size == 0)
        problems.push_back(name + " is empty");
      else if (ends_with(name, ".pth") || ends_with(name, ".safetensors"))
        check_weights_file(folder, name, problems);
    }
  const auto needed = std::max<std::uint64_t>(official_dit_min_bytes(model.name),
                                              estimated_dit_params(dim, ffn, layers) * 2 * 9 / 10);
  if (!dit_files.empty() && dit_readable && dit_bytes < needed)
    problems.push_back("the DiT's weights hold " + format_bytes(dit_bytes) + ", a model of this config needs about " +
                       format_bytes(needed) + " (a shard or tensor is missing)");
  model.complete = problems.empty();
  model.bytes = folder_bytes(folder);
  return model;
}

void add_hub_repo(const fs::path& repo_dir, bool only_video_models, std::vector<FoundModel>& found) {
  const auto repo = repo_from_folder_name(repo_dir.filename().string());
  if (!repo || !is_dir(repo_dir)) return;
  const auto* official = find_official_model(*repo);
  bool any_snapshot = false;
  std::vector<fs::path> snapshots;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(repo_dir / "snapshots", ec))
    if (is_dir(entry.path())) snapshots.push_back(entry.path());
  std::sort(snapshots.begin(), snapshots.end());
  int partial = 0;
  for (const auto& entry : fs::directory_iterator(repo_dir / "blobs", ec))
    if (ends_with(entry.path().filename().string(), ".incomplete")) ++partial;
  for (const auto& snapshot : snapshots) {
    if (only_video_models && !official && !looks_like_model(snapshot)) continue;
    any_snapshot = true;
    auto model = inspect(snapshot, *repo);
    model.source = FoundModel::Source::HubCache;
    model.repo = *repo;
    model.revision = snapshot.filename().string();
    if (!model.complete && partial > 0)
      model.problems.push_back(std::to_string(partial) + " partial download(s) in " + (repo_dir / "blobs").string() +
                               ": download it again to resume");
    found.push_back(std::move(model));
  }
  if (!any_snapshot && (official || !only_video_models) && partial > 0) {
    FoundModel model;
    model.name = official ? official->name : "unknown";
    model.path = repo_dir.string();
    model.source = FoundModel::Source::HubCache;
    model.repo = *repo;
    model.layout = "official";
    model.problems.push_back("the download has not finished (" + std::to_string(partial) +
                             " partial file(s), no file complete yet): download it again to resume");
    model.bytes = folder_bytes(repo_dir);
    found.push_back(std::move(model));
  }
}

}  // namespace

std::optional<SafetensorsExtent> read_safetensors_extent(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  unsigned char length_bytes[8];
  if (!in.read(reinterpret_cast<char*>(length_bytes), 8)) return std::nullopt;
  std::uint64_t header_bytes = 0;
  for (int i = 7; i >= 0; --i) header_bytes = (header_bytes << 8) | length_bytes[i];
  if (header_bytes < 2 || header_bytes > (std::uint64_t{100} << 20)) return std::nullopt;
  std::string header(header_bytes, '\0');
  if (!in.read(header.data(), static_cast<std::streamsize>(header_bytes))) return std::nullopt;
  const auto json = Json::parse(header, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return std::nullopt;
  std::uint64_t end = 0;
  for (const auto& [key, entry] : json.items()) {
    if (key == "__metadata__") continue;
    if (!entry.is_object() || !entry.contains("data_offsets")) return std::nullopt;
    const auto& offsets = entry["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned())
      return std::nullopt;
    const auto begin_at = offsets[0].get<std::uint64_t>(), end_at = offsets[1].get<std::uint64_t>();
    if (end_at < begin_at) return std::nullopt;
    end = std::max(end, end_at);
  }
  return SafetensorsExtent{8 + header_bytes + end, end};
}

bool zip_archive_is_whole(const fs::path& file) {
  const auto size = size_of(file);
  if (size < 22) return false;
  const auto tail_bytes = std::min<std::uint64_t>(size, 65536 + 22);
  std::ifstream in(file, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(size - tail_bytes));
  std::string tail(tail_bytes, '\0');
  if (!in.read(tail.data(), static_cast<std::streamsize>(tail_bytes))) return false;
  return tail.rfind(std::string("PK\x05\x06", 4)) != std::string::npos;
}

}  // namespace hub

namespace {

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? std::string(value) : std::string();
}

std::string home() {
  const auto h = env("HOME");
  return h.empty() ? std::string("/tmp") : h;
}

}  // namespace

std::string hub_cache_dir() {
  if (auto dir = env("HF_HUB_CACHE"); !dir.empty()) return dir;
  if (auto dir = env("HUGGINGFACE_HUB_CACHE"); !dir.empty()) return dir;
  if (auto dir = env("HF_HOME"); !dir.empty()) return (std::filesystem::path(dir) / "hub").string();
  if (auto dir = env("XDG_CACHE_HOME"); !dir.empty()) return (std::filesystem::path(dir) / "huggingface" / "hub").string();
  return (std::filesystem::path(home()) / ".cache" / "huggingface" / "hub").string();
}

std::string default_models_dir() {
  if (auto dir = env("SKYREELS_MODELS_DIR"); !dir.empty()) return dir;
  return (std::filesystem::path(home()) / "models").string();
}

FoundModel inspect_model_folder(const std::string& folder) { return hub::inspect(folder, {}); }

std::vector<FoundModel> find_models(const std::vector<std::string>& models_dirs, const std::string& hub_cache) {
  namespace fs = std::filesystem;
  std::vector<FoundModel> found;
  for (const auto& dir_text : models_dirs) {
    const fs::path dir(dir_text);
    if (!hub::is_dir(dir)) continue;
    if (hub::looks_like_model(dir)) found.push_back(hub::inspect(dir, {}));
    std::vector<fs::path> children;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec))
      if (hub::is_dir(entry.path())) children.push_back(entry.path());
    std::sort(children.begin(), children.end());
    for (const auto& child : children) {
      if (hub::repo_from_folder_name(child.filename().string())) hub::add_hub_repo(child, /*only_video_models=*/false, found);
      else if (hub::looks_like_model(child)) found.push_back(hub::inspect(child, {}));
    }
  }
  if (!hub_cache.empty() && hub::is_dir(hub_cache)) {
    std::vector<fs::path> repos;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(hub_cache, ec))
      if (hub::repo_from_folder_name(entry.path().filename().string())) repos.push_back(entry.path());
    std::sort(repos.begin(), repos.end());
    for (const auto& repo : repos) hub::add_hub_repo(repo, /*only_video_models=*/true, found);
  }
  // The same folder reached twice (a models folder inside the cache, a symlink): keep the first.
  std::set<std::string> seen;
  std::vector<FoundModel> unique;
  for (auto& model : found) {
    std::error_code ec;
    const auto key = fs::weakly_canonical(model.path, ec).string();
    if (seen.insert(ec ? model.path : key).second) unique.push_back(std::move(model));
  }
  std::stable_sort(unique.begin(), unique.end(), [](const FoundModel& a, const FoundModel& b) {
    return a.name != b.name ? a.name < b.name : a.path < b.path;
  });
  return unique;
}

}  // namespace skyreels
