#pragma once

#include <filesystem>

#include "pipeline/engine.h"

namespace skyreels::video {

// A generation's conditioning pixels from files, at the output size, as every front end loads them:
// the start image centre-cropped and resized as the reference does (a portrait image swaps height and
// width, so the returned settings may differ from `settings`), the end image to the same size, the
// video to extend resized frame by frame. Empty paths are skipped. Throws skyreels::Error naming the
// file (NotFound, CorruptFile).
pipeline::GenerationRequest load_generation_inputs(pipeline::GenerationSettings settings,
                                                   const std::filesystem::path& start_image,
                                                   const std::filesystem::path& end_image,
                                                   const std::filesystem::path& video_to_extend);

}  // namespace skyreels::video
