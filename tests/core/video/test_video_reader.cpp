#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <string>

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
using test::TempDir;

using test::code_of;

void write_video(const std::filesystem::path& path, const at::Tensor& frames, VideoFormat format) {
  EncoderSettings settings;
  settings.format = format;
  auto encoder = open_video_encoder(path, static_cast<int>(frames.size(2)), static_cast<int>(frames.size(1)),
                                    settings, nullptr);
  encoder->write(frames);
  encoder->finish();
}

void put_le(std::string& out, std::uint32_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

// A valid WAV file: a media file without a video stream.
std::string wav_file() {
  const std::uint32_t samples = 800;
  std::string wav = "RIFF";
  put_le(wav, 36 + samples * 2, 4);
  wav += "WAVEfmt ";
  put_le(wav, 16, 4);
  put_le(wav, 1, 2);          // PCM
  put_le(wav, 1, 2);          // mono
  put_le(wav, 8000, 4);       // sample rate
  put_le(wav, 16000, 4);      // byte rate
  put_le(wav, 2, 2);          // block align
  put_le(wav, 16, 2);         // bits per sample
  wav += "data";
  put_le(wav, samples * 2, 4);
  wav.append(samples * 2, '\0');
  return wav;
}

TEST(VideoReader, ProbeDescribesTheStream) {
  TempDir dir;
  write_video(dir / "a.mp4", moving_pattern(10, 48, 64), VideoFormat::H264Mp4);
  const VideoInfo info = probe_video(dir / "a.mp4");
  EXPECT_EQ(info.width, 64);
  EXPECT_EQ(info.height, 48);
  EXPECT_DOUBLE_EQ(info.fps(), 24.0);
  EXPECT_EQ(info.frame_count, 10);
  EXPECT_NE(info.container.find("mp4"), std::string::npos);
  EXPECT_EQ(info.tags.count("comment"), 1u);
}

TEST(VideoReader, StreamsFramesOneAtATime) {
  TempDir dir;
  const at::Tensor video = moving_pattern(7, 20, 30);
  write_video(dir / "a.mkv", video, VideoFormat::Ffv1Mkv);
  VideoReader reader(dir / "a.mkv");
  EXPECT_EQ(reader.width(), 30);
  EXPECT_EQ(reader.height(), 20);
  for (int f = 0; f < 7; ++f) {
    const at::Tensor frame = reader.read_frame();
    ASSERT_TRUE(frame.defined()) << "frame " << f;
    EXPECT_TRUE(at::equal(frame, video[f])) << "frame " << f;
  }
  EXPECT_FALSE(reader.read_frame().defined());
  EXPECT_FALSE(reader.read_frame().defined());
  EXPECT_EQ(reader.frames_read(), 7);
}

TEST(VideoReader, ResizesAndLimitsFrames) {
  TempDir dir;
  // Flat colours survive any resampling filter exactly.
  at::Tensor video = at::empty({6, 24, 32, 3}, at::kByte);
  for (int f = 0; f < 6; ++f) {
    video[f].select(2, 0).fill_(40 * f);
    video[f].select(2, 1).fill_(200 - 30 * f);
    video[f].select(2, 2).fill_(99);
  }
  write_video(dir / "flat.mkv", video, VideoFormat::Ffv1Mkv);
  const at::Tensor small = read_video_frames(dir / "flat.mkv", 16, 12, 4);
  ASSERT_EQ(small.sizes(), (at::IntArrayRef{4, 12, 16, 3}));
  for (int f = 0; f < 4; ++f) {
    EXPECT_EQ(small[f][5][7][0].item<int>(), 40 * f);
    EXPECT_EQ(small[f][5][7][1].item<int>(), 200 - 30 * f);
    EXPECT_EQ(small[f][0][0][2].item<int>(), 99);
  }
}

TEST(VideoReader, VideoInputIsTheEngineLayout) {
  TempDir dir;
  const at::Tensor video = moving_pattern(5, 16, 24);
  write_video(dir / "in.mkv", video, VideoFormat::Ffv1Mkv);
  const at::Tensor input = load_video_input(dir / "in.mkv", 24, 16);
  ASSERT_EQ(input.sizes(), (at::IntArrayRef{3, 5, 16, 24}));
  EXPECT_EQ(input.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(input, to_input_video(video)));
  EXPECT_EQ(code_of([&] { load_video_input(dir / "in.mkv", 0, 16); }), ErrorCode::BadArgument);
}

TEST(VideoReader, MissingFileIsNotFound) {
  TempDir dir;
  std::string message;
  EXPECT_EQ(code_of([&] { read_video_frames(dir / "missing.mp4"); }, &message), ErrorCode::NotFound);
  EXPECT_NE(message.find("missing.mp4"), std::string::npos) << message;
  EXPECT_EQ(code_of([&] { probe_video(dir / "missing.mp4"); }), ErrorCode::NotFound);
  EXPECT_EQ(code_of([&] { probe_video(dir.path()); }), ErrorCode::BadArgument);
}

TEST(VideoReader, GarbageAndEmptyFilesAreCorrupt) {
  TempDir dir;
  std::string garbage;
  for (int i = 0; i < 4096; ++i) garbage.push_back(static_cast<char>((i * 7919 + 13) % 251));
  test::write_file(dir / "garbage.mp4", garbage);
  test::write_file(dir / "empty.mp4", "");
  std::string message;
  EXPECT_EQ(code_of([&] { read_video_frames(dir / "garbage.mp4"); }, &message), ErrorCode::CorruptFile);
  EXPECT_NE(message.find("garbage.mp4"), std::string::npos) << message;
  EXPECT_EQ(code_of([&] { read_video_frames(dir / "empty.mp4"); }), ErrorCode::CorruptFile);
}

TEST(VideoReader, AudioOnlyFileIsUnsupported) {
  TempDir dir;
  test::write_file(dir / "sound.wav", wav_file());
  std::string message;
  EXPECT_EQ(code_of([&] { read_video_frames(dir / "sound.wav"); }, &message), ErrorCode::Unsupported);
  EXPECT_NE(message.find("no video stream"), std::string::npos) << message;
}

TEST(VideoReader, CodecWithoutDecoderIsUnsupported) {
  TempDir dir;
  write_video(dir / "ffv1.mkv", moving_pattern(3, 16, 16), VideoFormat::Ffv1Mkv);
  // Rename the codec (Matroska's "V_FFV1" codec ID, or the FourCC of FFmpeg 5's V_MS/VFW/FOURCC
  // mapping) to one no FFmpeg knows; same length, so the file stays well-formed.
  std::string bytes = test::read_file(dir / "ffv1.mkv");
  int renamed = 0;
  for (auto at = bytes.find("FFV1"); at != std::string::npos; at = bytes.find("FFV1", at)) {
    bytes.replace(at, 4, "QQQQ");
    ++renamed;
  }
  ASSERT_GT(renamed, 0);
  test::write_file(dir / "unknown.mkv", bytes);

  std::string message;
  EXPECT_EQ(code_of([&] { read_video_frames(dir / "unknown.mkv"); }, &message), ErrorCode::Unsupported);
  EXPECT_NE(message.find("unknown.mkv"), std::string::npos) << message;
  EXPECT_NE(message.find("decoder"), std::string::npos) << message;
}

TEST(VideoReader, TruncatedVideoGivesTheFramesBeforeTheCut) {
  TempDir dir;
  const at::Tensor video = moving_pattern(40, 48, 64);
  write_video(dir / "whole.mkv", video, VideoFormat::Ffv1Mkv);
  const std::string bytes = test::read_file(dir / "whole.mkv");
  test::write_file(dir / "cut.mkv", bytes.substr(0, bytes.size() / 2));
  const at::Tensor frames = read_video_frames(dir / "cut.mkv");
  EXPECT_GT(frames.size(0), 5);
  EXPECT_LT(frames.size(0), 40);
  EXPECT_TRUE(at::equal(frames[0], video[0]));
  // Cut inside the header: nothing decodes.
  test::write_file(dir / "stub.mkv", bytes.substr(0, 200));
  EXPECT_EQ(code_of([&] { read_video_frames(dir / "stub.mkv"); }), ErrorCode::CorruptFile);
}

}  // namespace
}  // namespace skyreels::video
