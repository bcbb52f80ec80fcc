#include "train/dit_trainer.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/nn/utils/clip_grad.h>

#include "io/tensor_source.h"
#include "model/t5_tokenizer.h"
#include "model/weights.h"
#include "pipeline/generation_settings.h"
#include "skyreels/error.h"
#include "train/clip_data.h"
#include "train/df_objective.h"

namespace skyreels::train {

TextToVideoImpl::TextToVideoImpl(const model::T5EncoderConfig& text_config, const model::WanDitConfig& dit_config) {
  const auto options = at::TensorOptions().dtype(at::kFloat);
  text = register_module("text", model::T5Encoder(text_config, options, model::T5Compute::Float32));
  dit = register_module("dit", model::WanDit(dit_config, options));
}

model::T5EncoderConfig text_encoder_config(const TrainConfig& config, std::int64_t vocab) {
  model::T5EncoderConfig t5;
  t5.vocab = vocab;
  t5.dim = t5.dim_attn = config.text.dim;
  t5.dim_ffn = config.text.ffn;
  t5.num_heads = config.text.heads;
  t5.num_layers = config.text.layers;
  return t5;
}

model::WanDitConfig dit_config(const TrainConfig& config) {
  model::WanDitConfig c;
  c.in_dim = c.out_dim = config.vae.z_dim;
  c.dim = config.dit.dim;
  c.ffn_dim = config.dit.ffn;
  c.num_heads = config.dit.heads;
  c.num_layers = config.dit.layers;
  c.text_dim = config.text.dim;
  c.inject_sample_info = true;  // the fps embedding, as DF-1.3B
  return c;
}

namespace {

// Token ids and masks [n, length] of tokenized texts, cut to `length`.
std::pair<at::Tensor, at::Tensor> pack(const std::vector<model::T5Tokens>& texts, std::int64_t length) {
  auto ids = at::zeros({static_cast<std::int64_t>(texts.size()), length}, at::kLong);
  auto mask = at::zeros_like(ids);
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const auto n = std::min(length, texts[i].length);
    for (std::int64_t j = 0; j < n; ++j) {
      ids[static_cast<std::int64_t>(i)][j] = texts[i].ids[static_cast<std::size_t>(j)];
      mask[static_cast<std::int64_t>(i)][j] = 1;
    }
  }
  return {ids, mask};
}

}  // namespace

void scale_text_queries(model::T5EncoderImpl& text) {
  torch::NoGradGuard no_grad;
  const double factor = 1.0 / std::sqrt(static_cast<double>(text.config().head_dim()));
  for (auto& block : *text.blocks) block->as<model::T5Block>()->attn->q->weight.mul_(factor);
}

void initialize_text_to_video(TextToVideoImpl& model, std::uint64_t seed) {
  initialize_weights(model, seed);
  scale_text_queries(*model.text);
}

DitTrainer::DitTrainer(const TrainConfig& config, c10::Device device, model::WanVae vae, LatentStats stats,
                       const std::string& tokenizer)
    : config_(config), device_(device), vae_(std::move(vae)), stats_(std::move(stats)), tokenizer_(tokenizer) {
  const model::T5Tokenizer tok(tokenizer_);
  model_ = TextToVideo(text_encoder_config(config, tok.vocab_size()), dit_config(config));
  initialize_text_to_video(*model_, mix_seed(config.seed, 6));
  if (!config.dit.init_from.empty()) {
    // A finished model trained further: the exported files hold exactly these modules' parameters.
    torch::NoGradGuard no_grad;
    const std::filesystem::path dir = config.dit.init_from;
    model::load_weights_strict(*model_->dit, *io::open_weights((dir / "model.safetensors").string()));
    model::load_weights_strict(*model_->text,
                               *io::open_weights((dir / "models_t5_umt5-xxl-enc-bf16.safetensors").string()));
    if (config.dit.rescale_init_text_queries) scale_text_queries(*model_->text);
  }
  model_->to(device_);
  // Every parameter trains (the DiT's modulation tables are registered without gradients for inference).
  for (auto& p : model_->parameters()) p.set_requires_grad(true);
  optimizer_ = std::make_unique<torch::optim::AdamW>(
      model_->parameters(), torch::optim::AdamWOptions(learning_rate(0)).weight_decay(0.01));
}

double DitTrainer::learning_rate(std::int64_t step) const {
  const auto& s = config_.dit;
  if (s.init_from.empty()) return cosine_learning_rate(step, s.steps, s.warmup_steps, s.learning_rate, s.final_learning_rate);
  // Training further: a short warm-up (a fresh AdamW's first updates are as large as the rate for every
  // weight) to the lower peak, then down to a tenth of it.
  const double peak = s.fine_tune_learning_rate;
  return cosine_learning_rate(step, s.steps, std::min<std::int64_t>(100, s.steps / 4), peak,
                              std::min(peak / 10, s.final_learning_rate));
}

