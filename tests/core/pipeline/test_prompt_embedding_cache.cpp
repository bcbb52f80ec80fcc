#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "io/safetensors.h"
#include "pipeline/prompt_embedding_cache.h"
#include "test_support.h"

namespace fs = std::filesystem;
namespace io = skyreels::io;
namespace pipeline = skyreels::pipeline;
using skyreels::test::TempDir;

namespace {

pipeline::PromptEmbedding embedding(std::int64_t length, std::int64_t rows = 512, std::int64_t dim = 16,
                                    std::uint64_t seed = 1) {
  at::manual_seed(seed);
  pipeline::PromptEmbedding e;
  e.length = length;
  e.context = at::zeros({rows, dim}, at::kBFloat16);
  e.context.narrow(0, 0, length).copy_(at::randn({length, dim}));
  return e;
}

// Sets an environment variable for the scope of a test.
class ScopedEnv {
public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) ::setenv(name_, old_->c_str(), 1);
    else ::unsetenv(name_);
  }

private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace

TEST(PromptEmbeddingCache, MissThenPutThenHit) {
  TempDir dir;
  const pipeline::PromptEmbeddingCache cache(dir / "cache");  // created on the first put
  EXPECT_FALSE(cache.get("model-a", "a cat").has_value());
  const auto e = embedding(7);
  ASSERT_TRUE(cache.put("model-a", "a cat", e));
  const auto hit = cache.get("model-a", "a cat");
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->length, 7);
  EXPECT_EQ(hit->context.scalar_type(), at::kBFloat16);
  EXPECT_TRUE(at::equal(hit->context, e.context));  // padded rows come back as zeros
  // Only the real rows are stored.
  const io::SafetensorsFile file(cache.entry_path({"model-a", "a cat"}).string());
  EXPECT_EQ(file.entry("context").shape, (std::vector<std::int64_t>{7, 16}));
}

TEST(PromptEmbeddingCache, KeyCoversModelTextLengthAndCompute) {
  TempDir dir;
  const pipeline::PromptEmbeddingCache cache(dir.path());
  const pipeline::PromptKey base{"model-a", "a cat", 512, "bf16-autocast"};
  ASSERT_TRUE(cache.put(base, embedding(3)));
  auto other_model = base, other_text = base, other_length = base, other_compute = base;
  other_model.model_id = "model-b";
  other_text.text = "a cat ";
  other_length.max_length = 256;
  other_compute.compute = "float32";
  for (const auto& key : {other_model, other_text, other_length, other_compute}) {
    EXPECT_NE(cache.entry_path(key), cache.entry_path(base));
    EXPECT_FALSE(cache.get(key).has_value());
  }
  EXPECT_TRUE(cache.get(base).has_value());
  // Fields cannot run into each other.
  EXPECT_NE((pipeline::PromptKey{"ab", "c"}).key_text(), (pipeline::PromptKey{"a", "bc"}).key_text());
  // Unicode prompts (the default negative prompt) are keys like any other.
  const std::string chinese = "色调艳丽，过曝，静态";
  ASSERT_TRUE(cache.put("model-a", chinese, embedding(5)));
  EXPECT_TRUE(cache.get("model-a", chinese).has_value());
}

TEST(PromptEmbeddingCache, CorruptEntryIsIgnoredDeletedAndRewritten) {
  TempDir dir;
  const pipeline::PromptEmbeddingCache cache(dir.path());
  const auto e = embedding(9);
  ASSERT_TRUE(cache.put("m", "prompt", e));
  const auto path = cache.entry_path({"m", "prompt"});
  const auto bytes = skyreels::test::read_file(path);

  // Truncated file: an unreadable safetensors.
  skyreels::test::write_file(path, bytes.substr(0, bytes.size() / 2));
  EXPECT_FALSE(cache.get("m", "prompt").has_value());
  EXPECT_FALSE(fs::exists(path));
  // Garbage.
  skyreels::test::write_file(path, "not a safetensors file at all");
  EXPECT_FALSE(cache.get("m", "prompt").has_value());
  EXPECT_FALSE(fs::exists(path));
  // A flipped bit in the data: a valid file whose checksum no longer matches.
  auto damaged = bytes;
  damaged[damaged.size() - 3] = static_cast<char>(damaged[damaged.size() - 3] ^ 0x10);
  skyreels::test::write_file(path, damaged);
  EXPECT_FALSE(cache.get("m", "prompt").has_value());
  EXPECT_FALSE(fs::exists(path));
  // A well-formed safetensors file that is not an entry.
  io::write_safetensors(path.string(), {{"context", e.context}});
  EXPECT_FALSE(cache.get("m", "prompt").has_value());
  EXPECT_FALSE(fs::exists(path));

  // Rewritten by the next put, then served again.
  ASSERT_TRUE(cache.put("m", "prompt", e));
  const auto hit = cache.get("m", "prompt");
  ASSERT_TRUE(hit.has_value());
  EXPECT_TRUE(at::equal(hit->context, e.context));
}

