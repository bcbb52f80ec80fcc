// Where a process sits in a multi-process run, from the variables its starter set (issue 27): our
// launcher, torchrun, SLURM's srun; and SLURM's node lists.

#include <cstdlib>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "parallel/launcher.h"
#include "parallel/process_group.h"
#include "skyreels/error.h"

namespace parallel = skyreels::parallel;

namespace {

const std::vector<std::string> kVariables = {"SKYREELS_RANK", "SKYREELS_WORLD_SIZE", "SKYREELS_STORE", "WORLD_SIZE",
                                             "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "SLURM_PROCID",
                                             "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_JOB_NODELIST",
                                             "SKYREELS_RANK_TIMEOUT_S", "CUDA_VISIBLE_DEVICES"};

// Each test starts from none of the variables and leaves none behind.
class ParallelEnvTest : public ::testing::Test {
protected:
  void SetUp() override { clear(); }
  void TearDown() override { clear(); }
  static void clear() {
    for (const auto& v : kVariables) unsetenv(v.c_str());
  }
  static void set(const char* name, const char* value) { setenv(name, value, 1); }
};

}  // namespace

TEST_F(ParallelEnvTest, NoStarterIsOneProcess) {
  const auto env = parallel::ParallelEnv::from_environment();
  EXPECT_FALSE(env.active());
  EXPECT_EQ(env.starter, "");
  EXPECT_FALSE(parallel::launched_rank());
  // An salloc shell has SLURM_NTASKS but no task id: still one process.
  set("SLURM_NTASKS", "4");
  EXPECT_FALSE(parallel::ParallelEnv::from_environment().active());
  EXPECT_FALSE(parallel::launched_rank());
}

TEST_F(ParallelEnvTest, Torchrun) {
  set("WORLD_SIZE", "4");
  set("RANK", "3");
  set("LOCAL_RANK", "1");
  set("MASTER_ADDR", "node7");
  set("MASTER_PORT", "29123");
  EXPECT_TRUE(parallel::launched_rank());
  const auto env = parallel::ParallelEnv::from_environment();
  EXPECT_EQ(env.starter, "torchrun");
  EXPECT_EQ(env.rank, 3);
  EXPECT_EQ(env.size, 4);
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.master_addr, "node7");
  EXPECT_EQ(env.master_port, 29123);
  EXPECT_TRUE(env.store.empty());
  EXPECT_EQ(env.timeout, parallel::kDefaultRankTimeout);
  // The GPU is this host's local rank, unless one was named.
  EXPECT_EQ(env.device_for(c10::Device("cuda")), c10::Device("cuda:1"));
  EXPECT_EQ(env.device_for(c10::Device("cuda:0")), c10::Device("cuda:0"));
  EXPECT_EQ(env.device_for(c10::Device("cpu")), c10::Device("cpu"));
  setenv("CUDA_VISIBLE_DEVICES", "5", 1);  // one GPU shown to this task: its cuda:0
  EXPECT_EQ(env.device_for(c10::Device("cuda")), c10::Device("cuda:0"));
  unsetenv("CUDA_VISIBLE_DEVICES");
}

TEST_F(ParallelEnvTest, SlurmTakesTheFirstHostOfTheNodeList) {
  set("SLURM_NTASKS", "8");
  set("SLURM_PROCID", "5");
  set("SLURM_LOCALID", "1");
  set("SLURM_JOB_NODELIST", "gpu[07-10],cpu1");
  set("SKYREELS_RANK_TIMEOUT_S", "45");
  const auto env = parallel::ParallelEnv::from_environment();
  EXPECT_EQ(env.starter, "slurm");
  EXPECT_EQ(env.rank, 5);
  EXPECT_EQ(env.size, 8);
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.master_addr, "gpu07");
  EXPECT_EQ(env.master_port, parallel::kDefaultMasterPort);
  EXPECT_EQ(env.timeout.count(), 45);
  set("MASTER_ADDR", "login2");  // an explicit master wins
  EXPECT_EQ(parallel::ParallelEnv::from_environment().master_addr, "login2");
}

TEST_F(ParallelEnvTest, OurLauncherComesFirst) {
  set("SKYREELS_RANK", "1");
  set("SKYREELS_WORLD_SIZE", "2");
  set("SKYREELS_STORE", "/tmp/rendezvous");
  set("WORLD_SIZE", "4");  // e.g. inherited from an outer torchrun
  const auto env = parallel::ParallelEnv::from_environment();
  EXPECT_EQ(env.starter, "launcher");
  EXPECT_EQ(env.size, 2);
  EXPECT_EQ(env.store, "/tmp/rendezvous");
  EXPECT_EQ(env.device_for(c10::Device("cuda")), c10::Device("cuda"));  // the launcher shows one GPU a rank
}

TEST_F(ParallelEnvTest, InconsistentVariablesNameTheProblem) {
  auto message = [] {
    try {
      parallel::ParallelEnv::from_environment();
    } catch (const skyreels::Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  set("WORLD_SIZE", "2");
  set("RANK", "2");
  set("MASTER_ADDR", "a");
  EXPECT_NE(message().find("RANK 2 is not within WORLD_SIZE 2"), std::string::npos) << message();
  set("RANK", "1");
  unsetenv("MASTER_ADDR");
  EXPECT_NE(message().find("MASTER_ADDR"), std::string::npos) << message();
  set("MASTER_ADDR", "a");
  set("MASTER_PORT", "70000");
  EXPECT_NE(message().find("MASTER_PORT 70000"), std::string::npos) << message();
  set("MASTER_PORT", "x");
  EXPECT_NE(message().find("MASTER_PORT must be a number"), std::string::npos) << message();
  set("MASTER_PORT", "1234");
  set("SKYREELS_RANK_TIMEOUT_S", "0");
  EXPECT_NE(message().find("SKYREELS_RANK_TIMEOUT_S"), std::string::npos) << message();
}

TEST(SlurmNodeList, FirstHost) {
  EXPECT_EQ(parallel::first_slurm_host("node01"), "node01");
  EXPECT_EQ(parallel::first_slurm_host("a,b,c"), "a");
  EXPECT_EQ(parallel::first_slurm_host("gpu[07-10,12],cpu1"), "gpu07");
  EXPECT_EQ(parallel::first_slurm_host("gpu[3,5-6]"), "gpu3");
  EXPECT_EQ(parallel::first_slurm_host("rack1-n[001-004]-ib"), "rack1-n001-ib");
  EXPECT_THROW(parallel::first_slurm_host("gpu[01-04"), skyreels::Error);
}
