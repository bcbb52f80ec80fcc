#include <string>

#include <sys/stat.h>
#include <vector>

#include <gtest/gtest.h>

#include "io/json_config.h"
#include "skyreels/error.h"
#include "test_support.h"

namespace skyreels::io {
namespace {

using test::TempDir;
using test::write_file;

// The error a call raises; fails the test if it raises none or another exception.
template <class Fn>
Error error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not a skyreels::Error: " << e.what();
    return Error(ErrorCode::Invalid, e.what());
  }
  ADD_FAILURE() << "no error";
  return Error(ErrorCode::Invalid, "");
}

const char* kWanConfig = R"({
  "_class_name": "WanModel",
  "dim": 1536,
  "eps": 1e-06,
  "cross_attn_norm": true,
  "model_type": "t2v",
  "patch_size": [1, 2, 2],
  "freq_dim": 256,
  "inject_sample_info": null,
  "big": 9223372036854775807,
  "too_big": 18446744073709551615,
  "negative": -3,
  "ratio": 2.5,
  "mixed": [1, "2", 3]
})";

class JsonConfigFile : public ::testing::Test {
protected:
  void SetUp() override { write_file(path_, kWanConfig); }
  TempDir dir_;  // declared first: path_ is built from it
  std::string path_ = (dir_ / "config.json").string();
};

TEST_F(JsonConfigFile, ReadsTypedValues) {
  const JsonConfig config = JsonConfig::load(path_);
  EXPECT_EQ(config.label(), path_);
  EXPECT_TRUE(config.has("dim"));
  EXPECT_FALSE(config.has("num_layers"));
  EXPECT_EQ(config.get_int("dim"), 1536);
  EXPECT_EQ(config.get_int("negative"), -3);
  EXPECT_EQ(config.get_int("big"), 9223372036854775807LL);
  EXPECT_DOUBLE_EQ(config.get_double("eps"), 1e-6);
  EXPECT_DOUBLE_EQ(config.get_double("dim"), 1536.0);  // integers are numbers too
  EXPECT_TRUE(config.get_bool("cross_attn_norm"));
  EXPECT_EQ(config.get_string("model_type"), "t2v");
  EXPECT_EQ(config.get_int_list("patch_size"), (std::vector<std::int64_t>{1, 2, 2}));
  EXPECT_EQ(config.json()["_class_name"], "WanModel");
}

TEST_F(JsonConfigFile, FallbacksForAbsentAndNullKeys) {
  const JsonConfig config = JsonConfig::load(path_);
  EXPECT_EQ(config.get_int("num_layers", 30), 30);
  EXPECT_EQ(config.get_int("inject_sample_info", 7), 7);
  EXPECT_EQ(config.get_int("freq_dim", 1), 256);
  EXPECT_DOUBLE_EQ(config.get_double("shift", 5.0), 5.0);
  EXPECT_DOUBLE_EQ(config.get_double("ratio", 1.0), 2.5);
  EXPECT_FALSE(config.get_bool("qk_norm", false));
  EXPECT_TRUE(config.get_bool("cross_attn_norm", false));
  EXPECT_EQ(config.get_string("name", "default"), "default");
  EXPECT_EQ(config.get_string("model_type", "i2v"), "t2v");
}

TEST_F(JsonConfigFile, WrongTypeNamesTheFileAndTheKey) {
  const JsonConfig config = JsonConfig::load(path_);
  Error e = error_of([&] { config.get_int("model_type"); });
  EXPECT_EQ(e.code(), ErrorCode::CorruptFile);
  EXPECT_EQ(std::string(e.what()), path_ + ": key \"model_type\" must be an integer, found string");
  e = error_of([&] { config.get_int("ratio"); });
  EXPECT_EQ(std::string(e.what()), path_ + ": key \"ratio\" must be an integer, found float");
  e = error_of([&] { config.get_bool("dim"); });
  EXPECT_EQ(std::string(e.what()), path_ + ": key \"dim\" must be a boolean, found integer");
  e = error_of([&] { config.get_string("patch_size"); });
  EXPECT_EQ(std::string(e.what()), path_ + ": key \"patch_size\" must be a string, found array");
  e = error_of([&] { config.get_double("cross_attn_norm"); });
  EXPECT_EQ(std::string(e.what()), path_ + ": key \"cross_attn_norm\" must be a number, found boolean");
  e = error_of([&] { config.get_int_list("dim"); });
  EXPECT_EQ(e.code(), ErrorCode::CorruptFile);
  e = error_of([&] { config.get_int_list("mixed"); });
  EXPECT_EQ(std::string(e.what()), path_ + ": key \"mixed[1]\" must be an integer, found string");
}

