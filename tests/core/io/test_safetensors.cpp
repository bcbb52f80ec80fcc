#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <torch/version.h>

#include "io/safetensors.h"
#include "skyreels/error.h"
#include "test_support.h"

namespace skyreels::io {
namespace {

using test::TempDir;
using test::read_file;
using test::write_file;
using Json = nlohmann::ordered_json;

std::string u64le(std::uint64_t value) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[static_cast<std::size_t>(i)] = static_cast<char>(value >> (8 * i));
  return bytes;
}

// A safetensors file from header text and data bytes; the header is padded with spaces to a multiple of 8
// so the data section is 8-byte aligned, as writers do.
std::string craft(std::string header, const std::string& data) {
  header.append((8 - header.size() % 8) % 8, ' ');
  return u64le(header.size()) + header + data;
}

Json entry(const char* dtype, const std::vector<std::int64_t>& shape, std::uint64_t begin, std::uint64_t end) {
  return Json{{"dtype", dtype}, {"shape", shape}, {"data_offsets", {begin, end}}};
}

std::string bytes_of(const std::vector<unsigned char>& values) { return std::string(values.begin(), values.end()); }

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

// --- valid files ----------------------------------------------------------------------------------

std::vector<std::pair<std::string, at::Tensor>> one_tensor_per_dtype() {
  const at::Tensor ramp = at::arange(-6, 6, at::kDouble).reshape({3, 4});
  return {
      {"f64", ramp * 0.1 + 1e-300},
      {"f32", (ramp * 1.25).to(at::kFloat)},
      {"f16", (ramp * 0.5).to(at::kHalf)},
      {"bf16", (ramp * 2).to(at::kBFloat16)},
      {"i64", (ramp * 1e12).to(at::kLong)},
      {"i32", (ramp * 1e6).to(at::kInt)},
      {"i16", (ramp * 1000).to(at::kShort)},
      {"i8", (ramp * 20).to(at::kChar)},
      {"u8", (ramp * 20 + 128).to(at::kByte)},
      {"bool", at::arange(12).reshape({3, 4}).remainder(3).eq(0)},
      {"scalar", at::scalar_tensor(3.5, at::kFloat)},
      {"empty", at::zeros({0, 4}, at::kFloat)},
  };
}

TEST(Safetensors, RoundTripEveryTorchDtype) {
  TempDir dir;
  const std::string path = (dir / "model.safetensors").string();
  const auto tensors = one_tensor_per_dtype();
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"note", "round trip \xc3\xa9"}};
  write_safetensors(path, tensors, metadata);

  SafetensorsFile file(path);
  EXPECT_EQ(file.path(), path);
  EXPECT_EQ(file.metadata(), metadata);
  ASSERT_EQ(file.entries().size(), tensors.size());
  const std::vector<const char*> dtypes = {"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL", "F32", "F32"};
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& [name, original] = tensors[i];
    SCOPED_TRACE(name);
    ASSERT_TRUE(file.contains(name));
    const SafetensorsEntry& e = file.entry(name);
    EXPECT_STREQ(dtype_name(e.dtype), dtypes[i]);
    EXPECT_EQ(e.shape, std::vector<std::int64_t>(original.sizes().begin(), original.sizes().end()));
    const at::Tensor loaded = file.tensor(name);
    EXPECT_EQ(loaded.scalar_type(), original.scalar_type());
    EXPECT_EQ(loaded.sizes(), original.sizes());
    EXPECT_TRUE(loaded.is_contiguous());
    EXPECT_TRUE(at::equal(loaded, original));
  }
  // Spot checks against literal values, independent of the writer.
  EXPECT_EQ(file.tensor("f32")[2][3].item<float>(), 5 * 1.25f);
  EXPECT_EQ(file.tensor("i64")[0][0].item<std::int64_t>(), -6000000000000LL);
  EXPECT_EQ(file.tensor("bool").sum().item<std::int64_t>(), 4);
  EXPECT_EQ(file.tensor("scalar").dim(), 0);
  EXPECT_EQ(file.tensor("scalar").item<float>(), 3.5f);
  EXPECT_EQ(file.tensor("empty").numel(), 0);
  EXPECT_EQ(file.entry("empty").begin, file.entry("empty").end);
}

