// `skyreels-cli generate`: one video from the command line, written block by block as it is decoded.

#include <atomic>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "frame_writer.h"
#include "generate_options.h"
#include "generation_report.h"
#include "pipeline/demo_model.h"
#include "parallel/launcher.h"
#include "parallel/process_group.h"
#include "pipeline/engine.h"
#include "skyreels/error.h"
#include "telemetry/device_memory.h"

#if defined(SKYREELS_CLI_WITH_VIDEO)
#include "video/generation_inputs.h"
#include "video/video_metadata.h"
#endif

namespace skyreels::cli {
namespace {

namespace fs = std::filesystem;
using pipeline::GenerationSettings;

std::atomic<bool> g_cancel{false};

extern "C" void on_interrupt(int) {
  // A second Ctrl-C ends the process at once (the default action).
  if (g_cancel.exchange(true)) std::_Exit(kExitCancelled);
}

c10::Device choose_device(const std::string& text) {
  if (text == "auto") return telemetry::cuda_built() && at::hasCUDA() ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  try {
    const c10::Device device(text);
    if (device.is_cuda() && !(telemetry::cuda_built() && at::hasCUDA()))
      throw Error(ErrorCode::Unsupported, "--device " + text + ": no CUDA device (this build or this machine has none)");
    if (!device.is_cpu() && !device.is_cuda()) throw UsageError("--device must be auto, cpu or cuda[:N]");
    return device;
  } catch (const c10::Error&) {
    throw UsageError("--device must be auto, cpu or cuda[:N], got \"" + text + "\"");
  }
}

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(ErrorCode::NotFound, path + ": cannot read the settings file");
  auto json = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) throw Error(ErrorCode::CorruptFile, path + ": not valid JSON");
  // A whole metadata document (as stored in a video) holds the settings under "settings".
  if (json.is_object() && json.contains("settings") && json["settings"].is_object()) return json["settings"];
  return json;
}

GenerationSettings base_settings(const GenerateOptions& o, const pipeline::Engine& engine) {
  if (!o.from_video.empty()) {
#if defined(SKYREELS_CLI_WITH_VIDEO)
    return pipeline::settings_from_json(video::read_generation_settings(o.from_video));
#else
    throw Error(ErrorCode::Unsupported, "--from-video needs a build with FFmpeg; use --settings with the JSON instead");
#endif
  }
  if (!o.settings_file.empty()) return pipeline::settings_from_json(read_json_file(o.settings_file));
  return engine.default_settings();
}

// Start/end images and the video to extend, at the output size. A portrait start image swaps height
// and width, as the reference does.
pipeline::GenerationRequest load_inputs(const GenerateOptions& o, const GenerationSettings& settings) {
  pipeline::GenerationRequest request;
  const bool any = !o.start_image.empty() || !o.end_image.empty() || !o.extend_video.empty();
  if (!any) {
    request.settings = settings;
    return request;
  }
#if defined(SKYREELS_CLI_WITH_VIDEO)
  return video::load_generation_inputs(settings, o.start_image, o.end_image, o.extend_video);
#else
  throw Error(ErrorCode::Unsupported, "--image, --end-image and --extend need a build with FFmpeg and OpenCV");
#endif
}

fs::path default_output(std::uint64_t seed) {
  char stamp[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
  return std::string("skyreels-") + stamp + "-" + std::to_string(seed) + (video_files_supported() ? ".mp4" : ".safetensors");
}

// Exit code of an error raised before the generation started: the input's fault unless it is a
// runtime failure.
int exit_code_of(ErrorCode code) {
  switch (code) {
    case ErrorCode::Runtime: return kExitFailed;
    case ErrorCode::Cancelled: return kExitCancelled;
    default: return kExitBadInput;
  }
}

void print_json(const nlohmann::json& j) {
  std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  std::fflush(stdout);
}

}  // namespace

