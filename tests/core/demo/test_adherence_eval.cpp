// The parts of the prompt-adherence evaluation (issue 22) that need no trained model: PSNR, where
// window joins fall in a plan, the jump across a join on centroid tracks of rendered videos, the frame
// count of a long video, the held-out subset, rates and targets. The evaluation on the trained model
// itself is tests/quality.

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "demo/adherence_eval.h"
#include "pipeline/pixel_frames.h"
#include "pipeline/window_plan.h"
#include "test_support.h"

namespace demo = skyreels::demo;
namespace pipeline = skyreels::pipeline;
using skyreels::ErrorCode;
using skyreels::test::error_text;

namespace {

// A rendered held-out scene as the detector reads it: uint8 [F, H, W, 3].
torch::Tensor rendered(const demo::Combination& c, std::int64_t frames, std::uint64_t seed) {
  return pipeline::pixels_to_uint8(demo::render(c.scene(), frames, 96, 160, seed));
}

pipeline::GenerationSettings windows_of(std::int64_t base, std::int64_t overlap) {
  pipeline::GenerationSettings s;
  s.height = 96;
  s.width = 160;
  s.steps = 4;
  s.base_num_frames = base;
  s.overlap_history = overlap;
  return s;
}

demo::PromptResult result_of(bool colour, bool background, bool shape, bool motion) {
  demo::PromptResult r;
  r.card = {colour, background, shape, motion};
  return r;
}

}  // namespace

TEST(AdherenceEval, PsnrOfKnownVideos) {
  const auto a = torch::zeros({2, 4, 4, 3}, torch::kByte);
  const auto b = torch::full({2, 4, 4, 3}, 10, torch::kByte);
  EXPECT_NEAR(demo::psnr(a, b), 10 * std::log10(255.0 * 255.0 / 100.0), 1e-9);  // 28.13 dB
  EXPECT_NEAR(demo::psnr(b, a), demo::psnr(a, b), 1e-12);
  EXPECT_TRUE(std::isinf(demo::psnr(a, a.clone())));
  // One value in 96 off by 96: MSE 96^2 / 96 = 96.
  auto c = a.clone();
  c[1][2][3][0] = 96;
  EXPECT_NEAR(demo::psnr(a, c), 10 * std::log10(255.0 * 255.0 / 96.0), 1e-9);
  // uint8 differences do not wrap around.
  EXPECT_NEAR(demo::psnr(torch::full({1, 1}, 255, torch::kByte), torch::zeros({1, 1}, torch::kByte)), 0.0, 1e-12);

  ErrorCode code{};
  EXPECT_NE(error_text([&] { demo::psnr(a, a.slice(0, 1)); }, &code), "");
  EXPECT_EQ(code, ErrorCode::ShapeMismatch);
  EXPECT_NE(error_text([&] { demo::psnr(a.to(torch::kFloat), a.to(torch::kFloat)); }, &code), "");
  EXPECT_EQ(code, ErrorCode::BadArgument);
}

TEST(AdherenceEval, JoinFramesOfPlans) {
  // Three windows of 17 frames sharing 5: 17 + 12 + 12 frames, joins where the 2nd and 3rd start.
  auto s = windows_of(17, 5);
  s.num_frames = 41;
  auto plan = pipeline::plan_generation(s);
  ASSERT_EQ(plan.windows.size(), 3u);
  EXPECT_EQ(demo::join_frames(plan), (std::vector<std::int64_t>{17, 29}));
  EXPECT_EQ(plan.output_pixel_frames, 41);

  // Extending a 13-frame video: its frames come first, the new ones join them.
  s.extends_video = true;
  s.num_frames = 17;
  plan = pipeline::plan_generation(s, 13);
  ASSERT_EQ(plan.windows.size(), 1u);
  EXPECT_EQ(demo::join_frames(plan), (std::vector<std::int64_t>{13}));
  EXPECT_EQ(plan.output_pixel_frames, 13 + 12);

  // One window, with or without a start image: no join.
  pipeline::GenerationSettings single;
  single.num_frames = single.base_num_frames = 17;
  EXPECT_TRUE(demo::join_frames(pipeline::plan_generation(single)).empty());
  single.has_start_image = true;
  EXPECT_TRUE(demo::join_frames(pipeline::plan_generation(single)).empty());
}

