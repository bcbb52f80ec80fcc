// Window planning and settings validation (spec §5.3–§5.5): the reference's window arithmetic, and
// clear errors where the reference would mangle the settings.

#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "pipeline/generation_settings.h"
#include "pipeline/window_plan.h"
#include "skyreels/error.h"

namespace pipeline = skyreels::pipeline;
using skyreels::Error;
using skyreels::ErrorCode;

namespace {

pipeline::GenerationSettings long_video(std::int64_t frames, std::int64_t base = 97, std::int64_t overlap = 17) {
  pipeline::GenerationSettings s;
  s.num_frames = frames;
  s.base_num_frames = base;
  s.overlap_history = overlap;
  return s;
}

std::vector<std::int64_t> window_sizes(const pipeline::GenerationPlan& plan) {
  std::vector<std::int64_t> sizes;
  for (const auto& w : plan.windows) sizes.push_back(w.latent_frames);
  return sizes;
}

std::string error_of(const pipeline::GenerationSettings& s) { return pipeline::validate(s); }

}  // namespace

TEST(WindowPlan, ShortVideoIsOneWindowOfAllLatents) {
  pipeline::GenerationSettings s;  // 97 frames, 30 steps, sync
  const auto plan = pipeline::plan_generation(s);
  ASSERT_EQ(plan.windows.size(), 1u);
  EXPECT_EQ(plan.windows[0].latent_frames, 25);
  EXPECT_EQ(plan.windows[0].rows, 30);
  EXPECT_EQ(plan.output_pixel_frames, 97);
  EXPECT_EQ(plan.model_calls, 60);  // CFG: two per row

  s.ar_step = 5;
  s.causal_block_size = 5;
  EXPECT_EQ(pipeline::plan_generation(s).windows[0].rows, 50);  // spec §5.1 worked example
  s.causal_block_size = 1;
  EXPECT_EQ(pipeline::plan_generation(s).windows[0].rows, 150);
  s.guidance_scale = 1.0;
  EXPECT_EQ(pipeline::plan_generation(s).model_calls, 150);
}

TEST(WindowPlan, LongVideoWindowsFollowTheReference) {
  // spec §5.4: base 97, overlap 17.
  auto plan = pipeline::plan_generation(long_video(257));
  EXPECT_EQ(window_sizes(plan), (std::vector<std::int64_t>{25, 25, 25}));
  EXPECT_EQ(plan.output_pixel_frames, 257);
  EXPECT_EQ(plan.windows[1].prefix_latents, 5);
  EXPECT_EQ(plan.windows[1].prefix, pipeline::PrefixSource::Overlap);
  EXPECT_EQ(plan.windows[1].pixel_frames_dropped, 17);

  EXPECT_EQ(pipeline::plan_generation(long_video(737)).windows.size(), 9u);
  EXPECT_EQ(pipeline::plan_generation(long_video(737)).output_pixel_frames, 737);
  plan = pipeline::plan_generation(long_video(377));
  EXPECT_EQ(window_sizes(plan), (std::vector<std::int64_t>{25, 25, 25, 25, 15}));
  EXPECT_EQ(plan.output_pixel_frames, 377);
  plan = pipeline::plan_generation(long_video(117));  // the reference's 120 rounds to these windows
  EXPECT_EQ(window_sizes(plan), (std::vector<std::int64_t>{25, 10}));
  EXPECT_EQ(plan.output_pixel_frames, 117);
  // 720P base 121.
  EXPECT_EQ(window_sizes(pipeline::plan_generation(long_video(257, 121, 17))), (std::vector<std::int64_t>{31, 31, 13}));
  // Frames within the base window: short mode, base ignored.
  EXPECT_EQ(pipeline::plan_generation(long_video(97)).windows.size(), 1u);
}

TEST(WindowPlan, VideoExtensionUsesTheInputAsPrefixOfEveryWindow) {
  auto s = long_video(117);
  s.extends_video = true;
  const auto plan = pipeline::plan_generation(s, 40);
  EXPECT_EQ(window_sizes(plan), (std::vector<std::int64_t>{25, 10}));
  EXPECT_EQ(plan.windows[0].prefix, pipeline::PrefixSource::Overlap);
  EXPECT_EQ(plan.input_pixel_frames, 40);
  EXPECT_EQ(plan.output_pixel_frames, 40 + 100);  // spec §5.5: +100 frames

  try {
    pipeline::plan_generation(s, 9);
    FAIL() << "a video shorter than the overlap was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("fewer than overlap_history"), std::string::npos) << e.what();
  }
}

