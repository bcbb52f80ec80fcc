// The step cache's decision (accumulated relative change of the updated frames' time modulation) and
// its bookkeeping of which call's residual may be reused.

#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "pipeline/step_cache.h"

namespace {

using skyreels::pipeline::StepCache;
namespace model = skyreels::model;

// e0 [frames, 6, 4] with every value of frame f equal to values[f].
at::Tensor e0_of(const std::vector<double>& values) {
  auto e0 = at::empty({static_cast<std::int64_t>(values.size()), 6, 4}, at::kFloat);
  for (std::size_t f = 0; f < values.size(); ++f) e0[static_cast<std::int64_t>(f)].fill_(values[f]);
  return e0;
}

// What a call that ran the blocks returns.
model::DitOutput ran(float residual) {
  model::DitOutput out;
  out.block_residual = at::full({1, 2, 3, 4}, residual);
  return out;
}

TEST(StepCache, ReusesWhileTheAccumulatedChangeStaysBelowTheThreshold) {
  // Frame values 1.0, 1.1, 1.2, ...: the relative L1 change from row k-1 to k is 0.1 / (1 + 0.1 (k-1)).
  const double threshold = 0.25;
  StepCache cache(threshold);
  double accumulated = 0;
  std::vector<bool> expected, got;
  for (int row = 0; row < 8; ++row) {
    const double value = 1.0 + 0.1 * row;
    bool reuse = false;
    if (row > 0) {
      accumulated += 0.1 / (value - 0.1);
      reuse = accumulated < threshold;
      if (!reuse) accumulated = 0;
    }
    expected.push_back(reuse);
    got.push_back(cache.decide(row, e0_of({value, value}), 0, 2, /*must_run=*/false));
  }
  EXPECT_EQ(got, expected);
  // The schedule above both reuses and runs again (the test would be vacuous otherwise).
  EXPECT_NE(std::count(expected.begin(), expected.end(), true), 0);
  EXPECT_NE(std::count(expected.begin() + 1, expected.end(), false), 0);
}

TEST(StepCache, OnlyTheUpdatedFramesCountAndMustRunRowsRun) {
  StepCache cache(10.0);  // a threshold nothing reaches
  EXPECT_FALSE(cache.decide(0, e0_of({1, 1, 1}), 0, 3, false));  // no previous row
  // Frame 0 changes a lot but only frame 2 is updated: no change counts, so the row reuses.
  EXPECT_TRUE(cache.decide(1, e0_of({50, 1, 1}), 2, 1, false));
  EXPECT_FALSE(cache.decide(2, e0_of({50, 1, 1}), 2, 1, /*must_run=*/true));  // a frame's first or last step
  // Rows of another length (another window) compare with nothing.
  EXPECT_FALSE(cache.decide(3, e0_of({1, 1}), 0, 2, false));
  StepCache strict(0.5);
  strict.decide(0, e0_of({1, 1, 1}), 0, 3, false);
  EXPECT_FALSE(strict.decide(1, e0_of({50, 1, 1}), 0, 1, false));  // the updated frame 0 moved 49x
}

TEST(StepCache, ACallReusesOnlyWhatItsOwnKindComputedAtTheLastRunRow) {
  StepCache cache(10.0);
  ASSERT_FALSE(cache.decide(0, e0_of({1}), 0, 1, false));  // row 0 runs
  auto batched = cache.reuse_for(2);
  EXPECT_FALSE(batched.residual.defined());
  EXPECT_TRUE(batched.keep_residual);
  cache.record(2, ran(3.0f));

  ASSERT_TRUE(cache.decide(1, e0_of({1}), 0, 1, false));  // row 1 may reuse
  batched = cache.reuse_for(2);
  ASSERT_TRUE(batched.residual.defined());
  EXPECT_EQ(batched.residual.max().item<float>(), 3.0f);
  // The conditional-only call (a row without guidance) has no residual yet: it runs, and since the
  // change since row 0 is under the threshold, its residual stands for row 0 too.
  EXPECT_FALSE(cache.reuse_for(0).residual.defined());
  cache.record(0, ran(7.0f));
  ASSERT_TRUE(cache.decide(2, e0_of({1}), 0, 1, false));
  EXPECT_EQ(cache.reuse_for(0).residual.max().item<float>(), 7.0f);
  // A reused call leaves the stored residual as it was.
  model::DitOutput reused;
  reused.reused = true;
  cache.record(2, reused);
  EXPECT_EQ(cache.reuse_for(2).residual.max().item<float>(), 3.0f);

  // Row 3 runs (a frame's last step) with the batched call only; at row 4 the cond call's residual is
  // older than the last run row, so it runs instead of reusing it.
  ASSERT_FALSE(cache.decide(3, e0_of({1}), 0, 1, /*must_run=*/true));
  EXPECT_FALSE(cache.reuse_for(2).residual.defined());
  cache.record(2, ran(5.0f));
  ASSERT_TRUE(cache.decide(4, e0_of({1}), 0, 1, false));
  EXPECT_EQ(cache.reuse_for(2).residual.max().item<float>(), 5.0f);
  EXPECT_FALSE(cache.reuse_for(0).residual.defined());
}

}  // namespace