TEST(AdherenceEval, LongVideoFramesMakeExactlyThatManyWindows) {
  const auto s = windows_of(17, 5);
  EXPECT_EQ(demo::long_video_frames(s, 3), 41);
  EXPECT_EQ(demo::long_video_frames(s, 2), 29);
  for (int windows : {2, 3, 5}) {
    auto t = s;
    t.num_frames = demo::long_video_frames(s, windows);
    EXPECT_EQ(pipeline::plan_generation(t).windows.size(), static_cast<std::size_t>(windows));
  }
  // Causal blocks of 3: base 6 latents, overlap 3 (9 frames) -> windows of 3 new latents.
  auto blocks = windows_of(21, 9);
  blocks.ar_step = 2;
  blocks.causal_block_size = 3;
  blocks.num_frames = demo::long_video_frames(blocks, 3);
  EXPECT_EQ(blocks.num_frames, 1 + 4 * (6 + 3 + 3 - 1));
  EXPECT_EQ(pipeline::plan_generation(blocks).windows.size(), 3u);

  ErrorCode code{};
  EXPECT_NE(error_text([&] { demo::long_video_frames(s, 1); }, &code), "");
  EXPECT_EQ(code, ErrorCode::BadArgument);
  auto no_overlap = s;
  no_overlap.overlap_history.reset();
  EXPECT_NE(error_text([&] { demo::long_video_frames(no_overlap, 3); }, &code), "");
  EXPECT_EQ(code, ErrorCode::BadArgument);
  EXPECT_NE(error_text([&] { demo::long_video_frames(windows_of(17, 17), 3); }, &code), "");  // overlap = base
  EXPECT_EQ(code, ErrorCode::BadArgument);
}

TEST(AdherenceEval, JoinJumpsOnRenderedTracks) {
  const demo::Combination c{demo::Colour::Yellow, demo::Shape::Square, demo::Motion::Down, demo::Background::Blue};
  const auto video = rendered(c, 17, 5);
  const std::vector<std::int64_t> joins{9};

  // A steady render: the step across frame 9 is a median step.
  const auto steady = demo::detect(video);
  ASSERT_TRUE(steady.valid) << steady.why;
  const auto smooth = demo::join_jumps(steady.centroids, joins);
  ASSERT_EQ(smooth.size(), 1u);
  EXPECT_EQ(smooth[0].frame, 9);
  ASSERT_TRUE(smooth[0].ratio);
  EXPECT_NEAR(*smooth[0].ratio, 1.0, 0.3);
  EXPECT_LE(*smooth[0].ratio, demo::kTargetMaxJoinJumpRatio);

  // A join that skips three frames of the motion: a step of four across it.
  const auto skipped = torch::cat({video.slice(0, 0, 9), video.slice(0, 12)});
  const auto jumped = demo::detect(skipped);
  ASSERT_TRUE(jumped.valid) << jumped.why;
  const auto jump = demo::join_jumps(jumped.centroids, joins);
  ASSERT_TRUE(jump[0].ratio);
  EXPECT_NEAR(*jump[0].ratio, 4.0, 0.8);
  EXPECT_GT(*jump[0].ratio, demo::kTargetMaxJoinJumpRatio);
  // Only the join is measured: the same jump elsewhere is no join's.
  const auto elsewhere = demo::join_jumps(jumped.centroids, {5});
  EXPECT_LE(*elsewhere[0].ratio, demo::kTargetMaxJoinJumpRatio);

  demo::PromptResult r;
  r.joins = jump;
  r.joins.push_back(smooth[0]);
  EXPECT_DOUBLE_EQ(r.max_join_ratio(), *jump[0].ratio);
  EXPECT_EQ(demo::PromptResult{}.max_join_ratio(), 0.0);
}

TEST(AdherenceEval, AJoinWithoutTheObjectIsNotMeasured) {
  const demo::Combination c{demo::Colour::Red, demo::Shape::Circle, demo::Motion::Left, demo::Background::Black};
  auto video = rendered(c, 17, 9);
  video[9].copy_(video[9][0][0].clone().expand({video.size(1), video.size(2), 3}));  // frame 9: background only
  const auto d = demo::detect(video);
  ASSERT_TRUE(d.valid) << d.why;
  ASSERT_FALSE(d.centroids[9]);
  demo::PromptResult r;
  r.joins = demo::join_jumps(d.centroids, {9, 12});
  EXPECT_FALSE(r.joins[0].ratio);
  EXPECT_TRUE(r.joins[1].ratio);
  EXPECT_TRUE(std::isinf(r.max_join_ratio()));

  ErrorCode code{};
  for (std::int64_t frame : {0, 17})
    EXPECT_NE(error_text([&] { demo::join_jumps(d.centroids, {frame}); }, &code), "") << frame;
  EXPECT_EQ(code, ErrorCode::BadArgument);
}

