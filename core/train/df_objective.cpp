#include "train/df_objective.h"

#include <ATen/ATen.h>

#include "skyreels/error.h"

namespace skyreels::train {

at::Tensor shift_sigmas(const at::Tensor& sigma, double shift) { return sigma * shift / (1.0 + (shift - 1.0) * sigma); }

at::Tensor sample_frame_sigmas(std::int64_t frames, const FrameNoiseOptions& o, at::Generator generator) {
  if (frames < 1) throw Error(ErrorCode::BadArgument, "a training clip needs at least one latent frame");
  const auto options = at::TensorOptions().dtype(at::kDouble);
  auto coin = [&](double p) { return at::rand({1}, generator, options).item<double>() < p; };
  // Uniform draws sorted ascending: earlier frames cleaner, as every row of the inference schedule.
  auto u = coin(o.sync_probability) ? at::rand({1}, generator, options).expand({frames}).clone()
                                    : std::get<0>(at::rand({frames}, generator, options).sort());
  auto sigma = shift_sigmas(u, o.shift);
  if (frames > 1 && coin(o.prefix_probability)) {
    const auto limit = std::min<std::int64_t>(o.max_prefix, frames - 1);
    const auto prefix = 1 + static_cast<std::int64_t>(at::randint(limit, {1}, generator, at::kLong).item<std::int64_t>());
    sigma.narrow(0, 0, prefix).fill_(coin(o.condition_noise_probability) ? o.condition_sigma : 0.0);
  }
  return sigma.to(at::kFloat);
}

FlowSample make_flow_sample(const at::Tensor& x0, const at::Tensor& sigma, const at::Tensor& noise) {
  if (x0.dim() != 5 || sigma.dim() != 1 || sigma.size(0) != x0.size(2) || noise.sizes() != x0.sizes())
    throw Error(ErrorCode::ShapeMismatch, "flow sample: latents [B, C, F, H, W], one sigma per frame and noise like "
                                          "the latents");
  const auto s = sigma.to(x0.device(), at::kFloat).view({1, 1, -1, 1, 1});
  const auto clean = x0.to(at::kFloat), eps = noise.to(at::kFloat);
  FlowSample sample;
  sample.noisy = (1.0 - s) * clean + s * eps;
  sample.target = eps - clean;
  sample.timesteps = (sigma.to(at::kDouble) * 1000.0).to(at::kLong).to(x0.device());
  sample.weight = (sigma > 0).to(at::kFloat).to(x0.device());
  return sample;
}

at::Tensor flow_matching_loss(const at::Tensor& prediction, const FlowSample& sample) {
  const auto per_frame = (prediction.to(at::kFloat) - sample.target).pow(2).mean({0, 1, 3, 4});  // [F]
  return (per_frame * sample.weight).sum() / sample.weight.sum().clamp_min(1.0);
}

}  // namespace skyreels::train
