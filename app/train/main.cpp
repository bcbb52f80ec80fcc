// skyreels-train: trains the demo model (issue 22) from procedural videos: tokenizer, VAE, then the
// umT5 encoder and DiT together, and writes the model folder in the official layout. Resumes from the
// run folder's checkpoints; --minutes bounds one session (the GPU machine's time is bounded).

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include <torch/cuda.h>

#include "skyreels/cpu_threads.h"
#include "skyreels/error.h"
#include "train/training_run.h"

namespace {

constexpr int kExitOk = 0, kExitFailed = 1, kExitBadInput = 2, kExitStopped = 3;

void usage() {
  std::fprintf(stderr,
               "usage: skyreels-train [--preset demo|smoke] [--run DIR] [--out DIR] [--device auto|cpu|cuda[:N]]\n"
               "                      [--minutes M] [--step-budget N] [--seed N]\n"
               "                      [--vae-steps N] [--dit-steps N] [--dit-clips N] [--vae-init FILE]\n"
               "                      [--dit-init DIR [--rescale-text-queries]]\n"
               "  --preset   demo: the shipped model (sizes in core/train/train_config.h); smoke: tiny, seconds on a CPU\n"
               "  --run      the run folder: checkpoints, loss.csv, loss.png (default train-run); run again to resume\n"
               "  --out      where the trained model folder goes (default RUN/model)\n"
               "  --minutes  checkpoint and stop before this much time has passed (exit code 3: run again to resume)\n"
               "  --vae-steps, --dit-steps, --dit-clips  override the preset's step counts and dataset size\n"
               "  --vae-init  start the VAE from this file (a vae/final.safetensors or an exported Wan2.1_VAE.safetensors)\n"
               "             and train it further at the fine-tuning learning rate\n"
               "  --dit-init  start the DiT and text encoder from this exported model folder (same sizes and tokenizer)\n"
               "             and train them further at the fine-tuning learning rate\n"
               "  --rescale-text-queries  first multiply the --dit-init model's text-encoder queries by\n"
               "             1/sqrt(head_dim), T5's scaling, which models of runs 1-7 started without\n"
               "  --stop-after tokenizer|vae  end after that stage (vae/final.safetensors + stats.json carry the rest)\n"
               "  --export-when-stopped  a run stopped in the DiT stage exports the model as it stands too\n"
               "  --step-budget  checkpoint and stop after N training steps (exit code 3)\n"
               "exit codes: 0 trained and exported, 1 failed, 2 bad command line, 3 stopped by --minutes\n");
}

}  // namespace

int main(int argc, char** argv) {
  using namespace skyreels;
  use_all_cpu_cores();
  std::vector<std::string> args(argv + 1, argv + argc);
  train::RunOptions options;
  std::string preset = "demo", device = "auto";
  std::optional<unsigned long long> seed;
  std::optional<long long> vae_steps, dit_steps, dit_clips;
  std::string vae_init, dit_init;
  bool rescale_text_queries = false;
  try {
    for (std::size_t i = 0; i < args.size(); ++i) {
      const auto& a = args[i];
      auto value = [&]() -> const std::string& {
        if (i + 1 >= args.size()) throw Error(ErrorCode::BadArgument, a + " needs a value");
        return args[++i];
      };
      if (a == "--preset") preset = value();
      else if (a == "--run") options.run_dir = value();
      else if (a == "--out") options.model_dir = value();
      else if (a == "--device") device = value();
      else if (a == "--minutes") options.time_limit_s = 60.0 * std::stod(value());
      else if (a == "--stop-after") {
        const auto& stage = value();
        if (stage == "tokenizer") options.stop_after = train::RunOptions::StopAfter::Tokenizer;
        else if (stage == "vae") options.stop_after = train::RunOptions::StopAfter::Vae;
        else if (stage == "dit") options.stop_after = train::RunOptions::StopAfter::Dit;
        else throw Error(ErrorCode::BadArgument, "--stop-after takes tokenizer, vae or dit");
      } else if (a == "--export-when-stopped") options.export_when_stopped = true;
      else if (a == "--step-budget") options.step_budget = std::stoll(value());
      else if (a == "--seed") seed = std::stoull(value());
      else if (a == "--vae-steps") vae_steps = std::stoll(value());
      else if (a == "--dit-steps") dit_steps = std::stoll(value());
      else if (a == "--dit-clips") dit_clips = std::stoll(value());
      else if (a == "--vae-init") vae_init = value();
      else if (a == "--dit-init") dit_init = value();
      else if (a == "--rescale-text-queries") rescale_text_queries = true;
      else if (a == "--help" || a == "-h") {
        usage();
        return kExitOk;
      } else {
        throw Error(ErrorCode::BadArgument, "unexpected argument \"" + a + "\"");
      }
    }
    options.config = train::TrainConfig::preset_named(preset);
    if (seed) options.config.seed = *seed;
    if (vae_steps) options.config.vae.steps = *vae_steps;
    if (dit_steps) options.config.dit.steps = *dit_steps;
    if (dit_clips) options.config.dit.dataset_clips = *dit_clips;
    if (!vae_init.empty()) {
      if (!std::filesystem::is_regular_file(vae_init))
        throw Error(ErrorCode::NotFound, "--vae-init " + vae_init + ": no such file");
      options.config.vae.init_from = std::filesystem::absolute(vae_init).string();
    }
    if (!dit_init.empty()) {
      if (!std::filesystem::is_regular_file(std::filesystem::path(dit_init) / "model.safetensors"))
        throw Error(ErrorCode::NotFound, "--dit-init " + dit_init + ": no model.safetensors there");
      options.config.dit.init_from = std::filesystem::absolute(dit_init).string();
    }
    if (rescale_text_queries) {
      if (dit_init.empty()) throw Error(ErrorCode::BadArgument, "--rescale-text-queries rescales a --dit-init model: give one");
      options.config.dit.rescale_init_text_queries = true;
    }
    if (options.config.vae.steps < 1 || options.config.dit.steps < 1 || options.config.dit.dataset_clips < 1)
      throw Error(ErrorCode::BadArgument, "--vae-steps, --dit-steps and --dit-clips must be positive");
    if (device == "auto") device = torch::cuda::is_available() ? "cuda" : "cpu";
    options.device = c10::Device(device);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "skyreels-train: %s\n", e.what());
    usage();
    return kExitBadInput;
  }

  try {
    const auto status = train::run_training(options, [](const std::string& line) {
      std::fprintf(stderr, "%s\n", line.c_str());
      std::fflush(stderr);
    });
    return status == train::RunStatus::Finished ? kExitOk : kExitStopped;
  } catch (const Error& e) {
    std::fprintf(stderr, "skyreels-train: %s\n", e.what());
    return e.code() == ErrorCode::BadArgument ? kExitBadInput : kExitFailed;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "skyreels-train: %s\n", e.what());
    return kExitFailed;
  }
}
