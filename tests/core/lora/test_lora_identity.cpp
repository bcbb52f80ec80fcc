// The identity a job records for each LoRA file (name, size, content hash), and the check of a recorded one.

#include <chrono>
#include <filesystem>

#include <gtest/gtest.h>

#include "lora/lora_identity.h"
#include "test_support.h"

namespace lora = skyreels::lora;
using skyreels::ErrorCode;
using skyreels::LoraSetting;
using skyreels::test::error_text;
using skyreels::test::TempDir;
using skyreels::test::write_file;

TEST(LoraIdentity, RecordsNameSizeAndHashThenChecksThem) {
  TempDir dir;
  const auto path = (dir / "style.safetensors").string();
  write_file(path, "not read as a LoRA here: only its bytes count");
  std::vector<LoraSetting> loras = {{path, 0.5}};
  lora::record_lora_files(loras);
  EXPECT_EQ(loras[0].name, "style.safetensors");
  EXPECT_EQ(loras[0].size, static_cast<std::int64_t>(std::filesystem::file_size(path)));
  EXPECT_EQ(loras[0].hash.size(), 16u);
  EXPECT_TRUE(loras[0].recorded());
  EXPECT_DOUBLE_EQ(loras[0].strength, 0.5);
  const auto recorded = loras;
  lora::record_lora_files(loras);  // the same file: accepted, unchanged
  EXPECT_EQ(loras[0].hash, recorded[0].hash);

  // Other bytes of the same size: a changed file, named.
  const auto then = std::filesystem::last_write_time(path);
  write_file(path, "not read as a LoRA here: only its bytes COUNT");
  // File times are coarse (a clock tick): make the rewrite visible as a filesystem that kept time would.
  std::filesystem::last_write_time(path, then + std::chrono::seconds(1));
  ErrorCode code = ErrorCode::Invalid;
  auto text = error_text([&] { lora::record_lora_files(loras); }, &code);
  EXPECT_EQ(code, ErrorCode::BadArgument) << text;
  EXPECT_NE(text.find(path), std::string::npos) << text;
  EXPECT_NE(text.find("changed"), std::string::npos) << text;
  // Not recorded yet: the new content is recorded.
  std::vector<LoraSetting> fresh = {{path, 1.0}};
  lora::record_lora_files(fresh);
  EXPECT_NE(fresh[0].hash, recorded[0].hash);

  std::vector<LoraSetting> missing = {{(dir / "gone.safetensors").string(), 1.0}};
  text = error_text([&] { lora::record_lora_files(missing); }, &code);
  EXPECT_EQ(code, ErrorCode::NotFound) << text;
  EXPECT_NE(text.find("gone.safetensors"), std::string::npos) << text;
  std::vector<LoraSetting> folder = {{dir.path().string(), 1.0}};
  text = error_text([&] { lora::record_lora_files(folder); }, &code);
  EXPECT_EQ(code, ErrorCode::NotFound) << text;
  EXPECT_NE(text.find("not a regular file"), std::string::npos) << text;
}
