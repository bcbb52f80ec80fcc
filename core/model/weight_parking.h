#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

namespace torch::nn {
class Module;
}

namespace skyreels::model {

// Moves a module's GPU tensors to host memory and back, so that a phase which does not need
// them (the DiT during the last VAE decode of a generation) has their device memory. The module's
// tensors are re-pointed in place (as Module::to does), so every holder of the module sees the move.
// The host copies are kept for the next park of the same tensors.
class WeightParking {
public:
  // Every parameter and buffer of `module` on a CUDA device goes to the host (a copy each) and its
  // device memory returns to the allocator. No-op for a module with nothing on a GPU; an error if
  // something is parked already.
  void park(torch::nn::Module& module);
  // Back to the devices they came from (no-op when nothing is parked).
  void restore();
  bool parked() const noexcept { return !slots_.empty(); }
  std::int64_t parked_bytes() const noexcept { return parked_bytes_; }

private:
  struct Slot {
    at::Tensor tensor;  // the module's own tensor, re-pointed
    c10::Device device;
  };
  std::vector<Slot> slots_;
  std::unordered_map<std::string, at::Tensor> host_;  // host copies by tensor name, reused
  std::int64_t parked_bytes_ = 0;
};

}  // namespace skyreels::model
