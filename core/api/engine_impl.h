#pragma once

#include <memory>
#include <optional>
#include <string>

#include "parallel/cfg_groups.h"
#include "pipeline/engine.h"
#include "skyreels/engine.h"

namespace skyreels {

// What the public Engine holds: the engine's own Engine over the folder, this process's rank group
// when it was launched as one, and the model's identity.
struct Engine::Impl {
  EngineOptions options;
  ModelIdentity identity;
  std::unique_ptr<parallel::ProcessGroup> group;  // before `engine`: the engine refers to it
  parallel::CfgProcessGroups cfg_groups;          // likewise
  std::unique_ptr<pipeline::Engine> engine;
  std::optional<std::string> weights_hash;  // computed on first use (it reads every weight)

  // "demo" for the demo model, else a content hash of the DiT's weights (api/model_identity.h).
  const std::string& hash();
};

namespace api {

// The request's conditioning inputs read from their files, at the output size (a portrait start image
// swaps the settings' height and width). Throws Error(Unsupported) for inputs in a build without
// FFmpeg and OpenCV, and the readers' errors naming the file.
pipeline::GenerationRequest load_inputs(const GenerationRequest& request);

}  // namespace api

}  // namespace skyreels
