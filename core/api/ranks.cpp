#include "skyreels/ranks.h"

#include <c10/core/Device.h>

#include "parallel/cfg_groups.h"
#include "parallel/launcher.h"
#include "parallel/process_group.h"
#include "skyreels/conformance.h"

namespace skyreels {

int launch_ranks(const std::vector<std::string>& args, int ranks, bool one_gpu_each) {
  return parallel::launch_ranks(args, {ranks, one_gpu_each});
}

bool launched_as_rank() { return parallel::launched_rank(); }

struct RankGroup::Impl {
  std::unique_ptr<parallel::ProcessGroup> group;
  parallel::CfgProcessGroups cfg;
};

RankGroup::RankGroup(const std::string& device) : impl_(std::make_unique<Impl>()) {
  const auto env = parallel::ParallelEnv::from_environment();
  impl_->group = parallel::connect(env, env.device_for(c10::Device(device)));
  impl_->cfg = parallel::join_cfg_groups(*impl_->group);
}

RankGroup::~RankGroup() = default;

int RankGroup::rank() const { return impl_->group->rank(); }
int RankGroup::size() const { return impl_->group->size(); }
const model::SequenceParallel* RankGroup::sequence_parallel() const { return impl_->group.get(); }

void RankGroup::apply_to(conformance::CheckOptions& options) const {
  options.parallel = impl_->group.get();
  options.cfg_branch = impl_->cfg.branch.get();
  options.cfg_pair = impl_->cfg.pair;
  options.cfg_branch_index = impl_->cfg.branch_index;
}

}  // namespace skyreels
