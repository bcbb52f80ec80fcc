#include "pipeline/generation_events.h"

namespace skyreels::pipeline {

const char* to_string(Phase phase) {
  switch (phase) {
    case Phase::LoadingModels: return "loading models";
    case Phase::EncodingPrompts: return "encoding prompts";
    case Phase::Denoising: return "denoising";
    case Phase::Finishing: return "finishing";
  }
  return "?";
}

}  // namespace skyreels::pipeline
