#pragma once

#include <cstdint>
#include <vector>

#include "pipeline/generation_settings.h"

namespace skyreels::pipeline {

// Where a window's clean prefix latents come from.
enum class PrefixSource {
  None,
  StartImage,  // the start image, VAE-encoded (1 latent)
  Overlap,     // the last overlap_history frames of the output so far, decoded then re-encoded
};

// One denoising window (spec §5.4/§5.5), in latent frames.
struct WindowPlan {
  int index = 0;
  std::int64_t latent_frames = 0;    // denoised window, prefix included, end image excluded
  std::int64_t prefix_latents = 0;   // clean frames at the start of the window
  PrefixSource prefix = PrefixSource::None;
  bool end_image = false;            // an extra clean latent after the window (dropped before decoding)
  std::int64_t pixel_frames_dropped = 0;  // decoded frames not appended (the overlap the prefix repeats)
  int rows = 0;                      // rows of the DF schedule that update at least one frame
  std::int64_t new_pixel_frames() const {
    return (latent_frames == 0 ? 0 : 1 + 4 * (latent_frames - 1)) - pixel_frames_dropped;
  }
};

struct GenerationPlan {
  std::vector<WindowPlan> windows;
  std::int64_t input_pixel_frames = 0;  // frames of a video being extended, at the start of the output
  std::int64_t output_pixel_frames = 0; // input frames + every window's new frames
  int total_rows = 0;
  int model_calls = 0;                  // DiT forwards (a CFG row counts 2, as batch-2 is two calls' work)
};

// The windows the reference runs for these settings (validated first). `input_video_frames` is the
// length of the video to extend (0 otherwise).
GenerationPlan plan_generation(const GenerationSettings& settings, std::int64_t input_video_frames = 0);

// Python's floor division, which the reference's window count relies on for negative numerators.
std::int64_t floor_div(std::int64_t a, std::int64_t b);

}  // namespace skyreels::pipeline