TEST(Safetensors, TensorsViewTheMappingWithoutCopying) {
  TempDir dir;
  const std::string path = (dir / "w.safetensors").string();
  write_safetensors(path, {{"w", at::arange(16, at::kFloat)}});
  SafetensorsFile file(path);
  const at::Tensor first = file.tensor("w");
  const at::Tensor second = file.tensor("w");
  EXPECT_EQ(first.data_ptr(), second.data_ptr());  // both view the same mapped bytes
}

TEST(Safetensors, InPlaceWritesNeverReachTheFile) {
  TempDir dir;
  const std::string path = (dir / "w.safetensors").string();
  write_safetensors(path, {{"w", at::arange(16, at::kFloat)}});
  const std::string before = read_file(path);
  at::Tensor survivor;
  {
    SafetensorsFile file(path);
    survivor = file.tensor("w");
    survivor.mul_(-2);  // copy-on-write pages: allowed, private to this process
  }
  // The tensor keeps the mapping alive after the file object is gone.
  EXPECT_EQ(survivor[5].item<float>(), -10.0f);
  EXPECT_EQ(read_file(path), before);
  EXPECT_EQ(SafetensorsFile(path).tensor("w")[5].item<float>(), 5.0f);
}

TEST(Safetensors, UnalignedDataIsCopied) {
  TempDir dir;
  const std::string path = (dir / "odd.safetensors").string();
  const float values[3] = {1.5f, -2.25f, 1e30f};
  std::string data = "\x07";  // a U8 entry first, so the F32 entry starts at offset 1
  data.append(reinterpret_cast<const char*>(values), sizeof values);
  Json header = {{"pad", entry("U8", {1}, 0, 1)}, {"w", entry("F32", {3}, 1, 13)}};
  write_file(path, craft(header.dump(), data));

  SafetensorsFile file(path);
  const at::Tensor w = file.tensor("w");
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(w.data_ptr()) % alignof(float), 0u);
  EXPECT_EQ(w[0].item<float>(), 1.5f);
  EXPECT_EQ(w[1].item<float>(), -2.25f);
  EXPECT_EQ(w[2].item<float>(), 1e30f);
  EXPECT_EQ(file.tensor("pad").item<std::uint8_t>(), 7);
}

TEST(Safetensors, F8E4M3FromHandMadeBytes) {
  TempDir dir;
  const std::string path = (dir / "f8.safetensors").string();
  Json header = {{"q", entry("F8_E4M3", {2, 2}, 0, 4)}};
  write_file(path, craft(header.dump(), bytes_of({0x38, 0x7E, 0x7F, 0xB8})));

  SafetensorsFile file(path);
  EXPECT_EQ(file.entry("q").dtype, DType::F8_E4M3);
  const at::Tensor q = file.tensor("q");
  EXPECT_EQ(q.sizes(), at::IntArrayRef({2, 2}));
  EXPECT_EQ(q.scalar_type(), to_torch_dtype(DType::F8_E4M3).value_or(at::kFloat));
  const at::Tensor values = q.to(at::kFloat);
  EXPECT_EQ(values[0][0].item<float>(), 1.0f);
  EXPECT_EQ(values[0][1].item<float>(), 448.0f);
  EXPECT_TRUE(std::isnan(values[1][0].item<float>()));
  EXPECT_EQ(values[1][1].item<float>(), -1.0f);
}

TEST(Safetensors, F8E5M2FromHandMadeBytes) {
  TempDir dir;
  const std::string path = (dir / "f8.safetensors").string();
  Json header = {{"__metadata__", {{"k", "v"}}}, {"q", entry("F8_E5M2", {4}, 0, 4)}};
  write_file(path, craft(header.dump(), bytes_of({0x3C, 0x7C, 0xFC, 0x7D})));

  SafetensorsFile file(path);
  const at::Tensor values = file.tensor("q").to(at::kFloat);
  EXPECT_EQ(values[0].item<float>(), 1.0f);
  EXPECT_EQ(values[1].item<float>(), std::numeric_limits<float>::infinity());
  EXPECT_EQ(values[2].item<float>(), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(values[3].item<float>()));
}

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
// Where LibTorch has float8 types the writer takes them and the reader returns them unwidened.
TEST(Safetensors, Float8RoundTrip) {
  TempDir dir;
  const std::string path = (dir / "f8.safetensors").string();
  const at::Tensor values = at::tensor({1.0f, -2.0f, 448.0f, 0.5f});
  write_safetensors(path, {{"a", values.to(c10::ScalarType::Float8_e4m3fn)}, {"b", values.to(c10::ScalarType::Float8_e5m2)}});
  SafetensorsFile file(path);
  EXPECT_EQ(file.entry("a").dtype, DType::F8_E4M3);
  EXPECT_EQ(file.entry("b").dtype, DType::F8_E5M2);
  EXPECT_EQ(file.tensor("a").scalar_type(), c10::ScalarType::Float8_e4m3fn);
  EXPECT_TRUE(at::equal(file.tensor("a").to(at::kFloat), values));
  EXPECT_TRUE(at::equal(file.tensor("b").to(at::kFloat), values));
}
#endif

