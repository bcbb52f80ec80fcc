#include "skyreels/media.h"

#include <algorithm>

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

Frames read_video_frames(const std::string& path, int max_width, int max_height) {
#if defined(SKYREELS_API_WITH_VIDEO)
  int width = 0, height = 0;
  if (max_width > 0 && max_height > 0) {
    const auto info = video::probe_video(path);
    if (info.width > max_width || info.height > max_height) {
      const double scale = std::min(static_cast<double>(max_width) / info.width, static_cast<double>(max_height) / info.height);
      width = std::max(2, static_cast<int>(info.width * scale) & ~1);
      height = std::max(2, static_cast<int>(info.height * scale) & ~1);
    }
  }
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
