#include "sched/flow_unipc.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <string>
#include <utility>

#include <ATen/ATen.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include "skyreels/error.h"

namespace skyreels::sched {
namespace {

constexpr int kSolverOrder = 2;

// The reference's per-step arithmetic runs on 0-d float32 tensors; mirror it in float.
float alpha_of(float sigma) { return 1.0f - sigma; }
float lambda_of(float sigma) { return std::log(alpha_of(sigma)) - std::log(sigma); }

// Solver order used by the predictor at step k (lower_order_final and the multistep warm-up).
int predictor_order(int k, int steps) {
  const int lower_order_nums = std::min(k, kSolverOrder);
  return std::min({kSolverOrder, steps - k, lower_order_nums + 1});
}

float round_to(float value, at::ScalarType dtype) {
  if (dtype == at::kBFloat16) return static_cast<float>(c10::BFloat16(value));
  if (dtype == at::kHalf) return static_cast<float>(c10::Half(value));
  return value;
}

// Solves [[1, 1], [r, 1]] * rho = [g1, g2] as LAPACK's sgesv does: LU with partial pivoting, the
// pivot column scaled by its reciprocal.
std::array<float, 2> solve_rho(float r, float g1, float g2) {
  float a = 1.0f, b = 1.0f, c = r, d = 1.0f;  // rows [a b] and [c d]
  float y1 = g1, y2 = g2;
  if (std::fabs(c) > std::fabs(a)) {
    std::swap(a, c);
    std::swap(b, d);
    std::swap(y1, y2);
  }
  const float l = c * (1.0f / a);
  const float u22 = d - l * b;
  const float z2 = y2 - l * y1;
  const float rho1 = z2 / u22;
  const float rho0 = (y1 - rho1 * b) / a;
  return {rho0, rho1};
}

}  // namespace

FlowUniPC::FlowUniPC(int steps, double shift, const at::Tensor& sample_like)
    : FlowUniPC(make_flow_timesteps(steps, shift), sample_like) {}

FlowUniPC::FlowUniPC(FlowTimesteps schedule, const at::Tensor& sample_like) : schedule_(std::move(schedule)) {
  if (schedule_.timesteps.empty() || schedule_.sigmas.size() != schedule_.timesteps.size() + 1 ||
      !(schedule_.sigmas.front() < 1.0f))
    throw Error(ErrorCode::BadArgument, "FlowUniPC: the schedule needs steps + 1 sigmas, the first below 1");
  if (sample_like.dim() != 4)
    throw Error(ErrorCode::ShapeMismatch,
                "FlowUniPC expects latents [C, F, H, W], got " + std::to_string(sample_like.dim()) + " dims");
  counters_.assign(sample_like.size(1), 0);
  const auto fp32 = sample_like.options().dtype(at::kFloat);
  m_prev1_ = at::zeros(sample_like.sizes(), fp32);
  m_prev2_ = at::zeros(sample_like.sizes(), fp32);
  last_sample_ = at::zeros_like(sample_like, at::MemoryFormat::Contiguous);
}

FlowUniPC::Coefficients FlowUniPC::coefficients(int k, bool round_rho_to_bf16) const {
  const int n = steps();
  const auto& s = schedule_.sigmas;
  const auto rho_dtype = round_rho_to_bf16 ? at::kBFloat16 : at::kFloat;
  Coefficients c;
  c.sigma = s[k];

  // Corrector between sigma_{k-1} and sigma_k, with the order the previous predictor used.
  if (k == 0) {
    c.keep = 1.0f;
  } else {
    const int order = predictor_order(k - 1, n);
    c.corr_order = order;
    const float lambda_t = lambda_of(s[k]);
    const float lambda_s0 = lambda_of(s[k - 1]);
    const float h = lambda_t - lambda_s0;
    const float hh = -h;
    const float phi = std::expm1(hh);  // h*phi_1 and, for bh2, B_h
    const float alpha_phi = alpha_of(s[k]) * phi;
    c.corr_ratio = s[k] / s[k - 1];
    c.corr_m1 = -alpha_phi;
    if (order == 1) {
      c.corr_rho1 = 0.5f;
      c.corr_dt = -alpha_phi * 0.5f;
    } else {
      const float r = (lambda_of(s[k - 2]) - lambda_s0) / h;
      const float phi_k1 = phi / hh - 1.0f;
      const float g1 = phi_k1 / phi;
      const float phi_k2 = phi_k1 / hh - 0.5f;
      const float g2 = phi_k2 * 2.0f / phi;
      auto rho = solve_rho(r, g1, g2);
      const float rho0 = round_to(rho[0], rho_dtype);
      const float rho1 = round_to(rho[1], rho_dtype);
      c.corr_r = r;
      c.corr_rho0 = rho0;
      c.corr_rho1 = rho1;
      c.corr_d = -alpha_phi * (rho0 / r);
      c.corr_dt = -alpha_phi * rho1;
    }
  }

  // Predictor from sigma_k to sigma_{k+1}; the last step lands on sigma = 0, i.e. on m_k itself.
  c.pred_order = predictor_order(k, n);
  if (s[k + 1] == 0.0f) {
    c.pred_m0 = 1.0f;
  } else {
    const int order = c.pred_order;
    const float lambda_t = lambda_of(s[k + 1]);
    const float lambda_s0 = lambda_of(s[k]);
    const float h = lambda_t - lambda_s0;
    const float phi = std::expm1(-h);
    const float alpha_phi = alpha_of(s[k + 1]) * phi;
    c.pred_ratio = s[k + 1] / s[k];
    c.pred_m0 = -alpha_phi;
    if (order == 2) {
      const float r = (lambda_of(s[k - 1]) - lambda_s0) / h;
      c.pred_d = -alpha_phi * (0.5f / r);
    }
  }
  return c;
}

void FlowUniPC::step(const at::Tensor& model_output, at::Tensor& sample, int first, int last) {
  if (first < 0 || last > frames() || first >= last)
    throw Error(ErrorCode::BadArgument, "FlowUniPC::step: frame range [" + std::to_string(first) + ", " +
                                            std::to_string(last) + ") is empty or outside " +
                                            std::to_string(frames()) + " frames");
  std::vector<int> selected(last - first);
  for (int i = 0; i < last - first; ++i) selected[i] = first + i;
  step_selected(model_output, sample, selected, first);
}

void FlowUniPC::step(const at::Tensor& model_output, at::Tensor& sample, const std::vector<int>& frames) {
  if (frames.empty()) throw Error(ErrorCode::BadArgument, "FlowUniPC::step: no frames selected");
  std::vector<int> sorted = frames;
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end())
    throw Error(ErrorCode::BadArgument, "FlowUniPC::step: a frame is selected twice");
  if (sorted.front() < 0 || sorted.back() >= this->frames())
    throw Error(ErrorCode::BadArgument, "FlowUniPC::step: frame index outside the window");
  const bool contiguous = std::is_sorted(frames.begin(), frames.end()) &&
                          frames.back() - frames.front() + 1 == static_cast<int>(frames.size());
  step_selected(model_output, sample, frames, contiguous ? frames.front() : -1);
}

