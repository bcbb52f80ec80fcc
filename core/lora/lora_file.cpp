#include "lora/lora_file.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <regex>
#include <sstream>
#include <tuple>
#include <utility>

#include <ATen/ATen.h>

#include "io/key_map.h"
#include "io/safetensors.h"
#include "skyreels/error.h"
#include "skyreels/log.h"

namespace skyreels::lora {
namespace {

// What a key's suffix says it holds.
enum class Part { Down, Up, UpBias, Alpha, Diff, DiffBias, DiffModulation };

struct Suffix {
  const char* text;
  Part part;
};

// No key ends with two of these.
constexpr std::array<Suffix, 13> kSuffixes = {{
    {".lora_down.weight", Part::Down},
    {".lora_A.weight", Part::Down},
    {".lora_A.default.weight", Part::Down},
    {".lora_up.weight", Part::Up},
    {".lora_B.weight", Part::Up},
    {".lora_B.default.weight", Part::Up},
    {".lora_up.bias", Part::UpBias},
    {".lora_B.bias", Part::UpBias},
    {".lora_B.default.bias", Part::UpBias},
    {".alpha", Part::Alpha},
    {".diff", Part::Diff},
    {".diff_b", Part::DiffBias},
    {".diff_m", Part::DiffModulation},
}};

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string strip_prefix(const std::string& s, const std::string& prefix) {
  return starts_with(s, prefix) ? s.substr(prefix.size()) : s;
}

// The official modules (and raw parameters) of a block and of the top level that a LoRA may change, and those
// of the image conditioning a T2V model lacks.
const std::vector<std::string> kBlockModules = {
    "self_attn.q",  "self_attn.k",  "self_attn.v",      "self_attn.o",      "self_attn.norm_q", "self_attn.norm_k",
    "cross_attn.q", "cross_attn.k", "cross_attn.v",     "cross_attn.o",     "cross_attn.norm_q", "cross_attn.norm_k",
    "ffn.0",        "ffn.2",        "norm3",            "modulation"};
const std::vector<std::string> kBlockImageModules = {"cross_attn.k_img", "cross_attn.v_img", "cross_attn.norm_k_img"};
const std::vector<std::string> kTopModules = {"patch_embedding",  "text_embedding.0",  "text_embedding.2",
                                              "time_embedding.0", "time_embedding.2",  "time_projection.1",
                                              "head.head",        "head.modulation"};
const std::vector<std::string> kTopImageModules = {"img_emb.proj.0", "img_emb.proj.1", "img_emb.proj.3",
                                                   "img_emb.proj.4"};

bool contains(const std::vector<std::string>& list, const std::string& s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

enum class ModuleClass { DiT, Image, Unknown };

ModuleClass classify_official(const std::string& module) {
  static const std::regex block(R"(^blocks\.(\d+)\.(.+)$)");
  std::smatch m;
  if (std::regex_match(module, m, block)) {
    if (contains(kBlockModules, m[2])) return ModuleClass::DiT;
    if (contains(kBlockImageModules, m[2])) return ModuleClass::Image;
    return ModuleClass::Unknown;
  }
  if (contains(kTopModules, module)) return ModuleClass::DiT;
  if (contains(kTopImageModules, module) || starts_with(module, "img_emb.")) return ModuleClass::Image;
  return ModuleClass::Unknown;
}

std::string flat(std::string dotted) {
  std::replace(dotted.begin(), dotted.end(), '.', '_');
  return dotted;
}

// kohya / musubi: blocks_0_self_attn_q -> blocks.0.self_attn.q ("" if it names no module we know).
std::string official_from_kohya(const std::string& name) {
  static const std::regex block(R"(^blocks_(\d+)_(.+)$)");
  std::smatch m;
  if (std::regex_match(name, m, block)) {
    for (const auto* list : {&kBlockModules, &kBlockImageModules})
      for (const auto& module : *list)
        if (flat(module) == m[2].str()) return "blocks." + m[1].str() + "." + module;
    return "";
  }
  for (const auto* list : {&kTopModules, &kTopImageModules})
    for (const auto& module : *list)
      if (flat(module) == name) return module;
  return "";
}

bool is_diffusers_image_module(const std::string& module) {
  return module.find(".add_k_proj") != std::string::npos || module.find(".add_v_proj") != std::string::npos ||
         module.find(".norm_added_k") != std::string::npos ||
         starts_with(module, "condition_embedder.image_embedder");
}

LoraFormat detect_format(const std::vector<io::SafetensorsEntry>& tensors) {
  const auto any = [&](auto&& pred) {
    return std::any_of(tensors.begin(), tensors.end(),
                       [&](const io::SafetensorsEntry& e) { return pred(strip_prefix(e.name, "base_model.model.")); });
  };
  if (any([](const std::string& k) { return starts_with(k, "lora_unet_"); })) return LoraFormat::Kohya;
  if (any([](const std::string& k) {
        return starts_with(k, "transformer.") || starts_with(k, "condition_embedder.") || starts_with(k, "proj_out.") ||
               k.find(".attn1.") != std::string::npos || k.find(".attn2.") != std::string::npos;
      }))
    return LoraFormat::Diffusers;
  return LoraFormat::WanNative;
}

// A key split into the official module it changes and what it holds.
struct ParsedKey {
  std::string module;  // official: blocks.0.self_attn.q, blocks.0.modulation
  Part part = Part::Down;
  ModuleClass cls = ModuleClass::Unknown;
};

ParsedKey parse_key(const std::string& key, LoraFormat format) {
  ParsedKey parsed;
  const Suffix* suffix = nullptr;
  for (const auto& s : kSuffixes)
    if (ends_with(key, s.text)) suffix = &s;  // no two suffixes end the same key
  if (suffix == nullptr) return parsed;
  parsed.part = suffix->part;
  std::string name = key.substr(0, key.size() - std::string(suffix->text).size());

  switch (format) {
    case LoraFormat::Kohya:
      if (!starts_with(name, "lora_unet_")) return parsed;
      name = strip_prefix(strip_prefix(name, "lora_unet_"), "_");
      name = official_from_kohya(name);
      if (name.empty()) return parsed;
      break;
    case LoraFormat::Diffusers:
      name = strip_prefix(strip_prefix(name, "base_model.model."), "transformer.");
      if (is_diffusers_image_module(name)) {
        parsed.module = name;
        parsed.cls = ModuleClass::Image;
        return parsed;
      }
      name = io::dit_key_from_diffusers(name + ".weight");
      name = name.substr(0, name.size() - std::string(".weight").size());
      break;
    case LoraFormat::WanNative:
      name = strip_prefix(strip_prefix(name, "model.diffusion_model."), "diffusion_model.");
      break;
  }
  if (parsed.part == Part::DiffModulation) name += ".modulation";
  parsed.module = name;
  parsed.cls = classify_official(name);
  // A modulation table (a raw parameter, not a linear) takes only a full diff.
  const bool full_diff = parsed.part == Part::Diff || parsed.part == Part::DiffModulation;
  if (parsed.cls == ModuleClass::DiT && ends_with(name, "modulation") && !full_diff) parsed.cls = ModuleClass::Unknown;
  return parsed;
}

// The keys a module's delta comes from.
struct Group {
  std::map<Part, std::string> keys;
};

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::ostringstream out;
  out << "[";
  for (std::size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << "]";
  return out.str();
}

[[noreturn]] void fail(ErrorCode code, const std::string& path, const std::string& what) {
  throw Error(code, "LoRA " + path + ": " + what);
}

void check_finite(const io::SafetensorsFile& file, const std::string& key) {
  const auto t = file.tensor(key);
  if (!t.is_floating_point()) return;
  if (!at::isfinite(t).all().item<bool>()) fail(ErrorCode::CorruptFile, file.path(), "'" + key + "' holds NaN or Inf");
}

double read_alpha(const io::SafetensorsFile& file, const std::string& key) {
  const auto t = file.tensor(key);
  if (t.numel() != 1)
    fail(ErrorCode::CorruptFile, file.path(),
         "'" + key + "' is not a scalar alpha (shape " + shape_text(file.entry(key).shape) + ")");
  const double alpha = t.to(at::kDouble).item<double>();
  if (!std::isfinite(alpha)) fail(ErrorCode::CorruptFile, file.path(), "'" + key + "' holds NaN or Inf");
  return alpha;
}

// Up, down and alpha of a module, checked; the entries they give.
void add_low_rank(const io::SafetensorsFile& file, const std::string& module, const Group& group,
                  std::vector<LoraEntry>& entries) {
  const auto key_of = [&](Part p) {
    const auto it = group.keys.find(p);
    return it == group.keys.end() ? std::string() : it->second;
  };
  const std::string down = key_of(Part::Down), up = key_of(Part::Up), up_bias = key_of(Part::UpBias),
                    alpha = key_of(Part::Alpha);
  if (down.empty() || up.empty()) {
    const std::string present = !up.empty() ? up : !down.empty() ? down : !up_bias.empty() ? up_bias : alpha;
    const char* missing = down.empty() ? "its lora_down / lora_A weight" : "its lora_up / lora_B weight";
    fail(ErrorCode::NotFound, file.path(), "'" + present + "' (module " + module + ") has no pair: " + missing +
                                               " is missing");
  }
  const auto& down_shape = file.entry(down).shape;
  const auto& up_shape = file.entry(up).shape;
  if (down_shape.size() < 2 || up_shape.size() < 2)
    fail(ErrorCode::ShapeMismatch, file.path(),
         "'" + (down_shape.size() < 2 ? down : up) + "' is not a matrix (shape " +
             shape_text(down_shape.size() < 2 ? down_shape : up_shape) + ")");
  const std::int64_t rank = down_shape[0];
  if (up_shape[1] != rank)
    fail(ErrorCode::ShapeMismatch, file.path(),
         "rank mismatch: '" + down + "' has rank " + std::to_string(rank) + " (shape " + shape_text(down_shape) +
             ") but '" + up + "' has " + std::to_string(up_shape[1]) + " (shape " + shape_text(up_shape) + ")");
  if (!up_bias.empty() && file.entry(up_bias).shape.size() != 1)
    fail(ErrorCode::ShapeMismatch, file.path(),
         "'" + up_bias + "' is not a vector (shape " + shape_text(file.entry(up_bias).shape) + ")");

  LoraEntry entry;
  entry.kind = DeltaKind::LowRank;
  entry.target = module + ".weight";
  entry.rank = rank;
  entry.alpha = alpha.empty() ? static_cast<double>(rank) : read_alpha(file, alpha);
  entry.up_key = up;
  entry.down_key = down;
  entry.alpha_key = alpha;
  entry.up_shape = up_shape;
  entry.down_shape = down_shape;
  for (const auto& key : {up, down}) check_finite(file, key);
  entries.push_back(entry);
  if (!up_bias.empty()) {
    check_finite(file, up_bias);
    entry.kind = DeltaKind::LowRankBias;
    entry.target = module + ".bias";
    entry.up_key = up_bias;
    entry.up_shape = file.entry(up_bias).shape;
    entries.push_back(entry);
  }
}

void add_diff(const io::SafetensorsFile& file, const std::string& key, DeltaKind kind, std::string target,
              std::vector<LoraEntry>& entries) {
  check_finite(file, key);
  LoraEntry entry;
  entry.kind = kind;
  entry.target = std::move(target);
  entry.diff_key = key;
  entry.diff_shape = file.entry(key).shape;
  entries.push_back(entry);
}

std::vector<std::int64_t> without_leading_ones(std::vector<std::int64_t> shape) {
  while (shape.size() > 1 && shape.front() == 1) shape.erase(shape.begin());
  return shape;
}

}  // namespace

const char* to_string(LoraFormat format) {
  switch (format) {
    case LoraFormat::WanNative: return "Wan-native";
    case LoraFormat::Kohya: return "kohya";
    case LoraFormat::Diffusers: return "diffusers";
  }
  return "?";
}

const char* to_string(DeltaKind kind) {
  switch (kind) {
    case DeltaKind::LowRank: return "low-rank";
    case DeltaKind::LowRankBias: return "low-rank bias";
    case DeltaKind::WeightDiff: return "weight diff";
    case DeltaKind::BiasDiff: return "bias diff";
    case DeltaKind::ModulationDiff: return "modulation diff";
  }
  return "?";
}

std::vector<std::string> LoraEntry::source_keys() const {
  std::vector<std::string> keys;
  for (const auto* key : {&up_key, &down_key, &alpha_key, &diff_key})
    if (!key->empty()) keys.push_back(*key);
  return keys;
}

LoraFile read_lora_file(const std::string& path) {
  const io::SafetensorsFile file(path);
  LoraFile lora;
  lora.path = path;
  lora.format = detect_format(file.entries());

  std::map<std::string, Group> groups;  // by official module
  std::vector<std::string> names;
  for (const auto& e : file.entries()) names.push_back(e.name);
  std::sort(names.begin(), names.end());
  for (const auto& key : names) {
    const auto parsed = parse_key(key, lora.format);
    if (parsed.cls == ModuleClass::Image) {
      lora.skipped_image_keys.push_back(key);
    } else if (parsed.cls == ModuleClass::Unknown) {
      lora.unmatched_keys.push_back(key);
    } else {
      auto& slot = groups[parsed.module].keys[parsed.part];
      if (!slot.empty())
        fail(ErrorCode::BadArgument, path, "'" + key + "' and '" + slot + "' give the same delta of " + parsed.module);
      slot = key;
    }
  }
  if (groups.empty()) {
    if (names.empty()) fail(ErrorCode::NotFound, path, "holds no tensors");
    const std::string first = lora.unmatched_keys.empty() ? lora.skipped_image_keys.front() : lora.unmatched_keys.front();
    fail(ErrorCode::NotFound, path,
         "none of its " + std::to_string(names.size()) + " keys maps onto the DiT (read as " +
             to_string(lora.format) + "; first key '" + first + "')");
  }

  for (const auto& [module, group] : groups) {
    const auto has = [&](Part p) { return group.keys.count(p) > 0; };
    if (has(Part::Down) || has(Part::Up) || has(Part::UpBias) || has(Part::Alpha))
      add_low_rank(file, module, group, lora.entries);
    if (has(Part::Diff))
      add_diff(file, group.keys.at(Part::Diff),
               ends_with(module, "modulation") ? DeltaKind::ModulationDiff : DeltaKind::WeightDiff,
               ends_with(module, "modulation") ? module : module + ".weight", lora.entries);
    if (has(Part::DiffModulation))
      add_diff(file, group.keys.at(Part::DiffModulation), DeltaKind::ModulationDiff, module, lora.entries);
    if (has(Part::DiffBias)) add_diff(file, group.keys.at(Part::DiffBias), DeltaKind::BiasDiff, module + ".bias", lora.entries);
  }
  // A modulation table may come both as .diff_m and as modulation.diff.
  std::sort(lora.entries.begin(), lora.entries.end(), [](const LoraEntry& a, const LoraEntry& b) {
    return std::tie(a.target, a.kind) < std::tie(b.target, b.kind);
  });
  for (std::size_t i = 1; i < lora.entries.size(); ++i)
    if (lora.entries[i].target == lora.entries[i - 1].target && lora.entries[i].kind == lora.entries[i - 1].kind)
      fail(ErrorCode::BadArgument, path,
           "'" + lora.entries[i].source_keys().front() + "' and '" + lora.entries[i - 1].source_keys().front() +
               "' give the same delta of " + lora.entries[i].target);

  logger("lora")->debug("{}: {} LoRA, {} deltas, {} image keys skipped, {} keys unmatched", path,
                        to_string(lora.format), lora.entries.size(), lora.skipped_image_keys.size(),
                        lora.unmatched_keys.size());
  return lora;
}

void check_lora_shapes(const LoraFile& lora, const ParameterShapes& parameters) {
  for (const auto& entry : lora.entries) {
    const std::string key = entry.source_keys().front();
    const auto it = parameters.find(entry.target);
    if (it == parameters.end())
      fail(ErrorCode::NotFound, lora.path, "'" + key + "' changes " + entry.target + ", which the model does not have");
    std::vector<std::int64_t> delta;
    switch (entry.kind) {
      case DeltaKind::LowRank:
        // up [out, rank, 1...] · down [rank, in, k...] -> [out, in, k...]
        delta = entry.down_shape;
        delta[0] = entry.up_shape[0];
        if (std::any_of(entry.up_shape.begin() + 2, entry.up_shape.end(), [](std::int64_t d) { return d != 1; }))
          delta.push_back(-1);  // a kernel on the up side: fits nothing
        break;
      case DeltaKind::LowRankBias: delta = entry.up_shape; break;
      default: delta = entry.diff_shape; break;
    }
    if (without_leading_ones(delta) != without_leading_ones(it->second))
      fail(ErrorCode::ShapeMismatch, lora.path,
           "'" + key + "' gives " + entry.target + " a delta of shape " + shape_text(delta) +
               ", the model's parameter has shape " + shape_text(it->second));
  }
}

}  // namespace skyreels::lora
