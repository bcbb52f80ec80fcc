// The FFmpeg implementation of VideoEncoder: libavcodec encoders, libavformat muxers, libswscale for
// RGB -> YUV/BGR0. The only writer that includes libav*.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <vector>

#include <sys/stat.h>

#include <ATen/ATen.h>

#include "skyreels/error.h"
#include "skyreels/log.h"
#include "video/ffmpeg_common.h"
#include "video/frame_convert.h"
#include "video/video_encoder.h"
#include "video/video_metadata.h"

extern "C" {
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
}

namespace skyreels::video {

namespace {

using namespace ffmpeg;

// Encoders to try, best first, that this FFmpeg build has.
std::vector<const AVCodec*> encoder_candidates(const EncoderSettings& settings) {
  std::vector<const AVCodec*> found;
  auto add = [&found](const std::string& name) {
    if (const AVCodec* codec = avcodec_find_encoder_by_name(name.c_str())) found.push_back(codec);
  };
  if (!settings.encoder.empty()) {
    add(settings.encoder);
  } else if (settings.format == VideoFormat::Ffv1Mkv) {
    add("ffv1");
  } else {
    // libx264 when Debian's libavcodec has it; libopenh264 (bit-rate only) and the native MPEG-4 Part 2
    // encoder keep the MP4 output working in builds without it.
    add("libx264");
    add("libopenh264");
    add("mpeg4");
  }
  return found;
}

bool is_ffv1(const AVCodec* codec) { return codec->id == AV_CODEC_ID_FFV1; }

std::string size_text(int width, int height) { return std::to_string(width) + "x" + std::to_string(height); }

class FfmpegEncoder final : public VideoEncoder {
public:
  FfmpegEncoder(std::filesystem::path path, int width, int height, const EncoderSettings& settings,
                const nlohmann::json& settings_metadata, const nlohmann::json& extra_metadata);
  ~FfmpegEncoder() override;

  void write(const at::Tensor& frames) override;
  void flush() override;
  void finish() override;
  // Closes and deletes the file (nothing useful in it).
  void discard() noexcept override;

  std::int64_t frames_written() const noexcept override { return frames_; }
  const std::filesystem::path& path() const noexcept override { return path_; }
  const std::string& encoder_name() const noexcept override { return encoder_name_; }

private:
  void check_settings() const;
  bool fragmented() const noexcept {
    return settings_.format == VideoFormat::H264Mp4 && settings_.layout == Mp4Layout::Fragmented;
  }
  CodecContextPtr open_codec(const AVCodec* codec);
  void open_file(const std::string& metadata_text);
  void encode_frame(const std::uint8_t* rgb);
  // Sends a frame (nullptr: end of stream) and writes every packet the encoder returns.
  void send(const AVFrame* frame);
  [[noreturn]] void fail(const std::string& what, int rc) const;
  // Drains the encoder, writes the index and closes the file; the first error is thrown after closing.
  void finalise();

