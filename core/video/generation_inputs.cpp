#include "video/generation_inputs.h"

#include "video/image_input.h"
#include "video/video_reader.h"

namespace skyreels::video {

pipeline::GenerationRequest load_generation_inputs(pipeline::GenerationSettings settings,
                                                   const std::filesystem::path& start_image,
                                                   const std::filesystem::path& end_image,
                                                   const std::filesystem::path& video_to_extend) {
  pipeline::GenerationRequest request;
  if (!start_image.empty()) {
    const auto rgb = load_image_rgb(start_image);
    const auto size = reference_frame_size(static_cast<int>(rgb.size(1)), static_cast<int>(rgb.size(0)),
                                           static_cast<int>(settings.height), static_cast<int>(settings.width));
    settings.height = size.height;
    settings.width = size.width;
    request.start_image = prepare_image_input(rgb, size.height, size.width);
  }
  const int h = static_cast<int>(settings.height), w = static_cast<int>(settings.width);
  if (!end_image.empty()) request.end_image = load_image_input(end_image, h, w);
  if (!video_to_extend.empty()) request.input_video = load_video_input(video_to_extend, w, h);
  request.settings = settings;
  return request;
}

}  // namespace skyreels::video
