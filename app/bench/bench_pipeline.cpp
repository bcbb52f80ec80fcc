// `skyreels-bench pipeline`: a whole generation (DiT rows + streaming VAE decode) at real shapes with
// random weights, on the engine's fast path and on its reference path (the reference's execution
// choices) in the same process, with their ratio.

#include <chrono>
#include <cstdio>
#include <string>
#include <variant>
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/cuda.h>

#include "bench.h"
#include "conformance/metrics.h"
#include "model/wan_vae.h"
#include "model/weights.h"
#include "pipeline/df_pipeline.h"
#include "telemetry/device_memory.h"

namespace skyreels::bench {
namespace {

struct PathResult {
  std::string path;
  double total_seconds = 0, model_seconds = 0, row_seconds = 0, decode_seconds = 0;
  int rows = 0, model_calls = 0;
  telemetry::MemoryStats memory;
  at::Tensor latents;  // final latents of the last window (CPU), to compare the paths
};

PathResult run_path(pipeline::DfPipeline& pipe, const pipeline::GenerationInputs& inputs, std::uint64_t seed,
                    const std::string& name) {
  const auto device = pipe.device();
  telemetry::synchronize(device);
  telemetry::reset_peak_memory(device);
  PathResult r;
  r.path = name;
  auto sink = [&](const pipeline::GenerationEvent& e) {
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
  r.model_calls = result.plan.model_calls;
  r.memory = telemetry::memory_stats(device);
  r.latents = result.window_latents.back();
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
          {"peak_reserved_gib", telemetry::to_gib(r.memory.peak_reserved_bytes)}};
}

}  // namespace

int run_pipeline(const Args& args) {
  torch::NoGradGuard no_grad;
  const auto model_name = args.get("model", "1.3b");
  const auto paths = args.get("path", "both");  // fast | reference | both
  const c10::Device device(args.get("device", torch::cuda::is_available() ? "cuda" : "cpu"));
  if (paths != "fast" && paths != "reference" && paths != "both")
    throw std::invalid_argument("--path must be fast, reference or both");

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
  const auto plan = pipeline::plan_generation(s);  // bad settings fail here, before any weights

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

  pipeline::DfPipeline pipe(dit, vae);
  std::vector<PathResult> results;
  const std::uint64_t seed = 42;
  if (paths != "reference") results.push_back(run_path(pipe, inputs, seed, "fast"));
  if (paths != "fast") {
    pipe.options() = pipeline::PipelineOptions::reference_path();
    results.push_back(run_path(pipe, inputs, seed, "reference-path"));
  }

  nlohmann::json out = {{"bench", "pipeline"},
                        {"model", model_name},
                        {"device", device.str()},
                        {"settings", pipeline::to_json(s)},
                        {"weights_build_seconds", build_seconds},
                        {"paths", nlohmann::json::array()}};
  for (const auto& r : results) out["paths"].push_back(to_json(r));
  std::printf("| path | total s | DiT s | calls | s/call | s/row | VAE decode s | peak alloc GiB | peak reserved GiB |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& r : results)
    std::printf("| %s | %.1f | %.1f | %d | %.3f | %.3f | %.2f | %.2f | %.2f |\n", r.path.c_str(), r.total_seconds,
                r.model_seconds, r.model_calls, r.model_seconds / std::max(1, r.model_calls),
                r.row_seconds / std::max(1, r.rows), r.decode_seconds, telemetry::to_gib(r.memory.peak_allocated_bytes),
                telemetry::to_gib(r.memory.peak_reserved_bytes));
  if (results.size() == 2) {
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