TEST(WindowPlan, RowsWithoutUpdatesAreNotPlanned) {
  // The reference gives the end image a column of its own; with ar_step > 0 that column's block adds
  // ar_step rows in which nothing is updated (spec §5.3). Here those rows do not exist.
  pipeline::GenerationSettings s;
  s.num_frames = 17;  // 5 latents
  s.steps = 4;
  s.ar_step = 2;
  s.has_end_image = true;
  const auto plan = pipeline::plan_generation(s);
  EXPECT_EQ(plan.windows[0].rows, 4 + 2 * 4);  // the reference's matrix has 4 + 2 * 5
  EXPECT_TRUE(plan.windows[0].end_image);
}

TEST(GenerationSettings, RejectsWhatTheReferenceWouldMangle) {
  pipeline::GenerationSettings s;
  s.num_frames = 100;
  EXPECT_NE(error_of(s).find("not 1 + 4k (nearest valid counts: 97 or 101)"), std::string::npos) << error_of(s);

  s = {};
  s.height = 540;
  EXPECT_NE(error_of(s).find("multiples of 16"), std::string::npos);

  s = {};
  s.causal_block_size = 5;
  s.num_frames = 93;  // 24 latents
  EXPECT_NE(error_of(s).find("not a multiple of causal_block_size 5"), std::string::npos) << error_of(s);

  s = {};
  s.causal_block_size = 5;
  s.has_start_image = true;
  EXPECT_NE(error_of(s).find("start image needs causal_block_size 1"), std::string::npos) << error_of(s);
  s.has_start_image = false;
  s.has_end_image = true;
  EXPECT_NE(error_of(s).find("end image needs causal_block_size 1"), std::string::npos);

  s = long_video(257, 97, 97);
  EXPECT_NE(error_of(s).find("must be smaller than base_num_frames"), std::string::npos);
  s = long_video(257, 97, 13);  // 4 overlap latents
  s.causal_block_size = 5;
  EXPECT_NE(error_of(s).find("would truncate the overlap"), std::string::npos) << error_of(s);

  s = {};
  s.extends_video = true;
  EXPECT_NE(error_of(s).find("needs overlap_history"), std::string::npos);
  s.has_start_image = true;
  EXPECT_NE(error_of(s).find("cannot be used together"), std::string::npos);

  s = {};
  s.steps = 0;
  EXPECT_FALSE(error_of(s).empty());
  s = {};
  s.ar_step = -1;
  EXPECT_FALSE(error_of(s).empty());
  s = {};
  s.addnoise_condition = 1000;
  EXPECT_FALSE(error_of(s).empty());

  s = {};
  s.num_frames = 13;
  EXPECT_EQ(error_of(s), "");
  s.num_frames = 14;
  try {
    pipeline::require_valid(s);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::BadArgument);
  }
}

TEST(GenerationSettings, JsonRoundTripAndTypeErrors) {
  pipeline::GenerationSettings s;
  s.seed = 4294967293ULL;
  s.overlap_history = 17;
  s.num_frames = 257;
  s.guidance_scale = 5.5;
  s.has_end_image = true;
  const auto back = pipeline::settings_from_json(pipeline::to_json(s));
  EXPECT_EQ(pipeline::to_json(back), pipeline::to_json(s));
  EXPECT_EQ(back.seed, s.seed);
  EXPECT_EQ(back.overlap_history, s.overlap_history);

  // Unknown keys ignored, missing keys default, null overlap = none.
  const auto partial = pipeline::settings_from_json({{"steps", 10}, {"future_key", 1}, {"overlap_history", nullptr}});
  EXPECT_EQ(partial.steps, 10);
  EXPECT_EQ(partial.height, pipeline::GenerationSettings{}.height);
  EXPECT_FALSE(partial.overlap_history.has_value());

  try {
    pipeline::settings_from_json({{"steps", "thirty"}});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("\"steps\""), std::string::npos) << e.what();
  }
}

TEST(WindowPlan, FloorDivisionIsPythons) {
  EXPECT_EQ(pipeline::floor_div(-1, 20), -1);
  EXPECT_EQ(pipeline::floor_div(-20, 20), -1);
  EXPECT_EQ(pipeline::floor_div(-21, 20), -2);
  EXPECT_EQ(pipeline::floor_div(39, 20), 1);
  EXPECT_EQ(pipeline::floor_div(0, 20), 0);
}
