#include "model/weight_parking.h"

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include "skyreels/error.h"
#include "skyreels/log.h"

namespace skyreels::model {
namespace {

std::vector<at::Tensor> gpu_tensors(torch::nn::Module& module) {
  std::vector<at::Tensor> out;
  for (auto& t : module.parameters(/*recurse=*/true))
    if (t.is_cuda() && t.numel() > 0) out.push_back(t);
  for (auto& t : module.buffers(true))
    if (t.is_cuda() && t.numel() > 0) out.push_back(t);
  return out;
}

}  // namespace

std::int64_t WeightParking::device_bytes(torch::nn::Module& module) {
  std::int64_t bytes = 0;
  for (const auto& t : gpu_tensors(module)) bytes += static_cast<std::int64_t>(t.nbytes());
  return bytes;
}

void WeightParking::park(torch::nn::Module& module) {
  if (parked()) throw Error(ErrorCode::Runtime, "WeightParking: a module is parked already");
  std::int64_t bytes = 0;
  for (auto& t : gpu_tensors(module)) {
    // Pageable host memory: pinning gigabytes (cudaHostAlloc) cost more than the staged copies save
    // (H200, DF-1.3B's 2.7 GB: 3.5 s of parking in a first generation pinned, 2.3 s pageable).
    auto host = at::empty(t.sizes(), t.options().device(at::kCPU));
    host.copy_(t);
    slots_.push_back({t, t.device()});
    t.set_data(host);
    bytes += static_cast<std::int64_t>(host.nbytes());
  }
  logger("model")->debug("parked {} tensors ({:.2f} GiB) in host memory", slots_.size(),
                         static_cast<double>(bytes) / (1 << 30));
}

void WeightParking::restore() {
  while (!slots_.empty()) {
    auto& slot = slots_.back();
    auto device_copy = at::empty(slot.tensor.sizes(), slot.tensor.options().device(slot.device));
    device_copy.copy_(slot.tensor);
    slot.tensor.set_data(device_copy);  // the host copy goes with its last reference
    slots_.pop_back();
  }
}

}  // namespace skyreels::model