TEST_F(JsonConfigFile, WrongTypeThrowsEvenWithAFallback) {
  const JsonConfig config = JsonConfig::load(path_);
  EXPECT_EQ(error_of([&] { config.get_int("model_type", 3); }).code(), ErrorCode::CorruptFile);
  EXPECT_EQ(error_of([&] { config.get_double("model_type", 3.0); }).code(), ErrorCode::CorruptFile);
  EXPECT_EQ(error_of([&] { config.get_bool("dim", true); }).code(), ErrorCode::CorruptFile);
  EXPECT_EQ(error_of([&] { config.get_string("dim", "x"); }).code(), ErrorCode::CorruptFile);
}

TEST_F(JsonConfigFile, IntegerBeyondInt64IsAnError) {
  const JsonConfig config = JsonConfig::load(path_);
  const Error e = error_of([&] { config.get_int("too_big"); });
  EXPECT_EQ(e.code(), ErrorCode::CorruptFile);
  EXPECT_NE(std::string(e.what()).find("\"too_big\""), std::string::npos) << e.what();
}

TEST_F(JsonConfigFile, MissingKeyIsNotFound) {
  const JsonConfig config = JsonConfig::load(path_);
  const Error e = error_of([&] { config.get_int("num_heads"); });
  EXPECT_EQ(e.code(), ErrorCode::NotFound);
  EXPECT_EQ(std::string(e.what()), path_ + ": missing key \"num_heads\"");
}

TEST(JsonConfig, MissingFileIsNotFound) {
  TempDir dir;
  const std::string path = (dir / "config.json").string();
  const Error e = error_of([&] { JsonConfig::load(path); });
  EXPECT_EQ(e.code(), ErrorCode::NotFound);
  EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
}

TEST(JsonConfig, DirectoryIsABadArgument) {
  TempDir dir;
  EXPECT_EQ(error_of([&] { JsonConfig::load(dir.path().string()); }).code(), ErrorCode::BadArgument);
}

TEST(JsonConfig, BadJsonIsCorrupt) {
  TempDir dir;
  const std::string path = (dir / "config.json").string();
  write_file(path, "{\"dim\": 1536,");
  const Error e = error_of([&] { JsonConfig::load(path); });
  EXPECT_EQ(e.code(), ErrorCode::CorruptFile);
  EXPECT_NE(std::string(e.what()).find(path + ": not valid JSON"), std::string::npos) << e.what();
}

TEST(JsonConfig, RootMustBeAnObject) {
  const Error e = error_of([] { JsonConfig::parse("[1, 2]", "inline.json"); });
  EXPECT_EQ(e.code(), ErrorCode::CorruptFile);
  EXPECT_EQ(std::string(e.what()), "inline.json: root must be a JSON object, found array");
}

TEST(JsonConfig, ParseUsesTheLabel) {
  const JsonConfig config = JsonConfig::parse(R"({"num_layers": 30})", "memory:config");
  EXPECT_EQ(config.label(), "memory:config");
  EXPECT_EQ(config.get_int("num_layers"), 30);
  EXPECT_EQ(std::string(error_of([&] { config.get_string("num_layers"); }).what()),
            "memory:config: key \"num_layers\" must be a string, found integer");
}

TEST(JsonConfig, OnlySmallRegularFilesAreRead) {
  TempDir dir;
  // A FIFO would block the reader forever: refused before it is opened.
  const auto fifo = dir / "config.json";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  ErrorCode code{};
  auto text = test::error_text([&] { JsonConfig::load(fifo.string()); }, &code);
  EXPECT_EQ(code, ErrorCode::BadArgument);
  EXPECT_NE(text.find("not a regular file"), std::string::npos) << text;
  // A file far larger than any config is refused without reading it whole.
  write_file(dir / "huge.json", "{\"a\": \"" + std::string(17 << 20, 'x') + "\"}");
  text = test::error_text([&] { JsonConfig::load((dir / "huge.json").string()); }, &code);
  EXPECT_EQ(code, ErrorCode::BadArgument);
  EXPECT_NE(text.find("too large"), std::string::npos) << text;
}

}  // namespace
}  // namespace skyreels::io
