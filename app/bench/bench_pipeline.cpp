// `skyreels-bench pipeline`: a whole generation (DiT rows + streaming VAE decode) at real shapes with
// random weights, on the engine's fast path and on its reference path (the reference's execution
// choices) in the same process, with their ratio.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/cuda.h>

#include "bench.h"
#include "conformance/metrics.h"
#include "demo/adherence_eval.h"
#include "io/tensor_source.h"
#include "model/layers.h"
#include "model/wan_dit.h"
#include "model/wan_vae.h"
#include "model/weights.h"
#include "pipeline/df_pipeline.h"
#include "pipeline/memory_needs.h"
#include "pipeline/memory_plan.h"
#include "skyreels/cpu_threads.h"
#include "telemetry/device_memory.h"

namespace skyreels::bench {
namespace {

struct PathResult {
  std::string path;
  double total_seconds = 0, model_seconds = 0, row_seconds = 0, decode_seconds = 0;
  int rows = 0, model_calls = 0, cfg_skipped_rows = 0, cached_rows = 0;
  telemetry::MemoryStats memory;
  // Peak allocated while the DiT rows ran and while the VAE decoded (each event closes a phase).
  std::int64_t rows_peak_bytes = 0, decode_peak_bytes = 0;
  at::Tensor latents;  // final latents of the last window (CPU), to compare the paths
  at::Tensor video;    // uint8 frames
  // Against the exact fast path (fast modes only).
  double speedup = 0, latents_rel_l2 = -1, video_psnr_db = -1;
};

PathResult run_path(pipeline::DfPipeline& pipe, const pipeline::GenerationInputs& inputs, std::uint64_t seed,
                    const std::string& name) {
  const auto device = pipe.device();
  telemetry::synchronize(device);
  telemetry::reset_peak_memory(device);
  PathResult r;
  r.path = name;
  std::int64_t overall_peak = 0, overall_reserved = 0;
  // The sink runs on the generating thread between the phases: the peak since the last event is the
  // phase's that this event ends. "Rows" also holds what precedes a row: input preparation, prefix
  // and end-image encodes, and decodes that deliver no frame (a dropped overlap).
  const auto close_phase = [&](std::int64_t& phase_peak) {
    telemetry::synchronize(device);
    const auto stats = telemetry::memory_stats(device);
    phase_peak = std::max(phase_peak, stats.peak_allocated_bytes);
    overall_peak = std::max(overall_peak, stats.peak_allocated_bytes);
    overall_reserved = std::max(overall_reserved, stats.peak_reserved_bytes);
    telemetry::reset_peak_memory(device);  // both peaks
  };
  auto sink = [&](const pipeline::GenerationEvent& e) {
    if (std::holds_alternative<pipeline::RowDone>(e)) close_phase(r.rows_peak_bytes);
    if (std::holds_alternative<pipeline::BlockDecoded>(e)) close_phase(r.decode_peak_bytes);
    if (const auto* row = std::get_if<pipeline::RowDone>(&e)) {
      r.model_seconds += row->model_seconds;
      r.row_seconds += row->row_seconds;
      ++r.rows;
      std::fprintf(stderr, "\r  %s: row %d/%d  %.2f s/row", name.c_str(), row->rows_done, row->rows_total,
                   row->row_seconds);
    } else if (const auto* block = std::get_if<pipeline::BlockDecoded>(&e)) {
      r.decode_seconds += block->decode_seconds;
    }
  };
  pipeline::SeededNoise noise(seed, device);
  const auto start = std::chrono::steady_clock::now();
  const auto result = pipe.generate(inputs, noise, sink);
  telemetry::synchronize(device);
  r.total_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr, "\n");
  r.model_calls = result.model_calls_run;
  r.cfg_skipped_rows = result.cfg_skipped_rows;
  r.cached_rows = result.cached_rows;
  r.memory = telemetry::memory_stats(device);
  r.memory.peak_allocated_bytes = std::max(r.memory.peak_allocated_bytes, overall_peak);
  r.memory.peak_reserved_bytes = std::max(r.memory.peak_reserved_bytes, overall_reserved);
  r.latents = result.window_latents.back();
  r.video = result.video;
  return r;
}

nlohmann::json to_json(const PathResult& r) {
  return {{"path", r.path},
          {"total_seconds", r.total_seconds},
          {"dit_seconds", r.model_seconds},
          {"rows", r.rows},
          {"model_calls", r.model_calls},
          {"seconds_per_model_call", r.model_seconds / std::max(1, r.model_calls)},
          {"seconds_per_row", r.row_seconds / std::max(1, r.rows)},
          {"vae_decode_seconds", r.decode_seconds},
          {"peak_allocated_gib", telemetry::to_gib(r.memory.peak_allocated_bytes)},
          {"peak_reserved_gib", telemetry::to_gib(r.memory.peak_reserved_bytes)},
          {"rows_peak_allocated_gib", telemetry::to_gib(r.rows_peak_bytes)},
          {"decode_peak_allocated_gib", telemetry::to_gib(r.decode_peak_bytes)},
          {"cfg_skipped_rows", r.cfg_skipped_rows},
          {"cached_rows", r.cached_rows},
          {"speedup_vs_exact_fast_path", r.speedup},
          {"final_latents_rel_l2_vs_exact", r.latents_rel_l2},
          {"video_psnr_db_vs_exact", std::isfinite(r.video_psnr_db) ? nlohmann::json(r.video_psnr_db) : nlohmann::json("inf")}};
}

// The DiT reloaded as the Engine loads it: from host copies of its weights, block by block, so the
// device never holds two models (a float8 run, or one whose last blocks stream from host memory). The
// old model is freed first; the seconds and the device peak of the load are returned.
std::pair<double, std::int64_t> reload_dit(model::WanDit& dit, std::unique_ptr<pipeline::DfPipeline>& pipe,
                                           const model::WanVae& vae, c10::Device device, bool fp8,
                                           const model::DitStreaming& streaming = {}) {
  std::vector<std::pair<std::string, at::Tensor>> host;
  for (const auto& p : dit->named_parameters(true)) host.emplace_back(p.key(), p.value().cpu());
  const auto config = dit->config();
  pipe.reset();
  dit = model::WanDit(nullptr);
  telemetry::release_cached_memory(device);
  telemetry::reset_peak_memory(device);
  const auto start = std::chrono::steady_clock::now();
  dit = model::load_wan_dit(io::memory_source(std::move(host), "the bench's random weights"), config, device, fp8,
                            streaming);
  telemetry::release_cached_memory(device);  // as Engine::load does after a float8 load
  telemetry::synchronize(device);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  pipe = std::make_unique<pipeline::DfPipeline>(dit, vae);
  return {seconds, telemetry::memory_stats(device).peak_allocated_bytes};
}

// The DiT's weights as the planner reads a checkpoint (shapes only: nothing is copied).
io::TensorSourcePtr weights_of(const model::WanDit& dit) {
  std::vector<std::pair<std::string, at::Tensor>> weights;
  for (const auto& p : dit->named_parameters(true)) weights.emplace_back(p.key(), p.value());
  return io::memory_source(std::move(weights), "the bench's DiT");
}

}  // namespace

