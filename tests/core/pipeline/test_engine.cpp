// The Engine on the project's demo model: prompts in, frames out, through real files on disk.

#include <atomic>
#include <optional>

#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "io/safetensors.h"
#include "pipeline/engine.h"
#include "test_support.h"

namespace {

using namespace skyreels;
using skyreels::test::demo_model;
using skyreels::test::error_text;
using skyreels::test::TempDir;
namespace fs = std::filesystem;

pipeline::EngineOptions cpu_options(const fs::path& cache) {
  pipeline::EngineOptions options;
  options.device = skyreels::test::test_device();
  options.prompt_cache_dir = cache;
  return options;
}

// Small and quick: 9 frames (3 latents, one causal block of 3), 3 steps.
pipeline::GenerationSettings quick(pipeline::GenerationSettings s) {
  s.num_frames = s.base_num_frames = 9;
  s.steps = 3;
  s.seed = 11;
  return s;
}

TEST(Engine, DemoModelGeneratesAVideoWithPhasesAndBlocks) {
  TempDir cache;
  pipeline::Engine engine(demo_model().string(), cpu_options(cache.path()));
  pipeline::GenerationRequest request;
  request.settings = quick(engine.default_settings());
  ASSERT_FALSE(request.settings.prompt.empty());  // the folder's recommended settings were read

  std::vector<pipeline::Phase> phases;
  std::vector<at::Tensor> blocks;
  bool finished = false;
  const auto result = engine.generate(request, [&](const pipeline::GenerationEvent& e) {
    if (const auto* p = std::get_if<pipeline::PhaseStarted>(&e)) phases.push_back(p->phase);
    if (const auto* b = std::get_if<pipeline::BlockDecoded>(&e)) blocks.push_back(pipeline::tensor_of(b->frames));
    if (std::holds_alternative<pipeline::GenerationFinished>(e)) finished = true;
  });
  ASSERT_TRUE(finished);
  ASSERT_FALSE(phases.empty());
  EXPECT_EQ(phases.front(), pipeline::Phase::EncodingPrompts);
  EXPECT_EQ(phases.back(), pipeline::Phase::Denoising);
  EXPECT_NE(std::find(phases.begin(), phases.end(), pipeline::Phase::LoadingModels), phases.end());
  const auto& s = request.settings;
  EXPECT_EQ(result.video.sizes(), (std::vector<std::int64_t>{9, s.height, s.width, 3}));
  ASSERT_FALSE(blocks.empty());
  EXPECT_TRUE(at::equal(at::cat(blocks, 0), result.video));
  // Random weights still give a picture with contrast, not a flat grey.
  EXPECT_GT(result.video.to(at::kFloat).std().item<double>(), 5.0);

  // The same seed gives the same video (models stay loaded, prompts come from the cache); another
  // seed another one.
  const auto again = engine.generate(request);
  EXPECT_TRUE(at::equal(again.video, result.video));
  request.settings.seed = 12;
  const auto other = engine.generate(request);
  EXPECT_FALSE(at::equal(other.video, result.video));
}

// The prompt-embedding files a cache folder holds: one per prompt the engine encoded.
int cached_prompts(const fs::path& dir) {
  int n = 0;
  if (fs::exists(dir))
    for (const auto& entry : fs::directory_iterator(dir)) n += entry.path().extension() == ".safetensors";
  return n;
}

TEST(Engine, WithoutGuidanceTheNegativePromptIsNeverEncoded) {
  TempDir cache;
  pipeline::Engine engine(demo_model().string(), cpu_options(cache.path()));
  pipeline::GenerationRequest request;
  request.settings = quick(engine.default_settings());
  request.settings.height = request.settings.width = 64;
  // The few-step recipe: Euler on an explicit list, guidance 1.
  request.settings.sampler = Sampler::Euler;
  request.settings.timestep_list = {1000, 750, 500};
  request.settings.steps = 3;
  request.settings.guidance_scale = 1.0;
  request.settings.negative_prompt = "a negative prompt no other test uses";
  std::vector<std::string> encoding;
  int rows = 0;
  const auto record = [&](const pipeline::GenerationEvent& e) {
    if (const auto* p = std::get_if<pipeline::PhaseStarted>(&e); p && p->phase == pipeline::Phase::EncodingPrompts)
      encoding.push_back(p->detail);
    rows += std::holds_alternative<pipeline::RowDone>(e);
  };
  const auto result = engine.generate(request, record);
  EXPECT_EQ(cached_prompts(cache.path()), 1);  // the prompt alone went through the encoder
  EXPECT_EQ(encoding, std::vector<std::string>{"prompt"});
  EXPECT_EQ(result.model_calls_run, result.rows_run);  // one DiT call per row
  EXPECT_EQ(rows, 3);
  EXPECT_TRUE(at::isfinite(result.video.to(at::kFloat)).all().item<bool>());

  // With guidance the negative prompt is encoded too, and each row makes two calls (one batch of 2).
  request.settings.guidance_scale = 5.0;
  encoding.clear();
  const auto guided = engine.generate(request, record);
  EXPECT_EQ(cached_prompts(cache.path()), 2);
  EXPECT_EQ(encoding, std::vector<std::string>{"prompt and negative prompt"});
  EXPECT_EQ(guided.model_calls_run, 2 * guided.rows_run);
}

TEST(Engine, BadSettingsFailBeforeAnyModelLoads) {
  // A folder whose weight files are garbage: loading them would be a CorruptFile error, so a
  // BadArgument proves the settings were checked first.
  TempDir dir;
  for (const char* name : {"model.safetensors", "Wan2.1_VAE.safetensors", "models_t5_umt5-xxl-enc-bf16.safetensors"})
    skyreels::test::write_file(dir / name, "not weights");
  fs::create_directories(dir.path() / "google" / "umt5-xxl");
  skyreels::test::write_file(dir.path() / "google" / "umt5-xxl" / "spiece.model", "not a model");
  pipeline::Engine engine(dir.path().string(), cpu_options(dir / "cache"));

  pipeline::GenerationRequest request;
  request.settings.num_frames = 10;
  ErrorCode code{};
  auto text = error_text([&] { engine.generate(request); }, &code);
  EXPECT_EQ(code, ErrorCode::BadArgument);
  EXPECT_NE(text.find("1 + 4k"), std::string::npos) << text;

  request.settings = {};
  request.settings.has_start_image = true;
  text = error_text([&] { engine.generate(request); }, &code);
  EXPECT_EQ(code, ErrorCode::BadArgument);
  EXPECT_NE(text.find("start image"), std::string::npos) << text;

  // Valid settings reach the files, and the damaged one is named.
  request.settings = {};
  request.settings.prompt = "x";
  text = error_text([&] { engine.generate(request); }, &code);
  EXPECT_NE(code, ErrorCode::BadArgument) << text;
}

TEST(Engine, CancelBeforeDenoisingKeepsNothingAndSaysSo) {
  TempDir cache;
  pipeline::Engine engine(demo_model().string(), cpu_options(cache.path()));
  pipeline::GenerationRequest request;
  request.settings = quick(engine.default_settings());
  std::atomic<bool> cancel{true};
  bool cancelled_event = false;
  const auto result = engine.generate(
      request, [&](const pipeline::GenerationEvent& e) {
        if (std::holds_alternative<pipeline::GenerationCancelled>(e)) cancelled_event = true;
      },
      &cancel);
  EXPECT_TRUE(result.cancelled);
  EXPECT_TRUE(cancelled_event);
  EXPECT_FALSE(result.video.defined() && result.video.numel() > 0);
}

// A Wan-native LoRA on the demo model's first block (q and ffn.0), shapes read from its checkpoint.
std::string demo_lora(const TempDir& dir, const std::string& name, std::uint64_t seed) {
  const io::SafetensorsFile model((demo_model() / "model.safetensors").string());
  at::manual_seed(seed);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const std::string module : {"blocks.0.self_attn.q", "blocks.0.ffn.0"}) {
    const auto shape = model.entry(module + ".weight").shape;
    tensors.emplace_back("diffusion_model." + module + ".lora_down.weight", at::randn({4, shape[1]}) * 0.3);
    tensors.emplace_back("diffusion_model." + module + ".lora_up.weight", at::randn({shape[0], 4}) * 0.3);
  }
  const auto path = (dir / name).string();
  io::write_safetensors(path, tensors);
  return path;
}

