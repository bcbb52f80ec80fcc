#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

namespace torch::nn {
class Module;
}

namespace skyreels::model {

// Moves a module's GPU tensors to host memory and back, so that a phase which does not need them
// (the DiT during the last VAE decode of a generation) has their device memory. The module's
// tensors are re-pointed in place (as Module::to does), so every holder of the module sees the move;
// the module must not run while parked.
class WeightParking {
public:
  // Bytes of `module`'s parameters and buffers on CUDA devices: what park() would move.
  static std::int64_t device_bytes(torch::nn::Module& module);

  // Every parameter and buffer of `module` on a CUDA device goes to the host (a copy each) and its
  // device memory returns to the allocator. No-op for a module with nothing on a GPU; an error if
  // something is parked already. If a copy fails, what moved so far stays parked (restore() it).
  void park(torch::nn::Module& module);
  // Back to the devices they came from; the host copies are freed. No-op when nothing is parked. If
  // a copy fails, the tensors not yet back stay parked, and restore() can be called again.
  void restore();
  bool parked() const noexcept { return !slots_.empty(); }

private:
  struct Slot {
    at::Tensor tensor;  // the module's own tensor, re-pointed at its host copy
    c10::Device device;
  };
  std::vector<Slot> slots_;
};

}  // namespace skyreels::model