TEST(Safetensors, BoolBytesOtherThanZeroOrOneAreNormalized) {
  TempDir dir;
  const std::string path = (dir / "b.safetensors").string();
  Json header = {{"mask", entry("BOOL", {4}, 0, 4)}};
  write_file(path, craft(header.dump(), bytes_of({0, 1, 2, 255})));
  const at::Tensor mask = SafetensorsFile(path).tensor("mask");
  ASSERT_EQ(mask.scalar_type(), at::kBool);
  const std::uint8_t* raw = static_cast<const std::uint8_t*>(mask.data_ptr());
  EXPECT_EQ(std::vector<int>(raw, raw + 4), (std::vector<int>{0, 1, 1, 1}));
}

TEST(Safetensors, GapsAndEmptyEntriesInsideRangesAreAllowed) {
  TempDir dir;
  const std::string path = (dir / "gaps.safetensors").string();
  const std::string data(32, '\x01');
  // Header order differs from offset order; "z" is empty and sits inside "a"'s range; [8, 16) is a gap.
  Json header = {{"b", entry("U8", {8}, 16, 24)}, {"z", entry("F32", {0, 3}, 4, 4)}, {"a", entry("I16", {2, 2}, 0, 8)}};
  write_file(path, craft(header.dump(), data));
  SafetensorsFile file(path);
  ASSERT_EQ(file.entries().size(), 3u);
  EXPECT_EQ(file.entries()[0].name, "a");  // sorted by data offset
  EXPECT_EQ(file.entries()[1].name, "z");
  EXPECT_EQ(file.entries()[2].name, "b");
  EXPECT_EQ(file.tensor("a")[1][1].item<std::int16_t>(), 0x0101);
  EXPECT_EQ(file.tensor("z").sizes(), at::IntArrayRef({0, 3}));
  EXPECT_EQ(file.tensor("b").sum().item<std::int64_t>(), 8);
}

TEST(Safetensors, EmptyHeaderHasNoTensors) {
  TempDir dir;
  const std::string path = (dir / "none.safetensors").string();
  write_file(path, craft("{}", ""));
  SafetensorsFile file(path);
  EXPECT_TRUE(file.entries().empty());
  EXPECT_TRUE(file.metadata().empty());
}

TEST(Safetensors, WritingNeverFollowsALinkPlantedBesideTheFile) {
  TempDir dir;
  write_file(dir / "victim.txt", "precious");
  // The writer once used the fixed name <path>.tmp and opened it with fopen("wb").
  std::filesystem::create_symlink(dir / "victim.txt", dir / "out.safetensors.tmp");
  write_safetensors((dir / "out.safetensors").string(), {{"x", at::arange(6, at::kFloat)}});
  EXPECT_EQ(read_file(dir / "victim.txt"), "precious");
  EXPECT_TRUE(at::equal(SafetensorsFile((dir / "out.safetensors").string()).tensor("x"), at::arange(6, at::kFloat)));
  // No temporary file is left behind (the planted link is all that remains beside the output).
  int others = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path()))
    others += entry.path().filename() != "victim.txt" && entry.path().filename() != "out.safetensors" &&
              entry.path().filename() != "out.safetensors.tmp";
  EXPECT_EQ(others, 0);
}

TEST(Safetensors, UnknownTensorIsNotFound) {
  TempDir dir;
  const std::string path = (dir / "w.safetensors").string();
  write_safetensors(path, {{"w", at::ones({2})}});
  SafetensorsFile file(path);
  EXPECT_FALSE(file.contains("nope"));
  EXPECT_TRUE(fails_with([&] { file.entry("nope"); }, ErrorCode::NotFound, {path, "\"nope\""}));
  EXPECT_TRUE(fails_with([&] { file.tensor("nope"); }, ErrorCode::NotFound, {path, "\"nope\""}));
}

