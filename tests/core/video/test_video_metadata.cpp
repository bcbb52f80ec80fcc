#include <gtest/gtest.h>

#include <functional>
#include <string>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "skyreels/error.h"
#include "skyreels/version.h"
#include "test_support.h"
#include "video/video_encoder.h"
#include "video/video_metadata.h"
#include "video_test_support.h"

namespace skyreels::video {
namespace {

using Json = nlohmann::json;
using test::TempDir;

using test::code_of;

// What the engine stores: prompt, negative prompt (the reference's default, full-width punctuation),
// seed and every setting.
Json generation_settings() {
  return Json{
      {"prompt", "A serene lake surrounded by towering mountains, with a few swans \"gliding\" across the water."},
      {"negative_prompt", "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量"},
      {"seed", 4294967293ULL},
      {"model", "SkyReels-V2-DF-1.3B-540P"},
      {"height", 544},
      {"width", 960},
      {"num_frames", 257},
      {"base_num_frames", 97},
      {"overlap_history", 17},
      {"ar_step", 5},
      {"causal_block_size", 5},
      {"addnoise_condition", 20},
      {"inference_steps", 30},
      {"shift", 8.0},
      {"guidance_scale", 6.0},
      {"fps", 24},
      {"teacache", {{"enabled", true}, {"threshold", 0.2}}},
      {"image", nullptr},
      {"tags", Json::array({"lake", "swans"})},
  };
}

void write_with_metadata(const std::filesystem::path& path, const Json& settings, EncoderSettings encoder_settings) {
  auto encoder = open_video_encoder(path, 32, 32, encoder_settings, settings);
  encoder->write(test::moving_pattern(3, 32, 32));
  encoder->finish();
}

TEST(VideoMetadata, RoundTripsThroughMp4) {
  TempDir dir;
  write_with_metadata(dir / "a.mp4", generation_settings(), EncoderSettings{});
  const Json document = read_video_metadata(dir / "a.mp4");
  EXPECT_EQ(document["generator"], kMetadataGenerator);
  EXPECT_EQ(document["engine_version"], kVersion);
  EXPECT_EQ(document["metadata_format"], kMetadataFormat);
  EXPECT_EQ(document["settings"], generation_settings());
  EXPECT_EQ(read_generation_settings(dir / "a.mp4"), generation_settings());
}

TEST(VideoMetadata, RoundTripsThroughFragmentedMp4AndMatroska) {
  TempDir dir;
  EncoderSettings fragmented;
  fragmented.layout = Mp4Layout::Fragmented;
  write_with_metadata(dir / "f.mp4", generation_settings(), fragmented);
  EXPECT_EQ(read_generation_settings(dir / "f.mp4"), generation_settings());

  EncoderSettings lossless;
  lossless.format = VideoFormat::Ffv1Mkv;
  write_with_metadata(dir / "l.mkv", generation_settings(), lossless);
  EXPECT_EQ(read_generation_settings(dir / "l.mkv"), generation_settings());
}

TEST(VideoMetadata, NullSettingsStillRecordTheEngine) {
  TempDir dir;
  write_with_metadata(dir / "n.mp4", nullptr, EncoderSettings{});
  const Json document = read_video_metadata(dir / "n.mp4");
  EXPECT_EQ(document["engine_version"], kVersion);
  EXPECT_EQ(document["settings"], Json::object());
}

TEST(VideoMetadata, InvalidUtf8IsReplacedNotThrown) {
  TempDir dir;
  Json settings = {{"prompt", std::string("caf\xe9 au lait")}};  // Latin-1, not UTF-8
  write_with_metadata(dir / "u.mp4", settings, EncoderSettings{});
  const std::string prompt = read_generation_settings(dir / "u.mp4")["prompt"];
  EXPECT_EQ(prompt.substr(0, 3), "caf");
  EXPECT_NE(prompt.find("au lait"), std::string::npos);
}

TEST(VideoMetadata, OtherProgramsCommentsAreNotMetadata) {
  EXPECT_FALSE(parse_video_metadata("made with my phone", "x").has_value());
  EXPECT_FALSE(parse_video_metadata("{\"generator\": \"Other\"}", "x").has_value());
  EXPECT_FALSE(parse_video_metadata("[1, 2]", "x").has_value());
  const std::string ours = metadata_to_text(make_video_metadata(Json{{"seed", 1}}));
  ASSERT_TRUE(parse_video_metadata(ours, "x").has_value());

  Json damaged = make_video_metadata(Json{{"seed", 1}});
  damaged["settings"] = "oops";
  EXPECT_EQ(code_of([&] { parse_video_metadata(damaged.dump(), "x"); }), ErrorCode::CorruptFile);
  Json newer = make_video_metadata(Json::object());
  newer["metadata_format"] = kMetadataFormat + 1;
  EXPECT_EQ(code_of([&] { parse_video_metadata(newer.dump(), "x"); }), ErrorCode::Unsupported);
}

TEST(VideoMetadata, FilesWithoutOurMetadataSayNotFound) {
  TempDir dir;
  write_with_metadata(dir / "ours.mp4", generation_settings(), EncoderSettings{});
  // Another program's comment of the same length in the same place.
  std::string bytes = test::read_file(dir / "ours.mp4");
  const auto at = bytes.find(kMetadataGenerator);
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at, 8, "Camcorde");
  test::write_file(dir / "theirs.mp4", bytes);
  std::string message;
  EXPECT_EQ(code_of([&] { read_video_metadata(dir / "theirs.mp4"); }, &message), ErrorCode::NotFound);
  EXPECT_NE(message.find("theirs.mp4"), std::string::npos) << message;
  EXPECT_EQ(code_of([&] { read_video_metadata(dir / "missing.mp4"); }), ErrorCode::NotFound);
}

}  // namespace
}  // namespace skyreels::video
