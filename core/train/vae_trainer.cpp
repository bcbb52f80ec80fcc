#include "train/vae_trainer.h"

#include <algorithm>
#include <cmath>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "io/tensor_source.h"
#include "model/weights.h"
#include "train/clip_data.h"

namespace skyreels::train {

double cosine_learning_rate(std::int64_t step, std::int64_t total, std::int64_t warmup, double peak, double final) {
  if (step < warmup) return peak * static_cast<double>(step + 1) / static_cast<double>(warmup);
  const double progress =
      std::clamp(static_cast<double>(step - warmup) / static_cast<double>(std::max<std::int64_t>(1, total - warmup)), 0.0, 1.0);
  return final + 0.5 * (peak - final) * (1.0 + std::cos(M_PI * progress));
}

at::Tensor reconstruction_loss(const at::Tensor& decoded, const at::Tensor& target, double edge_weight) {
  const auto error = decoded - target;
  auto loss = error.abs().mean() + error.pow(2).mean();
  if (edge_weight > 0) {
    // The difference of the error between neighbours is the difference of the two images' gradients.
    const auto h = error.size(3), w = error.size(4);
    const auto along_h = error.narrow(3, 1, h - 1) - error.narrow(3, 0, h - 1);
    const auto along_w = error.narrow(4, 1, w - 1) - error.narrow(4, 0, w - 1);
    loss = loss + edge_weight * (along_h.abs().mean() + along_w.abs().mean());
  }
  return loss;
}

void set_learning_rate(torch::optim::Optimizer& optimizer, double learning_rate) {
  for (auto& group : optimizer.param_groups())
    static_cast<torch::optim::AdamWOptions&>(group.options()).lr(learning_rate);
}

void initialize_weights(torch::nn::Module& module, std::uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (auto& p : module.named_parameters(true)) {
    const auto& name = p.key();
    auto value = p.value();
    const bool norm_scale = name.find("gamma") != std::string::npos ||
                            (value.dim() == 1 && name.find("norm") != std::string::npos && name.size() > 6 &&
                             name.compare(name.size() - 6, 6, "weight") == 0);
    if (norm_scale) {
      value.fill_(1.0);
    } else if (value.dim() <= 1) {
      value.zero_();
    } else if (name.find("embedding.weight") != std::string::npos && value.dim() == 2) {
      value.normal_(0.0, 1.0, gen);
    } else {
      const double fan_in = static_cast<double>(value.numel() / value.size(0));
      value.normal_(0.0, 1.0 / std::sqrt(fan_in), gen);
    }
  }
}

VaeTrainer::VaeTrainer(const TrainConfig& config, c10::Device device) : config_(config), device_(device) {
  model::WanVaeConfig c;
  c.dim = config.vae.dim;
  c.z_dim = config.vae.z_dim;
  c.mean.assign(static_cast<std::size_t>(c.z_dim), 0.0f);
  c.std.assign(static_cast<std::size_t>(c.z_dim), 1.0f);
  vae_ = model::WanVae(c, at::TensorOptions().dtype(at::kFloat));
  initialize_weights(*vae_, mix_seed(config.seed, 4));
  {
    // Each residual branch's last convolution and the attention's projection start at zero (the blocks
    // start as identities), and the posterior's log-variance at -8 (std 0.02: the decoder first sees
    // clean latents instead of unit noise). Measured on the CPU at small sizes: the loss after 200 steps
    // fell from 0.33 to 0.19 with these and the learning rate of train_config.h.
    torch::NoGradGuard no_grad;
    for (auto& p : vae_->named_parameters(true))
      if (p.key().find("residual.6.weight") != std::string::npos || p.key().find("proj.weight") != std::string::npos)
        p.value().zero_();
    vae_->conv1->bias.narrow(0, c.z_dim, c.z_dim).fill_(-8.0);
  }
  if (!config.vae.init_from.empty()) {
    // A finished VAE trained further: its weights (an exported file's latent statistics are left out;
    // they are measured again at the end).
    torch::NoGradGuard no_grad;
    const auto file = io::open_weights(config.vae.init_from);
    model::load_weights_strict(
        *vae_, *io::renamed_view(file, [](const std::string& key) {
          return key == "latents_mean" || key == "latents_std" ? std::string() : key;
        }, file->describe()));
  }
  vae_->to(device_);
  for (auto& p : vae_->parameters()) p.set_requires_grad(true);
  optimizer_ = std::make_unique<torch::optim::AdamW>(
      vae_->parameters(), torch::optim::AdamWOptions(peak_learning_rate()).weight_decay(0.0));
}

double VaeTrainer::peak_learning_rate() const {
  return config_.vae.init_from.empty() ? config_.vae.learning_rate : config_.vae.fine_tune_learning_rate;
}

double VaeTrainer::learning_rate(std::int64_t step) const {
  const double peak = peak_learning_rate();
  // The warm-up matters most when training further: a fresh AdamW's first updates are about the learning
  // rate for every weight, whatever its gradient (measured on the CPU: 4 steps at 2e-4 without one took
  // a trained VAE from 27.9 to 25.1 dB).
  return cosine_learning_rate(step, config_.vae.steps, std::min<std::int64_t>(100, config_.vae.steps / 4), peak,
                              std::min(peak / 10, config_.vae.final_learning_rate));
}

double VaeTrainer::train_step(std::int64_t step) {
  const auto& s = config_.vae;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(mix_seed(config_.seed, 2, static_cast<std::uint64_t>(step)));
  // h latent chunks of history (frame 0, then 4 frames each) before the trained part; with none the
  // trained part starts the clip, its first chunk a single frame.
  const auto history = at::randint(s.history_chunks + 1, {1}, gen, at::kLong).item<std::int64_t>();
  const auto history_frames = history == 0 ? 0 : 1 + 4 * (history - 1);
  const auto trained_frames = history == 0 ? s.clip_frames : s.clip_frames - 1;
  const auto clips = render_training_clips(mix_seed(config_.seed, 1), step * s.batch, s.batch,
                                           history_frames + trained_frames, config_.clip);
  auto video = clips.video;
  if (s.crop > 0 && s.crop < video.size(3) && s.crop < video.size(4)) {
    auto offset = [&](std::int64_t size) {
      return 8 * at::randint((size - s.crop) / 8 + 1, {1}, gen, at::kLong).item<std::int64_t>();
    };
    const auto top = offset(video.size(3)), left = offset(video.size(4));
    video = video.narrow(3, top, s.crop).narrow(4, left, s.crop);
  }
  const auto x = video.contiguous().to(device_);
  auto sample = [&](const at::Tensor& moments) {
    const auto mu = moments.narrow(1, 0, s.z_dim);
    const auto logvar = moments.narrow(1, s.z_dim, s.z_dim).clamp(-30.0, 20.0);
    const auto eps = at::randn(mu.sizes(), gen, at::TensorOptions().dtype(at::kFloat)).to(device_);
    return std::make_tuple(mu + at::exp(0.5 * logvar) * eps, mu, logvar);
  };

  model::CausalCache encoder_cache, decoder_cache;
  if (history_frames > 0) {
    torch::NoGradGuard no_grad;
    const auto [z, mu, logvar] = sample(vae_->moments(x.narrow(2, 0, history_frames), encoder_cache));
    vae_->decode_raw(z, decoder_cache);
  }
  set_learning_rate(*optimizer_, learning_rate(step));
  // Reconstruction of `target` continuing the caches, and the KL of its latents.
  auto reconstruct = [&](const at::Tensor& target, model::CausalCache& encoder, model::CausalCache& decoder) {
    const auto [z, mu, logvar] = sample(vae_->moments(target, encoder));
    const auto y = vae_->decode_raw(z, decoder).to(at::kFloat);
    const auto kl = -0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp()).mean();
    return reconstruction_loss(y, target, s.edge_weight) + s.kl_weight * kl;
  };
  auto loss = reconstruct(x.narrow(2, history_frames, trained_frames), encoder_cache, decoder_cache);
  if (s.first_frame_weight > 0) {
    model::CausalCache first_encoder, first_decoder;
    loss = loss + s.first_frame_weight * reconstruct(x.narrow(2, 0, 1), first_encoder, first_decoder);
  }
  optimizer_->zero_grad();
  loss.backward();
  optimizer_->step();
  return loss.item<double>();
}

