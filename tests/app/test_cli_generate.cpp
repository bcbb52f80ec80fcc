// The real skyreels-cli executable: exit codes, JSON events, files written, Ctrl-C.

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "io/safetensors.h"
#include "parallel/process_group.h"
#include "pipeline/demo_model.h"
#include "test_support.h"

#if defined(SKYREELS_TEST_HAVE_VIDEO)
#include "video/video_metadata.h"
#include "video/video_reader.h"
#endif

namespace {

using skyreels::test::TempDir;
namespace fs = std::filesystem;

struct CliRun {
  int code = -1;
  std::string out, err;
  std::vector<nlohmann::json> events() const {
    std::vector<nlohmann::json> lines;
    std::size_t start = 0;
    for (std::size_t end; (end = out.find('\n', start)) != std::string::npos; start = end + 1)
      lines.push_back(nlohmann::json::parse(out.substr(start, end - start)));  // throws on a non-JSON line
    return lines;
  }
};

// Starts skyreels-cli with stdout on a pipe and stderr in a file; the prompt cache in `cache`.
class Process {
public:
  // `max_file_bytes` > 0 limits the size of any file the process writes (RLIMIT_FSIZE): a full disk.
  // `env`: variables set in the child only (e.g. torchrun's).
  Process(const std::vector<std::string>& args, const fs::path& cache, const fs::path& err_file,
          long max_file_bytes = 0, const std::vector<std::pair<std::string, std::string>>& env = {}) {
    int fds[2];
    if (pipe(fds) != 0) throw std::runtime_error("pipe");
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], 1);
      const int err = open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(err, 2);
      close(fds[0]);
      setenv("XDG_CACHE_HOME", cache.c_str(), 1);
      for (const auto& [name, value] : env) setenv(name.c_str(), value.c_str(), 1);
      if (max_file_bytes > 0) {
        const rlimit limit{static_cast<rlim_t>(max_file_bytes), static_cast<rlim_t>(max_file_bytes)};
        setrlimit(RLIMIT_FSIZE, &limit);
        std::signal(SIGXFSZ, SIG_IGN);  // writes past the limit fail with EFBIG, as on a full disk
      }
      std::vector<char*> argv{const_cast<char*>(SKYREELS_CLI_EXE)};
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(SKYREELS_CLI_EXE, argv.data());
      _exit(127);
    }
    close(fds[1]);
    out_ = fdopen(fds[0], "r");
  }
  ~Process() {
    if (out_) std::fclose(out_);
    if (pid_ > 0 && !waited_) waitpid(pid_, nullptr, 0);
  }
  // The next stdout line, or false at the end.
  bool read_line(std::string& line) {
    line.clear();
    for (int c; (c = std::fgetc(out_)) != EOF;) {
      if (c == '\n') return true;
      line.push_back(static_cast<char>(c));
    }
    return !line.empty();
  }
  void signal(int sig) { kill(pid_, sig); }
  int wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    waited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

private:
  pid_t pid_ = -1;
  std::FILE* out_ = nullptr;
  bool waited_ = false;
};

// Everything the process writes to stdout, its exit code, then its stderr file.
CliRun finish(Process& p, const fs::path& err_file) {
  CliRun r;
  for (std::string line; p.read_line(line);) r.out += line + "\n";
  r.code = p.wait();
  r.err = skyreels::test::read_file(err_file);
  return r;
}

// Reads `--json` events until the first decoded block, then sends `sig`; returns that block's frames.
std::int64_t signal_after_first_block(Process& p, int sig) {
  for (std::string line; p.read_line(line);) {
    const auto e = nlohmann::json::parse(line);
    if (e["event"] == "block_decoded") {
      p.signal(sig);
      return e["frames"].get<std::int64_t>();
    }
  }
  return 0;
}

class CliGenerate : public ::testing::Test {
protected:
  CliRun run(const std::vector<std::string>& args, long max_file_bytes = 0) {
    Process p(args, dir_ / "cache", dir_ / "stderr.txt", max_file_bytes);
    return finish(p, dir_ / "stderr.txt");
  }
  std::vector<std::string> demo(std::vector<std::string> more) {
    std::vector<std::string> args{"generate", "--model", SKYREELS_TINY_MODEL_DIR, "--frames", "9", "--steps", "2",
                                  "--seed", "5", "--device", "cpu"};
    args.insert(args.end(), more.begin(), more.end());
    return args;
  }
  TempDir dir_;
};