TEST(AdherenceEval, AnObjectThatLeavesAcrossTheBorderItMovesToHasExited) {
  // A 160 x 96 frame; the object moves right 10 px a frame from x = 100 and is gone from frame 6 on,
  // last seen at x = 150 (the band: x >= 144, 0.9 of the width).
  std::vector<std::optional<demo::Point>> track;
  for (int i = 0; i < 6; ++i) track.push_back(demo::Point{100.0 + 10 * i, 48});
  track.resize(12);
  const demo::FrameExit right{demo::Motion::Right, 96, 160};

  demo::PromptResult r;
  r.joins = demo::join_jumps(track, {3, 8}, right);
  ASSERT_TRUE(r.joins[0].ratio);  // before the exit: measured
  EXPECT_FALSE(r.joins[0].exited);
  EXPECT_FALSE(r.joins[1].ratio);
  EXPECT_TRUE(r.joins[1].exited);
  EXPECT_NEAR(r.max_join_ratio(), 1.0, 1e-9);

  // The same track is lost, not exited: without a frame to leave, when the prompt says left, when it
  // vanished short of the band, or when it comes back.
  EXPECT_FALSE(demo::join_jumps(track, {8})[0].exited);
  EXPECT_FALSE(demo::join_jumps(track, {8}, demo::FrameExit{demo::Motion::Left, 96, 160})[0].exited);
  auto short_of_band = track;
  short_of_band[5].reset();  // last seen at x = 140
  EXPECT_FALSE(demo::join_jumps(short_of_band, {8}, right)[0].exited);
  auto back = track;
  back[10] = demo::Point{150, 48};
  const auto returned = demo::join_jumps(back, {8}, right);
  EXPECT_FALSE(returned[0].exited);
  r.joins = returned;
  EXPECT_TRUE(std::isinf(r.max_join_ratio()));

  // Up and down use the frame's height (band 9.6 px of 96; the width's would be 16 px).
  const auto up_from = [](double y) {
    return std::vector<std::optional<demo::Point>>{demo::Point{80, y + 10}, demo::Point{80, y}, std::nullopt,
                                                   std::nullopt};
  };
  const demo::FrameExit up{demo::Motion::Up, 96, 160}, down{demo::Motion::Down, 96, 160};
  EXPECT_TRUE(demo::join_jumps(up_from(5), {3}, up)[0].exited);
  EXPECT_FALSE(demo::join_jumps(up_from(12), {3}, up)[0].exited);
  EXPECT_FALSE(demo::join_jumps(up_from(5), {3}, down)[0].exited);
  const std::vector<std::optional<demo::Point>> down_to{demo::Point{80, 80}, demo::Point{80, 90}, std::nullopt};
  EXPECT_TRUE(demo::join_jumps(down_to, {2}, down)[0].exited);
}

TEST(AdherenceEval, HeldOutSubsetSpreadsMotionsAndShapes) {
  const auto subset = demo::held_out_subset(8);
  ASSERT_EQ(subset.size(), 8u);
  std::map<demo::Motion, int> motions;
  std::map<demo::Shape, int> shapes;
  std::set<demo::Background> backgrounds;
  const auto& all = demo::held_out_combinations();
  for (std::size_t i = 0; i < subset.size(); ++i) {
    ++motions[subset[i].motion];
    ++shapes[subset[i].shape];
    backgrounds.insert(subset[i].background);
    EXPECT_NE(std::find(all.begin(), all.end(), subset[i]), all.end());
    for (std::size_t j = 0; j < i; ++j) EXPECT_FALSE(subset[i] == subset[j]);
  }
  for (auto m : demo::kMotions) EXPECT_EQ(motions[m], 2) << demo::to_string(m);
  for (auto s : demo::kShapes) EXPECT_GE(shapes[s], 2) << demo::to_string(s);
  EXPECT_EQ(backgrounds.size(), demo::kBackgrounds.size());
  EXPECT_EQ(demo::held_out_subset(8)[3], subset[3]);  // deterministic
  EXPECT_EQ(demo::held_out_subset(24).size(), 24u);
  EXPECT_EQ(demo::held_out_subset(100).size(), 24u);
  EXPECT_TRUE(demo::held_out_subset(0).empty());
}