TEST(Engine, LorasMergeBeforeTheJobAndOnlyWhenTheyChange) {
  TempDir dir;
  pipeline::Engine engine(demo_model().string(), cpu_options(dir / "cache"));
  pipeline::GenerationRequest request;
  request.settings = quick(engine.default_settings());
  request.settings.steps = 1;  // what the LoRA changes shows after one step, at a small size
  request.settings.height = request.settings.width = 64;
  std::vector<pipeline::LorasApplied> reports;
  const auto run = [&](std::vector<LoraSetting> loras) {
    request.settings.loras = std::move(loras);
    reports.clear();
    return engine.generate(request, [&](const pipeline::GenerationEvent& e) {
             if (const auto* l = std::get_if<pipeline::LorasApplied>(&e)) reports.push_back(*l);
           })
        .video;
  };
  const auto lora = demo_lora(dir, "style.safetensors", 5);

  const auto plain = run({});
  EXPECT_TRUE(reports.empty());  // no LoRA before, none now: nothing to say
  const auto styled = run({{lora, 1.0}});
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_TRUE(reports[0].merged);
  ASSERT_EQ(reports[0].loras.size(), 1u);
  EXPECT_EQ(reports[0].loras[0].name, "style.safetensors");
  EXPECT_EQ(reports[0].loras[0].hash.size(), 16u);
  EXPECT_EQ(reports[0].loras[0].parameters, 2);
  EXPECT_FALSE(at::equal(styled, plain));

  // The same LoRA again: nothing merges, the same video.
  EXPECT_TRUE(at::equal(run({{lora, 1.0}}), styled));
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_FALSE(reports[0].merged);
  EXPECT_EQ(reports[0].loras[0].parameters, 2);

  // None: the model's own weights again, and said so (strength 0 and exactness are LoraMerge's).
  reports.clear();
  engine.apply_loras({}, [&](const pipeline::GenerationEvent& e) {
    if (const auto* l = std::get_if<pipeline::LorasApplied>(&e)) reports.push_back(*l);
  });
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_TRUE(reports[0].merged);
  EXPECT_TRUE(reports[0].loras.empty());
  EXPECT_TRUE(at::equal(run({}), plain));

  // A missing file is named before any work.
  ErrorCode code{};
  const auto missing = (dir / "missing.safetensors").string();
  request.settings.loras = {{missing, 1.0}};
  bool any_event = false;
  const auto text = error_text([&] { engine.generate(request, [&](const pipeline::GenerationEvent&) { any_event = true; }); }, &code);
  EXPECT_EQ(code, ErrorCode::NotFound) << text;
  EXPECT_NE(text.find(missing), std::string::npos) << text;
  EXPECT_FALSE(any_event);
}

