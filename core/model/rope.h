#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace skyreels::model {

// The Wan DiT's 3D rotary embedding. A head of D channels is D/2 complex numbers from adjacent pairs
// (x[2j] real, x[2j+1] imaginary); the first D/2 - 2*(D/2/3) rotate with the frame index, the next
// D/2/3 with the row, the last D/2/3 with the column (22/21/21 for D = 128). Angles p * 10000^(-2j/n)
// are built in float32, as SkyReels does.
class Rope3d {
public:
  explicit Rope3d(std::int64_t head_dim, std::int64_t max_positions = 1024);

  // cos and sin per token of a frames x height x width grid (frame-major), [L, D/2] float32 on `device`.
  // Positions restart at 0 in every call; `first_frame` offsets frame positions.
  struct Table {
    at::Tensor cos, sin;
    // The rows of tokens [first, first + count).
    Table rows(std::int64_t first, std::int64_t count) const { return {cos.narrow(0, first, count), sin.narrow(0, first, count)}; }
  };
  Table table(std::int64_t frames, std::int64_t height, std::int64_t width, c10::Device device,
              std::int64_t first_frame = 0) const;

  std::int64_t frame_channels() const noexcept { return frame_channels_; }
  std::int64_t spatial_channels() const noexcept { return spatial_channels_; }

private:
  std::int64_t head_dim_, max_positions_, frame_channels_, spatial_channels_;
  at::Tensor frame_angles_, spatial_angles_;  // [max_positions, channels] float32, CPU
};

}  // namespace skyreels::model
