#include "model/sequence_parallel.h"

#include <algorithm>

#include <ATen/ATen.h>

#include "skyreels/error.h"

namespace skyreels::model {

std::vector<std::int64_t> SequenceParallel::frames_per_rank(std::int64_t frames) const {
  const auto n = size();
  std::vector<std::int64_t> counts(n, frames / n);
  for (std::int64_t r = 0; r < frames % n; ++r) ++counts[r];
  return counts;
}

std::int64_t SequenceParallel::first_frame(std::int64_t frames) const {
  const auto counts = frames_per_rank(frames);
  std::int64_t first = 0;
  for (int r = 0; r < rank(); ++r) first += counts[r];
  return first;
}

at::Tensor SequenceParallel::gather_sequence(const at::Tensor& local, const std::vector<std::int64_t>& tokens) const {
  const auto n = size();
  const auto b = local.size(0), ll = local.size(1), h = local.size(2), d = local.size(3);
  if (h % n != 0)
    throw Error(ErrorCode::BadArgument, std::to_string(h) + " attention heads cannot be split over " +
                                            std::to_string(n) + " ranks (Ulysses needs heads divisible by ranks)");
  const auto hn = h / n;
  // Head group j of every local token goes to rank j.
  auto input = local.view({b, ll, n, hn, d}).permute({2, 0, 1, 3, 4}).contiguous().view({n * b * ll, hn, d});
  std::int64_t total = 0;
  std::vector<std::int64_t> in_rows(n, b * ll), out_rows(n);
  for (int j = 0; j < n; ++j) {
    out_rows[j] = b * tokens[j];
    total += tokens[j];
  }
  auto output = at::empty({b * total, hn, d}, local.options());
  all_to_all(output, input, out_rows, in_rows);
  // From rank j: its tokens [B, T_j, hn, d]; in rank order they are the whole sequence.
  std::vector<at::Tensor> parts;
  std::int64_t row = 0;
  for (int j = 0; j < n; ++j) {
    parts.push_back(output.narrow(0, row, b * tokens[j]).view({b, tokens[j], hn, d}));
    row += b * tokens[j];
  }
  return at::cat(parts, 1);
}

at::Tensor SequenceParallel::scatter_sequence(const at::Tensor& full, const std::vector<std::int64_t>& tokens) const {
  const auto n = size();
  const auto b = full.size(0), hn = full.size(2), d = full.size(3);
  const auto ll = tokens[rank()];
  // Rank j gets its tokens of this rank's heads.
  std::vector<at::Tensor> parts;
  std::vector<std::int64_t> in_rows(n), out_rows(n, b * ll);
  std::int64_t first = 0;
  for (int j = 0; j < n; ++j) {
    parts.push_back(full.narrow(1, first, tokens[j]).reshape({b * tokens[j], hn, d}));
    in_rows[j] = b * tokens[j];
    first += tokens[j];
  }
  auto input = at::cat(parts, 0);
  auto output = at::empty({n * b * ll, hn, d}, full.options());
  all_to_all(output, input, out_rows, in_rows);
  // From rank j: head group j of this rank's tokens.
  return output.view({n, b, ll, hn, d}).permute({1, 2, 0, 3, 4}).reshape({b, ll, n * hn, d});
}

at::Tensor SequenceParallel::gather_frames(const at::Tensor& local, const std::vector<std::int64_t>& frames) const {
  const auto most = *std::max_element(frames.begin(), frames.end());
  // Equal shapes for the collective: pad to the largest share, trim after.
  auto padded = local;
  if (local.size(2) < most) {
    auto shape = local.sizes().vec();
    shape[2] = most - local.size(2);
    padded = at::cat({local, at::zeros(shape, local.options())}, 2);
  }
  const auto stacked = all_gather(padded.contiguous());  // [n, B, C, most, ...]
  std::vector<at::Tensor> parts;
  for (int j = 0; j < size(); ++j)
    if (frames[j] > 0) parts.push_back(stacked[j].narrow(2, 0, frames[j]));
  return at::cat(parts, 2);
}

bool SequenceParallel::agree(bool flag) const {
  auto value = at::full({1}, flag ? 1 : 0, at::TensorOptions().dtype(at::kInt).device(device()));
  broadcast(value, 0);
  return value.item<int>() != 0;
}

}  // namespace skyreels::model
