#pragma once

#include <cstdint>
#include <ctime>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "skyreels/events.h"

namespace skyreels::api {

struct OutputFormat {
  int width = 0, height = 0;
  int fps = 24;
  int crf = 18;
  std::string preset = "medium";
};

// What the output holds besides the frames: the generation settings, and the rest of the metadata
// document ("model", "output").
struct OutputMetadata {
  const nlohmann::json* settings = nullptr;
  const nlohmann::json* extra = nullptr;
};

// The video being rendered, written block by block. Frames go to a temporary file beside the target
// (NAME.partial.EXT, created exclusively and without following a link) in a layout a killed process
// leaves readable (fragmented MP4, Matroska clusters, safetensors with a frame count), and only a
// finished, cancelled or failed run with frames moves it onto the target (publish): an existing file is
// replaced only by a playable one, and never without `overwrite`. By extension: .mp4 (H.264), .mkv
// (FFV1) or .safetensors (uint8 frames, in every build).
class OutputFile {
public:
  // Checks the type, the folder and (without `overwrite`) that the target does not exist, then creates
  // the temporary file. Throws skyreels::Error: BadArgument (type, folder, an existing target, a folder
  // that cannot be written), Unsupported (a video file in a build without FFmpeg).
  static std::unique_ptr<OutputFile> open(const std::filesystem::path& target, const OutputFormat& format,
                                          const OutputMetadata& metadata, std::int64_t frames_planned,
                                          bool overwrite);
  // The checks open() starts with (type, folder, an existing target), for a caller that wants them
  // before slower work.
  static void check_target(const std::filesystem::path& target, bool overwrite);
  virtual ~OutputFile() = default;

  virtual void write(const Frames& frames) = 0;
  virtual std::int64_t frames_written() const = 0;
  virtual std::string describe() const = 0;  // e.g. "H.264 (libx264)"

  // Finishes the file and moves it onto the target; returns the target. Throws skyreels::Error when
  // writing fails or the target appeared meanwhile (the finished file then stays at temporary_path()).
  virtual std::filesystem::path publish() = 0;
  // Removes the temporary file (nothing worth keeping was written).
  virtual void discard() = 0;

  const std::filesystem::path& target() const noexcept { return target_; }
  const std::filesystem::path& temporary_path() const noexcept { return temporary_; }
  // Unfinished outputs of earlier runs to the same target (a killed process's NAME.partial*.EXT).
  const std::vector<std::filesystem::path>& leftovers() const noexcept { return leftovers_; }

protected:
  OutputFile(std::filesystem::path target, std::filesystem::path temporary, bool overwrite)
      : target_(std::move(target)), temporary_(std::move(temporary)), overwrite_(overwrite) {}
  // Moves the finished temporary file onto the target (replacing it only with `overwrite`).
  void move_to_target();

  std::filesystem::path target_, temporary_;
  bool overwrite_;
  std::vector<std::filesystem::path> leftovers_;
};

// Whether this build writes .mp4 / .mkv.
bool video_files_supported();

// The first few words of a prompt for a file name: ASCII letters (lower-cased) and digits, words joined
// by hyphens, at most kNameWords words and kNameWordChars characters; "skyreels" when none is left
// (an empty prompt, or one in another script).
inline constexpr int kNameWords = 4;
inline constexpr std::size_t kNameWordChars = 32;
std::string prompt_words_for_name(const std::string& prompt);

// <prompt words>-<date>-<time>-<seed>, e.g. "a-red-circle-moves-20261206-213000-42", `when` in local time.
std::string output_file_stem(const std::string& prompt, std::uint64_t seed, std::time_t when);

// output_file_stem (now) plus `extension` in `folder`, a name no file has yet (-2, -3... when taken).
std::filesystem::path new_output_name(const std::filesystem::path& folder, const std::string& prompt,
                                      std::uint64_t seed, const std::string& extension);

}  // namespace skyreels::api
