#include "api/output_file.h"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <algorithm>
#include <vector>

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "io/safetensors.h"
#include "pipeline/generation_events.h"
#include "skyreels/error.h"
#include "skyreels/version.h"

#if defined(SKYREELS_API_WITH_VIDEO)
#include "video/video_encoder.h"
#endif

namespace skyreels::api {
namespace {

namespace fs = std::filesystem;

std::string lower_extension(const fs::path& path) {
  auto ext = path.extension().string();
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

std::string errno_text() { return std::strerror(errno); }

// Folders a user may not write to, full disks: the user's to fix, found before any work.
[[noreturn]] void cannot_create(const fs::path& path, int error) {
  throw Error(ErrorCode::BadArgument, path.string() + ": cannot create the output: " + std::strerror(error));
}

// What killed runs to `target` left: NAME.partial.EXT, NAME.partial-N.EXT.
std::vector<fs::path> unfinished_outputs(const fs::path& target) {
  std::vector<fs::path> found;
  const auto folder = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  const auto prefix = target.stem().string() + ".partial", ext = target.extension().string();
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    const auto name = entry.path().filename().string();
    if (name.size() >= prefix.size() + ext.size() && name.compare(0, prefix.size(), prefix) == 0 &&
        name.compare(name.size() - ext.size(), ext.size(), ext) == 0 && !entry.is_symlink(ec) &&
        entry.is_regular_file(ec))
      found.push_back(entry.path());
  }
  std::sort(found.begin(), found.end());
  return found;
}

// NAME.partial.EXT beside the target (NAME.partial-2.EXT, ... when taken), created exclusively and
// without following a link, so nothing planted there is ever written through.
fs::path create_temporary(const fs::path& target) {
  const auto folder = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  const auto stem = target.stem().string(), ext = target.extension().string();
  for (int n = 1; n < 1000; ++n) {
    const auto name = stem + ".partial" + (n == 1 ? "" : "-" + std::to_string(n)) + ext;
    const auto path = folder / name;
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd >= 0) {
      ::close(fd);
      return path;
    }
    if (errno != EEXIST) cannot_create(path, errno);
  }
  throw Error(ErrorCode::Runtime, target.string() + ": too many unfinished outputs beside it (" + stem + ".partial*)");
}

// Writes all of `size` bytes at `offset`, or throws naming the file and the reason.
void write_at(int fd, const void* data, std::size_t size, std::int64_t offset, const fs::path& path) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  while (size > 0) {
    const auto n = ::pwrite(fd, bytes, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Error(ErrorCode::Runtime, path.string() + ": writing failed: " + errno_text());
    bytes += n;
    size -= static_cast<std::size_t>(n);
    offset += n;
  }
}

// uint8 frames [T, H, W, 3] in one safetensors file ("frames"), with the metadata, written block by
// block so that a killed process leaves a readable file: the header is written first for the planned
// frame count, each block goes to its place, and the metadata's "skyreels_frames_written" (a
// fixed-width count rewritten in place) says how many of them are real. Finishing with fewer frames
// rewrites the header (padded to its length) for the frames written and cuts the file there.
class SafetensorsOutput : public OutputFile {
public:
  SafetensorsOutput(fs::path target, fs::path temporary, bool overwrite, const OutputFormat& format,
                    const OutputMetadata& metadata, std::int64_t frames_planned)
      : OutputFile(std::move(target), std::move(temporary), overwrite),
        frame_bytes_(static_cast<std::int64_t>(format.width) * format.height * 3), width_(format.width),
        height_(format.height), planned_(frames_planned) {
    const auto dump = [](const nlohmann::json* j) {
      return j ? j->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) : std::string("{}");
    };
    settings_text_ = dump(metadata.settings);
    extra_text_ = dump(metadata.extra);
    // The whole video's size is known: a disk without room for it is named before any work (the
    // caller removes the temporary file when this throws).
    const auto needed = 8 + planned_ * frame_bytes_ + (std::int64_t{1} << 20);
    struct statvfs disk {};
    const auto folder = temporary_.parent_path().empty() ? fs::path(".") : temporary_.parent_path();
    if (::statvfs(folder.c_str(), &disk) == 0) {
      const auto free_bytes = static_cast<std::int64_t>(disk.f_bavail) * static_cast<std::int64_t>(disk.f_frsize);
      if (free_bytes < needed)
        throw Error(ErrorCode::BadArgument, target_.string() + ": the video needs " + std::to_string(needed >> 20) +
                                                " MiB and its disk has " + std::to_string(free_bytes >> 20) + " MiB free");
    }
    fd_ = ::open(temporary_.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd_ < 0) throw Error(ErrorCode::Runtime, temporary_.string() + ": cannot open: " + errno_text());
    try {
      const auto header = header_text(planned_, /*pad_to=*/0);
      header_bytes_ = static_cast<std::int64_t>(header.size());
      write_header(header);
      if (::ftruncate(fd_, static_cast<off_t>(8 + header_bytes_ + planned_ * frame_bytes_)) != 0)
        throw Error(ErrorCode::Runtime, temporary_.string() + ": cannot size the file: " + errno_text());
    } catch (...) {
      ::close(fd_);  // no destructor runs for a constructor that throws
      throw;
    }
  }
  ~SafetensorsOutput() override {
    try {
      if (fd_ >= 0 && count_ > 0) finish_file();
      else if (fd_ >= 0) discard();
    } catch (...) {  // a destructor must not throw; the failure was reported where it happened
    }
  }
  void write(const Frames& frames) override {
    if (frames.height() != height_ || frames.width() != width_)
      throw Error(ErrorCode::ShapeMismatch, temporary_.string() + ": frames of another size than the video's");
    if (count_ + frames.count() > planned_)
      throw Error(ErrorCode::Runtime, temporary_.string() + ": more frames than planned (" + std::to_string(planned_) + ")");
    write_at(fd_, frames.data(), static_cast<std::size_t>(frames.count() * frame_bytes_),
             8 + header_bytes_ + count_ * frame_bytes_, temporary_);
    count_ += frames.count();
    const auto digits = count_digits(count_);
    write_at(fd_, digits.data(), digits.size(), 8 + count_offset_, temporary_);
  }
  std::int64_t frames_written() const override { return count_; }
  std::string describe() const override { return "uint8 frames (safetensors)"; }
  fs::path publish() override {
    finish_file();
    move_to_target();
    return target_;
  }
  void discard() override {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    std::error_code ec;
    fs::remove(temporary_, ec);
  }

private:
  static constexpr const char* kCountPlaceholder = "#########";  // 9 digits: up to 999,999,999 frames

