#pragma once

#include <filesystem>

#include <ATen/core/Tensor.h>

namespace skyreels::video {

// A crop rectangle in pixels, right and bottom exclusive.
struct CropBox {
  int left = 0;
  int top = 0;
  int right = 0;
  int bottom = 0;
  int width() const noexcept { return right - left; }
  int height() const noexcept { return bottom - top; }
};

struct FrameSize {
  int height = 0;
  int width = 0;
};

// The reference's `resizecrop(image, th, tw)` (spec 5.3): the centred box of aspect tw:th that keeps the
// image's full width or height, with Python's arithmetic (float division, int() truncation) and PIL's
// crop rounding (Python round(): halves go to the even integer), so the box can be one pixel wider or
// taller than the aspect asks.
CropBox reference_center_crop(int image_width, int image_height, int target_height, int target_width);

// The reference swaps the requested height and width when the start image is portrait (taller than wide).
FrameSize reference_frame_size(int image_width, int image_height, int height, int width);

// Reads an image file as RGB uint8 [H, W, 3] on the CPU through OpenCV (EXIF orientation applied,
// alpha dropped, grey expanded, 16-bit reduced to 8, as PIL's convert("RGB") does for common files).
// Throws skyreels::Error: NotFound (no such file), BadArgument (a directory), CorruptFile (not an image
// OpenCV can decode).
at::Tensor load_image_rgb(const std::filesystem::path& path);

// Centre crop + resize exactly as the reference prepares a start/end image: resizecrop to the aspect,
// then PIL's default (bicubic) resize to width x height. uint8 [H, W, 3] -> uint8 [height, width, 3].
at::Tensor center_crop_resize(const at::Tensor& rgb, int height, int width);

// An image as the engine's input: center_crop_resize, then x / 127.5 - 1 -> float [3, 1, height, width]
// in [-1, 1] on the CPU. Height and width are the final frame size (apply reference_frame_size first to
// follow the reference's portrait swap).
at::Tensor prepare_image_input(const at::Tensor& rgb, int height, int width);
at::Tensor load_image_input(const std::filesystem::path& path, int height, int width);

}  // namespace skyreels::video
