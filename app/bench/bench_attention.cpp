// `skyreels-bench attention`: the 8-bit attention against bf16 scaled-dot-product attention on a DiT's
// real self-attention inputs (issue 26): one forward at real shapes with random weights, and at each
// chosen block the 8-bit outputs of the given formats next to the exact one, measured with the bars of
// kernels/quantized_attention.h. Blocks after the last chosen one are not run.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/cuda.h>

#include "bench.h"
#include "conformance/metrics.h"
#include "kernels/quantized_attention.h"
#include "model/attention.h"
#include "model/wan_dit.h"
#include "model/weights.h"
#include "telemetry/device_memory.h"

namespace skyreels::bench {
namespace {

struct Format {
  std::string name;
  kernels::QuantizedAttentionOptions options;
  bool fast_mode = false;  // the `--int8-attention` entry (its GPU kernel where one is built)
};

// "int8-bf16" (the fast mode's), "int8-e4m3", "e4m3-bf16", "e4m3-e4m3": Q·K format, then P·V format.
Format parse_format(const std::string& name) {
  Format f{name, {}, false};
  const auto dash = name.find('-');
  const std::string qk = name.substr(0, dash);
  std::string pv = dash == std::string::npos ? "" : name.substr(dash + 1);
  if (qk == "int8") f.options.qk = kernels::QkFormat::Int8;
  else if (qk == "e4m3") f.options.qk = kernels::QkFormat::Float8E4M3;
  else pv = "?";
  if (pv == "bf16") f.options.pv = kernels::PvFormat::BFloat16;
  else if (pv == "e4m3") f.options.pv = kernels::PvFormat::Float8E4M3;
  else throw std::invalid_argument("unknown attention format \"" + name + "\" (int8-bf16, int8-e4m3, e4m3-bf16, e4m3-e4m3)");
  const kernels::QuantizedAttentionOptions defaults;
  f.fast_mode = f.options.qk == defaults.qk && f.options.pv == defaults.pv;
  return f;
}

// "all" or a comma-separated list of block indices below `layers`.
std::vector<bool> parse_blocks(const std::string& text, std::int64_t layers) {
  std::vector<bool> chosen(static_cast<std::size_t>(layers), text == "all");
  if (text == "all") return chosen;
  for (const auto& part : split(text, ',')) {
    std::size_t used = 0;
    long long i = -1;
    try {
      i = std::stoll(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != part.size() || i < 0 || i >= layers)
      throw std::invalid_argument("--blocks: \"" + part + "\" is not a block of this model (0 to " +
                                  std::to_string(layers - 1) + ", or all)");
    chosen[static_cast<std::size_t>(i)] = true;
  }
  return chosen;
}

// Thrown by the probe after the last chosen block: the rest of the forward is not needed.
struct Enough {};

}  // namespace

int run_attention(const Args& args) {
  torch::NoGradGuard no_grad;
  const auto frames = args.get_int("frames", 25);
  const auto height = args.get_int("height", 544), width = args.get_int("width", 960);
  const auto context_rows = args.get_int("context", 512);
  const c10::Device device(args.get("device", torch::cuda::is_available() ? "cuda" : "cpu"));
  const auto config = dit_config_from_args(args, args.get("model", "1.3b"));
  const auto chosen = parse_blocks(args.get("blocks", "all"), config.num_layers);
  std::vector<Format> formats;
  for (const auto& name : split(args.get("formats", "int8-bf16"), ',')) formats.push_back(parse_format(name));
  if (formats.empty()) throw std::invalid_argument("--formats names no format");
  const auto last = static_cast<std::int64_t>(std::find(chosen.rbegin(), chosen.rend(), true).base() - chosen.begin()) - 1;
  if (last < 0) throw std::invalid_argument("--blocks chooses no block");

  model::WanDit dit(config, at::TensorOptions().device(device).dtype(at::kBFloat16));
  model::randomize_weights(*dit, 1234);  // the weights of `skyreels-bench dit`, and its inputs' conditional row
  const auto in = random_dit_inputs(config, frames, height, width, /*batch=*/1, context_rows, device);

  // --repeat N: one untimed call first (kernel selection, caches), then the mean of N calls.
  const auto repeat = args.get_int("repeat", 1);
  if (repeat < 1) throw std::invalid_argument("--repeat must be at least 1");
  const auto timed = [&](auto&& f) {
    if (repeat > 1) f();
    telemetry::synchronize(device);
    const auto start = std::chrono::steady_clock::now();
    auto out = f();
    for (std::int64_t i = 1; i < repeat; ++i) out = f();
    telemetry::synchronize(device);
    return std::make_pair(out, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() /
                                   static_cast<double>(repeat));
  };
  std::printf("attention: DiT dim %lld, %lld heads of %lld, %lld blocks; %lld frames at %lldx%lld; %s\n",
              static_cast<long long>(config.dim), static_cast<long long>(config.num_heads),
              static_cast<long long>(config.head_dim()), static_cast<long long>(config.num_layers),
              static_cast<long long>(frames), static_cast<long long>(height), static_cast<long long>(width),
              device.str().c_str());
  std::printf("bars: cosine >= %.4f and relative L2 <= %.3f against bf16 attention\n",
              kernels::kQuantizedAttentionMinCosine, kernels::kQuantizedAttentionMaxRelativeL2);
  bool all_pass = true;
  std::int64_t block = 0;
  model::WanDitCall call;
  call.self_attention_probe = [&](const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
    const auto index = block++;
    if (!chosen[static_cast<std::size_t>(index)]) return;
    const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(3)));
    const auto [exact, exact_s] = timed([&] { return model::attention(q, k, v, scale); });
    for (const auto& format : formats) {
      const auto [out, s] = timed([&] {
        return format.fast_mode ? kernels::quantized_attention(q, k, v, scale)
                                : kernels::quantized_attention_reference(q, k, v, scale, format.options);
      });
      const double cos = conformance::cosine_similarity(out, exact), rel = conformance::relative_l2(out, exact);
      const bool pass = cos >= kernels::kQuantizedAttentionMinCosine && rel <= kernels::kQuantizedAttentionMaxRelativeL2;
      all_pass = all_pass && pass;
      std::printf("block %2lld  %-9s  cosine %.5f  relative L2 %.4f  %s  (%lld tokens; %.4f s, bf16 %.4f s%s)\n",
                  static_cast<long long>(index), format.name.c_str(), cos, rel, pass ? "meets the bars" : "MISSES the bars",
                  static_cast<long long>(q.size(1)), s, exact_s,
                  format.fast_mode && kernels::quantized_attention_kernel_applies(q, k, v) ? "; Hopper kernel" : "");
      std::fflush(stdout);
      emit(args, {{"bench", "attention"}, {"block", index}, {"format", format.name}, {"cosine", cos},
                  {"relative_l2", rel}, {"meets_bars", pass}, {"tokens", q.size(1)}, {"heads", q.size(2)},
                  {"seconds", s}, {"bf16_seconds", exact_s}, {"repeat", repeat},
                  {"kernel", format.fast_mode && kernels::quantized_attention_kernel_applies(q, k, v)}, {"frames", frames}, {"height", height},
                  {"width", width}, {"device", device.str()}});
    }
    if (index == last) throw Enough{};
  };
  try {
    dit->forward(in.x, in.t, in.context, 1, call);
  } catch (const Enough&) {
  }
  std::printf("%s\n", all_pass ? "every chosen block meets the bars" : "some blocks miss the bars");
  return 0;
}

}  // namespace skyreels::bench
