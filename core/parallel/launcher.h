#pragma once

#include <string>
#include <vector>

namespace skyreels::parallel {

struct LaunchOptions {
  int ranks = 2;
  bool one_gpu_each = false;  // CUDA_VISIBLE_DEVICES=<rank> per process (so each sees its card as cuda:0)
};

// Starts `ranks` copies of this executable with `args`, each told its place by SKYREELS_RANK,
// SKYREELS_WORLD_SIZE and SKYREELS_STORE (a fresh rendezvous file), and waits for all of them. If one
// fails, the others are stopped. Returns 0, or the exit code of the first rank that failed. Ranks
// share stdout and stderr; only rank 0 should report.
int launch_ranks(const std::vector<std::string>& args, const LaunchOptions& options);

// True inside a process started by launch_ranks.
bool launched_rank();

}  // namespace skyreels::parallel
