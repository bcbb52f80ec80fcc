#include "train/training_run.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/grad_mode.h>

#include "demo/adherence_eval.h"
#include "kernels/fused_ops.h"
#include "io/json_config.h"
#include "io/safetensors.h"
#include "io/tensor_source.h"
#include "model/weights.h"
#include "pipeline/demo_model.h"
#include "skyreels/error.h"
#include "train/clip_data.h"
#include "train/dit_trainer.h"
#include "train/loss_log.h"
#include "train/loss_plot.h"
#include "train/model_export.h"
#include "train/train_checkpoint.h"
#include "train/vae_trainer.h"

namespace skyreels::train {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// The project's JSON reader: its errors name the file.
nlohmann::json read_json(const fs::path& file) { return io::JsonConfig::load(file.string()).json(); }

// The run folder belongs to one preset and seed: resuming with others would mix two runs.
void claim_run_folder(const fs::path& dir, const TrainConfig& config) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (!fs::is_directory(dir)) throw Error(ErrorCode::BadArgument, dir.string() + ": cannot create the run folder");
  const auto file = dir / "config.json";
  nlohmann::json mine = {{"preset", config.preset}, {"seed", config.seed},
                               {"vae_steps", config.vae.steps}, {"dit_steps", config.dit.steps},
                               {"dit_clips", config.dit.dataset_clips}};
  if (!config.vae.init_from.empty()) mine["vae_init"] = config.vae.init_from;
  if (!config.dit.init_from.empty()) mine["dit_init"] = config.dit.init_from;
  if (config.dit.rescale_init_text_queries) mine["rescale_text_queries"] = true;
  if (fs::exists(file)) {
    auto theirs = read_json(file);
    if (fs::exists(dir / "vae" / "stats.json")) {
      // A finished VAE stage fixes the VAE: where it started from no longer matters.
      theirs.erase("vae_init");
      mine.erase("vae_init");
    }
    if (theirs != mine)
      throw Error(ErrorCode::BadArgument, dir.string() + " holds a run of " + theirs.dump() + ", not " + mine.dump() +
                                              ": give another --run folder or the same settings");
    return;
  }
  pipeline::write_text_file(file, mine.dump(2) + "\n");
}

struct Stage {
  std::string name;
  std::int64_t total = 0;
  std::function<double(std::int64_t)> step;
  std::function<double(std::int64_t)> learning_rate;
  std::function<void(std::int64_t)> save;  // a checkpoint after this many steps
};

class Runner {
public:
  Runner(const RunOptions& options, const std::function<void(const std::string&)>& log)
      : o_(options), log_(log), losses_(options.run_dir / "loss.csv", LossLogMode::Resume) {}

  void say(const std::string& line) const {
    if (log_) log_(line);
  }
  double elapsed() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

  void plot() const { write_loss_plot(o_.run_dir / "loss.png", read_loss_log(o_.run_dir / "loss.csv")); }

  // Steps first .. total - 1; false when the time limit stopped it (after a checkpoint).
  bool run(const Stage& stage, std::int64_t first) {
    double slowest = 0, recent = 0;
    std::int64_t recent_count = 0;
    for (std::int64_t s = first; s < stage.total; ++s) {
      const bool out_of_time = o_.time_limit_s > 0 && elapsed() + 3 * slowest + kSaveSeconds > o_.time_limit_s;
      const bool out_of_steps = o_.step_budget > 0 && steps_done_ >= o_.step_budget;
      if (out_of_time || out_of_steps) {
        stage.save(s);
        plot();
        say(stage.name + ": stopped at step " + std::to_string(s) + " of " + std::to_string(stage.total) +
            (out_of_time ? " (time limit)" : " (step budget)") + "; run the same command again to resume");
        return false;
      }
      const auto t0 = Clock::now();
      const double loss = stage.step(s);
      ++steps_done_;
      if (!std::isfinite(loss))
        throw Error(ErrorCode::Runtime, stage.name + ": the loss is " + std::to_string(loss) + " at step " +
                                            std::to_string(s) + "; the last checkpoint is kept");
      const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
      if (s > first) slowest = std::max(slowest, seconds);  // the first step pays warm-up
      losses_.append(stage.name, s, loss, stage.learning_rate(s), elapsed());
      recent += loss;
      ++recent_count;
      if ((s + 1) % o_.config.log_every == 0 || s + 1 == stage.total) {
        std::ostringstream line;
        line << stage.name << " step " << s + 1 << "/" << stage.total << "  loss " << recent / recent_count << "  lr "
             << stage.learning_rate(s) << "  " << seconds * 1000 << " ms/step  " << static_cast<long>(elapsed()) << " s";
        say(line.str());
        recent = 0;
        recent_count = 0;
      }
      if ((s + 1) % o_.config.checkpoint_every == 0 && s + 1 < stage.total) {
        stage.save(s + 1);
        plot();
      }
    }
    stage.save(stage.total);
    plot();
    return true;
  }

private:
  static constexpr double kSaveSeconds = 20;  // kept free before the limit for the checkpoint
  const RunOptions& o_;
  std::function<void(const std::string&)> log_;
  LossLog losses_;
  Clock::time_point start_ = Clock::now();
  std::int64_t steps_done_ = 0;
};

