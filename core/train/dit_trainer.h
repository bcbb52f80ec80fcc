#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <c10/core/Device.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/optim/adamw.h>

#include "model/t5_encoder.h"
#include "model/wan_dit.h"
#include "model/wan_vae.h"
#include "train/train_config.h"
#include "train/vae_trainer.h"

namespace skyreels::train {

// The text encoder and the DiT, trained together (the umT5 encoder of a demo model learns its words
// from the DiT's loss): one module so one checkpoint holds both ("text.*", "dit.*").
class TextToVideoImpl : public torch::nn::Module {
public:
  TextToVideoImpl(const model::T5EncoderConfig& text_config, const model::WanDitConfig& dit_config);
  model::T5Encoder text{nullptr};
  model::WanDit dit{nullptr};
};
TORCH_MODULE(TextToVideo);

model::T5EncoderConfig text_encoder_config(const TrainConfig& config, std::int64_t vocab);
model::WanDitConfig dit_config(const TrainConfig& config);

// T5's attention does not scale its logits by 1/sqrt(head_dim): T5 folds that factor into the queries'
// initialisation. Fan-in initialisation alone leaves the logits' standard deviation near 6 at the
// demo's sizes, so the softmax saturates on the words' content, the relative position tables (order
// one) hardly count and get almost no gradient, and the encoder reads a caption as a bag of pieces:
// runs 1-7 drew "a blue X ... on a green background" and "a green X ... on a blue background" alike.
// Multiplies every layer's query weights by 1/sqrt(head_dim), T5's own scaling.
void scale_text_queries(model::T5EncoderImpl& text);

// A new model's start, as DitTrainer makes it: initialize_weights, then scale_text_queries.
void initialize_text_to_video(TextToVideoImpl& model, std::uint64_t seed);

// Diffusion-forcing training of the DiT on the VAE's latents of procedural clips
// (shared/spec/df-training-notes.md): per-frame noise levels that never decrease along the frames (one
// row per batch), clean or lightly noised prefixes, the flow-matching target at the inference shift,
// crops of any length at any offset (long-video windows start mid-motion), both fps embeddings, and the
// caption dropped to "" or to the default negative prompt so guidance has an unconditional to push from.
class DitTrainer {
public:
  // `vae` trained, `stats` its latent statistics; `tokenizer` the spiece.model of the run.
  DitTrainer(const TrainConfig& config, c10::Device device, model::WanVae vae, LatentStats stats,
             const std::string& tokenizer);

  // Renders and encodes the dataset (config.dit.dataset_clips clips); `progress(done, total)`.
  void prepare(const std::function<void(std::int64_t, std::int64_t)>& progress = {});
  double train_step(std::int64_t step);
  double learning_rate(std::int64_t step) const;

  TextToVideo& model() { return model_; }
  torch::optim::Optimizer& optimizer() { return *optimizer_; }

private:
  at::Tensor context_for(const at::Tensor& ids, const at::Tensor& mask);

  TrainConfig config_;
  c10::Device device_;
  model::WanVae vae_;
  LatentStats stats_;
  std::string tokenizer_;
  TextToVideo model_{nullptr};
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  at::Tensor latents_;               // [N, z, F, h, w] bf16, normalised, on the device
  at::Tensor ids_, mask_;            // [N, L] int64 caption tokens
  at::Tensor uncond_ids_, uncond_mask_;  // [2, L]: "" and the default negative prompt
};

// Rows of umT5 context are zero past the prompt up to the reference's text length, as inference pads.
inline constexpr std::int64_t kTextLength = 512;

}  // namespace skyreels::train
