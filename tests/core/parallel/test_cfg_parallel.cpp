// CFG-parallel (issue 27): the planner's choice for a rank count, and real runs of the reference
// fixtures' pipeline on gloo ranks (threads of this process meeting in a FileStore): the conditional and
// unconditional calls on two halves give the latents of the two calls made by one process.

#include <algorithm>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "conformance/checks.h"
#include "conformance/metrics.h"
#include "parallel/cfg_groups.h"
#include "parallel/process_group.h"
#include "pipeline/df_pipeline.h"
#include "pipeline/parallel_plan.h"
#include "skyreels/error.h"
#include "test_support.h"

namespace conf = skyreels::conformance;
namespace parallel = skyreels::parallel;
namespace pipeline = skyreels::pipeline;
using pipeline::ParallelMode;
using pipeline::plan_parallel;
using skyreels::Error;

TEST(ParallelPlan, AutoSplitsGuidedJobsByBranchOnEvenRanks) {
  const auto one = plan_parallel(1, 12, true, ParallelMode::Auto);
  EXPECT_EQ(one.branches, 1);
  EXPECT_EQ(one.ulysses, 1);

  const auto two = plan_parallel(2, 12, true, ParallelMode::Auto);
  EXPECT_TRUE(two.cfg_parallel());
  EXPECT_EQ(two.ulysses, 1);
  EXPECT_NE(two.description.find("CFG-parallel"), std::string::npos) << two.description;

  const auto eight = plan_parallel(8, 40, true, ParallelMode::Auto);  // DF-14B: 40 heads
  EXPECT_TRUE(eight.cfg_parallel());
  EXPECT_EQ(eight.ulysses, 4);
  EXPECT_NE(eight.description.find("Ulysses within"), std::string::npos) << eight.description;

  // No guidance: one call a row, so every rank splits it.
  const auto unguided = plan_parallel(2, 12, false, ParallelMode::Auto);
  EXPECT_FALSE(unguided.cfg_parallel());
  EXPECT_EQ(unguided.ulysses, 2);
  // Odd ranks, or halves that cannot split the heads: Ulysses over all when the heads allow it.
  EXPECT_EQ(plan_parallel(3, 12, true, ParallelMode::Auto).ulysses, 3);
  EXPECT_TRUE(plan_parallel(6, 12, true, ParallelMode::Auto).cfg_parallel());  // halves of 3 split 12 heads
  // Halves of 2 split 14 heads where 4 ranks cannot: CFG-parallel is the only split.
  EXPECT_TRUE(plan_parallel(4, 14, true, ParallelMode::Auto).cfg_parallel());
  EXPECT_THROW(plan_parallel(8, 6, true, ParallelMode::Auto), Error);  // neither 4 nor 8 divides 6
  EXPECT_THROW(plan_parallel(4, 14, true, ParallelMode::Ulysses), Error);
}

TEST(ParallelPlan, ForcedModesThatCannotBeSayWhy) {
  EXPECT_FALSE(plan_parallel(2, 12, true, ParallelMode::Ulysses).cfg_parallel());
  auto message = [](auto&& plan) {
    try {
      plan();
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), skyreels::ErrorCode::BadArgument);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message([] { plan_parallel(2, 12, false, ParallelMode::Cfg); }).find("needs guidance"), std::string::npos);
  EXPECT_NE(message([] { plan_parallel(3, 12, true, ParallelMode::Cfg); }).find("even number of ranks"), std::string::npos);
  EXPECT_NE(message([] { plan_parallel(1, 12, true, ParallelMode::Cfg); }).find("--gpus"), std::string::npos);
  EXPECT_NE(message([] { plan_parallel(3, 2, true, ParallelMode::Auto); }).find("cannot be split over 3 ranks"),
            std::string::npos);
  EXPECT_NE(message([] { plan_parallel(6, 2, true, ParallelMode::Cfg); }).find("cannot be split over 3 ranks"),
            std::string::npos);
  EXPECT_EQ(pipeline::parallel_mode_from_string("cfg"), ParallelMode::Cfg);
  EXPECT_NE(message([] { pipeline::parallel_mode_from_string("both"); }).find("auto, ulysses, cfg"), std::string::npos);
}

