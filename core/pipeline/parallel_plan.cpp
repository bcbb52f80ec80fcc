#include "pipeline/parallel_plan.h"

#include "skyreels/error.h"

namespace skyreels::pipeline {

ParallelMode parallel_mode_from_string(const std::string& text) {
  if (text == "auto") return ParallelMode::Auto;
  if (text == "ulysses") return ParallelMode::Ulysses;
  if (text == "cfg") return ParallelMode::Cfg;
  throw Error(ErrorCode::BadArgument, "parallel mode \"" + text + "\" is not one of auto, ulysses, cfg");
}

const char* to_string(ParallelMode mode) {
  switch (mode) {
    case ParallelMode::Auto: return "auto";
    case ParallelMode::Ulysses: return "ulysses";
    case ParallelMode::Cfg: return "cfg";
  }
  return "?";
}

namespace {

std::string ranks_text(int n) { return std::to_string(n) + (n == 1 ? " rank" : " ranks"); }

void check_heads(std::int64_t heads, int ulysses) {
  if (heads % ulysses != 0)
    throw Error(ErrorCode::BadArgument, std::to_string(heads) + " attention heads cannot be split over " +
                                            std::to_string(ulysses) + " ranks (Ulysses needs heads divisible by ranks)");
}

}  // namespace

ParallelPlan plan_parallel(int ranks, std::int64_t heads, bool guided, ParallelMode mode) {
  if (ranks < 1) throw Error(ErrorCode::BadArgument, "a run needs at least one rank");
  ParallelPlan plan;
  plan.ranks = ranks;
  if (mode == ParallelMode::Cfg && ranks % 2 != 0)
    throw Error(ErrorCode::BadArgument, "CFG-parallel needs an even number of ranks, not " + std::to_string(ranks) +
                                            (ranks == 1 ? " (start the run on several GPUs: --gpus, torchrun or srun)" : ""));
  if (ranks == 1) {
    plan.description = "1 rank";
    return plan;
  }
  const bool halves_split = ranks % 2 == 0 && heads % (ranks / 2) == 0;
  bool cfg = false;
  if (mode == ParallelMode::Cfg) {
    if (!guided)
      throw Error(ErrorCode::BadArgument, "CFG-parallel needs guidance (guidance scale above 1): without it there is "
                                          "one call a row; use --parallel ulysses or auto");
    check_heads(heads, ranks / 2);
    cfg = true;
  } else if (mode == ParallelMode::Auto) {
    cfg = guided && halves_split;
  }
  if (cfg) {
    plan.branches = 2;
    plan.ulysses = ranks / 2;
    plan.description = ranks_text(ranks) + ": CFG-parallel (conditional and unconditional calls on " +
                       ranks_text(plan.ulysses) + " each" + (plan.ulysses > 1 ? ", Ulysses within)" : ")");
    return plan;
  }
  check_heads(heads, ranks);
  plan.ulysses = ranks;
  plan.description = ranks_text(ranks) + ": Ulysses (each call's tokens split over all ranks)";
  return plan;
}

ParallelPlan plan_parallel(int ranks, std::int64_t heads, bool guided, ParallelMode mode, bool halves_joined) {
  if (mode == ParallelMode::Auto && !halves_joined) mode = ParallelMode::Ulysses;
  auto plan = plan_parallel(ranks, heads, guided, mode);
  if (plan.cfg_parallel() && !halves_joined)
    throw Error(ErrorCode::Unsupported, "CFG-parallel: this run's ranks were joined without the branch groups");
  return plan;
}

}  // namespace skyreels::pipeline
