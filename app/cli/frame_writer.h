#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include <ATen/core/Tensor.h>
#include <nlohmann/json_fwd.hpp>

namespace skyreels::cli {

// Where the CLI puts finished frames as they arrive: a video file (core/video, when this build has
// FFmpeg) or a safetensors file of uint8 frames (always). Destroyed without finish() (a failure or a
// cancel), it still leaves a readable file with the frames written so far.
class FrameWriter {
public:
  virtual ~FrameWriter() = default;
  virtual void write(const at::Tensor& frames) = 0;  // uint8 [n, H, W, 3]
  virtual void finish() = 0;
  virtual std::int64_t frames_written() const = 0;
  virtual std::string describe() const = 0;  // e.g. "H.264 (libx264)"
};

struct OutputFormat {
  int fps = 24;
  int crf = 18;
  std::string preset = "medium";
};

// By extension: .mp4 (H.264), .mkv (FFV1) or .safetensors. Throws skyreels::Error: BadArgument for
// another extension or a missing folder, Unsupported for a video file in a build without FFmpeg.
// Nothing is created until the first frames arrive, so bad input never leaves an empty file.
std::unique_ptr<FrameWriter> open_frame_writer(const std::filesystem::path& path, int width, int height,
                                               const OutputFormat& format, const nlohmann::json& settings);

// Whether this build writes .mp4 / .mkv.
bool video_files_supported();

}  // namespace skyreels::cli
