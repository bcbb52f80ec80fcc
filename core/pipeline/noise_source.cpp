#include "pipeline/noise_source.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#if defined(SKYREELS_WITH_CUDA)
#include <ATen/cuda/CUDAGeneratorImpl.h>
#endif

#include "skyreels/error.h"

namespace skyreels::pipeline {
namespace {

at::Generator make_generator(c10::Device device, std::uint64_t seed) {
  at::Generator generator;
  if (device.is_cuda()) {
#if defined(SKYREELS_WITH_CUDA)
    generator = at::make_generator<at::CUDAGeneratorImpl>(device.has_index() ? device.index() : 0);
#else
    throw Error(ErrorCode::Unsupported, "this build has no CUDA: cannot draw noise on " + device.str());
#endif
  } else {
    generator = at::make_generator<at::CPUGeneratorImpl>();
  }
  generator.set_current_seed(seed);
  return generator;
}

std::string shape_text(at::IntArrayRef shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

SeededNoise::SeededNoise(std::uint64_t seed, c10::Device device)
    : windows_(make_generator(device, seed)), conditions_(make_generator(device, kDefaultTorchSeed)) {}

at::Tensor SeededNoise::window_noise(int, const std::vector<std::int64_t>& shape, c10::Device device) {
  return at::randn(shape, windows_, at::TensorOptions().dtype(at::kBFloat16).device(device));
}

at::Tensor SeededNoise::condition_noise(std::int64_t, const at::Tensor& like) {
  return at::randn(like.sizes(), conditions_, like.options().dtype(at::kBFloat16));
}

RecordedNoise::RecordedNoise(std::vector<at::Tensor> windows, std::vector<at::Tensor> draws)
    : windows_(std::move(windows)), draws_(std::move(draws)) {}

at::Tensor RecordedNoise::window_noise(int window, const std::vector<std::int64_t>& shape, c10::Device device) {
  if (window < 0 || static_cast<std::size_t>(window) >= windows_.size())
    throw Error(ErrorCode::NotFound, "recorded noise: no initial noise for window " + std::to_string(window) + " (" +
                                         std::to_string(windows_.size()) + " recorded)");
  const auto& t = windows_[static_cast<std::size_t>(window)];
  if (t.sizes() != at::IntArrayRef(shape))
    throw Error(ErrorCode::ShapeMismatch, "recorded noise of window " + std::to_string(window) + " is " +
                                              shape_text(t.sizes()) + ", the window needs " + shape_text(shape));
  return t.to(device, at::kBFloat16);
}

at::Tensor RecordedNoise::condition_noise(std::int64_t draw, const at::Tensor& like) {
  if (draw < 0 || static_cast<std::size_t>(draw) >= draws_.size())
    throw Error(ErrorCode::NotFound, "recorded noise: no condition draw " + std::to_string(draw) + " (" +
                                         std::to_string(draws_.size()) + " recorded)");
  const auto& t = draws_[static_cast<std::size_t>(draw)];
  if (t.sizes() != like.sizes())
    throw Error(ErrorCode::ShapeMismatch, "recorded condition draw " + std::to_string(draw) + " is " +
                                              shape_text(t.sizes()) + ", the prefix is " + shape_text(like.sizes()));
  return t.to(like.device(), at::kBFloat16);
}

}  // namespace skyreels::pipeline
