// The diffusion-forcing training objective: per-frame noise rows, the flow-matching sample and loss,
// and a few optimiser steps of a tiny DiT through the engine's own (differentiable) forward.

#include <cmath>
#include <numeric>

#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/optim/adamw.h>

#include "model/wan_dit.h"
#include "model/weights.h"
#include "train/df_objective.h"

namespace {

namespace train = skyreels::train;
namespace model = skyreels::model;

at::Generator generator(std::uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

TEST(DfObjective, FrameNoiseRowsNeverGetCleanerAlongTheFrames) {
  auto gen = generator(3);
  train::FrameNoiseOptions o;
  int sync = 0, prefixed = 0, conditioned = 0, ramps = 0;
  for (int i = 0; i < 400; ++i) {
    const auto sigma = train::sample_frame_sigmas(6, o, gen);
    ASSERT_EQ(sigma.sizes(), (std::vector<std::int64_t>{6}));
    EXPECT_GE(sigma.min().item<float>(), 0.0f);
    EXPECT_LE(sigma.max().item<float>(), 1.0f);
    // Earlier frames are cleaner (or as noisy): the rows of every inference schedule.
    EXPECT_TRUE((sigma.narrow(0, 1, 5) >= sigma.narrow(0, 0, 5)).all().item<bool>()) << sigma;
    const float first = sigma[0].item<float>(), last = sigma[5].item<float>();
    if (first == 0.0f) ++prefixed;
    else if (std::abs(first - static_cast<float>(o.condition_sigma)) < 1e-6f) ++conditioned;
    if (first == last) ++sync;
    else if (first > 0.05f) ++ramps;
  }
  // Each kind of row the sampler promises appears (400 draws; each kind has probability >= 0.09).
  EXPECT_GT(sync, 20);
  EXPECT_GT(prefixed, 10);
  EXPECT_GT(conditioned, 5);
  EXPECT_GT(ramps, 20);
  // The same seed, the same rows.
  auto a = generator(11), b = generator(11);
  for (int i = 0; i < 20; ++i)
    EXPECT_TRUE(at::equal(train::sample_frame_sigmas(4, o, a), train::sample_frame_sigmas(4, o, b)));
}

TEST(DfObjective, FlowSampleIsTheInterpolationAndTheVelocity) {
  at::manual_seed(5);
  const auto x0 = at::randn({2, 3, 4, 2, 2}), eps = at::randn({2, 3, 4, 2, 2});
  const auto sigma = at::tensor({0.0f, 0.25f, 0.5f, 0.999f});
  const auto s = train::make_flow_sample(x0, sigma, eps);
  for (int f = 0; f < 4; ++f) {
    const double g = sigma[f].item<double>();
    const auto expected = x0.select(2, f) * (1.0 - g) + eps.select(2, f) * g;
    EXPECT_TRUE(at::allclose(s.noisy.select(2, f), expected, 1e-6, 1e-6)) << f;
  }
  EXPECT_TRUE(at::allclose(s.target, eps - x0));
  const std::vector<std::int64_t> expected_t{0, 250, 500, 999};
  for (int f = 0; f < 4; ++f) EXPECT_EQ(s.timesteps[f].item<std::int64_t>(), expected_t[static_cast<std::size_t>(f)]);
  EXPECT_EQ(s.weight[0].item<float>(), 0.0f);  // a clean frame teaches nothing
  // The loss is the mean squared error over the noisy frames only.
  auto prediction = s.target.clone();
  prediction.select(2, 0).add_(100.0);  // wrong where it does not count
  EXPECT_NEAR(train::flow_matching_loss(prediction, s).item<double>(), 0.0, 1e-9);
  prediction.select(2, 2).add_(1.0);
  EXPECT_NEAR(train::flow_matching_loss(prediction, s).item<double>(), 1.0 / 3.0, 1e-6);
}

TEST(DfObjective, ATinyDitLearnsThroughTheEnginesForward) {
  // The CPU smoke test of training: float32 master weights (the forward casts them to bf16 where the
  // reference rounds), per-frame timesteps, AdamW; the loss must go down.
  at::manual_seed(17);
  model::WanDitConfig c;
  c.dim = 32;
  c.ffn_dim = 64;
  c.text_dim = 16;
  c.num_heads = 2;
  c.num_layers = 1;
  c.inject_sample_info = true;
  model::WanDit dit(c, at::TensorOptions().dtype(at::kFloat));
  model::randomize_weights(*dit, 3, 0.05);
  for (auto& p : dit->parameters()) p.set_requires_grad(true);
  torch::optim::AdamW optimizer(dit->parameters(), torch::optim::AdamWOptions(3e-3).weight_decay(0.0));

  const auto x0 = at::randn({2, 16, 3, 4, 4});
  const auto context = at::randn({2, 5, 16});
  auto gen = generator(23);
  train::FrameNoiseOptions noise;
  std::vector<double> losses;
  for (int step = 0; step < 300; ++step) {
    const auto sigma = train::sample_frame_sigmas(3, noise, gen);
    const auto sample = train::make_flow_sample(x0, sigma, at::randn(x0.sizes(), gen));
    const auto prediction = dit->forward(sample.noisy, sample.timesteps, context, step % 2);
    auto loss = train::flow_matching_loss(prediction, sample);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    losses.push_back(loss.item<double>());
  }
  ASSERT_TRUE(dit->patch_embedding->weight.grad().defined());  // the gradient reached the first layer
  auto mean = [](auto begin, auto end) { return std::accumulate(begin, end, 0.0) / std::distance(begin, end); };
  const double first = mean(losses.begin(), losses.begin() + 20), last = mean(losses.end() - 20, losses.end());
  EXPECT_LT(last, 0.8 * first) << "first " << first << ", last " << last;
}

}  // namespace
