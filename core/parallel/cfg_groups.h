#pragma once

#include <memory>

#include "parallel/process_group.h"

namespace skyreels::parallel {

// The subgroups a CFG-parallel job uses (pipeline/parallel_plan.h), made once when the ranks meet: of
// n ranks (n even), branch b holds ranks [b * n / 2, (b + 1) * n / 2); `branch` is this rank's half (null
// when a half is one rank) and `pair` the two ranks at the same place in both halves: a group of its
// own, or the world itself when n = 2 (the world must outlive these groups). Every rank calls
// join_cfg_groups at the same point; with n odd it makes none (`pair` null).
struct CfgProcessGroups {
  std::unique_ptr<ProcessGroup> branch;
  const ProcessGroup* pair = nullptr;
  int branch_index = 0;  // 0: conditional calls, 1: unconditional ones

private:
  friend CfgProcessGroups join_cfg_groups(const ProcessGroup& world);
  std::unique_ptr<ProcessGroup> own_pair_;  // `pair` when it is not the world
};

CfgProcessGroups join_cfg_groups(const ProcessGroup& world);

}  // namespace skyreels::parallel
