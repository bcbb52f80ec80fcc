#include "train/train_config.h"

#include "skyreels/error.h"

namespace skyreels::train {

TrainConfig TrainConfig::preset_named(const std::string& name) {
  TrainConfig c;
  c.dit.noise.max_prefix = 4;  // long-video windows keep up to 4 latent frames of the previous one
  if (name == "demo") return c;
  if (name == "smoke") {
    // The same code at sizes a 2-core CPU trains in seconds: the trainer's test.
    c.preset = name;
    c.clip = {32, 32};
    c.tokenizer.vocab = 200;
    c.text = {16, 32, 2, 1};
    c.vae.dim = 4;
    c.vae.z_dim = 4;
    c.vae.steps = 30;
    c.vae.batch = 2;
    c.vae.clip_frames = 5;
    c.vae.history_chunks = 2;
    c.vae.crop = 16;
    c.vae.learning_rate = 3e-3;
    c.vae.final_learning_rate = 1e-3;
    c.vae.stats_clips = 4;
    c.vae.psnr_clips = 1;
    c.vae.psnr_frames = 21;
    c.vae.round_trip_prompts = 4;
    c.dit.dim = 32;
    c.dit.ffn = 64;
    c.dit.heads = 2;
    c.dit.layers = 1;
    c.dit.steps = 40;
    c.dit.batch = 4;
    c.dit.dataset_clips = 8;
    c.dit.clip_frames = 9;
    c.dit.min_latent_frames = 2;
    c.dit.learning_rate = 3e-3;
    c.dit.final_learning_rate = 1e-3;
    c.dit.warmup_steps = 5;
    c.checkpoint_every = 20;
    c.log_every = 10;
    return c;
  }
  throw Error(ErrorCode::BadArgument, "unknown training preset \"" + name + "\" (demo or smoke)");
}

}  // namespace skyreels::train
