#pragma once

#include <ATen/core/Tensor.h>

// The events are part of the public API (skyreels/events.h); the engine's internals name them in
// their own namespace and convert their payloads here.
#include "pipeline/window_plan.h"
#include "skyreels/events.h"
#include "telemetry/device_memory.h"

namespace skyreels {

// What a LatentView refers to: the window's latents [16, F, h, w] (device, bf16), updated in place.
struct LatentTensor {
  at::Tensor value;
};

}  // namespace skyreels

namespace skyreels::pipeline {

using skyreels::AppliedLora;
using skyreels::BlockDecoded;
using skyreels::EventSink;
using skyreels::Frames;
using skyreels::GenerationCancelled;
using skyreels::GenerationEvent;
using skyreels::GenerationFailed;
using skyreels::GenerationFinished;
using skyreels::GenerationStarted;
using skyreels::Image;
using skyreels::LatentView;
using skyreels::LorasApplied;
using skyreels::MemoryPlanned;
using skyreels::Phase;
using skyreels::PhaseStarted;
using skyreels::RowDone;
using skyreels::WindowDone;

// Frames sharing a uint8 [n, H, W, 3] tensor's memory (moved to the CPU and made contiguous first).
Frames frames_from_tensor(const at::Tensor& frames);
// The frames as a uint8 [n, H, W, 3] CPU tensor over the same memory (kept alive by the tensor).
at::Tensor tensor_of(const Frames& frames);
// A view of `latents` for a RowDone event.
LatentView latent_view(const at::Tensor& latents);
// The latents a view refers to (undefined for an empty view).
at::Tensor tensor_of(const LatentView& view);

}  // namespace skyreels::pipeline
