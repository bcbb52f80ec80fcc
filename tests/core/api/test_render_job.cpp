// The public engine and its job runner (render_to_file) on the demo model: the file it writes, its
// metadata, and what is kept when a job is cancelled or fails.

#include <atomic>
#include <chrono>
#include <stdexcept>

#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "api/model_identity.h"
#include "io/safetensors.h"
#include "skyreels/engine.h"
#include "test_support.h"

namespace {

using namespace skyreels;
using skyreels::test::demo_model;
using skyreels::test::error_text;
using skyreels::test::read_file;
using skyreels::test::TempDir;
using skyreels::test::write_file;
namespace fs = std::filesystem;

// The demo model as an explicit folder, and a prompt cache of the test's own.
Engine demo_engine(const fs::path& cache) {
  EngineOptions options;
  options.device = skyreels::test::test_device().str();
  options.prompt_cache_dir = cache.string();
  return Engine(demo_model().string(), options);
}

// 9 frames (3 latents), 3 steps, asynchronous: the latents finish a row apart, so streaming decode
// delivers three blocks of 1 + 4 + 4 frames.
RenderJob quick_job(const Engine& engine, const fs::path& output) {
  RenderJob job;
  job.request.settings = engine.recommended_settings();
  auto& s = job.request.settings;
  s.num_frames = s.base_num_frames = 9;
  s.ar_step = 1;
  s.causal_block_size = 1;
  s.steps = 3;
  s.seed = 11;
  job.output = output.string();
  return job;
}

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) files.push_back(entry.path().filename());
  std::sort(files.begin(), files.end());
  return files;
}

nlohmann::json stored(const fs::path& file, const char* key) {
  return nlohmann::json::parse(io::SafetensorsFile(file.string()).metadata().at(key));
}

TEST(RenderJob, WritesTheFramesWithSettingsAndModelIdentity) {
  TempDir dir;
  auto engine = demo_engine(dir / "cache");
  const auto out = dir / "video.safetensors";
  auto job = quick_job(engine, out);
  job.request.settings.prompt = "a red circle";
  std::int64_t delivered = 0;
  const auto r = render_to_file(engine, job, [&](const GenerationEvent& e) {
    if (const auto* b = std::get_if<BlockDecoded>(&e)) delivered += b->frames.count();
  });
  ASSERT_EQ(r.status, RenderStatus::Finished) << r.message;
  EXPECT_EQ(r.output, out.string());
  EXPECT_EQ(r.frames_written, 9);
  EXPECT_EQ(r.frames_planned, 9);
  EXPECT_FALSE(r.partial());
  EXPECT_EQ(delivered, 9);
  EXPECT_EQ(r.settings.seed, 11u);

  io::SafetensorsFile file(out.string());
  EXPECT_EQ(file.tensor("frames").sizes(), (std::vector<std::int64_t>{9, 192, 320, 3}));
  EXPECT_EQ(stored(out, "skyreels_settings")["prompt"], "a red circle");
  const auto extra = stored(out, "skyreels_output");
  EXPECT_EQ(extra["output"]["frames_planned"], 9);
  // An explicit folder is a model of its own: named by its folder, hashed by its weights' content.
  EXPECT_EQ(extra["model"]["name"], "demo");  // the folder written by write_demo_model is called demo
  const auto hash = extra["model"]["weights_hash"].get<std::string>();
  EXPECT_EQ(hash.size(), 16u);
  EXPECT_EQ(hash, api::weights_hash(api::weight_files((demo_model() / "model.safetensors").string()), {}));
  // Only the output is left: no temporary file beside it.
  EXPECT_EQ(files_in(dir.path()), (std::vector<fs::path>{"cache", "video.safetensors"}));
}

