#include "pipeline/generation_settings.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <limits>
#include <random>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "sched/flow_timesteps.h"
#include "skyreels/error.h"
#include "skyreels/limits.h"

namespace skyreels {
namespace {

std::string frames_hint(std::int64_t frames) {
  const auto below = frames < 1 ? 1 : 1 + ((frames - 1) / 4) * 4;
  return " (nearest valid counts: " + std::to_string(below) + " or " + std::to_string(below + 4) + ")";
}

// Whether `text` is well-formed UTF-8, as the JSON writer that stores the settings checks it.
bool valid_utf8(const std::string& text) {
  try {
    (void)nlohmann::json(text).dump();
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

std::string text_problem(const std::string& text, const char* what) {
  if (static_cast<std::int64_t>(text.size()) > limits::kMaxPromptBytes)
    return std::string(what) + " is " + std::to_string(text.size()) + " bytes; at most " +
           std::to_string(limits::kMaxPromptBytes) + " (the text encoder reads only its first 512 tokens)";
  if (!valid_utf8(text)) return std::string(what) + " is not valid UTF-8 text";
  return "";
}

std::string strength_text(double strength) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", strength);
  return text;
}

using Problem = SettingsProblem;  // an empty message: no problem

std::string lora_problem(const GenerationSettings& s) {
  using namespace limits;
  if (static_cast<std::int64_t>(s.loras.size()) > kMaxLoras)
    return std::to_string(s.loras.size()) + " LoRAs; at most " + std::to_string(kMaxLoras);
  for (const auto& lora : s.loras) {
    if (lora.path.empty()) return "a LoRA without a file";
    if (auto why = text_problem(lora.path, "a LoRA's path"); !why.empty()) return why;
    if (!std::isfinite(lora.strength) || std::abs(lora.strength) > kMaxLoraStrength)
      return "LoRA " + lora.path + ": strength " + strength_text(lora.strength) + " is not a number between -" +
             strength_text(kMaxLoraStrength) + " and " + strength_text(kMaxLoraStrength);
  }
  return "";
}

// Every number within its bound (limits.h), before any relation between them is checked.
Problem range_problem(const GenerationSettings& s) {
  using namespace limits;
  if (s.height > kMaxSide || s.width > kMaxSide)
    return {"resolution", "resolution " + std::to_string(s.width) + "x" + std::to_string(s.height) +
                              " is too large: at most " + std::to_string(kMaxSide) + " pixels a side"};
  if (s.height > 0 && s.width > 0 && s.height * s.width > kMaxPixelsPerFrame)
    return {"resolution", "resolution " + std::to_string(s.width) + "x" + std::to_string(s.height) +
                              " is too large: at most " + std::to_string(kMaxPixelsPerFrame) + " pixels a frame"};
  if (s.num_frames > kMaxFrames)
    return {"num_frames", "num_frames " + std::to_string(s.num_frames) + " is more than " + std::to_string(kMaxFrames) + " frames"};
  if (s.base_num_frames > kMaxFrames)
    return {"base_num_frames", "base_num_frames " + std::to_string(s.base_num_frames) + " is more than " + std::to_string(kMaxFrames)};
  if (s.overlap_history && *s.overlap_history > kMaxFrames)
    return {"overlap_history", "overlap_history " + std::to_string(*s.overlap_history) + " is more than " + std::to_string(kMaxFrames)};
  if (s.fps > kMaxFps) return {"fps", "fps must be at most " + std::to_string(kMaxFps) + ", not " + std::to_string(s.fps)};
  if (s.steps > kMaxSteps)
    return {"steps", "steps must be between 1 and " + std::to_string(kMaxSteps) + ", not " + std::to_string(s.steps)};
  if (!(s.shift <= kMaxShift)) return {"shift", "shift must be at most " + std::to_string(kMaxShift)};
  if (!(s.guidance_scale <= kMaxGuidance)) return {"guidance_scale", "guidance_scale must be at most " + std::to_string(kMaxGuidance)};
  if (s.ar_step > kMaxArStep) return {"ar_step", "ar_step must be at most " + std::to_string(kMaxArStep)};
  if (s.causal_block_size > kMaxWindowLatents)
    return {"causal_block_size", "causal_block_size must be at most " + std::to_string(kMaxWindowLatents)};
  if (!(s.step_cache_threshold <= kMaxStepCacheThreshold))
    return {"step_cache_threshold", "step_cache_threshold must be at most " + std::to_string(kMaxStepCacheThreshold)};
  if (s.seed > kMaxSeed) return {"seed", "seed must be at most 2^53 - 1 (" + std::to_string(kMaxSeed) + ")"};
  if (auto why = text_problem(s.prompt, "the prompt"); !why.empty()) return {"prompt", why};
  if (auto why = text_problem(s.negative_prompt, "the negative prompt"); !why.empty()) return {"negative_prompt", why};
  return {"loras", lora_problem(s)};
}

// The sampler and its timesteps: an explicit list is for Euler only (FlowUniPC's log-SNR steps are
// undefined at sigma = 1, where such lists start) and sets the step count.
Problem sampler_problem(const GenerationSettings& s) {
  if (s.timestep_list.empty()) return {};
  if (s.sampler != Sampler::Euler)
    return {"timestep_list", "a timestep list needs the euler sampler (unipc takes steps and shift; its steps are "
                             "undefined at timestep 1000)"};
  if (auto why = sched::timestep_list_problem(s.timestep_list); !why.empty()) return {"timestep_list", why};
  if (static_cast<std::size_t>(s.steps) != s.timestep_list.size())
    return {"steps", "steps (" + std::to_string(s.steps) + ") must equal the number of timesteps in the list (" +
                         std::to_string(s.timestep_list.size()) + ")"};
  return {};
}

std::int64_t latents_of(std::int64_t frames) { return (frames - 1) / 4 + 1; }

// A window's latent frames must fit the DiT's RoPE table (limits::kMaxWindowLatents positions): past it
// the forward fails, but only after the first rows have run.
Problem window_problem(const GenerationSettings& s) {
  using namespace limits;
  const bool single = !s.long_mode();
  const auto window = single ? s.num_frames : s.base_num_frames;
  if (latents_of(window) <= kMaxWindowLatents) return {};
  const auto holds = "; one window holds at most " + std::to_string(kMaxWindowLatents) + " latent frames (" +
                     std::to_string(kMaxWindowFrames) + " frames). ";
  if (single)
    return {"num_frames",
            "Frames: " + std::to_string(window) + " frames make a " + std::to_string(latents_of(window)) +
                "-latent window" + holds + "Turn on long video (base frames ≤ " + std::to_string(kMaxWindowFrames) +
                ") or lower the frames.",
            SettingsFix::LongVideo};
  return {"base_num_frames", "Window: base_num_frames " + std::to_string(window) + " make a " +
                                 std::to_string(latents_of(window)) + "-latent window" + holds +
                                 "Lower the window to at most " + std::to_string(kMaxWindowFrames) + " frames."};
}

Problem first_problem(const GenerationSettings& s) {
  if (auto p = range_problem(s); !p.message.empty()) return p;
  if (s.height <= 0 || s.width <= 0 || s.height % 16 != 0 || s.width % 16 != 0)
    return {"resolution", "resolution " + std::to_string(s.width) + "x" + std::to_string(s.height) +
                              " is not possible: width and height must be positive multiples of 16"};
  if (s.num_frames < 1)
    return {"num_frames", "Frames: " + std::to_string(s.num_frames) +
                              " frames is no video; set at least 1 frame (1 + 4k: 1, 5, 9, ...; 97 is 4 s at 24 fps)"};
  if ((s.num_frames - 1) % 4 != 0)
    return {"num_frames", "num_frames " + std::to_string(s.num_frames) + " is not 1 + 4k" + frames_hint(s.num_frames)};
  if (s.steps < 1 || s.steps > 1000) return {"steps", "steps must be between 1 and 1000, not " + std::to_string(s.steps)};
  if (!(s.shift > 0.0)) return {"shift", "shift must be positive"};
  if (auto p = sampler_problem(s); !p.message.empty()) return p;
  if (!(s.guidance_scale >= 0.0)) return {"guidance_scale", "guidance_scale must be zero or positive"};
  if (s.fps < 1) return {"fps", "fps must be at least 1"};
  if (s.ar_step < 0) return {"ar_step", "ar_step must be zero or positive"};
  if (s.causal_block_size < 1) return {"causal_block_size", "causal_block_size must be at least 1"};
  if (s.addnoise_condition < 0 || s.addnoise_condition >= 1000)
    return {"addnoise_condition", "addnoise_condition must be in 0..999"};
  if (s.cfg_skip_last_steps < 0 || s.cfg_skip_last_steps > s.steps)
    return {"cfg_skip_last_steps", "cfg_skip_last_steps must be between 0 and steps (" + std::to_string(s.steps) +
                                       "), not " + std::to_string(s.cfg_skip_last_steps)};
  if (!(s.step_cache_threshold >= 0.0) || !std::isfinite(s.step_cache_threshold))
    return {"step_cache_threshold", "step_cache_threshold must be zero (off) or a positive number"};
  if (s.vram_budget_gib && !(*s.vram_budget_gib > 0.0 && *s.vram_budget_gib <= limits::kMaxVramBudgetGib))
    return {"vram_budget_gib", "vram_budget_gib must be a positive number of GiB, at most " +
                                   std::to_string(static_cast<int>(limits::kMaxVramBudgetGib)) +
                                   " (unset: what the card has free)"};
  if (s.has_start_image && s.extends_video)
    return {"inputs", "a start image and a video to extend cannot be used together"};
  const auto cbs = s.causal_block_size;
  const auto cbs_text = std::to_string(cbs);
  if ((s.has_start_image || s.has_end_image) && cbs > 1)
    return {"causal_block_size",
            std::string(s.has_start_image ? "a start image" : "an end image") +
                " needs causal_block_size 1 (the image is one latent frame; the reference drops it with "
                "causal_block_size " + cbs_text + ")",
            SettingsFix::CausalBlockSizeOne};
  if (s.extends_video && !s.overlap_history)
    return {"overlap_history", "extending a video needs overlap_history (the frames of the video the new frames continue from)"};

  if (!s.long_mode()) {
    const auto latents = s.latent_frames();
    if (latents % cbs != 0)
      return {"num_frames",
              "num_frames " + std::to_string(s.num_frames) + " gives " + std::to_string(latents) +
                  " latent frames, not a multiple of causal_block_size " + cbs_text +
                  " (frames = 1 + 4 * latents; e.g. " + std::to_string(1 + 4 * ((latents / cbs) * cbs - 1)) + " or " +
                  std::to_string(1 + 4 * ((latents / cbs + 1) * cbs - 1)) + ")",
              SettingsFix::CausalBlockSizeOne};
    if (s.has_start_image && latents < 2) return {"num_frames", "num_frames must be at least 5 with a start image"};
    return window_problem(s);
  }

  // Long video: windows of B latents overlapping by O latents.
  if (s.base_num_frames < 1 || (s.base_num_frames - 1) % 4 != 0)
    return {"base_num_frames",
            "base_num_frames " + std::to_string(s.base_num_frames) + " is not 1 + 4k" + frames_hint(s.base_num_frames)};
  const auto overlap = *s.overlap_history;
  if (overlap < 1 || (overlap - 1) % 4 != 0)
    return {"overlap_history", "overlap_history " + std::to_string(overlap) + " is not 1 + 4k" + frames_hint(overlap)};
  if (overlap >= s.base_num_frames)
    return {"overlap_history", "overlap_history (" + std::to_string(overlap) + ") must be smaller than base_num_frames (" +
                                   std::to_string(s.base_num_frames) + "): each window must add new frames"};
  const auto base_latents = latents_of(s.base_num_frames);
  const auto overlap_latents = latents_of(overlap);
  if (base_latents % cbs != 0)
    return {"base_num_frames", "base_num_frames " + std::to_string(s.base_num_frames) + " gives " +
                                   std::to_string(base_latents) + " latent frames, not a multiple of causal_block_size " +
                                   cbs_text,
            SettingsFix::CausalBlockSizeOne};
  if (overlap_latents % cbs != 0)
    return {"overlap_history", "overlap_history " + std::to_string(overlap) + " gives " + std::to_string(overlap_latents) +
                                   " latent frames, not a multiple of causal_block_size " + cbs_text +
                                   " (the reference would truncate the overlap)",
            SettingsFix::CausalBlockSizeOne};
  if (s.latent_frames() % cbs != 0 || (s.latent_frames() - overlap_latents) % cbs != 0)
    return {"num_frames", "num_frames " + std::to_string(s.num_frames) + " leaves a last window that is not a multiple of "
                          "causal_block_size " + cbs_text + " latent frames",
            SettingsFix::CausalBlockSizeOne};
  return window_problem(s);
}

}  // namespace

const char* sampler_name(Sampler sampler) { return sampler == Sampler::Euler ? "euler" : "unipc"; }

bool parse_sampler(const std::string& text, Sampler& sampler) {
  for (const auto candidate : {Sampler::UniPC, Sampler::Euler})
    if (text == sampler_name(candidate)) {
      sampler = candidate;
      return true;
    }
  return false;
}

void apply_few_step_preset(GenerationSettings& s) {
  s.sampler = Sampler::Euler;
  s.timestep_list.assign(std::begin(kFewStepTimesteps), std::end(kFewStepTimesteps));
  s.steps = static_cast<int>(s.timestep_list.size());
  s.shift = kFewStepShift;
  s.guidance_scale = 1.0;
  s.cfg_skip_last_steps = 0;  // nothing to skip without guidance (and it must stay <= steps)
}

std::uint64_t draw_seed() {
  std::random_device device;
  return (static_cast<std::uint64_t>(device()) << 32 | device()) & ((std::uint64_t{1} << 53) - 1);
}

bool GenerationSettings::long_mode() const {
  return extends_video || (overlap_history.has_value() && num_frames > base_num_frames);
}

std::vector<SettingsProblem> check_settings(const GenerationSettings& s) {
  auto problem = first_problem(s);
  if (problem.message.empty()) return {};
  return {std::move(problem)};
}

std::string validate(const GenerationSettings& s) { return first_problem(s).message; }

const char* fix_label(SettingsFix fix) {
  switch (fix) {
    case SettingsFix::None: return "";
    case SettingsFix::LongVideo: return "Turn on long video";
    case SettingsFix::CausalBlockSizeOne: return "Set causal block size to 1";
  }
  return "";
}

GenerationSettings apply_fix(GenerationSettings s, SettingsFix fix) {
  switch (fix) {
    case SettingsFix::None: break;
    case SettingsFix::LongVideo: {
      // The reference's long-video windows (97 frames sharing 17), in whole causal blocks.
      const std::int64_t cbs = std::max(1, s.causal_block_size);
      const auto overlap_latents = std::max<std::int64_t>(1, latents_of(17) / cbs) * cbs;
      const auto base_latents = std::max<std::int64_t>(overlap_latents / cbs + 1, latents_of(97) / cbs) * cbs;
      s.base_num_frames = 1 + 4 * (base_latents - 1);
      s.overlap_history = 1 + 4 * (overlap_latents - 1);
      break;
    }
    case SettingsFix::CausalBlockSizeOne: s.causal_block_size = 1; break;
  }
  return s;
}

std::int64_t snap_frames(std::int64_t frames, int causal_block_size) {
  const std::int64_t cbs = std::max(1, causal_block_size);
  // latents = 1 + (frames - 1) / 4, rounded to the nearest multiple of cbs (at least one block). A count
  // within limits::kMaxFrames stays within it (rounding up past it would turn a valid request into one
  // validate() rejects); one beyond it stays beyond, so validate() says so rather than it being shortened.
  const double latents = 1.0 + static_cast<double>(std::max<std::int64_t>(frames, 1) - 1) / 4.0;
  auto blocks = std::max<std::int64_t>(1, std::llround(latents / static_cast<double>(cbs)));
  if (frames <= limits::kMaxFrames) blocks = std::min(blocks, std::max<std::int64_t>(1, latents_of(limits::kMaxFrames) / cbs));
  return 1 + 4 * (blocks * cbs - 1);
}

std::int64_t frames_for_seconds(double seconds, int fps, int causal_block_size) {
  const auto frames = std::llround(std::max(0.0, seconds) * std::max(1, fps));
  return snap_frames(std::max<std::int64_t>(frames, 1), causal_block_size);
}

bool parse_resolution(const std::string& text, std::int64_t& height, std::int64_t& width) {
  struct Preset {
    const char* name;
    std::int64_t height, width;
  };
  static const Preset presets[] = {
      {"540p", 544, 960}, {"720p", 720, 1280}, {"540p-portrait", 960, 544}, {"720p-portrait", 1280, 720}};
  for (const auto& p : presets) {
    if (text == p.name) {
      height = p.height;
      width = p.width;
      return true;
    }
  }
  long long w = 0, h = 0;
  char x = 0;
  char rest = 0;
  if (std::sscanf(text.c_str(), "%lld%c%lld%c", &w, &x, &h, &rest) == 3 && (x == 'x' || x == 'X') && w > 0 && h > 0) {
    height = h;
    width = w;
    return true;
  }
  return false;
}

void require_valid(const GenerationSettings& settings) {
  const auto why = validate(settings);
  if (!why.empty()) throw Error(ErrorCode::BadArgument, why);
}

nlohmann::json to_json(const GenerationSettings& s) {
  nlohmann::json j = {
      {"prompt", s.prompt},
      {"negative_prompt", s.negative_prompt},
      {"height", s.height},
      {"width", s.width},
      {"num_frames", s.num_frames},
      {"steps", s.steps},
      {"shift", s.shift},
      {"guidance_scale", s.guidance_scale},
      {"sampler", sampler_name(s.sampler)},
      {"timestep_list", s.timestep_list},
      {"fps", s.fps},
      {"seed", s.seed},
      {"ar_step", s.ar_step},
      {"causal_block_size", s.causal_block_size},
      {"causal_attention", s.causal_attention},
      {"base_num_frames", s.base_num_frames},
      {"overlap_history", s.overlap_history ? nlohmann::json(*s.overlap_history) : nlohmann::json(nullptr)},
      {"addnoise_condition", s.addnoise_condition},
      {"has_start_image", s.has_start_image},
      {"has_end_image", s.has_end_image},
      {"extends_video", s.extends_video},
      {"fp8", s.fp8},
      {"cfg_skip_last_steps", s.cfg_skip_last_steps},
      {"step_cache_threshold", s.step_cache_threshold},
      {"int8_attention", s.int8_attention},
      {"vram_budget_gib", s.vram_budget_gib ? nlohmann::json(*s.vram_budget_gib) : nlohmann::json(nullptr)},
      {"loras", nlohmann::json::array()},
  };
  for (const auto& lora : s.loras) {
    nlohmann::json l = {{"path", lora.path}, {"strength", lora.strength}};
    if (!lora.name.empty()) l["name"] = lora.name;
    if (lora.size >= 0) l["size"] = lora.size;
    if (!lora.hash.empty()) l["hash"] = lora.hash;
    j["loras"].push_back(l);
  }
  return j;
}

namespace {

[[noreturn]] void wrong_value(const char* key, const std::string& why) {
  throw Error(ErrorCode::BadArgument, std::string("generation settings: \"") + key + "\" " + why);
}

// One value, checked before it is converted: a whole number that fits T for integers (never a
// fraction, 1e30 or a negative seed), a finite number for doubles. Missing or null keeps `out`.
template <typename T>
void read(const nlohmann::json& j, const char* key, T& out) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;
  const auto& v = *it;
  if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_boolean()) wrong_value(key, std::string("must be true or false, not ") + v.type_name());
    out = v.get<bool>();
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!v.is_string()) wrong_value(key, std::string("must be text, not ") + v.type_name());
    out = v.get<std::string>();
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!v.is_number()) wrong_value(key, std::string("must be a number, not ") + v.type_name());
    const double d = v.get<double>();
    if (!std::isfinite(d)) wrong_value(key, "must be a finite number");
    out = static_cast<T>(d);
  } else {
    static_assert(std::is_integral_v<T>);
    const auto range = " (" + std::to_string(std::numeric_limits<T>::min()) + ".." +
                       std::to_string(std::numeric_limits<T>::max()) + ")";
    if (v.is_number_unsigned()) {
      const auto u = v.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(std::numeric_limits<T>::max())) wrong_value(key, "is out of range" + range);
      out = static_cast<T>(u);
    } else if (v.is_number_integer()) {
      const auto i = v.get<std::int64_t>();
      if (i < 0 && std::is_unsigned_v<T>) wrong_value(key, "must not be negative");
      if constexpr (std::is_signed_v<T>)
        if (i < static_cast<std::int64_t>(std::numeric_limits<T>::min()) ||
            i > static_cast<std::int64_t>(std::numeric_limits<T>::max()))
          wrong_value(key, "is out of range" + range);
      out = static_cast<T>(i);
    } else {
      wrong_value(key, std::string("must be a whole number, not ") + (v.is_number() ? "a fraction" : v.type_name()));
    }
  }
}