// --- hostile files: each must raise a skyreels::Error naming the file (and the tensor) -------------

class SafetensorsHostile : public ::testing::Test {
protected:
  // Writes the bytes and returns the path; the tests then expect SafetensorsFile(path) to fail.
  std::string crafted(const std::string& bytes) {
    const std::string path = (dir_ / "hostile.safetensors").string();
    write_file(path, bytes);
    return path;
  }
  std::string crafted(const Json& header, const std::string& data) { return crafted(craft(header.dump(), data)); }

  ::testing::AssertionResult open_fails(const std::string& path, ErrorCode code, std::vector<std::string> needles) {
    needles.insert(needles.begin(), path);
    return fails_with([&] { SafetensorsFile file(path); }, code, needles);
  }

  TempDir dir_;
};

TEST_F(SafetensorsHostile, MissingFile) {
  const std::string path = (dir_ / "absent.safetensors").string();
  EXPECT_TRUE(open_fails(path, ErrorCode::NotFound, {}));
}

TEST_F(SafetensorsHostile, DirectoryInsteadOfFile) {
  EXPECT_TRUE(open_fails(dir_.path().string(), ErrorCode::BadArgument, {"directory"}));
}

TEST_F(SafetensorsHostile, EmptyFile) {
  EXPECT_TRUE(open_fails(crafted(""), ErrorCode::CorruptFile, {"0 bytes"}));
}

TEST_F(SafetensorsHostile, TruncatedHeaderLength) {
  EXPECT_TRUE(open_fails(crafted(u64le(16).substr(0, 5)), ErrorCode::CorruptFile, {"too short"}));
}

TEST_F(SafetensorsHostile, HeaderLengthPastTheEnd) {
  EXPECT_TRUE(open_fails(crafted(u64le(1000) + "{}"), ErrorCode::CorruptFile, {"header length 1000", "past the end"}));
}

TEST_F(SafetensorsHostile, HeaderLengthOverTheLimit) {
  EXPECT_TRUE(open_fails(crafted(u64le(~0ull) + "{}"), ErrorCode::CorruptFile, {"exceeds the limit"}));
  EXPECT_TRUE(open_fails(crafted(u64le(kMaxSafetensorsHeaderBytes + 1) + "{}"), ErrorCode::CorruptFile,
                         {"exceeds the limit"}));
}

TEST_F(SafetensorsHostile, TruncatedData) {
  const std::string valid_path = (dir_ / "valid.safetensors").string();
  write_safetensors(valid_path, {{"a", at::ones({4})}, {"b", at::ones({4})}});
  const std::string bytes = read_file(valid_path);
  EXPECT_TRUE(open_fails(crafted(bytes.substr(0, bytes.size() - 3)), ErrorCode::CorruptFile,
                         {"tensor \"b\"", "run past the end of the data section (29 bytes)"}));
}

TEST_F(SafetensorsHostile, BadJson) {
  EXPECT_TRUE(open_fails(crafted(craft("{\"w\": {\"dtype\": ", "")), ErrorCode::CorruptFile, {"not valid JSON"}));
  EXPECT_TRUE(open_fails(crafted(craft("{\"w\": 1} trailing", "")), ErrorCode::CorruptFile, {"not valid JSON"}));
  EXPECT_TRUE(open_fails(crafted(craft(std::string("{\"w\x00\": 1}", 9), "")), ErrorCode::CorruptFile,
                         {"not valid JSON"}));
}

TEST_F(SafetensorsHostile, InvalidUtf8InHeader) {
  EXPECT_TRUE(open_fails(crafted(craft("{\"w\xff\xfe\": {}}", "")), ErrorCode::CorruptFile, {"not valid JSON"}));
}

TEST_F(SafetensorsHostile, RootIsNotAnObject) {
  EXPECT_TRUE(open_fails(crafted(craft("[1, 2]", "")), ErrorCode::CorruptFile, {"must be an object, found array"}));
}

TEST_F(SafetensorsHostile, DeepNesting) {
  const std::string deep = "{\"__metadata__\": " + std::string(100000, '[') + std::string(100000, ']') + "}";
  EXPECT_TRUE(open_fails(crafted(craft(deep, "")), ErrorCode::CorruptFile, {"nested deeper than 16"}));
  const std::string unclosed(1 << 20, '{');
  EXPECT_TRUE(open_fails(crafted(craft(unclosed, "")), ErrorCode::CorruptFile, {"nested deeper than 16"}));
}

