#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <stdexcept>
#include <string>

#include <sys/stat.h>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "skyreels/error.h"
#include "test_support.h"
#include "video/frame_convert.h"
#include "video/video_encoder.h"
#include "video/video_reader.h"
#include "video_test_support.h"

namespace skyreels::video {
namespace {

using test::moving_pattern;
using test::psnr;
using test::TempDir;

constexpr int kWidth = 96;
constexpr int kHeight = 64;

bool file_exists(const std::filesystem::path& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0;
}

using test::code_of;

// Lowest per-frame PSNR of two [F, H, W, 3] videos.
double worst_psnr(const at::Tensor& a, const at::Tensor& b) {
  double worst = 1e9;
  for (std::int64_t f = 0; f < a.size(0); ++f) worst = std::min(worst, psnr(a[f], b[f]));
  return worst;
}

TEST(VideoEncoder, H264RoundTripKeepsFramesFpsAndQuality) {
  TempDir dir;
  const auto path = dir / "pattern.mp4";
  const at::Tensor video = moving_pattern(30, kHeight, kWidth);
  {
    auto encoder = open_video_encoder(path, kWidth, kHeight, EncoderSettings{}, nlohmann::json::object());
    RecordProperty("encoder", encoder->encoder_name());
    std::cout << "[ encoder  ] " << encoder->encoder_name() << "\n";
    // Blocks of frames, as the engine decodes them.
    for (int start = 0; start < 30; start += 10) encoder->write(video.slice(0, start, start + 10));
    EXPECT_EQ(encoder->frames_written(), 30);
    encoder->finish();
  }
  const VideoInfo info = probe_video(path);
  EXPECT_EQ(info.width, kWidth);
  EXPECT_EQ(info.height, kHeight);
  EXPECT_EQ(info.fps_num, 24);
  EXPECT_EQ(info.fps_den, 1);
  EXPECT_EQ(info.frame_count, 30);
  EXPECT_NEAR(info.duration_s, 30.0 / 24.0, 1e-6);
  if (preferred_encoder(VideoFormat::H264Mp4) == "libx264") {
    EXPECT_EQ(info.codec, "h264");
  }

  const at::Tensor decoded = read_video_frames(path);
  ASSERT_EQ(decoded.sizes(), video.sizes());
  const double quality = worst_psnr(decoded, video);
  std::cout << "[ psnr     ] worst frame " << quality << " dB\n";
  EXPECT_GE(quality, 35.0);
}

TEST(VideoEncoder, Ffv1IsLosslessAtAnySize) {
  TempDir dir;
  const auto path = dir / "pattern.mkv";
  const at::Tensor video = moving_pattern(12, 21, 33);  // odd sizes: fine for planar RGB
  EncoderSettings settings;
  settings.format = VideoFormat::Ffv1Mkv;
  settings.fps_num = 16;
  {
    auto encoder = open_video_encoder(path, 33, 21, settings, nullptr);
    EXPECT_EQ(encoder->encoder_name(), "ffv1");
    encoder->write(video.slice(0, 0, 5));
    encoder->write(video.slice(0, 5, 12));
    encoder->finish();
  }
  const VideoInfo info = probe_video(path);
  EXPECT_EQ(info.codec, "ffv1");
  EXPECT_NEAR(info.fps(), 16.0, 0.01);
  const at::Tensor decoded = read_video_frames(path);
  ASSERT_EQ(decoded.sizes(), video.sizes());
  EXPECT_TRUE(at::equal(decoded, video));
}

TEST(VideoEncoder, AcceptsTheDecodedFloatLayout) {
  TempDir dir;
  const auto path = dir / "float.mkv";
  // [3, F, H, W] in [-1, 1], as the VAE returns it.
  const at::Tensor decoded_video = to_input_video(moving_pattern(6, 16, 24)) * 1.01;
  EncoderSettings settings;
  settings.format = VideoFormat::Ffv1Mkv;
  {
    auto encoder = open_video_encoder(path, 24, 16, settings, nullptr);
    encoder->write(decoded_video);
    encoder->finish();
  }
  EXPECT_TRUE(at::equal(read_video_frames(path), to_uint8_frames(decoded_video)));
}

TEST(VideoEncoder, Mpeg4FallbackStillMeetsTheQualityBar) {
  TempDir dir;
  const auto path = dir / "mpeg4.mp4";
  const at::Tensor video = moving_pattern(20, kHeight, kWidth);
  EncoderSettings settings;
  settings.encoder = "mpeg4";
  {
    auto encoder = open_video_encoder(path, kWidth, kHeight, settings, nullptr);
    EXPECT_EQ(encoder->encoder_name(), "mpeg4");
    encoder->write(video);
    encoder->finish();
  }
  const at::Tensor decoded = read_video_frames(path);
  ASSERT_EQ(decoded.sizes(), video.sizes());
  EXPECT_EQ(probe_video(path).codec, "mpeg4");
  EXPECT_GE(worst_psnr(decoded, video), 35.0);
}

TEST(VideoEncoder, CancelledEncodeLeavesAPlayableFile) {
  TempDir dir;
  const auto path = dir / "cancelled.mp4";
  const at::Tensor video = moving_pattern(20, kHeight, kWidth);
  auto encoder = open_video_encoder(path, kWidth, kHeight, EncoderSettings{}, nlohmann::json::object());
  encoder->write(video.slice(0, 0, 10));
  encoder->write(video.slice(0, 10, 20));
  encoder.reset();  // the user cancelled: no finish()

  const at::Tensor decoded = read_video_frames(path);
  ASSERT_EQ(decoded.size(0), 20);
  EXPECT_GE(worst_psnr(decoded, video), 35.0);
}

TEST(VideoEncoder, ExceptionDuringGenerationLeavesAPlayableFile) {
  TempDir dir;
  const auto path = dir / "failed.mp4";
  const at::Tensor video = moving_pattern(8, kHeight, kWidth);
  try {
    auto encoder = open_video_encoder(path, kWidth, kHeight, EncoderSettings{}, nullptr);
    encoder->write(video);
    throw std::runtime_error("out of memory in block 2");  // unwinds through the writer
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(read_video_frames(path).size(0), 8);
}

TEST(VideoEncoder, KilledFragmentedEncodeLeavesThePlayableFragments) {
  TempDir dir;
  const auto path = dir / "killed.mp4";
  const at::Tensor video = moving_pattern(150, kHeight, kWidth);  // made before the fork
  EncoderSettings settings;
  settings.layout = Mp4Layout::Fragmented;
  // The child process dies without running any destructor, like a crash or a kill.
  EXPECT_EXIT(
      {
        auto encoder = open_video_encoder(path, kWidth, kHeight, settings, nullptr);
        encoder->write(video);
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(0), "");
  ASSERT_TRUE(file_exists(path));
  // Fragments start at keyframes (every 48 frames at 24 fps); the encoder's lookahead holds the rest.
  const at::Tensor decoded = read_video_frames(path);
  std::cout << "[ killed   ] " << decoded.size(0) << " of 150 frames recovered\n";
  EXPECT_GE(decoded.size(0), 48);
  EXPECT_LT(decoded.size(0), 150);
  EXPECT_GE(worst_psnr(decoded, video.slice(0, 0, decoded.size(0))), 35.0);
}

TEST(VideoEncoder, FragmentedEncodeFinishesNormally) {
  TempDir dir;
  const auto path = dir / "fragmented.mp4";
  const at::Tensor video = moving_pattern(60, kHeight, kWidth);
  EncoderSettings settings;
  settings.layout = Mp4Layout::Fragmented;
  {
    auto encoder = open_video_encoder(path, kWidth, kHeight, settings, nullptr);
    encoder->write(video);
    encoder->finish();
  }
  EXPECT_EQ(read_video_frames(path).size(0), 60);
}

TEST(VideoEncoder, NoFramesLeavesNoFile) {
  TempDir dir;
  const auto path = dir / "empty.mp4";
  {
    auto encoder = open_video_encoder(path, kWidth, kHeight, EncoderSettings{}, nullptr);
    EXPECT_TRUE(file_exists(path));
  }
  EXPECT_FALSE(file_exists(path));
  auto encoder = open_video_encoder(path, kWidth, kHeight, EncoderSettings{}, nullptr);
  EXPECT_EQ(code_of([&] { encoder->finish(); }), ErrorCode::BadArgument);
  EXPECT_FALSE(file_exists(path));
}

TEST(VideoEncoder, OddSizeForYuv420IsRejectedBeforeCreatingTheFile) {
  TempDir dir;
  const auto path = dir / "odd.mp4";
  std::string message;
  EXPECT_EQ(code_of([&] { open_video_encoder(path, 65, 48, EncoderSettings{}, nullptr); }, &message),
            ErrorCode::BadArgument);
  EXPECT_NE(message.find("odd.mp4"), std::string::npos) << message;
  EXPECT_NE(message.find("even"), std::string::npos) << message;
  EXPECT_FALSE(file_exists(path));
}

TEST(VideoEncoder, BadSettingsAreRejected) {
  TempDir dir;
  EncoderSettings no_fps;
  no_fps.fps_num = 0;
  EXPECT_EQ(code_of([&] { open_video_encoder(dir / "a.mp4", 64, 64, no_fps, nullptr); }), ErrorCode::BadArgument);
  EncoderSettings bad_crf;
  bad_crf.crf = 60;
  EXPECT_EQ(code_of([&] { open_video_encoder(dir / "b.mp4", 64, 64, bad_crf, nullptr); }), ErrorCode::BadArgument);
  EncoderSettings no_encoder;
  no_encoder.encoder = "no_such_encoder";
  EXPECT_EQ(code_of([&] { open_video_encoder(dir / "c.mp4", 64, 64, no_encoder, nullptr); }),
            ErrorCode::Unsupported);
  EXPECT_EQ(code_of([&] { open_video_encoder(dir / "no" / "such" / "d.mp4", 64, 64, EncoderSettings{}, nullptr); }),
            ErrorCode::NotFound);
  EXPECT_EQ(code_of([&] { open_video_encoder(dir / "e.mp4", 64, 64, EncoderSettings{}, nlohmann::json::array()); }),
            ErrorCode::BadArgument);
  EXPECT_FALSE(file_exists(dir / "a.mp4"));
  EXPECT_FALSE(file_exists(dir / "e.mp4"));
}

TEST(VideoEncoder, WrongFramesAreRejectedAndTheWriterCarriesOn) {
  TempDir dir;
  const auto path = dir / "strict.mp4";
  auto encoder = open_video_encoder(path, kWidth, kHeight, EncoderSettings{}, nullptr);
  std::string message;
  EXPECT_EQ(code_of([&] { encoder->write(at::zeros({2, kHeight, kWidth, 3}, at::kInt)); }, &message),
            ErrorCode::ShapeMismatch);
  EXPECT_NE(message.find("strict.mp4"), std::string::npos) << message;
  EXPECT_EQ(code_of([&] { encoder->write(at::zeros({2, kHeight, kWidth, 4}, at::kByte)); }),
            ErrorCode::ShapeMismatch);
  EXPECT_EQ(code_of([&] { encoder->write(at::zeros({2, kHeight, kWidth + 2, 3}, at::kByte)); }, &message),
            ErrorCode::ShapeMismatch);
  EXPECT_NE(message.find("98x64"), std::string::npos) << message;
  EXPECT_EQ(code_of([&] { encoder->write(at::zeros({4, 2, kHeight, kWidth})); }), ErrorCode::ShapeMismatch);
  EXPECT_EQ(encoder->frames_written(), 0);

  // Non-contiguous frames (a channel-last view of another layout) are fine.
  const at::Tensor planar = moving_pattern(3, kHeight, kWidth).permute({3, 0, 1, 2}).contiguous();
  encoder->write(planar.permute({1, 2, 3, 0}));
  encoder->finish();
  EXPECT_EQ(code_of([&] { encoder->write(moving_pattern(1, kHeight, kWidth)); }), ErrorCode::BadArgument);
  encoder->finish();  // a second finish() does nothing
  EXPECT_EQ(read_video_frames(path).size(0), 3);
}

TEST(VideoEncoder, ReportsItsEncoder) {
  const std::string h264 = preferred_encoder(VideoFormat::H264Mp4);
  std::cout << "[ encoder  ] H.264/MP4 uses " << h264 << ", lossless uses " << preferred_encoder(VideoFormat::Ffv1Mkv)
            << "\n";
  EXPECT_FALSE(h264.empty());
  EXPECT_EQ(preferred_encoder(VideoFormat::Ffv1Mkv), "ffv1");
}

}  // namespace
}  // namespace skyreels::video