TEST_F(CliGenerate, HelpListsTheOptions) {
  const auto r = run({"generate", "--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("--model DIR"), std::string::npos);
  EXPECT_NE(r.out.find("Exit codes"), std::string::npos);
  for (const char* option : {"--few-step", "--sampler unipc|euler", "--timesteps", "--causal-attention", "--vram-budget GIB"})
    EXPECT_NE(r.out.find(option), std::string::npos) << option;
}

TEST_F(CliGenerate, BadInputExitsWithTwoAndNamesTheProblem) {
  auto r = run({"generate", "--model", "/nonexistent/model", "--output", (dir_ / "a.safetensors").string()});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("/nonexistent/model"), std::string::npos) << r.err;

  r = run({"generate", "--frames", "ten"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--frames needs a whole number"), std::string::npos) << r.err;

  r = run({"generate", "--json", "--model", "/nonexistent/model"});
  EXPECT_EQ(r.code, 2);
  const auto events = r.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["event"], "error");
  EXPECT_EQ(events[0]["code"], "not found");
}

// Sequence parallelism over two gloo processes: the DiT and pipeline fixtures must still pass (the
// pipeline ones split 5 latent frames 3 + 2, so uneven shares are covered).
bool have_gloo() { return skyreels::parallel::available_backends().find("gloo") != std::string::npos; }

TEST_F(CliGenerate, TwoRanksPassTheReferenceFixtures) {
  if (!have_gloo()) GTEST_SKIP() << "this LibTorch build has no gloo process group";
  const std::string fixtures = SKYREELS_FIXTURES_DIR;
  const auto r = run({"check", "--ranks", "2", fixtures + "/dit_df_fps", fixtures + "/dit_wan_scalar_t",
                      fixtures + "/df_sync", fixtures + "/df_async", fixtures + "/df_long_addnoise"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("5 passed, 0 failed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("2 ranks"), std::string::npos) << r.out;
  // Four ranks: the guided pipeline case runs CFG-parallel with each half splitting the 2 heads.
  const auto four = run({"check", "--ranks", "4", fixtures + "/df_sync"});
  EXPECT_EQ(four.code, 0) << four.out << four.err;
  EXPECT_NE(four.out.find("1 passed, 0 failed"), std::string::npos) << four.out;
}

// Issue 27: ranks started as torchrun starts them (the environment only; rank 0 serves a TCPStore on
// 127.0.0.1), with no launcher of ours.
int free_port() {
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (s < 0 || bind(s, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      getsockname(s, reinterpret_cast<sockaddr*>(&address), &length) != 0)
    throw std::runtime_error("no free port");
  close(s);
  return ntohs(address.sin_port);
}

struct RankRun {
  std::vector<CliRun> ranks;
  double seconds = 0;
};

RankRun run_as_torchrun(const fs::path& dir, const std::vector<std::string>& args, int world, int started,
                        int timeout_s, const std::vector<std::string>& last_rank_args = {}) {
  const auto port = std::to_string(free_port());
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::unique_ptr<Process>> processes;
  for (int r = 0; r < started; ++r) {
    const bool last = r == started - 1 && !last_rank_args.empty();
    processes.push_back(std::make_unique<Process>(
        last ? last_rank_args : args, dir / "cache", dir / ("stderr" + std::to_string(r) + ".txt"), 0,
        std::vector<std::pair<std::string, std::string>>{{"WORLD_SIZE", std::to_string(world)},
                                                         {"RANK", std::to_string(r)},
                                                         {"LOCAL_RANK", std::to_string(r)},
                                                         {"MASTER_ADDR", "127.0.0.1"},
                                                         {"MASTER_PORT", port},
                                                         {"SKYREELS_RANK_TIMEOUT_S", std::to_string(timeout_s)}}));
  }
  RankRun result;
  for (int r = 0; r < started; ++r)
    result.ranks.push_back(finish(*processes[static_cast<std::size_t>(r)], dir / ("stderr" + std::to_string(r) + ".txt")));
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

TEST_F(CliGenerate, RanksStartedAsTorchrunStartsThemPassTheReferenceFixtures) {
  if (!have_gloo()) GTEST_SKIP() << "this LibTorch build has no gloo process group";
  const std::string fixtures = SKYREELS_FIXTURES_DIR;
  const auto run = run_as_torchrun(dir_.path(), {"check", fixtures + "/dit_df_fps", fixtures + "/df_sync"}, 2, 2, 120);
  for (const auto& r : run.ranks) EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(run.ranks[0].out.find("2 passed, 0 failed"), std::string::npos) << run.ranks[0].out;
  EXPECT_NE(run.ranks[0].out.find("2 ranks"), std::string::npos) << run.ranks[0].out;
  EXPECT_NE(run.ranks[0].err.find("started by torchrun"), std::string::npos) << run.ranks[0].err;
  // Three ranks meet too, but the fixtures' 2 heads cannot be split three ways (Ulysses): rank 0 says
  // so, and every rank stops, none waits.
  const auto three = run_as_torchrun(dir_.path(), {"check", fixtures + "/dit_df_fps"}, 3, 3, 30);
  EXPECT_NE(three.ranks[0].code, 0) << three.ranks[0].out << three.ranks[0].err;  // rank 0 reports
  EXPECT_NE((three.ranks[0].out + three.ranks[0].err).find("cannot be split over 3 ranks"), std::string::npos)
      << three.ranks[0].out << three.ranks[0].err;
  EXPECT_LT(three.seconds, 60);
}

TEST_F(CliGenerate, ARankThatNeverComesOrQuitsStopsTheOthersWithinTheTimeout) {
  if (!have_gloo()) GTEST_SKIP() << "this LibTorch build has no gloo process group";
  const std::string fixtures = SKYREELS_FIXTURES_DIR;
  // Rank 1 of 2 never starts: rank 0 gives up after the timeout and names itself, its host and the store.
  auto run = run_as_torchrun(dir_.path(), {"check", fixtures + "/dit_df_fps"}, 2, 1, 3);
  EXPECT_NE(run.ranks[0].code, 0);
  EXPECT_NE(run.ranks[0].err.find("rank 0 of 2 on host"), std::string::npos) << run.ranks[0].err;
  EXPECT_NE(run.ranks[0].err.find("127.0.0.1:"), std::string::npos) << run.ranks[0].err;
  EXPECT_LT(run.seconds, 60);
  // Rank 1 quits at once (a bad path): rank 0 stops within the timeout as well.
  run = run_as_torchrun(dir_.path(), {"check", fixtures + "/dit_df_fps"}, 2, 2, 3, {"check", "/nonexistent/fixtures"});
  EXPECT_EQ(run.ranks[1].code, 2) << run.ranks[1].err;
  EXPECT_NE(run.ranks[0].code, 0);
  EXPECT_NE(run.ranks[0].err.find("rank 0 of 2 on host"), std::string::npos) << run.ranks[0].err;
  EXPECT_LT(run.seconds, 60);
}

TEST_F(CliGenerate, AFailingRankStopsTheRunWithItsCode) {
  const auto r = run({"check", "--ranks", "2", "/nonexistent/fixtures"});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("/nonexistent/fixtures"), std::string::npos) << r.err;
}

#if defined(SKYREELS_TEST_HAVE_TINY_MODEL)

TEST_F(CliGenerate, TwoRanksGenerateTheSameVideoAsOne) {
  if (!have_gloo()) GTEST_SKIP() << "this LibTorch build has no gloo process group";
  const auto one = dir_ / "one.safetensors", two = dir_ / "two.safetensors";
  auto r = run(demo({"--output", one.string()}));
  ASSERT_EQ(r.code, 0) << r.err;
  r = run(demo({"--gpus", "2", "--output", two.string()}));
  ASSERT_EQ(r.code, 0) << r.err;
  // A guided job on 2 ranks: the planner puts the conditional and unconditional calls on one each.
  EXPECT_NE(r.err.find("denoising: 2 ranks: CFG-parallel"), std::string::npos) << r.err;
  const auto a = skyreels::io::SafetensorsFile(one.string()).tensor("frames");
  const auto b = skyreels::io::SafetensorsFile(two.string()).tensor("frames");
  ASSERT_EQ(a.sizes(), b.sizes());
  // The same computation split differently: bf16 GEMMs of other shapes round differently.
  EXPECT_LT((a.to(at::kFloat) - b.to(at::kFloat)).abs().mean().item<double>(), 2.0);
  // Asked for Ulysses instead: each call's tokens split over both ranks, the same video within rounding.
  const auto ulysses = dir_ / "ulysses.safetensors";
  r = run(demo({"--gpus", "2", "--parallel", "ulysses", "--output", ulysses.string()}));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("denoising: 2 ranks: Ulysses"), std::string::npos) << r.err;
  const auto u = skyreels::io::SafetensorsFile(ulysses.string()).tensor("frames");
  ASSERT_EQ(u.sizes(), a.sizes());
  EXPECT_LT((a.to(at::kFloat) - u.to(at::kFloat)).abs().mean().item<double>(), 2.0);
  // CFG-parallel asked for an unguided job: every rank stops before any work and says why.
  r = run(demo({"--gpus", "2", "--parallel", "cfg", "--guidance", "1", "--output", (dir_ / "x.safetensors").string()}));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("CFG-parallel needs guidance"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "x.safetensors"));

  // Started as torchrun starts them (issue 27): the same command on each rank, rank 0 writes.
  const auto three = dir_ / "torchrun.safetensors";
  const auto ranks = run_as_torchrun(dir_.path(), demo({"--output", three.string()}), 2, 2, 120);
  for (const auto& rank : ranks.ranks) ASSERT_EQ(rank.code, 0) << rank.err;
  const auto c = skyreels::io::SafetensorsFile(three.string()).tensor("frames");
  ASSERT_EQ(c.sizes(), a.sizes());
  EXPECT_TRUE(at::equal(c, b));  // the same split as --gpus 2: the same bytes
}

// Three ranks as torchrun starts them: an odd count, so Ulysses over all three, on a tiny model of 3
// heads (the fixtures' 2 heads cannot be split three ways).
TEST_F(CliGenerate, ThreeTorchrunRanksGenerateTheSameVideoAsOne) {
  if (!have_gloo()) GTEST_SKIP() << "this LibTorch build has no gloo process group";
  skyreels::pipeline::DemoModelShape shape;
  shape.dit_dim = 192;  // 3 heads of 64
  shape.dit_ffn = 384;
  shape.dit_heads = 3;
  const auto model = dir_ / "three-heads";
  skyreels::pipeline::write_demo_model(model, 11, shape);
  auto args = [&](const fs::path& output) {
    return std::vector<std::string>{"generate", "--model", model.string(), "--frames", "9", "--steps", "2", "--seed",
                                    "5", "--device", "cpu", "--output", output.string()};
  };
  const auto one = dir_ / "one.safetensors", three = dir_ / "three.safetensors";
  const auto r = run(args(one));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto ranks = run_as_torchrun(dir_.path(), args(three), 3, 3, 120);
  for (const auto& rank : ranks.ranks) ASSERT_EQ(rank.code, 0) << rank.err;
  EXPECT_NE(ranks.ranks[0].err.find("denoising: 3 ranks: Ulysses"), std::string::npos) << ranks.ranks[0].err;
  const auto a = skyreels::io::SafetensorsFile(one.string()).tensor("frames");
  const auto c = skyreels::io::SafetensorsFile(three.string()).tensor("frames");
  ASSERT_EQ(c.sizes(), a.sizes());
  // 3 latent frames split 1 + 1 + 1: other GEMM shapes, the same video within rounding.
  EXPECT_LT((a.to(at::kFloat) - c.to(at::kFloat)).abs().mean().item<double>(), 2.0);
}

TEST_F(CliGenerate, ImpossibleSettingsAndOutputsFailBeforeWork) {
  auto r = run(demo({"--frames", "10", "--output", (dir_ / "x.safetensors").string()}));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("1 + 4k"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "x.safetensors"));

  r = run(demo({"--output", (dir_ / "x.avi").string()}));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("unknown output type"), std::string::npos) << r.err;

  r = run(demo({"--output", (dir_ / "no" / "such" / "folder.safetensors").string()}));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("does not exist"), std::string::npos) << r.err;

  skyreels::test::write_file(dir_ / "taken.safetensors", "earlier work");
  r = run(demo({"--output", (dir_ / "taken.safetensors").string()}));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--overwrite"), std::string::npos) << r.err;
  EXPECT_EQ(skyreels::test::read_file(dir_ / "taken.safetensors"), "earlier work");
}

TEST_F(CliGenerate, WritesFramesWithTheirSettingsAndReportsJsonEvents) {
  const auto out = dir_ / "demo.safetensors";
  const auto r = run(demo({"--json", "--prompt", "a small bird", "--output", out.string()}));
  ASSERT_EQ(r.code, 0) << r.err;
  std::int64_t block_frames = 0;
  int rows = 0;
  std::string last;
  for (const auto& e : r.events()) {
    if (e["event"] == "block_decoded") block_frames += e["frames"].get<std::int64_t>();
    if (e["event"] == "row_done") ++rows;
    last = e["event"];
  }
  EXPECT_EQ(block_frames, 9);
  EXPECT_GT(rows, 0);
  EXPECT_EQ(last, "output");

  skyreels::io::SafetensorsFile file(out.string());
  const auto frames = file.tensor("frames");
  EXPECT_EQ(frames.sizes(), (std::vector<std::int64_t>{9, 192, 320, 3}));  // the demo's recommended size
  const auto settings = nlohmann::json::parse(file.metadata().at("skyreels_settings"));
  EXPECT_EQ(settings["prompt"], "a small bird");
  EXPECT_EQ(settings["seed"], 5);
  // Progress went to stderr, not stdout.
  EXPECT_NE(r.err.find("row"), std::string::npos);
}

TEST_F(CliGenerate, AVramBudgetPrintsThePlanAndTooSmallOneFailsBeforeWork) {
  const auto out = dir_ / "budget.safetensors";
  auto r = run(demo({"--json", "--vram-budget", "4", "--output", out.string()}));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("memory plan: DiT: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("on the CPU the plan is only shown"), std::string::npos) << r.err;
  EXPECT_EQ(r.events().front()["event"], "memory_plan");
  skyreels::io::SafetensorsFile file(out.string());
  EXPECT_EQ(nlohmann::json::parse(file.metadata().at("skyreels_settings"))["vram_budget_gib"], 4.0);

  r = run(demo({"--vram-budget", "0.01", "--output", (dir_ / "small.safetensors").string()}));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("the budget 0.01 GiB cannot hold"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("raise it to at least"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "small.safetensors"));
}

TEST_F(CliGenerate, FewStepPresetRunsOneCallPerRowAndIsStoredWithTheVideo) {
  const auto out = dir_ / "few.safetensors";
  const auto r = run(demo({"--json", "--few-step", "--causal-attention", "--output", out.string()}));
  ASSERT_EQ(r.code, 0) << r.err;
  int rows = 0;
  for (const auto& e : r.events()) rows += e["event"] == "row_done";
  EXPECT_EQ(rows, 4);  // sync: one row per step of 1000 750 500 250
  skyreels::io::SafetensorsFile file(out.string());
  const auto settings = nlohmann::json::parse(file.metadata().at("skyreels_settings"));
  EXPECT_EQ(settings["sampler"], "euler");
  EXPECT_EQ(settings["timestep_list"], nlohmann::json::array({1000, 750, 500, 250}));
  EXPECT_EQ(settings["steps"], 4);
  EXPECT_EQ(settings["guidance_scale"], 1.0);
  EXPECT_EQ(settings["shift"], 5.0);
  EXPECT_EQ(settings["causal_attention"], true);
}

TEST_F(CliGenerate, CtrlCKeepsTheFinishedBlocks) {
  // 33 frames in 3 causal blocks (the demo's async defaults): stop once the first block is written.
  const auto out = dir_ / "stopped.safetensors";
  Process p({"generate", "--model", SKYREELS_TINY_MODEL_DIR, "--frames", "33", "--steps", "30", "--seed", "3", "--device", "cpu",
             "--json", "--output", out.string()},
            dir_ / "cache", dir_ / "stderr.txt");
  const auto first_block = signal_after_first_block(p, SIGINT);
  ASSERT_GT(first_block, 0);
  std::string cancelled_line;
  for (std::string line; p.read_line(line);)
    if (line.find("\"cancelled\"") != std::string::npos) cancelled_line = line;
  EXPECT_EQ(p.wait(), 130) << skyreels::test::read_file(dir_ / "stderr.txt");
  EXPECT_FALSE(cancelled_line.empty());
  skyreels::io::SafetensorsFile file(out.string());
  const auto frames = file.tensor("frames").size(0);
  EXPECT_GE(frames, first_block);
  EXPECT_LT(frames, 33);
}


// --- hostile and careless input (issue 21): every case ends in a clear error, nothing is lost ---

// The demo model copied into the test's folder, for damaging one part of it.
fs::path demo_copy(const fs::path& dir) {
  const auto copy = dir / "model";
  fs::copy(SKYREELS_TINY_MODEL_DIR, copy, fs::copy_options::recursive);
  return copy;
}

TEST_F(CliGenerate, HostileOptionsAndFilesFailFastWithTwo) {
  const auto out = (dir_ / "x.safetensors").string();
  auto expect_bad = [&](const std::vector<std::string>& args, const std::string& fragment) {
    const auto r = run(args);
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_NE(r.err.find(fragment), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(out));
  };
  expect_bad(demo({"--prompt-file", "/dev/zero", "--output", out}), "not a regular file");
  skyreels::test::write_file(dir_ / "long.txt", std::string(20000, 'a'));
  expect_bad(demo({"--prompt-file", (dir_ / "long.txt").string(), "--output", out}), "at most");
  expect_bad(demo({"--prompt", "a \xff\xfe bird", "--output", out}), "UTF-8");
  expect_bad(demo({"--resolution", "100000x100000", "--output", out}), "too large");
  expect_bad(demo({"--seconds", "3600", "--fps", "240", "--output", out}), "more than 100000");
  expect_bad(demo({"--preset", "ultrafats", "--output", out}), "ultrafats");
  expect_bad(demo({"--output", "/proc/x.safetensors"}), "/proc/x");
  // Settings files are checked like options.
  skyreels::test::write_file(dir_ / "fps.json", R"({"fps": 2000000000})");
  expect_bad(demo({"--settings", (dir_ / "fps.json").string(), "--output", out}), "fps");
  skyreels::test::write_file(dir_ / "seed.json", R"({"seed": -1})");
  expect_bad({"generate", "--model", SKYREELS_TINY_MODEL_DIR, "--settings", (dir_ / "seed.json").string(), "--output", out},
             "negative");
  // A FIFO where a JSON file belongs would block forever: only regular files are read.
  const auto fifo = dir_ / "settings.fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0644), 0);
  expect_bad(demo({"--settings", fifo.string(), "--output", out}), "not a regular file");
}

TEST_F(CliGenerate, DamagedModelFoldersAreNamedNotCrashed) {
  const auto out = (dir_ / "x.safetensors").string();
  const auto model = demo_copy(dir_.path());
  // A FIFO for the recommended settings.
  fs::remove(model / "skyreels-defaults.json");
  ASSERT_EQ(mkfifo((model / "skyreels-defaults.json").c_str(), 0644), 0);
  auto r = run({"generate", "--model", model.string(), "--device", "cpu", "--output", out});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("not a regular file"), std::string::npos) << r.err;
  fs::remove(model / "skyreels-defaults.json");

  // A DiT whose patch embedding has an empty axis (it divided by zero: SIGFPE), then one with an
  // impossible block index (std::stoi threw "stoi").
  const auto weights = skyreels::io::SafetensorsFile((model / "model.safetensors").string());
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& e : weights.entries()) tensors.emplace_back(e.name, weights.tensor(e.name).clone());
  auto damaged = tensors;
  for (auto& [name, t] : damaged)
    if (name == "patch_embedding.weight") t = at::zeros({t.size(0), t.size(1), 0, t.size(3), t.size(4)}, t.options());
  skyreels::io::write_safetensors((model / "model.safetensors").string(), damaged);
  r = run({"generate", "--model", model.string(), "--device", "cpu", "--frames", "9", "--steps", "1", "--output", out});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("patch_t"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out));
  damaged = tensors;
  damaged.emplace_back("blocks.99999999999.x", at::zeros({1}));
  skyreels::io::write_safetensors((model / "model.safetensors").string(), damaged);
  r = run({"generate", "--model", model.string(), "--device", "cpu", "--frames", "9", "--steps", "1", "--output", out});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("blocks.99999999999.x"), std::string::npos) << r.err;
  // Nothing half-written is left beside the output.
  for (const auto& entry : fs::directory_iterator(dir_.path()))
    EXPECT_EQ(entry.path().filename().string().find(".partial"), std::string::npos) << entry.path();
}

