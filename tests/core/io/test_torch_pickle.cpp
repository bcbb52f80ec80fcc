#include "io/torch_pickle.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "io/safetensors.h"
#include "skyreels/error.h"
#include "test_support.h"

namespace skyreels::test {

// Defined in test_zip_archive.cpp.
std::string make_stored_zip(const std::vector<std::pair<std::string, std::string>>& members, std::uint64_t alignment,
                            std::uint64_t shift);

namespace {

using io::load_torch_state_dict;
using StateDict = std::vector<std::pair<std::string, at::Tensor>>;

// ---- writing pickles by hand, opcode by opcode -------------------------------------------------------

class PickleWriter {
public:
  PickleWriter& op(unsigned char code) {
    out_.push_back(static_cast<char>(code));
    return *this;
  }
  PickleWriter& raw(const std::string& bytes) {
    out_ += bytes;
    return *this;
  }
  PickleWriter& le(std::uint64_t value, int bytes) {
    for (int i = 0; i < bytes; ++i) out_.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
    return *this;
  }
  PickleWriter& proto(int version) { return op(0x80).op(static_cast<unsigned char>(version)); }
  PickleWriter& global(const std::string& module, const std::string& name) {
    return op('c').raw(module + "\n" + name + "\n");
  }
  PickleWriter& str(const std::string& text) { return op('X').le(text.size(), 4).raw(text); }
  PickleWriter& short_str(const std::string& text) { return op(0x8c).le(text.size(), 1).raw(text); }
  // The shortest form, as pickle does: BININT1, BININT2, BININT, else LONG1.
  PickleWriter& integer(std::int64_t value) {
    if (value >= 0 && value < 0x100) return op('K').le(static_cast<std::uint64_t>(value), 1);
    if (value >= 0 && value < 0x10000) return op('M').le(static_cast<std::uint64_t>(value), 2);
    if (value >= INT32_MIN && value <= INT32_MAX) return op('J').le(static_cast<std::uint64_t>(value), 4);
    return op(0x8a).le(8, 1).le(static_cast<std::uint64_t>(value), 8);
  }
  PickleWriter& mark() { return op('('); }
  PickleWriter& tuple() { return op('t'); }
  PickleWriter& empty_tuple() { return op(')'); }
  PickleWriter& reduce() { return op('R'); }
  PickleWriter& persid() { return op('Q'); }
  PickleWriter& put(int index) { return op('q').le(static_cast<std::uint64_t>(index), 1); }
  PickleWriter& get(int index) { return op('h').le(static_cast<std::uint64_t>(index), 1); }
  PickleWriter& stop() { return op('.'); }
  PickleWriter& int_tuple(const std::vector<std::int64_t>& values) {
    mark();
    for (std::int64_t v : values) integer(v);
    return tuple();
  }

