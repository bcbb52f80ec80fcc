#include <algorithm>
#include <random>

#include <gtest/gtest.h>

#include "sched/df_schedule.h"
#include "sched/flow_timesteps.h"
#include "skyreels/error.h"

using skyreels::Error;
using skyreels::ErrorCode;
using skyreels::sched::DfSchedule;
using skyreels::sched::DfScheduleParams;
using skyreels::sched::make_flow_timesteps;

namespace {

// The reference's row loop (generate_timestep_matrix), replayed literally: the oracle the closed
// form must equal. Returns counters per row and block.
std::vector<std::vector<int>> replay_row_loop(int blocks, int prefix_blocks, int steps, int ar_step) {
  const int ni = steps + 1;
  std::vector<int> pre(blocks, 0);
  std::fill(pre.begin(), pre.begin() + prefix_blocks, ni);
  std::vector<std::vector<int>> rows;
  while (!std::all_of(pre.begin(), pre.end(), [&](int c) { return c >= ni - 1; })) {
    std::vector<int> next(blocks);
    for (int i = 0; i < blocks; ++i)
      next[i] = (i == 0 || pre[i - 1] >= ni - 1) ? pre[i] + 1 : next[i - 1] - ar_step;
    for (int& c : next) c = std::clamp(c, 0, ni);
    rows.push_back(next);
    pre = next;
  }
  return rows;
}

DfScheduleParams params(int frames, int ar_step, int prefix, int cbs, int base = -1) {
  return DfScheduleParams{frames, base < 0 ? frames : base, ar_step, prefix, cbs};
}

}  // namespace

TEST(DfSchedule, ClosedFormEqualsTheReferenceRowLoop) {
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 400; ++trial) {
    const int cbs = 1 + rng() % 4;
    const int blocks = 1 + rng() % 9;
    const int prefix_blocks = rng() % blocks;
    const int steps = 1 + rng() % 12;
    const int ar_step = rng() % 16;  // includes ar_step > steps
    DfSchedule s(params(blocks * cbs, ar_step, prefix_blocks * cbs, cbs), make_flow_timesteps(steps, 8.0).timesteps);
    const auto oracle = replay_row_loop(blocks, prefix_blocks, steps, ar_step);
    ASSERT_EQ(s.rows(), static_cast<int>(oracle.size())) << "trial " << trial;
    for (int r = 0; r < s.rows(); ++r)
      for (int f = 0; f < s.frames(); ++f) {
        ASSERT_EQ(s.counter(r, f), oracle[r][f / cbs]) << "trial " << trial << " row " << r << " frame " << f;
        const int before = r == 0 ? (f / cbs < prefix_blocks ? steps + 1 : 0) : oracle[r - 1][f / cbs];
        ASSERT_EQ(s.updates(r, f), oracle[r][f / cbs] != before && oracle[r][f / cbs] != steps + 1);
      }
  }
}

TEST(DfSchedule, EveryBlockIsUpdatedExactlyStepsTimes) {
  DfSchedule s(params(25, 5, 5, 5), make_flow_timesteps(30, 8.0).timesteps);
  for (int f = 0; f < 25; ++f) {
    int updates = 0;
    for (int r = 0; r < s.rows(); ++r) updates += s.updates(r, f);
    EXPECT_EQ(updates, f < 5 ? 0 : 30) << "frame " << f;
  }
}

TEST(DfSchedule, AsyncWorkedExampleOfTheSpec) {
  // 25 latents, 30 steps, shift 8, ar_step 5, causal blocks of 5: 50 rows.
  DfSchedule s(params(25, 5, 0, 5), make_flow_timesteps(30, 8.0).timesteps);
  ASSERT_EQ(s.rows(), 50);
  auto block_timesteps = [&](int row) {
    std::vector<std::int64_t> out;
    for (int b = 0; b < 5; ++b) out.push_back(s.timestep(row, b * 5));
    return out;
  };
  EXPECT_EQ(block_timesteps(20), (std::vector<std::int64_t>{799, 888, 941, 975, 999}));
  EXPECT_EQ(block_timesteps(30), (std::vector<std::int64_t>{0, 615, 799, 888, 941}));
  EXPECT_EQ(block_timesteps(41), (std::vector<std::int64_t>{0, 0, 0, 551, 773}));
  EXPECT_EQ(block_timesteps(49), (std::vector<std::int64_t>{0, 0, 0, 0, 216}));
  EXPECT_EQ(s.updated_frames(30), (std::pair<int, int>{5, 25}));
  EXPECT_EQ(s.updated_frames(49), (std::pair<int, int>{20, 25}));
}

