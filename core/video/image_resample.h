#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace skyreels::video {

// Pillow's Image.resize with its default filter for RGB images (BICUBIC, since Pillow 7): a separable
// convolution with the a = -0.5 cubic kernel, widened by the scale factor when shrinking (antialiased),
// fixed-point weights with 22 fraction bits, the horizontal pass first and rounded to 8 bits between
// passes. Reimplemented from that description so start images match the reference byte for byte
// (OpenCV's INTER_CUBIC uses a = -0.75 and no antialiasing, and differs by tens of levels when shrinking).
//
// `rgb` is uint8 [H, W, C] on the CPU (any strides); returns uint8 [height, width, C], contiguous.
// Throws skyreels::Error(ShapeMismatch / BadArgument) for another layout or a size below 1.
at::Tensor resize_like_pil(const at::Tensor& rgb, int width, int height);

// The same on raw interleaved 8-bit pixels (rows of src_width * channels bytes, no padding).
void resize_like_pil(const std::uint8_t* src, int src_width, int src_height, int channels, std::uint8_t* dst,
                     int width, int height);

}  // namespace skyreels::video
