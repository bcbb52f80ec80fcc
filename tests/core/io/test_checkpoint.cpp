#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "io/checkpoint.h"
#include "skyreels/error.h"
#include "test_support.h"

namespace skyreels::io {
namespace {

using test::TempDir;
using test::write_file;

// Passes when fn throws skyreels::Error with `code` and a message holding every needle.
template <class Fn>
::testing::AssertionResult fails_with(Fn&& fn, ErrorCode code, const std::vector<std::string>& needles) {
  try {
    fn();
  } catch (const Error& e) {
    const std::string message = e.what();
    if (e.code() != code) {
      return ::testing::AssertionFailure() << "code \"" << to_string(e.code()) << "\", expected \"" << to_string(code)
                                           << "\": " << message;
    }
    for (const auto& needle : needles) {
      if (message.find(needle) == std::string::npos) {
        return ::testing::AssertionFailure() << "message lacks \"" << needle << "\": " << message;
      }
    }
    return ::testing::AssertionSuccess() << message;
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "not a skyreels::Error: " << e.what();
  }
  return ::testing::AssertionFailure() << "no error";
}

at::Tensor filled(std::vector<std::int64_t> shape, double value) { return at::full(shape, value, at::kFloat); }

void write_index(const std::filesystem::path& path, const nlohmann::json& weight_map) {
  const nlohmann::json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", weight_map}};
  write_file(path, index.dump(2));
}

// Two shards and their index, as Hugging Face writes them: a, c in shard 1; b in shard 2.
class CheckpointShards : public ::testing::Test {
protected:
  void SetUp() override {
    write_safetensors(shard1(), {{"a", filled({2}, 1)}, {"c", filled({3, 1}, 3)}});
    write_safetensors(shard2(), {{"b", filled({4}, 2)}});
  }
  std::string shard1() const { return (dir_ / "model-00001-of-00002.safetensors").string(); }
  std::string shard2() const { return (dir_ / "model-00002-of-00002.safetensors").string(); }
  std::string index() const { return (dir_ / "model.safetensors.index.json").string(); }
  void write_default_index() const {
    write_index(index(), {{"a", "model-00001-of-00002.safetensors"},
                          {"c", "model-00001-of-00002.safetensors"},
                          {"b", "model-00002-of-00002.safetensors"}});
  }