TEST(DfSchedule, SynchronousRowsAreWanStyleSteps) {
  const auto ts = make_flow_timesteps(30, 8.0).timesteps;
  DfSchedule s(params(25, 0, 0, 1), ts);
  ASSERT_EQ(s.rows(), 30);
  for (int r = 0; r < 30; ++r) {
    EXPECT_EQ(s.updated_frames(r), (std::pair<int, int>{0, 25}));
    for (int f = 0; f < 25; ++f) EXPECT_EQ(s.timestep(r, f), ts[r]);
  }
}

TEST(DfSchedule, UpdatedFramesMatchTheUpdateMatrix) {
  DfSchedule s(params(40, 1, 0, 1, 20), make_flow_timesteps(8, 8.0).timesteps);
  const auto mask = s.update_matrix();
  for (int r = 0; r < s.rows(); ++r) {
    const auto [first, last] = s.updated_frames(r);
    for (int f = 0; f < s.frames(); ++f) EXPECT_EQ(mask[r][f], f >= first && f < last) << r << "," << f;
  }
}

TEST(DfSchedule, RejectsSettingsTheReferenceSilentlyMangles) {
  const auto ts = make_flow_timesteps(30, 8.0).timesteps;
  auto expect_bad = [&](const DfScheduleParams& p, const std::string& fragment) {
    try {
      DfSchedule s(p, ts);
      FAIL() << "expected an error mentioning " << fragment;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::BadArgument);
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  expect_bad(params(26, 5, 0, 5), "multiple of causal_block_size");   // trailing frames dropped
  expect_bad(params(25, 5, 3, 5), "prefix latent frames");            // prefix truncated to 0
  expect_bad(params(50, 1, 0, 1, 25), "ar_step must be at least 2");  // window slides too fast
  expect_bad(params(25, 0, 25, 1), "nothing to generate");            // empty schedule
  expect_bad(params(20, 0, 0, 1, 25), "exceed");                      // base larger than window
  expect_bad(params(0, 0, 0, 1), "at least one latent frame");
  expect_bad(params(25, -1, 0, 1), "ar_step must not be negative");
  EXPECT_THROW(DfSchedule(params(25, 0, 0, 1), {}), Error);           // no steps
  EXPECT_NO_THROW(DfSchedule(params(50, 2, 0, 1, 25), ts));
}

TEST(DfSchedule, CellAccessOutsideTheScheduleThrows) {
  DfSchedule s(params(5, 0, 0, 1), make_flow_timesteps(4, 8.0).timesteps);
  EXPECT_THROW(s.counter(4, 0), Error);
  EXPECT_THROW(s.timestep(0, 5), Error);
  EXPECT_THROW(s.updates(-1, 0), Error);
}

TEST(FlowTimesteps, MatchTheSpecValues) {
  const auto t = make_flow_timesteps(30, 8.0);
  const std::vector<std::int64_t> expected = {999, 995, 991, 986, 980, 975, 969, 963, 956, 948,
                                              941, 932, 922, 912, 901, 888, 874, 859, 841, 822,
                                              799, 773, 743, 708, 666, 615, 551, 470, 363, 216};
  EXPECT_EQ(t.timesteps, expected);
  ASSERT_EQ(t.sigmas.size(), 31u);
  EXPECT_NEAR(t.sigmas[0], 0.999875, 1e-6);
  EXPECT_NEAR(t.sigmas[3], 0.986166, 1e-6);
  EXPECT_NEAR(t.sigmas[29], 0.216041, 1e-6);
  EXPECT_EQ(t.sigmas[30], 0.0f);
  const auto t50 = make_flow_timesteps(50, 8.0);
  EXPECT_EQ(t50.timesteps.front(), 999);
  EXPECT_EQ(t50.timesteps[25], 888);
  EXPECT_EQ(t50.timesteps.back(), 140);
  EXPECT_THROW(make_flow_timesteps(0, 8.0), Error);
  EXPECT_THROW(make_flow_timesteps(30, 0.0), Error);
}
