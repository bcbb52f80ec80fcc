#pragma once

#include <cstdint>
#include <map>

#include <ATen/core/Tensor.h>

#include "model/sequence_parallel.h"
#include "model/wan_dit.h"

namespace skyreels::pipeline {

// The step cache fast mode, a TeaCache-style skip made for per-frame timesteps. The reference's
// TeaCache (spec §3) compares the whole per-token modulation of consecutive calls with Wan's fitted
// polynomial and breaks diffusion forcing; here each row compares the time modulation e0 of the
// frames it updates with the previous row's, accumulates that relative L1 change, and while the sum
// stays under the threshold the DiT adds its blocks' last residual instead of running them. Rows where
// a frame takes its first or last step always run the blocks.
//
// One seam per row: decide() on the row's time embedding (computed once for all the row's calls),
// then for each call reuse_for() before and record() after it.
class StepCache {
public:
  explicit StepCache(double threshold) : threshold_(threshold) {}

  // Whether row `row` may reuse: e0 [rows, 6, dim] of the row's time embedding, whose rows
  // [first_row, first_row + row_count) belong to the updated frames. One host sync (the change is a
  // scalar the decision needs). With several ranks (`parallel`), rank 0's decision is every rank's,
  // since their calls must match.
  bool decide(int row, const at::Tensor& e0, std::int64_t first_row, std::int64_t row_count, bool must_run,
              const model::SequenceParallel* parallel = nullptr);

  // What a call of `kind` (cond, uncond, or both batched) does with the blocks in the row decide() saw:
  // reuse a residual only when that kind ran the blocks at the last row that did; always keep its own.
  model::BlockReuse reuse_for(int kind);
  // After that call: its residual becomes the one to reuse when it ran the blocks.
  void record(int kind, const model::DitOutput& output);

private:
  struct Entry {
    at::Tensor residual;
    int ran_at = -1;  // row whose blocks the residual comes from
  };
  double threshold_;
  double accumulated_ = 0;
  at::Tensor previous_;  // e0 of the previous row
  int last_run_row_ = -1;
  bool reuse_ = false;
  std::map<int, Entry> entries_;
};

}  // namespace skyreels::pipeline
