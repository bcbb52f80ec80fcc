// Training checkpoints: a run stopped, saved and resumed ends exactly where an uninterrupted run does.

#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/optim/adamw.h>

#include "model/wan_dit.h"
#include "model/weights.h"
#include "skyreels/error.h"
#include "test_support.h"
#include "train/df_objective.h"
#include "train/train_checkpoint.h"

namespace {

namespace train = skyreels::train;
namespace model = skyreels::model;

// A tiny DiT with float32 master weights, initialised from `init_seed`, and its optimiser.
struct TinyRun {
  explicit TinyRun(std::uint64_t init_seed) : dit(config(), at::TensorOptions().dtype(at::kFloat)) {
    model::randomize_weights(*dit, init_seed, 0.05);
    for (auto& p : dit->parameters()) p.set_requires_grad(true);
    optimizer = std::make_unique<torch::optim::AdamW>(dit->parameters(), torch::optim::AdamWOptions(3e-3));
  }
  static model::WanDitConfig config() {
    model::WanDitConfig c;
    c.dim = 32;
    c.ffn_dim = 64;
    c.text_dim = 16;
    c.num_heads = 2;
    c.num_layers = 1;
    return c;
  }
  // `steps` optimiser steps on fixed clips, with noise rows and noise drawn from `gen`.
  void train(int steps, at::Generator& gen) {
    at::manual_seed(0);  // the clips, the same in every run
    const auto x0 = at::randn({2, 16, 3, 4, 4}), context = at::randn({2, 5, 16});
    for (int i = 0; i < steps; ++i) {
      const auto sigma = train::sample_frame_sigmas(3, {}, gen);
      const auto sample = train::make_flow_sample(x0, sigma, at::randn(x0.sizes(), gen));
      auto loss = train::flow_matching_loss(dit->forward(sample.noisy, sample.timesteps, context), sample);
      optimizer->zero_grad();
      loss.backward();
      optimizer->step();
    }
  }
  model::WanDit dit;
  std::unique_ptr<torch::optim::AdamW> optimizer;
};

at::Generator generator(std::uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

TEST(TrainCheckpoint, AResumedRunEndsWhereAnUninterruptedOneDoes) {
  TinyRun straight(1);
  auto gen = generator(9);
  straight.train(6, gen);

  skyreels::test::TempDir dir;
  {
    TinyRun first(1);
    auto first_gen = generator(9);
    first.train(3, first_gen);
    train::save_checkpoint(dir / "ckpt", *first.dit, *first.optimizer, 3, first_gen);
  }
  TinyRun resumed(2);                  // another initialisation, overwritten by the checkpoint
  auto resumed_gen = generator(77);  // another seed, likewise
  EXPECT_EQ(train::load_checkpoint(dir / "ckpt", *resumed.dit, *resumed.optimizer, resumed_gen), 3);
  resumed.train(3, resumed_gen);

  const auto a = straight.dit->named_parameters(), b = resumed.dit->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& p : a) EXPECT_TRUE(at::equal(p.value(), b[p.key()])) << p.key();
  // Not vacuous: without the optimiser's and generator's state the run differs.
  TinyRun fresh(2);
  auto fresh_gen = generator(77);
  train::load_checkpoint(dir / "ckpt", *fresh.dit, *fresh.optimizer, fresh_gen);
  fresh.optimizer = std::make_unique<torch::optim::AdamW>(fresh.dit->parameters(), torch::optim::AdamWOptions(3e-3));
  fresh.train(3, fresh_gen);
  EXPECT_FALSE(at::equal(fresh.dit->patch_embedding->weight, straight.dit->patch_embedding->weight));
}

TEST(TrainCheckpoint, MissingOrMismatchedCheckpointsAreNamed) {
  skyreels::test::TempDir dir;
  TinyRun run(1);
  auto gen = generator(1);
  skyreels::ErrorCode code{};
  auto text = skyreels::test::error_text([&] { train::load_checkpoint(dir / "none", *run.dit, *run.optimizer, gen); }, &code);
  EXPECT_EQ(code, skyreels::ErrorCode::NotFound);
  EXPECT_NE(text.find("model.safetensors"), std::string::npos) << text;
  train::save_checkpoint(dir / "ckpt", *run.dit, *run.optimizer, 5, gen);
  auto config = TinyRun::config();
  config.num_layers = 2;  // another model
  model::WanDit other(config, at::TensorOptions().dtype(at::kFloat));
  torch::optim::AdamW other_optimizer(other->parameters());
  text = skyreels::test::error_text([&] { train::load_checkpoint(dir / "ckpt", *other, other_optimizer, gen); }, &code);
  EXPECT_NE(text.find("blocks.1"), std::string::npos) << text;
}

}  // namespace