  static std::string count_digits(std::int64_t n) {
    std::string digits = std::to_string(n);
    return std::string(9 - digits.size(), '0') + digits;
  }

  // The header JSON for `frames` frames, padded with spaces to `pad_to` bytes (or to a multiple of 8,
  // so the pixels are aligned), with the count's position recorded.
  std::string header_text(std::int64_t frames, std::size_t pad_to) {
    nlohmann::json header;
    header["__metadata__"] = {{"skyreels_settings", settings_text_},
                              {"skyreels_output", extra_text_},
                              {"skyreels_frames_written", kCountPlaceholder},
                              {"engine_version", kVersion}};
    header["frames"] = {{"dtype", "U8"},
                        {"shape", {frames, height_, width_, 3}},
                        {"data_offsets", {0, frames * frame_bytes_}}};
    auto text = header.dump();
    const auto at = text.find(kCountPlaceholder);
    text.replace(at, 9, count_digits(count_));
    count_offset_ = static_cast<std::int64_t>(at);
    const auto size = pad_to > 0 ? pad_to : (text.size() + 7) / 8 * 8;
    if (text.size() > size) throw Error(ErrorCode::Runtime, temporary_.string() + ": header grew while finishing");
    return text + std::string(size - text.size(), ' ');
  }

  void write_header(const std::string& header) {
    unsigned char length[8];
    for (int i = 0; i < 8; ++i) length[i] = static_cast<unsigned char>(static_cast<std::uint64_t>(header.size()) >> (8 * i));
    write_at(fd_, length, 8, 0, temporary_);
    write_at(fd_, header.data(), header.size(), 8, temporary_);
  }