void DitTrainer::prepare(const std::function<void(std::int64_t, std::int64_t)>& progress) {
  torch::NoGradGuard no_grad;
  const auto& s = config_.dit;
  const auto z = config_.vae.z_dim;
  const auto opts = at::TensorOptions().device(device_).dtype(at::kFloat);
  const auto mean = at::tensor(stats_.mean, opts).view({1, -1, 1, 1, 1});
  const auto std = at::tensor(stats_.std, opts).view({1, -1, 1, 1, 1});
  std::vector<at::Tensor> parts;
  std::vector<std::string> captions;
  const std::int64_t chunk = 64;
  for (std::int64_t first = 0; first < s.dataset_clips; first += chunk) {
    const auto n = std::min(chunk, s.dataset_clips - first);
    auto clips = render_training_clips(mix_seed(config_.seed, 7), first, n, s.clip_frames, config_.clip,
                                       {s.role_contrast_share, s.leaving_share});
    const auto mu = vae_->moments(clips.video.to(device_)).narrow(1, 0, z);
    parts.push_back(((mu - mean) / std).to(at::kBFloat16));
    captions.insert(captions.end(), clips.captions.begin(), clips.captions.end());
    if (progress) progress(first + n, s.dataset_clips);
  }
  latents_ = at::cat(parts, 0);

  const model::T5Tokenizer tok(tokenizer_);
  std::vector<model::T5Tokens> caption_tokens, uncond_tokens;
  for (const auto& t : captions) caption_tokens.push_back(tok.encode(t));
  for (const char* t : {"", pipeline::kDefaultNegativePrompt}) uncond_tokens.push_back(tok.encode(t));
  std::int64_t length = 1;  // the longest text's tokens: the encoder runs on no more
  for (const auto* all : {&caption_tokens, &uncond_tokens})
    for (const auto& t : *all) length = std::max(length, t.length);
  std::tie(ids_, mask_) = pack(caption_tokens, length);
  std::tie(uncond_ids_, uncond_mask_) = pack(uncond_tokens, length);
  ids_ = ids_.to(device_);
  mask_ = mask_.to(device_);
  uncond_ids_ = uncond_ids_.to(device_);
  uncond_mask_ = uncond_mask_.to(device_);
}

at::Tensor DitTrainer::context_for(const at::Tensor& ids, const at::Tensor& mask) {
  const auto text = model_->text->forward(ids, mask);  // [B, L, text_dim], zero past each prompt
  return at::constant_pad_nd(text, {0, 0, 0, kTextLength - text.size(1)});
}

double DitTrainer::train_step(std::int64_t step) {
  if (!latents_.defined()) throw Error(ErrorCode::Runtime, "DitTrainer: prepare() the dataset before training");
  const auto& s = config_.dit;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(mix_seed(config_.seed, 8, static_cast<std::uint64_t>(step)));
  auto uniform = [&] { return at::rand({1}, gen, at::kDouble).item<double>(); };
  auto below = [&](std::int64_t n) { return at::randint(n, {1}, gen, at::kLong).item<std::int64_t>(); };

  const auto n_clips = latents_.size(0), frames = latents_.size(2);
  const auto index = at::randint(n_clips, {s.batch}, gen, at::kLong).to(device_);
  std::int64_t length = frames, offset = 0;
  if (uniform() < s.crop_probability) {
    length = s.min_latent_frames + below(frames - s.min_latent_frames + 1);
    offset = below(frames - length + 1);
  }
  const auto x0 = latents_.index_select(0, index).narrow(2, offset, length).to(at::kFloat);
  const auto sigma = sample_frame_sigmas(length, s.noise, gen);
  const auto noise = at::randn(x0.sizes(), gen, at::kFloat).to(device_);
  const auto sample = make_flow_sample(x0, sigma, noise);

  // Prompt dropout: a dropped caption becomes one of the unconditional texts.
  auto ids = ids_.index_select(0, index), mask = mask_.index_select(0, index);
  const auto drop = (at::rand({s.batch}, gen, at::kDouble) < s.prompt_dropout).to(device_);
  const auto which = at::randint(2, {s.batch}, gen, at::kLong).to(device_);
  ids = at::where(drop.unsqueeze(1), uncond_ids_.index_select(0, which), ids);
  mask = at::where(drop.unsqueeze(1), uncond_mask_.index_select(0, which), mask);
  const int fps_index = static_cast<int>(below(2));

  set_learning_rate(*optimizer_, learning_rate(step));
  model::WanDitCall call;
  call.chunk_tokens = 0;  // autograd keeps every chunk's activations anyway: one chunk, fewer kernels
  const auto prediction = model_->dit->forward(sample.noisy, sample.timesteps, context_for(ids, mask), fps_index, call);
  auto loss = flow_matching_loss(prediction, sample);
  optimizer_->zero_grad();
  loss.backward();
  torch::nn::utils::clip_grad_norm_(model_->parameters(), s.grad_clip);
  optimizer_->step();
  return loss.item<double>();
}

}  // namespace skyreels::train