TEST(AdherenceEval, RatesAndTargets) {
  std::vector<demo::PromptResult> results(24, result_of(true, true, true, true));
  auto rates = demo::rates_of(results);
  EXPECT_EQ(rates.prompts, 24u);
  EXPECT_EQ(rates.all, 1.0);
  EXPECT_EQ(demo::missed_rate_targets(rates), "");

  // 21 of 24 colours right (0.875 < 0.90), 16 shapes (0.67 < 0.70), motion at 20 (0.83: met).
  for (int i = 0; i < 3; ++i) results[static_cast<std::size_t>(i)].card.colour_ok = false;
  for (int i = 0; i < 8; ++i) results[static_cast<std::size_t>(23 - i)].card.shape_ok = false;
  for (int i = 0; i < 4; ++i) results[static_cast<std::size_t>(10 + i)].card.motion_ok = false;
  rates = demo::rates_of(results);
  EXPECT_DOUBLE_EQ(rates.colour, 21.0 / 24);
  EXPECT_DOUBLE_EQ(rates.background, 1.0);
  EXPECT_DOUBLE_EQ(rates.shape, 16.0 / 24);
  EXPECT_DOUBLE_EQ(rates.motion, 20.0 / 24);
  EXPECT_DOUBLE_EQ(rates.all, 9.0 / 24);  // results 3-9, 14 and 15
  const auto missed = demo::missed_rate_targets(rates);
  EXPECT_NE(missed.find("colour 0.88 < 0.90 (21 of 24)"), std::string::npos) << missed;
  EXPECT_NE(missed.find("shape 0.67 < 0.70 (16 of 24)"), std::string::npos) << missed;
  EXPECT_EQ(missed.find("motion"), std::string::npos) << missed;
  EXPECT_EQ(missed.find("background"), std::string::npos) << missed;

  // Too few prompts miss the bar even when all are right.
  const auto few = demo::rates_of(std::vector<demo::PromptResult>(8, result_of(true, true, true, true)));
  EXPECT_NE(demo::missed_rate_targets(few).find("8 prompts < 24"), std::string::npos);
  EXPECT_EQ(demo::rates_of({}).prompts, 0u);
}

TEST(AdherenceEval, CompareVideosPairsPromptsAndSeeds) {
  demo::AdherenceReport a, b;
  for (int i = 0; i < 3; ++i) {
    demo::PromptResult r;
    r.prompt = "p" + std::to_string(i);
    r.seed = static_cast<std::uint64_t>(i);
    r.video = torch::zeros({1, 2, 2, 3}, torch::kByte);
    a.results.push_back(r);
    r.video = torch::full({1, 2, 2, 3}, i == 0 ? 0 : 10 * i, torch::kByte);  // identical, then 28.1 and 22.1 dB
    b.results.push_back(r);
  }
  const auto c = demo::compare_videos(a, b);
  EXPECT_EQ(c.videos, 3u);
  EXPECT_EQ(c.identical, 1u);
  const double db10 = 10 * std::log10(255.0 * 255.0 / 100), db20 = 10 * std::log10(255.0 * 255.0 / 400);
  EXPECT_NEAR(c.mean_psnr_db, (db10 + db20) / 2, 1e-9);
  EXPECT_NEAR(c.min_psnr_db, db20, 1e-9);
  const auto same = demo::compare_videos(a, a);
  EXPECT_TRUE(std::isinf(same.mean_psnr_db) && std::isinf(same.min_psnr_db));
  EXPECT_EQ(same.identical, 3u);

  ErrorCode code{};
  auto other = b;
  other.results[1].seed = 7;
  EXPECT_NE(error_text([&] { demo::compare_videos(a, other); }, &code), "");
  EXPECT_EQ(code, ErrorCode::BadArgument);
  other = b;
  other.results.pop_back();
  EXPECT_NE(error_text([&] { demo::compare_videos(a, other); }), "");
  other = b;
  other.results[2].video = torch::Tensor();
  EXPECT_NE(error_text([&] { demo::compare_videos(a, other); }), "");
}

TEST(AdherenceEval, ReportSummaries) {
  demo::AdherenceReport report;
  EXPECT_TRUE(std::isnan(report.min_first_frame_psnr_db()));
  EXPECT_TRUE(std::isnan(report.mean_first_frame_psnr_db()));
  EXPECT_EQ(report.max_join_ratio(), 0.0);
  for (double db : {30.0, 26.0, 34.0}) {
    demo::PromptResult r;
    r.first_frame_psnr_db = db;
    r.joins = {{17, db / 20}, {29, 1.0}};
    report.results.push_back(r);
  }
  EXPECT_DOUBLE_EQ(report.min_first_frame_psnr_db(), 26.0);
  EXPECT_DOUBLE_EQ(report.mean_first_frame_psnr_db(), 30.0);
  EXPECT_DOUBLE_EQ(report.max_join_ratio(), 1.7);
  EXPECT_STREQ(demo::to_string(demo::EvalKind::LongVideo), "long-video");
}
