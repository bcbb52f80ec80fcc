#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include <ATen/core/Tensor.h>
#include <nlohmann/json_fwd.hpp>

namespace skyreels::video {

// What the file is for.
enum class VideoFormat {
  H264Mp4,  // sharing: H.264 (libx264, CRF) yuv420p in MP4; width and height must be even
  Ffv1Mkv,  // editing: FFV1 lossless RGB in Matroska; frames come back bit-exact
};

// How an MP4 is laid out (Matroska ignores it).
enum class Mp4Layout {
  Standard,    // one index, written when the encoder is finalised and moved to the front (fast start)
  Fragmented,  // an index per fragment (at each keyframe, every 2 s, and at each flush()): even a killed
               // process leaves the fragments written so far playable, and the growing file can be previewed
};

struct EncoderSettings {
  VideoFormat format = VideoFormat::H264Mp4;
  int fps_num = 24;  // frame rate fps_num / fps_den
  int fps_den = 1;
  int crf = 18;                   // libx264 quality, 0 (lossless luma/chroma) .. 51; mapped for fallbacks
  std::string preset = "medium";  // libx264 speed/size trade-off (ultrafast .. veryslow)
  Mp4Layout layout = Mp4Layout::Standard;
  // A libavcodec encoder name to use instead of the automatic choice (for H264Mp4 the automatic order is
  // libx264, libopenh264, mpeg4: the first this FFmpeg build has and can open).
  std::string encoder;
};

// A video file being written a block of frames at a time, as the engine decodes them.
//
// The file is finalised by finish(). A writer destroyed without finish() (the user cancelled, or an
// exception unwound the generation) finalises the file in its destructor, so the frames written so far
// always form a playable video. Zero frames leave no file.
class VideoEncoder {
public:
  VideoEncoder() = default;
  virtual ~VideoEncoder() = default;
  VideoEncoder(const VideoEncoder&) = delete;
  VideoEncoder& operator=(const VideoEncoder&) = delete;
  VideoEncoder(VideoEncoder&&) = delete;
  VideoEncoder& operator=(VideoEncoder&&) = delete;

  // Appends frames: uint8 [F, H, W, 3] RGB (any device, any strides), or a decoded float video
  // [3, F, H, W] in [-1, 1] converted with to_uint8_frames. H and W must be the size given at open.
  // Throws skyreels::Error: ShapeMismatch (layout, dtype or size), BadArgument (after finish()),
  // Runtime (the encoder or the disk failed; the file keeps the frames before the failure).
  virtual void write(const at::Tensor& frames) = 0;
  // Hands what was written so far to the operating system as a readable part of the file, so a process
  // killed later still leaves it playable: a Matroska cluster, or an MP4 fragment (Fragmented layout)
  // of the packets the encoder has produced (an H.264 encoder holds some frames back for look-ahead).
  // Does nothing for a Standard MP4.
  virtual void flush() = 0;
  // Closes the file without finishing it and removes it (a file whose writing failed).
  virtual void discard() = 0;
  // Drains the encoder and writes the index. Throws skyreels::Error(BadArgument) when no frame was
  // written (the empty file is removed), Runtime when writing fails. A second call does nothing.
  virtual void finish() = 0;

  virtual std::int64_t frames_written() const noexcept = 0;
  virtual const std::filesystem::path& path() const noexcept = 0;
  // The libavcodec encoder in use, e.g. "libx264", or "mpeg4" after a fallback.
  virtual const std::string& encoder_name() const noexcept = 0;
};

// Creates the file and writes its header, with `settings_metadata` (the generation settings: a JSON object,
// or null) stored as make_video_metadata(settings_metadata). Throws skyreels::Error: BadArgument (odd
// size for yuv420p, bad frame rate or CRF, a missing folder), Unsupported (no usable encoder), Runtime
// (the file cannot be created).
// `extra_metadata` goes beside the settings (make_video_metadata's `extra`).
std::unique_ptr<VideoEncoder> open_video_encoder(const std::filesystem::path& path, int width, int height,
                                                const EncoderSettings& settings,
                                                const nlohmann::json& settings_metadata,
                                                const nlohmann::json& extra_metadata);
std::unique_ptr<VideoEncoder> open_video_encoder(const std::filesystem::path& path, int width, int height,
                                                const EncoderSettings& settings,
                                                const nlohmann::json& settings_metadata);

// The encoder open_video_encoder would try first for `format` in this FFmpeg build (e.g. "libx264"),
// or an empty string when it has none.
std::string preferred_encoder(VideoFormat format);

}  // namespace skyreels::video
