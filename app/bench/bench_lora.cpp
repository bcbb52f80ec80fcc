// skyreels-bench lora: merging a LoRA into a DiT at real shapes (random weights), changing it, removing it.

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

#include <ATen/ATen.h>
#include <torch/cuda.h>

#include "bench.h"
#include "io/safetensors.h"
#include "lora/lora_merge.h"
#include "model/weights.h"
#include "telemetry/device_memory.h"

namespace skyreels::bench {
namespace {

namespace fs = std::filesystem;

// A Wan-native LoRA of `rank` on every linear layer of every block (attention q, k, v, o, both kinds;
// the FFN's two), as the large style and motion LoRAs are.
void write_block_lora(const std::string& path, const model::WanDitConfig& c, std::int64_t rank) {
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  const auto add = [&](const std::string& module, std::int64_t out, std::int64_t in) {
    tensors.emplace_back("diffusion_model." + module + ".lora_down.weight", at::randn({rank, in}).to(at::kBFloat16) * 0.01);
    tensors.emplace_back("diffusion_model." + module + ".lora_up.weight", at::randn({out, rank}).to(at::kBFloat16) * 0.01);
    tensors.emplace_back("diffusion_model." + module + ".alpha", at::scalar_tensor(static_cast<double>(rank)));
  };
  for (std::int64_t b = 0; b < c.num_layers; ++b) {
    const auto block = "blocks." + std::to_string(b) + ".";
    for (const char* attn : {"self_attn.", "cross_attn."})
      for (const char* p : {"q", "k", "v", "o"}) add(block + attn + p, c.dim, c.dim);
    add(block + "ffn.0", c.ffn_dim, c.dim);
    add(block + "ffn.2", c.dim, c.ffn_dim);
  }
  io::write_safetensors(path, tensors);
}

}  // namespace

int run_lora(const Args& args) {
  const auto model_name = args.get("model", "1.3b");
  const auto rank = args.get_int("rank", 64);
  const c10::Device device(args.get("device", torch::cuda::is_available() ? "cuda" : "cpu"));
  const auto config = dit_config_from_args(args, model_name);

  const auto dir = fs::temp_directory_path() / ("skyreels-bench-lora-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto path = (dir / "lora.safetensors").string();
  write_block_lora(path, config, rank);
  const auto lora_bytes = static_cast<std::int64_t>(fs::file_size(path));

  model::WanDit dit(config, at::TensorOptions().device(device).dtype(at::kBFloat16));
  model::randomize_weights(*dit, 1234);
  telemetry::synchronize(device);
  lora::LoraMerger merger(*dit);
  const auto timed = [&](const std::vector<lora::LoraUse>& loras) {
    const auto start = std::chrono::steady_clock::now();
    merger.apply(loras);
    telemetry::synchronize(device);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  // First merge (host copies of the originals made), a change of strength (merged again from them),
  // and the removal (copies back).
  const double first = timed({{path, 1.0}});
  const double host_gib = static_cast<double>(merger.original_bytes()) / (1 << 30);
  const double change = timed({{path, 0.5}});
  const double removal = timed({});
  fs::remove_all(dir);

  std::printf("lora merge: %s DiT (%lld blocks), rank %lld on every block's linear layers (%.1f MiB file) on %s\n",
              model_name.c_str(), static_cast<long long>(config.num_layers), static_cast<long long>(rank),
              static_cast<double>(lora_bytes) / (1 << 20), device.str().c_str());
  std::printf("  first merge %.3f s (host copies %.2f GiB), change of strength %.3f s, removal %.3f s\n", first,
              host_gib, change, removal);
  emit(args, {{"bench", "lora"}, {"model", model_name}, {"layers", config.num_layers}, {"rank", rank},
              {"device", device.str()}, {"lora_bytes", lora_bytes}, {"first_merge_s", first}, {"remerge_s", change},
              {"unmerge_s", removal}, {"host_copy_bytes", merger.original_bytes()}});
  return 0;
}

}  // namespace skyreels::bench