TEST_F(SafetensorsHostile, BracketsInsideStringsDoNotCountAsNesting) {
  const std::string note = std::string(40, '[') + "\\\"" + std::string(40, '{');  // with an escaped quote
  const std::string path = crafted(craft("{\"__metadata__\": {\"note\": \"" + note + "\"}}", ""));
  SafetensorsFile file(path);
  EXPECT_EQ(file.metadata().at("note"), std::string(40, '[') + "\"" + std::string(40, '{'));
}

TEST_F(SafetensorsHostile, UnknownDtype) {
  EXPECT_TRUE(open_fails(crafted(Json{{"w", entry("F4", {2}, 0, 1)}}, "xx"), ErrorCode::Unsupported,
                         {"tensor \"w\"", "unknown dtype \"F4\""}));
  EXPECT_TRUE(open_fails(crafted(Json{{"w", entry("f32", {1}, 0, 4)}}, "xxxx"), ErrorCode::Unsupported,
                         {"tensor \"w\"", "\"f32\""}));
}

TEST_F(SafetensorsHostile, DtypeIsNotAString) {
  Json header = {{"w", entry("F32", {1}, 0, 4)}};
  header["w"]["dtype"] = 4;
  EXPECT_TRUE(open_fails(crafted(header, "xxxx"), ErrorCode::CorruptFile, {"tensor \"w\"", "\"dtype\" must be a string"}));
}

TEST_F(SafetensorsHostile, OffsetsPastTheDataSection) {
  EXPECT_TRUE(open_fails(crafted(Json{{"w", entry("F32", {4}, 0, 16)}}, std::string(8, 'x')), ErrorCode::CorruptFile,
                         {"tensor \"w\"", "data_offsets [0, 16] run past the end of the data section (8 bytes)"}));
  EXPECT_TRUE(open_fails(crafted(Json{{"w", entry("U8", {0}, 9, 9)}}, std::string(8, 'x')), ErrorCode::CorruptFile,
                         {"tensor \"w\"", "run past the end"}));
  EXPECT_TRUE(open_fails(crafted(Json{{"w", entry("U8", {1}, ~0ull - 1, ~0ull)}}, std::string(8, 'x')),
                         ErrorCode::CorruptFile, {"tensor \"w\"", "run past the end"}));
}

TEST_F(SafetensorsHostile, OffsetsReversed) {
  EXPECT_TRUE(open_fails(crafted(Json{{"w", entry("U8", {4}, 8, 4)}}, std::string(8, 'x')), ErrorCode::CorruptFile,
                         {"tensor \"w\"", "[8, 4]"}));
}

TEST_F(SafetensorsHostile, OffsetsNotTwoNonNegativeIntegers) {
  for (const Json& offsets : {Json::array({0}), Json::array({0, 4, 8}), Json::array({-4, 0}), Json::array({0.0, 4.0}),
                              Json("0,4"), Json::array({"0", "4"})}) {
    Json header = {{"w", entry("U8", {4}, 0, 4)}};
    header["w"]["data_offsets"] = offsets;
    EXPECT_TRUE(open_fails(crafted(header, "xxxx"), ErrorCode::CorruptFile, {"tensor \"w\"", "data_offsets"}))
        << offsets.dump();
  }
}

TEST_F(SafetensorsHostile, OverlappingOffsets) {
  Json header = {{"a", entry("F32", {2}, 0, 8)}, {"b", entry("F32", {2}, 4, 12)}};
  EXPECT_TRUE(open_fails(crafted(header, std::string(12, 'x')), ErrorCode::CorruptFile,
                         {"tensor \"b\"", "tensor \"a\"", "overlap"}));
  Json same = {{"a", entry("U8", {4}, 0, 4)}, {"b", entry("U8", {4}, 0, 4)}};
  EXPECT_TRUE(open_fails(crafted(same, "xxxx"), ErrorCode::CorruptFile, {"\"a\"", "\"b\"", "overlap"}));
  // Overlap with an entry other than the nearest one: "c" lies inside "a", after "b" starts.
  Json nested = {{"a", entry("U8", {16}, 0, 16)}, {"b", entry("U8", {2}, 2, 4)}, {"c", entry("U8", {2}, 8, 10)}};
  EXPECT_TRUE(open_fails(crafted(nested, std::string(16, 'x')), ErrorCode::CorruptFile, {"overlap"}));
}

