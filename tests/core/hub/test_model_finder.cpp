// core/hub: naming and checking model folders, in a models folder and in the Hugging Face cache.

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "core/hub/tiny_model_files.h"
#include "hub/sha1.h"
#include "hub/sha256.h"
#include "skyreels/models.h"

namespace skyreels {
namespace {

namespace fs = std::filesystem;

class ScratchDir {
public:
  ScratchDir() {
    path_ = fs::temp_directory_path() / ("skyreels-hub-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~ScratchDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

private:
  static inline int counter_ = 0;
  fs::path path_;
};

void write(const fs::path& file, const std::string& content) {
  fs::create_directories(file.parent_path());
  std::ofstream(file, std::ios::binary) << content;
}

void write_model(const fs::path& dir, const std::vector<test::FakeFile>& files) {
  for (const auto& f : files) write(dir / f.path, f.content);
}

bool has_problem(const FoundModel& model, const std::string& text) {
  return std::any_of(model.problems.begin(), model.problems.end(),
                     [&](const std::string& p) { return p.find(text) != std::string::npos; });
}

std::string all_problems(const FoundModel& model) {
  std::string text;
  for (const auto& p : model.problems) text += p + "\n";
  return text;
}

TEST(Sha256, KnownVectors) {
  auto hex = [](const std::string& text) {
    hub::Sha256 h;
    h.update(text.data(), text.size());
    return h.hex_digest();
  };
  EXPECT_EQ(hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  hub::Sha256 million;  // fed in uneven pieces
  const std::string piece(997, 'a');
  std::size_t left = 1000000;
  while (left > 0) {
    const auto n = std::min(left, piece.size());
    million.update(piece.data(), n);
    left -= n;
  }
  EXPECT_EQ(million.hex_digest(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha1, KnownVectorsAndGitBlobIds) {
  hub::Sha1 abc;
  abc.update("abc", 3);
  EXPECT_EQ(abc.hex_digest(), "a9993e364706816aba3e25717850c26c9cd0d89d");
  ScratchDir dir;
  write(dir.path() / "hello", "hello\n");
  EXPECT_EQ(hub::git_blob_id_of_file(dir.path() / "hello"), "ce013625030ba8dba906f756967f9e9ca394464a");  // git hash-object
}

TEST(ModelFinder, TinyCompleteModelIsDemoAndComplete) {
  ScratchDir dir;
  write_model(dir.path() / "my-model", test::tiny_model_files());
  const auto model = inspect_model_folder((dir.path() / "my-model").string());
  EXPECT_EQ(model.name, "demo");
  EXPECT_EQ(model.layout, "official");
  EXPECT_TRUE(model.complete) << all_problems(model);
  EXPECT_GT(model.bytes, 1000000u);
}

TEST(ModelFinder, ReportsMissingAndTruncatedFilesByName) {
  ScratchDir dir;
  const auto folder = dir.path() / "m";
  write_model(folder, test::tiny_model_files());
  fs::remove(folder / "google/umt5-xxl/spiece.model");
  auto vae = test::safetensors_bytes(1000);
  write(folder / "Wan2.1_VAE.safetensors", vae.substr(0, vae.size() - 100));
  const auto model = inspect_model_folder(folder.string());
  EXPECT_FALSE(model.complete);
  EXPECT_TRUE(has_problem(model, "missing google/umt5-xxl/spiece.model")) << all_problems(model);
  EXPECT_TRUE(has_problem(model, "Wan2.1_VAE.safetensors is truncated")) << all_problems(model);
  EXPECT_EQ(model.problems.size(), 2u) << all_problems(model);
}

TEST(ModelFinder, NamesDf13BFromItsConfigAndFindsItTooSmall) {
  ScratchDir dir;
  const auto folder = dir.path() / "whatever";
  auto files = test::tiny_model_files();
  files[0].content = test::dit_config(1536, 30, 8960);
  write_model(folder, files);
  fs::remove(folder / "models_t5_umt5-xxl-enc-bf16.safetensors");
  const auto model = inspect_model_folder(folder.string());
  EXPECT_EQ(model.name, "DF-1.3B-540P");
  EXPECT_FALSE(model.complete);
  EXPECT_TRUE(has_problem(model, "missing models_t5_umt5-xxl-enc-bf16.pth (or models_t5_umt5-xxl-enc-bf16.safetensors)"))
      << all_problems(model);
  EXPECT_TRUE(has_problem(model, "Wan2.1_VAE.safetensors is too small for DF-1.3B-540P")) << all_problems(model);
  EXPECT_TRUE(has_problem(model, "the DiT's weights hold")) << all_problems(model);
}

TEST(ModelFinder, Names14BResolutionFromShardsAndReportsTheMissingShard) {
  ScratchDir dir;
  const auto folder = dir.path() / "fourteen";
  auto files = test::tiny_model_files();
  files[0].content = test::dit_config(5120, 40, 13824);
  files.erase(files.begin() + 1);  // no model.safetensors: shards instead, the last one missing
  write_model(folder, files);
  for (int i = 1; i <= 5; ++i)
    write(folder / ("diffusion_pytorch_model-0000" + std::to_string(i) + "-of-00006.safetensors"), test::safetensors_bytes(10));
  const auto model = inspect_model_folder(folder.string());
  EXPECT_EQ(model.name, "DF-14B-720P");
  EXPECT_TRUE(has_problem(model, "missing diffusion_pytorch_model-00006-of-00006.safetensors")) << all_problems(model);
}

TEST(ModelFinder, FindsModelsFoldersAndTheHubCache) {
  ScratchDir models, cache;
  write_model(models.path() / "tiny", test::tiny_model_files());
  write(models.path() / "notes" / "todo.txt", "not a model");
  // The Hub cache: an official repository (named from the repository, its config says 14B), an
  // unrelated language model (not listed), and an official download with only partial files.
  const auto official = cache.path() / "models--Skywork--SkyReels-V2-DF-14B-540P";
  auto files = test::tiny_model_files();
  files[0].content = test::dit_config(5120, 40, 13824);
  write_model(official / "snapshots" / std::string(40, 'a'), files);
  write(cache.path() / "models--someone--llm" / "snapshots" / std::string(40, 'b') / "config.json", "{}");
  write(cache.path() / "models--Skywork--SkyReels-V2-DF-1.3B-540P" / "blobs" / (std::string(64, 'c') + ".incomplete"), "partial");

  const auto found = find_models({models.path().string()}, cache.path().string());
  ASSERT_EQ(found.size(), 3u);
  EXPECT_EQ(found[0].name, "DF-1.3B-540P");
  EXPECT_FALSE(found[0].complete);
  EXPECT_TRUE(has_problem(found[0], "download it again to resume")) << all_problems(found[0]);
  EXPECT_EQ(found[1].name, "DF-14B-540P");
  EXPECT_EQ(found[1].source, FoundModel::Source::HubCache);
  EXPECT_EQ(found[1].repo, "Skywork/SkyReels-V2-DF-14B-540P");
  EXPECT_EQ(found[1].revision, std::string(40, 'a'));
  EXPECT_FALSE(found[1].complete);  // tiny files are far too small for a 14B model
  EXPECT_EQ(found[2].name, "demo");
  EXPECT_EQ(found[2].source, FoundModel::Source::Folder);
  EXPECT_TRUE(found[2].complete) << all_problems(found[2]);
}

TEST(ModelFinder, HubCacheFollowsTheEnvironment) {
  const char* saved[] = {std::getenv("HF_HUB_CACHE"), std::getenv("HF_HOME")};
  const std::string keep[] = {saved[0] ? saved[0] : "", saved[1] ? saved[1] : ""};
  ::unsetenv("HUGGINGFACE_HUB_CACHE");
  ::setenv("HF_HOME", "/tmp/hf-home", 1);
  ::unsetenv("HF_HUB_CACHE");
  EXPECT_EQ(hub_cache_dir(), "/tmp/hf-home/hub");
  ::setenv("HF_HUB_CACHE", "/tmp/hub-cache", 1);
  EXPECT_EQ(hub_cache_dir(), "/tmp/hub-cache");
  if (saved[0]) ::setenv("HF_HUB_CACHE", keep[0].c_str(), 1); else ::unsetenv("HF_HUB_CACHE");
  if (saved[1]) ::setenv("HF_HOME", keep[1].c_str(), 1); else ::unsetenv("HF_HOME");
}

TEST(ModelCatalog, FindsOfficialModelsByNameOrRepository) {
  ASSERT_EQ(official_models().size(), 3u);
  ASSERT_NE(find_official_model("df-14b-720p"), nullptr);
  EXPECT_EQ(find_official_model("df-14b-720p")->repo, "Skywork/SkyReels-V2-DF-14B-720P");
  EXPECT_EQ(find_official_model("Skywork/SkyReels-V2-DF-1.3B-540P")->name, "DF-1.3B-540P");
  EXPECT_EQ(find_official_model("SkyReels-V2-DF-14B-540P")->name, "DF-14B-540P");
  EXPECT_EQ(find_official_model("DF-2B"), nullptr);
  EXPECT_EQ(format_bytes(1500000000), "1.5 GB");
}

}  // namespace
}  // namespace skyreels