std::vector<double> VaeTrainer::reconstruction_psnr(std::int64_t clips, std::int64_t frames) {
  torch::NoGradGuard no_grad;
  at::Tensor squared_error;  // [frames]
  for (std::int64_t i = 0; i < clips; ++i) {
    const auto data = render_training_clips(mix_seed(config_.seed, 9), i, 1, frames, config_.clip);
    const auto x = data.video.to(device_);
    model::CausalCache cache;
    const auto y = vae_->decode_raw(vae_->moments(x).narrow(1, 0, config_.vae.z_dim), cache).to(at::kFloat).clamp(-1, 1);
    const auto per_frame = (y - x).pow(2).mean({0, 1, 3, 4}).to(at::kCPU, at::kDouble);
    squared_error = squared_error.defined() ? squared_error + per_frame : per_frame;
  }
  const auto psnr = (4.0 / (squared_error / static_cast<double>(clips)).clamp_min(1e-12)).log10() * 10.0;
  return std::vector<double>(psnr.data_ptr<double>(), psnr.data_ptr<double>() + psnr.numel());
}

LatentStats VaeTrainer::measure_latent_stats(std::int64_t clips) {
  torch::NoGradGuard no_grad;
  const auto& s = config_.vae;
  const std::int64_t chunk = 16;
  at::Tensor sum, sum_sq;
  double count = 0;
  for (std::int64_t first = 0; first < clips; first += chunk) {
    const auto n = std::min(chunk, clips - first);
    const auto data = render_training_clips(mix_seed(config_.seed, 3), first, n, config_.dit.clip_frames, config_.clip);
    const auto mu = vae_->moments(data.video.to(device_)).narrow(1, 0, s.z_dim).to(at::kDouble);
    const auto per_channel = mu.transpose(0, 1).reshape({s.z_dim, -1});
    sum = sum.defined() ? sum + per_channel.sum(1) : per_channel.sum(1);
    sum_sq = sum_sq.defined() ? sum_sq + per_channel.pow(2).sum(1) : per_channel.pow(2).sum(1);
    count += static_cast<double>(per_channel.size(1));
  }
  const auto mean = sum / count;
  const auto std = (sum_sq / count - mean.pow(2)).clamp_min(1e-8).sqrt();
  const auto to_vector = [](const at::Tensor& t) {
    const auto f = t.to(at::kCPU, at::kFloat).contiguous();
    return std::vector<float>(f.data_ptr<float>(), f.data_ptr<float>() + f.numel());
  };
  LatentStats out{to_vector(mean), to_vector(std)};
  return out;
}

}  // namespace skyreels::train
