#include "pipeline/step_cache.h"

#include <ATen/ATen.h>

namespace skyreels::pipeline {

bool StepCache::decide(int row, const at::Tensor& e0, int first, int last, bool must_run,
                       const model::SequenceParallel* parallel) {
  bool reuse = false;
  if (previous_.defined() && previous_.sizes() == e0.sizes() && !must_run && last > first) {
    const auto now = e0.narrow(0, first, last - first), before = previous_.narrow(0, first, last - first);
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

model::BlockResidualCache* StepCache::entry(int kind) {
  auto& e = entries_[kind];
  e.cache.reuse = reuse_ && e.ran_at == last_run_row_ && e.cache.residual.defined();
  if (!e.cache.reuse) e.ran_at = last_run_row_;  // runs now: its residual stands for the last run row
  return &e.cache;
}

}  // namespace skyreels::pipeline
