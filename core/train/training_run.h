#pragma once

#include <filesystem>
#include <functional>
#include <string>

#include <c10/core/Device.h>

#include "train/train_config.h"

namespace skyreels::train {

// A whole training run of the demo model, in stages that each resume from their checkpoint:
//   RUN/tokenizer/spiece.model   SentencePiece on the caption grammar (CPU, seconds)
//   RUN/vae/                     the VAE's checkpoint; final.safetensors (its weights) and stats.json
//                                (its latent statistics) once done
//   RUN/dit/                     the text encoder's and DiT's checkpoint
//   RUN/loss.csv, RUN/loss.png   every step's loss, and its plot (rewritten at each checkpoint)
//   RUN/config.json              the run's preset and seed (a resumed run must match)
// then the model folder (model_export.h). The same preset and seed give the same model however the
// run is cut (every step draws from its own seeded generator; data is addressed by index).
struct RunOptions {
  std::filesystem::path run_dir = "train-run";
  std::filesystem::path model_dir;  // empty: RUN/model
  c10::Device device = c10::Device(c10::kCPU);
  TrainConfig config;
  double time_limit_s = 0;      // > 0: checkpoint and stop before this much wall time has passed
  std::int64_t step_budget = 0; // > 0: checkpoint and stop after this many training steps (all stages)
  // A DiT stage stopped by the time limit or the step budget exports the model as it stands too (a
  // usable model from every session, however the run continues).
  bool export_when_stopped = false;
  // Tokenizer: end after the tokenizer (it needs the SentencePiece trainer, which a GPU machine may
  // lack: train it on a CPU and carry RUN/tokenizer/spiece.model). Vae: end after the VAE stage
  // (vae/final.safetensors and stats.json are all a later DiT stage needs, on this machine or another).
  enum class StopAfter { Dit, Vae, Tokenizer } stop_after = StopAfter::Dit;
};

enum class RunStatus { Finished, Stopped };

// Runs (or resumes) the stages; `log` gets a line per event and progress. Errors are skyreels::Error
// naming the file or setting; a run folder of another preset or seed is refused.
RunStatus run_training(const RunOptions& options, const std::function<void(const std::string&)>& log);

}  // namespace skyreels::train