  TempDir dir_;
};

void expect_three_tensors(const Checkpoint& checkpoint) {
  EXPECT_EQ(checkpoint.keys(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(checkpoint.contains("b"));
  EXPECT_FALSE(checkpoint.contains("d"));
  EXPECT_EQ(checkpoint.tensor("a")[1].item<float>(), 1.0f);
  EXPECT_EQ(checkpoint.tensor("b").sum().item<float>(), 8.0f);
  EXPECT_EQ(checkpoint.tensor("c").sizes(), at::IntArrayRef({3, 1}));
  EXPECT_EQ(checkpoint.entry("c").shape, (std::vector<std::int64_t>{3, 1}));
  EXPECT_EQ(checkpoint.entry("c").dtype, DType::F32);
}

TEST(Checkpoint, SingleFile) {
  TempDir dir;
  const std::string path = (dir / "model.safetensors").string();
  write_safetensors(path, {{"b", filled({4}, 2)}, {"a", filled({2}, 1)}, {"c", filled({3, 1}, 3)}});
  const Checkpoint checkpoint = Checkpoint::open(path);
  expect_three_tensors(checkpoint);
  EXPECT_EQ(checkpoint.source(), path);
  EXPECT_EQ(checkpoint.file_of("a"), path);
}

TEST_F(CheckpointShards, IndexWithTwoShards) {
  write_default_index();
  const Checkpoint checkpoint = Checkpoint::open(index());
  expect_three_tensors(checkpoint);
  EXPECT_EQ(checkpoint.source(), index());
  EXPECT_EQ(std::filesystem::path(checkpoint.file_of("a")), std::filesystem::path(shard1()));
  EXPECT_EQ(std::filesystem::path(checkpoint.file_of("b")), std::filesystem::path(shard2()));
}

TEST_F(CheckpointShards, DirectoryWithAnIndexUsesIt) {
  write_default_index();
  write_file(dir_ / "notes.txt", "not a checkpoint");
  const Checkpoint checkpoint = Checkpoint::open(dir_.path().string());
  expect_three_tensors(checkpoint);
  EXPECT_EQ(std::filesystem::path(checkpoint.file_of("b")), std::filesystem::path(shard2()));
}

TEST_F(CheckpointShards, DirectoryWithoutIndexLoadsEveryFile) {
  const Checkpoint checkpoint = Checkpoint::open(dir_.path().string());
  expect_three_tensors(checkpoint);
  EXPECT_EQ(checkpoint.file_of("c"), shard1());
}

TEST_F(CheckpointShards, IndexesOfOtherFormatsAreIgnored) {
  write_index(dir_ / "pytorch_model.bin.index.json", {{"a", "pytorch_model-00001.bin"}});
  expect_three_tensors(Checkpoint::open(dir_.path().string()));
}

TEST_F(CheckpointShards, ShardsInASubfolderAreAllowed) {
  std::filesystem::create_directory(dir_ / "weights");
  write_safetensors((dir_ / "weights" / "w.safetensors").string(), {{"w", filled({1}, 9)}});
  write_index(index(), {{"a", "model-00001-of-00002.safetensors"}, {"w", "./weights/w.safetensors"}});
  const Checkpoint checkpoint = Checkpoint::open(index());
  EXPECT_EQ(checkpoint.tensor("w").item<float>(), 9.0f);
  // Tensors the shard holds beyond those the index lists are part of the checkpoint too.
  EXPECT_EQ(checkpoint.keys(), (std::vector<std::string>{"a", "c", "w"}));
}

TEST_F(CheckpointShards, MissingShard) {
  write_index(index(), {{"a", "model-00001-of-00002.safetensors"}, {"b", "model-00003-of-00002.safetensors"}});
  EXPECT_TRUE(fails_with([&] { Checkpoint::open(index()); }, ErrorCode::NotFound,
                         {index(), "model-00003-of-00002.safetensors", "\"b\""}));
}

TEST_F(CheckpointShards, TensorMissingFromItsShard) {
  write_index(index(), {{"a", "model-00001-of-00002.safetensors"}, {"b", "model-00001-of-00002.safetensors"}});
  EXPECT_TRUE(fails_with([&] { Checkpoint::open(index()); }, ErrorCode::CorruptFile, {index(), shard1(), "\"b\""}));
}

TEST_F(CheckpointShards, DuplicateTensorAcrossShardsOfAnIndex) {
  write_safetensors(shard2(), {{"b", filled({4}, 2)}, {"a", filled({2}, 5)}});  // "a" is in shard 1 too
  write_default_index();
  EXPECT_TRUE(fails_with([&] { Checkpoint::open(index()); }, ErrorCode::CorruptFile, {"\"a\"", shard1(), shard2()}));
}

TEST_F(CheckpointShards, DuplicateTensorAcrossFilesOfADirectory) {
  write_safetensors(shard2(), {{"b", filled({4}, 2)}, {"c", filled({1}, 5)}});
  EXPECT_TRUE(fails_with([&] { Checkpoint::open(dir_.path().string()); }, ErrorCode::CorruptFile,
                         {dir_.path().string(), "\"c\"", shard1(), shard2()}));
}

TEST_F(CheckpointShards, ShardPathsMustStayInTheIndexFolder) {
  TempDir outside;
  const std::string stray = (outside / "stray.safetensors").string();
  write_safetensors(stray, {{"x", filled({1}, 1)}});
  const std::string relative = "../" + outside.path().filename().string() + "/stray.safetensors";
  for (const std::string& shard : {relative, stray, std::string("sub/../../x.safetensors"), std::string("")}) {
    write_index(index(), {{"a", "model-00001-of-00002.safetensors"}, {"x", shard}});
    EXPECT_TRUE(fails_with([&] { Checkpoint::open(index()); }, ErrorCode::CorruptFile, {index(), "\"x\"", shard}))
        << shard;
  }
}

TEST_F(CheckpointShards, BadIndexFiles) {
  write_file(index(), "{\"weight_map\": {\"a\": ");
  EXPECT_TRUE(fails_with([&] { Checkpoint::open(index()); }, ErrorCode::CorruptFile, {index(), "JSON"}));
  write_file(index(), R"({"metadata": {}})");
  EXPECT_TRUE(fails_with([&] { Checkpoint::open(index()); }, ErrorCode::CorruptFile, {index(), "weight_map"}));
  write_file(index(), R"({"weight_map": {"a": 3}})");
  EXPECT_TRUE(fails_with([&] { Checkpoint::open(index()); }, ErrorCode::CorruptFile, {index(), "\"a\""}));
  write_file(index(), R"({"weight_map": {}})");
  EXPECT_TRUE(fails_with([&] { Checkpoint::open(index()); }, ErrorCode::CorruptFile, {index(), "no tensors"}));
}

TEST_F(CheckpointShards, CorruptShardNamesTheShard) {
  write_file(shard2(), "garbage");
  write_default_index();
  EXPECT_TRUE(fails_with([&] { Checkpoint::open(index()); }, ErrorCode::CorruptFile, {index(), shard2()}));
}

TEST(Checkpoint, EmptyDirectoryIsNotFound) {
  TempDir dir;
  write_file(dir / "readme.md", "no weights here");
  EXPECT_TRUE(fails_with([&] { Checkpoint::open(dir.path().string()); }, ErrorCode::NotFound,
                         {dir.path().string(), "*.safetensors"}));
}

TEST(Checkpoint, MissingPathIsNotFound) {
  TempDir dir;
  const std::string path = (dir / "absent.safetensors").string();
  EXPECT_TRUE(fails_with([&] { Checkpoint::open(path); }, ErrorCode::NotFound, {path}));
}

TEST(Checkpoint, UnknownTensorIsNotFound) {
  TempDir dir;
  const std::string path = (dir / "model.safetensors").string();
  write_safetensors(path, {{"a", filled({1}, 1)}});
  const Checkpoint checkpoint = Checkpoint::open(path);
  const std::vector<std::string> needles = {path, "\"missing.weight\""};
  EXPECT_TRUE(fails_with([&] { checkpoint.entry("missing.weight"); }, ErrorCode::NotFound, needles));
  EXPECT_TRUE(fails_with([&] { checkpoint.tensor("missing.weight"); }, ErrorCode::NotFound, needles));
  EXPECT_TRUE(fails_with([&] { checkpoint.file_of("missing.weight"); }, ErrorCode::NotFound, needles));
}

}  // namespace
}  // namespace skyreels::io
