#include "model/block_streamer.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include "skyreels/error.h"
#include "skyreels/log.h"

#if defined(SKYREELS_WITH_CUDA)
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace skyreels::model {
namespace {

// A block's tensors in a fixed order; a float8 layer's emptied bf16 weight holds nothing to move.
std::vector<at::Tensor> block_tensors(torch::nn::Module& block) {
  std::vector<at::Tensor> out;
  for (auto& t : block.parameters(/*recurse=*/true))
    if (t.numel() > 0) out.push_back(t);
  for (auto& t : block.buffers(true))
    if (t.numel() > 0) out.push_back(t);
  return out;
}

}  // namespace

struct BlockStreamer::Sync {
#if defined(SKYREELS_WITH_CUDA)
  explicit Sync(const c10::Device& device, int slots)
      : copy(c10::cuda::getStreamFromPool(/*isHighPriority=*/false, device.index())), copied(slots), freed(slots) {}
  c10::cuda::CUDAStream copy;
  std::vector<at::cuda::CUDAEvent> copied, freed;  // per slot: its copy landed; its last user has run
#endif
};

BlockStreamer::BlockStreamer(std::vector<torch::nn::Module*> blocks, std::int64_t first_streamed, int slots,
                             c10::Device device)
    : blocks_(std::move(blocks)), first_(first_streamed), device_(device) {
  const auto n = static_cast<std::int64_t>(blocks_.size());
  if (first_ < 0 || first_ >= n)
    throw Error(ErrorCode::BadArgument, "BlockStreamer: the first streamed block " + std::to_string(first_) +
                                            " is not one of the " + std::to_string(n) + " blocks");
  if (slots < 1) throw Error(ErrorCode::BadArgument, "BlockStreamer: at least one device slot is needed");
  wanted_slots_ = static_cast<int>(std::min<std::int64_t>(slots, n - first_));  // more than blocks would idle
#if defined(SKYREELS_WITH_CUDA)
  if (device_.is_cuda()) {
    if (device_.index() < 0) device_ = c10::Device(c10::kCUDA, c10::cuda::current_device());
    sync_ = std::make_unique<Sync>(device_, slots);
  }
#endif
  tensors_.resize(static_cast<std::size_t>(n - first_));
  host_.resize(tensors_.size());
}

BlockStreamer::~BlockStreamer() {
  // Copies in flight write into the slots: they finish before the slots go back to the allocator, and
  // the host buffers are unpinned before they are freed.
#if defined(SKYREELS_WITH_CUDA)
  if (sync_) {
    sync_->copy.synchronize();
    for (auto& buffer : host_buffers_)
      if (buffer.numel() > 0) (void)cudaHostUnregister(buffer.data_ptr());
  }
#endif
}

void BlockStreamer::adopt(std::int64_t index) {
  if (index < first_ || index >= static_cast<std::int64_t>(blocks_.size()))
    throw Error(ErrorCode::BadArgument, "BlockStreamer: block " + std::to_string(index) + " is not streamed");
  const auto k = static_cast<std::size_t>(index - first_);
  if (!tensors_[k].empty()) throw Error(ErrorCode::BadArgument, "BlockStreamer: block " + std::to_string(index) + " adopted twice");
  tensors_[k] = block_tensors(*blocks_[static_cast<std::size_t>(index)]);
  if (k > 0 && !tensors_[0].empty()) {
    const auto& like = tensors_[0];
    bool same = like.size() == tensors_[k].size();
    for (std::size_t j = 0; same && j < like.size(); ++j)
      same = like[j].sizes() == tensors_[k][j].sizes() && like[j].dtype() == tensors_[k][j].dtype();
    if (!same) throw Error(ErrorCode::ShapeMismatch, "BlockStreamer: block " + std::to_string(index) + " differs from the first streamed block");
  }
  // One host buffer for the block, its tensors views of it at aligned offsets. On CUDA the buffer is
  // pinned by registering it: a pageable copy is staged by the driver at less than half the speed
  // (issue 24: 22.5 against 55.5 GB/s on the H100 machine) and cannot overlap compute, and LibTorch's
  // pinned allocator would round each allocation up to a power of two.
  constexpr std::int64_t kAlign = 256;
  std::vector<std::int64_t> offsets;
  std::int64_t total = 0;
  for (const auto& t : tensors_[k]) {
    offsets.push_back(total);
    total += (static_cast<std::int64_t>(t.nbytes()) + kAlign - 1) / kAlign * kAlign;
  }
  // Registration pins whole pages: the region is page-aligned inside the buffer, so no page is shared
  // with another allocation (registering a page twice fails). 64 KiB covers every page size in use.
  constexpr std::int64_t kPage = std::int64_t{1} << 16;
  const auto region_bytes = std::max<std::int64_t>((total + kPage - 1) / kPage * kPage, kPage);
  const auto buffer = at::empty({region_bytes + kPage}, at::TensorOptions().dtype(at::kByte));
  const auto address = reinterpret_cast<std::uintptr_t>(buffer.data_ptr());
  const auto lead = static_cast<std::int64_t>((kPage - address % kPage) % kPage);
  auto region = buffer.narrow(0, lead, region_bytes);  // a view: it keeps the buffer alive
#if defined(SKYREELS_WITH_CUDA)
  if (sync_) C10_CUDA_CHECK(cudaHostRegister(region.data_ptr(), static_cast<std::size_t>(region_bytes), cudaHostRegisterDefault));
#endif
  for (std::size_t j = 0; j < tensors_[k].size(); ++j) {
    auto& t = tensors_[k][j];
    auto host = region.narrow(0, offsets[j], static_cast<std::int64_t>(t.nbytes())).view(t.scalar_type()).view(t.sizes());
    host.copy_(t);
    t.set_data(host);
    host_[k].push_back(std::move(host));
  }
  host_bytes_ += region_bytes;
  host_buffers_.push_back(std::move(region));
}

void BlockStreamer::make_slots() {
  for (std::size_t k = 0; k < tensors_.size(); ++k)
    if (tensors_[k].empty())
      throw Error(ErrorCode::BadArgument, "BlockStreamer: block " + std::to_string(first_ + static_cast<std::int64_t>(k)) +
                                              " was never adopted");
  // Made whole before they replace the (empty) slots: an allocation that fails leaves none.
  std::vector<std::vector<at::Tensor>> slots(static_cast<std::size_t>(wanted_slots_));
  std::int64_t bytes = 0;
  for (auto& slot : slots)
    for (const auto& t : host_[0]) {
      slot.push_back(at::empty(t.sizes(), t.options().device(device_)));
      bytes += static_cast<std::int64_t>(t.nbytes());
    }
  slots_ = std::move(slots);
  slot_bytes_ = bytes;
  logger("model")->info("streaming {} of {} DiT blocks: {:.2f} GiB in host memory, {} device slots of {:.2f} GiB",
                        streamed_blocks(), blocks_.size(), static_cast<double>(host_bytes_) / (1 << 30), slots_.size(),
                        static_cast<double>(slot_bytes_) / static_cast<double>(slots_.size()) / (1 << 30));
}

void BlockStreamer::issue(std::int64_t use) {
  const auto k = static_cast<std::size_t>(use % streamed_blocks());
  auto& slot = slots_[static_cast<std::size_t>(use % slots())];
#if defined(SKYREELS_WITH_CUDA)
  if (sync_) {
    const auto s = static_cast<std::size_t>(use % slots());
    c10::cuda::CUDAStreamGuard on_copy_stream(sync_->copy);
    sync_->freed[s].block(sync_->copy);  // the slot's last user has run (no-op before its first use)
    for (std::size_t j = 0; j < slot.size(); ++j) slot[j].copy_(host_[k][j], /*non_blocking=*/true);
    sync_->copied[s].record(sync_->copy);
    return;
  }
#endif
  for (std::size_t j = 0; j < slot.size(); ++j) slot[j].copy_(host_[k][j]);
}

void BlockStreamer::pump(std::int64_t pass) {
  // Never past the pass: weights may change between passes (a LoRA merge into the host copies), and a
  // copy made before the change would bring the old ones.
  const auto pass_end = (pass + 1) * streamed_blocks();
  while (issued_ < done_ + slots() && issued_ < pass_end) issue(issued_++);
}

void BlockStreamer::restart() {
  // A pass ended early (an exception between ready and done, or blocks skipped): wait for what is in
  // flight, put the block in use back on its host copy, and number the uses afresh.
  wait_for_copies();
  if (current_ >= 0) {
    const auto k = static_cast<std::size_t>(current_ % streamed_blocks());
    for (std::size_t j = 0; j < tensors_[k].size(); ++j) tensors_[k][j].set_data(host_[k][j]);
  }
  current_ = -1;
  issued_ = done_ = 0;
}

void BlockStreamer::abandon() { restart(); }

void BlockStreamer::wait_for_copies() {
#if defined(SKYREELS_WITH_CUDA)
  if (sync_) sync_->copy.synchronize();
#endif
}

void BlockStreamer::release_slots() {
  // The slots' last users must have run before their memory goes back to the allocator.
#if defined(SKYREELS_WITH_CUDA)
  if (sync_) c10::cuda::device_synchronize();
#endif
  restart();
  slots_.clear();
  slot_bytes_ = 0;
}

void BlockStreamer::ready(std::int64_t index) {
  if (index < first_) {
    // A pass begins: its first streamed blocks copy while the resident ones compute.
    if (index == 0 && !slots_.empty()) {
      // Copies started by a pass that ended early may hold weights from before a change: start over.
      if (current_ >= 0 || done_ % streamed_blocks() != 0 || issued_ != done_) restart();
      pump(done_ / streamed_blocks());
    }
    return;
  }
  if (slots_.empty()) make_slots();
  const auto k = index - first_;
  if (current_ >= 0 || done_ % streamed_blocks() != k) {
    restart();
    issued_ = done_ = k;  // use k is block k: the numbering stays aligned with the blocks
  }
  pump(done_ / streamed_blocks());
  const auto use = done_;
  auto& slot = slots_[static_cast<std::size_t>(use % slots())];
#if defined(SKYREELS_WITH_CUDA)
  if (sync_) sync_->copied[static_cast<std::size_t>(use % slots())].block(c10::cuda::getCurrentCUDAStream(device_.index()));
#endif
  auto& tensors = tensors_[static_cast<std::size_t>(k)];
  for (std::size_t j = 0; j < tensors.size(); ++j) tensors[j].set_data(slot[j]);
  current_ = use;
}

void BlockStreamer::done(std::int64_t index) {
  if (index < first_) return;
  if (current_ < 0 || current_ % streamed_blocks() != index - first_)
    throw Error(ErrorCode::Runtime, "BlockStreamer: done(" + std::to_string(index) + ") without ready()");
  const auto s = static_cast<std::size_t>(current_ % slots());
#if defined(SKYREELS_WITH_CUDA)
  if (sync_) sync_->freed[s].record(c10::cuda::getCurrentCUDAStream(device_.index()));
#endif
  (void)s;
  // Between uses the module points at the host copies: nothing holds the slot, and a merge (LoRA)
  // changes the copy the next use brings.
  const auto k = static_cast<std::size_t>(index - first_);
  for (std::size_t j = 0; j < tensors_[k].size(); ++j) tensors_[k][j].set_data(host_[k][j]);
  const auto pass = current_ / streamed_blocks();
  done_ = current_ + 1;
  current_ = -1;
  pump(pass);  // the next use of this slot in this pass starts copying now
}

}  // namespace skyreels::model
