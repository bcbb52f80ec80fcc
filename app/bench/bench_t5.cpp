// `skyreels-bench t5`: one umT5-XXL encoder forward (one prompt) at real shapes with random weights:
// time per prompt and peak memory.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/cuda.h>

#include "bench.h"
#include "model/t5_encoder.h"
#include "model/weights.h"
#include "telemetry/device_memory.h"

namespace skyreels::bench {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int run_t5(const Args& args) {
  torch::NoGradGuard no_grad;
  const auto layers = args.get_int("layers", 24);
  const auto tokens = args.get_int("tokens", 512);
  const auto real = args.get_int("prompt-tokens", tokens);
  const auto repeat = args.get_int("repeat", 3);
  const auto dtype_name = args.get("dtype", "bf16");
  const c10::Device device(args.get("device", torch::cuda::is_available() ? "cuda" : "cpu"));
  if (layers < 1 || tokens < 1 || real < 1 || real > tokens || repeat < 1)
    throw std::invalid_argument("need --layers >= 1, --repeat >= 1 and 1 <= --prompt-tokens <= --tokens");
  if (dtype_name != "bf16" && dtype_name != "fp32") throw std::invalid_argument("--dtype must be bf16 or fp32");
  // Weights are bf16 as in models_t5_umt5-xxl-enc-bf16.pth; --dtype picks the compute mode.
  const auto compute = dtype_name == "bf16" ? model::T5Compute::Bf16Autocast : model::T5Compute::Float32;

  model::T5EncoderConfig config;  // umT5-XXL: vocab 256384, dim 4096, 64 heads, ffn 10240
  config.num_layers = layers;
  const auto build_start = std::chrono::steady_clock::now();
  model::T5Encoder t5(config, at::TensorOptions().device(device).dtype(at::kBFloat16), compute);
  model::randomize_weights(*t5, 1234);
  for (auto& p : t5->named_parameters(true))
    if (p.key().find("norm") != std::string::npos) p.value().fill_(1.0);
  telemetry::synchronize(device);
  const double build_seconds = seconds_since(build_start);
  const auto weights = telemetry::memory_stats(device);

  at::manual_seed(5);
  const auto ids = at::randint(3, config.vocab, {1, tokens}, at::TensorOptions().dtype(at::kLong)).to(device);
  auto mask = at::zeros({1, tokens}, at::TensorOptions().dtype(at::kLong));
  mask.narrow(1, 0, real).fill_(1);
  mask = mask.to(device);

  t5->forward(ids, mask);  // warm-up: kernels, allocator, library handles
  telemetry::synchronize(device);
  telemetry::reset_peak_memory(device);
  std::vector<double> seconds;
  for (int i = 0; i < repeat; ++i) {
    const auto start = std::chrono::steady_clock::now();
    const auto out = t5->forward(ids, mask);
    telemetry::synchronize(device);
    seconds.push_back(seconds_since(start));
  }
  const auto mem = telemetry::memory_stats(device);
  const double per_prompt = median(seconds);

  nlohmann::json result = {
      {"bench", "t5"},
      {"device", device.str()},
      {"compute", model::to_string(compute)},
      {"layers", layers},
      {"tokens", tokens},
      {"prompt_tokens", real},
      {"seconds_per_prompt_median", per_prompt},
      {"seconds_per_prompt_24_layers_estimate", per_prompt * 24.0 / static_cast<double>(layers)},
      {"seconds_all", seconds},
      {"build_seconds", build_seconds},
      {"weights_gib", telemetry::to_gib(weights.allocated_bytes)},
      {"peak_allocated_gib", telemetry::to_gib(mem.peak_allocated_bytes)},
      {"peak_reserved_gib", telemetry::to_gib(mem.peak_reserved_bytes)},
  };
  emit(args, result);
  std::printf("t5 umT5-XXL %lld layers, %lld tokens (%lld real), %s on %s: %.3f s/prompt",
              static_cast<long long>(layers), static_cast<long long>(tokens), static_cast<long long>(real),
              model::to_string(compute), device.str().c_str(), per_prompt);
  if (layers != 24) std::printf(" (x24/%lld layers: ~%.2f s)", static_cast<long long>(layers), per_prompt * 24.0 / layers);
  std::printf(", peak %s %.2f GiB (after weights %.2f), reserved %.2f GiB\n",
              device.is_cuda() ? "allocated" : "resident", telemetry::to_gib(mem.peak_allocated_bytes),
              telemetry::to_gib(weights.allocated_bytes), telemetry::to_gib(mem.peak_reserved_bytes));
  return 0;
}

}  // namespace skyreels::bench
