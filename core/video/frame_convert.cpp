#include "video/frame_convert.h"

#include <sstream>

#include <ATen/ATen.h>

#include "pipeline/pixel_frames.h"
#include "skyreels/error.h"

namespace skyreels::video {

namespace {

std::string describe(const at::Tensor& t) {
  if (!t.defined()) return "an undefined tensor";
  std::ostringstream out;
  out << t.scalar_type() << " " << t.sizes() << " on " << t.device();
  return out.str();
}

}  // namespace

void check_uint8_frames(const at::Tensor& frames, const std::string& what) {
  if (!frames.defined() || frames.scalar_type() != at::kByte || frames.dim() != 4 || frames.size(3) != 3 ||
      frames.size(0) < 1) {
    throw Error(ErrorCode::ShapeMismatch,
                what + ": expected uint8 frames [F, H, W, 3] with F >= 1, got " + describe(frames));
  }
}

void check_decoded_video(const at::Tensor& video, const std::string& what) {
  if (!video.defined() || !at::isFloatingType(video.scalar_type()) || video.dim() != 4 || video.size(0) != 3 ||
      video.size(1) < 1) {
    throw Error(ErrorCode::ShapeMismatch,
                what + ": expected a floating video [3, F, H, W] in [-1, 1] with F >= 1, got " + describe(video));
  }
}

// The formulas live in the engine (pipeline/pixel_frames), which produces the frames; these add the
// checks that name the caller.
at::Tensor to_uint8_frames(const at::Tensor& video) {
  check_decoded_video(video, "to_uint8_frames");
  return pipeline::pixels_to_uint8(video);
}

at::Tensor to_input_video(const at::Tensor& frames) {
  check_uint8_frames(frames, "to_input_video");
  return pipeline::uint8_to_pixels(frames);
}

}  // namespace skyreels::video
