#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "train/train_config.h"

namespace skyreels::train {

// Training clips of the procedural videos (demo/procedural_video.h), addressed by index: clip i of a
// run is the same whatever batch, step or resumed session asks for it, so data never depends on how a
// run was cut.
struct CaptionedClips {
  at::Tensor video;                   // [B, 3, F, H, W] float32 in [-1, 1], CPU
  std::vector<std::string> captions;  // B captions of the grammar
};

// What share of a run's clips is of each special kind; each share has a random stream of its own, so
// clips outside it are the ones a run without it draws.
struct ClipMix {
  double role_contrast_share = 0;  // scenes from sample_role_contrast_scene instead of sample_scene
  double leaving_share = 0;        // objects that leave the frame (demo::Travel::LeavesFrame)
};

// Clips first .. first + count - 1 of the run with this seed (scenes from sample_scene or, by `mix`,
// sample_role_contrast_scene: never a held-out combination), rendered on all CPU threads.
CaptionedClips render_training_clips(std::uint64_t seed, std::int64_t first, std::int64_t count, std::int64_t frames,
                                     const ClipShape& shape, const ClipMix& mix = {});

// What the tokenizer is trained on: every single-object caption, two-object ones, and the default
// negative prompt (so its characters are pieces, not unknowns: it is one of the unconditional texts).
std::string caption_corpus();

// Trains the run's SentencePiece model on caption_corpus() (unigram, `vocab` pieces at most) into
// dir/spiece.model, unless it is there already, and returns its path.
std::filesystem::path train_caption_tokenizer(const std::filesystem::path& dir, std::int64_t vocab);

// A 64-bit mix of a seed and indices (splitmix64): independent streams per stage, step and clip.
std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t a, std::uint64_t b = 0);

}  // namespace skyreels::train