  std::filesystem::path path_;
  std::string name_;
  int width_;
  int height_;
  EncoderSettings settings_;
  OutputPtr output_;
  CodecContextPtr codec_;
  AVStream* stream_ = nullptr;  // owned by output_
  FramePtr frame_;
  PacketPtr packet_;
  SwsPtr sws_;
  std::string encoder_name_;
  std::int64_t frames_ = 0;
  bool finished_ = false;
};

FfmpegEncoder::FfmpegEncoder(std::filesystem::path path, int width, int height, const EncoderSettings& settings,
                             const nlohmann::json& settings_metadata, const nlohmann::json& extra_metadata)
    : path_(std::move(path)), name_(path_.string()), width_(width), height_(height), settings_(settings) {
  route_log_to_spdlog();
  check_settings();
  // Before anything touches the disk, so bad settings never leave a file behind.
  const std::string metadata_text = metadata_to_text(make_video_metadata(settings_metadata, extra_metadata));

  const char* muxer = settings_.format == VideoFormat::Ffv1Mkv ? "matroska" : "mp4";
  AVFormatContext* raw = nullptr;
  int rc = avformat_alloc_output_context2(&raw, nullptr, muxer, name_.c_str());
  if (rc < 0 || raw == nullptr) fail(std::string("no ") + muxer + " muxer in this FFmpeg build", rc);
  output_.reset(raw);

  const std::vector<const AVCodec*> candidates = encoder_candidates(settings_);
  std::string tried;
  for (const AVCodec* codec : candidates) {
    codec_ = open_codec(codec);
    if (codec_) {
      encoder_name_ = codec->name;
      break;
    }
    tried += std::string(tried.empty() ? "" : ", ") + codec->name;
  }
  if (!codec_) {
    const std::string wanted = !settings_.encoder.empty()                  ? "encoder \"" + settings_.encoder + "\""
                               : settings_.format == VideoFormat::Ffv1Mkv ? std::string("FFV1 encoder")
                                                                          : std::string("H.264 or MPEG-4 encoder");
    throw Error(ErrorCode::Unsupported, name_ + ": this FFmpeg build has no usable " + wanted +
                                            (tried.empty() ? std::string() : " (could not open: " + tried + ")"));
  }
  auto log = logger("video");
  if (settings_.format == VideoFormat::H264Mp4 && settings_.encoder.empty() && encoder_name_ != "libx264") {
    log->warn("{}: libx264 is not available in this FFmpeg build; encoding with {} instead", name_, encoder_name_);
  }

  packet_.reset(av_packet_alloc());
  frame_.reset(av_frame_alloc());
  if (!packet_ || !frame_) throw Error(ErrorCode::Runtime, name_ + ": out of memory");
  frame_->format = codec_->pix_fmt;
  frame_->width = width_;
  frame_->height = height_;
  if ((rc = av_frame_get_buffer(frame_.get(), 0)) < 0) fail("cannot allocate a frame", rc);
  const bool yuv = codec_->pix_fmt == AV_PIX_FMT_YUV420P;
  // RGB -> YUV needs filtering for the chroma; RGB -> packed RGB is a byte shuffle, exact with SWS_POINT.
  const int flags = yuv ? SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INP : SWS_POINT;
  sws_.reset(sws_getContext(width_, height_, AV_PIX_FMT_RGB24, width_, height_, codec_->pix_fmt, flags, nullptr,
                            nullptr, nullptr));
  if (!sws_) throw Error(ErrorCode::Runtime, name_ + ": cannot create the RGB converter");
  if (yuv) {
    // Full-range RGB in, limited-range BT.709 out, matching the stream's colour tags so players
    // (and VideoReader) convert back with the same matrix.
    const int* bt709 = sws_getCoefficients(SWS_CS_ITU709);
    sws_setColorspaceDetails(sws_.get(), bt709, 1, bt709, 0, 0, 1 << 16, 1 << 16);
  }

  open_file(metadata_text);
  log->info("{}: writing {} {} at {}/{} fps with {}", name_, size_text(width_, height_),
            settings_.format == VideoFormat::Ffv1Mkv ? "FFV1/Matroska" : "MP4", settings_.fps_num,
            settings_.fps_den, encoder_name_);
}

FfmpegEncoder::~FfmpegEncoder() {
  if (finished_ || !output_) return;
  auto log = logger("video");
  if (frames_ == 0) {
    log->info("{}: closed before any frame was written; no file kept", name_);
    discard();
    return;
  }
  try {
    finalise();
    log->warn("{}: closed without finish() (cancelled or failed); kept the {} frames written", name_, frames_);
  } catch (const std::exception& e) {
    log->error("{}: could not finalise after {} frames: {}", name_, frames_, e.what());
  }
}

void FfmpegEncoder::check_settings() const {
  if (width_ < 1 || height_ < 1) {
    throw Error(ErrorCode::BadArgument, name_ + ": the frame size must be positive, got " + size_text(width_, height_));
  }
  if (settings_.format == VideoFormat::H264Mp4 && (width_ % 2 != 0 || height_ % 2 != 0)) {
    throw Error(ErrorCode::BadArgument, name_ + ": H.264 in yuv420p needs an even width and height, got " +
                                            size_text(width_, height_) + " (use VideoFormat::Ffv1Mkv for odd sizes)");
  }
  if (settings_.fps_num < 1 || settings_.fps_den < 1) {
    throw Error(ErrorCode::BadArgument, name_ + ": the frame rate must be positive, got " +
                                            std::to_string(settings_.fps_num) + "/" + std::to_string(settings_.fps_den));
  }
  if (settings_.crf < 0 || settings_.crf > 51) {
    throw Error(ErrorCode::BadArgument, name_ + ": CRF must be in 0..51, got " + std::to_string(settings_.crf));
  }
  const std::filesystem::path folder = path_.parent_path();
  struct stat info {};
  if (!folder.empty() && (::stat(folder.c_str(), &info) != 0 || !S_ISDIR(info.st_mode))) {
    throw Error(ErrorCode::NotFound, name_ + ": the folder " + folder.string() + " does not exist");
  }
}

CodecContextPtr FfmpegEncoder::open_codec(const AVCodec* codec) {
  CodecContextPtr ctx(avcodec_alloc_context3(codec));
  if (!ctx) throw Error(ErrorCode::Runtime, name_ + ": out of memory");
  ctx->width = width_;
  ctx->height = height_;
  ctx->time_base = AVRational{settings_.fps_den, settings_.fps_num};
  ctx->framerate = AVRational{settings_.fps_num, settings_.fps_den};
  ctx->thread_count = 0;  // one per core
  if (output_->oformat->flags & AVFMT_GLOBALHEADER) ctx->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  if (fragmented()) {
    // Fragments start at keyframes: one every 2 s bounds what a killed process loses.
    const double fps = static_cast<double>(settings_.fps_num) / settings_.fps_den;
    ctx->gop_size = std::max(1, static_cast<int>(std::lround(2.0 * fps)));
  }

  Options options;
  if (is_ffv1(codec)) {
    ctx->pix_fmt = AV_PIX_FMT_0RGB32;  // FFV1's 8-bit RGB (BGR0 in memory): lossless for RGB frames
    ctx->colorspace = AVCOL_SPC_RGB;
    ctx->color_range = AVCOL_RANGE_JPEG;
    ctx->color_primaries = AVCOL_PRI_BT709;
    ctx->color_trc = AVCOL_TRC_IEC61966_2_1;
    options.set("level", "3");     // version 3: slices (threads) and per-slice CRCs
    options.set("slicecrc", "1");  // damage stays local to a slice and is detected
  } else {
    ctx->pix_fmt = AV_PIX_FMT_YUV420P;
    ctx->colorspace = AVCOL_SPC_BT709;
    ctx->color_range = AVCOL_RANGE_MPEG;
    ctx->color_primaries = AVCOL_PRI_BT709;
    ctx->color_trc = AVCOL_TRC_BT709;
    const std::string name = codec->name;
    if (name == "libx264") {
      options.set("crf", std::to_string(settings_.crf));
      options.set("preset", settings_.preset);
    } else if (codec->id == AV_CODEC_ID_MPEG4) {
      // Constant quantiser; CRF 18 -> q 3, about the same quality.
      ctx->flags |= AV_CODEC_FLAG_QSCALE;
      ctx->global_quality = FF_QP2LAMBDA * std::clamp(static_cast<int>(std::lround(settings_.crf / 6.0)), 1, 31);
    } else {
      // Rate-controlled encoders without a quality mode: a generous bit rate (0.3 bit per pixel).
      const double fps = static_cast<double>(settings_.fps_num) / settings_.fps_den;
      ctx->bit_rate = static_cast<std::int64_t>(0.3 * width_ * height_ * fps);
    }
  }
  const int rc = avcodec_open2(ctx.get(), codec, options.get());
  if (rc < 0) {
    logger("video")->warn("{}: encoder {} did not open: {}", name_, codec->name, error_text(rc));
    return nullptr;
  }
  if (const std::string left = options.leftover(); !left.empty()) {
    logger("video")->warn("{}: encoder {} ignored the options {}", name_, codec->name, left);
  }
  return ctx;
}

void FfmpegEncoder::open_file(const std::string& metadata_text) {
  stream_ = avformat_new_stream(output_.get(), nullptr);
  if (!stream_) throw Error(ErrorCode::Runtime, name_ + ": out of memory");
  int rc = avcodec_parameters_from_context(stream_->codecpar, codec_.get());
  if (rc < 0) fail("cannot describe the stream", rc);
  stream_->time_base = codec_->time_base;
  stream_->avg_frame_rate = codec_->framerate;
  av_dict_set(&output_->metadata, kMetadataTag, metadata_text.c_str(), 0);

  if ((rc = avio_open(&output_->pb, name_.c_str(), AVIO_FLAG_WRITE)) < 0) {
    throw Error(ErrorCode::Runtime, name_ + ": cannot create the file: " + error_text(rc));
  }
  Options options;
  if (settings_.format == VideoFormat::H264Mp4) {
    options.set("movflags", fragmented() ? "+frag_keyframe+frag_custom+empty_moov+default_base_moof"
                                : "+faststart");
  }
  if (fragmented()) {
    // Hand every packet to the OS: otherwise a finished fragment may sit in libavformat's 32 KiB
    // buffer and die with the process.
    output_->flags |= AVFMT_FLAG_FLUSH_PACKETS;
  }
  if ((rc = avformat_write_header(output_.get(), options.get())) < 0) {
    discard();
    fail("cannot write the header", rc);
  }
  if (fragmented()) avio_flush(output_->pb);
}

void FfmpegEncoder::fail(const std::string& what, int rc) const {
  throw Error(ErrorCode::Runtime, name_ + ": " + what + (rc < 0 ? ": " + error_text(rc) : std::string()));
}

void FfmpegEncoder::write(const at::Tensor& frames) {
  if (finished_) throw Error(ErrorCode::BadArgument, name_ + ": write() after finish()");
  at::Tensor rgb;
  if (frames.defined() && at::isFloatingType(frames.scalar_type())) {
    check_decoded_video(frames, name_);
    rgb = to_uint8_frames(frames);
  } else {
    check_uint8_frames(frames, name_);
    rgb = frames.to(at::kCPU).contiguous();  // no copy for contiguous CPU frames
  }
  if (rgb.size(1) != height_ || rgb.size(2) != width_) {
    throw Error(ErrorCode::ShapeMismatch,
                name_ + ": frames are " + size_text(static_cast<int>(rgb.size(2)), static_cast<int>(rgb.size(1))) +
                    ", the video is " + size_text(width_, height_));
  }
  const std::size_t frame_bytes = static_cast<std::size_t>(width_) * height_ * 3;
  const std::uint8_t* data = rgb.data_ptr<std::uint8_t>();
  for (std::int64_t f = 0; f < rgb.size(0); ++f) encode_frame(data + f * frame_bytes);
}

void FfmpegEncoder::flush() {
  if (finished_ || !output_ || frames_ == 0) return;
  const bool matroska = settings_.format == VideoFormat::Ffv1Mkv;
  if (!matroska && !fragmented()) return;
  // A null packet ends the current Matroska cluster or MP4 fragment (frag_custom) with what it holds.
  const int rc = av_write_frame(output_.get(), nullptr);
  if (rc < 0) fail("writing to the file failed", rc);
  avio_flush(output_->pb);
  if (output_->pb->error < 0) fail("writing to the file failed", output_->pb->error);
}

void FfmpegEncoder::encode_frame(const std::uint8_t* rgb) {
  // The encoder may still hold the previous frame's buffers.
  int rc = av_frame_make_writable(frame_.get());
  if (rc < 0) fail("cannot allocate a frame", rc);
  const std::uint8_t* const planes[1] = {rgb};
  const int strides[1] = {3 * width_};
  sws_scale(sws_.get(), planes, strides, 0, height_, frame_->data, frame_->linesize);
  frame_->pts = frames_;
  send(frame_.get());
  ++frames_;
}

void FfmpegEncoder::send(const AVFrame* frame) {
  int rc = avcodec_send_frame(codec_.get(), frame);
  if (rc < 0) fail(frame ? "encoding frame " + std::to_string(frames_) + " failed" : "flushing the encoder failed", rc);
  for (;;) {
    rc = avcodec_receive_packet(codec_.get(), packet_.get());
    if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return;
    if (rc < 0) fail("the encoder failed", rc);
    // Every frame lasts one tick; without it the muxer guesses the last frame's duration.
    if (packet_->duration <= 0) packet_->duration = 1;
    av_packet_rescale_ts(packet_.get(), codec_->time_base, stream_->time_base);
    packet_->stream_index = stream_->index;
    rc = av_interleaved_write_frame(output_.get(), packet_.get());  // takes the packet's data
    if (rc < 0) fail("writing to the file failed", rc);
  }
}

void FfmpegEncoder::finish() {
  if (finished_) return;
  if (frames_ == 0) {
    discard();
    throw Error(ErrorCode::BadArgument, name_ + ": no frames were written; the empty file was removed");
  }
  finalise();
  logger("video")->info("{}: finished, {} frames", name_, frames_);
}

void FfmpegEncoder::finalise() {
  finished_ = true;
  std::string error;
  try {
    send(nullptr);
  } catch (const Error& e) {
    error = e.what();
  }
  // The trailer even after a failed flush: it indexes every packet already written.
  const int rc = av_write_trailer(output_.get());
  if (rc < 0 && error.empty()) error = name_ + ": writing the index failed: " + error_text(rc);
  const int close_rc = avio_closep(&output_->pb);
  if (close_rc < 0 && error.empty()) error = name_ + ": closing the file failed: " + error_text(close_rc);
  output_.reset();
  if (!error.empty()) throw Error(ErrorCode::Runtime, error);
}

void FfmpegEncoder::discard() noexcept {
  finished_ = true;
  output_.reset();  // closes the file
  std::remove(name_.c_str());
}

}  // namespace

std::unique_ptr<VideoEncoder> open_video_encoder(const std::filesystem::path& path, int width, int height,
                                                const EncoderSettings& settings,
                                                const nlohmann::json& settings_metadata,
                                                const nlohmann::json& extra_metadata) {
  return std::make_unique<FfmpegEncoder>(path, width, height, settings, settings_metadata, extra_metadata);
}

std::unique_ptr<VideoEncoder> open_video_encoder(const std::filesystem::path& path, int width, int height,
                                                const EncoderSettings& settings,
                                                const nlohmann::json& settings_metadata) {
  return open_video_encoder(path, width, height, settings, settings_metadata, nlohmann::json());
}

std::string preferred_encoder(VideoFormat format) {
  EncoderSettings settings;
  settings.format = format;
  const auto candidates = encoder_candidates(settings);
  return candidates.empty() ? std::string() : std::string(candidates.front()->name);
}

}  // namespace skyreels::video
