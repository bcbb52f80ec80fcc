#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/wan_dit.h"
#include "model/wan_vae.h"
#include "model/weight_parking.h"
#include "pipeline/generation_events.h"
#include "pipeline/generation_settings.h"
#include "pipeline/noise_source.h"
#include "pipeline/parallel_plan.h"
#include "pipeline/window_plan.h"

namespace skyreels::pipeline {

// How the engine executes (not what it computes). The defaults are the fast path; the reference's
// execution choices (`reference_path()`) exist to measure against in the same process.
struct PipelineOptions {
  // Classifier-free guidance as one batch-2 forward (cond and uncond stacked). Off: two calls, cond
  // first, as the reference.
  bool batched_cfg = true;
  // Decode each causal block as soon as its latents are final. Off: decode the window after its last
  // row, as the reference. The video is the same either way.
  bool streaming_decode = true;
  // With streaming decode, at most this many latent frames go to the VAE per call (and per
  // BlockDecoded event): the decoded pixels of a whole window at once are a large transient (2 GiB
  // at 540P, 97 frames), blocks of a few frames are not. The video is the same; 0: no limit.
  std::int64_t decode_latents_per_call = 4;
  // On a GPU, a DiT of at most this many bytes of weights waits in host memory while the last window's
  // final latents are decoded, so the decode has its memory; it returns before generate() does. The
  // video is the same; the copies cost about 2 s for DF-1.3B. A larger DiT stays: its rows set the peak
  // anyway (DF-14B: 31.7 GiB for a batch-2 call against 26.7 + 4.1 for a decode beside its weights,
  // docs/performance.md) and its copies would take seconds. 0: never.
  std::int64_t park_dit_up_to_bytes = std::int64_t{8} << 30;
  // One solver object per latent frame, stepped frame by frame with a device sync each, as the
  // reference. Off: one batched solver for the window. The numbers are the same.
  bool per_frame_solver = false;
  model::WanDitCall dit_call;  // attention mode and token chunking of the DiT
  model::VaeTiling vae_tiling;
  // Several processes generating together, the DiT's tokens split across them (Ulysses); null: this
  // process alone. Every rank runs the loop on the same inputs and noise; only rank 0 reports events
  // and decodes the video (the others decode only what a next long-video window needs).
  const model::SequenceParallel* parallel = nullptr;
  // CFG-parallel (parallel_plan.h): when its groups are set and the job is guided, this rank runs one
  // branch's call over `cfg.branch` and trades predictions over `cfg.pair`; `parallel` still makes the
  // run's shared decisions. Unset: every call over `parallel`.
  CfgGroups cfg;

  // Two guidance calls, per-token float32 modulation over the whole sequence at once, one solver per
  // frame with syncs, decode after the window.
  static PipelineOptions reference_path();
};

// What to generate from. Text arrives as embeddings (see TextEncoder); pixels as [-1, 1] floats.
struct GenerationInputs {
  GenerationSettings settings;
  at::Tensor context;           // [1, Lc, text_dim] (or [Lc, text_dim]) prompt embedding
  at::Tensor negative_context;  // same, required when guidance_scale > 1
  at::Tensor start_image;       // [3, 1, H, W] (settings.has_start_image)
  at::Tensor end_image;         // [3, 1, H, W] (settings.has_end_image)
  at::Tensor input_video;       // [3, T, H, W] (settings.extends_video)
};

struct GenerationResult {
  at::Tensor video;                        // [T, H, W, 3] uint8, CPU: every final frame
  std::vector<at::Tensor> window_latents;  // per finished window: the latents it decoded [1, 16, F, h, w]
  GenerationPlan plan;
  bool cancelled = false;
  int rows_run = 0;
  int model_calls_run = 0;   // batch-1-equivalent DiT calls made
  int cfg_skipped_rows = 0;  // rows without the unconditional call (cfg_skip_last_steps)
  int cached_rows = 0;       // rows whose blocks reused the step cache's residual
  double seconds = 0;
};

// The conditioning pixels the settings ask for are present and at the output size; else an Error
// (BadArgument for a missing one, ShapeMismatch for a wrong shape) naming the input.
void check_conditioning(const GenerationSettings& settings, const at::Tensor& start_image, const at::Tensor& end_image,
                        const at::Tensor& input_video);

// The diffusion-forcing generation loop (spec §5): windows, rows, CFG, the solver, prefixes and
// streaming decode. Runs on the calling thread; `cancel` is polled after every row.
class DfPipeline {
public:
  DfPipeline(model::WanDit dit, model::WanVae vae, PipelineOptions options = {});

  // Throws skyreels::Error for bad settings or inputs before any heavy work. A failure while running
  // is reported as GenerationFailed and rethrown; frames already delivered by BlockDecoded stay valid.
  GenerationResult generate(const GenerationInputs& inputs, NoiseSource& noise, const EventSink& events = {},
                            const std::atomic<bool>* cancel = nullptr);
  // The same for settings the caller has validated (validate()), as Engine does.
  GenerationResult generate_validated(const GenerationInputs& inputs, NoiseSource& noise, const EventSink& events = {},
                                      const std::atomic<bool>* cancel = nullptr);

  const model::WanDit& dit() const noexcept { return dit_; }
  const PipelineOptions& options() const noexcept { return options_; }
  PipelineOptions& options() noexcept { return options_; }
  c10::Device device() const;

private:
  model::WanDit dit_;
  model::WanVae vae_;
  PipelineOptions options_;
  model::WeightParking parking_;  // the DiT's host copies while parked (see park_dit_up_to_bytes)
};

}  // namespace skyreels::pipeline
