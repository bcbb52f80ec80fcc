#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "skyreels/error.h"
#include "skyreels/events.h"
#include "skyreels/settings.h"

// The engine's public API: what a front end (the CLI, the desktop app) includes. No LibTorch header
// reaches it; the engine's internals live behind Engine's pimpl.

namespace skyreels {

struct EngineOptions {
  // "auto" (the first CUDA device when this build and machine have one, else the CPU), "cpu", "cuda"
  // or "cuda:N". A CUDA device in a build or on a machine without one is an Error(Unsupported).
  std::string device = "auto";
  // The reference's execution choices (two guidance calls, per-token float32 modulation, a solver per
  // frame, decode after the window): the same video, slower, to measure against.
  bool reference_path = false;
  // Spatial VAE tiling in latent pixels (0: untiled); less decode memory, slower.
  int vae_tile = 0, vae_tile_overlap = 8;
  bool use_prompt_cache = true;
  std::string prompt_cache_dir;  // empty: $XDG_CACHE_HOME/skyreels-studio/prompt-embeddings
  // In a multi-process run, how the ranks share each job's DiT calls: "auto" (CFG-parallel for guided
  // jobs on an even number of ranks, else Ulysses), "ulysses" or "cfg".
  std::string parallel = "auto";
};

// Which model a folder holds, as a produced video records it.
struct ModelIdentity {
  std::string folder;  // as given (the demo model's folder when none was)
  std::string layout;  // "official" or "diffusers"
  std::string name;    // the folder's name, or "demo"
  bool demo = false;   // the embedded demo model
};

// One generation: settings (prompts included) and the conditioning inputs as files (images: PNG,
// JPEG, ...; a video made by any program). Reading inputs needs a build with FFmpeg and OpenCV.
struct GenerationRequest {
  GenerationSettings settings;
  std::string start_image, end_image, video_to_extend;  // empty: none
};

// A model folder made ready to generate. Models load on first use (the text encoder per batch of
// uncached prompts, the DiT and VAE once, then kept for the next request), so a queue of jobs pays the
// load once. Not thread-safe: one generation at a time, on the calling thread. In a process started
// by launch_ranks (skyreels/ranks.h) the engine joins the other ranks: every rank computes its share of
// the DiT's tokens and only rank 0 (the leader) reports events and writes files.
class Engine {
public:
  // Finds the folder's parts (an Error(NotFound) listing what is missing); loads nothing yet. An empty
  // folder means the embedded demo model.
  explicit Engine(const std::string& model_folder = {}, EngineOptions options = {});
  ~Engine();
  Engine(Engine&&) noexcept;
  Engine& operator=(Engine&&) noexcept;

  const ModelIdentity& model() const noexcept;
  const EngineOptions& options() const noexcept;
  std::string device() const;  // the device in use, e.g. "cpu" or "cuda:0"
  bool leader() const noexcept;

  // The folder's recommended settings (skyreels-defaults.json), or the reference's defaults.
  GenerationSettings recommended_settings() const;

  // Where the job's parts would live under settings.vram_budget_gib, in one line ("DiT: 28 of 40 blocks
  // resident, 12 streamed through 2 slots; CFG as two calls; ...; peak ≈ 7.6 of 8.0 GiB"); empty without
  // a budget. Nothing loads. Invalid settings, or a budget too small for the job, are an Error(BadArgument)
  // naming the figures. Shown, not yet enforced (issue 24).
  std::string memory_plan(const GenerationSettings& settings) const;

  // Loads the DiT and VAE now (a front end may want the load out of the first job's timing). With fp8
  // the DiT's blocks become float8 as they load.
  void load(const EventSink& events = {}, bool fp8 = false);
  // Frees the models (and the allocator's cached blocks).
  void unload();

  // One generation, frames in memory. Settings and inputs are checked before any model loads (an
  // Error: BadArgument, NotFound, ShapeMismatch, Unsupported ...). A failure while running is
  // reported as GenerationFailed and rethrown; frames delivered by BlockDecoded stay valid; a cancel
  // (`cancel` polled after every row) returns the finished part. Returns the frame count.
  std::int64_t generate(const GenerationRequest& request, const EventSink& events = {},
                        const std::atomic<bool>* cancel = nullptr);

  struct Impl;
  Impl& impl() noexcept { return *impl_; }  // the engine's own code (core/api) only

private:
  std::unique_ptr<Impl> impl_;
};

// The folder's recommended settings without building an Engine: skyreels-defaults.json, else the
// reference's defaults. An empty folder means the demo model. Errors as Engine's constructor.
GenerationSettings recommended_settings(const std::string& model_folder);

// The embedded demo model's folder ($SKYREELS_DEMO_MODEL, <exe>/../share/skyreels-studio/demo-model,
// then the build tree's), or an empty string when none exists.
std::string demo_model_folder();
// Writes the demo model into `dir` (the build runs this; the same seed gives the same model).
void write_demo_model(const std::string& dir, std::uint64_t seed = 0);

// Devices this build and machine can run on: "cuda" first when there is one, then "cpu".
std::vector<std::string> available_devices();
// The memory of a device ("cpu", "cuda", "cuda:N"): CUDA's allocator counters, the process's resident
// set on the CPU. Safe from any thread (a stats panel polls it).
MemoryStats memory_stats(const std::string& device);

// --- the job runner -------------------------------------------------------------------------------

// One video from settings to a file: what the CLI's `generate` and the app's queue both run.
struct RenderJob {
  GenerationRequest request;  // a random seed is drawn by the caller with draw_seed() (skyreels/settings.h)
  // .mp4 (H.264), .mkv (FFV1, lossless) or .safetensors (uint8 frames). Empty: a new name
  // <first words of the prompt>-<date>-<time>-<seed>.<default_extension> in `output_folder`
  // (api::output_file_stem: ASCII letters, digits and hyphens).
  std::string output;
  std::string output_folder = ".";
  std::string default_extension;  // empty: .mp4 where this build writes video files, else .safetensors
  int crf = 18;                   // H.264 quality, 0..51
  std::string preset = "medium";  // libx264 speed/size trade-off
  bool overwrite = false;         // replace an existing `output`
};

enum class RenderStatus { Finished, Cancelled, Failed };
const char* to_string(RenderStatus status);

struct RenderResult {
  RenderStatus status = RenderStatus::Failed;
  ErrorCode error = ErrorCode::Invalid;  // why it failed
  std::string message;
  std::string output;  // the file written; empty when no frame was
  std::string format;  // e.g. "H.264 (libx264)"
  std::int64_t frames_written = 0, frames_planned = 0;
  GenerationSettings settings;  // as run: the seed used, a portrait start image's swapped size
  double seconds = 0;           // the whole job, loading included
  MemoryStats memory;           // at the end (peaks over the generation)
  // Unfinished outputs that earlier runs to the same file left (a killed process's NAME.partial.EXT:
  // playable up to where it stopped).
  std::vector<std::string> unfinished_earlier;
  bool partial() const noexcept { return frames_written < frames_planned; }
};

// Runs `job` on `engine`: validates the settings once, loads the inputs, opens the output (its
// metadata: the settings, the model's identity and the frames planned), writes each block as it is
// decoded, and keeps the finished frames in the file when the job is cancelled or fails. Problems
// found before the generation starts (settings, inputs, an existing output, a bad model folder)
// throw skyreels::Error and leave no file; once it has started the result says how it ended. Only
// the leader writes (other ranks return with frames_written 0).
RenderResult render_to_file(Engine& engine, const RenderJob& job, const EventSink& events = {},
                            const std::atomic<bool>* cancel = nullptr);

}  // namespace skyreels
