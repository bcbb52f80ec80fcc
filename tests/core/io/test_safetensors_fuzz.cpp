// A bounded random-mutation run over the safetensors parser: valid files are mutated (byte flips,
// truncations, header-length changes, JSON edits) and every outcome must be a successful parse that
// satisfies the format's invariants or a skyreels::Error -- never another exception, never a crash.
// Deterministic (fixed seed); SKYREELS_FUZZ_ITERATIONS overrides the count (e.g. for valgrind runs).

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <typeinfo>
#include <vector>

#include <gtest/gtest.h>
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "io/safetensors.h"
#include "skyreels/error.h"
#include "test_support.h"

namespace skyreels::io {
namespace {

using test::TempDir;
using Json = nlohmann::ordered_json;

constexpr std::uint64_t kSeed = 0x5eed5afe7e4502ull;
constexpr int kDefaultIterations = 4000;

std::string u64le(std::uint64_t value) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[static_cast<std::size_t>(i)] = static_cast<char>(value >> (8 * i));
  return bytes;
}

std::string assemble(std::string header, const std::string& data) {
  header.append((8 - header.size() % 8) % 8, ' ');
  return u64le(header.size()) + header + data;
}

// A valid file split into its parts, so JSON edits can rebuild it around the same data.
struct SeedFile {
  std::string name;
  Json header;
  std::string data;
  std::string bytes;
};

SeedFile seed_from_bytes(std::string name, const std::string& bytes) {
  std::uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
  SeedFile seed;
  seed.name = std::move(name);
  seed.header = Json::parse(bytes.substr(8, header_size));
  seed.data = bytes.substr(8 + header_size);
  seed.bytes = bytes;
  return seed;
}

std::vector<SeedFile> make_seeds(const TempDir& dir) {
  std::vector<SeedFile> seeds;
  const std::string written = (dir / "seed.safetensors").string();
  const at::Tensor ramp = at::arange(-6, 6, at::kDouble).reshape({3, 4});
  write_safetensors(written,
                    {{"blocks.0.q.weight", ramp.to(at::kFloat)}, {"blocks.0.q.bias", ramp[0].to(at::kHalf)},
                     {"norm", ramp.to(at::kBFloat16)}, {"steps", ramp.to(at::kLong)}, {"ids", ramp.to(at::kInt)},
                     {"small", ramp.to(at::kShort)}, {"tiny", ramp.to(at::kChar)}, {"pixels", ramp.abs().to(at::kByte)},
                     {"mask", ramp.gt(0)}, {"scale", at::scalar_tensor(0.5, at::kDouble)},
                     {"nothing", at::zeros({0, 3}, at::kFloat)}},
                    {{"format", "pt"}});
  seeds.push_back(seed_from_bytes("written", test::read_file(written)));

  // Hand-made: float8, a gap, an unaligned entry, an empty entry inside another's range, metadata.
  Json header = {{"__metadata__", {{"source", "hand"}}},
                 {"f8a", {{"dtype", "F8_E4M3"}, {"shape", {2, 3}}, {"data_offsets", {0, 6}}}},
                 {"f8b", {{"dtype", "F8_E5M2"}, {"shape", {3}}, {"data_offsets", {6, 9}}}},
                 {"odd", {{"dtype", "F32"}, {"shape", {2}}, {"data_offsets", {9, 17}}}},
                 {"empty", {{"dtype", "I64"}, {"shape", {0}}, {"data_offsets", {3, 3}}}},
                 {"after_gap", {{"dtype", "U8"}, {"shape", {1, 1, 4}}, {"data_offsets", {24, 28}}}}};
  std::string data;
  for (int i = 0; i < 28; ++i) data.push_back(static_cast<char>(0x30 + 7 * i));
  seeds.push_back(seed_from_bytes("hand", assemble(header.dump(), data)));

  seeds.push_back(seed_from_bytes("empty", assemble("{}", "")));
  return seeds;
}

enum class Mutation { FlipBytes, FlipHeaderBytes, Truncate, HeaderLength, JsonEdit, TextEdit, DuplicateKey, Extend, kCount };

const char* mutation_name(Mutation m) {
  switch (m) {
    case Mutation::FlipBytes: return "flip-bytes";
    case Mutation::FlipHeaderBytes: return "flip-header-bytes";
    case Mutation::Truncate: return "truncate";
    case Mutation::HeaderLength: return "header-length";
    case Mutation::JsonEdit: return "json-edit";
    case Mutation::TextEdit: return "text-edit";
    case Mutation::DuplicateKey: return "duplicate-key";
    case Mutation::Extend: return "extend";
    case Mutation::kCount: break;
  }
  return "?";
}

// Values that stress parsers: boundaries of every integer width, negatives, fractions, wrong types.
const std::vector<Json>& hostile_numbers() {
  static const std::vector<Json> values = {
      Json(0), Json(1), Json(2), Json(3), Json(7), Json(1ull << 31), Json(1ull << 32), Json(1ull << 62),
      Json(1ull << 63), Json(~0ull), Json(-1), Json(-2), Json(std::numeric_limits<std::int64_t>::min()), Json(1.5),
      Json(-0.0), Json(1e300), Json("3"), Json(nullptr), Json::array(), Json::object()};
  return values;
}

const std::vector<Json>& dtype_values() {
  static const std::vector<Json> values = {"F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2", "I64", "I32", "I16",
                                           "I8",  "U8",  "BOOL", "F4", "C64", "U16", "",  "f32", "F32\u0000",
                                           Json(7), Json(nullptr), Json::array({"F32"})};
  return values;
}

class Mutator {
public:
  explicit Mutator(std::uint64_t seed) : rng_(seed) {}

