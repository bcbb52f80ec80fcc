#include <gtest/gtest.h>

#include <functional>
#include <vector>

#include <ATen/ATen.h>

#include "skyreels/error.h"
#include "video/frame_convert.h"
#include "video_test_support.h"

namespace skyreels::video {
namespace {

using test::code_of;

TEST(FrameConvert, Uint8FramesFollowTheReferenceFormula) {
  // (v / 2 + 0.5).clamp(0, 1) * 255, truncated: 0 -> 127.5 -> 127, -0.5 -> 63.75 -> 63.
  const std::vector<float> values = {-2.0f, -1.0f, -0.5f, 0.0f, 0.999f, 1.0f, 1.5f};
  const std::vector<int> expected = {0, 0, 63, 127, 254, 255, 255};
  const at::Tensor v = at::tensor(values).view({1, 1, 1, 7}).expand({3, 1, 1, 7}).contiguous();
  const at::Tensor frames = to_uint8_frames(v);
  ASSERT_EQ(frames.sizes(), (at::IntArrayRef{1, 1, 7, 3}));
  EXPECT_EQ(frames.scalar_type(), at::kByte);
  for (int i = 0; i < 7; ++i) EXPECT_EQ(frames[0][0][i][1].item<int>(), expected[i]) << "value " << values[i];
}

TEST(FrameConvert, LayoutIsFramesHeightWidthChannels) {
  // Channel c, frame f, row y, column x holds a distinct value.
  const at::Tensor video = at::arange(3 * 2 * 4 * 5, at::kFloat).view({3, 2, 4, 5}) / 60.0 - 1.0;
  const at::Tensor frames = to_uint8_frames(video);
  ASSERT_EQ(frames.sizes(), (at::IntArrayRef{2, 4, 5, 3}));
  EXPECT_TRUE(frames.is_contiguous());
  const at::Tensor expected = ((video / 2 + 0.5).clamp(0, 1) * 255).to(at::kByte).permute({1, 2, 3, 0});
  EXPECT_TRUE(at::equal(frames, expected));
  // Half-precision input is accepted as well.
  EXPECT_EQ(to_uint8_frames(video.to(at::kBFloat16)).sizes(), frames.sizes());
}

TEST(FrameConvert, InputVideoIsMinusOneToOne) {
  at::Tensor frames = at::zeros({2, 3, 4, 3}, at::kByte);
  frames[0][0][0][0] = 255;
  frames[1][2][3][2] = 128;
  const at::Tensor video = to_input_video(frames);
  ASSERT_EQ(video.sizes(), (at::IntArrayRef{3, 2, 3, 4}));
  EXPECT_EQ(video.scalar_type(), at::kFloat);
  EXPECT_FLOAT_EQ(video[0][0][0][0].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(video[1][0][0][0].item<float>(), -1.0f);
  EXPECT_FLOAT_EQ(video[2][1][2][3].item<float>(), 128.0f / 127.5f - 1.0f);
}

TEST(FrameConvert, WrongLayoutsAreShapeMismatches) {
  EXPECT_EQ(code_of([] { to_uint8_frames(at::zeros({4, 2, 8, 8})); }), ErrorCode::ShapeMismatch);
  EXPECT_EQ(code_of([] { to_uint8_frames(at::zeros({3, 2, 8, 8}, at::kInt)); }), ErrorCode::ShapeMismatch);
  EXPECT_EQ(code_of([] { to_uint8_frames(at::zeros({3, 8, 8})); }), ErrorCode::ShapeMismatch);
  EXPECT_EQ(code_of([] { to_uint8_frames(at::Tensor()); }), ErrorCode::ShapeMismatch);
  EXPECT_EQ(code_of([] { to_input_video(at::zeros({2, 8, 8, 3})); }), ErrorCode::ShapeMismatch);
  EXPECT_EQ(code_of([] { to_input_video(at::zeros({2, 8, 8, 4}, at::kByte)); }), ErrorCode::ShapeMismatch);
  EXPECT_EQ(code_of([] { to_input_video(at::zeros({0, 8, 8, 3}, at::kByte)); }), ErrorCode::ShapeMismatch);
}

}  // namespace
}  // namespace skyreels::video
