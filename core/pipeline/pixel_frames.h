#pragma once

#include <ATen/core/Tensor.h>

namespace skyreels::pipeline {

// Decoded pixels [3, F, H, W] (or [1, 3, F, H, W]) float in [-1, 1] -> [F, H, W, 3] uint8 on the CPU,
// as the reference: (v / 2 + 0.5).clamp(0, 1) * 255, truncated.
at::Tensor pixels_to_uint8(const at::Tensor& pixels);

// [F, H, W, 3] (or an image [H, W, 3]) uint8 -> [3, F, H, W] float32 in [-1, 1]: x / 127.5 - 1, as the
// reference prepares images and videos for the VAE.
at::Tensor uint8_to_pixels(const at::Tensor& frames);

}  // namespace skyreels::pipeline
