// `skyreels-bench vae`: VAE decode at real sizes with random weights: time, peak memory, and the
// deviation of tiled from untiled decoding.

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
#include "kernels/fused_ops.h"
#include "conformance/metrics.h"
#include "model/wan_vae.h"
#include "model/weights.h"
#include "telemetry/device_memory.h"

namespace skyreels::bench {

int run_vae(const Args& args) {
  torch::NoGradGuard no_grad;
  const auto frames = args.get_int("latents", 25);
  const auto height = args.get_int("height", 544), width = args.get_int("width", 960);
  const auto repeat = args.get_int("repeat", 2);
  const auto tile = args.get_int("tile", 0), overlap = args.get_int("overlap", 8);
  const auto dtype_name = args.get("dtype", "bf16");
  const auto dtype = dtype_name == "fp32" ? at::kFloat : at::kBFloat16;
  const c10::Device device(args.get("device", torch::cuda::is_available() ? "cuda" : "cpu"));
  const bool fused = args.get_int("fused", 1) != 0;
  kernels::set_fused_kernels_enabled(fused);

  model::WanVaeConfig config;  // the official VAE, or smaller with --dim / --z-dim (the demo model's)
  config.dim = args.get_int("dim", config.dim);
  config.z_dim = args.get_int("z-dim", config.z_dim);
  model::WanVae vae(config, at::TensorOptions().device(device).dtype(dtype));
  // Small weights keep random activations in range through the 30-odd layers.
  model::randomize_weights(*vae, 99, 0.02);
  for (auto& p : vae->named_parameters(true))
    if (p.key().find("gamma") != std::string::npos) p.value().fill_(1.0);

  at::manual_seed(3);
  const auto z = at::randn({1, config.z_dim, frames, height / 8, width / 8}, at::TensorOptions().device(device));
  auto decode = [&](std::int64_t tile_size) {
    model::VaeDecodeSession session(vae, {tile_size, overlap});
    return session.decode(z);
  };
  decode(0);  // warm-up
  telemetry::synchronize(device);
  telemetry::reset_peak_memory(device);
  std::vector<double> seconds;
  at::Tensor untiled;
  for (int i = 0; i < repeat; ++i) {
    const auto start = std::chrono::steady_clock::now();
    untiled = decode(0);
    telemetry::synchronize(device);
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(seconds.begin(), seconds.end());
  const auto mem = telemetry::memory_stats(device);

  nlohmann::json result = {{"bench", "vae"}, {"device", device.str()}, {"dtype", dtype_name},
                           {"latents", {1, 16, frames, height / 8, width / 8}}, {"frames_out", untiled.size(2)},
                           {"seconds_median", seconds[seconds.size() / 2]},
                           {"fused_kernels", fused && kernels::cuda_kernels_built()},
                           {"peak_allocated_gib", telemetry::to_gib(mem.peak_allocated_bytes)},
                           {"peak_reserved_gib", telemetry::to_gib(mem.peak_reserved_bytes)}};
  std::printf("vae decode %lld latents %lldx%lld (%s%s) on %s: %.3f s, %lld frames, peak allocated %.2f GiB, reserved %.2f GiB\n",
              static_cast<long long>(frames), static_cast<long long>(height), static_cast<long long>(width),
              dtype_name.c_str(), fused && kernels::cuda_kernels_built() ? ", fused" : "", device.str().c_str(),
              seconds[seconds.size() / 2],
              static_cast<long long>(untiled.size(2)), telemetry::to_gib(mem.peak_allocated_bytes),
              telemetry::to_gib(mem.peak_reserved_bytes));

  if (tile > 0) {
    const auto untiled_cpu = untiled.cpu();
    untiled = at::Tensor();
    telemetry::reset_peak_memory(device);
    const auto start = std::chrono::steady_clock::now();
    const auto tiled = decode(tile);
    telemetry::synchronize(device);
    const double tiled_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const auto tiled_mem = telemetry::memory_stats(device);
    const auto tiled_cpu = tiled.cpu();
    const double rel = conformance::relative_l2(tiled_cpu, untiled_cpu);
    const double mae_levels = conformance::mean_abs_error(tiled_cpu, untiled_cpu) * 127.5;
    const double max_levels = (tiled_cpu - untiled_cpu).abs().max().item<double>() * 127.5;
    result["tiled"] = {{"tile_latent", tile}, {"overlap_latent", overlap}, {"seconds", tiled_seconds},
                       {"peak_allocated_gib", telemetry::to_gib(tiled_mem.peak_allocated_bytes)},
                       {"rel_l2_vs_untiled", rel}, {"mae_levels_vs_untiled", mae_levels},
                       {"max_levels_vs_untiled", max_levels}};
    std::printf("  tiled %lld/%lld: %.3f s, peak allocated %.2f GiB; vs untiled: rel L2 %.3g, mean %.3g and max %.3g levels of 255\n",
                static_cast<long long>(tile), static_cast<long long>(overlap), tiled_seconds,
                telemetry::to_gib(tiled_mem.peak_allocated_bytes), rel, mae_levels, max_levels);
  }
  emit(args, result);
  return 0;
}

}  // namespace skyreels::bench
