// The prompt-adherence evaluation (issue 22) end to end on the project's random demo model, at tiny
// sizes: every kind runs, reports what it should (results, seeds, first-frame PSNR, joins where the
// plan puts them) and is deterministic. The quality bar itself needs the trained model (tests/quality).

#include <cmath>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "demo/adherence_eval.h"
#include "model/wan_vae.h"
#include "pipeline/engine.h"
#include "pipeline/model_folder.h"
#include "pipeline/pixel_frames.h"
#include "test_support.h"

namespace demo = skyreels::demo;
namespace pipeline = skyreels::pipeline;
using skyreels::test::TempDir;

namespace {

class AdherenceEvalEngine : public ::testing::Test {
protected:
  void SetUp() override {
    pipeline::EngineOptions options;
    options.device = skyreels::test::test_device();
    options.prompt_cache_dir = cache_.path();
    engine_ = std::make_unique<pipeline::Engine>(skyreels::test::demo_model().string(), options);
    // Sync, 9 frames (3 latents), 2 steps, 64 x 96: seconds for every video.
    settings_ = engine_->default_settings();
    settings_.height = 64;
    settings_.width = 96;
    settings_.num_frames = settings_.base_num_frames = 9;
    settings_.steps = 2;
    settings_.ar_step = 0;
    settings_.causal_block_size = 1;
    options_.combinations = demo::held_out_subset(2);
    options_.seeds = {5};
  }

  TempDir cache_;
  std::unique_ptr<pipeline::Engine> engine_;
  pipeline::GenerationSettings settings_;
  demo::EvalOptions options_;
};

TEST_F(AdherenceEvalEngine, TextToVideoScoresEveryPromptAndRepeats) {
  options_.keep_videos = true;
  options_.seeds = {5, 40};
  std::size_t calls = 0;
  options_.on_result = [&](const demo::PromptResult&, std::size_t done, std::size_t total) {
    EXPECT_EQ(done, ++calls);
    EXPECT_EQ(total, 4u);
  };
  const auto report = demo::evaluate_prompts(*engine_, settings_, options_);
  EXPECT_EQ(calls, 4u);
  EXPECT_EQ(report.kind, demo::EvalKind::TextToVideo);
  ASSERT_EQ(report.results.size(), 4u);
  const std::uint64_t seeds[] = {5, 6, 40, 41};  // combination i with seed + i, per seed
  double seconds = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    const auto& r = report.results[i];
    EXPECT_EQ(r.combination, options_.combinations[i % 2]);
    EXPECT_EQ(r.prompt, demo::caption(r.combination.scene()));
    EXPECT_EQ(r.seed, seeds[i]);
    EXPECT_EQ(r.video.sizes(), (std::vector<std::int64_t>{9, 64, 96, 3}));
    EXPECT_EQ(r.track.size(), 9u);
    EXPECT_TRUE(r.joins.empty());
    EXPECT_FALSE(r.first_frame_psnr_db);
    EXPECT_GT(r.seconds, 0.0);
    seconds += r.seconds;
  }
  EXPECT_DOUBLE_EQ(report.generation_seconds, seconds);
  EXPECT_GE(report.wall_seconds, report.generation_seconds);
  EXPECT_EQ(report.rates.prompts, 4u);
  EXPECT_NE(demo::missed_rate_targets(report.rates), "");  // random weights

  // The same prompts and seeds give the same videos; without videos kept there is nothing to compare.
  options_.on_result = nullptr;
  const auto again = demo::evaluate_prompts(*engine_, settings_, options_);
  const auto same = demo::compare_videos(report, again);
  EXPECT_EQ(same.videos, 4u);
  EXPECT_EQ(same.identical, 4u);
  options_.keep_videos = false;
  const auto without = demo::evaluate_prompts(*engine_, settings_, options_);
  EXPECT_FALSE(without.results[0].video.defined());
  EXPECT_NE(skyreels::test::error_text([&] { demo::compare_videos(report, without); }), "");
}

