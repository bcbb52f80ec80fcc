// Frame-count snapping and resolution names, as the CLI and the app offer them.

#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "pipeline/generation_settings.h"
#include "skyreels/error.h"

namespace {

using namespace skyreels::pipeline;

TEST(GenerationSettings, SnapsFramesToValidCounts) {
  for (std::int64_t f = 1; f < 200; ++f) {
    for (int cbs : {1, 3, 5}) {
      const auto snapped = snap_frames(f, cbs);
      const auto latents = (snapped - 1) / 4 + 1;
      EXPECT_EQ((snapped - 1) % 4, 0) << f;
      EXPECT_EQ(latents % cbs, 0) << f << " cbs " << cbs;
      // Nearest: no valid count is closer in latent frames; below one block, one block.
      const double wanted = 1.0 + (f - 1) / 4.0;
      if (wanted <= cbs)
        EXPECT_EQ(latents, cbs) << f << " cbs " << cbs;
      else
        EXPECT_LE(std::abs(latents - wanted), cbs / 2.0 + 1e-9) << f << " cbs " << cbs;
    }
  }
  EXPECT_EQ(snap_frames(97), 97);
  EXPECT_EQ(snap_frames(96), 97);
  EXPECT_EQ(snap_frames(0), 1);
  EXPECT_EQ(snap_frames(97, 5), 97);  // 25 latents = 5 blocks of 5
  EXPECT_EQ(snap_frames(10, 5), 17);  // at least one block
}

TEST(GenerationSettings, SecondsBecomeFrames) {
  EXPECT_EQ(frames_for_seconds(4.0, 24), 97);   // 96 frames -> 97
  EXPECT_EQ(frames_for_seconds(10.0, 24), 241);
  EXPECT_EQ(frames_for_seconds(0.0, 24), 1);
  const auto s = frames_for_seconds(4.0, 24, 5);
  EXPECT_EQ(((s - 1) / 4 + 1) % 5, 0);
  GenerationSettings settings;
  settings.num_frames = frames_for_seconds(3.3, 16, 1);
  EXPECT_EQ(validate(settings), "");
}

TEST(GenerationSettings, ParsesResolutionNames) {
  std::int64_t h = 0, w = 0;
  ASSERT_TRUE(parse_resolution("540p", h, w));
  EXPECT_EQ(h, 544);
  EXPECT_EQ(w, 960);
  ASSERT_TRUE(parse_resolution("720p-portrait", h, w));
  EXPECT_EQ(h, 1280);
  EXPECT_EQ(w, 720);
  ASSERT_TRUE(parse_resolution("320x192", h, w));
  EXPECT_EQ(h, 192);
  EXPECT_EQ(w, 320);
  EXPECT_FALSE(parse_resolution("1080", h, w));
  EXPECT_FALSE(parse_resolution("320x192x3", h, w));
  EXPECT_FALSE(parse_resolution("-320x192", h, w));
  EXPECT_FALSE(parse_resolution("", h, w));
}

TEST(GenerationSettings, PromptsTravelWithTheSettings) {
  GenerationSettings s;
  EXPECT_EQ(s.negative_prompt, kDefaultNegativePrompt);
  s.prompt = "a cat, 夕阳";
  s.negative_prompt = "";
  const auto back = settings_from_json(to_json(s));
  EXPECT_EQ(back.prompt, s.prompt);
  EXPECT_EQ(back.negative_prompt, "");
}

TEST(GenerationSettings, FastModesAreCheckedAndTravelWithTheSettings) {
  GenerationSettings s;
  EXPECT_TRUE(s.exact());
  s.steps = 30;
  s.cfg_skip_last_steps = 31;
  EXPECT_NE(validate(s).find("cfg_skip_last_steps"), std::string::npos) << validate(s);
  s.cfg_skip_last_steps = 6;
  s.step_cache_threshold = -0.1;
  EXPECT_NE(validate(s).find("step_cache_threshold"), std::string::npos) << validate(s);
  s.step_cache_threshold = 0.15;
  s.fp8 = true;
  EXPECT_EQ(validate(s), "");
  EXPECT_FALSE(s.exact());
  const auto back = settings_from_json(to_json(s));
  EXPECT_TRUE(back.fp8);
  EXPECT_FALSE(back.int8_attention);
  GenerationSettings int8;
  int8.int8_attention = true;
  EXPECT_FALSE(int8.exact());
  EXPECT_TRUE(settings_from_json(to_json(int8)).int8_attention);
  EXPECT_EQ(back.cfg_skip_last_steps, 6);
  EXPECT_DOUBLE_EQ(back.step_cache_threshold, 0.15);
  // Settings written before the fast modes existed are exact.
  auto old_json = to_json(GenerationSettings{});
  old_json.erase("fp8");
  old_json.erase("cfg_skip_last_steps");
  old_json.erase("step_cache_threshold");
  old_json.erase("int8_attention");
  EXPECT_TRUE(settings_from_json(old_json).exact());
}

TEST(GenerationSettings, VramBudgetIsCheckedAndTravelsWithTheSettings) {
  GenerationSettings s;
  EXPECT_FALSE(s.vram_budget_gib.has_value());  // unset: what the card has free
  EXPECT_FALSE(settings_from_json(to_json(s)).vram_budget_gib.has_value());
  for (double bad : {0.0, -1.0, std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()}) {
    s.vram_budget_gib = bad;
    EXPECT_NE(validate(s).find("vram_budget_gib"), std::string::npos) << bad;
  }
  s.vram_budget_gib = 7.5;
  EXPECT_EQ(validate(s), "");
  const auto back = settings_from_json(to_json(s));
  ASSERT_TRUE(back.vram_budget_gib.has_value());
  EXPECT_DOUBLE_EQ(*back.vram_budget_gib, 7.5);
  auto json = to_json(s);
  json["vram_budget_gib"] = "lots";
  EXPECT_THROW(settings_from_json(json), skyreels::Error);
}

TEST(GenerationSettings, SamplerAndTimestepListAreCheckedAndTravelWithTheSettings) {
  GenerationSettings s;
  EXPECT_EQ(s.sampler, skyreels::Sampler::UniPC);
  s.timestep_list = {1000, 750, 500, 250};
  s.steps = 4;
  EXPECT_NE(validate(s).find("euler"), std::string::npos) << validate(s);  // FlowUniPC takes no list
  s.sampler = skyreels::Sampler::Euler;
  EXPECT_EQ(validate(s), "");
  s.steps = 5;
  EXPECT_NE(validate(s).find("steps (5)"), std::string::npos) << validate(s);
  s.steps = 4;
  s.timestep_list = {1000, 750, 750, 250};
  EXPECT_NE(validate(s).find("decreasing"), std::string::npos) << validate(s);
  s.timestep_list = {1001, 750, 500, 250};
  EXPECT_NE(validate(s).find("1001"), std::string::npos) << validate(s);
  s.timestep_list = {1000, 750, 500, 0};
  EXPECT_NE(validate(s).find("timestep 0"), std::string::npos) << validate(s);
  s.timestep_list = {1000, 750, 500, 250};
  s.shift = 5.0;
  s.guidance_scale = 1.0;

  const auto json = to_json(s);
  EXPECT_EQ(json.at("sampler"), "euler");
  const auto back = settings_from_json(json);
  EXPECT_EQ(back.sampler, skyreels::Sampler::Euler);
  EXPECT_EQ(back.timestep_list, s.timestep_list);
  EXPECT_EQ(back.steps, 4);
  // Settings written before the sampler existed are the reference's UniPC on the formula's steps.
  auto old_json = json;
  old_json.erase("sampler");
  old_json.erase("timestep_list");
  EXPECT_EQ(settings_from_json(old_json).sampler, skyreels::Sampler::UniPC);
  EXPECT_TRUE(settings_from_json(old_json).timestep_list.empty());
  // An empty list replaces the base's.
  auto cleared = json;
  cleared["timestep_list"] = nlohmann::json::array();
  EXPECT_TRUE(settings_from_json(cleared, s).timestep_list.empty());

  // Wrong values are named.
  auto bad = json;
  bad["sampler"] = "ddim";
  EXPECT_THROW(settings_from_json(bad), skyreels::Error);
  bad = json;
  bad["timestep_list"] = nlohmann::json::array({1000, 7.5});
  try {
    settings_from_json(bad);
    ADD_FAILURE() << "a fraction in the timestep list was accepted";
  } catch (const skyreels::Error& e) {
    EXPECT_NE(std::string(e.what()).find("timestep_list[1]"), std::string::npos) << e.what();
  }
  bad["timestep_list"] = "1000,750";
  EXPECT_THROW(settings_from_json(bad), skyreels::Error);
  bad["timestep_list"] = nlohmann::json::array({-5, std::int64_t{1} << 40});
  const auto clamped = settings_from_json(bad);  // converted without overflow, then refused by validate()
  EXPECT_EQ(clamped.timestep_list.front(), -5);
  EXPECT_EQ(clamped.timestep_list.back(), 1 << 30);
  EXPECT_NE(validate(clamped), "");

  skyreels::Sampler parsed{};
  EXPECT_TRUE(skyreels::parse_sampler("euler", parsed));
  EXPECT_EQ(parsed, skyreels::Sampler::Euler);
  EXPECT_TRUE(skyreels::parse_sampler("unipc", parsed));
  EXPECT_EQ(parsed, skyreels::Sampler::UniPC);
  EXPECT_FALSE(skyreels::parse_sampler("Euler", parsed));
}

TEST(GenerationSettings, CausalAttentionTravelsWithTheSettings) {
  GenerationSettings s;
  EXPECT_FALSE(s.causal_attention);
  s.causal_attention = true;
  s.num_frames = 17;  // 5 latent frames
  s.causal_block_size = 5;
  EXPECT_EQ(validate(s), "");
  const auto json = to_json(s);
  EXPECT_EQ(json.at("causal_attention"), true);
  const auto back = settings_from_json(json);
  EXPECT_TRUE(back.causal_attention);
  EXPECT_EQ(back.causal_block_size, 5);
  auto old_json = json;
  old_json.erase("causal_attention");
  EXPECT_FALSE(settings_from_json(old_json).causal_attention);
  auto bad = json;
  bad["causal_attention"] = 1;
  EXPECT_THROW(settings_from_json(bad), skyreels::Error);
}

TEST(GenerationSettings, LorasAreCheckedAndTravelWithTheSettings) {
  GenerationSettings s;
  s.loras = {{"/loras/style.safetensors", 0.8, "style.safetensors", 1234, "00112233aabbccdd"},
             {"/loras/causvid.safetensors", -1.5, "", -1, ""}};
  EXPECT_EQ(validate(s), "");
  const auto back = settings_from_json(to_json(s));
  ASSERT_EQ(back.loras.size(), 2u);
  EXPECT_EQ(back.loras[0].path, "/loras/style.safetensors");
  EXPECT_DOUBLE_EQ(back.loras[0].strength, 0.8);
  EXPECT_EQ(back.loras[0].name, "style.safetensors");
  EXPECT_EQ(back.loras[0].size, 1234);
  EXPECT_EQ(back.loras[0].hash, "00112233aabbccdd");
  EXPECT_TRUE(back.loras[0].recorded());
  EXPECT_DOUBLE_EQ(back.loras[1].strength, -1.5);
  EXPECT_FALSE(back.loras[1].recorded());

  // A list present replaces the base's, an empty one removes them; none keeps them.
  EXPECT_TRUE(settings_from_json(nlohmann::json{{"loras", nlohmann::json::array()}}, s).loras.empty());
  EXPECT_EQ(settings_from_json(nlohmann::json{{"steps", 4}}, s).loras.size(), 2u);
  // Settings written before LoRAs existed have none.
  auto old_json = to_json(GenerationSettings{});
  old_json.erase("loras");
  EXPECT_TRUE(settings_from_json(old_json).loras.empty());

  s.loras[1].strength = 10.5;
  EXPECT_NE(validate(s).find("causvid.safetensors: strength 10.5"), std::string::npos) << validate(s);
  s.loras[1].strength = std::nan("");
  EXPECT_NE(validate(s).find("strength nan"), std::string::npos) << validate(s);
  s.loras[1].strength = 1.0;
  s.loras[1].path.clear();
  EXPECT_NE(validate(s).find("without a file"), std::string::npos) << validate(s);
  s.loras.assign(33, LoraSetting{"/l.safetensors"});
  EXPECT_NE(validate(s).find("at most 32"), std::string::npos) << validate(s);

  const auto error_of = [](const nlohmann::json& loras) {
    try {
      settings_from_json(nlohmann::json{{"loras", loras}});
      return std::string();
    } catch (const skyreels::Error& e) {
      return std::string(e.what());
    }
  };
  EXPECT_NE(error_of("style.safetensors").find("must be a list"), std::string::npos);
  EXPECT_NE(error_of(nlohmann::json::array({{{"strength", 1}}})).find("loras[0]"), std::string::npos);
  EXPECT_NE(error_of(nlohmann::json::array({{{"path", "a"}, {"strength", "x"}}})).find("strength"), std::string::npos);
  EXPECT_NE(error_of(nlohmann::json::array({{{"path", "a"}}, {{"path", "b"}, {"size", 1.5}}})).find("loras[1]"),
            std::string::npos);
}

}  // namespace