// "loras": a list of {path, strength, name, size, hash}; present, it replaces the list (an empty one
// removes the base's LoRAs).
void read_loras(const nlohmann::json& j, std::vector<LoraSetting>& out) {
  const auto it = j.find("loras");
  if (it == j.end() || it->is_null()) return;
  if (!it->is_array()) wrong_value("loras", std::string("must be a list, not ") + it->type_name());
  if (it->size() > static_cast<std::size_t>(limits::kMaxLoras))
    wrong_value("loras", "has " + std::to_string(it->size()) + " entries; at most " + std::to_string(limits::kMaxLoras));
  std::vector<LoraSetting> loras;
  for (std::size_t i = 0; i < it->size(); ++i) {
    const auto& item = (*it)[i];
    const auto key = "loras[" + std::to_string(i) + "]";
    if (!item.is_object()) wrong_value(key.c_str(), std::string("must be an object, not ") + item.type_name());
    if (!item.contains("path") || !item["path"].is_string())
      wrong_value(key.c_str(), "needs \"path\", the LoRA's file");
    LoraSetting lora;
    try {
      read(item, "path", lora.path);
      read(item, "strength", lora.strength);
      read(item, "name", lora.name);
      read(item, "size", lora.size);
      read(item, "hash", lora.hash);
    } catch (const Error& e) {
      throw Error(e.code(), std::string(e.what()) + " (in " + key + ")");
    }
    loras.push_back(lora);
  }
  out = std::move(loras);
}

