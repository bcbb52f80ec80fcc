#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include <ATen/core/Tensor.h>

namespace skyreels::video {

// What the container says about a video's first video stream.
struct VideoInfo {
  int width = 0;
  int height = 0;
  int fps_num = 0;  // average frame rate fps_num / fps_den; 0/1 when the file does not tell
  int fps_den = 1;
  std::int64_t frame_count = 0;  // from the container; 0 when it does not say (decode to count)
  double duration_s = 0.0;
  std::string codec;      // libavcodec's name, e.g. "h264", "ffv1"
  std::string container;  // libavformat's name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
  std::map<std::string, std::string> tags;  // container metadata, keys lower-cased

  double fps() const noexcept { return fps_den > 0 ? static_cast<double>(fps_num) / fps_den : 0.0; }
};

// Opens the file and reads its headers (no decoding, so it works for any codec). Throws skyreels::Error:
// NotFound (no such file), BadArgument (a directory), CorruptFile (not a media file libavformat can
// read), Unsupported (no video stream).
VideoInfo probe_video(const std::filesystem::path& path);

// Decodes a video frame by frame (any codec and container this FFmpeg build reads) into RGB, resized
// with libswscale's bicubic filter when an output size is given (as the reference's decord reader does
// through an FFmpeg scale filter). YUV is converted with the matrix and range the stream is tagged with
// (BT.601 when untagged).
class VideoReader {
public:
  // width / height 0: the stream's own size. Throws like probe_video, and Unsupported when this FFmpeg
  // build has no decoder for the codec.
  explicit VideoReader(const std::filesystem::path& path, int width = 0, int height = 0);
  ~VideoReader();
  VideoReader(const VideoReader&) = delete;
  VideoReader& operator=(const VideoReader&) = delete;
  VideoReader(VideoReader&&) noexcept;
  VideoReader& operator=(VideoReader&&) noexcept;

  const VideoInfo& info() const noexcept;
  int width() const noexcept;   // of the frames returned
  int height() const noexcept;

  // The next frame as uint8 [height, width, 3] RGB on the CPU, or an undefined tensor after the last one.
  // Undecodable packets are skipped with a warning, as players do; throws skyreels::Error(CorruptFile)
  // when the file breaks off before any frame decodes or the container cannot be read further.
  at::Tensor read_frame();
  std::int64_t frames_read() const noexcept;

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Every frame (or the first max_frames when > 0) as uint8 [T, H, W, 3] on the CPU.
// Throws like VideoReader, and CorruptFile when no frame decodes.
at::Tensor read_video_frames(const std::filesystem::path& path, int width = 0, int height = 0,
                             std::int64_t max_frames = 0);

// A video to extend, as the engine's input (spec 5.5): frames resized to width x height, then
// x / 127.5 - 1 -> float [3, T, height, width] in [-1, 1] on the CPU.
at::Tensor load_video_input(const std::filesystem::path& path, int width, int height, std::int64_t max_frames = 0);

}  // namespace skyreels::video