  // The header for the frames written (same length) and the file cut after them.
  void finish_file() {
    if (count_ == 0) throw Error(ErrorCode::BadArgument, target_.string() + ": no frames were written");
    if (count_ < planned_) {
      write_header(header_text(count_, static_cast<std::size_t>(header_bytes_)));
      if (::ftruncate(fd_, static_cast<off_t>(8 + header_bytes_ + count_ * frame_bytes_)) != 0)
        throw Error(ErrorCode::Runtime, temporary_.string() + ": cannot cut the file: " + errno_text());
    }
    const int closed = ::close(fd_);
    fd_ = -1;
    if (closed != 0) throw Error(ErrorCode::Runtime, temporary_.string() + ": writing failed: " + errno_text());
  }

  std::string settings_text_, extra_text_;
  std::int64_t frame_bytes_;
  int width_, height_;
  std::int64_t planned_;
  int fd_ = -1;
  std::int64_t header_bytes_ = 0, count_offset_ = 0;
  std::int64_t count_ = 0;
};

#if defined(SKYREELS_API_WITH_VIDEO)
// H.264 or FFV1 through core/video, encoding into the temporary file as frames arrive. The encoder
// finalises a playable file even when the run is abandoned (its destructor).
class VideoOutput : public OutputFile {
public:
  VideoOutput(fs::path target, fs::path temporary, bool overwrite, const video::EncoderSettings& settings,
              const OutputFormat& format, const OutputMetadata& metadata)
      : OutputFile(std::move(target), std::move(temporary), overwrite),
        encoder_(video::open_video_encoder(temporary_, format.width, format.height, settings,
                                           metadata.settings ? *metadata.settings : nlohmann::json(nullptr),
                                           metadata.extra ? *metadata.extra : nlohmann::json(nullptr))),
        format_(settings.format == video::VideoFormat::Ffv1Mkv ? "FFV1" : "H.264") {}
  void write(const Frames& frames) override {
    encoder_->write(pipeline::tensor_of(frames));
    encoder_->flush();  // each block becomes a readable part of the file at once
  }
  std::int64_t frames_written() const override { return encoder_ ? encoder_->frames_written() : 0; }
  std::string describe() const override { return format_ + " (" + (encoder_ ? encoder_->encoder_name() : "closed") + ")"; }
  fs::path publish() override {
    encoder_->finish();
    move_to_target();
    return target_;
  }
  void discard() override {
    if (encoder_) encoder_->discard();  // closes without finishing, removes the file
    encoder_.reset();
    std::error_code ec;
    fs::remove(temporary_, ec);
  }

private:
  std::unique_ptr<video::VideoEncoder> encoder_;
  std::string format_;
};
#endif


// The writer for the type.
std::unique_ptr<OutputFile> make_output(const fs::path& target, const fs::path& temporary, const std::string& ext,
                                        const OutputFormat& format, const OutputMetadata& metadata,
                                        std::int64_t frames_planned, bool overwrite) {
  if (ext == ".safetensors")
    return std::make_unique<SafetensorsOutput>(target, temporary, overwrite, format, metadata, frames_planned);
#if defined(SKYREELS_API_WITH_VIDEO)
  video::EncoderSettings encoder;
  encoder.format = ext == ".mkv" ? video::VideoFormat::Ffv1Mkv : video::VideoFormat::H264Mp4;
  encoder.fps_num = format.fps;
  encoder.crf = format.crf;
  encoder.preset = format.preset;
  encoder.layout = video::Mp4Layout::Fragmented;  // a killed process leaves the fragments written so far
  if (encoder.format == video::VideoFormat::H264Mp4 && (format.width % 2 || format.height % 2))
    throw Error(ErrorCode::BadArgument, "H.264 needs an even width and height");
  return std::make_unique<VideoOutput>(target, temporary, overwrite, encoder, format, metadata);
#endif
  (void)format;
  throw Error(ErrorCode::Unsupported, target.string() + ": no writer for this type");
}

}  // namespace

