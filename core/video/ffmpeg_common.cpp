#include "video/ffmpeg_common.h"

#include <cstdarg>
#include <mutex>

#include <sys/stat.h>

extern "C" {
#include <libavutil/error.h>
#include <libavutil/log.h>
}

#include "skyreels/error.h"
#include "skyreels/log.h"

namespace skyreels::video::ffmpeg {

namespace {

void log_callback(void* avcl, int level, const char* fmt, va_list args) {
  if (level > av_log_get_level()) return;
  // av_log may emit one line in pieces; the prefix ("[libx264 @ 0x...]") is printed once per line.
  thread_local int print_prefix = 1;
  char line[1024];
  av_log_format_line2(avcl, level, fmt, args, line, sizeof line, &print_prefix);
  std::string text(line);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (text.empty()) return;
  auto log = logger("video");
  if (level <= AV_LOG_WARNING) {
    log->warn("ffmpeg: {}", text);
  } else if (level <= AV_LOG_INFO) {
    log->debug("ffmpeg: {}", text);
  } else {
    log->trace("ffmpeg: {}", text);
  }
}

}  // namespace

std::string error_text(int errnum) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {};
  if (av_strerror(errnum, text, sizeof text) < 0) return "error " + std::to_string(errnum);
  return text;
}

std::string Options::leftover() const {
  std::string keys;
  const AVDictionaryEntry* entry = nullptr;
  while ((entry = av_dict_get(dict_, "", entry, AV_DICT_IGNORE_SUFFIX)) != nullptr) {
    if (!keys.empty()) keys += ", ";
    keys += entry->key;
  }
  return keys;
}

void route_log_to_spdlog() {
  static std::once_flag once;
  std::call_once(once, [] { av_log_set_callback(log_callback); });
}

void check_readable_file(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) throw Error(ErrorCode::NotFound, path + ": no such file");
  if (S_ISDIR(info.st_mode)) throw Error(ErrorCode::BadArgument, path + ": is a directory, expected a video file");
  // A FIFO or a device would block the reader (and ignore signals while it waits).
  if (!S_ISREG(info.st_mode)) throw Error(ErrorCode::BadArgument, path + ": not a regular file, expected a video file");
}

}  // namespace skyreels::video::ffmpeg
