#include "video/video_reader.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <tuple>
#include <vector>

#include <ATen/ATen.h>

#include "skyreels/error.h"
#include "skyreels/log.h"
#include "video/ffmpeg_common.h"
#include "video/frame_convert.h"

extern "C" {
#include <libavutil/pixdesc.h>
}

namespace skyreels::video {

namespace {

using namespace ffmpeg;

InputPtr open_input(const std::string& name) {
  route_log_to_spdlog();
  check_readable_file(name);
  AVFormatContext* raw = nullptr;
  int rc = avformat_open_input(&raw, name.c_str(), nullptr, nullptr);
  if (rc < 0) {
    throw Error(ErrorCode::CorruptFile, name + ": not a video file FFmpeg can read (" + error_text(rc) + ")");
  }
  InputPtr input(raw);
  if ((rc = avformat_find_stream_info(input.get(), nullptr)) < 0) {
    throw Error(ErrorCode::CorruptFile, name + ": cannot read the streams (" + error_text(rc) + ")");
  }
  return input;
}

// The video stream av_find_best_stream picks, ignoring whether it can be decoded.
int find_video_stream(AVFormatContext* input, const std::string& name) {
  const int index = av_find_best_stream(input, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  if (index < 0) throw Error(ErrorCode::Unsupported, name + ": has no video stream");
  return index;
}

AVRational frame_rate(const AVStream* stream) {
  if (stream->avg_frame_rate.num > 0 && stream->avg_frame_rate.den > 0) return stream->avg_frame_rate;
  if (stream->r_frame_rate.num > 0 && stream->r_frame_rate.den > 0) return stream->r_frame_rate;
  return AVRational{0, 1};
}

VideoInfo describe(const AVFormatContext* input, int index) {
  const AVStream* stream = input->streams[index];
  VideoInfo info;
  info.width = stream->codecpar->width;
  info.height = stream->codecpar->height;
  const AVRational fps = frame_rate(stream);
  info.fps_num = fps.num;
  info.fps_den = fps.den;
  info.frame_count = std::max<std::int64_t>(0, stream->nb_frames);
  if (stream->duration != AV_NOPTS_VALUE) {
    info.duration_s = static_cast<double>(stream->duration) * av_q2d(stream->time_base);
  } else if (input->duration != AV_NOPTS_VALUE) {
    info.duration_s = static_cast<double>(input->duration) / AV_TIME_BASE;
  }
  info.codec = avcodec_get_name(stream->codecpar->codec_id);
  info.container = input->iformat->name;
  const AVDictionaryEntry* tag = nullptr;
  while ((tag = av_dict_get(input->metadata, "", tag, AV_DICT_IGNORE_SUFFIX)) != nullptr) {
    std::string key = tag->key;
    // Matroska upper-cases tag names; MP4 does not.
    std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return std::tolower(c); });
    info.tags.emplace(std::move(key), tag->value);
  }
  return info;
}

int sws_colorspace(AVColorSpace space) {
  switch (space) {
    case AVCOL_SPC_BT709: return SWS_CS_ITU709;
    case AVCOL_SPC_FCC: return SWS_CS_FCC;
    case AVCOL_SPC_SMPTE240M: return SWS_CS_SMPTE240M;
    case AVCOL_SPC_BT2020_NCL:
    case AVCOL_SPC_BT2020_CL: return SWS_CS_BT2020;
    default: return SWS_CS_ITU601;  // also what untagged video gets from FFmpeg's tools
  }
}

bool full_range_format(AVPixelFormat format) {
  return format == AV_PIX_FMT_YUVJ420P || format == AV_PIX_FMT_YUVJ422P || format == AV_PIX_FMT_YUVJ444P ||
         format == AV_PIX_FMT_YUVJ440P || format == AV_PIX_FMT_YUVJ411P;
}

}  // namespace

VideoInfo probe_video(const std::filesystem::path& path) {
  const std::string name = path.string();
  InputPtr input = open_input(name);
  return describe(input.get(), find_video_stream(input.get(), name));
}

