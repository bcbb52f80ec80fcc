#include "train/clip_data.h"

#include <random>
#include <sstream>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "demo/procedural_video.h"
#include "pipeline/demo_model.h"
#include "pipeline/generation_settings.h"

namespace skyreels::train {

std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t a, std::uint64_t b) {
  auto next = [](std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
  };
  return next(next(next(seed) ^ a) ^ b);
}

CaptionedClips render_training_clips(std::uint64_t seed, std::int64_t first, std::int64_t count, std::int64_t frames,
                                     const ClipShape& shape, const ClipMix& mix) {
  CaptionedClips clips;
  clips.video = at::empty({count, 3, frames, shape.height, shape.width}, at::kFloat);
  std::vector<demo::Scene> scenes;
  std::vector<demo::Travel> travels;
  for (std::int64_t i = 0; i < count; ++i) {
    const auto clip = static_cast<std::uint64_t>(first + i);
    std::mt19937_64 rng(mix_seed(seed, clip, 1));
    std::mt19937_64 contrast_rng(mix_seed(seed, clip, 3));
    std::mt19937_64 leaving_rng(mix_seed(seed, clip, 4));
    const bool contrast = demo::uniform01(contrast_rng) < mix.role_contrast_share;
    const bool leaving = demo::uniform01(leaving_rng) < mix.leaving_share;
    scenes.push_back(contrast ? demo::sample_role_contrast_scene(rng) : demo::sample_scene(rng));
    travels.push_back(leaving ? demo::Travel::LeavesFrame : demo::Travel::InFrame);
    clips.captions.push_back(demo::caption(scenes.back()));
  }
  at::parallel_for(0, count, 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      const auto k = static_cast<std::size_t>(i);
      clips.video[i].copy_(demo::render(scenes[k], frames, shape.height, shape.width,
                                        mix_seed(seed, static_cast<std::uint64_t>(first + i), 2), travels[k]));
    }
  });
  return clips;
}

std::string caption_corpus() {
  std::ostringstream out;
  for (auto colour : demo::kColours)
    for (auto shape : demo::kShapes)
      for (auto motion : demo::kMotions)
        for (auto background : demo::kBackgrounds)
          out << demo::caption(demo::Scene{{demo::SceneObject{shape, colour, motion}}, background}) << "\n";
  std::mt19937_64 rng(7);
  for (int i = 0; i < 400; ++i) out << demo::caption(demo::sample_scene(rng, 1.0)) << "\n";
  for (int i = 0; i < 20; ++i) out << pipeline::kDefaultNegativePrompt << "\n";
  return out.str();
}

std::filesystem::path train_caption_tokenizer(const std::filesystem::path& dir, std::int64_t vocab) {
  const auto model = dir / "spiece.model";
  if (std::filesystem::exists(model)) return model;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  return pipeline::train_t5_tokenizer(dir, caption_corpus(), vocab);
}

}  // namespace skyreels::train