TEST_F(CliGenerate, SettingsFilesLayerOnTheModelsRecommendedSettings) {
  skyreels::test::write_file(dir_ / "steps.json", R"({"steps": 1, "num_frames": 5, "base_num_frames": 5, "ar_step": 0, "causal_block_size": 1})");
  const auto out = dir_ / "layered.safetensors";
  const auto r = run({"generate", "--model", SKYREELS_TINY_MODEL_DIR, "--settings", (dir_ / "steps.json").string(),
                      "--device", "cpu", "--seed", "1", "--output", out.string()});
  ASSERT_EQ(r.code, 0) << r.err;
  skyreels::io::SafetensorsFile file(out.string());
  // The demo's recommended size (192 x 320), not the reference's 544 x 960: the file only set steps.
  EXPECT_EQ(file.tensor("frames").sizes(), (std::vector<std::int64_t>{5, 192, 320, 3}));
  EXPECT_EQ(nlohmann::json::parse(file.metadata().at("skyreels_settings"))["steps"], 1);
}

TEST_F(CliGenerate, APlantedLinkIsNeverWrittenThrough) {
  skyreels::test::write_file(dir_ / "victim.txt", "precious");
  fs::create_symlink(dir_ / "victim.txt", dir_ / "v.partial.safetensors");
  const auto r = run(demo({"--steps", "1", "--output", (dir_ / "v.safetensors").string()}));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(skyreels::test::read_file(dir_ / "victim.txt"), "precious");
  EXPECT_EQ(skyreels::io::SafetensorsFile((dir_ / "v.safetensors").string()).tensor("frames").size(0), 9);
}