TEST(RenderJob, LorasAreStoredWithTheirIdentityAndRestoredFromTheVideo) {
  TempDir dir;
  auto engine = demo_engine(dir / "cache");
  // A Wan-native LoRA on the demo model's first block, shapes read from its checkpoint.
  const io::SafetensorsFile model((demo_model() / "model.safetensors").string());
  const auto shape = model.entry("blocks.0.self_attn.v.weight").shape;
  at::manual_seed(3);
  const auto lora = dir / "motion.safetensors";
  io::write_safetensors(lora.string(), {{"lora_unet_blocks_0_self_attn_v.lora_down.weight", at::randn({2, shape[1]})},
                                        {"lora_unet_blocks_0_self_attn_v.lora_up.weight", at::randn({shape[0], 2})},
                                        {"lora_unet_blocks_0_self_attn_v.alpha", at::scalar_tensor(1.0)}});
  const auto first = dir / "first.safetensors";
  auto job = quick_job(engine, first);
  job.request.settings.loras = {{lora.string(), 0.75}};
  const auto r = render_to_file(engine, job);
  ASSERT_EQ(r.status, RenderStatus::Finished) << r.message;
  ASSERT_EQ(r.settings.loras.size(), 1u);
  EXPECT_TRUE(r.settings.loras[0].recorded());

  const auto stored_loras = stored(first, "skyreels_settings")["loras"];
  ASSERT_EQ(stored_loras.size(), 1u);
  EXPECT_EQ(stored_loras[0]["path"], lora.string());
  EXPECT_EQ(stored_loras[0]["name"], "motion.safetensors");
  EXPECT_EQ(stored_loras[0]["size"], static_cast<std::int64_t>(fs::file_size(lora)));
  EXPECT_EQ(stored_loras[0]["hash"], r.settings.loras[0].hash);
  EXPECT_DOUBLE_EQ(stored_loras[0]["strength"].get<double>(), 0.75);

  // The settings restored from the file make the same video.
  const auto second = dir / "second.safetensors";
  auto again = quick_job(engine, second);
  again.request.settings = settings_from_json(stored(first, "skyreels_settings"));
  ASSERT_EQ(render_to_file(engine, again).status, RenderStatus::Finished);
  EXPECT_TRUE(at::equal(io::SafetensorsFile(first.string()).tensor("frames"),
                        io::SafetensorsFile(second.string()).tensor("frames")));

  // The LoRA file changed since: named before anything is written.
  const auto third = dir / "third.safetensors";
  again.output = third.string();
  const auto then = fs::last_write_time(lora);
  io::write_safetensors(lora.string(), {{"lora_unet_blocks_0_self_attn_v.lora_down.weight", at::randn({2, shape[1]})},
                                        {"lora_unet_blocks_0_self_attn_v.lora_up.weight", at::randn({shape[0], 2})},
                                        {"lora_unet_blocks_0_self_attn_v.alpha", at::scalar_tensor(1.0)}});
  fs::last_write_time(lora, then + std::chrono::seconds(1));  // file times are coarse
  ErrorCode code{};
  auto text = error_text([&] { render_to_file(engine, again); }, &code);
  EXPECT_EQ(code, ErrorCode::BadArgument) << text;
  EXPECT_NE(text.find(lora.string()), std::string::npos) << text;
  EXPECT_NE(text.find("changed"), std::string::npos) << text;
  fs::remove(lora);
  text = error_text([&] { render_to_file(engine, again); }, &code);
  EXPECT_EQ(code, ErrorCode::NotFound) << text;
  EXPECT_NE(text.find(lora.string()), std::string::npos) << text;
  EXPECT_FALSE(fs::exists(third));
}

TEST(RenderJob, AnExistingFileIsKeptWithoutOverwrite) {
  TempDir dir;
  auto engine = demo_engine(dir / "cache");
  const auto out = dir / "taken.safetensors";
  write_file(out, "earlier work");
  ErrorCode code{};
  const auto text = error_text([&] { render_to_file(engine, quick_job(engine, out)); }, &code);
  EXPECT_EQ(code, ErrorCode::BadArgument);
  EXPECT_NE(text.find("--overwrite"), std::string::npos) << text;
  EXPECT_EQ(read_file(out), "earlier work");
  EXPECT_EQ(files_in(dir.path()), (std::vector<fs::path>{"taken.safetensors"}));  // nothing else was made
}