// "sampler": "unipc" or "euler".
void read_sampler(const nlohmann::json& j, Sampler& out) {
  std::string text;
  read(j, "sampler", text);
  if (!text.empty() && !parse_sampler(text, out)) wrong_value("sampler", "must be \"unipc\" or \"euler\", not \"" + text + "\"");
}

// "timestep_list": whole numbers; present, it replaces the list (an empty one: steps from the formula).
// Their range and order are validate()'s.
void read_timestep_list(const nlohmann::json& j, std::vector<int>& out) {
  const auto it = j.find("timestep_list");
  if (it == j.end() || it->is_null()) return;
  if (!it->is_array()) wrong_value("timestep_list", std::string("must be a list, not ") + it->type_name());
  if (it->size() > static_cast<std::size_t>(limits::kMaxSteps))
    wrong_value("timestep_list", "has " + std::to_string(it->size()) + " entries; at most " +
                                     std::to_string(limits::kMaxSteps));
  std::vector<int> list;
  for (std::size_t i = 0; i < it->size(); ++i) {
    const auto& v = (*it)[i];
    const auto key = "timestep_list[" + std::to_string(i) + "]";
    // Whole numbers only; anything beyond 1..1000 is rejected by validate() with the reason.
    if (!v.is_number_integer()) wrong_value(key.c_str(), std::string("must be a whole number, not ") + v.type_name());
    // (Clamped far outside that range, so the message still shows the sign and that it is too large.)
    constexpr std::int64_t kFar = std::int64_t{1} << 30;
    const auto t = v.is_number_unsigned() ? static_cast<std::int64_t>(std::min<std::uint64_t>(v.get<std::uint64_t>(), kFar))
                                          : std::clamp<std::int64_t>(v.get<std::int64_t>(), -kFar, kFar);
    list.push_back(static_cast<int>(t));
  }
  out = std::move(list);
}

}  // namespace

