#include "parallel/launcher.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "skyreels/error.h"
#include "skyreels/log.h"

namespace skyreels::parallel {
namespace {

namespace fs = std::filesystem;

int exit_code(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

}  // namespace

bool launched_rank() {
  // Our launcher's ranks, or one of several processes torchrun or SLURM started (process_group.h).
  auto number = [](const char* name) {
    const char* text = std::getenv(name);
    return text && *text ? std::atoi(text) : 0;
  };
  return std::getenv("SKYREELS_RANK") != nullptr || number("WORLD_SIZE") > 1 ||
         (std::getenv("SLURM_PROCID") != nullptr && number("SLURM_NTASKS") > 1);
}

int launch_ranks(const std::vector<std::string>& args, const LaunchOptions& options) {
  if (options.ranks < 2) throw Error(ErrorCode::BadArgument, "a parallel run needs at least 2 ranks");
  std::error_code ec;
  const auto exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw Error(ErrorCode::Runtime, "cannot find this executable to start the ranks (" + ec.message() + ")");
  // The rendezvous file: c10d's FileStore creates it and every rank opens it.
  char dir_template[] = "/tmp/skyreels-ranks-XXXXXX";
  if (!mkdtemp(dir_template)) throw Error(ErrorCode::Runtime, "cannot create the rendezvous folder in /tmp");
  const auto store = fs::path(dir_template) / "store";

  std::vector<pid_t> pids;
  for (int rank = 0; rank < options.ranks; ++rank) {
    const pid_t pid = fork();
    if (pid < 0) throw Error(ErrorCode::Runtime, "fork failed while starting rank " + std::to_string(rank));
    if (pid == 0) {
      setenv("SKYREELS_RANK", std::to_string(rank).c_str(), 1);
      setenv("SKYREELS_WORLD_SIZE", std::to_string(options.ranks).c_str(), 1);
      setenv("SKYREELS_STORE", store.c_str(), 1);
      if (options.one_gpu_each) setenv("CUDA_VISIBLE_DEVICES", std::to_string(rank).c_str(), 1);
      std::vector<char*> argv{const_cast<char*>(exe.c_str())};
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(exe.c_str(), argv.data());
      _exit(127);
    }
    pids.push_back(pid);
  }

  // Wait for every rank; the first failure stops the rest (they would wait forever in a collective).
  std::vector<int> codes(pids.size(), -1);
  int first_failure = 0;
  std::size_t running = pids.size();
  while (running > 0) {
    int status = 0;
    const pid_t pid = wait(&status);
    if (pid < 0) break;
    for (std::size_t r = 0; r < pids.size(); ++r) {
      if (pids[r] != pid) continue;
      codes[r] = exit_code(status);
      --running;
      if (codes[r] != 0 && first_failure == 0) {
        first_failure = codes[r];
        logger("parallel")->error("rank {} exited with {}; stopping the others", r, codes[r]);
        for (std::size_t o = 0; o < pids.size(); ++o)
          if (codes[o] < 0) kill(pids[o], SIGTERM);
      }
    }
  }
  // Not remove_all: PyTorch 2.x's libtorch exports a copy of it that crashes (tests/test_support.cpp).
  fs::remove(store, ec);
  fs::remove(dir_template, ec);
  return first_failure;
}

}  // namespace skyreels::parallel
