#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

namespace skyreels::model {

// Ulysses sequence parallelism for the DiT: every rank holds a contiguous run of whole latent frames
// (its tokens) and all heads; around self-attention two all-to-alls trade that for all tokens of
// H / ranks heads, so attention sees the whole sequence. Everything else in a block is token-wise and
// stays local. Weights are replicated. The collective itself is the one virtual function, so the
// engine's model code needs no c10d (core/parallel implements it over gloo or NCCL).
class SequenceParallel {
public:
  virtual ~SequenceParallel() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual c10::Device device() const = 0;  // where the collectives' tensors live

  // Frames per rank for a sequence of `frames`: contiguous runs whose sizes differ by at most one,
  // larger ones first. A rank may get zero frames when there are fewer frames than ranks.
  std::vector<std::int64_t> frames_per_rank(std::int64_t frames) const;
  std::int64_t first_frame(std::int64_t frames) const;  // of this rank

  // q, k or v of this rank's tokens [B, Ll, H, d] -> every token of this rank's heads [B, L, H/size, d].
  at::Tensor gather_sequence(const at::Tensor& local, const std::vector<std::int64_t>& tokens_per_rank) const;
  // The attention output of every token for this rank's heads [B, L, H/size, d] -> this rank's tokens
  // with all heads [B, Ll, H, d].
  at::Tensor scatter_sequence(const at::Tensor& full, const std::vector<std::int64_t>& tokens_per_rank) const;
  // This rank's frames of a [B, C, Fl, ...] tensor -> all frames [B, C, F, ...] on every rank.
  at::Tensor gather_frames(const at::Tensor& local, const std::vector<std::int64_t>& frames_per_rank) const;
  // Every rank's `local` (same shape and dtype everywhere), stacked along a new dim 0 in rank order: the
  // CFG-parallel exchange of a row's conditional and unconditional predictions.
  at::Tensor gather_ranks(const at::Tensor& local) const { return all_gather(local); }
  // `tensor` of rank `root` is copied into `tensor` of every other rank (same shape and dtype).
  virtual void broadcast(at::Tensor& tensor, int root = 0) const = 0;
  // Rank 0's flag on every rank (a user's cancel must stop all ranks at the same row).
  bool agree(bool flag) const;

protected:
  // All-to-all along dim 0 of contiguous tensors: rows [sum(in_rows[:j]), +in_rows[j]) of `input` go to
  // rank j; rows from rank j land at [sum(out_rows[:j]), +out_rows[j]) of `output`.
  virtual void all_to_all(at::Tensor& output, at::Tensor& input, std::vector<std::int64_t>& out_rows,
                          std::vector<std::int64_t>& in_rows) const = 0;
  // Every rank's `input` (same shape everywhere), stacked along a new dim 0 in rank order.
  virtual at::Tensor all_gather(const at::Tensor& input) const = 0;
};

// A decision every rank must share (stop, reuse the step cache): rank 0's `flag` when running on
// several ranks, `flag` itself when `parallel` is null.
inline bool rank0_decides(const SequenceParallel* parallel, bool flag) {
  return parallel ? parallel->agree(flag) : flag;
}

}  // namespace skyreels::model
