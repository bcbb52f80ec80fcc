#include "pipeline/pixel_frames.h"

#include <ATen/ATen.h>

#include "skyreels/error.h"

namespace skyreels::pipeline {

at::Tensor pixels_to_uint8(const at::Tensor& pixels) {
  auto v = pixels.dim() == 5 ? pixels.squeeze(0) : pixels;
  if (v.dim() != 4 || v.size(0) != 3)
    throw Error(ErrorCode::ShapeMismatch, "decoded pixels must be [3, F, H, W], got " + std::to_string(pixels.dim()) +
                                              " dimensions");
  v = v.to(at::kFloat);
  const auto levels = ((v / 2 + 0.5).clamp(0, 1) * 255).to(at::kByte);  // truncation, as astype(uint8)
  return levels.permute({1, 2, 3, 0}).contiguous().cpu();
}

at::Tensor uint8_to_pixels(const at::Tensor& frames) {
  auto f = frames.dim() == 3 ? frames.unsqueeze(0) : frames;
  if (f.scalar_type() != at::kByte || f.dim() != 4 || f.size(3) != 3)
    throw Error(ErrorCode::ShapeMismatch, "frames must be uint8 [F, H, W, 3] or an image [H, W, 3]");
  return (f.permute({3, 0, 1, 2}).to(at::kFloat) / 127.5 - 1).contiguous();
}

}  // namespace skyreels::pipeline