struct VideoReader::Impl {
  std::string name;
  InputPtr input;
  CodecContextPtr codec;
  int stream_index = -1;
  VideoInfo info;
  int width = 0;
  int height = 0;
  PacketPtr packet;
  FramePtr frame;
  FramePtr rgb;  // aligned RGB24 buffer that libswscale writes into
  SwsPtr sws;
  std::tuple<int, int, int, int, int> sws_key{-1, -1, -1, -1, -1};  // w, h, format, colorspace, range
  std::int64_t frames_read = 0;
  std::int64_t errors = 0;
  std::string last_error;
  bool draining = false;
  bool done = false;

  void note_error(const std::string& what, int rc) {
    ++errors;
    last_error = what + ": " + error_text(rc);
    logger("video")->warn("{}: {} (skipped)", name, last_error);
  }
  at::Tensor convert(const AVFrame* decoded);
  void finish_stream();
};

VideoReader::VideoReader(const std::filesystem::path& path, int width, int height) : impl_(std::make_unique<Impl>()) {
  Impl& d = *impl_;
  d.name = path.string();
  if (width < 0 || height < 0 || (width == 0) != (height == 0)) {
    throw Error(ErrorCode::BadArgument, d.name + ": output size must be both positive or both 0, got " +
                                            std::to_string(width) + "x" + std::to_string(height));
  }
  d.input = open_input(d.name);
  d.stream_index = find_video_stream(d.input.get(), d.name);
  d.info = describe(d.input.get(), d.stream_index);
  const AVCodecParameters* par = d.input->streams[d.stream_index]->codecpar;
  const AVCodec* decoder = avcodec_find_decoder(par->codec_id);
  if (!decoder) {
    throw Error(ErrorCode::Unsupported,
                d.name + ": the codec \"" + d.info.codec + "\" has no decoder in this FFmpeg build");
  }
  d.codec.reset(avcodec_alloc_context3(decoder));
  if (!d.codec) throw Error(ErrorCode::Runtime, d.name + ": out of memory");
  int rc = avcodec_parameters_to_context(d.codec.get(), par);
  if (rc < 0) throw Error(ErrorCode::CorruptFile, d.name + ": bad stream parameters (" + error_text(rc) + ")");
  d.codec->thread_count = 0;
  if ((rc = avcodec_open2(d.codec.get(), decoder, nullptr)) < 0) {
    throw Error(ErrorCode::Unsupported,
                d.name + ": cannot open the " + d.info.codec + " decoder (" + error_text(rc) + ")");
  }
  d.width = width > 0 ? width : d.info.width;
  d.height = height > 0 ? height : d.info.height;
  if (d.width < 1 || d.height < 1) throw Error(ErrorCode::CorruptFile, d.name + ": the video stream has no size");
  d.packet.reset(av_packet_alloc());
  d.frame.reset(av_frame_alloc());
  d.rgb.reset(av_frame_alloc());
  if (!d.packet || !d.frame || !d.rgb) throw Error(ErrorCode::Runtime, d.name + ": out of memory");
  d.rgb->format = AV_PIX_FMT_RGB24;
  d.rgb->width = d.width;
  d.rgb->height = d.height;
  if ((rc = av_frame_get_buffer(d.rgb.get(), 0)) < 0) {
    throw Error(ErrorCode::Runtime, d.name + ": cannot allocate a frame (" + error_text(rc) + ")");
  }
  logger("video")->debug("{}: {} {}x{} at {:.3f} fps, reading as {}x{}", d.name, d.info.codec, d.info.width,
                         d.info.height, d.info.fps(), d.width, d.height);
}

VideoReader::~VideoReader() = default;
VideoReader::VideoReader(VideoReader&&) noexcept = default;
VideoReader& VideoReader::operator=(VideoReader&&) noexcept = default;

const VideoInfo& VideoReader::info() const noexcept { return impl_->info; }
int VideoReader::width() const noexcept { return impl_->width; }
int VideoReader::height() const noexcept { return impl_->height; }
std::int64_t VideoReader::frames_read() const noexcept { return impl_->frames_read; }

