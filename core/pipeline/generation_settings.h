#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace skyreels::pipeline {

// Every knob of one diffusion-forcing generation (names as the reference's generate_video_df.py).
// Frame counts are pixel frames; the engine works in latent frames: latents = (frames - 1) / 4 + 1.
struct GenerationSettings {
  std::int64_t height = 544, width = 960;  // multiples of 16 (540P; 720P is 720 x 1280)
  std::int64_t num_frames = 97;            // 1 + 4k
  int steps = 30;
  double shift = 8.0;
  double guidance_scale = 6.0;             // classifier-free guidance is on when > 1
  int fps = 24;                            // output rate; the 1.3B model's fps embedding: 16 -> 0, else 1
  std::uint64_t seed = 0;

  // Diffusion forcing: ar_step 0 = synchronous; > 0 = each causal block starts ar_step rows after
  // the previous one.
  int ar_step = 0;
  int causal_block_size = 1;

  // Long video: windows of base_num_frames sharing overlap_history frames (none = one window).
  std::int64_t base_num_frames = 97;
  std::optional<std::int64_t> overlap_history;
  int addnoise_condition = 0;  // noise (x 0.001) added to the clean prefix on every row; 20 is typical

  // Conditioning inputs are passed as tensors (GenerationInputs); these say which are expected.
  bool has_start_image = false;
  bool has_end_image = false;
  bool extends_video = false;

  std::int64_t latent_frames() const { return (num_frames - 1) / 4 + 1; }
  bool guidance_enabled() const { return guidance_scale > 1.0; }
  int fps_index() const { return fps == 16 ? 0 : 1; }
  bool long_mode() const;  // windows of base_num_frames (or a video to extend)
};

// Why the settings cannot be generated, or an empty string. Checked before any heavy work.
// Where the reference silently mangles a setting (spec §5.3/§5.4) it is rejected here with the
// reason, rather than reproduced:
//  - frames not 1 + 4k (the reference rounds down), latent frames or windows not a multiple of
//    causal_block_size (the reference drops trailing frames or fails in the forward);
//  - a start or end image with causal_block_size > 1 (the reference drops the image, or with an end
//    image denoises nothing);
//  - an overlap whose latents are not a multiple of causal_block_size (the reference truncates it);
//  - overlap_history >= base_num_frames (the reference never ends).
std::string validate(const GenerationSettings& settings);
// Throws skyreels::Error(BadArgument) with validate()'s text.
void require_valid(const GenerationSettings& settings);

nlohmann::json to_json(const GenerationSettings& settings);
// Unknown keys are ignored and missing ones keep their defaults (files written by other versions);
// wrongly typed values are an error naming the key.
GenerationSettings settings_from_json(const nlohmann::json& json);

}  // namespace skyreels::pipeline
