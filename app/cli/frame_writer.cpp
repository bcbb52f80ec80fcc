#include "frame_writer.h"

#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "io/safetensors.h"
#include "skyreels/error.h"
#include "skyreels/version.h"

#if defined(SKYREELS_CLI_WITH_VIDEO)
#include "video/video_encoder.h"
#endif

namespace skyreels::cli {
namespace {

namespace fs = std::filesystem;

std::string extension_of(const fs::path& path) {
  auto ext = path.extension().string();
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

// Frames [T, H, W, 3] uint8 in one safetensors file ("frames"), with the settings as metadata.
class SafetensorsWriter : public FrameWriter {
public:
  SafetensorsWriter(fs::path path, nlohmann::json settings) : path_(std::move(path)), settings_(std::move(settings)) {}
  ~SafetensorsWriter() override {
    try {
      finish();
    } catch (...) {  // a destructor must not throw; the error was reported by the failing write
    }
  }
  void write(const at::Tensor& frames) override {
    chunks_.push_back(frames.to(at::kCPU).contiguous());
    count_ += frames.size(0);
  }
  void finish() override {
    if (done_ || chunks_.empty()) return;
    done_ = true;
    io::write_safetensors(path_.string(), {{"frames", at::cat(chunks_, 0)}},
                          {{"skyreels_settings", settings_.dump()}, {"engine_version", kVersion}});
  }
  std::int64_t frames_written() const override { return count_; }
  std::string describe() const override { return "uint8 frames (safetensors)"; }

private:
  fs::path path_;
  nlohmann::json settings_;
  std::vector<at::Tensor> chunks_;
  std::int64_t count_ = 0;
  bool done_ = false;
};

#if defined(SKYREELS_CLI_WITH_VIDEO)
// Opened at once, so a bad preset or an unwritable file is reported before the generation; the
// encoder removes the file again if no frame ever arrives.
class VideoFileWriter : public FrameWriter {
public:
  VideoFileWriter(const fs::path& path, int width, int height, const video::EncoderSettings& settings,
                  const nlohmann::json& metadata)
      : encoder_(video::open_video_encoder(path, width, height, settings, metadata)),
        format_(settings.format == video::VideoFormat::Ffv1Mkv ? "FFV1" : "H.264") {}
  void write(const at::Tensor& frames) override { encoder_->write(frames); }
  void finish() override {
    if (encoder_->frames_written() > 0) encoder_->finish();
  }
  std::int64_t frames_written() const override { return encoder_->frames_written(); }
  std::string describe() const override { return format_ + " (" + encoder_->encoder_name() + ")"; }

private:
  std::unique_ptr<video::VideoEncoder> encoder_;
  std::string format_;
};
#endif

}  // namespace

bool video_files_supported() {
#if defined(SKYREELS_CLI_WITH_VIDEO)
  return true;
#else
  return false;
#endif
}

std::unique_ptr<FrameWriter> open_frame_writer(const fs::path& path, int width, int height, const OutputFormat& format,
                                               const nlohmann::json& settings) {
  std::error_code ec;
  const auto folder = path.parent_path();
  if (!folder.empty() && !fs::is_directory(folder, ec))
    throw Error(ErrorCode::BadArgument, path.string() + ": the folder " + folder.string() + " does not exist");
  const auto ext = extension_of(path);
  if (ext == ".safetensors") return std::make_unique<SafetensorsWriter>(path, settings);
  if (ext != ".mp4" && ext != ".mkv")
    throw Error(ErrorCode::BadArgument, path.string() + ": unknown output type \"" + ext +
                                            "\" (use .mp4 for H.264, .mkv for lossless FFV1, or .safetensors)");
#if defined(SKYREELS_CLI_WITH_VIDEO)
  video::EncoderSettings encoder;
  encoder.format = ext == ".mkv" ? video::VideoFormat::Ffv1Mkv : video::VideoFormat::H264Mp4;
  encoder.fps_num = format.fps;
  encoder.crf = format.crf;
  encoder.preset = format.preset;
  if (encoder.format == video::VideoFormat::H264Mp4 && (width % 2 || height % 2))
    throw Error(ErrorCode::BadArgument, "H.264 needs an even width and height");
  return std::make_unique<VideoFileWriter>(path, width, height, encoder, settings);
#else
  (void)width;
  (void)height;
  (void)format;
  throw Error(ErrorCode::Unsupported, path.string() + ": this build has no video encoder (FFmpeg was not found); "
                                                      "write .safetensors frames instead");
#endif
}

}  // namespace skyreels::cli
