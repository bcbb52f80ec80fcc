#include "skyreels/media.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <utility>

#include <ATen/ATen.h>

#include "api/engine_impl.h"
#include "api/output_file.h"
#include "io/json_config.h"
#include "pipeline/generation_events.h"
#include "skyreels/error.h"

#if defined(SKYREELS_API_WITH_VIDEO)
#include "video/generation_inputs.h"
#include "video/video_metadata.h"
#include "video/video_reader.h"
#endif

namespace skyreels {
#if !defined(SKYREELS_API_WITH_VIDEO)
namespace {

[[noreturn]] void no_video(const std::string& what) {
  throw Error(ErrorCode::Unsupported, what + " needs a build with FFmpeg and OpenCV");
}

}  // namespace
#endif

bool video_files_supported() { return api::video_files_supported(); }

GenerationSettings read_settings_from_video(const std::string& path, const GenerationSettings& base) {
#if defined(SKYREELS_API_WITH_VIDEO)
  return settings_from_json(video::read_generation_settings(path), base);
#else
  (void)base;
  no_video("reading settings from a video (" + path + ")");
#endif
}

GenerationSettings read_settings_file(const std::string& path, const GenerationSettings& base) {
  const auto json = io::JsonConfig::load(path).json();
  // A whole metadata document (as stored in a video) holds the settings under "settings".
  if (json.contains("settings") && json["settings"].is_object()) return settings_from_json(json["settings"], base);
  return settings_from_json(json, base);
}

#if defined(SKYREELS_API_WITH_VIDEO)
namespace {

// The size a video's frames are read at to fit max_width x max_height (0 x 0: their own size).
std::pair<int, int> fitted_size(const video::VideoInfo& info, int max_width, int max_height) {
  if (max_width <= 0 || max_height <= 0 || (info.width <= max_width && info.height <= max_height)) return {0, 0};
  const double scale = std::min(static_cast<double>(max_width) / info.width, static_cast<double>(max_height) / info.height);
  return {std::max(2, static_cast<int>(info.width * scale) & ~1), std::max(2, static_cast<int>(info.height * scale) & ~1)};
}

// A value of the metadata document, or `fallback` when absent or of another type (older files).
template <typename T>
T stored(const nlohmann::json& document, const char* section, const char* key, T fallback) {
  const auto part = document.find(section);
  if (part == document.end() || !part->is_object()) return fallback;
  const auto value = part->find(key);
  if (value == part->end()) return fallback;
  if constexpr (std::is_same_v<T, std::string>) {
    return value->is_string() ? value->template get<std::string>() : fallback;
  } else {
    return value->is_number_integer() ? value->template get<T>() : fallback;
  }
}

}  // namespace
#endif

VideoSummary read_video_summary(const std::string& path, int thumb_width, int thumb_height) {
#if defined(SKYREELS_API_WITH_VIDEO)
  const auto document = video::read_video_metadata(path);
  VideoSummary summary;
  summary.settings = settings_from_json(document["settings"]);
  summary.model_name = stored<std::string>(document, "model", "name", "");
  summary.frames_planned = stored<std::int64_t>(document, "output", "frames_planned", 0);
  summary.created = stored<std::string>(document, "output", "created", "");
  const auto [width, height] = fitted_size(video::probe_video(path), thumb_width, thumb_height);
  video::VideoReader reader(path, width, height);
  summary.fps = reader.info().fps() > 0 ? reader.info().fps() : static_cast<double>(summary.settings.fps);
  try {
    const auto first = reader.read_frame();
    if (first.defined()) summary.thumbnail = pipeline::frames_from_tensor(first.unsqueeze(0));
  } catch (const Error&) {  // a file without a decodable frame is still listed, without a picture
  }
  // Fragmented MP4 (how the job runner writes, so a killed run stays playable) has no frame count in
  // its header; its duration at our constant frame rate gives it without decoding the whole file.
  const auto& info = reader.info();
  summary.frames = info.frame_count;
  if (summary.frames == 0 && info.duration_s > 0 && info.fps() > 0)
    summary.frames = std::llround(info.duration_s * info.fps());
  if (summary.frames == 0) {  // the container says neither: count by decoding
    try {
      summary.frames = summary.thumbnail.empty() ? 0 : 1;
      while (reader.read_frame().defined()) ++summary.frames;
    } catch (const Error&) {  // what decoded is what plays
    }
  }
  return summary;
#else
  (void)thumb_width;
  (void)thumb_height;
  no_video("reading a video (" + path + ")");
#endif
}

Frames read_video_frames(const std::string& path, int max_width, int max_height) {
#if defined(SKYREELS_API_WITH_VIDEO)
  const auto [width, height] = fitted_size(video::probe_video(path), max_width, max_height);
  return pipeline::frames_from_tensor(video::read_video_frames(path, width, height));
#else
  (void)max_width;
  (void)max_height;
  no_video("reading a video (" + path + ")");
#endif
}

namespace api {

pipeline::GenerationRequest load_inputs(const GenerationRequest& request) {
  const bool any = !request.start_image.empty() || !request.end_image.empty() || !request.video_to_extend.empty();
  if (!any) {
    pipeline::GenerationRequest internal;
    internal.settings = request.settings;
    return internal;
  }
#if defined(SKYREELS_API_WITH_VIDEO)
  return video::load_generation_inputs(request.settings, request.start_image, request.end_image, request.video_to_extend);
#else
  no_video("a start image, an end image or a video to extend");
#endif
}

}  // namespace api
}  // namespace skyreels
