// Issue 22's quality bar on the trained demo model (SKYREELS_TRAINED_MODEL_DIR, the source tree's
// resources/demo-model), on the CPU unless SKYREELS_TEST_DEVICE=cuda: the held-out prompts in sync and
// in async mode meet the detector's rates, image to video keeps its first frame and moves, and video
// extension and a long video of three windows continue the motion through every join. The numbers
// are core/demo/quality_targets.h's; the sizes of this suite are below. Without the trained model
// every test fails (it is part of the product, not an optional input).

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "demo/adherence_eval.h"
#include "demo/quality_targets.h"
#include "pipeline/engine.h"
#include "test_support.h"

namespace {

namespace demo = skyreels::demo;
namespace pipeline = skyreels::pipeline;
namespace fs = std::filesystem;

// --- this suite's sizes, in one place: the model's recommended size, steps, guidance and shift, at
// the demo's length (33 frames, about 2 s), the length the model is made and trained for. (The
// renderer spreads an object's travel over the clip, so a 17-frame clip moves twice as fast as any
// demo video.) ---
constexpr std::int64_t kFrames = 33;          // a text- or image-to-video clip, and each long-video window
constexpr int kAsyncArStep = 2;               // async mode when the model recommends a sync one
constexpr std::int64_t kOverlapFrames = 5;    // extension and long video: frames a window continues from
constexpr std::int64_t kInputFrames = 33;     // the rendered video to extend
constexpr int kLongVideoWindows = 3;
constexpr std::size_t kContinuationPrompts = 8;  // image to video, extension, long video: held_out_subset

fs::path trained_model() { return SKYREELS_TRAINED_MODEL_DIR; }

// The model's recommended settings, exact, in sync mode, kFrames long.
pipeline::GenerationSettings sync_settings(const pipeline::Engine& engine) {
  auto s = engine.default_settings();
  s.ar_step = 0;
  s.causal_block_size = 1;
  s.num_frames = s.base_num_frames = kFrames;
  s.overlap_history.reset();
  s.addnoise_condition = 0;
  s.fp8 = false;
  s.cfg_skip_last_steps = 0;
  s.step_cache_threshold = 0;
  return s;
}

// The model's recommended async mode (or ar_step kAsyncArStep with blocks of 1), at least two causal
// blocks long so that the blocks really start at different rows.
pipeline::GenerationSettings async_settings(const pipeline::Engine& engine) {
  const auto recommended = engine.default_settings();
  auto s = sync_settings(engine);
  const bool async = recommended.ar_step > 0;
  s.ar_step = async ? recommended.ar_step : kAsyncArStep;
  s.causal_block_size = async ? recommended.causal_block_size : 1;
  const std::int64_t cbs = s.causal_block_size;
  const auto latents = std::max((((kFrames - 1) / 4 + 1) + cbs - 1) / cbs, std::int64_t{2}) * cbs;
  s.num_frames = s.base_num_frames = 1 + 4 * (latents - 1);
  return s;
}

pipeline::GenerationSettings windowed_settings(const pipeline::Engine& engine) {
  auto s = sync_settings(engine);
  s.overlap_history = kOverlapFrames;
  return s;
}

std::string mode_text(const pipeline::GenerationSettings& s) {
  char text[160];
  std::snprintf(text, sizeof text, "%lld frames %lldx%lld, %d steps, guidance %g, shift %g, ",
                static_cast<long long>(s.num_frames), static_cast<long long>(s.width),
                static_cast<long long>(s.height), s.steps, s.guidance_scale, s.shift);
  return text + (s.ar_step == 0 ? std::string("sync")
                                : "async (ar_step " + std::to_string(s.ar_step) + ", causal_block_size " +
                                      std::to_string(s.causal_block_size) + ")");
}

template <typename T>
const char* name_of(const std::optional<T>& value) {
  return value ? demo::to_string(*value) : "-";
}

// One line per video and a summary, so a failing run says what the model made of each prompt.
void print(const demo::AdherenceReport& report) {
  std::printf("%s, %s: %zu videos in %.1f s (generation %.1f s)\n", demo::to_string(report.kind),
              mode_text(report.settings).c_str(), report.results.size(), report.wall_seconds,
              report.generation_seconds);
  for (const auto& r : report.results) {
    const auto& d = r.detection;
    std::printf("  %-52s seed %-6llu %s: colour %-6s background %-5s shape %-8s motion %-5s", r.prompt.c_str(),
                static_cast<unsigned long long>(r.seed), r.card.all_ok() ? "ok  " : "MISS", name_of(d.colour),
                name_of(d.background), name_of(d.shape), name_of(d.motion));
    if (r.first_frame_psnr_db) std::printf("  frame 0 %.1f dB", *r.first_frame_psnr_db);
    for (const auto& j : r.joins) {
      if (j.ratio) std::printf("  join %lld: %.2f", static_cast<long long>(j.frame), *j.ratio);
      else if (j.exited) std::printf("  join %lld: left the frame", static_cast<long long>(j.frame));
      else std::printf("  join %lld: object lost", static_cast<long long>(j.frame));
    }
    if (!d.valid) std::printf("  (%s)", d.why.c_str());
    std::printf("\n");
  }
  const auto& rates = report.rates;
  std::printf("  rates: colour %.2f background %.2f shape %.2f motion %.2f all %.2f\n", rates.colour, rates.background,
              rates.shape, rates.motion, rates.all);
  std::fflush(stdout);
}

class PromptAdherence : public ::testing::Test {
protected:
  void SetUp() override {
    const auto weights = trained_model() / "model.safetensors";
    ASSERT_TRUE(fs::exists(weights)) << "the trained demo model is missing: no " << weights
                                     << " (issue 22: skyreels-train's weights belong in resources/demo-model/)";
    pipeline::EngineOptions options;
    options.device = skyreels::test::test_device();
    options.prompt_cache_dir = cache_.path();
    engine_ = std::make_unique<pipeline::Engine>(trained_model().string(), options);
  }

