#include "pipeline/step_cache.h"

#include <ATen/ATen.h>

namespace skyreels::pipeline {

bool StepCache::decide(int row, const at::Tensor& e0, std::int64_t first_row, std::int64_t row_count, bool must_run,
                       const model::SequenceParallel* parallel) {
  bool reuse = false;
  if (previous_.defined() && previous_.sizes() == e0.sizes() && !must_run && row_count > 0) {
    const auto now = e0.narrow(0, first_row, row_count), before = previous_.narrow(0, first_row, row_count);
    accumulated_ += ((now - before).abs().mean() / before.abs().mean().clamp_min(1e-12)).item<double>();
    reuse = accumulated_ < threshold_;
  }
  reuse_ = model::rank0_decides(parallel, reuse);
  previous_ = e0;
  if (!reuse_) {
    accumulated_ = 0;
    last_run_row_ = row;
  }
  return reuse_;
}

model::BlockReuse StepCache::reuse_for(int kind) {
  auto& e = entries_[kind];
  model::BlockReuse reuse;
  reuse.keep_residual = true;
  if (reuse_ && e.ran_at == last_run_row_ && e.residual.defined()) reuse.residual = e.residual;
  else e.ran_at = last_run_row_;  // runs now: its residual stands for the last run row
  return reuse;
}

void StepCache::record(int kind, const model::DitOutput& output) {
  if (!output.reused && output.block_residual.defined()) entries_[kind].residual = output.block_residual;
}

}  // namespace skyreels::pipeline
