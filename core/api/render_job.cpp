// render_to_file: one job from settings to a file, as every front end runs it.

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "api/engine_impl.h"
#include "api/output_file.h"
#include "lora/lora_identity.h"
#include "pipeline/window_plan.h"
#include "skyreels/engine.h"
#include "skyreels/error.h"
#include "skyreels/log.h"
#include "telemetry/device_memory.h"

namespace skyreels {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

fs::path output_path(const RenderJob& job, const GenerationSettings& settings) {
  if (!job.output.empty()) return job.output;
  const fs::path folder = job.output_folder.empty() ? fs::path(".") : fs::path(job.output_folder);
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (!fs::is_directory(folder, ec)) throw Error(ErrorCode::BadArgument, "cannot create the output folder " + folder.string());
  const auto extension = !job.default_extension.empty() ? job.default_extension
                         : api::video_files_supported() ? std::string(".mp4")
                                                        : std::string(".safetensors");
  return api::new_output_name(folder, settings.prompt, settings.seed, extension);
}

// What a produced video records besides its settings: which model made it and how many frames were
// planned (a file with fewer is a partial one: cancelled, failed or killed), and when it was made (a
// copied file keeps it, unlike its modification time).
nlohmann::json output_metadata(Engine& engine, std::int64_t frames_planned) {
  const auto& model = engine.model();
  char created[32];
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  std::strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return {{"model", {{"name", model.name}, {"layout", model.layout}, {"weights_hash", engine.impl().hash()}}},
          {"output", {{"frames_planned", frames_planned}, {"created", created}}}};
}

// libx264's presets: a misspelt one must not fall back to another encoder.
void check_output_options(const RenderJob& job) {
  static const char* const presets[] = {"ultrafast", "superfast", "veryfast", "faster", "fast",
                                        "medium",    "slow",      "slower",   "veryslow", "placebo"};
  if (std::find(std::begin(presets), std::end(presets), job.preset) == std::end(presets)) {
    std::string names;
    for (const char* p : presets) names += std::string(names.empty() ? "" : ", ") + p;
    throw Error(ErrorCode::BadArgument, "preset \"" + job.preset + "\" is not one of " + names);
  }
  if (job.crf < 0 || job.crf > 51) throw Error(ErrorCode::BadArgument, "crf must be in 0..51, not " + std::to_string(job.crf));
}

}  // namespace

const char* to_string(RenderStatus status) {
  switch (status) {
    case RenderStatus::Finished: return "finished";
    case RenderStatus::Cancelled: return "cancelled";
    case RenderStatus::Failed: return "failed";
  }
  return "?";
}

RenderResult render_to_file(Engine& engine, const RenderJob& job, const EventSink& events,
                            const std::atomic<bool>* cancel) {
  const auto start = Clock::now();
  RenderResult result;
  // Validated once, here: everything the user can get wrong is named before a model loads.
  require_valid(job.request.settings);
  check_output_options(job);
  auto internal = api::load_inputs(job.request);  // a portrait start image swaps height and width
  // Each LoRA's name, size and hash go into the metadata; a missing or changed file is named here.
  lora::record_lora_files(internal.settings.loras);
  result.settings = internal.settings;
  const auto input_frames = internal.input_video.defined() ? internal.input_video.size(1) : 0;
  result.frames_planned = pipeline::plan_generation(internal.settings, input_frames).output_pixel_frames;

  std::unique_ptr<api::OutputFile> output;
  if (engine.leader()) {
    const auto target = output_path(job, internal.settings);
    api::OutputFile::check_target(target, job.overwrite);  // before the weights are hashed for the metadata
    const auto settings_json = to_json(internal.settings);
    const auto extra = output_metadata(engine, result.frames_planned);
    api::OutputFormat format;
    format.width = static_cast<int>(internal.settings.width);
    format.height = static_cast<int>(internal.settings.height);
    format.fps = internal.settings.fps;
    format.crf = job.crf;
    format.preset = job.preset;
    output = api::OutputFile::open(target, format, {&settings_json, &extra}, result.frames_planned, job.overwrite);
    result.format = output->describe();
    for (const auto& path : output->leftovers()) result.unfinished_earlier.push_back(path.string());
  }

  bool started = false;
  auto sink = [&](const GenerationEvent& event) {
    if (std::holds_alternative<GenerationStarted>(event)) started = true;
    // Written first: whatever a front end shows is already in the file.
    if (const auto* block = std::get_if<BlockDecoded>(&event); block && output) output->write(block->frames);
    if (events) events(event);
  };
  try {
    const auto run = engine.impl().engine->generate_validated(internal, sink, cancel);
    result.status = run.cancelled ? RenderStatus::Cancelled : RenderStatus::Finished;
  } catch (const std::exception& e) {
    if (!started) {  // bad input found late (a model part, the inputs' shapes): nothing to keep
      if (output) output->discard();
      throw;
    }
    const auto* error = dynamic_cast<const Error*>(&e);
    result.status = RenderStatus::Failed;
    result.error = error ? error->code() : ErrorCode::Runtime;
    result.message = e.what();
  }

  // Finished, cancelled or failed: the frames written so far become the output.
  if (output) {
    result.frames_written = output->frames_written();
    try {
      if (result.frames_written > 0) result.output = output->publish().string();
      else output->discard();
    } catch (const Error& e) {
      // A finished file that found its target taken stays where it is (the message names it); a file
      // whose writing failed (a full disk) is not worth keeping: nothing is claimed as kept.
      const bool finished_file = e.code() == ErrorCode::BadArgument;
      if (!finished_file) output->discard();
      result.status = RenderStatus::Failed;
      result.error = e.code();
      result.message = (result.message.empty() ? "" : result.message + "; ") +
                       (finished_file ? std::string(e.what()) : "the video was discarded: " + std::string(e.what()));
      result.output.clear();
    }
  }
  result.memory = telemetry::memory_stats(engine.impl().engine->options().device);
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return result;
}

}  // namespace skyreels
