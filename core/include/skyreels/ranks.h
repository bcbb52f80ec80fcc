#pragma once

#include <memory>
#include <string>
#include <vector>

namespace skyreels::model {
class SequenceParallel;
}
namespace skyreels::conformance {
struct CheckOptions;
}

namespace skyreels {

// Several processes working as one generation (one per GPU; gloo processes on a CPU build): the DiT's
// tokens are split across them (Ulysses sequence parallelism).

// Starts `ranks` copies of this executable with `args` (each told its place through the environment)
// and waits for all of them; if one fails the others are stopped. With `one_gpu_each` each process
// sees its own GPU as cuda:0. Returns 0, or the exit code of the first rank that failed.
int launch_ranks(const std::vector<std::string>& args, int ranks, bool one_gpu_each);

// True inside a process started by launch_ranks.
bool launched_as_rank();

// This process's place in a launched run, connected on construction (device "cpu" or "cuda"). An
// Engine joins its run by itself; this is for other work split over ranks (skyreels-cli check).
class RankGroup {
public:
  explicit RankGroup(const std::string& device);
  ~RankGroup();
  RankGroup(const RankGroup&) = delete;
  RankGroup& operator=(const RankGroup&) = delete;

  int rank() const;
  int size() const;
  const model::SequenceParallel* sequence_parallel() const;
  // The check's cases split over this run's ranks: options.parallel, and the CFG-parallel groups when
  // the ranks are even.
  void apply_to(conformance::CheckOptions& options) const;

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace skyreels
