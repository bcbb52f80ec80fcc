// The trainer's CPU smoke test (issue 22): the whole run (tokenizer, VAE, text encoder + DiT, export) at
// tiny sizes. The losses go down, a run cut by its step budget and resumed ends with the same weights
// as an uninterrupted one, and the exported folder loads and generates through the engine.

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "io/safetensors.h"
#include "pipeline/engine.h"
#include "test_support.h"
#include "train/loss_log.h"
#include "train/training_run.h"

namespace {

using namespace skyreels;
using skyreels::test::TempDir;
namespace fs = std::filesystem;

train::RunOptions smoke(const fs::path& dir) {
  train::RunOptions o;
  o.run_dir = dir;
  o.config = train::TrainConfig::preset_named("smoke");
  return o;
}

double mean_loss(const std::vector<train::LossRow>& rows, const std::string& stage, bool first, std::size_t n) {
  std::vector<double> losses;
  for (const auto& r : rows)
    if (r.stage == stage) losses.push_back(r.loss);
  EXPECT_GE(losses.size(), 2 * n) << stage;
  if (losses.size() < 2 * n) return 0;
  const auto begin = first ? losses.begin() : losses.end() - static_cast<std::ptrdiff_t>(n);
  return std::accumulate(begin, begin + static_cast<std::ptrdiff_t>(n), 0.0) / static_cast<double>(n);
}

TEST(TrainingRun, SmokeRunLearnsResumesExactlyAndExportsALoadableModel) {
  TempDir whole, cut;
  std::vector<std::string> said;
  ASSERT_EQ(train::run_training(smoke(whole.path()), [&](const std::string& line) { said.push_back(line); }),
            train::RunStatus::Finished);
  // The VAE stage reports the detector on held-out scenes after its round trip (the DiT's ceiling).
  EXPECT_EQ(std::count_if(said.begin(), said.end(),
                          [](const std::string& line) {
                            return line.rfind("vae: 4 held-out scenes of 9 frames after the round trip: colour ", 0) == 0 &&
                                   line.find("; frame 0 ") != std::string::npos;
                          }),
            1);

  const auto rows = train::read_loss_log(whole / "loss.csv");
  EXPECT_LT(mean_loss(rows, "vae", false, 5), 0.8 * mean_loss(rows, "vae", true, 5));
  EXPECT_LT(mean_loss(rows, "dit", false, 5), 0.8 * mean_loss(rows, "dit", true, 5));
  EXPECT_GT(fs::file_size(whole / "loss.png"), 1000u);

  // Cut twice (inside the VAE stage, then inside the DiT stage), resumed: the same weights, bit for bit.
  auto options = smoke(cut.path());
  options.step_budget = 17;
  ASSERT_EQ(train::run_training(options, {}), train::RunStatus::Stopped);
  options.step_budget = 35;
  ASSERT_EQ(train::run_training(options, {}), train::RunStatus::Stopped);
  options.step_budget = 0;
  ASSERT_EQ(train::run_training(options, {}), train::RunStatus::Finished);
  for (const auto* file : {"model.safetensors", "Wan2.1_VAE.safetensors", "models_t5_umt5-xxl-enc-bf16.safetensors"}) {
    io::SafetensorsFile a((whole / "model" / file).string()), b((cut / "model" / file).string());
    ASSERT_EQ(a.entries().size(), b.entries().size()) << file;
    for (const auto& entry : a.entries())
      EXPECT_TRUE(at::equal(a.tensor(entry.name), b.tensor(entry.name))) << file << " " << entry.name;
  }
  EXPECT_EQ(train::read_loss_log(cut / "loss.csv").size(), rows.size());  // no step logged twice

  // Another preset or seed in the same run folder is refused before any work.
  auto other = smoke(cut.path());
  other.config.seed += 1;
  EXPECT_THROW(train::run_training(other, {}), Error);

  // The exported folder is a model the engine loads and generates with, at its recommended settings.
  pipeline::EngineOptions engine_options;
  engine_options.prompt_cache_dir = whole / "cache";
  pipeline::Engine engine((whole / "model").string(), engine_options);
  pipeline::GenerationRequest request;
  request.settings = engine.default_settings();
  request.settings.steps = 2;
  const auto result = engine.generate(request);
  EXPECT_EQ(result.video.size(0), request.settings.num_frames);
  EXPECT_EQ(result.video.size(1), 32);
}

// --vae-init: a finished VAE trained further starts from its file (its first loss is a trained VAE's),
// a missing file is an error before any work, and once the VAE stage is done the run folder no longer
// asks where it started from (the DiT stage of another call may run without the file).
TEST(TrainingRun, AFinishedVaeTrainsFurtherFromItsFile) {
  TempDir first, further;
  auto options = smoke(first.path());
  options.stop_after = train::RunOptions::StopAfter::Vae;
  ASSERT_EQ(train::run_training(options, {}), train::RunStatus::Finished);

  auto missing = smoke(further.path());
  missing.config.vae.init_from = (first / "vae" / "no-such.safetensors").string();
  missing.stop_after = train::RunOptions::StopAfter::Vae;
  EXPECT_THROW(train::run_training(missing, {}), Error);

  auto again = smoke(further.path() / "run");
  again.config.vae.init_from = (first / "vae" / "final.safetensors").string();
  again.config.vae.steps = 6;
  again.stop_after = train::RunOptions::StopAfter::Vae;
  ASSERT_EQ(train::run_training(again, {}), train::RunStatus::Finished);
  const auto from_scratch = train::read_loss_log(first / "loss.csv");
  const auto trained_further = train::read_loss_log(further / "run" / "loss.csv");
  ASSERT_FALSE(from_scratch.empty());
  ASSERT_FALSE(trained_further.empty());
  EXPECT_LT(trained_further.front().loss, 0.8 * from_scratch.front().loss);

  auto without_file = again;
  without_file.config.vae.init_from.clear();
  EXPECT_EQ(train::run_training(without_file, {}), train::RunStatus::Finished);
}

TEST(TrainingRun, AFinishedModelTrainsFurtherFromItsFolder) {
  TempDir first, further;
  ASSERT_EQ(train::run_training(smoke(first.path()), {}), train::RunStatus::Finished);

  auto missing = smoke(further.path() / "missing");
  missing.config.dit.init_from = (first / "no-such-model").string();
  EXPECT_THROW(train::run_training(missing, {}), Error);

  // The same tokenizer and VAE (the first run's folder, copied), the DiT and text encoder from its model.
  const auto run = further.path() / "run";
  fs::create_directories(run);
  fs::copy(first / "tokenizer", run / "tokenizer", fs::copy_options::recursive);
  fs::copy(first / "vae", run / "vae", fs::copy_options::recursive);
  fs::copy_file(first / "loss.csv", run / "loss.csv");
  auto again = smoke(run);
  again.config.dit.init_from = (first / "model").string();
  again.config.dit.steps = 6;
  ASSERT_EQ(train::run_training(again, {}), train::RunStatus::Finished);
  // A DiT trained further starts where the first ended, well below where a fresh one starts.
  const auto from_scratch = train::read_loss_log(first / "loss.csv");
  const auto trained_further = train::read_loss_log(run / "loss.csv");
  const double fresh = mean_loss(from_scratch, "dit", true, 3), finished = mean_loss(from_scratch, "dit", false, 3);
  const double resumed = mean_loss(trained_further, "dit", false, 3);
  EXPECT_LT(resumed, 0.5 * (fresh + finished));
}

}  // namespace
