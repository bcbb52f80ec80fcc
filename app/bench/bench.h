#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/wan_dit.h"
#include "pipeline/generation_settings.h"

namespace skyreels::bench {

// --key value options of a bench command.
class Args {
public:
  Args(const std::vector<std::string>& argv);
  std::string get(const std::string& key, const std::string& fallback) const;
  long long get_int(const std::string& key, long long fallback) const;
  double get_double(const std::string& key, double fallback) const;
  bool has(const std::string& key) const { return values_.count(key) != 0; }

private:
  std::map<std::string, std::string> values_;
};

// The parts of `text` between `separator`s, empty ones included; none for an empty text.
std::vector<std::string> split(const std::string& text, char separator);

// The settings with a fast mode as --modes names it: "fp8", "cfg-skip:K", "step-cache:T", or several
// joined by "+". std::invalid_argument for an unknown mode or settings it makes invalid.
pipeline::GenerationSettings with_fast_mode(pipeline::GenerationSettings settings, const std::string& mode);

// Appends the result as one JSON line to --json FILE when given.
void emit(const Args& args, const nlohmann::json& result);

// DF-1.3B ("1.3b") or DF-14B ("14b") shapes; std::invalid_argument otherwise.
model::WanDitConfig dit_preset(const std::string& name);
// The --model preset with any other size (e.g. the trained demo model's) from --dim --ffn --heads
// --layers --text-dim --z-dim.
model::WanDitConfig dit_config_from_args(const Args& args, const std::string& model_name);

// One DiT call's random inputs at a shape, the same for every bench (seed 5): latents
// [1, 16, frames, height / 8, width / 8], `batch` rows of `context_rows` text features, and a timestep per
// latent frame; bf16 on `device`.
struct DitInputs {
  at::Tensor x, context, t;
};
DitInputs random_dit_inputs(const model::WanDitConfig& config, std::int64_t frames, std::int64_t height,
                            std::int64_t width, std::int64_t batch, std::int64_t context_rows, c10::Device device);

int run_dit(const Args& args);
int run_pipeline(const Args& args);
int run_t5(const Args& args);
int run_vae(const Args& args);
int run_adherence(const Args& args);
int run_lora(const Args& args);
int run_attention(const Args& args);

}  // namespace skyreels::bench
