// The real skyreels-cli executable: exit codes, JSON events, files written, Ctrl-C.

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "io/safetensors.h"
#include "parallel/process_group.h"
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
  Process(const std::vector<std::string>& args, const fs::path& cache, const fs::path& err_file) {
    int fds[2];
    if (pipe(fds) != 0) throw std::runtime_error("pipe");
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], 1);
      const int err = open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(err, 2);
      close(fds[0]);
      setenv("XDG_CACHE_HOME", cache.c_str(), 1);
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

class CliGenerate : public ::testing::Test {
protected:
  CliRun run(const std::vector<std::string>& args) {
    Process p(args, dir_ / "cache", dir_ / "stderr.txt");
    CliRun r;
    for (std::string line; p.read_line(line);) r.out += line + "\n";
    r.code = p.wait();
    r.err = skyreels::test::read_file(dir_ / "stderr.txt");
    return r;
  }
  std::vector<std::string> demo(std::vector<std::string> more) {
    std::vector<std::string> args{"generate", "--model", SKYREELS_DEMO_MODEL_DIR, "--frames", "9", "--steps", "2",
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
}

TEST_F(CliGenerate, AFailingRankStopsTheRunWithItsCode) {
  const auto r = run({"check", "--ranks", "2", "/nonexistent/fixtures"});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("/nonexistent/fixtures"), std::string::npos) << r.err;
}

#if defined(SKYREELS_TEST_HAVE_DEMO_MODEL)

TEST_F(CliGenerate, TwoRanksGenerateTheSameVideoAsOne) {
  if (!have_gloo()) GTEST_SKIP() << "this LibTorch build has no gloo process group";
  const auto one = dir_ / "one.safetensors", two = dir_ / "two.safetensors";
  auto r = run(demo({"--output", one.string()}));
  ASSERT_EQ(r.code, 0) << r.err;
  r = run(demo({"--gpus", "2", "--output", two.string()}));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto a = skyreels::io::SafetensorsFile(one.string()).tensor("frames");
  const auto b = skyreels::io::SafetensorsFile(two.string()).tensor("frames");
  ASSERT_EQ(a.sizes(), b.sizes());
  // The same computation split differently: bf16 GEMMs of other shapes round differently.
  EXPECT_LT((a.to(at::kFloat) - b.to(at::kFloat)).abs().mean().item<double>(), 2.0);
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

TEST_F(CliGenerate, CtrlCKeepsTheFinishedBlocks) {
  // 33 frames in 3 causal blocks (the demo's async defaults): stop once the first block is written.
  const auto out = dir_ / "stopped.safetensors";
  Process p({"generate", "--model", SKYREELS_DEMO_MODEL_DIR, "--frames", "33", "--steps", "30", "--seed", "3", "--device", "cpu",
             "--json", "--output", out.string()},
            dir_ / "cache", dir_ / "stderr.txt");
  std::int64_t first_block = 0;
  for (std::string line; p.read_line(line);) {
    const auto e = nlohmann::json::parse(line);
    if (e["event"] == "block_decoded") {
      first_block = e["frames"].get<std::int64_t>();
      p.signal(SIGINT);
      break;
    }
  }
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

#if defined(SKYREELS_TEST_HAVE_VIDEO)
TEST_F(CliGenerate, AVideoRestoresItsSettingsAndRegeneratesTheSameFrames) {
  const auto first = dir_ / "first.mkv";  // FFV1: lossless, so frames compare exactly
  auto r = run(demo({"--prompt", "waves glow above the desert", "--output", first.string()}));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto settings = skyreels::video::read_generation_settings(first);
  EXPECT_EQ(settings["prompt"], "waves glow above the desert");
  EXPECT_EQ(settings["seed"], 5);

  const auto second = dir_ / "second.mkv";
  r = run({"generate", "--model", SKYREELS_DEMO_MODEL_DIR, "--from-video", first.string(), "--device", "cpu",
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

#endif  // SKYREELS_TEST_HAVE_DEMO_MODEL

}  // namespace