at::Tensor VideoReader::Impl::convert(const AVFrame* decoded) {
  const auto format = static_cast<AVPixelFormat>(decoded->format);
  const auto key = std::make_tuple(decoded->width, decoded->height, decoded->format,
                                   static_cast<int>(decoded->colorspace), static_cast<int>(decoded->color_range));
  if (!sws || key != sws_key) {
    sws.reset(sws_getContext(decoded->width, decoded->height, format, width, height, AV_PIX_FMT_RGB24,
                             SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, nullptr, nullptr, nullptr));
    if (!sws) {
      throw Error(ErrorCode::Unsupported,
                  name + ": cannot convert pixel format " + std::string(av_get_pix_fmt_name(format)) + " to RGB");
    }
    const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(format);
    if (desc && !(desc->flags & AV_PIX_FMT_FLAG_RGB)) {
      // The stream's own matrix and range, so what was encoded as BT.709 decodes as BT.709.
      const int full = decoded->color_range == AVCOL_RANGE_JPEG || full_range_format(format) ? 1 : 0;
      sws_setColorspaceDetails(sws.get(), sws_getCoefficients(sws_colorspace(decoded->colorspace)), full,
                               sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16, 1 << 16);
    }
    sws_key = key;
  }
  int rc = av_frame_make_writable(rgb.get());
  if (rc < 0) throw Error(ErrorCode::Runtime, name + ": cannot allocate a frame (" + error_text(rc) + ")");
  sws_scale(sws.get(), decoded->data, decoded->linesize, 0, decoded->height, rgb->data, rgb->linesize);
  at::Tensor out = at::empty({height, width, 3}, at::kByte);
  std::uint8_t* dst = out.data_ptr<std::uint8_t>();
  const std::size_t row = static_cast<std::size_t>(width) * 3;
  for (int y = 0; y < height; ++y) std::memcpy(dst + y * row, rgb->data[0] + y * rgb->linesize[0], row);
  return out;
}

void VideoReader::Impl::finish_stream() {
  done = true;
  if (frames_read == 0) {
    throw Error(ErrorCode::CorruptFile,
                name + ": no frame could be decoded" + (last_error.empty() ? std::string() : " (" + last_error + ")"));
  }
  if (errors > 0) logger("video")->warn("{}: {} frames decoded, {} damaged packets skipped", name, frames_read, errors);
}

at::Tensor VideoReader::read_frame() {
  Impl& d = *impl_;
  int consecutive_errors = 0;
  while (!d.done) {
    int rc = avcodec_receive_frame(d.codec.get(), d.frame.get());
    if (rc == 0) {
      at::Tensor out = d.convert(d.frame.get());
      av_frame_unref(d.frame.get());
      ++d.frames_read;
      return out;
    }
    if (rc == AVERROR_EOF) {
      d.finish_stream();
      break;
    }
    if (rc != AVERROR(EAGAIN)) {
      d.note_error("frame " + std::to_string(d.frames_read) + " does not decode", rc);
      if (++consecutive_errors > 64 || d.draining) d.finish_stream();
      continue;
    }
    if (d.draining) {  // cannot happen per the API; never spin
      d.finish_stream();
      break;
    }
    rc = av_read_frame(d.input.get(), d.packet.get());
    if (rc < 0) {
      // End of file, or a file that breaks off: decode what the decoder still holds.
      if (rc != AVERROR_EOF) d.note_error("the file breaks off", rc);
      avcodec_send_packet(d.codec.get(), nullptr);
      d.draining = true;
      continue;
    }
    if (d.packet->stream_index == d.stream_index) {
      rc = avcodec_send_packet(d.codec.get(), d.packet.get());
      if (rc < 0 && rc != AVERROR(EAGAIN)) d.note_error("a packet does not decode", rc);
    }
    av_packet_unref(d.packet.get());
  }
  return at::Tensor();
}

at::Tensor read_video_frames(const std::filesystem::path& path, int width, int height, std::int64_t max_frames) {
  VideoReader reader(path, width, height);
  std::vector<at::Tensor> frames;
  while (max_frames <= 0 || static_cast<std::int64_t>(frames.size()) < max_frames) {
    at::Tensor frame = reader.read_frame();
    if (!frame.defined()) break;
    frames.push_back(std::move(frame));
  }
  return at::stack(frames);
}

at::Tensor load_video_input(const std::filesystem::path& path, int width, int height, std::int64_t max_frames) {
  if (width < 1 || height < 1) {
    throw Error(ErrorCode::BadArgument, path.string() + ": the input video size must be positive, got " +
                                            std::to_string(width) + "x" + std::to_string(height));
  }
  return to_input_video(read_video_frames(path, width, height, max_frames));
}

}  // namespace skyreels::video