TEST(Engine, MissingFolderIsNamed) {
  ErrorCode code{};
  const auto text = error_text([] { pipeline::Engine engine("/nonexistent/skyreels-model"); }, &code);
  EXPECT_EQ(code, ErrorCode::NotFound);
  EXPECT_NE(text.find("/nonexistent/skyreels-model"), std::string::npos) << text;
}

}  // namespace

// Issue 24 on a GPU: the budget caps the allocator, so a job over it runs out of memory the way a card
// of that size would; the error says where, with figures and what to change, and the engine (its
// models unloaded) runs the next job.
TEST(Engine, OutOfGpuMemoryNamesWhatToChangeAndTheNextJobRuns) {
  if (!skyreels::test::test_device().is_cuda()) GTEST_SKIP() << "the budget is enforced on a GPU only";
  TempDir cache;
  pipeline::Engine engine(demo_model().string(), cpu_options(cache.path()));
  pipeline::GenerationRequest request;
  request.settings = quick(engine.default_settings());
  // The smallest budget the planner accepts for this tiny model: it fits on paper, not in the
  // allocator's segments and the GEMM workspace.
  for (double gib = 1.0 / 1024; gib < 1.0; gib *= 2) {
    request.settings.vram_budget_gib = gib;
    try {
      engine.memory_plan(request.settings);
      break;
    } catch (const Error&) {
    }
  }
  ErrorCode code{};
  const auto message = error_text([&] { engine.generate(request); }, &code);
  EXPECT_EQ(code, ErrorCode::Runtime) << message;
  EXPECT_NE(message.find("out of GPU memory while"), std::string::npos) << message;
  EXPECT_NE(message.find("budget"), std::string::npos) << message;
  EXPECT_NE(message.find("--vae-tile"), std::string::npos) << message;

  request.settings.vram_budget_gib.reset();  // no cap
  const auto result = engine.generate(request);
  EXPECT_EQ(result.video.size(0), 9);
}

TEST(Engine, AnEnforcedBudgetIsNeverExceeded) {
  if (!skyreels::test::test_device().is_cuda()) GTEST_SKIP() << "the budget is enforced on a GPU only";
  TempDir cache;
  pipeline::Engine engine(demo_model().string(), cpu_options(cache.path()));
  pipeline::GenerationRequest request;
  request.settings = quick(engine.default_settings());
  request.settings.vram_budget_gib = 1.0;
  std::optional<MemoryStats> finished;
  bool planned = false;
  const auto result = engine.generate(request, [&](const GenerationEvent& event) {
    if (const auto* e = std::get_if<GenerationFinished>(&event)) finished = e->memory;
    if (const auto* e = std::get_if<MemoryPlanned>(&event)) planned = e->enforced;
  });
  EXPECT_EQ(result.video.size(0), 9);
  EXPECT_TRUE(planned);
  ASSERT_TRUE(finished.has_value());
  EXPECT_GT(finished->peak_reserved_bytes, 0);
  EXPECT_LE(finished->peak_reserved_bytes, pipeline::gib_to_bytes(1.0));
}
