#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "sched/flow_solver.h"
#include "sched/flow_timesteps.h"

namespace skyreels::sched {

// FlowUniPCMultistepScheduler of the reference (bh2, solver order 2, x0 prediction, lower_order_final,
// final sigma 0) as ONE object for all latent frames of a window.
//
// The reference keeps one scheduler per frame and steps them one by one with host syncs. Here the
// state is batched: model-output history [C, F, H, W] fp32 and the last corrected sample in the sample
// dtype, plus a step counter per frame on the host. A step advances any set of frames, each at its own
// counter: the coefficients (which depend only on counters and sigmas) are computed on the host and
// applied by a handful of whole-tensor ops with per-frame coefficient vectors, so there is no
// device-to-host sync and no per-frame kernel launch.
//
// Rounding follows the reference with bf16 samples: m = x - sigma*v in fp32; the term
// (sigma_t/sigma_s) * x is rounded to the sample dtype; the corrector/predictor weights rho are rounded
// to the sample dtype; the rest is fp32 and the result is rounded to the sample dtype. Host scalars are
// float32, as the reference's 0-d tensors are.
class FlowUniPC : public FlowSolver {
public:
  // `sample_like` is the window's latent tensor [C, F, H, W] (frames on dim 1): it fixes F, the
  // device and the sample dtype.
  FlowUniPC(int steps, double shift, const at::Tensor& sample_like);
  // The same on a given schedule (its sigmas must stay below 1: the solver works in log(1 - sigma)).
  FlowUniPC(FlowTimesteps schedule, const at::Tensor& sample_like);

  int frames() const noexcept override { return static_cast<int>(counters_.size()); }
  const FlowTimesteps& schedule() const noexcept override { return schedule_; }
  // Steps already taken by a frame (0..steps).
  int counter(int frame) const override { return counters_.at(frame); }

  // Advances frames [first, last) by one step each. `model_output` holds the flow prediction for
  // exactly those frames ([C, last - first, H, W], any float dtype); `sample` is the window's latent
  // tensor [C, F, H, W], updated in place for those frames. Throws skyreels::Error(BadArgument) for
  // a frame that has already taken every step, or shapes that do not match.
  void step(const at::Tensor& model_output, at::Tensor& sample, int first, int last) override;
  // The same for any set of distinct frames (model_output: [C, frames.size(), H, W], in that order).
  void step(const at::Tensor& model_output, at::Tensor& sample, const std::vector<int>& frames);

  // Per-frame weights of one step, exposed for tests. For a frame at counter k (x: its current
  // sample, m_k = x - sigma_k * v, m1 = m_{k-1}, m2 = m_{k-2}, xl = last corrected sample):
  //   corrected  xc = keep*x + round(corr_ratio * xl) + corr_m1*m1 + corr_d*(m2 - m1) + corr_dt*(m_k - m1)
  //   prediction x' = round(pred_ratio * xc) + pred_m0*m_k + pred_d*(m1 - m_k)
  struct Coefficients {
    float sigma = 0;  // sigma_k, for m_k
    int corr_order = 0, pred_order = 0;    // 0: no corrector (first step)
    float corr_r = 0, corr_rho0 = 0, corr_rho1 = 0;  // the corrector's solve, as the reference has it
    float keep = 0, corr_ratio = 0, corr_m1 = 0, corr_d = 0, corr_dt = 0;
    float pred_ratio = 0, pred_m0 = 0, pred_d = 0;
  };
  Coefficients coefficients(int counter, bool round_rho_to_bf16) const;

private:
  void step_selected(const at::Tensor& model_output, at::Tensor& sample, const std::vector<int>& frames,
                     int contiguous_first);

  FlowTimesteps schedule_;
  std::vector<int> counters_;
  at::Tensor m_prev1_;      // m_{k-1} per frame, fp32
  at::Tensor m_prev2_;      // m_{k-2} per frame, fp32
  at::Tensor last_sample_;  // corrected sample of the previous step, sample dtype
};

}  // namespace skyreels::sched
