// A bounded random-mutation run over what reads settings from outside: settings files and the metadata
// documents stored in videos (settings_from_json on top of a base, then validate), and fixture
// manifests (conformance::run_case). Every outcome must be settings that validate() judges, or a
// skyreels::Error, or (for run_case) a result naming the problem: never another exception, never a
// crash, never an unbounded allocation. Deterministic (fixed seed); SKYREELS_FUZZ_ITERATIONS scales it.

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <typeinfo>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "pipeline/generation_settings.h"
#include "skyreels/conformance.h"
#include "skyreels/error.h"
#include "test_support.h"

namespace {

using Json = nlohmann::json;
using skyreels::GenerationSettings;
namespace fs = std::filesystem;

constexpr std::uint64_t kSeed = 0x5e771765f022ull;

int scaled(int iterations) {
  const char* text = std::getenv("SKYREELS_FUZZ_ITERATIONS");
  return text ? std::max(1, std::atoi(text) * iterations / 4000) : iterations;
}

// Values a careless or hostile file holds where a setting belongs.
Json hostile_value(std::mt19937_64& rng) {
  static const std::vector<Json> values = {
      Json(nullptr), Json(true), Json(-1), Json(0), Json(1), Json(3), Json(5), Json(97), Json(2147483648LL),
      Json(4294967312LL), Json(-9223372036854775807LL - 1), Json(18446744073709551615ULL), Json(9007199254740992ULL),
      Json(1e30), Json(-1e30), Json(1e-300), Json(0.5), Json(-0.0), Json(1e308), Json("8"), Json(""),
      Json(std::string(20000, 'a')), Json::array(), Json::array({1, 2}), Json::object(), Json({{"settings", 1}})};
  return values[rng() % values.size()];
}

std::vector<std::string> setting_keys() {
  std::vector<std::string> keys;
  const auto json = skyreels::to_json(GenerationSettings{});
  for (const auto& [key, value] : json.items()) keys.push_back(key);
  return keys;
}

// settings_from_json + validate, as every reader of settings does: the only exception allowed is ours.
void read_settings(const Json& json, const GenerationSettings& base) {
  try {
    const auto s = skyreels::settings_from_json(json, base);
    (void)skyreels::validate(s);  // judges, never throws
  } catch (const skyreels::Error&) {
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not a skyreels::Error but " << typeid(e).name() << ": " << e.what() << "\n" << json.dump().substr(0, 400);
  }
}

TEST(SettingsFuzz, MutatedSettingsAndMetadataDocumentsFailCleanly) {
  std::mt19937_64 rng(kSeed);
  const auto keys = setting_keys();
  GenerationSettings demo;  // a base like a model folder's recommended settings
  demo.height = 192;
  demo.width = 320;
  demo.num_frames = demo.base_num_frames = 21;
  const auto seed_text = skyreels::to_json(demo).dump();
  int judged = 0;
  for (int i = 0, n = scaled(3000); i < n; ++i) {
    auto json = skyreels::to_json(demo);
    // Value edits: hostile values, removed keys, unknown keys.
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < edits; ++k) {
      const auto& key = keys[rng() % keys.size()];
      switch (rng() % 4) {
        case 0: json.erase(key); break;
        case 1: json["unknown_" + std::to_string(rng() % 5)] = hostile_value(rng); break;
        default: json[key] = hostile_value(rng); break;
      }
    }
    read_settings(json, demo);
    // The same wrapped as a video's metadata document.
    read_settings(Json{{"generator", "SkyReels Studio"}, {"settings", json}}["settings"], demo);
    // Byte-level damage to the text: whatever still parses must fail cleanly too.
    auto text = seed_text;
    for (int k = 0, flips = 1 + static_cast<int>(rng() % 3); k < flips; ++k)
      text[rng() % text.size()] = static_cast<char>(rng() % 256);
    const auto parsed = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_discarded()) read_settings(parsed, demo);
    ++judged;
  }
  EXPECT_EQ(judged, scaled(3000));
  // Sanity: the unmutated document is accepted (the run above is not vacuous).
  EXPECT_EQ(skyreels::validate(skyreels::settings_from_json(Json::parse(seed_text), {})), "");
}

TEST(SettingsFuzz, MutatedFixtureManifestsGiveAResultNotACrash) {
  std::mt19937_64 rng(kSeed + 1);
  const fs::path original = skyreels::test::fixture_case("schedule");
  const auto manifest = Json::parse(skyreels::test::read_file(original / "manifest.json"));
  skyreels::test::TempDir dir;
  const auto copy = dir / "schedule";
  fs::create_directories(copy);
  std::vector<std::string> paths;  // JSON pointers to every scalar of the manifest
  const auto flat = manifest.flatten();
  for (const auto& [pointer, value] : flat.items()) paths.push_back(pointer);
  for (int i = 0, n = scaled(150); i < n; ++i) {
    auto mutated = flat;
    for (int k = 0, edits = 1 + static_cast<int>(rng() % 3); k < edits; ++k)
      mutated[paths[rng() % paths.size()]] = hostile_value(rng);
    Json unflat;
    try {
      unflat = mutated.unflatten();
    } catch (const Json::exception&) {
      continue;  // not a document a file could hold
    }
    skyreels::test::write_file(copy / "manifest.json", unflat.dump());
    const auto result = skyreels::conformance::run_case(copy.string(), {});  // never throws
    EXPECT_NE(result.status, skyreels::conformance::CaseStatus::Invalid);
  }
  // A real pipeline case asking for a huge generation is refused, not attempted (2,000,000 frames
  // and 1,000 steps once grew to 24 GB before the kernel killed the check).
  const fs::path sync = skyreels::test::fixture_case("df_sync");
  auto pipeline = Json::parse(skyreels::test::read_file(sync / "manifest.json"));
  pipeline["models"] = fs::absolute(sync / pipeline["models"].get<std::string>()).string();
  pipeline["call"]["num_frames"] = pipeline["call"]["base_num_frames"] = 2000001;
  pipeline["call"]["num_inference_steps"] = 1000;
  const auto huge = dir / "huge";
  fs::create_directories(huge);
  fs::create_symlink(fs::absolute(sync / "tensors.safetensors"), huge / "tensors.safetensors");
  skyreels::test::write_file(huge / "manifest.json", pipeline.dump());
  const auto refused = skyreels::conformance::run_case(huge.string(), {});
  EXPECT_EQ(refused.status, skyreels::conformance::CaseStatus::Error) << refused.message;
  EXPECT_NE(refused.message.find("100000"), std::string::npos) << refused.message;
}

}  // namespace
