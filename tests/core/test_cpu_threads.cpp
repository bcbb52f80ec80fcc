// use_all_cpu_cores: every core the process may run on, unless OMP_NUM_THREADS chose.

#include <cstdlib>
#include <string>

#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <sched.h>

#include "skyreels/cpu_threads.h"

namespace {

int cores_allowed() {
  cpu_set_t set;
  EXPECT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
  return CPU_COUNT(&set);
}

// Sets or clears OMP_NUM_THREADS and the thread count for one test, and puts both back after it.
class CpuThreadsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* chosen = std::getenv("OMP_NUM_THREADS");
    had_ = chosen != nullptr;
    if (had_) saved_ = chosen;
    threads_ = at::get_num_threads();
    at::set_num_threads(1);
  }
  void TearDown() override {
    if (had_) setenv("OMP_NUM_THREADS", saved_.c_str(), 1);
    else unsetenv("OMP_NUM_THREADS");
    at::set_num_threads(threads_);
  }

 private:
  bool had_ = false;
  std::string saved_;
  int threads_ = 1;
};

TEST_F(CpuThreadsTest, UsesEveryCoreTheProcessMayRunOnWhenNoneIsChosen) {
  unsetenv("OMP_NUM_THREADS");
  EXPECT_EQ(skyreels::use_all_cpu_cores(), cores_allowed());
  EXPECT_EQ(skyreels::cpu_threads(), cores_allowed());
}

TEST_F(CpuThreadsTest, AnEmptyChoiceCountsAsNone) {
  setenv("OMP_NUM_THREADS", "", 1);
  EXPECT_EQ(skyreels::use_all_cpu_cores(), cores_allowed());
}

TEST_F(CpuThreadsTest, OmpNumThreadsKeepsTheUsersChoice) {
  setenv("OMP_NUM_THREADS", "1", 1);  // LibTorch read it at start; the count set in SetUp stands for it
  EXPECT_EQ(skyreels::use_all_cpu_cores(), 1);
}

}  // namespace
