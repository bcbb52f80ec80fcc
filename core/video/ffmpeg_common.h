#pragma once

// Private to core/video: FFmpeg handles with unique_ptr deleters, error text, and log routing.
// Only the .cpp files that talk to libav* include this; public headers never do.

#include <memory>
#include <string>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/dict.h>
#include <libavutil/frame.h>
#include <libswscale/swscale.h>
}

namespace skyreels::video::ffmpeg {

struct CodecContextDeleter {
  void operator()(AVCodecContext* c) const noexcept { avcodec_free_context(&c); }
};
struct FrameDeleter {
  void operator()(AVFrame* f) const noexcept { av_frame_free(&f); }
};
struct PacketDeleter {
  void operator()(AVPacket* p) const noexcept { av_packet_free(&p); }
};
struct SwsDeleter {
  void operator()(SwsContext* s) const noexcept { sws_freeContext(s); }
};
// An input opened with avformat_open_input.
struct InputDeleter {
  void operator()(AVFormatContext* f) const noexcept { avformat_close_input(&f); }
};
// An output from avformat_alloc_output_context2, with its file closed if it was opened.
struct OutputDeleter {
  void operator()(AVFormatContext* f) const noexcept {
    if (f->pb && !(f->oformat->flags & AVFMT_NOFILE)) avio_closep(&f->pb);
    avformat_free_context(f);
  }
};

using CodecContextPtr = std::unique_ptr<AVCodecContext, CodecContextDeleter>;
using FramePtr = std::unique_ptr<AVFrame, FrameDeleter>;
using PacketPtr = std::unique_ptr<AVPacket, PacketDeleter>;
using SwsPtr = std::unique_ptr<SwsContext, SwsDeleter>;
using InputPtr = std::unique_ptr<AVFormatContext, InputDeleter>;
using OutputPtr = std::unique_ptr<AVFormatContext, OutputDeleter>;

// Owns an AVDictionary that libav functions may replace through get().
class Options {
public:
  Options() = default;
  ~Options() { av_dict_free(&dict_); }
  Options(const Options&) = delete;
  Options& operator=(const Options&) = delete;

  void set(const char* key, const std::string& value) { av_dict_set(&dict_, key, value.c_str(), 0); }
  AVDictionary** get() noexcept { return &dict_; }
  // The keys left after a libav call consumed the ones it knows, comma-separated ("" when none).
  std::string leftover() const;

private:
  AVDictionary* dict_ = nullptr;
};

// av_strerror as a string.
std::string error_text(int errnum);

// Routes libav* log lines to the "video" logger (once per process): errors and warnings as warnings
// (failures we care about are reported as exceptions), info as debug, the rest as trace.
void route_log_to_spdlog();

// Throws skyreels::Error NotFound / BadArgument when `path` is missing or a directory.
void check_readable_file(const std::string& path);

}  // namespace skyreels::video::ffmpeg
