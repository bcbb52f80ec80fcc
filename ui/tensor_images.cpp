#include "tensor_images.h"

#include <algorithm>
#include <tuple>
#include <vector>

#include <ATen/ATen.h>

namespace skyreels::ui {

QVector<QImage> framesToImages(const at::Tensor& frames, QSize limit) {
  QVector<QImage> images;
  if (!frames.defined() || frames.dim() != 4 || frames.size(3) != 3) return images;
  const auto cpu = frames.to(at::kCPU, at::kByte).contiguous();
  const int n = static_cast<int>(cpu.size(0)), h = static_cast<int>(cpu.size(1)), w = static_cast<int>(cpu.size(2));
  const bool shrink = w > limit.width() || h > limit.height();
  images.reserve(n);
  for (int i = 0; i < n; ++i) {
    // A view of the tensor's memory; scaled() and copy() both return images with their own pixels.
    const QImage view(cpu[i].data_ptr<std::uint8_t>(), w, h, w * 3, QImage::Format_RGB888);
    images.push_back(shrink ? view.scaled(limit, Qt::KeepAspectRatio, Qt::SmoothTransformation) : view.copy());
  }
  return images;
}

QImage latentPreviewImage(const at::Tensor& latents, int maxFrames) {
  if (!latents.defined() || latents.dim() != 4 || latents.numel() == 0) return {};
  at::NoGradGuard no_grad;
  const auto channels = latents.size(0), frames = latents.size(1), h = latents.size(2), w = latents.size(3);
  const auto shown = std::min<std::int64_t>(frames, std::max(1, maxFrames));
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
    const auto largest = basis.abs().argmax(0, /*keepdim=*/true);
    basis = basis * basis.gather(0, largest).sign();  // a unit vector's largest entry is never 0
    projected = basis.t().to(x.device(), at::kFloat).matmul(centred);
  } else {
    projected = centred.narrow(0, 0, 1).expand({3, centred.size(1)});
  }
  const auto spread = projected.std(1, /*unbiased=*/true, /*keepdim=*/true).clamp_min(1e-6) * 2.5;
  const auto rgb = (projected / spread * 127.5 + 127.5).clamp(0, 255).to(at::kByte);
  // [3, shown, h, w] -> [h, shown, w, 3]: frames side by side.
  const auto strip = rgb.reshape({3, shown, h, w}).permute({2, 1, 3, 0}).reshape({h, shown * w, 3}).to(at::kCPU).contiguous();
  const QImage view(strip.data_ptr<std::uint8_t>(), static_cast<int>(shown * w), static_cast<int>(h),
                    static_cast<int>(shown * w * 3), QImage::Format_RGB888);
  return view.copy();
}

}  // namespace skyreels::ui