  skyreels::test::TempDir cache_;
  std::unique_ptr<pipeline::Engine> engine_;
};

TEST_F(PromptAdherence, HeldOutPromptsInSyncMode) {
  const auto report = demo::evaluate_prompts(*engine_, sync_settings(*engine_));
  print(report);
  EXPECT_EQ(demo::missed_rate_targets(report.rates), "");
}

TEST_F(PromptAdherence, HeldOutPromptsInAsyncMode) {
  const auto settings = async_settings(*engine_);
  ASSERT_GT(settings.ar_step, 0);
  const auto report = demo::evaluate_prompts(*engine_, settings);
  print(report);
  EXPECT_EQ(demo::missed_rate_targets(report.rates), "");
}

TEST_F(PromptAdherence, ImageToVideoKeepsTheImageAndMoves) {
  demo::EvalOptions options;
  options.combinations = demo::held_out_subset(kContinuationPrompts);
  const auto report = demo::evaluate_image_to_video(*engine_, sync_settings(*engine_), options);
  print(report);
  EXPECT_GE(report.min_first_frame_psnr_db(), demo::kTargetFirstFramePsnrDb)
      << "mean " << report.mean_first_frame_psnr_db() << " dB";
  EXPECT_GE(report.rates.motion, demo::kTargetMotionRate);
}

TEST_F(PromptAdherence, VideoExtensionContinuesTheMotion) {
  demo::EvalOptions options;
  options.combinations = demo::held_out_subset(kContinuationPrompts);
  const auto report = demo::evaluate_extension(*engine_, windowed_settings(*engine_), kInputFrames, options);
  print(report);
  for (const auto& r : report.results) ASSERT_EQ(r.joins.size(), 1u) << r.prompt;
  EXPECT_LE(report.max_join_ratio(), demo::kTargetMaxJoinJumpRatio);
  EXPECT_GE(report.rates.motion, demo::kTargetMotionRate);
}

TEST_F(PromptAdherence, LongVideoOfThreeWindowsContinuesTheMotion) {
  demo::EvalOptions options;
  options.combinations = demo::held_out_subset(kContinuationPrompts);
  const auto report = demo::evaluate_long_video(*engine_, windowed_settings(*engine_), kLongVideoWindows, options);
  print(report);
  for (const auto& r : report.results) {
    ASSERT_EQ(r.joins.size(), static_cast<std::size_t>(kLongVideoWindows - 1)) << r.prompt;
    // An object may leave the frame in a later window (the motion goes on out of sight), but the first
    // join is measured, or the windows' continuity would go unchecked.
    EXPECT_FALSE(r.joins.front().exited) << r.prompt;
  }
  EXPECT_LE(report.max_join_ratio(), demo::kTargetMaxJoinJumpRatio);
  EXPECT_GE(report.rates.motion, demo::kTargetMotionRate);
}

}  // namespace