TEST_F(SafetensorsHostile, ByteSizeDoesNotMatchDtypeAndShape) {
  Json header = {{"blocks.0.q.weight", entry("F32", {5, 6}, 0, 100)}};
  EXPECT_TRUE(open_fails(crafted(header, std::string(120, 'x')), ErrorCode::CorruptFile,
                         {": tensor \"blocks.0.q.weight\": byte size 100 does not match dtype F32 x shape [5, 6] (120 bytes)"}));
}

TEST_F(SafetensorsHostile, NegativeOrFractionalDims) {
  for (const Json& shape : {Json::array({-5, 6}), Json::array({1.5}), Json::array({"3"}), Json(3), Json::array({Json::array({2})})}) {
    Json header = {{"w", entry("U8", {0}, 0, 0)}};
    header["w"]["shape"] = shape;
    EXPECT_TRUE(open_fails(crafted(header, ""), ErrorCode::CorruptFile, {"tensor \"w\"", "shape"})) << shape.dump();
  }
}

TEST_F(SafetensorsHostile, HugeDims) {
  Json overflow = {{"w", entry("F32", {1ll << 32, 1ll << 32, 4}, 0, 0)}};
  EXPECT_TRUE(open_fails(crafted(overflow, ""), ErrorCode::CorruptFile, {"tensor \"w\"", "too large"}));
  // Empty, but the other dims alone overflow int64 element counts.
  Json empty_overflow = {{"w", entry("U8", {0, 1ll << 62, 1ll << 62}, 0, 0)}};
  EXPECT_TRUE(open_fails(crafted(empty_overflow, ""), ErrorCode::CorruptFile, {"tensor \"w\"", "too large"}));
  Json beyond_int64 = {{"w", entry("U8", {0}, 0, 0)}};
  beyond_int64["w"]["shape"] = Json::array({~0ull});
  EXPECT_TRUE(open_fails(crafted(beyond_int64, ""), ErrorCode::CorruptFile, {"tensor \"w\"", "too large"}));
}

TEST_F(SafetensorsHostile, MissingOrUnexpectedFields) {
  Json missing = {{"w", entry("U8", {4}, 0, 4)}};
  missing["w"].erase("data_offsets");
  EXPECT_TRUE(open_fails(crafted(missing, "xxxx"), ErrorCode::CorruptFile, {"tensor \"w\"", "missing \"data_offsets\""}));
  Json extra = {{"w", entry("U8", {4}, 0, 4)}};
  extra["w"]["scale"] = 1;
  EXPECT_TRUE(open_fails(crafted(extra, "xxxx"), ErrorCode::CorruptFile, {"tensor \"w\"", "unexpected key \"scale\""}));
  EXPECT_TRUE(open_fails(crafted(Json{{"w", "F32"}}, ""), ErrorCode::CorruptFile, {"tensor \"w\"", "must be an object"}));
}

TEST_F(SafetensorsHostile, DuplicateTensorName) {
  const std::string e = R"({"dtype": "U8", "shape": [4], "data_offsets": [0, 4]})";
  const std::string header = "{\"w\": " + e + ", \"w\": " + e + "}";
  EXPECT_TRUE(open_fails(crafted(craft(header, "xxxx")), ErrorCode::CorruptFile, {"\"w\"", "twice"}));
}

TEST_F(SafetensorsHostile, DuplicateKeyInsideAnEntry) {
  const std::string header = R"({"w": {"dtype": "U8", "dtype": "F32", "shape": [4], "data_offsets": [0, 4]}})";
  EXPECT_TRUE(open_fails(crafted(craft(header, "xxxx")), ErrorCode::CorruptFile,
                         {"tensor \"w\"", "key \"dtype\" appears twice"}));
}

TEST_F(SafetensorsHostile, MetadataMustMapStringsToStrings) {
  EXPECT_TRUE(open_fails(crafted(Json{{"__metadata__", {{"epoch", 3}}}}, ""), ErrorCode::CorruptFile,
                         {"__metadata__", "\"epoch\""}));
  EXPECT_TRUE(open_fails(crafted(Json{{"__metadata__", "text"}}, ""), ErrorCode::CorruptFile, {"__metadata__"}));
}