  std::string mutate(const SeedFile& seed, Mutation kind) {
    switch (kind) {
      case Mutation::FlipBytes: return flip_bytes(seed.bytes, 0, seed.bytes.size());
      case Mutation::FlipHeaderBytes: return flip_bytes(seed.bytes, 8, seed.bytes.size() - seed.data.size());
      case Mutation::Truncate: return seed.bytes.substr(0, below(seed.bytes.size()));
      case Mutation::HeaderLength: return change_header_length(seed);
      case Mutation::JsonEdit: return json_edits(seed);
      case Mutation::TextEdit: return text_edit(seed);
      case Mutation::DuplicateKey: return duplicate_key(seed);
      case Mutation::Extend: return extend(seed.bytes);
      case Mutation::kCount: break;
    }
    return seed.bytes;
  }

  Mutation pick_kind() { return static_cast<Mutation>(below(static_cast<std::uint64_t>(Mutation::kCount))); }
  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : rng_() % n; }

private:
  template <class T>
  const T& pick(const std::vector<T>& values) {
    return values[below(values.size())];
  }

  std::string flip_bytes(std::string bytes, std::size_t from, std::size_t to) {
    if (to <= from) return bytes;
    const std::uint64_t flips = 1 + below(4);
    for (std::uint64_t i = 0; i < flips; ++i) {
      bytes[from + below(to - from)] ^= static_cast<char>(1 + below(255));
    }
    return bytes;
  }

  std::string change_header_length(const SeedFile& seed) {
    const std::uint64_t n = seed.bytes.size() - 8 - seed.data.size();
    const std::uint64_t size = seed.bytes.size();
    const std::vector<std::uint64_t> lengths = {n - 1, n + 1, n + 8, n - 8, 0, size, size - 8, size - 7,
                                                below(2 * size + 1), 1ull << 63, ~0ull, kMaxSafetensorsHeaderBytes + 1};
    return u64le(pick(lengths)) + seed.bytes.substr(8);
  }