// --- limits: one validation whatever the settings' source (issue 21) ------------------------------

namespace {

using namespace skyreels::pipeline;

std::string problem_of(const nlohmann::json& overrides) {
  try {
    auto j = to_json(GenerationSettings{});
    for (const auto& [key, value] : overrides.items()) j[key] = value;
    return validate(settings_from_json(j));
  } catch (const skyreels::Error& e) {
    return e.what();
  }
}

TEST(GenerationSettingsLimits, EveryNumberIsRangeCheckedBeforeConversion) {
  // Values a hostile settings file or video metadata carried through unchecked before.
  EXPECT_NE(problem_of({{"fps", 2000000000}}).find("fps"), std::string::npos);
  EXPECT_NE(problem_of({{"width", 4294967312LL}}).find("too large"), std::string::npos);  // 2^32 + 16
  EXPECT_NE(problem_of({{"num_frames", 17179869193LL}}).find("num_frames"), std::string::npos);
  EXPECT_NE(problem_of({{"steps", 1e30}}).find("whole number"), std::string::npos);
  EXPECT_NE(problem_of({{"steps", 4294967297LL}}).find("out of range"), std::string::npos);  // past int
  EXPECT_NE(problem_of({{"seed", -1}}).find("negative"), std::string::npos);
  EXPECT_NE(problem_of({{"seed", 9007199254740992ULL}}).find("seed"), std::string::npos);  // 2^53
  EXPECT_NE(problem_of({{"shift", "8"}}).find("number"), std::string::npos);
  EXPECT_NE(problem_of({{"guidance_scale", 1e9}}).find("guidance_scale"), std::string::npos);
  EXPECT_NE(problem_of({{"height", 8208}, {"width", 16}}).find("too large"), std::string::npos);
  EXPECT_NE(problem_of({{"height", 4096}, {"width", 4112}}).find("pixels a frame"), std::string::npos);
  // The largest values within the limits are still fine, so the limits are not off by one.
  EXPECT_EQ(problem_of({{"seed", 9007199254740991ULL}, {"fps", 240}, {"steps", 1000}}), "");
  EXPECT_EQ(problem_of({{"height", 4096}, {"width", 4096}}), "");
}

TEST(GenerationSettingsLimits, FramesPerJobAndPerWindow) {
  // One window holds at most 1024 latent frames (the DiT's RoPE table): 4093 frames.
  EXPECT_EQ(problem_of({{"num_frames", 4093}, {"base_num_frames", 4093}}), "");
  const auto one_window = problem_of({{"num_frames", 4097}, {"base_num_frames", 4097}});
  EXPECT_NE(one_window.find("long video"), std::string::npos) << one_window;  // says how to make it
  EXPECT_NE(problem_of({{"num_frames", 100001}, {"base_num_frames", 97}, {"overlap_history", 17}}).find("100000"),
            std::string::npos);
  EXPECT_EQ(problem_of({{"num_frames", 100001 - 4}, {"base_num_frames", 97}, {"overlap_history", 17}}), "");
}

TEST(GenerationSettingsLimits, PromptsAreBoundedUtf8Text) {
  EXPECT_NE(problem_of({{"prompt", std::string(16385, 'a')}}).find("16384"), std::string::npos);
  EXPECT_EQ(problem_of({{"prompt", std::string(16384, 'a')}}), "");
  GenerationSettings s;
  s.prompt = "a red \xff\xfe circle";  // what a binary prompt file gives
  EXPECT_NE(validate(s).find("UTF-8"), std::string::npos);
  s.prompt = "un cercle rouge \xc3\xa9";  // é is fine
  EXPECT_EQ(validate(s), "");
  s.negative_prompt = std::string("\xc3", 1);  // cut in the middle of a character
  EXPECT_NE(validate(s).find("negative prompt"), std::string::npos);
}

// check_settings() names the field a front end shows the message next to, and a fix where one exists.
TEST(GenerationSettingsChecks, RopeWindowLimitNamesFramesAndOffersLongVideo) {
  GenerationSettings s;
  s.num_frames = s.base_num_frames = 99997;  // 25000 latent frames in one window; the RoPE table has 1024
  const auto problems = check_settings(s);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].field, "num_frames");
  EXPECT_EQ(problems[0].fix, skyreels::SettingsFix::LongVideo);
  EXPECT_NE(problems[0].message.find("25000-latent window"), std::string::npos) << problems[0].message;
  EXPECT_NE(problems[0].message.find("1024"), std::string::npos) << problems[0].message;
  EXPECT_EQ(validate(s), problems[0].message);  // the string API says the same

  const auto fixed = apply_fix(s, problems[0].fix);
  EXPECT_TRUE(check_settings(fixed).empty()) << validate(fixed);
  EXPECT_EQ(fixed.num_frames, s.num_frames);  // the length the user asked for stays

  // In long mode the window itself is what is too long.
  s.base_num_frames = 4097;
  s.overlap_history = 17;
  ASSERT_EQ(check_settings(s).size(), 1u);
  EXPECT_EQ(check_settings(s)[0].field, "base_num_frames");
}

