#pragma once

#include <functional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "skyreels/error.h"

namespace skyreels::test {

// A moving test video, uint8 [frames, height, width, 3]: colour gradients that drift (smooth, so
// 4:2:0 chroma loses little) and a bright square that moves (a sharp luma-only edge).
at::Tensor moving_pattern(int frames, int height, int width, int first_frame = 0);

// The sharp RGB pattern of tests/core/video/pil_golden.py, uint8 [height, width, 3].
at::Tensor synthetic_rgb(int width, int height);

// Peak signal-to-noise ratio in dB of two uint8 tensors of one shape (infinity when equal).
double psnr(const at::Tensor& a, const at::Tensor& b);

// Bytes from a hex string, as uint8 with the given shape.
at::Tensor from_hex(const std::string& hex, const std::vector<std::int64_t>& shape);

// The code of the skyreels::Error `f` throws (its message through `message`), or ErrorCode::Invalid.
ErrorCode code_of(const std::function<void()>& f, std::string* message = nullptr);

// Writes rgb (uint8 [H, W, 3]) as an image file through OpenCV (format from the extension).
void write_image(const std::string& path, const at::Tensor& rgb);

}  // namespace skyreels::test
