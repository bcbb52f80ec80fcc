#include "skyreels/ranks.h"

#include <c10/core/Device.h>

#include "parallel/launcher.h"
#include "parallel/process_group.h"

namespace skyreels {

int launch_ranks(const std::vector<std::string>& args, int ranks, bool one_gpu_each) {
  return parallel::launch_ranks(args, {ranks, one_gpu_each});
}

bool launched_as_rank() { return parallel::launched_rank(); }

struct RankGroup::Impl {
  std::unique_ptr<parallel::ProcessGroup> group;
};

RankGroup::RankGroup(const std::string& device) : impl_(std::make_unique<Impl>()) {
  const auto env = parallel::ParallelEnv::from_environment();
  impl_->group = parallel::connect(env, env.device_for(c10::Device(device)));
}

RankGroup::~RankGroup() = default;

int RankGroup::rank() const { return impl_->group->rank(); }
int RankGroup::size() const { return impl_->group->size(); }
const model::SequenceParallel* RankGroup::sequence_parallel() const { return impl_->group.get(); }

}  // namespace skyreels