  // One to three structured edits of the header JSON, rebuilt around the original data.
  std::string json_edits(const SeedFile& seed) {
    Json header = seed.header;
    const std::uint64_t edits = 1 + below(3);
    for (std::uint64_t i = 0; i < edits; ++i) json_edit(header, seed.data.size());
    return assemble(header.dump(), seed.data);
  }

  std::vector<std::string> tensor_names(const Json& header) {
    std::vector<std::string> names;
    for (const auto& item : header.items()) {
      if (item.key() != "__metadata__") names.push_back(item.key());
    }
    return names;
  }

  void json_edit(Json& header, std::uint64_t data_size) {
    const auto names = tensor_names(header);
    if (names.empty()) {
      header["t" + std::to_string(below(3))] = {{"dtype", pick(dtype_values())},
                                               {"shape", {pick(hostile_numbers())}},
                                               {"data_offsets", {pick(hostile_numbers()), pick(hostile_numbers())}}};
      return;
    }
    Json& e = header[pick(names)];
    if (!e.is_object()) return;
    switch (below(12)) {
      case 0: {  // swap the offsets of two tensors
        Json& other = header[pick(names)];
        if (other.is_object() && e.contains("data_offsets") && other.contains("data_offsets")) {
          std::swap(e["data_offsets"], other["data_offsets"]);
        }
        break;
      }
      case 1:  // swap begin and end
        if (e.contains("data_offsets") && e["data_offsets"].is_array() && e["data_offsets"].size() == 2) {
          std::swap(e["data_offsets"][0], e["data_offsets"][1]);
        }
        break;
      case 2: e["dtype"] = pick(dtype_values()); break;
      case 3:  // a hostile dim
        if (e.contains("shape") && e["shape"].is_array() && !e["shape"].empty()) {
          e["shape"][below(e["shape"].size())] = pick(hostile_numbers());
        }
        break;
      case 4:  // add or remove a dim
        if (e.contains("shape") && e["shape"].is_array()) {
          if (below(2) == 0 || e["shape"].empty()) {
            e["shape"].push_back(below(2) == 0 ? Json(1) : pick(hostile_numbers()));
          } else {
            e["shape"].erase(e["shape"].size() - 1);
          }
        }
        break;
      case 5: {  // a boundary offset
        const std::vector<Json> offsets = {Json(0), Json(data_size), Json(data_size + 1), Json(data_size - 1),
                                           pick(hostile_numbers())};
        e["data_offsets"][below(2)] = pick(offsets);
        break;
      }
      case 6: {  // drop a field or add one
        const std::vector<std::string> fields = {"dtype", "shape", "data_offsets", "extra"};
        const std::string& field = pick(fields);
        if (e.contains(field)) {
          e.erase(field);
        } else {
          e[field] = 1;
        }
        break;
      }
      case 7: e = pick(hostile_numbers()); break;  // an entry that is not an object
      case 8: header["__metadata__"] = below(2) == 0 ? Json{{"k", pick(hostile_numbers())}} : pick(hostile_numbers()); break;
      case 9: {  // shift every offset
        const std::int64_t delta = static_cast<std::int64_t>(below(9)) - 4;
        for (auto& item : header.items()) {
          Json& value = item.value();
          if (item.key() == "__metadata__" || !value.is_object() || !value.contains("data_offsets")) continue;
          for (auto& offset : value["data_offsets"]) {
            if (!offset.is_number_unsigned()) continue;
            const std::uint64_t old = offset.get<std::uint64_t>();
            const auto magnitude = static_cast<std::uint64_t>(delta < 0 ? -delta : delta);
            // Unsigned arithmetic (wrapping is fine here); small offsets shifted down become negative.
            if (delta >= 0) {
              offset = old + magnitude;
            } else if (old >= magnitude) {
              offset = old - magnitude;
            } else {
              offset = static_cast<std::int64_t>(old) + delta;
            }
          }
        }
        break;
      }
      case 10: {  // a dtype of the same size: still valid, keeps the successful path exercised
        static const std::map<std::string, std::vector<std::string>> same_size = {
            {"F32", {"I32"}}, {"I32", {"F32"}}, {"F16", {"BF16", "I16"}}, {"BF16", {"F16", "I16"}}, {"I16", {"F16"}},
            {"U8", {"I8", "BOOL", "F8_E4M3", "F8_E5M2"}}, {"I8", {"U8"}}, {"BOOL", {"U8"}}, {"F8_E4M3", {"F8_E5M2"}},
            {"F8_E5M2", {"U8"}}, {"F64", {"I64"}}, {"I64", {"F64"}}};
        if (e.contains("dtype") && e["dtype"].is_string()) {
          const auto it = same_size.find(e["dtype"].get<std::string>());
          if (it != same_size.end()) e["dtype"] = pick(it->second);
        }
        break;
      }
      default: {  // rename, sometimes to the reserved metadata key
        Json moved = e;
        header.erase(pick(names));
        header[below(3) == 0 ? std::string("__metadata__") : "renamed" + std::to_string(below(4))] = moved;
        break;
      }
    }
  }

