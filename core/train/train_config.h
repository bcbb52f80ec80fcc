#pragma once

#include <cstdint>
#include <string>

#include "train/df_objective.h"

namespace skyreels::train {

// Everything that shapes a training run of the demo model (skyreels-train), in one place. Two presets:
// `demo` is the shipped model (trained on the GPU machine), `smoke` the same code at sizes a CPU
// runs in seconds (the trainer's test).

struct ClipShape {
  std::int64_t height = 128, width = 128;  // multiples of 16
};

struct TokenizerConfig {
  std::int64_t vocab = 320;  // SentencePiece pieces: the caption words and the negative prompt's characters
};

struct TextConfig {  // the umT5 encoder, trained with the DiT
  std::int64_t dim = 128, ffn = 256, heads = 2, layers = 2;
};

struct VaeStage {
  std::int64_t dim = 16, z_dim = 16;  // the Wan VAE's base width and latent channels
  std::int64_t steps = 3000, batch = 8;
  // The VAE is causal, but a clip of 1 + 4 + 4 frames never shows it a chunk after two cached ones: a
  // VAE trained so drifts past the third latent (measured: 17 dB, then 9 dB from frame 16 on). 17
  // frames give three steady-state chunks.
  std::int64_t clip_frames = 17;
  // The decoder's caches carry features across chunks, so a frame depends on many before it: a VAE
  // trained on 17-frame clips alone drifted past them (run 2, H100: 27-28 dB to frame 16, then 23.8,
  // 22.0, 20.4 dB at frames 24, 28, 32, with the object smeared). Each step therefore first runs
  // 0..history_chunks latent chunks of the clip's past through encoder and decoder without gradients,
  // and trains on the chunks that follow: the steady state of any length, at the cost of forwards.
  std::int64_t history_chunks = 8;
  // Square crops of this side (a multiple of 8; 0: whole frames) of the rendered clips: the VAE is
  // convolutional, and its full-resolution stages are its cost (measured on an H100: 470 ms a step for
  // 16 whole 128 x 128 clips of 9 frames), so crops buy steps. Objects keep their rendered size.
  std::int64_t crop = 80;
  double learning_rate = 5e-4, final_learning_rate = 5e-5;  // 2e-3 and 1e-3 did worse (CPU, small sizes)
  // A VAE file to start from instead of random weights (skyreels-train --vae-init): a finished VAE
  // trained further, at the lower learning rate.
  std::string init_from;
  double fine_tune_learning_rate = 1e-4;
  double kl_weight = 1e-6;  // keeps the latent space smooth for the DiT without blurring
  // Frame 0 is a chunk of its own (the causal VAE encodes it alone) and what image to video keeps, yet
  // a step trains it only without history (1 in 9) and then as 1 frame of 17: run 4's VAE gave it
  // 22.3 dB (min 17.5) against 28.2 dB over whole videos, and the object often in another colour.
  // Each step also reconstructs the clips' first frames alone, with this weight.
  double first_frame_weight = 1.0;
  // L1 on the frames' horizontal and vertical differences: an L1 + L2 loss alone rounds corners (run 4:
  // 3 of 8 held-out squares and 4 of 8 triangles read as circles after the round trip, the renders
  // all right), and the DiT cannot draw a corner its VAE does not keep.
  double edge_weight = 1.0;
  std::int64_t stats_clips = 256;  // clips the latent mean / std are measured on
  // The stage's report: reconstruction PSNR on this many held-out clips as long as a 3-window long
  // video (81 frames), since the caches must hold up that far.
  std::int64_t psnr_clips = 8, psnr_frames = 81;
  // And the detector on this many held-out scenes after the round trip, at the DiT's clip length
  // (demo::evaluate_vae_round_trip): the most the DiT can reach on this VAE.
  std::int64_t round_trip_prompts = 24;
};

struct DitStage {
  std::int64_t dim = 192, ffn = 768, heads = 3, layers = 6;
  // The step's cost is mostly fixed (launches and autograd's bookkeeping: 120 ms a step at batch 32
  // measured on an H100, far from its arithmetic), so the batch is large.
  std::int64_t steps = 12000, batch = 64;
  std::int64_t dataset_clips = 4096;  // rendered and encoded once, then drawn from
  std::int64_t clip_frames = 33;      // 9 latent frames: the demo's length
  std::int64_t min_latent_frames = 3; // training crops of 3..9 latent frames at any offset
  double crop_probability = 0.5;
  double learning_rate = 5e-4, final_learning_rate = 5e-5;
  std::int64_t warmup_steps = 300;
  // A model folder to start the DiT and text encoder from (skyreels-train --dit-init; an exported
  // model of the same sizes and tokenizer): a finished model trained further, at the lower rate.
  std::string init_from;
  double fine_tune_learning_rate = 1.5e-4;
  // Multiply the init_from model's text-encoder queries by 1/sqrt(head_dim) first (skyreels-train
  // --rescale-text-queries): a model whose encoder started without T5's query scaling (runs 1-7)
  // then starts where a new one does (initialize_text_to_video).
  bool rescale_init_text_queries = false;
  // Of the dataset's clips, this share shows a blue object on green or a green one on blue (the only
  // captions where a colour word's role decides the picture; uniform sampling gives them 0.08). Runs 5
  // and 6, trained without it, swapped the two colours on every such held-out prompt.
  double role_contrast_share = 0.25;
  // This share shows its objects leave the frame across the border they move to (run 7's long video
  // brought a circle that reached the border back on the other side: no clip had shown one go).
  double leaving_share = 0.15;
  double prompt_dropout = 0.1;  // the caption becomes "" or the default negative prompt (guidance)
  double grad_clip = 1.0;
  FrameNoiseOptions noise;
};

struct TrainConfig {
  std::string preset = "demo";
  std::uint64_t seed = 2026;
  ClipShape clip;
  TokenizerConfig tokenizer;
  TextConfig text;
  VaeStage vae;
  DitStage dit;
  std::int64_t checkpoint_every = 500;  // steps between checkpoints (and at the end, and before a time limit)
  std::int64_t log_every = 10;

  // "demo" or "smoke"; Error(BadArgument) for another name.
  static TrainConfig preset_named(const std::string& name);
};

}  // namespace skyreels::train