std::int64_t resume_step(const fs::path& dir, torch::nn::Module& module, torch::optim::Optimizer& optimizer) {
  if (!fs::exists(dir / "model.safetensors")) return 0;
  auto generator = at::make_generator<at::CPUGeneratorImpl>(0);
  return load_checkpoint(dir, module, optimizer, generator);
}

void save(const fs::path& dir, torch::nn::Module& module, torch::optim::Optimizer& optimizer, std::int64_t step) {
  // Each step seeds its own generator; the checkpoint's generator slot holds a fixed one.
  const auto generator = at::make_generator<at::CPUGeneratorImpl>(0);
  save_checkpoint(dir, module, optimizer, step, generator);
}

fs::path train_tokenizer(const fs::path& run, const TrainConfig& config, const Runner& runner) {
  const auto model = train_caption_tokenizer(run / "tokenizer", config.tokenizer.vocab);
  runner.say("tokenizer: " + model.string());
  return model;
}

LatentStats read_stats(const fs::path& file) {
  const auto j = read_json(file);
  LatentStats stats;
  try {
    stats.mean = j.at("mean").get<std::vector<float>>();
    stats.std = j.at("std").get<std::vector<float>>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::CorruptFile, file.string() + ": " + e.what());
  }
  return stats;
}

// "vae: reconstruction 27.1 dB (frames 0-16 28.0, 17-32 26.9, 33-80 26.5) on 8 clips of 81 frames"
std::string describe_reconstruction(const std::vector<double>& psnr, std::int64_t clips) {
  const auto frames = static_cast<std::int64_t>(psnr.size());
  auto mean_of = [&](std::int64_t first, std::int64_t end) {
    double mse = 0;  // averaged as errors, as one PSNR over the range
    for (auto f = first; f < end; ++f) mse += 4.0 * std::pow(10.0, -psnr[static_cast<std::size_t>(f)] / 10.0);
    return 10.0 * std::log10(4.0 / (mse / static_cast<double>(end - first)));
  };
  std::ostringstream out;
  out.precision(3);
  out << "vae: reconstruction " << mean_of(0, frames) << " dB (frames";
  const std::int64_t bounds[] = {0, 17, 33, 81};
  for (std::size_t i = 0; i + 1 < std::size(bounds) && bounds[i] < frames; ++i) {
    const auto end = std::min(bounds[i + 1], frames);
    out << (i ? ", " : " ") << bounds[i] << "-" << end - 1 << " " << mean_of(bounds[i], end);
  }
  out << ") on " << clips << " clips of " << frames << " frames";
  return out.str();
}

// "vae: 24 held-out scenes of 33 frames after the round trip: colour 1.00, background 1.00, shape 0.71,
// motion 1.00; frame 0 22.3 dB (min 17.5)"
std::string describe_round_trip(const demo::AdherenceReport& report) {
  const auto& r = report.rates;
  char text[256];
  std::snprintf(text, sizeof text,
                "vae: %zu held-out scenes of %lld frames after the round trip: colour %.2f, background %.2f, "
                "shape %.2f, motion %.2f; frame 0 %.1f dB (min %.1f)",
                r.prompts, static_cast<long long>(report.settings.num_frames), r.colour, r.background, r.shape,
                r.motion, report.mean_first_frame_psnr_db(), report.min_first_frame_psnr_db());
  return text;
}

}  // namespace