TEST(RenderJob, CancelledBeforeAnyFrameLeavesTheOldFileAlone) {
  TempDir dir;
  auto engine = demo_engine(dir / "cache");
  const auto out = dir / "taken.safetensors";
  write_file(out, "earlier work");
  auto job = quick_job(engine, out);
  job.overwrite = true;
  std::atomic<bool> cancel{true};
  const auto r = render_to_file(engine, job, {}, &cancel);
  EXPECT_EQ(r.status, RenderStatus::Cancelled);
  EXPECT_EQ(r.frames_written, 0);
  EXPECT_TRUE(r.output.empty());
  EXPECT_EQ(read_file(out), "earlier work");  // replaced only by a file with frames
  EXPECT_EQ(files_in(dir.path()), (std::vector<fs::path>{"cache", "taken.safetensors"}));
}

TEST(RenderJob, CancelAndFailureKeepTheFinishedFramesAsAPartialFile) {
  TempDir dir;
  auto engine = demo_engine(dir / "cache");
  // Cancelled after the first block: that block is the file.
  {
    const auto out = dir / "cancelled.safetensors";
    std::atomic<bool> cancel{false};
    const auto r = render_to_file(engine, quick_job(engine, out), [&](const GenerationEvent& e) {
      if (std::holds_alternative<BlockDecoded>(e)) cancel = true;
    }, &cancel);
    EXPECT_EQ(r.status, RenderStatus::Cancelled);
    ASSERT_GT(r.frames_written, 0);
    EXPECT_LT(r.frames_written, 9);
    EXPECT_TRUE(r.partial());
    EXPECT_EQ(io::SafetensorsFile(out.string()).tensor("frames").size(0), r.frames_written);
    EXPECT_EQ(stored(out, "skyreels_output")["output"]["frames_planned"], 9);  // a reader tells it is partial
  }
  // A failure after the first block (here the front end's own sink throws): Failed, frames kept.
  {
    const auto out = dir / "failed.safetensors";
    int blocks = 0;
    const auto r = render_to_file(engine, quick_job(engine, out), [&](const GenerationEvent& e) {
      if (std::holds_alternative<BlockDecoded>(e) && ++blocks == 2) throw std::runtime_error("the display broke");
    });
    EXPECT_EQ(r.status, RenderStatus::Failed);
    EXPECT_NE(r.message.find("the display broke"), std::string::npos) << r.message;
    EXPECT_EQ(r.frames_written, 5);  // the first two blocks: 1 + 4 frames, both written before the sink saw them
    EXPECT_EQ(io::SafetensorsFile(out.string()).tensor("frames").size(0), 5);
  }
}

TEST(RenderJob, AFileThatAppearsWhileRenderingIsNeverReplaced) {
  TempDir dir;
  auto engine = demo_engine(dir / "cache");
  const auto out = dir / "race.safetensors";
  bool written = false;
  const auto r = render_to_file(engine, quick_job(engine, out), [&](const GenerationEvent& e) {
    if (std::holds_alternative<BlockDecoded>(e) && !written) {
      write_file(out, "another run's video");  // created after the start-up check
      written = true;
    }
  });
  EXPECT_EQ(r.status, RenderStatus::Failed);
  EXPECT_NE(r.message.find("appeared"), std::string::npos) << r.message;
  EXPECT_EQ(read_file(out), "another run's video");
  // The finished video waits beside it, whole.
  EXPECT_EQ(io::SafetensorsFile((dir / "race.partial.safetensors").string()).tensor("frames").size(0), 9);
}

