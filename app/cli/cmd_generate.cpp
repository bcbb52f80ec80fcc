// `skyreels-cli generate`: one video from the command line. Parsing and display around the engine's
// job runner (render_to_file), which validates, loads the inputs and writes the file as blocks decode.

#include <atomic>
#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "generate_options.h"
#include "generation_report.h"
#include "skyreels/cpu_threads.h"
#include "skyreels/engine.h"
#include "skyreels/error.h"
#include "skyreels/media.h"
#include "skyreels/ranks.h"

namespace skyreels::cli {
namespace {

std::atomic<bool> g_cancel{false};

extern "C" void on_interrupt(int) {
  // A second Ctrl-C ends the process at once (the default action).
  if (g_cancel.exchange(true)) std::_Exit(kExitCancelled);
}

// The layers under the options: the model folder's recommended settings, then a settings file's,
// then a produced video's (each replaces what it states).
GenerationSettings base_settings(const GenerateOptions& o, const Engine& engine) {
  auto s = engine.recommended_settings();
  if (!o.settings_file.empty()) s = read_settings_file(o.settings_file, s);
  if (!o.from_video.empty()) s = read_settings_from_video(o.from_video, s);
  return s;
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

// Several GPUs: one process per GPU with the same arguments (and one seed), and wait for them.
int launch(const GenerateOptions& o, const std::vector<std::string>& args) {
  std::vector<std::string> rank_args{"generate"};
  rank_args.insert(rank_args.end(), args.begin(), args.end());
  if (draws_seed(o)) rank_args.insert(rank_args.end(), {"--seed", std::to_string(draw_seed())});
  // A terminal's Ctrl-C reaches every rank; the launcher itself just waits for them.
  std::signal(SIGINT, SIG_IGN);
  try {
    return launch_ranks(rank_args, o.gpus, /*one_gpu_each=*/o.device != "cpu");
  } catch (const Error& e) {
    std::fprintf(stderr, "generate: %s\n", e.what());
    return kExitFailed;
  }
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
  if (o.gpus > 1 && !launched_as_rank()) return launch(o, args);

  g_cancel = false;
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  auto report_error = [&](const std::string& message, const char* code) {
    std::fprintf(stderr, "generate: %s\n", message.c_str());
    if (o.json) print_json({{"event", "error"}, {"code", code}, {"message", message}});
  };

  try {
    EngineOptions options;
    options.device = o.device;
    options.reference_path = o.reference_path;
    options.parallel = o.parallel;
    if (o.vae_tile) {
      options.vae_tile = static_cast<int>(o.vae_tile->first);
      options.vae_tile_overlap = static_cast<int>(o.vae_tile->second);
    }
    options.use_prompt_cache = o.prompt_cache;
    Engine engine(o.model, options);
    if (!engine.leader()) o.quiet = true, o.json = false;  // rank 0 reports and writes

    RenderJob job;  // apply_options draws the seed when it is random (draw_seed(), the one rule)
    job.request.settings = apply_options(o, base_settings(o, engine));
    job.request.start_image = o.start_image;
    job.request.end_image = o.end_image;
    job.request.video_to_extend = o.extend_video;
    job.output = o.output;
    job.crf = o.crf;
    job.preset = o.preset;
    job.overwrite = o.overwrite;
    if (job.request.settings.prompt.empty())
      std::fprintf(stderr, "generate: warning: the prompt is empty (give --prompt TEXT)\n");

    ProgressPrinter progress(stderr);
    bool announced = false;
    auto sink = [&](const GenerationEvent& event) {
      if (!announced && !o.quiet) {  // the first event: the job passed its checks and runs
        announced = true;
        const auto& m = engine.model();
        const auto& s = job.request.settings;
        const int threads = cpu_threads();
        const auto device = engine.device() != "cpu"
                                ? engine.device()
                                : "cpu (" + std::to_string(threads) + (threads == 1 ? " thread)" : " threads)");
        std::fprintf(stderr, "model %s (%s layout) on %s, seed %llu, %lldx%lld, %lld frames\n",
                     m.folder.c_str(), m.layout.c_str(), device.c_str(),
                     static_cast<unsigned long long>(s.seed), static_cast<long long>(s.width),
                     static_cast<long long>(s.height), static_cast<long long>(s.num_frames));
      }
      if (!o.quiet) progress(event);
      if (o.json) print_json(event_to_json(event));
    };
    const auto r = render_to_file(engine, job, sink, &g_cancel);
    if (!engine.leader()) return r.status == RenderStatus::Cancelled ? kExitCancelled : kExitOk;

    const auto& s = r.settings;
    if (r.status == RenderStatus::Failed) {
      report_error(r.message, to_string(r.error));
      if (!r.output.empty())
        std::fprintf(stderr, "generate: kept %lld finished frames in %s\n", static_cast<long long>(r.frames_written),
                     r.output.c_str());
    } else if (!o.quiet) {
      std::fprintf(stderr, "%s %lld frames to %s (%s), seed %llu\n",
                   r.status == RenderStatus::Cancelled ? "kept" : "wrote", static_cast<long long>(r.frames_written),
                   r.output.c_str(), r.format.c_str(), static_cast<unsigned long long>(s.seed));
    }
    for (const auto& path : r.unfinished_earlier)
      std::fprintf(stderr, "generate: note: %s is left from an earlier run that did not finish (playable up to where it "
                   "stopped)\n", path.c_str());
    if (o.json)
      print_json({{"event", "output"}, {"path", r.output}, {"frames", r.frames_written},
                  {"frames_planned", r.frames_planned}, {"seed", s.seed}, {"status", to_string(r.status)},
                  {"cancelled", r.status == RenderStatus::Cancelled}, {"format", r.format}});
    switch (r.status) {
      case RenderStatus::Finished: return kExitOk;
      case RenderStatus::Cancelled: return kExitCancelled;
      case RenderStatus::Failed: return kExitFailed;
    }
    return kExitFailed;
  } catch (const UsageError& e) {
    report_error(e.what(), "usage");
    return kExitBadInput;
  } catch (const Error& e) {
    report_error(e.what(), to_string(e.code()));
    return exit_code_of(e.code());
  } catch (const std::exception& e) {
    report_error(e.what(), "runtime");
    return kExitFailed;
  }
}

}  // namespace skyreels::cli