namespace {

bool have_gloo() { return parallel::available_backends().find("gloo") != std::string::npos; }

// The fixture's pipeline run by `ranks` gloo ranks (threads) as `mode` plans it; rank 0's result.
pipeline::GenerationResult run_ranks(const std::string& fixture_name, int ranks, ParallelMode mode,
                                     std::string* description,
                                     const std::function<void(pipeline::GenerationSettings&)>& tweak = {}) {
  skyreels::test::TempDir dir;
  std::vector<pipeline::GenerationResult> results(static_cast<std::size_t>(ranks));
  std::vector<std::string> errors(static_cast<std::size_t>(ranks));
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r) {
    threads.emplace_back([&, r] {
      try {
        torch::NoGradGuard no_grad;
        parallel::ParallelEnv env;
        env.rank = env.local_rank = r;
        env.size = ranks;
        env.starter = "launcher";
        env.store = (dir / "store").string();
        env.timeout = std::chrono::seconds(120);
        const auto world = parallel::connect(env, c10::Device(c10::kCPU));
        const auto groups = parallel::join_cfg_groups(*world);
        const conf::FixtureCase fixture(skyreels::test::fixture_case(fixture_name));
        auto pipe = conf::load_fixture_pipeline(fixture, c10::Device(c10::kCPU));
        auto inputs = conf::fixture_generation_inputs(fixture);
        if (tweak) tweak(inputs.settings);
        const auto plan = plan_parallel(ranks, pipe.dit()->config().num_heads, inputs.settings.guidance_enabled(), mode);
        if (r == 0 && description) *description = plan.description;
        pipe.options().parallel = world.get();
        if (plan.cfg_parallel())
          pipe.options().cfg = {groups.branch.get(), groups.pair, groups.branch_index};
        results[static_cast<std::size_t>(r)] = pipe.generate(inputs, *conf::fixture_noise(fixture));
      } catch (const std::exception& e) {
        errors[static_cast<std::size_t>(r)] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int r = 0; r < ranks; ++r) EXPECT_EQ(errors[static_cast<std::size_t>(r)], "") << "rank " << r;
  // Every rank ends with the same latents: they step the same solver on the same predictions.
  for (int r = 1; r < ranks; ++r) {
    const auto& mine = results[static_cast<std::size_t>(r)].window_latents;
    EXPECT_EQ(mine.size(), results[0].window_latents.size()) << "rank " << r;
    for (std::size_t w = 0; w < std::min(mine.size(), results[0].window_latents.size()); ++w)
      EXPECT_TRUE(at::equal(mine[w], results[0].window_latents[w])) << "rank " << r << " window " << w;
  }
  return results[0];
}

}  // namespace

TEST(CfgParallelFixture, TwoRanksGiveTheLatentsOfTheTwoGuidanceCalls) {
  if (!have_gloo()) GTEST_SKIP() << "this LibTorch build has no gloo process group";
  torch::NoGradGuard no_grad;
  at::set_num_threads(1);  // two ranks on this process's cores
  const conf::FixtureCase fixture(skyreels::test::fixture_case("df_sync"));
  auto alone = conf::load_fixture_pipeline(fixture, c10::Device(c10::kCPU));
  const auto inputs = conf::fixture_generation_inputs(fixture);
  ASSERT_TRUE(inputs.settings.guidance_enabled());
  const auto batched = alone.generate(inputs, *conf::fixture_noise(fixture));
  alone.options().batched_cfg = false;
  const auto separate = alone.generate(inputs, *conf::fixture_noise(fixture));

  std::string description;
  const auto split = run_ranks("df_sync", 2, ParallelMode::Auto, &description);
  EXPECT_NE(description.find("CFG-parallel"), std::string::npos) << description;
  ASSERT_EQ(split.window_latents.size(), separate.window_latents.size());
  // Each rank makes one of the two batch-1 calls one process makes: the same bits.
  EXPECT_TRUE(at::equal(split.window_latents[0], separate.window_latents[0]));
  EXPECT_TRUE(at::equal(split.video, separate.video));
  // And the batched call's latents within the bound that holds between it and the two calls.
  EXPECT_LT(conf::relative_l2(split.window_latents[0], batched.window_latents[0]), 2e-2);
  EXPECT_EQ(split.model_calls_run, separate.model_calls_run);
}

TEST(CfgParallelFixture, FourRanksSplitEachBranchAndPassTheReferenceFixture) {
  if (!have_gloo()) GTEST_SKIP() << "this LibTorch build has no gloo process group";
  at::set_num_threads(1);
  // df_long_addnoise: guided, 2 windows with a prefix re-encoded between them; 2 heads, so each half
  // of 2 ranks splits them (Ulysses within a branch).
  const conf::FixtureCase fixture(skyreels::test::fixture_case("df_long_addnoise"));
  std::string description;
  const auto split = run_ranks("df_long_addnoise", 4, ParallelMode::Auto, &description);
  EXPECT_NE(description.find("Ulysses within"), std::string::npos) << description;
  const int windows = fixture.manifest().value("windows", 1);
  ASSERT_EQ(static_cast<int>(split.window_latents.size()), windows);
  for (int i = 0; i < windows; ++i)
    EXPECT_LT(conf::relative_l2(split.window_latents[i], fixture.tensor("out.latents" + std::to_string(i))),
              fixture.tolerance("latents_max"))
        << "window " << i;
  EXPECT_LT(conf::mean_abs_error(split.video, fixture.tensor("out.video")), fixture.tolerance("video_mae_max"));
}

TEST(CfgParallelFixture, FastModesKeepBothHalvesOnTheSameLatents) {
  if (!have_gloo()) GTEST_SKIP() << "this LibTorch build has no gloo process group";
  torch::NoGradGuard no_grad;
  at::set_num_threads(1);
  // Rows that skip the unconditional call run the conditional one on both halves, and the step cache
  // reuses blocks only where a half has recorded them: without one prediction for all, the halves drift
  // and the next window's prefix differs (3 windows here).
  auto fast = [](pipeline::GenerationSettings& s) {
    s.step_cache_threshold = 100;  // reuse wherever allowed
    s.cfg_skip_last_steps = 2;
  };
  const conf::FixtureCase fixture(skyreels::test::fixture_case("df_long_addnoise"));
  auto alone = conf::load_fixture_pipeline(fixture, c10::Device(c10::kCPU));
  alone.options().batched_cfg = false;
  auto inputs = conf::fixture_generation_inputs(fixture);
  fast(inputs.settings);
  const auto separate = alone.generate(inputs, *conf::fixture_noise(fixture));
  ASSERT_GT(separate.cfg_skipped_rows, 0);
  ASSERT_GT(separate.cached_rows, 0);

  const auto split = run_ranks("df_long_addnoise", 2, ParallelMode::Auto, nullptr, fast);
  ASSERT_EQ(split.window_latents.size(), separate.window_latents.size());
  for (std::size_t w = 0; w < split.window_latents.size(); ++w)
    EXPECT_TRUE(at::equal(split.window_latents[w], separate.window_latents[w])) << "window " << w;
}
