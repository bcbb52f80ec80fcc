// `skyreels-cli generate` options: parsing, layering over a base, and the JSON event lines.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "generate_options.h"
#include "generation_report.h"
#include "test_support.h"

namespace {

using namespace skyreels;
using cli::apply_options;
using cli::parse_generate_options;
using cli::UsageError;


std::string usage_error(const std::vector<std::string>& args) {
  try {
    parse_generate_options(args);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

TEST(GenerateOptions, OverridesApplyInOrderOverTheBase) {
  const auto o = parse_generate_options({"--prompt", "a cat", "--resolution", "720p", "--frames", "121", "--steps",
                                         "20", "--mode", "async", "--causal-block-size", "3", "--seed", "42",
                                         "--guidance", "1"});
  GenerationSettings base;
  base.negative_prompt = "from the folder";
  const auto s = apply_options(o, base);
  EXPECT_EQ(s.prompt, "a cat");
  EXPECT_EQ(s.negative_prompt, "from the folder");
  EXPECT_EQ(s.height, 720);
  EXPECT_EQ(s.width, 1280);
  EXPECT_EQ(s.num_frames, 121);
  EXPECT_EQ(s.base_num_frames, 121);  // one window without --overlap
  EXPECT_EQ(s.steps, 20);
  EXPECT_EQ(s.ar_step, 5);             // from --mode async
  EXPECT_EQ(s.causal_block_size, 3);   // given after it
  EXPECT_EQ(s.seed, 42u);
  EXPECT_FALSE(s.guidance_enabled());
}

TEST(GenerateOptions, SecondsSnapAndSeedsAreRandomUnlessRestoredOrGiven) {
  auto o = parse_generate_options({"--seconds", "4", "--fps", "24"});
  const auto a = apply_options(o, {}), b = apply_options(o, {});
  EXPECT_EQ(a.num_frames, 97);
  EXPECT_NE(a.seed, b.seed);  // 2^-53 chance of a false failure

  o = parse_generate_options({"--settings", "x.json"});  // restored: keeps the file's seed
  GenerationSettings restored;
  restored.seed = 1234;
  EXPECT_EQ(apply_options(o, restored).seed, 1234u);
  o = parse_generate_options({"--settings", "x.json", "--seed", "random"});
  EXPECT_NE(apply_options(o, restored).seed, 1234u);
}

TEST(GenerateOptions, InputsComeFromFlagsNotFromRestoredSettings) {
  GenerationSettings restored;
  restored.has_start_image = restored.extends_video = true;
  auto s = apply_options(parse_generate_options({"--settings", "x.json"}), restored);
  EXPECT_FALSE(s.has_start_image);
  EXPECT_FALSE(s.extends_video);
  s = apply_options(parse_generate_options({"--image", "a.png", "--end-image", "b.png"}), {});
  EXPECT_TRUE(s.has_start_image);
  EXPECT_TRUE(s.has_end_image);
}

TEST(GenerateOptions, LorasWithStrengthsReplaceRestoredOnes) {
  skyreels::test::TempDir dir;
  const auto a = (dir / "a.safetensors").string(), b = (dir / "b:v2.safetensors").string();
  skyreels::test::write_file(a, "x");
  skyreels::test::write_file(b, "x");
  GenerationSettings restored;
  restored.loras = {{"/restored.safetensors", 1.0}};

  const auto s = apply_options(parse_generate_options({"--lora", a + ":0.6", "--lora", b, "--lora", b + ":-1.5"}), restored);
  ASSERT_EQ(s.loras.size(), 3u);  // the restored one replaced
  EXPECT_EQ(s.loras[0].path, a);
  EXPECT_DOUBLE_EQ(s.loras[0].strength, 0.6);
  EXPECT_EQ(s.loras[1].path, b);  // a colon in the file's name, no strength: 1
  EXPECT_DOUBLE_EQ(s.loras[1].strength, 1.0);
  EXPECT_DOUBLE_EQ(s.loras[2].strength, -1.5);
  EXPECT_EQ(apply_options(parse_generate_options({"--steps", "4"}), restored).loras.size(), 1u);  // kept
  EXPECT_TRUE(apply_options(parse_generate_options({"--no-lora"}), restored).loras.empty());

  EXPECT_NE(usage_error({"--lora", a + ":strong"}).find("strength needs a number, got \"strong\""), std::string::npos);
  EXPECT_NE(usage_error({"--lora", a + ":nan"}).find("strength needs a number"), std::string::npos);
  EXPECT_NE(usage_error({"--lora", a + ":11"}).find("strength must be between"), std::string::npos);
  EXPECT_NE(usage_error({"--lora", "/nonexistent/l.safetensors"}).find("no such file /nonexistent/l.safetensors"),
            std::string::npos);
  EXPECT_NE(usage_error({"--lora", dir.path().string()}).find("not a regular file"), std::string::npos);
  EXPECT_NE(usage_error({"--lora"}).find("--lora needs a value"), std::string::npos);
}

TEST(GenerateOptions, BadCommandLinesNameTheOption) {
  EXPECT_NE(usage_error({"--frames"}).find("--frames needs a value"), std::string::npos);
  EXPECT_NE(usage_error({"--frames", "ten"}).find("--frames needs a whole number"), std::string::npos);
  EXPECT_NE(usage_error({"--steps", "0"}).find("--steps must be between 1"), std::string::npos);
  EXPECT_NE(usage_error({"--guidance", "nan"}).find("--guidance needs a number"), std::string::npos);
  EXPECT_NE(usage_error({"--mode", "fast"}).find("sync or async"), std::string::npos);
  EXPECT_NE(usage_error({"--resolution", "1080"}).find("--resolution"), std::string::npos);
  EXPECT_NE(usage_error({"--bogus"}).find("unknown option \"--bogus\""), std::string::npos);
  EXPECT_NE(usage_error({"--prompt-file", "/nonexistent/prompt.txt"}).find("cannot read"), std::string::npos);
  EXPECT_NE(usage_error({"--vae-tile", "32:40"}).find("--vae-tile"), std::string::npos);
  EXPECT_EQ(usage_error({"--vae-tile", "32:8", "--json", "--quiet"}), "");
}

TEST(GenerateOptions, FewStepPresetSamplerAndTimesteps) {
  GenerationSettings base;  // the reference's: UniPC, 30 steps, shift 8, guidance 6
  base.cfg_skip_last_steps = 6;
  auto s = apply_options(parse_generate_options({"--few-step"}), base);
  EXPECT_EQ(s.sampler, Sampler::Euler);
  EXPECT_EQ(s.timestep_list, (std::vector<int>{1000, 750, 500, 250}));
  EXPECT_EQ(s.steps, 4);
  EXPECT_DOUBLE_EQ(s.shift, 5.0);
  EXPECT_FALSE(s.guidance_enabled());
  EXPECT_EQ(s.cfg_skip_last_steps, 0);
  EXPECT_EQ(validate(s), "");

  // Options after the preset override it; --steps goes back to the formula's levels.
  s = apply_options(parse_generate_options({"--few-step", "--shift", "8", "--steps", "6"}), base);
  EXPECT_EQ(s.sampler, Sampler::Euler);
  EXPECT_TRUE(s.timestep_list.empty());
  EXPECT_EQ(s.steps, 6);
  EXPECT_DOUBLE_EQ(s.shift, 8.0);
  EXPECT_EQ(validate(s), "");

  // An explicit list brings the Euler sampler and its step count along.
  s = apply_options(parse_generate_options({"--timesteps", "1000,500"}), base);
  EXPECT_EQ(s.sampler, Sampler::Euler);
  EXPECT_EQ(s.timestep_list, (std::vector<int>{1000, 500}));
  EXPECT_EQ(s.steps, 2);
  s = apply_options(parse_generate_options({"--sampler", "euler"}), base);
  EXPECT_EQ(s.sampler, Sampler::Euler);
  EXPECT_EQ(s.steps, 30);
  s = apply_options(parse_generate_options({"--few-step", "--sampler", "unipc"}), base);
  EXPECT_NE(validate(s).find("euler"), std::string::npos);  // unipc takes no list: the settings say so

  EXPECT_NE(usage_error({"--sampler", "ddim"}).find("unipc or euler"), std::string::npos);
  EXPECT_NE(usage_error({"--timesteps", "1000,,500"}).find("--timesteps"), std::string::npos);
  EXPECT_NE(usage_error({"--timesteps", "1000,1001"}).find("between 1 and 1000"), std::string::npos);
  EXPECT_NE(usage_error({"--timesteps"}).find("needs a value"), std::string::npos);
}

TEST(GenerateOptions, CausalAttention) {
  GenerationSettings base;
  EXPECT_TRUE(apply_options(parse_generate_options({"--causal-attention"}), base).causal_attention);
  base.causal_attention = true;  // e.g. restored from a video
  EXPECT_TRUE(apply_options(parse_generate_options({}), base).causal_attention);
  EXPECT_FALSE(apply_options(parse_generate_options({"--no-causal-attention"}), base).causal_attention);
  EXPECT_NE(usage_error({"--causal_attention"}).find("unknown option"), std::string::npos);
}

TEST(GenerateOptions, Int8AttentionIsAFastModeThatExactTurnsOff) {
  GenerationSettings base;
  const auto on = apply_options(parse_generate_options({"--int8-attention"}), base);
  EXPECT_TRUE(on.int8_attention);
  EXPECT_FALSE(on.exact());
  EXPECT_FALSE(apply_options(parse_generate_options({"--int8-attention", "--exact"}), base).int8_attention);
}

TEST(GenerateOptions, VramBudget) {
  GenerationSettings base;
  EXPECT_FALSE(apply_options(parse_generate_options({}), base).vram_budget_gib.has_value());
  const auto s = apply_options(parse_generate_options({"--vram-budget", "7.5"}), base);
  ASSERT_TRUE(s.vram_budget_gib.has_value());
  EXPECT_DOUBLE_EQ(*s.vram_budget_gib, 7.5);
  base.vram_budget_gib = 12;  // e.g. restored from a video
  EXPECT_FALSE(apply_options(parse_generate_options({"--no-vram-budget"}), base).vram_budget_gib.has_value());
  EXPECT_NE(usage_error({"--vram-budget", "0"}).find("--vram-budget"), std::string::npos);
  EXPECT_NE(usage_error({"--vram-budget", "lots"}).find("--vram-budget"), std::string::npos);
}

TEST(GenerateOptions, ParallelModeIsAutoUlyssesOrCfg) {
  EXPECT_EQ(parse_generate_options({}).parallel, "auto");
  EXPECT_EQ(parse_generate_options({"--gpus", "2", "--parallel", "cfg"}).parallel, "cfg");
  EXPECT_EQ(parse_generate_options({"--parallel", "ulysses"}).parallel, "ulysses");
  EXPECT_NE(usage_error({"--parallel", "both"}).find("auto, ulysses or cfg"), std::string::npos);
  EXPECT_NE(usage_error({"--parallel"}).find("--parallel"), std::string::npos);
}

TEST(GenerationReport, EventsAreOneJsonObjectEach) {
  RowDone row;
  row.window = 1;
  row.row = 4;
  row.rows = 30;
  row.rows_done = 35;
  row.rows_total = 60;
  row.memory.peak_allocated_bytes = 123;
  auto j = cli::event_to_json(row);
  EXPECT_EQ(j["event"], "row_done");
  EXPECT_EQ(j["window"], 1);
  EXPECT_EQ(j["rows_total"], 60);
  EXPECT_EQ(j["memory"]["peak_allocated_bytes"], 123);

  const std::vector<std::uint8_t> pixels(4 * 2 * 2 * 3, 0);
  BlockDecoded block{0, 8, Frames(4, 2, 2, pixels.data(), nullptr), 0.5};
  j = cli::event_to_json(block);
  EXPECT_EQ(j["event"], "block_decoded");
  EXPECT_EQ(j["first_frame"], 8);
  EXPECT_EQ(j["frames"], 4);  // a count, not the pixels

  j = cli::event_to_json(PhaseStarted{Phase::LoadingModels, "DiT"});
  EXPECT_EQ(j["phase"], "loading models");
  // Lines parse back (what a script reading stdout does).
  EXPECT_EQ(nlohmann::json::parse(j.dump()), j);
}

}  // namespace