TEST(RenderJob, BadSettingsAndTypesFailBeforeAnythingIsCreated) {
  TempDir dir;
  auto engine = demo_engine(dir / "cache");
  auto job = quick_job(engine, dir / "x.safetensors");
  job.request.settings.num_frames = 10;
  ErrorCode code{};
  auto text = error_text([&] { render_to_file(engine, job); }, &code);
  EXPECT_EQ(code, ErrorCode::BadArgument);
  EXPECT_NE(text.find("1 + 4k"), std::string::npos) << text;

  job = quick_job(engine, dir / "x.avi");
  text = error_text([&] { render_to_file(engine, job); }, &code);
  EXPECT_EQ(code, ErrorCode::BadArgument);
  EXPECT_NE(text.find("unknown output type"), std::string::npos) << text;

  job = quick_job(engine, dir / "no" / "such" / "folder" / "x.safetensors");
  text = error_text([&] { render_to_file(engine, job); }, &code);
  EXPECT_EQ(code, ErrorCode::BadArgument);
  EXPECT_NE(text.find("does not exist"), std::string::npos) << text;
  EXPECT_FALSE(fs::exists(dir / "x.safetensors"));
}

TEST(RenderJob, DefaultNamesNeverReplaceAnEarlierVideo) {
  TempDir dir;
  auto engine = demo_engine(dir / "cache");
  auto job = quick_job(engine, {});
  job.output_folder = (dir / "videos").string();  // made when missing
  job.default_extension = ".safetensors";
  const auto a = render_to_file(engine, job), b = render_to_file(engine, job);
  ASSERT_EQ(a.status, RenderStatus::Finished) << a.message;
  ASSERT_EQ(b.status, RenderStatus::Finished) << b.message;
  EXPECT_NE(a.output, b.output);
  EXPECT_EQ(fs::path(a.output).parent_path(), dir / "videos");
  EXPECT_NE(fs::path(a.output).filename().string().find("-11"), std::string::npos) << a.output;  // the seed
  // The same seed and settings: the same frames.
  EXPECT_TRUE(at::equal(io::SafetensorsFile(a.output).tensor("frames"), io::SafetensorsFile(b.output).tensor("frames")));
}

TEST(PublicEngine, RecommendedSettingsAndErrorsWithoutLoadingAModel) {
  EXPECT_EQ(recommended_settings(demo_model().string()).steps, Engine(demo_model().string()).recommended_settings().steps);
  ErrorCode code{};
  const auto text = error_text([] { Engine engine("/nonexistent/skyreels-model"); }, &code);
  EXPECT_EQ(code, ErrorCode::NotFound);
  EXPECT_NE(text.find("/nonexistent/skyreels-model"), std::string::npos) << text;
  EngineOptions tpu;
  tpu.device = "tpu";
  EXPECT_EQ(error_text([&] { Engine engine(demo_model().string(), tpu); }, &code).find("device"), 0u);
  EXPECT_EQ(code, ErrorCode::BadArgument);
  const auto devices = available_devices();
  ASSERT_FALSE(devices.empty());
  EXPECT_EQ(devices.back(), "cpu");
}

TEST(ModelIdentity, TheHashFollowsTheContentAndIsCached) {
  TempDir dir;
  write_file(dir / "a.safetensors", std::string(100000, 'x'));
  const auto cache = dir / "hashes.json";
  const auto first = api::weights_hash({dir / "a.safetensors"}, cache);
  EXPECT_TRUE(fs::exists(cache));
  EXPECT_EQ(api::weights_hash({dir / "a.safetensors"}, {}), first);  // the cache changes nothing
  std::string changed(100000, 'x');
  changed[54321] = 'y';  // one byte in the middle
  write_file(dir / "b.safetensors", changed);
  EXPECT_NE(api::weights_hash({dir / "b.safetensors"}, cache), first);
  // Shards are named by their index.
  write_file(dir / "m.safetensors.index.json",
             R"({"weight_map": {"x": "b.safetensors", "y": "a.safetensors", "z": "a.safetensors"}})");
  const auto files = api::weight_files((dir / "m.safetensors.index.json").string());
  EXPECT_EQ(files, (std::vector<fs::path>{dir / "m.safetensors.index.json", dir / "a.safetensors", dir / "b.safetensors"}));
}

}  // namespace