  std::string text_edit(const SeedFile& seed) {
    std::string header = seed.header.dump();
    static const std::string tokens = "{}[]\",:\\-0e. \xff\x00";
    const std::uint64_t edits = 1 + below(3);
    for (std::uint64_t i = 0; i < edits; ++i) {
      const std::size_t at = below(header.size() + 1);
      const char token = tokens[below(tokens.size() + 1)];  // includes the string's terminating NUL
      switch (below(3)) {
        case 0: header.insert(header.begin() + static_cast<std::ptrdiff_t>(at), token); break;
        case 1: if (at < header.size()) header.erase(at, 1); break;
        default: if (at < header.size()) header[at] = token; break;
      }
    }
    return assemble(header, seed.data);
  }

  // The text of an entry repeated under the same key (nlohmann would silently keep the last).
  std::string duplicate_key(const SeedFile& seed) {
    const auto names = tensor_names(seed.header);
    if (names.empty()) return assemble(R"({"a": 1, "a": 2})", seed.data);
    const std::string& name = pick(names);
    const std::string copy = Json(name).dump() + ":" + seed.header[name].dump();
    std::string header = seed.header.dump();
    header.insert(1, copy + ",");
    return assemble(header, seed.data);
  }

  std::string extend(std::string bytes) {
    const std::uint64_t extra = 1 + below(16);
    std::string tail;
    for (std::uint64_t i = 0; i < extra; ++i) tail.push_back(static_cast<char>(below(256)));
    if (below(2) == 0) {
      bytes += tail;
    } else {
      bytes.insert(below(bytes.size() + 1), tail);
    }
    return bytes;
  }

  std::mt19937_64 rng_;
};

// Every successful parse must describe a file the loader can trust.
void expect_invariants(const SafetensorsHeader& header, std::size_t file_size) {
  ASSERT_LE(header.data_offset, file_size);
  const std::uint64_t data_size = file_size - header.data_offset;
  std::uint64_t previous_end = 0;
  for (const auto& e : header.entries) {
    EXPECT_NE(e.dtype, DType::Invalid);
    EXPECT_LE(e.begin, e.end);
    EXPECT_LE(e.end, data_size);
    std::uint64_t numel = 1;
    for (const auto dim : e.shape) {
      EXPECT_GE(dim, 0);
      numel *= static_cast<std::uint64_t>(dim);
    }
    EXPECT_EQ(e.end - e.begin, numel * dtype_size(e.dtype)) << e.name;
    if (e.begin != e.end) {
      EXPECT_GE(e.begin, previous_end) << e.name << " overlaps";
      previous_end = e.end;
    }
  }
}

