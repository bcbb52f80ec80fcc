// `skyreels-bench adherence`: prompt adherence of a model folder (by default the demo model) on the
// held-out prompts (core/demo/adherence_eval.h), on the exact path and on each fast mode given, with
// the time of each, the detector's rates and each mode's PSNR against the exact path's videos: what
// issue 22 asks to choose the fast modes' recommended settings by.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/cuda.h>

#include "bench.h"
#include "demo/adherence_eval.h"
#include "model/layers.h"
#include "model/wan_vae.h"
#include "pipeline/demo_model.h"
#include "pipeline/engine.h"
#include "pipeline/model_folder.h"
#include "pipeline/pixel_frames.h"
#include "skyreels/cpu_threads.h"

namespace skyreels::bench {
namespace {

// One run of the held-out prompts: the exact path or a fast mode.
struct ModeRun {
  std::string mode;  // "exact" or as --modes names it
  demo::AdherenceReport report;
  std::optional<demo::VideoComparison> vs_exact;  // fast modes
  double speedup = 0;                             // exact generation seconds / this run's
};

// The model's recommended settings with the command line's length, steps and mode.
pipeline::GenerationSettings base_settings(const pipeline::Engine& engine, const Args& args) {
  auto s = engine.default_settings();
  s.prompt.clear();  // each video's is its held-out caption
  s.fp8 = false;
  s.cfg_skip_last_steps = 0;
  s.step_cache_threshold = 0;
  s.int8_attention = false;
  s.has_start_image = s.has_end_image = s.extends_video = false;
  s.num_frames = args.get_int("frames", s.num_frames);
  s.steps = static_cast<int>(args.get_int("steps", s.steps));
  s.guidance_scale = args.get_double("guidance", s.guidance_scale);
  s.shift = args.get_double("shift", s.shift);
  const auto mode = args.get("mode", s.ar_step > 0 ? "async" : "sync");
  if (mode == "sync") {
    s.ar_step = 0;
    s.causal_block_size = 1;
  } else if (mode == "async") {
    // The model's async mode when it recommends one, else the reference's (as skyreels-cli --mode async).
    const bool recommended = s.ar_step > 0;
    s.ar_step = static_cast<int>(args.get_int("ar-step", recommended ? s.ar_step : 5));
    s.causal_block_size = static_cast<int>(args.get_int("causal-block-size", recommended ? s.causal_block_size : 5));
  } else {
    throw std::invalid_argument("--mode must be sync or async");
  }
  s.base_num_frames = s.num_frames;  // one window
  s.overlap_history.reset();
  if (const auto why = pipeline::validate(s); !why.empty()) throw std::invalid_argument(why);
  return s;
}

std::vector<std::uint64_t> seeds_of(const Args& args) {
  std::vector<std::uint64_t> seeds;
  for (const auto& text : split(args.get("seeds", std::to_string(demo::kDefaultEvalSeed)), ',')) {
    std::size_t used = 0;
    try {
      seeds.push_back(std::stoull(text, &used));
    } catch (const std::exception&) {
      used = 0;
    }
    if (text.empty() || used != text.size()) throw std::invalid_argument("--seeds takes numbers, not \"" + text + "\"");
  }
  return seeds;
}

nlohmann::json number(double value) {  // JSON has no infinity or NaN
  return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(std::isnan(value) ? "nan" : "inf");
}

nlohmann::json to_json(const demo::AdherenceRates& r) {
  return {{"prompts", r.prompts}, {"colour", r.colour}, {"background", r.background},
          {"shape", r.shape},     {"motion", r.motion}, {"all", r.all}};
}

template <typename T>
nlohmann::json name_of(const std::optional<T>& value) {
  return value ? nlohmann::json(demo::to_string(*value)) : nlohmann::json(nullptr);
}

nlohmann::json to_json(const ModeRun& run) {
  const auto& report = run.report;
  nlohmann::json prompts = nlohmann::json::array();
  for (const auto& r : report.results) {
    const auto& d = r.detection;
    prompts.push_back({{"prompt", r.prompt},
                       {"seed", r.seed},
                       {"seconds", r.seconds},
                       {"ok", {{"colour", r.card.colour_ok},
                               {"background", r.card.background_ok},
                               {"shape", r.card.shape_ok},
                               {"motion", r.card.motion_ok}}},
                       {"detected", {{"colour", name_of(d.colour)},
                                     {"background", name_of(d.background)},
                                     {"shape", name_of(d.shape)},
                                     {"motion", name_of(d.motion)}}}});
  }
  nlohmann::json out = {{"mode", run.mode},
                        {"fp8", report.settings.fp8},
                        {"cfg_skip_last_steps", report.settings.cfg_skip_last_steps},
                        {"step_cache_threshold", report.settings.step_cache_threshold},
                        {"generation_seconds", report.generation_seconds},
                        {"wall_seconds", report.wall_seconds},
                        {"rates", to_json(report.rates)},
                        {"missed_targets", demo::missed_rate_targets(report.rates)},
                        {"prompts", prompts}};
  if (run.vs_exact) {
    out["speedup_vs_exact"] = run.speedup;
    out["video_psnr_db_vs_exact"] = {{"mean", number(run.vs_exact->mean_psnr_db)},
                                     {"min", number(run.vs_exact->min_psnr_db)},
                                     {"identical_videos", run.vs_exact->identical},
                                     {"videos", run.vs_exact->videos}};
  }
  return out;
}

// --ceiling 1: the detector on the held-out scenes' procedural renders and on their round trip through
// the folder's VAE (demo::evaluate_vae_round_trip), at the run's size and seeds: what the DiT can at best
// reach, which tells a VAE that loses the shape from a DiT that never learnt it.
void print_ceiling(const std::string& folder, c10::Device device, const pipeline::GenerationSettings& base,
                   const demo::EvalOptions& eval) {
  auto vae = model::load_wan_vae(pipeline::locate_model_files(folder).vae, device, at::kFloat);
  demo::EvalOptions options = eval;
  options.on_result = {};
  options.keep_videos = true;
  const auto trip = demo::evaluate_vae_round_trip(*vae, base.num_frames, base.height, base.width, options);
  // Each round trip's render again: the detector on it (all right, or the detector misreads), and the
  // PSNR of the whole decoded video against it.
  std::vector<demo::PromptResult> renders;
  double video_psnr_db = 0;  // mean over the videos, each over all its frames
  for (const auto& t : trip.results) {
    const auto scene = t.combination.scene();
    const auto render =
        pipeline::pixels_to_uint8(demo::render(scene, base.num_frames, base.height, base.width, t.seed));
    demo::PromptResult r;
    r.detection = demo::detect(render);
    r.card = demo::score(r.detection, scene);
    renders.push_back(std::move(r));
    video_psnr_db += demo::psnr(t.video, render);
  }
  video_psnr_db /= static_cast<double>(trip.results.size());
  const auto rendered = demo::rates_of(renders);
  std::printf("| ceiling | colour | background | shape | motion | all four | frame 0 PSNR dB (mean / min) | video PSNR dB |\n"
              "|---|---|---|---|---|---|---|---|\n");
  std::printf("| render | %.2f | %.2f | %.2f | %.2f | %.2f | - | - |\n", rendered.colour, rendered.background,
              rendered.shape, rendered.motion, rendered.all);
  const auto& r = trip.rates;
  std::printf("| VAE round trip | %.2f | %.2f | %.2f | %.2f | %.2f | %.1f / %.1f | %.1f |\n", r.colour, r.background,
              r.shape, r.motion, r.all, trip.mean_first_frame_psnr_db(), trip.min_first_frame_psnr_db(), video_psnr_db);
  for (const auto& t : trip.results)
    if (!t.card.shape_ok)
      std::printf("VAE round trip: %s read as %s\n", t.prompt.c_str(),
                  t.detection.shape ? demo::to_string(*t.detection.shape) : "nothing");
}

}  // namespace

int run_adherence(const Args& args) {
  torch::NoGradGuard no_grad;
  const auto folder = args.get("model", pipeline::find_demo_model().string());
  if (folder.empty())
    throw std::invalid_argument("no demo model found (build it, or set SKYREELS_DEMO_MODEL); give --model DIR");
  pipeline::EngineOptions options;
  options.device = c10::Device(args.get("device", torch::cuda::is_available() ? "cuda" : "cpu"));
  pipeline::Engine engine(folder, options);
  const auto base = base_settings(engine, args);

  demo::EvalOptions eval;
  const auto prompts = args.get_int("prompts", static_cast<long long>(demo::held_out_combinations().size()));
  if (prompts < 1) throw std::invalid_argument("--prompts must be at least 1");
  eval.combinations = demo::held_out_subset(static_cast<std::size_t>(prompts));
  eval.seeds = seeds_of(args);
  eval.keep_videos = true;
  eval.on_result = [](const demo::PromptResult& r, std::size_t done, std::size_t total) {
    std::fprintf(stderr, "\r  %zu/%zu  %.1f s  %-60s", done, total, r.seconds, r.prompt.c_str());
  };

  // The exact path first, then each fast mode; modes with float8 last (the DiT reloads for them).
  auto modes = split(args.get("modes", ""), ',');
  std::stable_partition(modes.begin(), modes.end(),
                        [](const std::string& m) { return m.find("fp8") == std::string::npos; });
  for (const auto& m : modes)  // bad modes fail before any model loads
    if (with_fast_mode(base, m).fp8)
      if (const auto why = model::fp8_unsupported_reason(options.device); !why.empty())
        throw std::invalid_argument("fast mode \"" + m + "\": " + why);

  std::fprintf(stderr, "adherence bench: %s on %s, %lld frames %lldx%lld, %d steps, %s, %zu prompts x %zu seeds\n",
               folder.c_str(), options.device.str().c_str(), static_cast<long long>(base.num_frames),
               static_cast<long long>(base.width), static_cast<long long>(base.height), base.steps,
               base.ar_step == 0 ? "sync" : "async", eval.combinations.size(), eval.seeds.size());
  {  // Warm-up, not timed: models loaded, the first prompt encoded, the device's kernels chosen.
    demo::EvalOptions warm;
    warm.combinations = {eval.combinations.front()};
    warm.seeds = {eval.seeds.front()};
    demo::evaluate_prompts(engine, base, warm);
  }

  std::vector<ModeRun> runs;
  modes.insert(modes.begin(), "exact");
  for (const auto& m : modes) {
    ModeRun run;
    run.mode = m;
    std::fprintf(stderr, "%s:\n", m.c_str());
    run.report = demo::evaluate_prompts(engine, m == "exact" ? base : with_fast_mode(base, m), eval);
    std::fprintf(stderr, "\n");
    if (!runs.empty()) {
      const auto& exact = runs.front().report;
      run.vs_exact = demo::compare_videos(run.report, exact);
      run.speedup = exact.generation_seconds / run.report.generation_seconds;
      for (auto& r : run.report.results) r.video = at::Tensor();  // only the exact path's are needed later
    }
    runs.push_back(std::move(run));
  }

  std::printf("| mode | generation s | speed-up | colour | background | shape | motion | all four | "
              "PSNR vs exact dB (mean / min) | targets |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& run : runs) {
    const auto& r = run.report.rates;
    const auto missed = demo::missed_rate_targets(r);
    char psnr[64] = "-";
    if (run.vs_exact)
      std::snprintf(psnr, sizeof psnr, "%.2f / %.2f", run.vs_exact->mean_psnr_db, run.vs_exact->min_psnr_db);
    std::printf("| %s | %.1f | %.2fx | %.2f | %.2f | %.2f | %.2f | %.2f | %s | %s |\n", run.mode.c_str(),
                run.report.generation_seconds, run.vs_exact ? run.speedup : 1.0, r.colour, r.background, r.shape,
                r.motion, r.all, psnr, missed.empty() ? "met" : missed.c_str());
  }

  if (args.get_int("ceiling", 0) != 0) print_ceiling(folder, options.device, base, eval);

  nlohmann::json out = {{"bench", "adherence"},
                        {"model", folder},
                        {"device", options.device.str()},
                        {"cpu_threads", cpu_threads()},
                        {"settings", pipeline::to_json(base)},
                        {"held_out_prompts", eval.combinations.size()},
                        {"seeds", eval.seeds},
                        {"modes", nlohmann::json::array()}};
  for (const auto& run : runs) out["modes"].push_back(to_json(run));
  emit(args, out);
  return 0;
}

}  // namespace skyreels::bench