int run_generate(const std::vector<std::string>& args) {
  for (const auto& a : args)
    if (a == "--help" || a == "-h") {
      std::fputs(generate_usage(), stdout);
      return kExitOk;
    }
  GenerateOptions o;
  try {
    o = parse_generate_options(args);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "generate: %s\n", e.what());
    return kExitBadInput;
  }

  // Several GPUs: start one process per GPU with the same arguments (and one seed) and wait for them.
  if (o.gpus > 1 && !parallel::launched_rank()) {
    std::vector<std::string> rank_args{"generate"};
    rank_args.insert(rank_args.end(), args.begin(), args.end());
    if (draws_seed(o)) {
      const auto drawn = apply_options(o, {}).seed;
      rank_args.insert(rank_args.end(), {"--seed", std::to_string(drawn)});
    }
    // A terminal's Ctrl-C reaches every rank; the launcher itself just waits for them.
    std::signal(SIGINT, SIG_IGN);
    try {
      const bool cuda = o.device != "cpu";
      return parallel::launch_ranks(rank_args, {o.gpus, cuda});
    } catch (const Error& e) {
      std::fprintf(stderr, "generate: %s\n", e.what());
      return kExitFailed;
    }
  }

  g_cancel = false;
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  auto report_error = [&](const std::string& message, const char* code) {
    std::fprintf(stderr, "generate: %s\n", message.c_str());
    if (o.json) print_json({{"event", "error"}, {"code", code}, {"message", message}});
  };

  std::unique_ptr<FrameWriter> writer;
  fs::path output;
  bool started = false;
  try {
    std::string model = o.model;
    if (model.empty()) {
      model = pipeline::find_demo_model().string();
      if (model.empty())
        throw Error(ErrorCode::NotFound, "no --model given and the demo model is not installed "
                                         "(set SKYREELS_DEMO_MODEL or pass --model DIR)");
    }
    pipeline::EngineOptions engine_options;
    engine_options.device = choose_device(o.device);
    std::unique_ptr<parallel::ProcessGroup> group;
    if (parallel::launched_rank()) {
      group = parallel::connect(parallel::ParallelEnv::from_environment(), engine_options.device);
      engine_options.parallel = group.get();
      if (group->rank() != 0) o.quiet = true, o.json = false;  // rank 0 reports and writes
    }
    const bool leader = !group || group->rank() == 0;
    if (o.reference_path) engine_options.pipeline = pipeline::PipelineOptions::reference_path();
    if (o.vae_tile) {
      engine_options.pipeline.vae_tiling.tile = o.vae_tile->first;
      engine_options.pipeline.vae_tiling.overlap = o.vae_tile->second;
    }
    engine_options.use_prompt_cache = o.prompt_cache;
    pipeline::Engine engine(model, engine_options);

    auto settings = apply_options(o, base_settings(o, engine));
    pipeline::require_valid(settings);
    const auto request = load_inputs(o, settings);
    settings = request.settings;
    if (settings.prompt.empty())
      std::fprintf(stderr, "generate: warning: the prompt is empty (give --prompt TEXT)\n");

    output = o.output.empty() ? default_output(settings.seed) : fs::path(o.output);
    std::error_code ec;
    if (leader && fs::exists(output, ec) && !o.overwrite)
      throw Error(ErrorCode::BadArgument, output.string() + " exists; choose another --output or pass --overwrite");
    if (leader)
      writer = open_frame_writer(output, static_cast<int>(settings.width), static_cast<int>(settings.height),
                                 OutputFormat{settings.fps, o.crf, o.preset}, pipeline::to_json(settings));

    if (!o.quiet)
      std::fprintf(stderr, "model %s (%s layout) on %s, seed %llu, %lldx%lld, %lld frames -> %s\n", model.c_str(),
                   pipeline::to_string(engine.files().layout), engine_options.device.str().c_str(),
                   static_cast<unsigned long long>(settings.seed), static_cast<long long>(settings.width),
                   static_cast<long long>(settings.height), static_cast<long long>(settings.num_frames),
                   output.string().c_str());
    ProgressPrinter progress(stderr);
    auto sink = [&](const pipeline::GenerationEvent& event) {
      if (std::holds_alternative<pipeline::GenerationStarted>(event)) started = true;
      if (const auto* block = std::get_if<pipeline::BlockDecoded>(&event); block && writer) writer->write(block->frames);
      if (!o.quiet) progress(event);
      if (o.json) print_json(event_to_json(event));
    };
    const auto result = engine.generate(request, sink, &g_cancel);
    if (!writer) return result.cancelled ? kExitCancelled : kExitOk;  // another rank: rank 0 wrote the file
    writer->finish();
    const auto frames = writer->frames_written();
    if (!o.quiet)
      std::fprintf(stderr, "%s %lld frames to %s (%s), seed %llu\n", result.cancelled ? "kept" : "wrote",
                   static_cast<long long>(frames), output.string().c_str(), writer->describe().c_str(),
                   static_cast<unsigned long long>(settings.seed));
    if (o.json)
      print_json({{"event", "output"}, {"path", output.string()}, {"frames", frames}, {"seed", settings.seed},
                  {"cancelled", result.cancelled}, {"format", writer->describe()}});
    return result.cancelled ? kExitCancelled : kExitOk;
  } catch (const UsageError& e) {
    report_error(e.what(), "usage");
    return kExitBadInput;
  } catch (const Error& e) {
    report_error(e.what(), to_string(e.code()));
    if (started) {
      // Keep what was finished: the writer's destructor closes a playable file.
      const auto kept = writer ? writer->frames_written() : 0;
      if (kept > 0) std::fprintf(stderr, "generate: kept %lld finished frames in %s\n", static_cast<long long>(kept),
                                 output.string().c_str());
      return kExitFailed;
    }
    return exit_code_of(e.code());
  } catch (const std::exception& e) {
    report_error(e.what(), "runtime");
    if (writer && writer->frames_written() > 0)
      std::fprintf(stderr, "generate: kept %lld finished frames in %s\n",
                   static_cast<long long>(writer->frames_written()), output.string().c_str());
    return kExitFailed;
  }
}

}  // namespace skyreels::cli
