// `skyreels-bench dit`: one DiT forward at real shapes with random weights: time per call and peak memory.

#include <algorithm>
#include <cmath>
#include <memory>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/cuda.h>

#include "bench.h"
#include "kernels/fused_ops.h"
#include "model/attention.h"
#include "model/block_streamer.h"
#include "model/wan_dit.h"
#include "model/weights.h"
#include "parallel/cfg_groups.h"
#include "parallel/launcher.h"
#include "parallel/process_group.h"
#include "pipeline/memory_plan.h"
#include "pipeline/parallel_plan.h"
#include "telemetry/device_memory.h"

namespace skyreels::bench {

model::WanDitConfig dit_preset(const std::string& name) {
  model::WanDitConfig c;  // defaults are DF-1.3B
  c.inject_sample_info = true;
  if (name == "1.3b") return c;
  if (name == "14b") {
    c.dim = 5120;
    c.ffn_dim = 13824;
    c.num_heads = 40;
    c.num_layers = 40;
    c.inject_sample_info = false;
    return c;
  }
  throw std::invalid_argument("unknown model preset \"" + name + "\" (1.3b or 14b)");
}

model::WanDitConfig dit_config_from_args(const Args& args, const std::string& model_name) {
  auto config = dit_preset(model_name);
  config.dim = args.get_int("dim", config.dim);
  config.ffn_dim = args.get_int("ffn", config.ffn_dim);
  config.num_heads = args.get_int("heads", config.num_heads);
  config.num_layers = args.get_int("layers", config.num_layers);
  config.text_dim = args.get_int("text-dim", config.text_dim);
  config.in_dim = config.out_dim = args.get_int("z-dim", config.in_dim);
  return config;
}

DitInputs random_dit_inputs(const model::WanDitConfig& config, std::int64_t frames, std::int64_t height,
                            std::int64_t width, std::int64_t batch, std::int64_t context_rows, c10::Device device) {
  at::manual_seed(5);
  const auto opts = at::TensorOptions().device(device).dtype(at::kBFloat16);
  DitInputs in;
  in.x = at::randn({1, 16, frames, height / 8, width / 8}, opts);
  in.context = at::randn({batch, context_rows, config.text_dim}, opts);
  in.t = at::randint(0, 1000, {frames}, at::TensorOptions().device(device).dtype(at::kLong));
  return in;
}

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Median seconds of one self-attention call over `tokens` tokens (random bf16 q, k, v).
double attention_seconds(const model::WanDitConfig& c, std::int64_t batch, std::int64_t tokens, c10::Device device,
                         long long repeat) {
  const auto opts = at::TensorOptions().device(device).dtype(at::kBFloat16);
  const auto q = at::randn({batch, tokens, c.num_heads, c.head_dim()}, opts);
  const auto k = at::randn_like(q), v = at::randn_like(q);
  const double scale = 1.0 / std::sqrt(static_cast<double>(c.head_dim()));
  model::attention(q, k, v, scale);
  telemetry::synchronize(device);
  std::vector<double> seconds;
  for (long long i = 0; i < std::max(3ll, repeat); ++i) {
    const auto start = std::chrono::steady_clock::now();
    model::attention(q, k, v, scale);
    telemetry::synchronize(device);
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return median(seconds);
}

}  // namespace

int run_dit(const Args& args) {
  torch::NoGradGuard no_grad;
  const auto model_name = args.get("model", "1.3b");
  const auto frames = args.get_int("frames", 25);
  const auto height = args.get_int("height", 544), width = args.get_int("width", 960);
  const auto batch = args.get_int("batch", 2);
  const auto context_rows = args.get_int("context", 512);
  const auto repeat = args.get_int("repeat", 3);
  const auto chunk = args.get_int("chunk-tokens", model::WanDitCall{}.chunk_tokens);
  const c10::Device device(args.get("device", torch::cuda::is_available() ? "cuda" : "cpu"));

  const bool fused = args.get_int("fused", 1) != 0;
  kernels::set_fused_kernels_enabled(fused);
  const auto backend = args.get("attention", "auto");
  model::set_attention_backend(model::parse_attention_backend(backend));
  const auto config = dit_config_from_args(args, model_name);
  model::WanDit dit(config, at::TensorOptions().device(device).dtype(at::kBFloat16));
  model::randomize_weights(*dit, 1234);
  const bool fp8 = args.get_int("fp8", 0) != 0;
  if (fp8) {
    dit->quantize_fp8();
    telemetry::release_cached_memory(device);
  }
  telemetry::synchronize(device);
  const auto weights = telemetry::memory_stats(device);

  const auto in = random_dit_inputs(config, frames, height, width, batch, context_rows, device);
  const auto &x = in.x, &context = in.context, &t = in.t;
  model::WanDitCall call;
  call.chunk_tokens = chunk;
  // --gpus N: this process is one rank of N (main() started them). --parallel ulysses (default): its
  // tokens are 1/N of the sequence; --parallel cfg (batch 2, N even): its half of the ranks runs one
  // row of the batch (conditional or unconditional) over N/2 ranks, then the halves trade outputs.
  std::unique_ptr<parallel::ProcessGroup> group;
  parallel::CfgProcessGroups cfg_groups;
  const auto parallel_mode = args.get("parallel", "ulysses");
  if (parallel_mode != "ulysses" && parallel_mode != "cfg")
    throw std::runtime_error("--parallel takes ulysses or cfg, not \"" + parallel_mode + "\"");
  const bool cfg_parallel = parallel_mode == "cfg";
  auto rows = context;
  if (parallel::launched_rank()) {
    group = parallel::connect(parallel::ParallelEnv::from_environment(), device);
    call.parallel = group.get();
    if (cfg_parallel) {
      if (batch != 2) throw std::runtime_error("--parallel cfg needs --batch 2 (the conditional and unconditional rows)");
      // The engine's planner names an odd rank count, or heads a half cannot split.
      pipeline::plan_parallel(group->size(), config.num_heads, /*guided=*/true, pipeline::ParallelMode::Cfg);
      cfg_groups = parallel::join_cfg_groups(*group);
      call.parallel = cfg_groups.branch.get();
      rows = context.narrow(0, cfg_groups.branch_index, 1);
    }
  }
  const model::SequenceParallel* pair = cfg_parallel ? cfg_groups.pair : nullptr;
  const bool leader = !group || group->rank() == 0;
  const int ranks = group ? group->size() : 1;
  // One guided call: the batch at once, or each half's row and the exchange.
  auto step = [&] {
    const auto v = dit->forward(x, t, rows, 1, call);
    return pair ? pair->gather_ranks(v[0].contiguous()) : v;
  };

  const auto first = step();  // warm-up: kernels, allocator, library handles
  telemetry::synchronize(device);
  telemetry::reset_peak_memory(device);
  std::vector<double> seconds;
  at::Tensor last;
  for (int i = 0; i < repeat; ++i) {
    const auto start = std::chrono::steady_clock::now();
    last = step();
    telemetry::synchronize(device);
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  // Whether the same call gives the same bytes twice: without it no streamed run can be bitwise equal.
  const bool repeatable = repeat == 0 || at::equal(first, last);
  last = at::Tensor();
  const auto mem = telemetry::memory_stats(device);
  const double per_call = median(seconds);
  // --check 1 with several ranks: rank 0 also runs the whole forward alone and compares.
  double parallel_rel_l2 = -1;
  if (group && args.get_int("check", 0) && leader) {
    model::WanDitCall alone = call;
    alone.parallel = nullptr;
    const auto single = dit->forward(x, t, context, 1, alone).to(at::kFloat);
    parallel_rel_l2 = ((first.to(at::kFloat) - single).norm() / single.norm()).item<double>();
  }
  if (group) group->barrier();
  if (!leader) return 0;

  // --stream-blocks N (issue 24): the same model with its last N blocks moved to host memory and
  // streamed through two device slots, in the same process, against the resident run above;
  // --vram-budget GIB caps the allocator at that budget as the engine does.
  nlohmann::json streamed = nullptr;
  if (const auto n = args.get_int("stream-blocks", 0); n > 0 && !group) {
    std::vector<torch::nn::Module*> blocks;
    for (const auto& b : *dit->blocks) blocks.push_back(b.get());
    auto streamer = std::make_shared<model::BlockStreamer>(blocks, config.num_layers - n, 2, device);
    for (std::int64_t i = config.num_layers - n; i < config.num_layers; ++i) streamer->adopt(i);
    dit->stream_blocks(streamer);
    telemetry::release_cached_memory(device);
    const double budget_gib = args.get_double("vram-budget", 0.0);
    telemetry::cap_device_memory(device, budget_gib > 0 ? pipeline::gib_to_bytes(budget_gib) : 0);
    const auto streamed_first = dit->forward(x, t, context, 1, call);
    telemetry::synchronize(device);
    telemetry::reset_peak_memory(device);
    std::vector<double> streamed_seconds;
    bool streamed_repeatable = true;
    for (int i = 0; i < repeat; ++i) {
      const auto start = std::chrono::steady_clock::now();
      const auto v = dit->forward(x, t, context, 1, call);
      telemetry::synchronize(device);
      streamed_seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      streamed_repeatable = streamed_repeatable && at::equal(v, streamed_first);
    }
    const auto smem = telemetry::memory_stats(device);
    telemetry::cap_device_memory(device, 0);
    const double per_streamed = median(streamed_seconds);
    streamed = {{"streamed_blocks", n},
                {"vram_budget_gib", budget_gib},
                {"seconds_per_call_median", per_streamed},
                {"ratio_to_resident", per_streamed / per_call},
                {"seconds_all", streamed_seconds},
                {"bitwise_equal_to_resident", at::equal(streamed_first, first)},
                {"repeatable", streamed_repeatable},
                {"host_gib", telemetry::to_gib(streamer->host_bytes())},
                {"peak_allocated_gib", telemetry::to_gib(smem.peak_allocated_bytes)},
                {"peak_reserved_gib", telemetry::to_gib(smem.peak_reserved_bytes)}};
    std::printf("[streamed %lld of %lld blocks%s] %.3f s/call = %.3fx resident, bitwise equal %s (repeatable %s), "
                "peak reserved %.2f GiB, host %.2f GiB\n",
                static_cast<long long>(n), static_cast<long long>(config.num_layers),
                budget_gib > 0 ? (", budget " + std::to_string(budget_gib) + " GiB").c_str() : "", per_streamed,
                per_streamed / per_call, at::equal(streamed_first, first) ? "yes" : "NO",
                streamed_repeatable ? "yes" : "NO",
                telemetry::to_gib(smem.peak_reserved_bytes), telemetry::to_gib(streamer->host_bytes()));
  }
  // Self-attention alone at this shape, times the layers: the share of the call no elementwise
  // fusion can touch.
  const double attention = attention_seconds(config, batch, frames * (height / 16) * (width / 16), device, repeat);

  // The memory planner's estimate of this call's activations (memory_plan.cpp) against the measured
  // peak above the weights, so each GPU session checks the constants the budgets rest on.
  pipeline::MemoryNeeds needs;
  needs.dim = config.dim;
  needs.ffn_dim = config.ffn_dim;
  needs.tokens_per_call = pipeline::dit_tokens(frames, height, width);
  needs.chunk_tokens = chunk;
  const double estimated_gib = telemetry::to_gib(pipeline::dit_activation_bytes(needs, static_cast<int>(batch)));
  const double measured_gib = telemetry::to_gib(mem.peak_allocated_bytes - weights.allocated_bytes);
  // And what it plans for the call with the allocator's reserve, against peak reserved beyond the weights.
  const double planned_gib = telemetry::to_gib(pipeline::dit_call_bytes(needs, static_cast<int>(batch)));
  const double reserved_gib = telemetry::to_gib(mem.peak_reserved_bytes - weights.allocated_bytes);

  nlohmann::json result = {
      {"bench", "dit"},
      {"model", model_name},
      {"device", device.str()},
      {"latents", {1, 16, frames, height / 8, width / 8}},
      {"batch", batch},
      {"context_rows", context_rows},
      {"chunk_tokens", chunk},
      {"attention", backend},
      {"ranks", ranks},
      {"parallel", ranks > 1 ? parallel_mode : std::string("none")},
      {"parallel_rel_l2", parallel_rel_l2},
      {"seconds_per_call_median", per_call},
      {"seconds_per_batch1_equivalent", per_call / batch},
      {"seconds_all", seconds},
      {"fused_kernels", fused && kernels::cuda_kernels_built()},
      {"fp8", fp8},
      {"self_attention_seconds_per_call", attention * config.num_layers},
      {"weights_gib", telemetry::to_gib(weights.allocated_bytes)},
      {"peak_allocated_gib", telemetry::to_gib(mem.peak_allocated_bytes)},
      {"peak_reserved_gib", telemetry::to_gib(mem.peak_reserved_bytes)},
      {"activations_gib", measured_gib},
      {"activations_planner_estimate_gib", estimated_gib},
      {"reserved_beyond_weights_gib", reserved_gib},
      {"planned_call_gib", planned_gib},
      {"repeatable", repeatable},
      {"streamed", streamed},
  };
  emit(args, result);
  std::printf("[attention %s%s, %d rank(s)%s%s] ", backend.c_str(), fp8 ? ", fp8" : "", ranks,
              ranks > 1 ? (" " + parallel_mode).c_str() : "",
              parallel_rel_l2 >= 0 ? (", rel L2 vs one rank " + std::to_string(parallel_rel_l2)).c_str() : "");
  std::printf("dit %s latents 16x%lldx%lldx%lld batch %lld on %s: %.3f s/call (%.3f s per batch-1 call), "
              "peak allocated %.2f GiB (weights %.2f; activations %.2f, planner's estimate %.2f), reserved %.2f GiB "
              "(%.2f beyond the weights, planned %.2f); "
              "fused kernels %s; repeatable %s; self-attention %.3f s/call\n",
              model_name.c_str(), static_cast<long long>(frames), static_cast<long long>(height / 8),
              static_cast<long long>(width / 8), static_cast<long long>(batch), device.str().c_str(), per_call,
              per_call / batch, telemetry::to_gib(mem.peak_allocated_bytes), telemetry::to_gib(weights.allocated_bytes),
              measured_gib, estimated_gib, telemetry::to_gib(mem.peak_reserved_bytes), reserved_gib, planned_gib,
              fused && kernels::cuda_kernels_built() ? "on" : "off", repeatable ? "yes" : "NO",
              attention * config.num_layers);
  return 0;
}

}  // namespace skyreels::bench
