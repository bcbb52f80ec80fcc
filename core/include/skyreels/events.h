#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace skyreels {

// What a generation reports to any front end (CLI, desktop app, tests): plain structs, no Qt and no
// LibTorch. Events are delivered on the generating thread, in order. Payloads (Frames, LatentView)
// share the engine's memory without copying; a sink that hands them to another thread keeps Frames
// (reference-counted, immutable) but must use a LatentView inside the call.

// --- the plan -------------------------------------------------------------------------------------

// Where a window's clean prefix latents come from.
enum class PrefixSource {
  None,
  StartImage,  // the start image, VAE-encoded (1 latent)
  Overlap,     // the last overlap_history frames of the output so far, decoded then re-encoded
};

// One denoising window (spec §5.4/§5.5), in latent frames.
struct WindowPlan {
  int index = 0;
  std::int64_t latent_frames = 0;    // denoised window, prefix included, end image excluded
  std::int64_t prefix_latents = 0;   // clean frames at the start of the window
  PrefixSource prefix = PrefixSource::None;
  bool end_image = false;            // an extra clean latent after the window (dropped before decoding)
  std::int64_t pixel_frames_dropped = 0;  // decoded frames not appended (the overlap the prefix repeats)
  int rows = 0;                      // rows of the DF schedule that update at least one frame
  std::int64_t new_pixel_frames() const {
    return (latent_frames == 0 ? 0 : 1 + 4 * (latent_frames - 1)) - pixel_frames_dropped;
  }
};

struct GenerationPlan {
  std::vector<WindowPlan> windows;
  std::int64_t input_pixel_frames = 0;  // frames of a video being extended, at the start of the output
  std::int64_t output_pixel_frames = 0; // input frames + every window's new frames
  int total_rows = 0;
  int model_calls = 0;                  // DiT forwards (a CFG row counts 2, as batch-2 is two calls' work)
};

// Memory of the device the engine runs on. On CUDA: the caching allocator's counters (allocated =
// tensors alive, reserved = held by the allocator). On the CPU: the process's resident set for both.
struct MemoryStats {
  std::int64_t allocated_bytes = 0;
  std::int64_t reserved_bytes = 0;
  std::int64_t peak_allocated_bytes = 0;
  std::int64_t peak_reserved_bytes = 0;
};

// --- payloads -------------------------------------------------------------------------------------

// RGB frames, uint8, [count, height, width, 3] packed, shared without copying. Immutable.
class Frames {
public:
  Frames() = default;
  // `data` holds count * height * width * 3 bytes and stays valid while `owner` lives.
  Frames(std::int64_t count, std::int64_t height, std::int64_t width, const std::uint8_t* data,
         std::shared_ptr<const void> owner);

  std::int64_t count() const noexcept { return count_; }
  std::int64_t height() const noexcept { return height_; }
  std::int64_t width() const noexcept { return width_; }
  bool empty() const noexcept { return count_ == 0; }
  std::size_t frame_bytes() const noexcept { return static_cast<std::size_t>(height_ * width_ * 3); }
  const std::uint8_t* data() const noexcept { return data_; }
  const std::uint8_t* frame(std::int64_t i) const noexcept { return data_ + static_cast<std::size_t>(i) * frame_bytes(); }
  const std::shared_ptr<const void>& owner() const noexcept { return owner_; }

private:
  std::int64_t count_ = 0, height_ = 0, width_ = 0;
  const std::uint8_t* data_ = nullptr;
  std::shared_ptr<const void> owner_;
};

// An RGB image, 8 bits per channel, rows packed (width * 3 bytes each).
struct Image {
  int width = 0, height = 0;
  std::vector<std::uint8_t> rgb;
  bool empty() const noexcept { return width == 0 || height == 0; }
};

struct LatentTensor;  // the engine's own (pipeline/event_payloads.h)

// A window's latents after a row. Valid during the event call only: the solver updates them in place.
class LatentView {
public:
  LatentView() = default;
  explicit LatentView(std::shared_ptr<const LatentTensor> latents) : latents_(std::move(latents)) {}

  bool empty() const noexcept { return !latents_; }
  // A look at the latents without the VAE: up to `max_frames` evenly spaced latent frames side by side,
  // at latent size (1/8 of the video's). Colours are the three principal components of the channels,
  // each shown as ±2.5 standard deviations around mid-grey, so it works for any model (structure and
  // motion, not the true colours). Costs one small matmul; empty when there are no latents.
  Image preview(int max_frames = 8) const;
  const LatentTensor* tensor() const noexcept { return latents_.get(); }

private:
  std::shared_ptr<const LatentTensor> latents_;
};

// --- events ---------------------------------------------------------------------------------------

// Coarse stages around the generation loop, for a front end's status line.
enum class Phase { LoadingModels, EncodingPrompts, Denoising, Finishing };
const char* to_string(Phase phase);

struct PhaseStarted {
  Phase phase = Phase::Denoising;
  std::string detail;  // e.g. which model is loading
};

// One LoRA merged into the DiT.
struct AppliedLora {
  std::string path, name, hash;
  double strength = 1.0;
  std::int64_t parameters = 0;          // parameters of the DiT it changes
  std::int64_t unmatched_keys = 0;      // keys that name nothing of the DiT (ignored; the log lists them)
  std::int64_t skipped_image_keys = 0;  // image-conditioning keys a text-to-video model has no use for
};

// The LoRAs of this generation are in the DiT (after the models load, before denoising). Reported when
// the job has LoRAs or the previous job's were taken out.
struct LorasApplied {
  std::vector<AppliedLora> loras;  // empty: the model is back to its own weights
  bool merged = false;             // false: the previous job's LoRAs, already merged
  double seconds = 0;              // the merge (0 when nothing changed)
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
  MemoryStats memory;
  LatentView latents;     // the window's latents after this row
};

// Pixel frames that are final: frames [first_frame, first_frame + frames.count()) of the output video.
struct BlockDecoded {
  int window = 0;
  std::int64_t first_frame = 0;
  Frames frames;
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
  MemoryStats memory;
};

struct GenerationFailed {
  std::string message;
  std::int64_t frames_kept = 0;  // frames already delivered by BlockDecoded
};

struct GenerationCancelled {
  std::int64_t frames_kept = 0;
  double elapsed_seconds = 0;
};

// Where the job's parts live under its GPU-memory budget (issue 24), planned before any work.
struct MemoryPlanned {
  std::string description;  // one line, e.g. "DiT: 28 of 40 blocks resident, 12 streamed through 2 slots; ..."
  std::int64_t budget_bytes = 0;
  int resident_blocks = 0, streamed_blocks = 0;
  bool enforced = false;  // on a GPU; on the CPU the plan is only shown
};

using GenerationEvent = std::variant<PhaseStarted, LorasApplied, GenerationStarted, RowDone, BlockDecoded, WindowDone,
                                     GenerationFinished, GenerationFailed, GenerationCancelled, MemoryPlanned>;
using EventSink = std::function<void(const GenerationEvent&)>;

}  // namespace skyreels