GenerationSettings settings_from_json(const nlohmann::json& j, GenerationSettings s) {
  if (!j.is_object()) throw Error(ErrorCode::BadArgument, "generation settings must be a JSON object");
  read(j, "prompt", s.prompt);
  read(j, "negative_prompt", s.negative_prompt);
  read(j, "height", s.height);
  read(j, "width", s.width);
  read(j, "num_frames", s.num_frames);
  read(j, "steps", s.steps);
  read(j, "shift", s.shift);
  read(j, "guidance_scale", s.guidance_scale);
  read_sampler(j, s.sampler);
  read_timestep_list(j, s.timestep_list);
  read(j, "fps", s.fps);
  read(j, "seed", s.seed);
  read(j, "ar_step", s.ar_step);
  read(j, "causal_block_size", s.causal_block_size);
  read(j, "causal_attention", s.causal_attention);
  read(j, "base_num_frames", s.base_num_frames);
  std::int64_t overlap = 0;
  if (j.contains("overlap_history") && !j["overlap_history"].is_null()) {
    read(j, "overlap_history", overlap);
    s.overlap_history = overlap;
  }
  read(j, "addnoise_condition", s.addnoise_condition);
  read(j, "has_start_image", s.has_start_image);
  read(j, "has_end_image", s.has_end_image);
  read(j, "extends_video", s.extends_video);
  read(j, "fp8", s.fp8);
  read(j, "cfg_skip_last_steps", s.cfg_skip_last_steps);
  read(j, "step_cache_threshold", s.step_cache_threshold);
  read(j, "int8_attention", s.int8_attention);
  if (j.contains("vram_budget_gib") && !j["vram_budget_gib"].is_null()) {
    double budget = 0;
    read(j, "vram_budget_gib", budget);
    s.vram_budget_gib = budget;
  }
  read_loras(j, s.loras);
  return s;
}

}  // namespace skyreels
