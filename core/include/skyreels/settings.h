#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace skyreels {

// The reference's default negative prompt (Wan's sample_neg_prompt).
inline constexpr const char* kDefaultNegativePrompt =
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，JPEG压缩残留，"
    "丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，静止不动的画面，"
    "杂乱的背景，三条腿，背景人很多，倒着走";

// A LoRA merged into the DiT for a generation (any of the formats core/lora reads), and the file as the
// job saw it. A job records name, size and hash when it starts; settings restored from a video carry
// them, and a file that is missing or has changed since is then an error naming it.
struct LoraSetting {
  std::string path;        // a .safetensors file
  double strength = 1.0;   // scales its delta (0: no change; negative: subtracts it)
  std::string name;        // the file's name, for a person reading the metadata
  std::int64_t size = -1;  // bytes; -1: not recorded yet
  std::string hash;        // content hash (16 hex digits); empty: not recorded yet

  bool recorded() const { return size >= 0 && !hash.empty(); }
};

// The flow-matching solver of the denoising loop. UniPC is the reference's (FlowUniPC, 2nd order);
// Euler is what step-distilled models and LoRAs (CausVid, lightx2v) are sampled with, in 4 to 8 steps.
enum class Sampler { UniPC, Euler };
// "unipc" / "euler", as the settings JSON and the command line spell them.
const char* sampler_name(Sampler sampler);
// False for any other text.
bool parse_sampler(const std::string& text, Sampler& sampler);

// Every knob of one diffusion-forcing generation (names as the reference's generate_video_df.py).
// Frame counts are pixel frames; the engine works in latent frames: latents = (frames - 1) / 4 + 1.
struct GenerationSettings {
  // What to show. The engine itself takes embeddings (TextEncoder); the text travels with the settings
  // so a produced video's metadata can restore them.
  std::string prompt;
  std::string negative_prompt = kDefaultNegativePrompt;

  std::int64_t height = 544, width = 960;  // multiples of 16 (540P; 720P is 720 x 1280)
  std::int64_t num_frames = 97;            // 1 + 4k
  int steps = 30;
  double shift = 8.0;
  double guidance_scale = 6.0;             // classifier-free guidance is on when > 1 (else one DiT call
                                           // per row and the negative prompt is not encoded)
  Sampler sampler = Sampler::UniPC;
  // Explicit timesteps (Euler only), e.g. 1000 750 500 250 for a 4-step distillation: unshifted levels
  // in 1..1000, strictly decreasing, shifted by `shift` (sched/flow_timesteps.h); `steps` must equal
  // their count. Empty: `steps` levels from the reference's formula.
  std::vector<int> timestep_list;
  int fps = 24;                            // output rate; the 1.3B model's fps embedding: 16 -> 0, else 1
  std::uint64_t seed = 0;

  // Diffusion forcing: ar_step 0 = synchronous; > 0 = each causal block starts ar_step rows after
  // the previous one.
  int ar_step = 0;
  int causal_block_size = 1;
  // Block-causal self-attention (the reference's --causal_attention): a frame attends only to frames of
  // its own and earlier causal blocks, in every DiT call. For models trained with it; the released
  // SkyReels-V2 models were not.
  bool causal_attention = false;

  // Long video: windows of base_num_frames sharing overlap_history frames (none = one window).
  std::int64_t base_num_frames = 97;
  std::optional<std::int64_t> overlap_history;
  int addnoise_condition = 0;  // noise (x 0.001) added to the clean prefix on every row; 20 is typical

  // Opt-in fast modes; all off is the exact path. Each changes the video by a measured amount
  // (docs/performance.md).
  bool fp8 = false;               // float8 weights and GEMMs in the DiT's blocks (CUDA, compute 8.9+)
  int cfg_skip_last_steps = 0;    // a row whose updated frames are all in their last k steps skips the
                                  // unconditional call and uses the conditional prediction alone
  double step_cache_threshold = 0;  // > 0: rows reuse the blocks' last residual while the accumulated
                                    // change of the updated frames' time embedding stays below this
  bool int8_attention = false;    // self-attention with INT8 Q·K, P·V in bf16 (kernels/quantized_attention.h)

  // GPU memory the job may use, GiB (issue 24). Unset: what the card has free when the job starts. The
  // engine plans where the models live under it (pipeline/memory_plan.h); on the CPU the plan is only shown.
  std::optional<double> vram_budget_gib;

  // LoRAs merged into the DiT, in this order (their deltas add).
  std::vector<LoraSetting> loras;

  // Conditioning inputs are passed as tensors (GenerationInputs); these say which are expected.
  bool has_start_image = false;
  bool has_end_image = false;
  bool extends_video = false;