void OutputFile::move_to_target() {
  if (overwrite_) {
    if (::rename(temporary_.c_str(), target_.c_str()) != 0)
      throw Error(ErrorCode::Runtime, "cannot move " + temporary_.string() + " onto " + target_.string() + ": " +
                                          errno_text());
    return;
  }
  // link() never replaces: a file that appeared at the target meanwhile is kept.
  if (::link(temporary_.c_str(), target_.c_str()) == 0) {
    ::unlink(temporary_.c_str());
    return;
  }
  if (errno == EEXIST)
    throw Error(ErrorCode::BadArgument, target_.string() + " appeared while rendering; the video was kept as " +
                                            temporary_.string());
  // File systems without hard links: a rename, after checking the target is still free.
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(target_, ec)) && ::rename(temporary_.c_str(), target_.c_str()) == 0) return;
  throw Error(ErrorCode::Runtime, "cannot move " + temporary_.string() + " onto " + target_.string() + ": " + errno_text());
}

void OutputFile::check_target(const fs::path& target, bool overwrite) {
  const auto ext = lower_extension(target);
  if (ext != ".safetensors" && ext != ".mp4" && ext != ".mkv")
    throw Error(ErrorCode::BadArgument, target.string() + ": unknown output type \"" + ext +
                                            "\" (use .mp4 for H.264, .mkv for lossless FFV1, or .safetensors)");
#if !defined(SKYREELS_API_WITH_VIDEO)
  if (ext != ".safetensors")
    throw Error(ErrorCode::Unsupported, target.string() + ": this build has no video encoder (FFmpeg was not found); "
                                                          "write .safetensors frames instead");
#endif
  std::error_code ec;
  const auto folder = target.parent_path();
  if (!folder.empty() && !fs::is_directory(folder, ec))
    throw Error(ErrorCode::BadArgument, target.string() + ": the folder " + folder.string() + " does not exist");
  const auto status = fs::symlink_status(target, ec);
  if (fs::exists(status) && !overwrite)
    throw Error(ErrorCode::BadArgument, target.string() + " exists; choose another output or pass --overwrite");
  if (fs::exists(status) && fs::is_directory(status))
    throw Error(ErrorCode::BadArgument, target.string() + " is a folder");
}

std::unique_ptr<OutputFile> OutputFile::open(const fs::path& target, const OutputFormat& format,
                                             const OutputMetadata& metadata, std::int64_t frames_planned,
                                             bool overwrite) {
  check_target(target, overwrite);
  const auto ext = lower_extension(target);
  std::error_code ec;
  const auto leftovers = unfinished_outputs(target);
  auto temporary = create_temporary(target);
  try {
    auto output = make_output(target, temporary, ext, format, metadata, frames_planned, overwrite);
    output->leftovers_ = leftovers;
    return output;
  } catch (...) {
    fs::remove(temporary, ec);
    throw;
  }
}

bool video_files_supported() {
#if defined(SKYREELS_API_WITH_VIDEO)
  return true;
#else
  return false;
#endif
}

std::string prompt_words_for_name(const std::string& prompt) {
  // Anything but an ASCII letter or digit separates words, so the name is safe on every file system
  // and in a shell, whatever the prompt holds.
  std::vector<std::string> words(1);
  for (const char raw : prompt) {
    const auto c = static_cast<unsigned char>(raw);
    if (c < 0x80 && std::isalnum(c))
      words.back() += static_cast<char>(std::tolower(c));
    else if (!words.back().empty())
      words.emplace_back();
  }
  std::string name;
  int taken = 0;
  for (const auto& word : words) {
    if (word.empty() || taken == kNameWords) break;
    // A word that would pass the length limit ends the name; it is not cut (a first one excepted).
    if (!name.empty() && name.size() + 1 + word.size() > kNameWordChars) break;
    name += (name.empty() ? "" : "-") + word.substr(0, kNameWordChars);
    ++taken;
  }
  return name.empty() ? std::string("skyreels") : name;
}

std::string output_file_stem(const std::string& prompt, std::uint64_t seed, std::time_t when) {
  char stamp[32];
  std::tm local{};
  localtime_r(&when, &local);
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &local);
  return prompt_words_for_name(prompt) + "-" + stamp + "-" + std::to_string(seed);
}

fs::path new_output_name(const fs::path& folder, const std::string& prompt, std::uint64_t seed,
                         const std::string& extension) {
  const auto stem = output_file_stem(prompt, seed, std::time(nullptr));
  auto path = folder / (stem + extension);
  std::error_code ec;
  for (int n = 2; fs::exists(fs::symlink_status(path, ec)); ++n) path = folder / (stem + "-" + std::to_string(n) + extension);
  return path;
}

}  // namespace skyreels::api