// Through the real loader: map the file and read every tensor's every element.
void load_every_tensor(const std::string& path) {
  SafetensorsFile file(path);
  for (const auto& e : file.entries()) {
    const at::Tensor t = file.tensor(e.name);
    EXPECT_EQ(t.sizes(), at::IntArrayRef(e.shape)) << e.name;
    EXPECT_TRUE(t.is_contiguous()) << e.name;
    (void)t.to(at::kDouble).sum().item<double>();
  }
}

enum class Outcome { Parsed, Rejected, Failed };

template <class Fn>
Outcome classify(Fn&& fn, const std::string& label, const std::string& context) {
  try {
    fn();
    return Outcome::Parsed;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(label), std::string::npos) << context << ": message lacks the file: " << e.what();
    return Outcome::Rejected;
  } catch (const std::exception& e) {
    ADD_FAILURE() << context << ": " << typeid(e).name() << " instead of skyreels::Error: " << e.what();
  } catch (...) {
    ADD_FAILURE() << context << ": a non-standard exception";
  }
  return Outcome::Failed;
}

int iterations() {
  const char* text = std::getenv("SKYREELS_FUZZ_ITERATIONS");
  const int count = text ? std::atoi(text) : 0;
  return count > 0 ? count : kDefaultIterations;
}

std::string describe_input(const std::string& bytes) {
  std::string shown = bytes.substr(0, 160);
  for (char& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '.';
  }
  return shown;
}

TEST(SafetensorsFuzz, MutatedFilesParseOrRaiseSkyreelsErrors) {
  TempDir dir;
  const std::vector<SeedFile> seeds = make_seeds(dir);
  const std::string path = (dir / "mutant.safetensors").string();
  Mutator mutator(kSeed);
  std::map<std::string, std::array<int, 3>> outcomes;  // mutation -> parsed, rejected, failed
  const int count = iterations();

  for (int i = 0; i < count; ++i) {
    const SeedFile& seed = seeds[mutator.below(seeds.size())];
    const Mutation kind = mutator.pick_kind();
    const std::string bytes = mutator.mutate(seed, kind);
    const std::string context = "iteration " + std::to_string(i) + " (" + mutation_name(kind) + " of " + seed.name +
                                ", " + std::to_string(bytes.size()) + " bytes: " + describe_input(bytes) + ")";

    // An exact-size heap copy, so a sanitizer or valgrind reports any read past the end.
    const std::vector<unsigned char> buffer(bytes.begin(), bytes.end());
    const Outcome parsed = classify(
        [&] {
          const SafetensorsHeader header = parse_safetensors_header(buffer.data(), buffer.size(), "fuzz-input");
          expect_invariants(header, buffer.size());
        },
        "fuzz-input", context);
    outcomes[mutation_name(kind)][static_cast<std::size_t>(parsed)]++;

    // Through the file loader for every accepted input and a sample of rejected ones; the verdict must agree.
    if (parsed == Outcome::Parsed || i % 8 == 0) {
      test::write_file(path, bytes);
      const Outcome loaded = classify([&] { load_every_tensor(path); }, path, context);
      EXPECT_EQ(loaded, parsed) << context;
    }
  }

  int total_parsed = 0;
  int total_rejected = 0;
  for (const auto& [kind, counts] : outcomes) {
    std::printf("  %-18s parsed %5d  rejected %5d  failed %d\n", kind.c_str(), counts[0], counts[1], counts[2]);
    total_parsed += counts[0];
    total_rejected += counts[1];
    EXPECT_EQ(counts[2], 0) << kind;
    EXPECT_GT(counts[1], 0) << kind << " never produced a defect";
  }
  // Both paths must be exercised, or the mutator has stopped doing its job.
  EXPECT_EQ(outcomes.size(), static_cast<std::size_t>(Mutation::kCount));
  EXPECT_GT(total_parsed, count / 20);
  EXPECT_GT(total_rejected, count / 2);
}

}  // namespace
}  // namespace skyreels::io
