#include "model/rope.h"

#include <ATen/ATen.h>

#include "skyreels/error.h"

namespace skyreels::model {
namespace {

// rope_params(N, dim): angle[p, j] = p / 10000^(2j / dim), j < dim / 2, in float32.
at::Tensor rope_angles(std::int64_t max_positions, std::int64_t dim) {
  const auto exponents = at::arange(0, dim, 2, at::kFloat).div(static_cast<double>(dim));
  const auto inverse = at::reciprocal(at::pow(10000.0, exponents));
  return at::outer(at::arange(max_positions, at::kLong), inverse);
}

}  // namespace

Rope3d::Rope3d(std::int64_t head_dim, std::int64_t max_positions) : head_dim_(head_dim), max_positions_(max_positions) {
  if (head_dim % 2 != 0 || head_dim < 6)
    throw Error(ErrorCode::BadArgument, "RoPE needs an even head dim of at least 6, got " + std::to_string(head_dim));
  const std::int64_t complex = head_dim / 2;
  spatial_channels_ = complex / 3;
  frame_channels_ = complex - 2 * spatial_channels_;
  frame_angles_ = rope_angles(max_positions, 2 * frame_channels_);
  spatial_angles_ = rope_angles(max_positions, 2 * spatial_channels_);
}

Rope3d::Table Rope3d::table(std::int64_t frames, std::int64_t height, std::int64_t width, c10::Device device,
                            std::int64_t first_frame) const {
  if (first_frame + frames > max_positions_ || height > max_positions_ || width > max_positions_)
    throw Error(ErrorCode::BadArgument, "RoPE positions exceed " + std::to_string(max_positions_));
  const auto f = frame_angles_.narrow(0, first_frame, frames).view({frames, 1, 1, -1}).expand({frames, height, width, -1});
  const auto h = spatial_angles_.narrow(0, 0, height).view({1, height, 1, -1}).expand({frames, height, width, -1});
  const auto w = spatial_angles_.narrow(0, 0, width).view({1, 1, width, -1}).expand({frames, height, width, -1});
  const auto angles = at::cat({f, h, w}, -1).reshape({frames * height * width, head_dim_ / 2}).to(device);
  return {at::cos(angles), at::sin(angles)};
}

}  // namespace skyreels::model