  const std::string& bytes() const { return out_; }

private:
  std::string out_;
};

// One _rebuild_tensor_v2 record over the storage "data/<storage_key>".
struct TensorSpec {
  std::string key;
  std::string storage_type;  // "FloatStorage", ...
  std::string storage_key;
  std::int64_t storage_numel = 0;
  std::int64_t offset = 0;
  std::vector<std::int64_t> sizes;
  std::vector<std::int64_t> strides;
};

// Memo 0 holds collections.OrderedDict, as torch.save's pickles do.
void write_tensor(PickleWriter& w, const TensorSpec& spec) {
  w.global("torch._utils", "_rebuild_tensor_v2").mark();
  w.mark().str("storage").global("torch", spec.storage_type).str(spec.storage_key).str("cpu");
  w.integer(spec.storage_numel).tuple().persid();
  w.integer(spec.offset).int_tuple(spec.sizes).int_tuple(spec.strides);
  w.op(0x89);                          // requires_grad = False
  w.get(0).empty_tuple().reduce();     // backward_hooks = OrderedDict()
  w.tuple().reduce();
}

// A protocol-2 state dict pickle as torch.save writes it, with the _metadata state BUILD at the end.
std::string state_dict_pickle(const std::vector<TensorSpec>& specs) {
  PickleWriter w;
  w.proto(2).global("collections", "OrderedDict").put(0).empty_tuple().reduce().put(1).mark();
  for (const TensorSpec& spec : specs) {
    w.str(spec.key);
    write_tensor(w, spec);
  }
  w.op('u');                                                                  // SETITEMS
  w.op('}').str("_metadata").get(0).empty_tuple().reduce().op('s').op('b');  // {'_metadata': OrderedDict()}, BUILD
  return w.stop().bytes();
}

template <typename T>
std::string raw_bytes(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

std::string tensor_bytes(const at::Tensor& tensor) {
  const at::Tensor contiguous = tensor.contiguous();
  return std::string(static_cast<const char*>(contiguous.data_ptr()), contiguous.numel() * contiguous.element_size());
}

// The pieces of a .pth: data.pkl, storages by key, and optionally a byteorder member.
struct PthContents {
  std::string pickle;
  std::map<std::string, std::string> storages;
  std::string byteorder = "little";  // empty: no byteorder member
  std::uint64_t shift = 0;            // misalign storage data by this many bytes
};

std::string make_pth(const PthContents& contents) {
  std::vector<std::pair<std::string, std::string>> members = {{"archive/data.pkl", contents.pickle}};
  if (!contents.byteorder.empty()) members.emplace_back("archive/byteorder", contents.byteorder);
  for (const auto& [key, bytes] : contents.storages) members.emplace_back("archive/data/" + key, bytes);
  members.emplace_back("archive/version", "3\n");
  return make_stored_zip(members, 64, contents.shift);
}

// ---- the sample state dict ----------------------------------------------------------------------------

at::Tensor sample_floats(int count) { return torch::arange(count, torch::kFloat32) * 1.5f - 2.0f; }
at::Tensor sample_bf16() { return torch::tensor({1.0f, -2.5f, 3.0f, 0.0078125f}).to(torch::kBFloat16); }

std::vector<TensorSpec> sample_specs() {
  return {
      {"a.weight", "FloatStorage", "0", 6, 0, {2, 3}, {3, 1}},
      {"a.weight_t", "FloatStorage", "0", 6, 0, {3, 2}, {1, 3}},  // non-contiguous view of the same storage
      {"b.bias", "BFloat16Storage", "1", 4, 0, {4}, {1}},
      {"c.offset", "FloatStorage", "2", 10, 4, {3}, {2}},          // storage offset and stride 2
      {"d.steps", "LongStorage", "3", 1, 0, {}, {}},               // 0-dim
  };
}

PthContents sample_contents() {
  PthContents contents;
  contents.pickle = state_dict_pickle(sample_specs());
  contents.storages = {{"0", tensor_bytes(sample_floats(6))},
                       {"1", tensor_bytes(sample_bf16())},
                       {"2", tensor_bytes(sample_floats(10))},
                       {"3", raw_bytes(std::vector<std::int64_t>{123456789012345})}};
  return contents;
}

void expect_sample_state_dict(const StateDict& tensors) {
  ASSERT_EQ(tensors.size(), 5u);
  const std::vector<std::string> keys = {"a.weight", "a.weight_t", "b.bias", "c.offset", "d.steps"};
  for (std::size_t i = 0; i < keys.size(); ++i) EXPECT_EQ(tensors[i].first, keys[i]);

  const at::Tensor& a = tensors[0].second;
  EXPECT_EQ(a.scalar_type(), at::kFloat);
  EXPECT_TRUE(torch::equal(a, sample_floats(6).view({2, 3})));

  const at::Tensor& a_t = tensors[1].second;
  EXPECT_EQ(a_t.sizes(), at::IntArrayRef({3, 2}));
  EXPECT_EQ(a_t.strides(), at::IntArrayRef({1, 3}));
  EXPECT_FALSE(a_t.is_contiguous());
  EXPECT_TRUE(torch::equal(a_t, sample_floats(6).view({2, 3}).t()));
  EXPECT_EQ(a_t.data_ptr(), a.data_ptr());  // one storage, shared as torch.load shares it

  const at::Tensor& b = tensors[2].second;
  EXPECT_EQ(b.scalar_type(), at::kBFloat16);
  EXPECT_TRUE(torch::equal(b, sample_bf16()));

  const at::Tensor& c = tensors[3].second;
  EXPECT_EQ(c.storage_offset(), 4);
  EXPECT_EQ(c.strides(), at::IntArrayRef({2}));
  EXPECT_TRUE(torch::equal(c, sample_floats(10).slice(0, 4, 10, 2)));

  const at::Tensor& d = tensors[4].second;
  EXPECT_EQ(d.dim(), 0);
  EXPECT_EQ(d.scalar_type(), at::kLong);
  EXPECT_EQ(d.item<std::int64_t>(), 123456789012345);
}

void expect_error(const std::function<void()>& action, ErrorCode code, const std::vector<std::string>& fragments) {
  try {
    action();
    ADD_FAILURE() << "expected skyreels::Error(" << to_string(code) << ")";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    for (const std::string& fragment : fragments) EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

// Writes `contents` as a .pth and expects loading it to fail with `code`, naming the file and `fragments`.
void expect_load_error(const PthContents& contents, ErrorCode code, std::vector<std::string> fragments) {
  TempDir dir;
  const std::string path = (dir / "weights.pth").string();
  write_file(path, make_pth(contents));
  fragments.push_back(path);
  expect_error([&] { load_torch_state_dict(path); }, code, fragments);
}

StateDict load_contents(const PthContents& contents) {
  TempDir dir;
  const std::string path = (dir / "weights.pth").string();
  write_file(path, make_pth(contents));
  return load_torch_state_dict(path);  // the tensors keep the mapping alive after the file is removed
}

// ---- loading valid files ---------------------------------------------------------------------------------

TEST(TorchPickle, LoadsSmallStateDict) { expect_sample_state_dict(load_contents(sample_contents())); }

TEST(TorchPickle, LoadsWithoutByteorderMember) {
  PthContents contents = sample_contents();
  contents.byteorder.clear();
  expect_sample_state_dict(load_contents(contents));
}

TEST(TorchPickle, CopiesUnalignedStorages) {
  PthContents contents = sample_contents();
  contents.shift = 2;  // float and int64 data no longer aligned
  expect_sample_state_dict(load_contents(contents));
}

TEST(TorchPickle, TensorsAreWritableWithoutChangingTheFile) {
  TempDir dir;
  const std::string path = (dir / "weights.pth").string();
  const std::string bytes = make_pth(sample_contents());
  write_file(path, bytes);
  StateDict tensors = load_torch_state_dict(path);
  tensors[0].second.fill_(7.0f);
  EXPECT_EQ(read_file(path), bytes);
}

// Protocol 4 opcodes (FRAME, SHORT_BINUNICODE, STACK_GLOBAL, MEMOIZE, TUPLEn, LONG1), a plain dict and
// _rebuild_parameter, as a newer pickler or a saved nn.Parameter would produce.
TEST(TorchPickle, ReadsProtocol4Opcodes) {
  PickleWriter w;
  w.proto(4).op(0x95).le(0, 8);  // FRAME (length is only a hint)
  w.op('}').op(0x94);            // EMPTY_DICT, MEMOIZE -> memo 0
  w.short_str("p.weight");
  w.short_str("torch._utils").short_str("_rebuild_parameter").op(0x93);
  w.short_str("torch._utils").short_str("_rebuild_tensor_v2").op(0x93);
  w.mark();                      // the _rebuild_tensor_v2 arguments
  w.mark().short_str("storage").short_str("torch").short_str("FloatStorage").op(0x93).short_str("0").short_str("cpu");
  w.op(0x8a).le(1, 1).le(6, 1);  // LONG1 6
  w.op('t').persid();
  w.op(0x8a).le(0, 1);                          // LONG1 with no bytes: 0
  w.integer(3).op(0x85);                        // TUPLE1 (3,)
  w.integer(1).op(0x85);                        // TUPLE1 (1,)
  w.op(0x88);                                   // NEWTRUE
  w.short_str("collections").short_str("OrderedDict").op(0x93).op(0x94).empty_tuple().reduce();
  w.op('t').reduce();                           // the tensor
  w.op(0x88).op('}').op(0x87).reduce();         // _rebuild_parameter(tensor, True, {}) via TUPLE3
  w.op('s');                                    // SETITEM
  w.stop();

  PthContents contents;
  contents.pickle = w.bytes();
  contents.storages = {{"0", tensor_bytes(sample_floats(6))}};
  const StateDict tensors = load_contents(contents);
  ASSERT_EQ(tensors.size(), 1u);
  EXPECT_EQ(tensors[0].first, "p.weight");
  EXPECT_TRUE(torch::equal(tensors[0].second, sample_floats(3)));
}

TEST(TorchPickle, RepeatedKeyKeepsFirstPositionAndLastValue) {
  std::vector<TensorSpec> specs = sample_specs();
  specs.push_back(specs[3]);
  specs.back().key = "a.weight";  // a.weight := c.offset
  PthContents contents = sample_contents();
  contents.pickle = state_dict_pickle(specs);
  const StateDict tensors = load_contents(contents);
  ASSERT_EQ(tensors.size(), 5u);
  EXPECT_EQ(tensors[0].first, "a.weight");
  EXPECT_TRUE(torch::equal(tensors[0].second, sample_floats(10).slice(0, 4, 10, 2)));
}

// A key object reused through the memo for many SETITEMs must not be re-hashed each time (a
// quadratic blow-up a hostile file could otherwise trigger): this finishes in milliseconds.
TEST(TorchPickle, ReusedLongKeyIsCheap) {
  PickleWriter w;
  w.proto(2).global("collections", "OrderedDict").put(0).empty_tuple().reduce();
  w.str(std::string(256 * 1024, 'k')).put(1);
  write_tensor(w, sample_specs()[0]);
  w.put(2).op('s');
  for (int i = 0; i < 100000; ++i) w.get(1).get(2).op('s');
  PthContents contents = sample_contents();
  contents.pickle = w.stop().bytes();
  const StateDict tensors = load_contents(contents);
  ASSERT_EQ(tensors.size(), 1u);
  EXPECT_EQ(tensors[0].first.size(), 256u * 1024u);
}

// ---- the reference fixtures --------------------------------------------------------------------------------

void expect_matches_fixture(const std::string& case_name) {
  const auto folder = fixture_case(case_name);
  const StateDict loaded = load_torch_state_dict((folder / "weights.pth").string());
  const io::SafetensorsFile reference((folder / "tensors.safetensors").string());

  std::vector<std::string> loaded_keys;
  for (const auto& [key, tensor] : loaded) loaded_keys.push_back(key);
  std::vector<std::string> reference_keys;
  for (const io::SafetensorsEntry& entry : reference.entries()) {
    if (entry.name.rfind("w.", 0) == 0) reference_keys.push_back(entry.name.substr(2));
  }
  std::sort(loaded_keys.begin(), loaded_keys.end());
  std::sort(reference_keys.begin(), reference_keys.end());
  ASSERT_EQ(loaded_keys, reference_keys);
  ASSERT_FALSE(loaded_keys.empty());

  for (const auto& [key, tensor] : loaded) {
    const at::Tensor expected = reference.tensor("w." + key);
    EXPECT_EQ(tensor.scalar_type(), expected.scalar_type()) << key;
    EXPECT_EQ(tensor.sizes(), expected.sizes()) << key;
    EXPECT_TRUE(tensor.scalar_type() == expected.scalar_type() && tensor.sizes() == expected.sizes() &&
                torch::equal(tensor, expected))
        << key;
  }
}

TEST(TorchPickle, MatchesVaeFp32Fixture) { expect_matches_fixture("vae_fp32"); }

TEST(TorchPickle, MatchesT5Bf16Fixture) { expect_matches_fixture("t5_bf16_autocast"); }

// ---- malformed or unsupported files ---------------------------------------------------------------------------

TEST(TorchPickle, UnknownGlobalIsUnsupported) {
  PthContents contents = sample_contents();
  contents.pickle = PickleWriter().proto(2).global("numpy.core.multiarray", "_reconstruct").stop().bytes();
  expect_load_error(contents, ErrorCode::Unsupported, {"unsupported pickle global \"numpy.core.multiarray._reconstruct\""});
}

TEST(TorchPickle, UnknownOpcodeIsUnsupported) {
  PthContents contents = sample_contents();
  contents.pickle = PickleWriter().proto(2).op('I').raw("12\n").stop().bytes();  // protocol-0 INT
  expect_load_error(contents, ErrorCode::Unsupported, {"opcode 0x49"});
}

TEST(TorchPickle, EveryTruncatedPickleIsCorruptFile) {
  const PthContents valid = sample_contents();
  for (std::size_t length = 0; length < valid.pickle.size(); ++length) {
    PthContents contents = valid;
    contents.pickle.resize(length);
    expect_load_error(contents, ErrorCode::CorruptFile, {"data.pkl"});
    if (HasFailure()) break;
  }
}

TEST(TorchPickle, OverlongStringIsCorruptFile) {
  PthContents contents = sample_contents();
  contents.pickle = PickleWriter().proto(2).op('X').le(0xFFFFFFF0u, 4).raw("abc").stop().bytes();
  expect_load_error(contents, ErrorCode::CorruptFile, {"truncated"});
}

TEST(TorchPickle, MissingStorageMemberIsCorruptFile) {
  PthContents contents = sample_contents();
  contents.storages.erase("1");
  expect_load_error(contents, ErrorCode::CorruptFile, {"archive/data/1", "missing"});
}

TEST(TorchPickle, ViewPastStorageIsCorruptFile) {
  std::vector<TensorSpec> specs = sample_specs();
  specs[1].sizes = {4, 4};  // needs 16 elements of a 6-element storage
  specs[1].strides = {4, 1};
  PthContents contents = sample_contents();
  contents.pickle = state_dict_pickle(specs);
  expect_load_error(contents, ErrorCode::CorruptFile, {"needs 16 storage elements", "has 6"});
}

TEST(TorchPickle, OverflowingStrideIsCorruptFile) {
  std::vector<TensorSpec> specs = sample_specs();
  specs[0].strides = {std::int64_t{1} << 62, 1};
  specs[0].sizes = {5, 3};
  PthContents contents = sample_contents();
  contents.pickle = state_dict_pickle(specs);
  expect_load_error(contents, ErrorCode::CorruptFile, {"_rebuild_tensor_v2"});
}

TEST(TorchPickle, StorageLargerThanMemberIsCorruptFile) {
  std::vector<TensorSpec> specs = sample_specs();
  specs[2].storage_numel = 1000;
  PthContents contents = sample_contents();
  contents.pickle = state_dict_pickle(specs);
  expect_load_error(contents, ErrorCode::CorruptFile, {"archive/data/1", "1000 elements"});
}

TEST(TorchPickle, NonDictTopLevelIsUnsupported) {
  PthContents contents = sample_contents();
  contents.pickle = PickleWriter().proto(2).op(']').stop().bytes();
  expect_load_error(contents, ErrorCode::Unsupported, {"top-level object is a list"});
}

TEST(TorchPickle, NestedDictIsUnsupported) {
  PthContents contents = sample_contents();
  contents.pickle = PickleWriter().proto(2).op('}').str("model").op('}').op('s').stop().bytes();
  expect_load_error(contents, ErrorCode::Unsupported, {"\"model\"", "a dict"});
}

TEST(TorchPickle, NonTensorValueIsUnsupported) {
  PthContents contents = sample_contents();
  contents.pickle = PickleWriter().proto(2).op('}').str("epoch").integer(3).op('s').stop().bytes();
  expect_load_error(contents, ErrorCode::Unsupported, {"\"epoch\"", "an int"});
}

TEST(TorchPickle, BigEndianIsUnsupported) {
  PthContents contents = sample_contents();
  contents.byteorder = "big";
  expect_load_error(contents, ErrorCode::Unsupported, {"big-endian"});
}

TEST(TorchPickle, MissingDataPklIsCorruptFile) {
  TempDir dir;
  const std::string path = (dir / "weights.pth").string();
  write_file(path, make_stored_zip({{"archive/version", "3\n"}}, 64, 0));
  expect_error([&] { load_torch_state_dict(path); }, ErrorCode::CorruptFile, {path, "data.pkl"});
}

TEST(TorchPickle, LegacyFormatIsUnsupported) {
  TempDir dir;
  const std::string path = (dir / "legacy.pth").string();
  // What torch.save(..., _use_new_zipfile_serialization=False) starts with: the pickled magic number.
  write_file(path, std::string("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 15));
  expect_error([&] { load_torch_state_dict(path); }, ErrorCode::Unsupported,
               {path, "legacy torch.save format is not supported", "_use_new_zipfile_serialization=True",
                "safetensors"});
}

TEST(TorchPickle, MissingFileIsNotFound) {
  TempDir dir;
  const std::string path = (dir / "absent.pth").string();
  expect_error([&] { load_torch_state_dict(path); }, ErrorCode::NotFound, {path});
}

// ---- hostile input: random mutations must fail cleanly -------------------------------------------------------

// Mutates the pickle (then re-zips it, so the VM sees the damage) or the archive bytes directly.
std::string mutate(const PthContents& valid, const std::string& valid_file, std::mt19937& rng) {
  auto pick = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); };
  static const unsigned char interesting[] = {0x00, 0x01, 0x7F, 0x80, 0xFF, '(', 't', 'R', 'Q', 'h', 'q', 'u', '.'};
  auto damage = [&](std::string& bytes) {
    const std::size_t edits = 1 + pick(4);
    for (std::size_t i = 0; i < edits && !bytes.empty(); ++i) {
      // Mostly substitutions, which keep the rest of the file intact and so reach deeper.
      switch (pick(8)) {
        case 0: case 1: case 2: bytes[pick(bytes.size())] = static_cast<char>(pick(256)); break;
        case 3: case 4: bytes[pick(bytes.size())] = static_cast<char>(interesting[pick(sizeof interesting)]); break;
        case 5: bytes.insert(bytes.begin() + static_cast<std::ptrdiff_t>(pick(bytes.size() + 1)), static_cast<char>(pick(256))); break;
        case 6: bytes.erase(pick(bytes.size()), 1 + pick(4)); break;
        default: bytes.resize(pick(bytes.size() + 1)); break;
      }
    }
  };
  if (pick(2) == 0) {
    PthContents contents = valid;
    damage(contents.pickle);
    return make_pth(contents);
  }
  std::string bytes = valid_file;
  damage(bytes);
  return bytes;
}

// Deterministic (fixed seed); SKYREELS_FUZZ_ITERATIONS overrides the count (e.g. for sanitizer runs).
int fuzz_iterations() {
  const char* text = std::getenv("SKYREELS_FUZZ_ITERATIONS");
  const int count = text ? std::atoi(text) : 0;
  return count > 0 ? count : 3000;
}

TEST(TorchPickleFuzz, RandomMutationsFailCleanly) {
  const PthContents valid = sample_contents();
  const std::string valid_file = make_pth(valid);
  TempDir dir;
  const std::string path = (dir / "fuzz.pth").string();
  std::mt19937 rng(20240611);
  int loaded = 0, rejected = 0;
  const int iterations = fuzz_iterations();
  for (int iteration = 0; iteration < iterations; ++iteration) {
    write_file(path, mutate(valid, valid_file, rng));
    try {
      const StateDict tensors = load_torch_state_dict(path);
      // Touch every element (skipping huge broadcast views that a stride of 0 makes legal).
      for (const auto& [key, tensor] : tensors) {
        if (tensor.numel() <= (1 << 20)) (void)tensor.sum().item<double>();
      }
      ++loaded;
    } catch (const Error&) {
      ++rejected;
    } catch (const std::exception& e) {
      FAIL() << "iteration " << iteration << ": exception other than skyreels::Error: " << e.what();
    }
  }
  RecordProperty("loaded", loaded);
  RecordProperty("rejected", rejected);
  EXPECT_GT(loaded, 0);
  EXPECT_GT(rejected, 0);
}

}  // namespace
}  // namespace skyreels::test