TEST(GenerationSettingsChecks, ZeroOrNegativeFramesAreAnError) {
  for (const std::int64_t frames : {0, -1, -97}) {
    GenerationSettings s;
    s.num_frames = s.base_num_frames = frames;
    const auto problems = check_settings(s);
    ASSERT_EQ(problems.size(), 1u) << frames;
    EXPECT_EQ(problems[0].field, "num_frames");
    EXPECT_NE(problems[0].message.find("Frames: " + std::to_string(frames)), std::string::npos) << problems[0].message;
  }
}

TEST(GenerationSettingsChecks, ImageWithCausalBlocksOffersBlockSizeOne) {
  GenerationSettings s;
  s.has_start_image = true;
  s.causal_block_size = 5;
  const auto problems = check_settings(s);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].field, "causal_block_size");
  EXPECT_EQ(problems[0].fix, skyreels::SettingsFix::CausalBlockSizeOne);
  EXPECT_STREQ(skyreels::fix_label(problems[0].fix), "Set causal block size to 1");
  EXPECT_TRUE(check_settings(apply_fix(s, problems[0].fix)).empty());
  EXPECT_TRUE(check_settings(GenerationSettings{}).empty());
}

TEST(GenerationSettingsChecks, SnapStaysWithinTheJobLimit) {
  EXPECT_EQ(snap_frames(100000), 99997);  // 100001 would be past limits::kMaxFrames
  EXPECT_EQ(snap_frames(100004), 100005);  // already past it: left for validate() to refuse, not shortened
  EXPECT_EQ(validate([] {
              GenerationSettings s;
              s.num_frames = snap_frames(100000);
              s.base_num_frames = 97;
              s.overlap_history = 17;
              return s;
            }()),
            "");
}

}  // namespace
