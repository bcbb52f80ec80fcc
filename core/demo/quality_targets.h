#pragma once

#include <cstddef>

namespace skyreels::demo {

// Issue 22's quality bar for the trained demo model, the one place these numbers live: the quality
// tests (tests/quality), the adherence evaluation (adherence_eval.h) and `skyreels-bench adherence`
// read them from here.

// Fractions of the held-out prompts (procedural_video.h, held_out_combinations) whose generated video
// the detector (video_scorer.h) scores right, per check; text-to-video, in sync and in async mode.
inline constexpr double kTargetColourRate = 0.90;
inline constexpr double kTargetBackgroundRate = 0.90;
inline constexpr double kTargetMotionRate = 0.80;
inline constexpr double kTargetShapeRate = 0.70;
// At least this many held-out prompts are scored for a rate to count.
inline constexpr std::size_t kTargetMinPrompts = 24;

// Image-to-video: the generated first frame against the given image, in dB (each video), and then
// the motion rate above.
inline constexpr double kTargetFirstFramePsnrDb = 25.0;

// Video extension and long videos: the centroid's step across a window join over the median
// per-frame step of the whole video (video_scorer.h's floor applies), at every join; and the motion
// rate above.
inline constexpr double kTargetMaxJoinJumpRatio = 2.0;

}  // namespace skyreels::demo
