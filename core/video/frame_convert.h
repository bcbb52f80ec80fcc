#pragma once

#include <string>

#include <ATen/core/Tensor.h>

namespace skyreels::video {

// The engine's two video layouts and the conversions between them:
//   decoded video: float [3, F, H, W] in [-1, 1], any device (what the VAE decodes)
//   frames:        uint8 [F, H, W, 3] RGB on the CPU (what files hold)

// The reference's output conversion (spec 5.3 "Output"): in float32, (v / 2 + 0.5).clamp(0, 1) * 255,
// then uint8 by truncation, frames last -> first. Any floating dtype and device; the result is on the CPU.
at::Tensor to_uint8_frames(const at::Tensor& video);

// The reference's input conversion (encode_image): uint8 x -> x / 127.5 - 1 as float32, [F, H, W, 3] ->
// [3, F, H, W]. The result is on the frames' device.
at::Tensor to_input_video(const at::Tensor& frames);

// Throws skyreels::Error(ShapeMismatch) naming `what` unless `frames` is uint8 [F, H, W, 3] with F >= 1.
void check_uint8_frames(const at::Tensor& frames, const std::string& what);
// Throws skyreels::Error(ShapeMismatch) naming `what` unless `video` is floating [3, F, H, W] with F >= 1.
void check_decoded_video(const at::Tensor& video, const std::string& what);

}  // namespace skyreels::video