TEST_F(AdherenceEvalEngine, ImageToVideoMeasuresTheFirstFrame) {
  const auto report = demo::evaluate_image_to_video(*engine_, settings_, options_);
  ASSERT_EQ(report.results.size(), 2u);
  for (const auto& r : report.results) {
    ASSERT_TRUE(r.first_frame_psnr_db);
    EXPECT_TRUE(std::isfinite(*r.first_frame_psnr_db));
  }
  EXPECT_TRUE(std::isfinite(report.min_first_frame_psnr_db()));
  EXPECT_LE(report.min_first_frame_psnr_db(), report.mean_first_frame_psnr_db());

  auto blocks = settings_;  // a start image needs causal blocks of 1
  blocks.ar_step = 1;
  blocks.causal_block_size = 3;
  EXPECT_NE(skyreels::test::error_text([&] { demo::evaluate_image_to_video(*engine_, blocks, options_); }), "");
}

TEST_F(AdherenceEvalEngine, ContinuationsMeasureEveryJoin) {
  settings_.overlap_history = 5;  // 2 latents: each further window adds 4 frames
  const auto extension = demo::evaluate_extension(*engine_, settings_, 13, options_);
  ASSERT_EQ(extension.results.size(), 2u);
  for (const auto& r : extension.results) {
    EXPECT_EQ(r.track.size(), 13u + 4u);
    ASSERT_EQ(r.joins.size(), 1u);
    EXPECT_EQ(r.joins[0].frame, 13);
    EXPECT_EQ(r.detection.centroids.size(), 4u);  // the new frames are scored
  }
  EXPECT_NE(skyreels::test::error_text([&] { demo::evaluate_extension(*engine_, settings_, 3, options_); }), "");

  const auto long_video = demo::evaluate_long_video(*engine_, settings_, 3, options_);
  EXPECT_EQ(long_video.settings.num_frames, 17);
  for (const auto& r : long_video.results) {
    EXPECT_EQ(r.track.size(), 17u);
    ASSERT_EQ(r.joins.size(), 2u);
    EXPECT_EQ(r.joins[0].frame, 9);
    EXPECT_EQ(r.joins[1].frame, 13);
  }
}

TEST_F(AdherenceEvalEngine, VaeRoundTripScoresTheDecodedRenders) {
  torch::NoGradGuard no_grad;
  auto vae = skyreels::model::load_wan_vae(
      pipeline::locate_model_files(skyreels::test::demo_model().string()).vae, skyreels::test::test_device(), at::kFloat);
  options_.keep_videos = true;
  options_.seeds = {5, 40};
  const auto report = demo::evaluate_vae_round_trip(*vae, 9, 64, 96, options_);
  EXPECT_EQ(report.kind, demo::EvalKind::VaeRoundTrip);
  EXPECT_EQ(report.settings.num_frames, 9);
  ASSERT_EQ(report.results.size(), 4u);
  const std::uint64_t seeds[] = {5, 6, 40, 41};
  for (std::size_t i = 0; i < 4; ++i) {
    const auto& r = report.results[i];
    EXPECT_EQ(r.combination, options_.combinations[i % 2]);
    EXPECT_EQ(r.seed, seeds[i]);
    ASSERT_EQ(r.video.sizes(), (std::vector<std::int64_t>{9, 64, 96, 3}));
    // What was scored is the decoded render, and frame 0 is measured against the render's.
    const auto render = pipeline::pixels_to_uint8(demo::render(r.combination.scene(), 9, 64, 96, r.seed));
    EXPECT_FALSE(at::equal(r.video, render));  // random weights do not reproduce it
    ASSERT_TRUE(r.first_frame_psnr_db);
    EXPECT_DOUBLE_EQ(*r.first_frame_psnr_db, demo::psnr(r.video[0], render[0]));
    EXPECT_EQ(r.detection.centroids.size(), 9u);
    const auto card = demo::score(demo::detect(r.video), r.combination.scene());
    EXPECT_EQ(card.all_ok(), r.card.all_ok());
    EXPECT_EQ(card.shape_ok, r.card.shape_ok);
  }
  EXPECT_EQ(report.rates.prompts, 4u);
  const auto again = demo::evaluate_vae_round_trip(*vae, 9, 64, 96, options_);
  EXPECT_EQ(demo::compare_videos(report, again).identical, 4u);
  // Sizes render() refuses are an error naming them, before any round trip.
  EXPECT_NE(skyreels::test::error_text([&] { demo::evaluate_vae_round_trip(*vae, 8, 64, 96, options_); }), "");
}

}  // namespace