  std::int64_t latent_frames() const { return (num_frames - 1) / 4 + 1; }
  bool guidance_enabled() const { return guidance_scale > 1.0; }
  int fps_index() const { return fps == 16 ? 0 : 1; }
  bool long_mode() const;  // windows of base_num_frames (or a video to extend)
  bool exact() const { return !fp8 && cfg_skip_last_steps == 0 && step_cache_threshold == 0 && !int8_attention; }
};

// The few-step preset, what the step-distillation LoRAs and models (lightx2v, CausVid) are made for:
// the Euler sampler on the timesteps 1000 750 500 250 at shift 5, guidance 1 (one DiT call per row, no
// negative prompt). Everything else is kept.
void apply_few_step_preset(GenerationSettings& settings);
inline constexpr int kFewStepTimesteps[] = {1000, 750, 500, 250};
inline constexpr double kFewStepShift = 5.0;

// Why the settings cannot be generated, or an empty string. Checked before any heavy work.
// Where the reference silently mangles a setting (spec §5.3/§5.4) it is rejected here with the
// reason, rather than reproduced:
//  - frames not 1 + 4k (the reference rounds down), latent frames or windows not a multiple of
//    causal_block_size (the reference drops trailing frames or fails in the forward);
//  - a start or end image with causal_block_size > 1 (the reference drops the image, or with an end
//    image denoises nothing);
//  - an overlap whose latents are not a multiple of causal_block_size (the reference truncates it);
//  - overlap_history >= base_num_frames (the reference never ends);
//  - frames 0 or fewer, and a window of more latent frames than the DiT's RoPE table has positions
//    (limits::kMaxWindowLatents; the forward would fail only after the first rows).
// LoRAs: at most limits::kMaxLoras, each with a path and a finite strength within ±limits::kMaxLoraStrength
// (whether the files exist and still are what was recorded is checked when a job starts).
// vram_budget_gib, when set: positive, finite and at most limits::kMaxVramBudgetGib.
std::string validate(const GenerationSettings& settings);

// A one-step change that makes a rejected setting valid, for a front end to offer as a button.
enum class SettingsFix {
  None,
  LongVideo,             // windows of base frames sharing an overlap (when one window cannot hold the frames)
  CausalBlockSizeOne,    // causal_block_size 1 (images are one latent frame)
};
// What is wrong, and where: `field` is the settings JSON key ("num_frames", "causal_block_size",
// "base_num_frames", ...; "inputs" for the start/end image and video to extend), so a front end can show
// the message next to its own field for it.
struct SettingsProblem {
  std::string field;
  std::string message;  // validate()'s text
  SettingsFix fix = SettingsFix::None;
};
// validate() with the field named: empty when the settings are valid, else the first problem found
// (checks stop there, as later ones depend on the earlier values).
std::vector<SettingsProblem> check_settings(const GenerationSettings& settings);
// The settings with `fix` applied (unchanged for SettingsFix::None).
GenerationSettings apply_fix(GenerationSettings settings, SettingsFix fix);
// What a button offering `fix` says ("Turn on long video"); empty for None.
const char* fix_label(SettingsFix fix);
// Throws skyreels::Error(BadArgument) with validate()'s text.
void require_valid(const GenerationSettings& settings);

// The valid frame count (1 + 4k, latents a multiple of causal_block_size) nearest to `seconds` of video
// at `fps`; at least one block.
std::int64_t frames_for_seconds(double seconds, int fps, int causal_block_size = 1);
// The nearest valid frame count to `frames` (as frames_for_seconds), at most limits::kMaxFrames.
std::int64_t snap_frames(std::int64_t frames, int causal_block_size = 1);

// Named output sizes: "540p" (544 x 960, the 540P models' size), "720p" (720 x 1280), their portrait
// forms "540p-portrait" / "720p-portrait", and "WxH". False for anything else.
bool parse_resolution(const std::string& text, std::int64_t& height, std::int64_t& width);

// A fresh random seed, the one rule every front end uses: 53 bits, so the value survives any JSON reader
// (doubles hold integers exactly up to 2^53).
std::uint64_t draw_seed();

nlohmann::json to_json(const GenerationSettings& settings);
// The settings a JSON object states, on top of `base`: keys it has replace base's values, missing (or
// null) ones keep them, unknown keys are ignored (files written by other versions). Every value is
// checked before it is converted (a whole number within its type for integers, a finite number for
// reals); a wrong one is an Error(BadArgument) naming the key. Ranges are validate()'s.
GenerationSettings settings_from_json(const nlohmann::json& json, GenerationSettings base = {});

}  // namespace skyreels