TEST_F(CliGenerate, AFullDiskIsAFailureThatKeepsNothingItCannotVouchFor) {
  // 200 KB of file: the safetensors output (9 x 192 x 320 x 3 = 1.6 MB) does not fit.
  const auto out = dir_ / "full.safetensors";
  auto r = run(demo({"--steps", "1", "--no-prompt-cache", "--output", out.string()}), 200 * 1024);
  EXPECT_NE(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("too large"), std::string::npos) << r.err;  // strerror(EFBIG): "File too large"
  EXPECT_EQ(r.err.find("kept"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out));
#if defined(SKYREELS_TEST_HAVE_VIDEO)
  // A video file fails while blocks are written: a failure naming the cause, never "kept".
  const auto mkv = dir_ / "full.mkv";
  r = run(demo({"--steps", "1", "--no-prompt-cache", "--output", mkv.string()}), 200 * 1024);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("too large"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("kept"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(mkv));
#endif
}

TEST_F(CliGenerate, AKilledRunLeavesAReadablePartialFileThatTheNextRunReports) {
  const auto out = dir_ / "killed.safetensors";
  Process p({"generate", "--model", SKYREELS_TINY_MODEL_DIR, "--frames", "33", "--steps", "30", "--seed", "3", "--device", "cpu",
             "--json", "--output", out.string()},
            dir_ / "cache", dir_ / "stderr.txt");
  const auto first_block = signal_after_first_block(p, SIGKILL);  // SIGKILL: no cleanup at all
  ASSERT_GT(first_block, 0);
  EXPECT_EQ(p.wait(), 128 + SIGKILL);
  EXPECT_FALSE(fs::exists(out));  // never published
  const auto partial = dir_ / "killed.partial.safetensors";
  skyreels::io::SafetensorsFile file(partial.string());
  EXPECT_GE(std::stoll(file.metadata().at("skyreels_frames_written")), first_block);
  const auto frames = file.tensor("frames");
  EXPECT_GT(frames.narrow(0, 0, first_block).to(at::kFloat).std().item<double>(), 1.0);  // real pixels

  // The next run to the same file finishes and says what the killed one left.
  const auto r = run(demo({"--steps", "1", "--output", out.string()}));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("killed.partial.safetensors"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(out));
}

#if defined(SKYREELS_TEST_HAVE_VIDEO)
TEST_F(CliGenerate, VideoInputsAreCheckedBeforeAnyModelLoads) {
  const auto out = (dir_ / "x.mkv").string();
  // A FIFO given as the video to restore from (the reader blocked on it and ignored SIGTERM).
  const auto fifo = dir_ / "video.fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0644), 0);
  auto r = run({"generate", "--model", SKYREELS_TINY_MODEL_DIR, "--from-video", fifo.string(), "--output", out});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("not a regular file"), std::string::npos) << r.err;
  // A video to extend that is shorter than the overlap: named before the models load.
  const auto short_video = dir_ / "short.mkv";
  r = run(demo({"--steps", "1", "--output", short_video.string()}));  // 9 frames
  ASSERT_EQ(r.code, 0) << r.err;
  r = run(demo({"--mode", "sync", "--extend", short_video.string(), "--overlap", "17", "--frames", "33",
                "--base-frames", "21", "--output", out}));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("fewer than overlap_history"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("loading models"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(CliGenerate, LorasAreAppliedStoredInTheVideoAndRestored) {
  // A kohya LoRA on the tiny model's first self-attention query, shapes read from its checkpoint.
  const auto shape = skyreels::io::SafetensorsFile(std::string(SKYREELS_TINY_MODEL_DIR) + "/model.safetensors")
                         .entry("blocks.0.self_attn.q.weight")
                         .shape;
  const auto lora = dir_ / "style.safetensors";
  at::manual_seed(1);
  const auto write_lora = [&] {
    skyreels::io::write_safetensors(lora.string(), {{"lora_unet_blocks_0_self_attn_q.lora_down.weight", at::randn({2, shape[1]})},
                                                    {"lora_unet_blocks_0_self_attn_q.lora_up.weight", at::randn({shape[0], 2})}});
  };
  write_lora();
  const auto plain = dir_ / "plain.mkv", first = dir_ / "first.mkv";
  auto r = run(demo({"--output", plain.string()}));
  ASSERT_EQ(r.code, 0) << r.err;
  r = run(demo({"--json", "--lora", lora.string() + ":0.8", "--output", first.string()}));
  ASSERT_EQ(r.code, 0) << r.err;
  bool reported = false;
  for (const auto& e : r.events())
    if (e["event"] == "loras") {
      reported = true;
      EXPECT_EQ(e["loras"][0]["name"], "style.safetensors");
      EXPECT_EQ(e["loras"][0]["parameters"], 1);
      EXPECT_DOUBLE_EQ(e["loras"][0]["strength"].get<double>(), 0.8);
    }
  EXPECT_TRUE(reported) << r.out;
  const auto settings = skyreels::video::read_generation_settings(first);
  ASSERT_EQ(settings["loras"].size(), 1u);
  EXPECT_EQ(settings["loras"][0]["name"], "style.safetensors");
  EXPECT_EQ(settings["loras"][0]["size"], static_cast<std::int64_t>(fs::file_size(lora)));
  EXPECT_EQ(settings["loras"][0]["hash"].get<std::string>().size(), 16u);
  EXPECT_FALSE(at::equal(skyreels::video::read_video_frames(first), skyreels::video::read_video_frames(plain)));

  // --from-video brings the LoRA back: the same frames.
  const auto second = dir_ / "second.mkv";
  r = run({"generate", "--model", SKYREELS_TINY_MODEL_DIR, "--from-video", first.string(), "--device", "cpu",
           "--output", second.string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("LoRA style.safetensors x 0.8"), std::string::npos) << r.err;
  EXPECT_TRUE(at::equal(skyreels::video::read_video_frames(first), skyreels::video::read_video_frames(second)));
  // ... unless --no-lora takes it out.
  const auto third = dir_ / "third.mkv";
  r = run({"generate", "--model", SKYREELS_TINY_MODEL_DIR, "--from-video", first.string(), "--no-lora", "--device",
           "cpu", "--output", third.string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(at::equal(skyreels::video::read_video_frames(third), skyreels::video::read_video_frames(plain)));

  // A LoRA file that changed since the video was made: named, before any model loads.
  const auto then = fs::last_write_time(lora);
  write_lora();
  fs::last_write_time(lora, then + std::chrono::seconds(1));  // file times are coarse
  const auto fourth = dir_ / "fourth.mkv";
  r = run({"generate", "--model", SKYREELS_TINY_MODEL_DIR, "--from-video", first.string(), "--device", "cpu",
           "--output", fourth.string()});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find(lora.string()), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("changed"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("loading models"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(fourth));
  // A bad strength on the command line: before anything.
  r = run(demo({"--lora", lora.string() + ":lots", "--output", fourth.string()}));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("strength needs a number"), std::string::npos) << r.err;
}

TEST_F(CliGenerate, AVideoRestoresItsSettingsAndRegeneratesTheSameFrames) {
  const auto first = dir_ / "first.mkv";  // FFV1: lossless, so frames compare exactly
  auto r = run(demo({"--prompt", "waves glow above the desert", "--output", first.string()}));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto settings = skyreels::video::read_generation_settings(first);
  EXPECT_EQ(settings["prompt"], "waves glow above the desert");
  EXPECT_EQ(settings["seed"], 5);

  const auto second = dir_ / "second.mkv";
  r = run({"generate", "--model", SKYREELS_TINY_MODEL_DIR, "--from-video", first.string(), "--device", "cpu",
           "--output", second.string()});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto a = skyreels::video::read_video_frames(first), b = skyreels::video::read_video_frames(second);
  EXPECT_EQ(a.size(0), 9);
  EXPECT_TRUE(at::equal(a, b));

  // An H.264 file plays back at the size asked for.
  const auto mp4 = dir_ / "demo.mp4";
  r = run(demo({"--output", mp4.string()}));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto info = skyreels::video::probe_video(mp4);
  EXPECT_EQ(info.width, 320);
  EXPECT_EQ(info.height, 192);
  EXPECT_EQ(skyreels::video::read_video_frames(mp4).size(0), 9);
}
#endif

#endif  // SKYREELS_TEST_HAVE_TINY_MODEL

}  // namespace
