// The DiT's training clips: the role-contrast and leaving shares change their own share of a run's
// clips and leave the others as they were.

#include <random>
#include <string>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "demo/procedural_video.h"
#include "train/clip_data.h"

using namespace skyreels;


TEST(ClipData, TheRoleContrastShareReplacesOnlyItsShareOfTheScenes) {
  const train::ClipShape shape{32, 32};
  constexpr std::int64_t kClips = 48;
  const auto plain = train::render_training_clips(11, 0, kClips, 1, shape);
  const auto mixed = train::render_training_clips(11, 0, kClips, 1, shape, {0.5});
  const auto all = train::render_training_clips(11, 0, kClips, 1, shape, {1.0});

  int replaced = 0;
  for (std::int64_t i = 0; i < kClips; ++i) {
    // Without the share, clip i is sample_scene's draw from the clip's own stream.
    std::mt19937_64 rng(train::mix_seed(11, static_cast<std::uint64_t>(i), 1));
    EXPECT_EQ(plain.captions[i], demo::caption(demo::sample_scene(rng)));
    EXPECT_TRUE(demo::is_role_contrast(*demo::parse_caption(all.captions[i]))) << all.captions[i];
    EXPECT_FALSE(demo::is_held_out(*demo::parse_caption(all.captions[i]))) << all.captions[i];
    if (mixed.captions[i] != plain.captions[i]) {
      ++replaced;
      EXPECT_EQ(mixed.captions[i], all.captions[i]);  // the same draw as at share 1
    }
  }
  EXPECT_GT(replaced, kClips / 4);
  EXPECT_LT(replaced, kClips * 3 / 4);
}

TEST(ClipData, TheLeavingShareChangesOnlyItsShareOfThePathsAndNoCaption) {
  const train::ClipShape shape{32, 32};
  constexpr std::int64_t kClips = 32, kFrames = 5;
  const auto plain = train::render_training_clips(12, 0, kClips, kFrames, shape, {0.25, 0.0});
  const auto mixed = train::render_training_clips(12, 0, kClips, kFrames, shape, {0.25, 0.5});
  const auto all = train::render_training_clips(12, 0, kClips, kFrames, shape, {0.25, 1.0});
  int leaving = 0;
  for (std::int64_t i = 0; i < kClips; ++i) {
    EXPECT_EQ(mixed.captions[i], plain.captions[i]);
    EXPECT_EQ(all.captions[i], plain.captions[i]);
    EXPECT_FALSE(at::equal(all.video[i], plain.video[i])) << i;  // a leaving path is another path
    if (at::equal(mixed.video[i], plain.video[i])) continue;
    ++leaving;
    EXPECT_TRUE(at::equal(mixed.video[i], all.video[i])) << i;  // the same leaving path as at share 1
  }
  EXPECT_GT(leaving, kClips / 4);
  EXPECT_LT(leaving, kClips * 3 / 4);
}