RunStatus run_training(const RunOptions& options, const std::function<void(const std::string&)>& log) {
  const auto& config = options.config;
  const auto& run = options.run_dir;
  claim_run_folder(run, config);
  // The fused CUDA kernels have no backward: training takes the LibTorch path everywhere.
  kernels::set_fused_kernels_enabled(false);
  Runner runner(options, log);

  const auto tokenizer = train_tokenizer(run, config, runner);
  if (options.stop_after == RunOptions::StopAfter::Tokenizer) return RunStatus::Finished;

  VaeTrainer vae(config, options.device);
  // The finished VAE is kept as its weights alone (vae/final.safetensors, with stats.json): small
  // enough to carry to another machine, and all the DiT stage needs.
  const auto vae_dir = run / "vae", stats_file = vae_dir / "stats.json", vae_final = vae_dir / "final.safetensors";
  LatentStats stats;
  if (fs::exists(stats_file)) {
    stats = read_stats(stats_file);
    torch::NoGradGuard no_grad;
    model::load_weights_strict(*vae.vae(), *io::safetensors_source(std::make_shared<io::SafetensorsFile>(vae_final.string())));
  } else {
    const Stage stage{"vae", config.vae.steps, [&](std::int64_t s) { return vae.train_step(s); },
                      [&](std::int64_t s) { return vae.learning_rate(s); },
                      [&](std::int64_t s) { save(vae_dir, *vae.vae(), vae.optimizer(), s); }};
    if (!runner.run(stage, resume_step(vae_dir, *vae.vae(), vae.optimizer()))) return RunStatus::Stopped;
    stats = vae.measure_latent_stats(config.vae.stats_clips);
    std::vector<std::pair<std::string, at::Tensor>> weights;
    for (const auto& p : vae.vae()->named_parameters(true)) weights.emplace_back(p.key(), p.value().detach());
    io::write_safetensors(vae_final.string(), weights);
    pipeline::write_text_file(stats_file, nlohmann::json{{"mean", stats.mean}, {"std", stats.std}}.dump(2) + "\n");
    runner.say("vae: latent statistics measured on " + std::to_string(config.vae.stats_clips) + " clips");
    runner.say(describe_reconstruction(vae.reconstruction_psnr(config.vae.psnr_clips, config.vae.psnr_frames),
                                       config.vae.psnr_clips));
    if (config.vae.round_trip_prompts > 0) {
      demo::EvalOptions scenes;
      scenes.combinations = demo::held_out_subset(static_cast<std::size_t>(config.vae.round_trip_prompts));
      runner.say(describe_round_trip(demo::evaluate_vae_round_trip(*vae.vae(), config.dit.clip_frames,
                                                                   config.clip.height, config.clip.width, scenes)));
    }
  }
  if (options.stop_after == RunOptions::StopAfter::Vae) {
    runner.say("vae: done; stopping before the DiT stage as asked");
    return RunStatus::Finished;
  }

  DitTrainer dit(config, options.device, vae.vae(), stats, tokenizer.string());
  const auto model_dir = options.model_dir.empty() ? run / "model" : options.model_dir;
  const auto dit_dir = run / "dit";
  const auto dit_step = resume_step(dit_dir, *dit.model(), dit.optimizer());
  if (dit_step < config.dit.steps) {
    runner.say("dit: rendering and encoding " + std::to_string(config.dit.dataset_clips) + " clips");
    // A line each eighth of the clips: the VAE encodes every clip, 30 s on an H100 but hours on a CPU.
    std::int64_t reported = 0;
    dit.prepare([&](std::int64_t done, std::int64_t total) {
      if (done == total || done - reported < total / 8) return;
      reported = done;
      runner.say("dit: " + std::to_string(done) + " of " + std::to_string(total) + " clips encoded (" +
                 std::to_string(static_cast<long>(runner.elapsed())) + " s)");
    });
    runner.say("dit: dataset ready (" + std::to_string(static_cast<long>(runner.elapsed())) + " s)");
    const Stage stage{"dit", config.dit.steps, [&](std::int64_t s) { return dit.train_step(s); },
                      [&](std::int64_t s) { return dit.learning_rate(s); },
                      [&](std::int64_t s) { save(dit_dir, *dit.model(), dit.optimizer(), s); }};
    if (!runner.run(stage, dit_step)) {
      if (options.export_when_stopped) {
        export_model(model_dir, config, dit.model(), vae.vae(), stats, tokenizer);
        runner.say("model (unfinished run): " + model_dir.string());
      }
      return RunStatus::Stopped;
    }
  }

  export_model(model_dir, config, dit.model(), vae.vae(), stats, tokenizer);
  runner.plot();
  runner.say("model: " + model_dir.string());
  return RunStatus::Finished;
}

}  // namespace skyreels::train
