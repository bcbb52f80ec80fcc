#include "model/weight_parking.h"

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include "skyreels/error.h"
#include "skyreels/log.h"

namespace skyreels::model {

void WeightParking::park(torch::nn::Module& module) {
  if (parked()) throw Error(ErrorCode::Runtime, "WeightParking: a module is parked already");
  auto tensors = module.named_parameters(/*recurse=*/true);
  for (const auto& item : module.named_buffers(true)) tensors.insert(item.key(), item.value());
  std::int64_t bytes = 0;
  for (auto& item : tensors) {
    auto& t = item.value();
    if (!t.is_cuda() || t.numel() == 0) continue;
    auto& host = host_[item.key()];
    if (!host.defined() || !host.sizes().equals(t.sizes()) || host.scalar_type() != t.scalar_type())
      host = at::empty(t.sizes(), t.options().device(at::kCPU));
    // Pageable memory: pinning gigabytes (cudaHostAlloc) on first use cost more than the staged copies
    // save (H200, DF-1.3B's 2.7 GB: 3.5 s of parking in a first generation pinned, 2.3 s pageable).
    host.copy_(t);
    slots_.push_back({t, t.device()});
    t.set_data(host);
    bytes += host.nbytes();
  }
  parked_bytes_ = bytes;
  logger("model")->debug("parked {} tensors ({:.2f} GiB) in host memory", slots_.size(),
                         static_cast<double>(bytes) / (1 << 30));
}

void WeightParking::restore() {
  for (auto& slot : slots_) {
    auto device_copy = at::empty(slot.tensor.sizes(), slot.tensor.options().device(slot.device));
    device_copy.copy_(slot.tensor);
    slot.tensor.set_data(device_copy);
  }
  slots_.clear();
  parked_bytes_ = 0;
}

}  // namespace skyreels::model