void FlowUniPC::step_selected(const at::Tensor& model_output, at::Tensor& sample, const std::vector<int>& frames,
                              int contiguous_first) {
  const auto count = static_cast<std::int64_t>(frames.size());
  if (sample.dim() != 4 || sample.size(1) != this->frames() || !sample.sizes().equals(last_sample_.sizes()))
    throw Error(ErrorCode::ShapeMismatch, "FlowUniPC::step: sample must be [C, " + std::to_string(this->frames()) +
                                              ", H, W] as at construction");
  if (model_output.dim() != 4 || model_output.size(1) != count || model_output.size(0) != sample.size(0) ||
      model_output.size(2) != sample.size(2) || model_output.size(3) != sample.size(3))
    throw Error(ErrorCode::ShapeMismatch, "FlowUniPC::step: model output must be [C, " + std::to_string(count) +
                                              ", H, W] for the selected frames");
  const auto dtype = sample.scalar_type();
  if (dtype != last_sample_.scalar_type())
    throw Error(ErrorCode::BadArgument, "FlowUniPC::step: sample dtype changed since construction");

  // Per-frame weights, computed on the host and sent in one (pinned, asynchronous) copy.
  constexpr int kRows = 9;
  auto host = at::empty({kRows, count}, at::TensorOptions().dtype(at::kFloat).pinned_memory(sample.is_cuda()));
  float* w = host.data_ptr<float>();
  for (std::int64_t i = 0; i < count; ++i) {
    const int k = counters_[frames[i]];
    if (k >= steps())
      throw Error(ErrorCode::BadArgument, "FlowUniPC::step: frame " + std::to_string(frames[i]) +
                                              " has already taken all " + std::to_string(steps()) + " steps");
    const auto c = coefficients(k, dtype == at::kBFloat16);
    const float values[kRows] = {c.sigma,   c.keep,       c.corr_ratio, c.corr_m1, c.corr_d,
                                 c.corr_dt, c.pred_ratio, c.pred_m0,    c.pred_d};
    for (int row = 0; row < kRows; ++row) w[row * count + i] = values[row];
  }
  const auto weights = host.to(sample.device(), /*non_blocking=*/true).view({kRows, 1, count, 1, 1});
  auto weight = [&](int row) { return weights[row]; };  // [1, count, 1, 1]: broadcast over C, H, W

  // Gather the selected frames: views for a contiguous range, copies otherwise.
  at::Tensor index;
  auto gather = [&](const at::Tensor& t) {
    return contiguous_first >= 0 ? t.narrow(1, contiguous_first, count) : t.index_select(1, index);
  };
  if (contiguous_first < 0) {
    index = at::tensor(std::vector<std::int64_t>(frames.begin(), frames.end()), at::kLong).to(sample.device());
  }
  auto round = [dtype](const at::Tensor& t) { return dtype == at::kFloat ? t : t.to(dtype).to(at::kFloat); };

  const auto x = gather(sample).to(at::kFloat);
  const auto m1 = gather(m_prev1_);
  const auto m2 = gather(m_prev2_);
  const auto xl = gather(last_sample_).to(at::kFloat);
  const auto v = model_output.to(sample.device(), at::kFloat);

  // x0 prediction from the uncorrected sample, then UniC correction of the sample, then UniP.
  const auto m_k = x - weight(0) * v;
  const auto corrected =
      (weight(1) * x + round(weight(2) * xl) + weight(3) * m1 + weight(4) * (m2 - m1) + weight(5) * (m_k - m1))
          .to(dtype);
  const auto predicted =
      (round(weight(6) * corrected.to(at::kFloat)) + weight(7) * m_k + weight(8) * (m1 - m_k)).to(dtype);

  // Shift the history and store the results.
  auto scatter = [&](at::Tensor& target, const at::Tensor& values) {
    if (contiguous_first >= 0)
      target.narrow(1, contiguous_first, count).copy_(values);
    else
      target.index_copy_(1, index, values.to(target.scalar_type()));
  };
  scatter(m_prev2_, m1);  // before m_prev1_ is overwritten (m1 may be a view of it)
  scatter(m_prev1_, m_k);
  scatter(last_sample_, corrected);
  scatter(sample, predicted);
  for (int f : frames) ++counters_[f];
}

}  // namespace skyreels::sched
