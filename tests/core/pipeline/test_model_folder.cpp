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
  EXPECT_EQ(files.tokenizer, (dir.path() / "google" / "umt5-xxl" / "spiece.model").string());
  EXPECT_EQ(files.dit_config, (dir / "config.json").string());
  EXPECT_TRUE(files.t5_config.empty());  // the official config.json is the DiT's, never the umT5's
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
  touch(dir.path() / "transformer" / "config.json");
  touch(dir.path() / "transformer" / "diffusion_pytorch_model-00001-of-00002.safetensors");
  touch(dir.path() / "transformer" / "diffusion_pytorch_model-00002-of-00002.safetensors");
  touch(dir.path() / "transformer" / "diffusion_pytorch_model.safetensors.index.json");
  touch(dir.path() / "vae" / "diffusion_pytorch_model.safetensors");
  touch(dir.path() / "text_encoder" / "config.json");
  touch(dir.path() / "text_encoder" / "model-00001-of-00002.safetensors");
  touch(dir.path() / "text_encoder" / "model-00002-of-00002.safetensors");  // shards without an index
  fs::create_directories(dir / "scheduler");
  touch(dir.path() / "tokenizer" / "spiece.model");
  const auto files = pipeline::locate_model_files(dir.path().string());
  EXPECT_EQ(files.layout, pipeline::ModelFiles::Layout::Diffusers);
  EXPECT_EQ(files.dit, (dir.path() / "transformer" / "diffusion_pytorch_model.safetensors.index.json").string());
  EXPECT_EQ(files.dit_config, (dir.path() / "transformer" / "config.json").string());
  EXPECT_EQ(files.vae, (dir.path() / "vae" / "diffusion_pytorch_model.safetensors").string());
  EXPECT_EQ(files.t5, (dir / "text_encoder").string());
  EXPECT_EQ(files.t5_config, (dir.path() / "text_encoder" / "config.json").string());
  EXPECT_EQ(files.tokenizer, (dir.path() / "tokenizer" / "spiece.model").string());
}

TEST(ModelFolder, RecommendedSettingsWithoutLoadingAnything) {
  TempDir dir;
  touch(dir / "model.safetensors");  // not a checkpoint at all: nothing reads it
  touch(dir / "Wan2.1_VAE.pth");
  touch(dir / "models_t5_umt5-xxl-enc-bf16.pth");
  touch(dir.path() / "google" / "umt5-xxl" / "spiece.model");
  auto files = pipeline::locate_model_files(dir.path().string());
  EXPECT_EQ(pipeline::read_recommended_settings(files).steps, GenerationSettings{}.steps);  // none: defaults
  write_file(dir / "skyreels-defaults.json", R"({"steps": 8, "height": 192, "width": 320})");
  files = pipeline::locate_model_files(dir.path().string());
  const auto s = pipeline::read_recommended_settings(files);
  EXPECT_EQ(s.steps, 8);
  EXPECT_EQ(s.width, 320);
  write_file(dir / "skyreels-defaults.json", "{ not json");
  ErrorCode code{};
  const auto text = error_text([&] { pipeline::read_recommended_settings(files); }, &code);
  EXPECT_EQ(code, ErrorCode::CorruptFile);
  EXPECT_NE(text.find("skyreels-defaults.json"), std::string::npos) << text;
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