// --- writer ---------------------------------------------------------------------------------------

TEST(SafetensorsWriter, LayoutIsAlignedContiguousAndInTheGivenOrder) {
  TempDir dir;
  const std::string path = (dir / "w.safetensors").string();
  write_safetensors(path, {{"z", at::ones({3}, at::kByte)}, {"a", at::ones({2, 2}, at::kDouble)}, {"m", at::ones({5}, at::kHalf)}},
                    {{"k", "v"}});
  const std::string bytes = read_file(path);
  ASSERT_GE(bytes.size(), 8u);
  std::uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
  EXPECT_EQ((8 + header_size) % 8, 0u);
  EXPECT_EQ(bytes.size(), 8 + header_size + 3 + 32 + 10);
  const auto header = nlohmann::ordered_json::parse(bytes.substr(8, header_size));
  std::vector<std::string> order;
  for (const auto& item : header.items()) order.push_back(item.key());
  EXPECT_EQ(order, (std::vector<std::string>{"__metadata__", "z", "a", "m"}));
  EXPECT_EQ(header["z"]["data_offsets"], Json::array({0, 3}));
  EXPECT_EQ(header["a"]["data_offsets"], Json::array({3, 35}));
  EXPECT_EQ(header["m"]["data_offsets"], Json::array({35, 45}));
  EXPECT_EQ(header["m"]["dtype"], "F16");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(SafetensorsWriter, NonContiguousTensorsAreWrittenContiguously) {
  TempDir dir;
  const std::string path = (dir / "w.safetensors").string();
  const at::Tensor base = at::arange(24, at::kFloat).reshape({4, 6});
  const at::Tensor transposed = base.t();
  const at::Tensor strided = base.slice(1, 0, 6, 2);
  ASSERT_FALSE(transposed.is_contiguous());
  write_safetensors(path, {{"t", transposed}, {"s", strided}});
  SafetensorsFile file(path);
  EXPECT_TRUE(at::equal(file.tensor("t"), transposed));
  EXPECT_TRUE(at::equal(file.tensor("s"), strided));
  EXPECT_EQ(file.tensor("t")[1][2].item<float>(), 13.0f);
}

TEST(SafetensorsWriter, DuplicateNameIsAnErrorAndWritesNothing) {
  TempDir dir;
  const std::string path = (dir / "w.safetensors").string();
  EXPECT_TRUE(fails_with([&] { write_safetensors(path, {{"w", at::ones({1})}, {"w", at::zeros({1})}}); },
                         ErrorCode::BadArgument, {path, "\"w\""}));
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(SafetensorsWriter, UnsupportedDtypeIsAnError) {
  TempDir dir;
  const std::string path = (dir / "w.safetensors").string();
  const at::Tensor complex = at::ones({2}, at::kComplexFloat);
  EXPECT_TRUE(fails_with([&] { write_safetensors(path, {{"ok", at::ones({1})}, {"c", complex}}); },
                         ErrorCode::Unsupported, {path, "\"c\""}));
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(SafetensorsWriter, ReservedAndUndefinedTensorsAreErrors) {
  TempDir dir;
  const std::string path = (dir / "w.safetensors").string();
  EXPECT_TRUE(fails_with([&] { write_safetensors(path, {{"__metadata__", at::ones({1})}}); }, ErrorCode::BadArgument,
                         {path, "__metadata__"}));
  EXPECT_TRUE(fails_with([&] { write_safetensors(path, {{"u", at::Tensor()}}); }, ErrorCode::BadArgument, {path, "\"u\""}));
}

TEST(SafetensorsWriter, ReplacesAnExistingFile) {
  TempDir dir;
  const std::string path = (dir / "w.safetensors").string();
  write_safetensors(path, {{"old", at::ones({100})}});
  write_safetensors(path, {{"new", at::full({2}, 7.0)}});
  SafetensorsFile file(path);
  EXPECT_FALSE(file.contains("old"));
  EXPECT_EQ(file.tensor("new")[1].item<float>(), 7.0f);
}

TEST(SafetensorsWriter, MissingDirectoryIsNotFound) {
  TempDir dir;
  const std::string path = (dir / "no" / "such" / "w.safetensors").string();
  EXPECT_TRUE(fails_with([&] { write_safetensors(path, {{"w", at::ones({1})}}); }, ErrorCode::NotFound, {path}));
}

}  // namespace
}  // namespace skyreels::io
