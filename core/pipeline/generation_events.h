#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <variant>

#include <ATen/core/Tensor.h>

#include "pipeline/window_plan.h"
#include "telemetry/device_memory.h"

namespace skyreels::pipeline {

// What a generation reports to any front end (CLI, desktop app, tests). Plain structs, no Qt.
// Events are delivered on the generating thread, in order; a sink that hands them to another thread
// must copy what it keeps (tensors are reference-counted, so keeping one is cheap).

// Coarse stages around the generation loop, for a front end's status line. The Engine reports them;
// DfPipeline alone starts at Denoising.
enum class Phase { LoadingModels, EncodingPrompts, Denoising, Finishing };
const char* to_string(Phase phase);

struct PhaseStarted {
  Phase phase = Phase::Denoising;
  std::string detail;  // e.g. which model is loading
};

struct GenerationStarted {
  GenerationPlan plan;  // windows, rows per window, model calls in total
};

struct RowDone {
  int window = 0, row = 0, rows = 0;   // row of this window (rows = rows in the window)
  int rows_done = 0, rows_total = 0;   // over the whole generation
  double elapsed_seconds = 0;          // since the start of the generation
  double row_seconds = 0, model_seconds = 0;
  bool unguided = false;  // fast mode cfg_skip_last_steps: no unconditional call this row
  bool cached = false;    // fast mode step cache: the DiT's blocks were reused, not run
  telemetry::MemoryStats memory;
  at::Tensor latents;                  // the window's latents [16, F, h, w] after this row (device, bf16)
};

// Pixel frames that are final: frames [first_frame, first_frame + frames.size(0)) of the output video.
struct BlockDecoded {
  int window = 0;
  std::int64_t first_frame = 0;
  at::Tensor frames;  // [n, H, W, 3] uint8, CPU
  double decode_seconds = 0;  // VAE decode of these frames (device time, synchronised)
};

struct WindowDone {
  int window = 0;
  double elapsed_seconds = 0;
  std::int64_t frames_so_far = 0;
};

struct GenerationFinished {
  std::int64_t frames = 0;
  double elapsed_seconds = 0;
  telemetry::MemoryStats memory;
};

struct GenerationFailed {
  std::string message;
  std::int64_t frames_kept = 0;  // frames already delivered by BlockDecoded
};

struct GenerationCancelled {
  std::int64_t frames_kept = 0;
  double elapsed_seconds = 0;
};

using GenerationEvent = std::variant<PhaseStarted, GenerationStarted, RowDone, BlockDecoded, WindowDone, GenerationFinished,
                                     GenerationFailed, GenerationCancelled>;
using EventSink = std::function<void(const GenerationEvent&)>;

}  // namespace skyreels::pipeline
