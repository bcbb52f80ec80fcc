// skyreels-bench: the engine at real shapes with random weights; no checkpoint needed.

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <c10/util/Exception.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "bench.h"
#include "parallel/launcher.h"
#include "skyreels/cpu_threads.h"
#include "skyreels/error.h"

namespace skyreels::bench {

Args::Args(const std::vector<std::string>& argv) {
  for (std::size_t i = 0; i < argv.size(); ++i) {
    if (argv[i].rfind("--", 0) != 0) throw std::invalid_argument("unexpected argument \"" + argv[i] + "\"");
    const auto key = argv[i].substr(2);
    if (i + 1 >= argv.size()) throw std::invalid_argument("option --" + key + " needs a value");
    values_[key] = argv[++i];
  }
}

std::string Args::get(const std::string& key, const std::string& fallback) const {
  const auto it = values_.find(key);
  return it == values_.end() ? fallback : it->second;
}

double Args::get_double(const std::string& key, double fallback) const {
  const auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  try {
    std::size_t used = 0;
    const double value = std::stod(it->second, &used);
    if (used == it->second.size()) return value;
  } catch (const std::exception&) {
  }
  throw std::invalid_argument("option --" + key + " must be a number, got \"" + it->second + "\"");
}

long long Args::get_int(const std::string& key, long long fallback) const {
  const auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  try {
    return std::stoll(it->second);
  } catch (const std::exception&) {
    throw std::invalid_argument("option --" + key + " must be an integer, got \"" + it->second + "\"");
  }
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  for (std::size_t start = 0; !text.empty() && start <= text.size();) {
    const auto end = std::min(text.find(separator, start), text.size());
    parts.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

pipeline::GenerationSettings with_fast_mode(pipeline::GenerationSettings s, const std::string& mode) {
  const auto parts = split(mode, '+');
  if (parts.empty()) throw std::invalid_argument("an empty fast mode in --modes");
  for (const auto& part : parts) {
    const auto colon = part.find(':');
    const auto name = part.substr(0, colon), value = colon == std::string::npos ? "" : part.substr(colon + 1);
    std::size_t used = 0;
    try {
      if (name == "fp8" && value.empty()) s.fp8 = true;
      else if (name == "int8-attention" && value.empty()) s.int8_attention = true;
      else if (name == "cfg-skip" && !value.empty()) s.cfg_skip_last_steps = std::stoi(value, &used);
      else if (name == "step-cache" && !value.empty()) s.step_cache_threshold = std::stod(value, &used);
      else used = std::string::npos;
    } catch (const std::exception&) {
      used = std::string::npos;
    }
    if (used != value.size())
      throw std::invalid_argument("unknown fast mode \"" + part + "\" (fp8, int8-attention, cfg-skip:K, step-cache:T, joined by +)");
  }
  const auto why = pipeline::validate(s);
  if (!why.empty()) throw std::invalid_argument("fast mode \"" + mode + "\": " + why);
  return s;
}

void emit(const Args& args, const nlohmann::json& result) {
  if (!args.has("json")) return;
  std::ofstream out(args.get("json", ""), std::ios::app);
  out << result.dump() << "\n";
}

}  // namespace skyreels::bench

int main(int argc, char** argv) {
  spdlog::set_default_logger(spdlog::stderr_color_mt("skyreels"));
  skyreels::use_all_cpu_cores();
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help") {
    std::fprintf(stderr,
                 "usage: skyreels-bench dit [--model 1.3b|14b] [--frames 25] [--height 544] [--width 960]\n"
                 "                          [--batch 2] [--context 512] [--repeat 3] [--chunk-tokens N]\n"
                 "                          [--attention auto|cudnn|flash|efficient|math] [--fused 1|0] [--fp8 0|1]\n"
                 "                          [--gpus N [--parallel ulysses|cfg] [--check 1]] [--stream-blocks N [--vram-budget GIB]]\n"
                 "                          [--device cuda|cpu] [--json FILE]\n"
                 "       skyreels-bench t5 [--layers 24] [--tokens 512] [--prompt-tokens N] [--dtype bf16|fp32]\n"
                 "                         [--repeat 3] [--device cuda|cpu] [--json FILE]\n"
                 "       skyreels-bench vae [--latents 25] [--height 544] [--width 960] [--dtype bf16|fp32]\n"
                 "                          [--tile LATENTS --overlap LATENTS] [--fused 1|0] [--repeat 2] [--device cuda|cpu] [--json FILE]\n"
                 "       skyreels-bench pipeline [--model 1.3b|14b] [--frames 97] [--height 544] [--width 960] [--steps 30]\n"
                 "                          [--guidance 6] [--shift 8] [--ar-step 0] [--causal-block-size 1]\n"
                 "                          [--base-frames N --overlap N --addnoise N] [--path fast|reference|both]\n"
                 "                          [--modes fp8,cfg-skip:K,step-cache:T,...  (fast modes, '+' combines)]\n"
                 "                          [--fp8-load by-block|in-place  (how fp8 modes get float8 weights)]\n"
                 "                          [--vram-budget GIB  (then the planned run under that cap, CUDA)]\n"
                 "                          [--device cuda|cpu] [--json FILE]\n"
                 "       skyreels-bench adherence [--model DIR (default: the demo model)] [--frames N] [--steps N] [--guidance G] [--shift S]\n"
                 "                          [--mode sync|async [--ar-step N --causal-block-size N]] [--prompts 24]\n"
                 "                          [--seeds S,...] [--modes fp8,cfg-skip:K,step-cache:T,...  ('+' combines)]\n"
                 "                          [--ceiling 1  (also the held-out renders and their VAE round trip)]\n"
                 "                          [--device cuda|cpu] [--json FILE]\n"
                 "       skyreels-bench lora [--model 1.3b|14b] [--layers N] [--rank 64] [--device cuda|cpu] [--json FILE]\n"
                 "       skyreels-bench attention [--model 1.3b|14b] [--frames 25] [--height 544] [--width 960] [--blocks all|0,1,...]\n"
                 "                          [--formats int8-bf16,int8-e4m3,e4m3-bf16,e4m3-e4m3] [--repeat 1] [--device cuda|cpu] [--json FILE]\n");
    return args.empty() ? 2 : 0;
  }
  const auto command = args[0];
  args.erase(args.begin());
  try {
    const skyreels::bench::Args options(args);
    // --gpus N (dit, pipeline): this process starts N ranks with the same arguments and waits.
    if (options.get_int("gpus", 1) > 1 && !skyreels::parallel::launched_rank()) {
      std::vector<std::string> rank_args{command};
      rank_args.insert(rank_args.end(), args.begin(), args.end());
      return skyreels::parallel::launch_ranks(
          rank_args, {static_cast<int>(options.get_int("gpus", 1)), options.get("device", "cuda") == "cuda"});
    }
    if (command == "dit") return skyreels::bench::run_dit(options);
    if (command == "t5") return skyreels::bench::run_t5(options);
    if (command == "vae") return skyreels::bench::run_vae(options);
    if (command == "pipeline") return skyreels::bench::run_pipeline(options);
    if (command == "adherence") return skyreels::bench::run_adherence(options);
    if (command == "lora") return skyreels::bench::run_lora(options);
    if (command == "attention") return skyreels::bench::run_attention(options);
    std::fprintf(stderr, "skyreels-bench: unknown command \"%s\"\n", command.c_str());
    return 2;
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "skyreels-bench: %s\n", e.what());
    return 2;
  } catch (const skyreels::Error& e) {
    std::fprintf(stderr, "skyreels-bench: %s\n", e.what());
    return 1;
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "skyreels-bench: %s\n", e.what_without_backtrace());
    return 1;
  }
}
