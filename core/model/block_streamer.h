#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

namespace torch::nn {
class Module;
}

namespace skyreels::model {

// DiT blocks whose weights live in host memory and come to the device just before they run (issue 24,
// the GPU-memory budget). Each streamed block's tensors wait in host memory (pinned on CUDA, so copies
// run at full bus speed and beside compute); `slots` device buffers hold one block each. On CUDA a
// block's copy runs on a side stream while the blocks before it compute, and a slot is refilled only
// once the block that used it has run. Copies never run ahead into the next pass, so what changes the
// host copies between passes (a LoRA merge) reaches the next one; a pass's first streamed blocks copy
// while its resident blocks compute. The streamed blocks' tensors are re-pointed in place (as
// WeightParking does), so the module and everything holding it see host tensors between uses and the
// slot's tensors while the block runs.
//
// The owner calls ready(i) before block i runs and done(i) after it has been queued, for every block of
// a forward pass in order; resident blocks pass through. A pass cut short (an exception) is noticed by
// the next ready() and the streamer starts over. Not thread-safe: one forward at a time.
class BlockStreamer {
public:
  // Streams `blocks[first_streamed..]` on `device` with `slots` device buffers (at least 1; 2 lets one
  // copy run ahead). The blocks must share one structure (names, shapes, dtypes), as a DiT's do.
  BlockStreamer(std::vector<torch::nn::Module*> blocks, std::int64_t first_streamed, int slots, c10::Device device);
  ~BlockStreamer();
  BlockStreamer(const BlockStreamer&) = delete;
  BlockStreamer& operator=(const BlockStreamer&) = delete;

  // Takes block `index` (a streamed one, on any device) into host memory: its device memory goes back
  // to the allocator. Every streamed block is adopted once, before the first forward; loading adopts
  // each as it arrives, so the device never holds more than one extra block.
  void adopt(std::int64_t index);

  void ready(std::int64_t index);
  void done(std::int64_t index);
  // A pass that ends early (an exception inside it): waits for the copies in flight and puts every
  // streamed block back on its host copy, so the next pass starts clean.
  void abandon();
  // Waits until no copy reads the host copies: before they are changed (a LoRA merge). Copies never
  // outlive their pass, but the host may return from a forward before the device has run it.
  void wait_for_copies();
  // Frees the device slots (the DiT parked during the last decode); the next pass makes them again.
  void release_slots();

  std::int64_t first_streamed() const noexcept { return first_; }
  std::int64_t streamed_blocks() const noexcept { return static_cast<std::int64_t>(blocks_.size()) - first_; }
  int slots() const noexcept { return static_cast<int>(slots_.size()); }
  // Host memory the streamed weights take (one buffer a block: the pinned allocator would round each
  // tensor up to a power of two), and device memory of the slots.
  std::int64_t host_bytes() const noexcept { return host_bytes_; }
  std::int64_t slot_bytes() const noexcept { return slot_bytes_; }

private:
  struct Sync;  // CUDA stream and events (CUDA builds), else nothing
  void make_slots();
  void issue(std::int64_t use);  // starts the copy of the use-th streamed block use (over all passes)
  void pump(std::int64_t pass);  // issues every copy of uses in `pass` whose slot is free
  void restart();

  std::vector<torch::nn::Module*> blocks_;
  std::int64_t first_;
  int wanted_slots_;
  c10::Device device_;
  // Per streamed block, its tensors in a fixed order, and their host copies.
  std::vector<std::vector<at::Tensor>> tensors_, host_;
  std::vector<at::Tensor> host_buffers_;  // per streamed block, the page-aligned bytes its host copies view
  std::vector<std::vector<at::Tensor>> slots_;  // per slot, device tensors shaped like a block's
  std::int64_t host_bytes_ = 0, slot_bytes_ = 0;
  // Uses of streamed blocks are numbered over all passes: use u is block first_ + u % n, in slot u % slots.
  std::int64_t issued_ = 0;   // uses whose copy has been started
  std::int64_t done_ = 0;     // uses that have run (their slot is free once the device gets there)
  std::int64_t current_ = -1; // the use between ready() and done(), or -1
  std::unique_ptr<Sync> sync_;
};

}  // namespace skyreels::model