int run_pipeline(const Args& args) {
  torch::NoGradGuard no_grad;
  const auto model_name = args.get("model", "1.3b");
  const auto paths = args.get("path", "both");  // fast | reference | both
  const c10::Device device(args.get("device", torch::cuda::is_available() ? "cuda" : "cpu"));
  if (paths != "fast" && paths != "reference" && paths != "both")
    throw std::invalid_argument("--path must be fast, reference or both");
  // by-block: float8 modes reload the DiT as the Engine does; in-place converts the resident bf16 model.
  const auto fp8_load = args.get("fp8-load", "by-block");
  if (fp8_load != "by-block" && fp8_load != "in-place")
    throw std::invalid_argument("--fp8-load must be by-block or in-place");

  pipeline::GenerationInputs inputs;
  auto& s = inputs.settings;
  s.height = args.get_int("height", 544);
  s.width = args.get_int("width", 960);
  s.num_frames = args.get_int("frames", 97);
  s.steps = static_cast<int>(args.get_int("steps", 30));
  s.guidance_scale = std::stod(args.get("guidance", "6"));
  s.shift = std::stod(args.get("shift", "8"));
  s.ar_step = static_cast<int>(args.get_int("ar-step", 0));
  s.causal_block_size = static_cast<int>(args.get_int("causal-block-size", 1));
  s.base_num_frames = args.get_int("base-frames", s.num_frames);
  if (args.has("overlap")) s.overlap_history = args.get_int("overlap", 17);
  s.addnoise_condition = static_cast<int>(args.get_int("addnoise", 0));
  pipeline::require_valid(s);  // bad settings fail here, before any weights
  const auto plan = pipeline::plan_generation(s);

  // --modes "cfg-skip:6,step-cache:0.1,fp8": each fast mode after the exact paths, compared with the
  // exact fast path. A DiT with float8 weights cannot run exact again, so modes with fp8 run last.
  auto modes = split(args.get("modes", ""), ',');
  std::stable_partition(modes.begin(), modes.end(), [](const std::string& m) { return m.find("fp8") == std::string::npos; });
  for (const auto& m : modes)  // bad modes fail before any weights
    if (with_fast_mode(s, m).fp8)
      if (const auto why = model::fp8_unsupported_reason(device); !why.empty())
        throw std::invalid_argument("fast mode \"" + m + "\": " + why);
  if (!modes.empty() && paths == "reference") throw std::invalid_argument("--modes compares with the fast path");
  // --vram-budget GiB (issue 24): after the resident run, the same job under the memory planner's plan
  // for that budget (last blocks streamed from host memory, VAE tiles, the DiT parked for the last
  // decode) with the allocator capped at it, compared with the resident fast path and with the resident
  // DiT run with the plan's execution choices.
  const double budget_gib = std::stod(args.get("vram-budget", "0"));
  if (budget_gib < 0) throw std::invalid_argument("--vram-budget must be a positive number of GiB");
  if (budget_gib > 0 && !device.is_cuda()) throw std::invalid_argument("--vram-budget needs a CUDA device");
  if (budget_gib > 0 && (!modes.empty() || paths == "reference"))
    throw std::invalid_argument("--vram-budget compares with the resident fast path: without --modes or --path reference");

  const auto config = dit_preset(model_name);
  const auto build_start = std::chrono::steady_clock::now();
  model::WanDit dit(config, at::TensorOptions().device(device).dtype(at::kBFloat16));
  model::randomize_weights(*dit, 1234);
  model::WanVae vae(model::WanVaeConfig{}, at::TensorOptions().device(device).dtype(at::kBFloat16));
  model::randomize_weights(*vae, 99, 0.02);  // small weights keep random activations in range
  for (auto& p : vae->named_parameters(true))
    if (p.key().find("gamma") != std::string::npos) p.value().fill_(1.0);
  at::manual_seed(7);
  const auto context_opts = at::TensorOptions().device(device).dtype(at::kBFloat16);
  inputs.context = at::randn({1, 512, config.text_dim}, context_opts);
  inputs.negative_context = at::randn({1, 512, config.text_dim}, context_opts);
  telemetry::synchronize(device);
  const double build_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - build_start).count();
  std::fprintf(stderr, "pipeline bench: %s, %lldx%lld, %lld frames, %d steps, ar_step %d, cbs %d: %zu window(s), %d rows\n",
               model_name.c_str(), static_cast<long long>(s.width), static_cast<long long>(s.height),
               static_cast<long long>(s.num_frames), s.steps, s.ar_step, s.causal_block_size, plan.windows.size(),
               plan.total_rows);

  // The plan before any run: a budget too small for the job fails here, naming what does not fit.
  std::optional<pipeline::MemoryPlan> memory_plan;
  if (budget_gib > 0) {
    memory_plan = pipeline::plan_memory(pipeline::gib_to_bytes(budget_gib),
                                        pipeline::memory_needs(*weights_of(dit), s, pipeline::PipelineOptions{}, 0));
    std::fprintf(stderr, "memory plan: %s\n", memory_plan->description.c_str());
  }

  auto pipe = std::make_unique<pipeline::DfPipeline>(dit, vae);
  nlohmann::json out_budget = nullptr;
  std::vector<PathResult> results;
  const std::uint64_t seed = 42;
  if (paths != "reference") results.push_back(run_path(*pipe, inputs, seed, "fast"));
  if (paths != "fast") {
    pipe->options() = pipeline::PipelineOptions::reference_path();
    results.push_back(run_path(*pipe, inputs, seed, "reference-path"));
  }
  pipe->options() = pipeline::PipelineOptions{};
  if (memory_plan) {
    // The control: the resident DiT with the plan's execution choices (CFG split or batched, VAE tiles),
    // which change the numbers; only streaming and the cap differ between it and the budget run, so
    // those two must agree bit for bit.
    pipeline::apply_memory_plan(*memory_plan, pipe->options());
    results.push_back(run_path(*pipe, inputs, seed, "resident, plan's choices"));
    model::DitStreaming streaming;
    streaming.streamed_blocks = memory_plan->streamed_blocks;
    streaming.stream_slots = std::max(2, memory_plan->stream_slots);
    const double load_seconds = reload_dit(dit, pipe, vae, device, /*fp8=*/false, streaming).first;
    pipeline::apply_memory_plan(*memory_plan, pipe->options());
    telemetry::cap_device_memory(device, memory_plan->budget_bytes);
    auto r = run_path(*pipe, inputs, seed, "budget " + pipeline::gib_text(memory_plan->budget_bytes));
    telemetry::cap_device_memory(device, 0);
    const auto& resident = results.front();
    const auto& control = results.back();
    r.speedup = resident.total_seconds / r.total_seconds;
    r.latents_rel_l2 = conformance::relative_l2(r.latents, resident.latents);
    r.video_psnr_db = demo::psnr(r.video, resident.video);
    out_budget = {{"plan", memory_plan->description},
                  {"budget_gib", budget_gib},
                  {"resident_blocks", memory_plan->resident_blocks},
                  {"streamed_blocks", memory_plan->streamed_blocks},
                  {"vae_tile_latents", memory_plan->vae_tile},
                  {"planned_peak_gib", telemetry::to_gib(memory_plan->peak)},
                  {"load_seconds", load_seconds},
                  {"time_ratio_to_resident", r.total_seconds / resident.total_seconds},
                  {"dit_time_ratio_to_resident", r.model_seconds / resident.model_seconds},
                  {"time_ratio_to_control", r.total_seconds / control.total_seconds},
                  {"latents_bitwise_equal_to_control", at::equal(r.latents, control.latents)},
                  {"video_bitwise_equal_to_control", at::equal(r.video, control.video)},
                  {"video_psnr_db_vs_resident", std::isfinite(r.video_psnr_db) ? nlohmann::json(r.video_psnr_db)
                                                                                : nlohmann::json("inf")},
                  {"peak_reserved_within_budget", r.memory.peak_reserved_bytes <= memory_plan->budget_bytes}};
    results.push_back(std::move(r));
  }
  double fp8_load_seconds = -1;
  std::int64_t fp8_load_peak_bytes = 0;
  for (const auto& m : modes) {
    auto mode_inputs = inputs;
    mode_inputs.settings = with_fast_mode(s, m);
    if (mode_inputs.settings.fp8 && !pipe->dit()->fp8() && fp8_load == "by-block") {
      std::tie(fp8_load_seconds, fp8_load_peak_bytes) = reload_dit(dit, pipe, vae, device, /*fp8=*/true);
      std::fprintf(stderr, "float8 DiT loaded block by block in %.1f s, device peak %.2f GiB\n", fp8_load_seconds,
                   telemetry::to_gib(fp8_load_peak_bytes));
    }
    auto r = run_path(*pipe, mode_inputs, seed, m);
    const auto& exact = results.front();
    r.speedup = exact.total_seconds / r.total_seconds;
    r.latents_rel_l2 = conformance::relative_l2(r.latents, exact.latents);
    r.video_psnr_db = demo::psnr(r.video, exact.video);
    results.push_back(std::move(r));
  }

  nlohmann::json out = {{"bench", "pipeline"},
                        {"model", model_name},
                        {"device", device.str()},
                        {"cpu_threads", cpu_threads()},
                        {"settings", pipeline::to_json(s)},
                        {"weights_build_seconds", build_seconds},
                        {"fp8_load", fp8_load},
                        {"paths", nlohmann::json::array()}};
  if (memory_plan) out["vram_budget"] = out_budget;
  if (fp8_load_seconds >= 0) {
    out["fp8_load_seconds"] = fp8_load_seconds;
    out["fp8_load_peak_allocated_gib"] = telemetry::to_gib(fp8_load_peak_bytes);
  }
  for (const auto& r : results) out["paths"].push_back(to_json(r));
  std::printf("| path | total s | DiT s | calls | s/call | s/row | VAE decode s | peak alloc GiB (rows / decode) | "
              "peak reserved GiB |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& r : results)
    std::printf("| %s | %.1f | %.1f | %d | %.3f | %.3f | %.2f | %.2f (%.2f / %.2f) | %.2f |\n", r.path.c_str(),
                r.total_seconds, r.model_seconds, r.model_calls, r.model_seconds / std::max(1, r.model_calls),
                r.row_seconds / std::max(1, r.rows), r.decode_seconds, telemetry::to_gib(r.memory.peak_allocated_bytes),
                telemetry::to_gib(r.rows_peak_bytes), telemetry::to_gib(r.decode_peak_bytes),
                telemetry::to_gib(r.memory.peak_reserved_bytes));
  for (const auto& r : results)
    if (r.latents_rel_l2 >= 0 && !memory_plan)
      std::printf("fast mode %s: %.2fx the exact fast path, %d calls (%d rows without uncond, %d cached rows); "
                  "final latents rel L2 %.4f, video PSNR %.2f dB\n",
                  r.path.c_str(), r.speedup, r.model_calls, r.cfg_skipped_rows, r.cached_rows, r.latents_rel_l2,
                  r.video_psnr_db);
  if (memory_plan)
    std::printf("under the budget (%s): %.3fx the resident time (DiT %.3fx), %.3fx the resident run with the plan's "
                "choices; peak reserved %.2f GiB of %.2f; latents %s, video %s that run's; video %.2f dB against the "
                "resident run's\n",
                memory_plan->description.c_str(), out_budget["time_ratio_to_resident"].get<double>(),
                out_budget["dit_time_ratio_to_resident"].get<double>(), out_budget["time_ratio_to_control"].get<double>(),
                telemetry::to_gib(results.back().memory.peak_reserved_bytes), budget_gib,
                out_budget["latents_bitwise_equal_to_control"].get<bool>() ? "bitwise equal to" : "differ from",
                out_budget["video_bitwise_equal_to_control"].get<bool>() ? "bitwise equal to" : "differs from",
                results.back().video_psnr_db);
  if (fp8_load_seconds >= 0)
    std::printf("float8 DiT loaded block by block from host memory: %.1f s, device peak %.2f GiB\n",
                fp8_load_seconds, telemetry::to_gib(fp8_load_peak_bytes));
  if (results.size() >= 2 && results[1].path == "reference-path") {
    const double speedup = results[1].total_seconds / results[0].total_seconds;
    const double rel = conformance::relative_l2(results[0].latents, results[1].latents);
    out["speedup_vs_reference_path"] = speedup;
    out["final_latents_rel_l2_fast_vs_reference_path"] = rel;
    std::printf("fast path: %.2fx the reference path's speed; final latents differ by rel L2 %.3g (bf16 rounding)\n",
                speedup, rel);
  }
  emit(args, out);
  return 0;
}

}  // namespace skyreels::bench
