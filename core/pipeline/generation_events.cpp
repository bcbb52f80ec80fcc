#include "pipeline/generation_events.h"

#include <algorithm>
#include <cstring>
#include <tuple>
#include <vector>

#include <ATen/ATen.h>

namespace skyreels {

Frames::Frames(std::int64_t count, std::int64_t height, std::int64_t width, const std::uint8_t* data,
               std::shared_ptr<const void> owner)
    : count_(count), height_(height), width_(width), data_(data), owner_(std::move(owner)) {}

const char* to_string(Phase phase) {
  switch (phase) {
    case Phase::LoadingModels: return "loading models";
    case Phase::EncodingPrompts: return "encoding prompts";
    case Phase::Denoising: return "denoising";
    case Phase::Finishing: return "finishing";
  }
  return "?";
}

Image LatentView::preview(int max_frames) const {
  const auto latents = pipeline::tensor_of(*this);
  if (!latents.defined() || latents.dim() != 4 || latents.numel() == 0) return {};
  at::NoGradGuard no_grad;
  const auto channels = latents.size(0), frames = latents.size(1), h = latents.size(2), w = latents.size(3);
  const auto shown = std::min<std::int64_t>(frames, std::max(1, max_frames));
  std::vector<std::int64_t> picks;
  for (std::int64_t i = 0; i < shown; ++i) picks.push_back(shown == 1 ? 0 : i * (frames - 1) / (shown - 1));
  const auto index = at::tensor(picks, at::TensorOptions().dtype(at::kLong)).to(latents.device());
  const auto x = latents.detach().index_select(1, index).to(at::kFloat).reshape({channels, -1});  // [C, N]
  const auto centred = x - x.mean(1, /*keepdim=*/true);

  at::Tensor projected;  // [3, N]
  if (channels >= 3) {
    const auto cov = centred.matmul(centred.t()).div(static_cast<double>(centred.size(1))).to(at::kCPU, at::kDouble);
    const auto eig = at::linalg_eigh(cov);  // ascending eigenvalues
    auto basis = std::get<1>(eig).narrow(1, channels - 3, 3).flip({1});  // [C, 3], largest first
    // A sign per component, so colours do not flip between rows (a unit vector's largest entry is never 0).
    const auto largest = basis.abs().argmax(0, /*keepdim=*/true);
    basis = basis * basis.gather(0, largest).sign();
    projected = basis.t().to(x.device(), at::kFloat).matmul(centred);
  } else {
    projected = centred.narrow(0, 0, 1).expand({3, centred.size(1)});
  }
  const auto spread = projected.std(1, /*unbiased=*/true, /*keepdim=*/true).clamp_min(1e-6) * 2.5;
  const auto rgb = (projected / spread * 127.5 + 127.5).clamp(0, 255).to(at::kByte);
  // [3, shown, h, w] -> [h, shown, w, 3]: frames side by side.
  const auto strip =
      rgb.reshape({3, shown, h, w}).permute({2, 1, 3, 0}).reshape({h, shown * w, 3}).to(at::kCPU).contiguous();
  Image image;
  image.width = static_cast<int>(shown * w);
  image.height = static_cast<int>(h);
  image.rgb.resize(static_cast<std::size_t>(strip.numel()));
  std::memcpy(image.rgb.data(), strip.data_ptr<std::uint8_t>(), image.rgb.size());
  return image;
}

}  // namespace skyreels

namespace skyreels::pipeline {

Frames frames_from_tensor(const at::Tensor& frames) {
  auto cpu = std::make_shared<at::Tensor>(frames.to(at::kCPU, at::kByte).contiguous());
  const auto* data = cpu->data_ptr<std::uint8_t>();
  return Frames(cpu->size(0), cpu->size(1), cpu->size(2), data, std::shared_ptr<const void>(cpu, cpu.get()));
}

at::Tensor tensor_of(const Frames& frames) {
  if (frames.data() == nullptr)
    return at::empty({0, frames.height(), frames.width(), 3}, at::TensorOptions().dtype(at::kByte));
  auto owner = frames.owner();
  // from_blob does not write; the deleter keeps the owner alive as long as the tensor.
  return at::from_blob(const_cast<std::uint8_t*>(frames.data()), {frames.count(), frames.height(), frames.width(), 3},
                       [owner](void*) {}, at::TensorOptions().dtype(at::kByte));
}

LatentView latent_view(const at::Tensor& latents) {
  return LatentView(std::make_shared<const LatentTensor>(LatentTensor{latents}));
}

at::Tensor tensor_of(const LatentView& view) { return view.tensor() ? view.tensor()->value : at::Tensor(); }

}  // namespace skyreels::pipeline