// Two keys whose entries land on one file name: simulated by moving one entry to the other's path.
TEST(PromptEmbeddingCache, HashCollisionIsDetected) {
  TempDir dir;
  const pipeline::PromptEmbeddingCache cache(dir.path());
  ASSERT_TRUE(cache.put("m", "first prompt", embedding(4)));
  const auto from = cache.entry_path({"m", "first prompt"}), to = cache.entry_path({"m", "second prompt"});
  fs::rename(from, to);
  EXPECT_FALSE(cache.get("m", "second prompt").has_value());
  EXPECT_FALSE(fs::exists(to));
}

TEST(PromptEmbeddingCache, RejectsMalformedEmbeddingsOnPut) {
  TempDir dir;
  const pipeline::PromptEmbeddingCache cache(dir.path());
  EXPECT_FALSE(cache.put("m", "x", pipeline::PromptEmbedding{}));
  auto e = embedding(4);
  e.length = 0;
  EXPECT_FALSE(cache.put("m", "x", e));
  EXPECT_FALSE(cache.put("m", "x", embedding(4, 256)));  // rows must be the key's max length
  EXPECT_FALSE(fs::exists(cache.entry_path({"m", "x"})));
}

TEST(PromptEmbeddingCache, UnwritableFolderIsNotFatal) {
  TempDir dir;
  skyreels::test::write_file(dir / "file", "x");
  const pipeline::PromptEmbeddingCache cache(dir / "file" / "cache");  // a folder below a regular file
  EXPECT_FALSE(cache.put("m", "x", embedding(2)));
  EXPECT_FALSE(cache.get("m", "x").has_value());
}

TEST(PromptEmbeddingCache, DefaultFolderFollowsXdgCacheHome) {
  {
    ScopedEnv xdg("XDG_CACHE_HOME", "/tmp/xdg-test");
    EXPECT_EQ(pipeline::PromptEmbeddingCache::default_dir(), fs::path("/tmp/xdg-test/skyreels-studio/prompt-embeddings"));
    EXPECT_EQ(pipeline::PromptEmbeddingCache().dir(), fs::path("/tmp/xdg-test/skyreels-studio/prompt-embeddings"));
  }
  ScopedEnv xdg("XDG_CACHE_HOME", "");
  ScopedEnv home("HOME", "/home/someone");
  EXPECT_EQ(pipeline::PromptEmbeddingCache::default_dir(), fs::path("/home/someone/.cache/skyreels-studio/prompt-embeddings"));
}

TEST(PromptEmbeddingCache, ModelIdentityChangesWithTheCheckpoint) {
  TempDir dir;
  const auto file = dir / "models_t5_umt5-xxl-enc-bf16.pth";
  skyreels::test::write_file(file, "one");
  const auto first = pipeline::model_identity(file.string());
  EXPECT_EQ(pipeline::model_identity(file.string()), first);
  EXPECT_NE(first.find("models_t5_umt5-xxl-enc-bf16.pth"), std::string::npos);
  skyreels::test::write_file(file, "three");  // other size
  EXPECT_NE(pipeline::model_identity(file.string()), first);
  // A folder's identity covers its weight files.
  const auto folder_id = pipeline::model_identity(dir.path().string());
  skyreels::test::write_file(dir / "model.safetensors", "x");
  EXPECT_NE(pipeline::model_identity(dir.path().string()), folder_id);
}
