#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <c10/core/Device.h>
#include <torch/optim/adamw.h>

#include "model/wan_vae.h"
#include "train/train_config.h"

namespace skyreels::train {

// Latent statistics of a trained VAE: per channel, over many clips (what the official VAE ships as
// constants and ours as the tensors latents_mean / latents_std).
struct LatentStats {
  std::vector<float> mean, std;
};

// The VAE's reconstruction training: procedural clips through the encoder, a sample of the posterior
// through the decoder, reconstruction_loss to the input plus a small KL term, after a random length of
// the clip's past has run through both without gradients (the caches' steady state); and the clips'
// first frames alone, the chunk image to video keeps. Float32 parameters, the engine's
// own encoder and decoder (chunked, causal) with autograd.
class VaeTrainer {
public:
  VaeTrainer(const TrainConfig& config, c10::Device device);

  // One optimiser step on the clips of `step` (deterministic for the run's seed and the step).
  // Returns the loss.
  double train_step(std::int64_t step);
  double learning_rate(std::int64_t step) const;

  // Per-channel mean and std of the posterior means over `clips` clips of the DiT's length.
  LatentStats measure_latent_stats(std::int64_t clips);

  // Reconstruction PSNR of each frame (dB, pixels in [-1, 1]) through the posterior means, over `clips`
  // clips of `frames` frames at the full clip size that the training never drew: how good the stage
  // is, and whether it holds up past the lengths it trained on.
  std::vector<double> reconstruction_psnr(std::int64_t clips, std::int64_t frames);

  model::WanVae& vae() { return vae_; }
  torch::optim::Optimizer& optimizer() { return *optimizer_; }

private:
  double peak_learning_rate() const;

  TrainConfig config_;
  c10::Device device_;
  model::WanVae vae_{nullptr};
  std::unique_ptr<torch::optim::AdamW> optimizer_;
};

// Fan-in scaled normal weights, unit norm scales, zero biases, unit-variance embeddings: a network of
// any of our architectures starts with activations of order one. Deterministic for the seed.
void initialize_weights(torch::nn::Module& module, std::uint64_t seed);

// L1 + MSE of `decoded` to `target` ([B, C, F, H, W]) plus `edge_weight` times the L1 of their
// differences between neighbouring pixels along H and W: the edges and corners a blur would round off.
at::Tensor reconstruction_loss(const at::Tensor& decoded, const at::Tensor& target, double edge_weight);

// A cosine decay from `peak` to `final` over `total` steps after a linear warm-up of `warmup` steps.
double cosine_learning_rate(std::int64_t step, std::int64_t total, std::int64_t warmup, double peak, double final);
void set_learning_rate(torch::optim::Optimizer& optimizer, double learning_rate);

}  // namespace skyreels::train
