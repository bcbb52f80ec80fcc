#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

namespace skyreels::pipeline {

// Every random draw of a generation. The reference draws on the GPU, which no CPU code reproduces, so
// tests replace the source with the draws the reference recorded.
class NoiseSource {
public:
  virtual ~NoiseSource() = default;
  // Initial latents of window `window`: standard normal, bf16, `shape` [16, F, h, w] on `device`.
  virtual at::Tensor window_noise(int window, const std::vector<std::int64_t>& shape, c10::Device device) = 0;
  // The draw-th noise of the addnoise_condition path (call order), bf16, shaped and placed like `like`.
  virtual at::Tensor condition_noise(std::int64_t draw, const at::Tensor& like) = 0;
};

// The default: window noise from a generator seeded with the user's seed on the generating device
// (the reference's torch.Generator(device).manual_seed(seed), one randn per window in order).
// Condition noise comes from a second generator seeded with PyTorch's default seed, which is what
// the reference's unseeded global-RNG randn_like sees in a fresh process.
class SeededNoise : public NoiseSource {
public:
  static constexpr std::uint64_t kDefaultTorchSeed = 67280421310721ULL;
  SeededNoise(std::uint64_t seed, c10::Device device);
  at::Tensor window_noise(int window, const std::vector<std::int64_t>& shape, c10::Device device) override;
  at::Tensor condition_noise(std::int64_t draw, const at::Tensor& like) override;

private:
  at::Generator windows_, conditions_;
};

// Recorded draws (fixtures): window i gets windows[i], the k-th condition draw gets draws[k]. A missing
// or mis-shaped draw is an error naming it.
class RecordedNoise : public NoiseSource {
public:
  RecordedNoise(std::vector<at::Tensor> windows, std::vector<at::Tensor> draws);
  at::Tensor window_noise(int window, const std::vector<std::int64_t>& shape, c10::Device device) override;
  at::Tensor condition_noise(std::int64_t draw, const at::Tensor& like) override;

private:
  std::vector<at::Tensor> windows_, draws_;
};

}  // namespace skyreels::pipeline
