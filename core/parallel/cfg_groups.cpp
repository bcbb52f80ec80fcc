#include "parallel/cfg_groups.h"

#include <numeric>
#include <string>
#include <vector>

namespace skyreels::parallel {

CfgProcessGroups join_cfg_groups(const ProcessGroup& world) {
  CfgProcessGroups groups;
  const int n = world.size();
  if (n < 2 || n % 2 != 0) return groups;
  const int half = n / 2;
  groups.branch_index = world.rank() / half;
  const int place = world.rank() % half;
  // Both halves make their branch group at once (each under its own name), then every pair its own.
  if (half > 1) {
    std::vector<int> members(static_cast<std::size_t>(half));
    std::iota(members.begin(), members.end(), groups.branch_index * half);
    groups.branch = world.subgroup(members, "cfg-branch-" + std::to_string(groups.branch_index));
    groups.own_pair_ = world.subgroup({place, place + half}, "cfg-pair-" + std::to_string(place));
  }
  groups.pair = groups.own_pair_ ? groups.own_pair_.get() : &world;
  return groups;
}

}  // namespace skyreels::parallel
