#pragma once

#include <cstdint>
#include <string>

namespace skyreels::model {
class SequenceParallel;
}

namespace skyreels::pipeline {

// How the ranks of a multi-process run share a job's DiT calls (issue 27):
// - Ulysses: every call's tokens split over all ranks; two all-to-alls around each block's attention.
// - CFG-parallel: with guidance, half the ranks run the conditional call and half the unconditional
//   one, each half Ulysses-split over its own ranks; one exchange of the prediction a call instead of
//   the per-block all-to-alls of a batch-2 call. Rows without guidance (cfg_skip_last_steps) run the
//   conditional call on both halves.
enum class ParallelMode { Auto, Ulysses, Cfg };

// "auto", "ulysses" or "cfg"; an Error(BadArgument) naming the choices otherwise.
ParallelMode parallel_mode_from_string(const std::string& text);
const char* to_string(ParallelMode mode);

struct ParallelPlan {
  int ranks = 1;
  int branches = 1;  // 2: CFG-parallel
  int ulysses = 1;   // ranks that split one call's tokens
  std::string description;  // "2 ranks: CFG-parallel (conditional and unconditional calls on 1 rank each)"
  bool cfg_parallel() const { return branches == 2; }
};

// Auto picks CFG-parallel for a guided job on an even number of ranks whose halves can split the heads
// (its calls compute as much as a batch-2 Ulysses call and exchange far less), else Ulysses over all.
// An Error(BadArgument) names why a forced mode, or any split of `heads`, cannot be.
ParallelPlan plan_parallel(int ranks, std::int64_t heads, bool guided, ParallelMode mode);
// The same for ranks that did or did not make the halves' groups (CfgGroups): without them auto falls
// back to Ulysses and a forced cfg is an Error(Unsupported).
ParallelPlan plan_parallel(int ranks, std::int64_t heads, bool guided, ParallelMode mode, bool halves_joined);

// The process groups a CFG-parallel job uses, made when the ranks meet (branch b holds world ranks
// [b * n / 2, (b + 1) * n / 2)): `branch`, this rank's half (null when a half is one rank); `pair`, the
// two ranks of both halves at the same place in them; `branch_index`, 0 (conditional) or 1.
struct CfgGroups {
  const model::SequenceParallel* branch = nullptr;
  const model::SequenceParallel* pair = nullptr;
  int branch_index = 0;
  bool available() const { return pair != nullptr; }
};

}  // namespace skyreels::pipeline
