// read_video_summary: what the app's gallery shows of a produced video, read from the file alone (its
// stored settings and model, length, date, a thumbnail), for a whole and for a partial file.

#include <cstring>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "api/output_file.h"
#include "skyreels/error.h"
#include "skyreels/media.h"
#include "test_support.h"

namespace {

using namespace skyreels;
namespace fs = std::filesystem;

// `count` frames of 64 x 48, frame i filled with grey level 40 * i + 20.
Frames grey_frames(int count) {
  auto bytes = std::make_shared<std::vector<std::uint8_t>>(static_cast<std::size_t>(count) * 48 * 64 * 3);
  for (int i = 0; i < count; ++i)
    std::memset(bytes->data() + static_cast<std::size_t>(i) * 48 * 64 * 3, 40 * i + 20, 48 * 64 * 3);
  return Frames(count, 48, 64, bytes->data(), bytes);
}

// A video as the job runner writes it: `written` of `planned` frames, with the settings and model.
fs::path write_video(const fs::path& path, int written, int planned) {
  GenerationSettings settings;
  settings.prompt = "a red circle moves right";
  settings.seed = 42;
  settings.num_frames = planned;
  settings.width = 64;
  settings.height = 48;
  const nlohmann::json settings_json = to_json(settings);
  const nlohmann::json extra = {{"model", {{"name", "demo"}, {"layout", "official"}}},
                                {"output", {{"frames_planned", planned}, {"created", "2026-12-06T21:30:00Z"}}}};
  api::OutputFormat format;
  format.width = 64;
  format.height = 48;
  format.fps = 24;
  auto output = api::OutputFile::open(path, format, {&settings_json, &extra}, planned, false);
  output->write(grey_frames(written));
  return output->publish();
}

TEST(VideoSummary, ReadsSettingsModelLengthDateAndThumbnail) {
  if (!video_files_supported()) GTEST_SKIP() << "this build writes no video files";
  test::TempDir dir;
  const auto path = write_video(dir / "a-red-circle-moves.mp4", 5, 5);
  const auto summary = read_video_summary(path.string(), 32, 32);
  EXPECT_EQ(summary.settings.prompt, "a red circle moves right");
  EXPECT_EQ(summary.settings.seed, 42u);
  EXPECT_EQ(summary.model_name, "demo");
  EXPECT_EQ(summary.created, "2026-12-06T21:30:00Z");
  EXPECT_EQ(summary.frames, 5);
  EXPECT_EQ(summary.frames_planned, 5);
  EXPECT_FALSE(summary.partial());
  EXPECT_DOUBLE_EQ(summary.fps, 24.0);
  // The first frame, fitted into 32 x 32 with its aspect kept.
  ASSERT_EQ(summary.thumbnail.count(), 1);
  EXPECT_EQ(summary.thumbnail.width(), 32);
  EXPECT_EQ(summary.thumbnail.height(), 24);
  const int grey = summary.thumbnail.frame(0)[3 * (12 * 32 + 16)];
  EXPECT_NEAR(grey, 20, 6);  // frame 0's level, not a later frame's (60, 100...)
}

TEST(VideoSummary, PartialFileIsCancelledOrFailedOne) {
  if (!video_files_supported()) GTEST_SKIP() << "this build writes no video files";
  test::TempDir dir;
  const auto path = write_video(dir / "cancelled.mkv", 2, 9);
  const auto summary = read_video_summary(path.string());
  EXPECT_EQ(summary.frames, 2);
  EXPECT_EQ(summary.frames_planned, 9);
  EXPECT_TRUE(summary.partial());
  EXPECT_EQ(summary.thumbnail.width(), 64);  // smaller than the default fit: its own size
}

TEST(VideoSummary, FileWithoutMetadataIsNotFound) {
  if (!video_files_supported()) GTEST_SKIP() << "this build writes no video files";
  test::TempDir dir;
  test::write_file(dir / "not-a-video.mp4", "hello");
  ErrorCode code{};
  const auto text = test::error_text([&] { read_video_summary((dir / "not-a-video.mp4").string()); }, &code);
  EXPECT_FALSE(text.empty());
  EXPECT_NE(code, ErrorCode::Invalid);
}

}  // namespace
