#pragma once

#include <cstdint>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

namespace skyreels::train {

// The diffusion-forcing training objective our engine's sampler implies (shared/spec/df-training-notes.md):
// flow matching with x_sigma = (1 - sigma) x0 + sigma eps and target v = eps - x0, the DiT fed
// t = sigma * 1000, per-frame noise levels that never decrease along the frames (earlier frames
// cleaner), drawn from the same shifted family inference uses.

struct FrameNoiseOptions {
  double shift = 8.0;            // inference's sigma shift: s sigma / (1 + (s - 1) sigma)
  double sync_probability = 0.3;  // every frame at one level (the synchronous rows)
  // A clean prefix of 1..max_prefix frames (image-to-video, extension, long-video windows), with a
  // small noise level instead of 0 in `condition_noise_probability` of them (addnoise_condition).
  double prefix_probability = 0.3;
  std::int64_t max_prefix = 2;
  double condition_noise_probability = 0.3;
  double condition_sigma = 0.02;  // t = 20, the reference's addnoise_condition
};

// One row of per-frame noise levels, sigma [frames] in [0, 1], non-decreasing along the frames.
at::Tensor sample_frame_sigmas(std::int64_t frames, const FrameNoiseOptions& options, at::Generator generator);

// sigma -> the shifted sigma inference uses.
at::Tensor shift_sigmas(const at::Tensor& sigma, double shift);

struct FlowSample {
  at::Tensor noisy;      // [B, C, F, H, W] float32: (1 - sigma) x0 + sigma eps, per frame
  at::Tensor target;     // [B, C, F, H, W] float32: eps - x0
  at::Tensor timesteps;  // [F] int64: sigma * 1000, truncated as inference does
  at::Tensor weight;     // [F] float32: 0 for frames at sigma 0 (clean, nothing to learn), else 1
};

// x0 [B, C, F, H, W] latents, sigma [F], noise like x0.
FlowSample make_flow_sample(const at::Tensor& x0, const at::Tensor& sigma, const at::Tensor& noise);

// Mean squared error of the prediction [B, C, F, H, W] against the target over the weighted frames.
at::Tensor flow_matching_loss(const at::Tensor& prediction, const FlowSample& sample);

}  // namespace skyreels::train
