// Finding a DF model's parts in a downloaded folder (official and diffusers layouts).

#include <gtest/gtest.h>

#include "pipeline/model_folder.h"
#include "test_support.h"

namespace {

using namespace skyreels;
using skyreels::test::error_text;
using skyreels::test::TempDir;
using skyreels::test::write_file;
namespace fs = std::filesystem;

void touch(const fs::path& path) {
  fs::create_directories(path.parent_path());
  write_file(path, "x");
}

TEST(ModelFolder, FindsTheOfficialLayout) {
  TempDir dir;
  touch(dir / "config.json");
  touch(dir / "model.safetensors");
  touch(dir / "Wan2.1_VAE.pth");
  touch(dir / "models_t5_umt5-xxl-enc-bf16.pth");
  touch(dir.path() / "google" / "umt5-xxl" / "spiece.model");
  const auto files = pipeline::locate_model_files(dir.path().string());
  EXPECT_EQ(files.layout, pipeline::ModelFiles::Layout::Official);
  EXPECT_EQ(files.dit, (dir / "model.safetensors").string());
  EXPECT_EQ(files.vae, (dir / "Wan2.1_VAE.pth").string());
  EXPECT_EQ(files.t5, (dir / "models_t5_umt5-xxl-enc-bf16.pth").string());
  EXPECT_EQ(files.tokenizer, (dir.path() / "google" / "umt5-xxl").string());
  EXPECT_TRUE(files.settings.empty());
}

TEST(ModelFolder, PrefersConvertedFilesAndShardIndexes) {
  TempDir dir;
  touch(dir / "model-00001-of-00002.safetensors");
  touch(dir / "model-00002-of-00002.safetensors");
  touch(dir / "model.safetensors.index.json");
  touch(dir / "Wan2.1_VAE.pth");
  touch(dir / "Wan2.1_VAE.safetensors");
  touch(dir / "models_t5_umt5-xxl-enc-bf16.safetensors");
  touch(dir.path() / "google" / "umt5-xxl" / "spiece.model");
  touch(dir / "skyreels-defaults.json");
  const auto files = pipeline::locate_model_files(dir.path().string());
  EXPECT_EQ(files.dit, (dir / "model.safetensors.index.json").string());
  EXPECT_EQ(files.vae, (dir / "Wan2.1_VAE.safetensors").string());
  EXPECT_EQ(files.t5, (dir / "models_t5_umt5-xxl-enc-bf16.safetensors").string());
  EXPECT_EQ(files.settings, (dir / "skyreels-defaults.json").string());
}

TEST(ModelFolder, FindsTheDiffusersLayout) {
  TempDir dir;
  for (const char* sub : {"transformer", "vae", "text_encoder", "scheduler"}) fs::create_directories(dir / sub);
  touch(dir.path() / "tokenizer" / "spiece.model");
  const auto files = pipeline::locate_model_files(dir.path().string());
  EXPECT_EQ(files.layout, pipeline::ModelFiles::Layout::Diffusers);
  EXPECT_EQ(files.dit, (dir / "transformer").string());
  EXPECT_EQ(files.vae, (dir / "vae").string());
  EXPECT_EQ(files.t5, (dir / "text_encoder").string());
  EXPECT_EQ(files.tokenizer, (dir / "tokenizer").string());
}

TEST(ModelFolder, ListsEveryMissingPart) {
  TempDir dir;
  touch(dir / "model.safetensors");
  ErrorCode code{};
  const auto text = error_text([&] { pipeline::locate_model_files(dir.path().string()); }, &code);
  EXPECT_EQ(code, ErrorCode::NotFound);
  EXPECT_NE(text.find("Wan2.1_VAE.pth"), std::string::npos) << text;
  EXPECT_NE(text.find("models_t5_umt5-xxl-enc-bf16.pth"), std::string::npos) << text;
  EXPECT_NE(text.find("google/umt5-xxl/spiece.model"), std::string::npos) << text;
  EXPECT_EQ(text.find("the DiT"), std::string::npos) << text;  // it is there

  const auto missing = error_text([&] { pipeline::locate_model_files((dir / "nope").string()); }, &code);
  EXPECT_EQ(code, ErrorCode::NotFound);
  EXPECT_NE(missing.find("no such model folder"), std::string::npos) << missing;

  fs::create_directories(dir / "transformer");
  const auto diffusers = error_text([&] { pipeline::locate_model_files(dir.path().string()); });
  EXPECT_NE(diffusers.find("vae/"), std::string::npos) << diffusers;
  EXPECT_NE(diffusers.find("tokenizer/spiece.model"), std::string::npos) << diffusers;
}

}  // namespace
