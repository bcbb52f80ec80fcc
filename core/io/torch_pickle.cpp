#include "io/torch_pickle.h"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <limits>
#include <memory>
#include <new>
#include <unordered_map>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include "io/mapped_file.h"
#include "io/zip_archive.h"
#include "skyreels/error.h"

namespace skyreels::io {
namespace {

// Limits against hostile pickles. Real state dicts use about 8 objects per tensor, so these allow
// hundreds of thousands of tensors while bounding memory.
constexpr std::size_t kMaxObjects = std::size_t{1} << 22;
constexpr std::size_t kMaxStackDepth = std::size_t{1} << 20;
constexpr std::size_t kMaxMemoEntries = std::size_t{1} << 22;
constexpr std::size_t kMaxTensors = std::size_t{1} << 20;  // views are small but not free
constexpr std::size_t kMaxTensorDims = 64;
constexpr std::size_t kMaxStorageKeyBytes = 1024;  // torch.save uses decimal numbers
constexpr int kHighestProtocol = 5;

const char* const kLegacyMessage =
    "legacy torch.save format is not supported; re-save with torch.save(..., "
    "_use_new_zipfile_serialization=True) or convert to safetensors";

// ---- overflow-safe arithmetic ----------------------------------------------------------------------

bool checked_mul(std::uint64_t a, std::uint64_t b, std::uint64_t& out) {
  if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) return false;
  out = a * b;
  return true;
}

bool checked_add(std::uint64_t a, std::uint64_t b, std::uint64_t& out) {
  if (b > std::numeric_limits<std::uint64_t>::max() - a) return false;
  out = a + b;
  return true;
}

// ---- pickle values ----------------------------------------------------------------------------------

enum class Kind { None, Bool, Int, Float, String, Tuple, List, Dict, Global, Storage, Tensor };

// The globals a state dict may name; anything else is refused when the GLOBAL opcode is read.
enum class GlobalId { OrderedDict, RebuildTensorV2, RebuildParameter, StorageType };

// One pickled object. Objects live in an arena owned by the unpickler and refer to each other by
// pointer, so self-referencing containers (legal in pickle) cannot leak or recurse.
struct Value {
  Kind kind = Kind::None;
  std::int64_t integer = 0;                 // Bool, Int; GlobalId for Global
  double real = 0.0;                        // Float
  std::string text;                         // String; "module.name" for Global
  std::vector<Value*> items;                // Tuple, List; Dict as key, value, key, value, ... (every SETITEM)
  c10::ScalarType dtype = c10::ScalarType::Undefined;  // Global (storage type), Storage
  at::Tensor tensor;                        // Storage (1-D, numel elements), Tensor
};

const char* describe(Kind kind) {
  switch (kind) {
    case Kind::None: return "None";
    case Kind::Bool: return "a bool";
    case Kind::Int: return "an int";
    case Kind::Float: return "a float";
    case Kind::String: return "a string";
    case Kind::Tuple: return "a tuple";
    case Kind::List: return "a list";
    case Kind::Dict: return "a dict";
    case Kind::Global: return "a global";
    case Kind::Storage: return "a storage";
    case Kind::Tensor: return "a tensor";
  }
  return "an object";
}

// Typed storage classes (torch.FloatStorage, ...) and the untyped byte storage of newer PyTorch.
bool storage_dtype_of(const std::string& module, const std::string& name, c10::ScalarType& dtype) {
  static const std::unordered_map<std::string, c10::ScalarType> typed = {
      {"FloatStorage", c10::ScalarType::Float},   {"DoubleStorage", c10::ScalarType::Double},
      {"HalfStorage", c10::ScalarType::Half},     {"BFloat16Storage", c10::ScalarType::BFloat16},
      {"LongStorage", c10::ScalarType::Long},     {"IntStorage", c10::ScalarType::Int},
      {"ShortStorage", c10::ScalarType::Short},   {"CharStorage", c10::ScalarType::Char},
      {"ByteStorage", c10::ScalarType::Byte},     {"BoolStorage", c10::ScalarType::Bool},
  };
  if (module == "torch") {
    const auto it = typed.find(name);
    if (it != typed.end()) {
      dtype = it->second;
      return true;
    }
  }
  if ((module == "torch" || module == "torch.storage") && name == "UntypedStorage") {
    dtype = c10::ScalarType::Byte;
    return true;
  }
  return false;
}

// ---- the torch.save archive layout -------------------------------------------------------------------

// "<folder>/" of the one "<folder>/data.pkl" in the archive.
std::string find_archive_prefix(const ZipArchive& archive) {
  const std::string pickle_name = "data.pkl";
  std::string prefix;
  int found = 0;
  for (const ZipArchive::Member& member : archive.members()) {
    const std::string& name = member.name;
    if (name.size() <= pickle_name.size() + 1) continue;
    const std::size_t slash = name.size() - pickle_name.size() - 1;
    if (name.compare(slash + 1, std::string::npos, pickle_name) != 0 || name[slash] != '/') continue;
    if (name.find('/') != slash) continue;  // only one folder level, as torch.save writes
    prefix = name.substr(0, slash + 1);
    ++found;
  }
  if (found == 0) {
    throw Error(ErrorCode::CorruptFile,
                archive.path() + ": not a torch.save archive (no <folder>/data.pkl member)");
  }
  if (found > 1) throw Error(ErrorCode::CorruptFile, archive.path() + ": several <folder>/data.pkl members");
  return prefix;
}

// Tensors are read as little-endian; "byteorder" is absent in files of older PyTorch (little).
void check_byteorder(const ZipArchive& archive, const std::string& prefix) {
  const ZipArchive::Member* member = archive.find(prefix + "byteorder");
  if (member == nullptr) return;
  std::string order(reinterpret_cast<const char*>(archive.data(*member)), static_cast<std::size_t>(member->size));
  while (!order.empty() && (order.back() == '\n' || order.back() == '\r' || order.back() == ' ')) order.pop_back();
  if (order == "little") return;
  if (order == "big") throw Error(ErrorCode::Unsupported, archive.path() + ": big-endian tensor data is not supported");
  throw Error(ErrorCode::CorruptFile, archive.path() + ": unknown byteorder \"" + order.substr(0, 32) + "\"");
}

// torch.save before PyTorch 1.6 wrote a bare pickle stream (or, much earlier, a tar file).
bool looks_like_legacy_torch_save(const MappedFile& file) {
  const unsigned char* data = file.data();
  const std::size_t size = file.size();
  const bool pickle_stream = size >= 2 && data[0] == 0x80 && data[1] >= 1 && data[1] <= kHighestProtocol;
  const bool tar_file = size >= 262 && std::memcmp(data + 257, "ustar", 5) == 0;
  return pickle_stream || tar_file;
}

// ---- the pickle machine ---------------------------------------------------------------------------------

namespace op {
constexpr unsigned char kMark = '(';
constexpr unsigned char kStop = '.';
constexpr unsigned char kPop = '0';
constexpr unsigned char kPopMark = '1';
constexpr unsigned char kDup = '2';
constexpr unsigned char kBinFloat = 'G';
constexpr unsigned char kBinInt = 'J';
constexpr unsigned char kBinInt1 = 'K';
constexpr unsigned char kBinInt2 = 'M';
constexpr unsigned char kNone = 'N';
constexpr unsigned char kBinPersId = 'Q';
constexpr unsigned char kReduce = 'R';
constexpr unsigned char kBinString = 'T';
constexpr unsigned char kShortBinString = 'U';
constexpr unsigned char kBinUnicode = 'X';
constexpr unsigned char kBinBytes = 'B';
constexpr unsigned char kShortBinBytes = 'C';
constexpr unsigned char kAppend = 'a';
constexpr unsigned char kBuild = 'b';
constexpr unsigned char kGlobal = 'c';
constexpr unsigned char kDict = 'd';
constexpr unsigned char kEmptyDict = '}';
constexpr unsigned char kAppends = 'e';
constexpr unsigned char kBinGet = 'h';
constexpr unsigned char kLongBinGet = 'j';
constexpr unsigned char kList = 'l';
constexpr unsigned char kEmptyList = ']';
constexpr unsigned char kBinPut = 'q';
constexpr unsigned char kLongBinPut = 'r';
constexpr unsigned char kSetItem = 's';
constexpr unsigned char kTuple = 't';
constexpr unsigned char kEmptyTuple = ')';
constexpr unsigned char kSetItems = 'u';
constexpr unsigned char kProto = 0x80;
constexpr unsigned char kTuple1 = 0x85;
constexpr unsigned char kTuple2 = 0x86;
constexpr unsigned char kTuple3 = 0x87;
constexpr unsigned char kNewTrue = 0x88;
constexpr unsigned char kNewFalse = 0x89;
constexpr unsigned char kLong1 = 0x8a;
constexpr unsigned char kLong4 = 0x8b;
constexpr unsigned char kShortBinUnicode = 0x8c;
constexpr unsigned char kBinUnicode8 = 0x8d;
constexpr unsigned char kBinBytes8 = 0x8e;
constexpr unsigned char kStackGlobal = 0x93;
constexpr unsigned char kMemoize = 0x94;
constexpr unsigned char kFrame = 0x95;
}  // namespace op

// Runs data.pkl and builds tensors over the archive's storage members.
class Unpickler {
public:
  Unpickler(const ZipArchive& archive, std::string prefix)
      : archive_(archive), prefix_(std::move(prefix)), pickle_name_(prefix_ + "data.pkl") {
    const ZipArchive::Member* member = archive_.find(pickle_name_);
    begin_ = archive_.data(*member);
    size_ = member->size;
  }

  const Value* run() {
    while (true) {
      opcode_offset_ = pos_;
      const unsigned char code = read_u8();
      if (code == op::kStop) return pop();
      execute(code);
    }
  }

private:
  // Names the file, what was found, and where in data.pkl.
  [[noreturn]] void fail(ErrorCode code, const std::string& what) const {
    throw Error(code, archive_.path() + ": " + what + " (" + pickle_name_ + ", byte " +
                          std::to_string(opcode_offset_) + ")");
  }

  // ---- reading bytes ----
  std::uint64_t remaining() const { return size_ - pos_; }

  const unsigned char* read_bytes(std::uint64_t count) {
    if (count > remaining()) fail(ErrorCode::CorruptFile, "pickle is truncated");
    const unsigned char* p = begin_ + pos_;
    pos_ += count;
    return p;
  }
  unsigned char read_u8() { return *read_bytes(1); }
  std::uint64_t read_le(std::size_t count) {
    const unsigned char* p = read_bytes(count);
    std::uint64_t value = 0;
    for (std::size_t i = count; i-- > 0;) value = (value << 8) | p[i];
    return value;
  }
  // A length prefix must not claim more bytes than are left.
  std::string read_string(std::uint64_t length) {
    if (length > remaining()) fail(ErrorCode::CorruptFile, "pickle is truncated (string of " + std::to_string(length) + " bytes)");
    const unsigned char* p = read_bytes(length);
    return std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(length));
  }
  std::string read_line() {
    const unsigned char* start = begin_ + pos_;
    const void* newline = std::memchr(start, '\n', static_cast<std::size_t>(remaining()));
    if (newline == nullptr) fail(ErrorCode::CorruptFile, "pickle is truncated (unterminated line)");
    const auto length = static_cast<std::size_t>(static_cast<const unsigned char*>(newline) - start);
    pos_ += length + 1;
    return std::string(reinterpret_cast<const char*>(start), length);
  }

  // ---- objects, stack, marks, memo ----
  Value* make(Kind kind) {
    if (arena_.size() >= kMaxObjects) fail(ErrorCode::Unsupported, "pickle has too many objects");
    arena_.emplace_back();
    arena_.back().kind = kind;
    return &arena_.back();
  }
  Value* make_int(std::int64_t v) {
    Value* value = make(Kind::Int);
    value->integer = v;
    return value;
  }
  Value* make_string(std::string text) {
    Value* value = make(Kind::String);
    value->text = std::move(text);
    return value;
  }

  void push(Value* value) {
    if (stack_.size() >= kMaxStackDepth) fail(ErrorCode::Unsupported, "pickle stack too deep");
    stack_.push_back(value);
  }
  Value* pop() {
    if (stack_.size() <= stack_floor()) fail(ErrorCode::CorruptFile, "pickle stack underflow");
    Value* value = stack_.back();
    stack_.pop_back();
    return value;
  }
  Value* top() {
    if (stack_.size() <= stack_floor()) fail(ErrorCode::CorruptFile, "pickle stack underflow");
    return stack_.back();
  }
  // Objects below the innermost MARK belong to an enclosing construct and cannot be popped singly.
  std::size_t stack_floor() const { return marks_.empty() ? 0 : marks_.back(); }

  void push_mark() {
    if (marks_.size() >= kMaxStackDepth) fail(ErrorCode::Unsupported, "pickle has too many marks");
    marks_.push_back(stack_.size());
  }
  std::vector<Value*> pop_to_mark() {
    if (marks_.empty()) fail(ErrorCode::CorruptFile, "pickle opcode needs a MARK but there is none");
    const std::size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<Value*> items(stack_.begin() + static_cast<std::ptrdiff_t>(mark), stack_.end());
    stack_.resize(mark);
    return items;
  }
  std::vector<Value*> pop_n(std::size_t count) {
    if (stack_.size() < stack_floor() + count) fail(ErrorCode::CorruptFile, "pickle stack underflow");
    std::vector<Value*> items(stack_.end() - static_cast<std::ptrdiff_t>(count), stack_.end());
    stack_.resize(stack_.size() - count);
    return items;
  }

  void memo_put(std::uint64_t index) {
    Value* value = top();
    auto it = memo_.find(index);
    if (it != memo_.end()) {
      it->second = value;
      return;
    }
    if (memo_.size() >= kMaxMemoEntries) fail(ErrorCode::Unsupported, "pickle memo too large");
    memo_.emplace(index, value);
  }
  void memo_get(std::uint64_t index) {
    const auto it = memo_.find(index);
    if (it == memo_.end()) fail(ErrorCode::CorruptFile, "pickle memo has no entry " + std::to_string(index));
    push(it->second);
  }

  // ---- containers ----
  Value* make_sequence(Kind kind, std::vector<Value*> items) {
    Value* value = make(kind);
    value->items = std::move(items);
    return value;
  }
  Value* expect(Value* value, Kind kind, const char* opcode) {
    if (value->kind != kind) {
      fail(ErrorCode::CorruptFile, std::string(opcode) + " expects " + describe(kind) + ", found " + describe(value->kind));
    }
    return value;
  }
  // Pairs are appended as they come; repeated keys are resolved once, when the state dict is read
  // out (see to_state_dict), so that a hostile pickle cannot make every SETITEM hash a long key.
  void dict_set(Value* dict, Value* key, Value* value) {
    dict->items.push_back(key);
    dict->items.push_back(value);
  }
  void dict_set_pairs(Value* dict, const std::vector<Value*>& items, const char* opcode) {
    if (items.size() % 2 != 0) fail(ErrorCode::CorruptFile, std::string(opcode) + " with an odd number of items");
    for (std::size_t i = 0; i < items.size(); i += 2) dict_set(dict, items[i], items[i + 1]);
  }

  // ---- globals ----
  Value* make_global(const std::string& module, const std::string& name) {
    Value* value = make(Kind::Global);
    value->text = module + "." + name;
    if (module == "collections" && name == "OrderedDict") {
      value->integer = static_cast<std::int64_t>(GlobalId::OrderedDict);
    } else if (module == "torch._utils" && name == "_rebuild_tensor_v2") {
      value->integer = static_cast<std::int64_t>(GlobalId::RebuildTensorV2);
    } else if (module == "torch._utils" && name == "_rebuild_parameter") {
      value->integer = static_cast<std::int64_t>(GlobalId::RebuildParameter);
    } else if (storage_dtype_of(module, name, value->dtype)) {
      value->integer = static_cast<std::int64_t>(GlobalId::StorageType);
    } else {
      fail(ErrorCode::Unsupported, "unsupported pickle global \"" + value->text.substr(0, 200) + "\"");
    }
    return value;
  }
  static GlobalId global_id(const Value* value) { return static_cast<GlobalId>(value->integer); }

  Value* reduce(Value* callable, Value* args) {
    if (callable->kind != Kind::Global) fail(ErrorCode::CorruptFile, std::string("REDUCE calls ") + describe(callable->kind));
    expect(args, Kind::Tuple, "REDUCE");
    switch (global_id(callable)) {
      case GlobalId::OrderedDict:
        if (!args->items.empty()) fail(ErrorCode::Unsupported, "OrderedDict built from arguments is not supported");
        return make(Kind::Dict);
      case GlobalId::RebuildTensorV2: return rebuild_tensor(args->items);
      case GlobalId::RebuildParameter: return rebuild_parameter(args->items);
      case GlobalId::StorageType: break;
    }
    fail(ErrorCode::Unsupported, "calling \"" + callable->text + "\" is not supported");
  }

  // _rebuild_parameter(data, requires_grad, backward_hooks): the tensor itself is what we keep.
  Value* rebuild_parameter(const std::vector<Value*>& args) {
    if (args.size() != 3 || args[0]->kind != Kind::Tensor) fail(ErrorCode::CorruptFile, "bad _rebuild_parameter arguments");
    return args[0];
  }

  std::int64_t non_negative_int(const Value* value, const char* what) {
    if (value->kind != Kind::Int && value->kind != Kind::Bool) {
      fail(ErrorCode::CorruptFile, std::string("_rebuild_tensor_v2: ") + what + " is " + describe(value->kind));
    }
    if (value->integer < 0) fail(ErrorCode::CorruptFile, std::string("_rebuild_tensor_v2: negative ") + what);
    return value->integer;
  }
  std::vector<std::int64_t> int_tuple(const Value* value, const char* what) {
    if (value->kind != Kind::Tuple && value->kind != Kind::List) {
      fail(ErrorCode::CorruptFile, std::string("_rebuild_tensor_v2: ") + what + " is " + describe(value->kind));
    }
    if (value->items.size() > kMaxTensorDims) fail(ErrorCode::Unsupported, "_rebuild_tensor_v2: too many dimensions");
    std::vector<std::int64_t> out;
    out.reserve(value->items.size());
    for (const Value* item : value->items) out.push_back(non_negative_int(item, what));
    return out;
  }

  // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
  Value* rebuild_tensor(const std::vector<Value*>& args) {
    if (args.size() != 6 && args.size() != 7) {
      fail(ErrorCode::CorruptFile, "_rebuild_tensor_v2 takes 6 or 7 arguments, found " + std::to_string(args.size()));
    }
    if (args[0]->kind != Kind::Storage) fail(ErrorCode::CorruptFile, std::string("_rebuild_tensor_v2: storage is ") + describe(args[0]->kind));
    const at::Tensor& storage = args[0]->tensor;
    const std::int64_t offset = non_negative_int(args[1], "storage offset");
    const std::vector<std::int64_t> sizes = int_tuple(args[2], "size");
    const std::vector<std::int64_t> strides = int_tuple(args[3], "stride");
    if (sizes.size() != strides.size()) fail(ErrorCode::CorruptFile, "_rebuild_tensor_v2: size and stride differ in length");
    check_view_fits(static_cast<std::uint64_t>(storage.numel()), offset, sizes, strides);
    if (++tensor_count_ > kMaxTensors) fail(ErrorCode::Unsupported, "pickle builds too many tensors");
    Value* value = make(Kind::Tensor);
    value->tensor = storage.as_strided(sizes, strides, offset);
    return value;
  }

  // The view must stay inside the storage: offset + sum((size - 1) * stride) < numel.
  void check_view_fits(std::uint64_t storage_numel, std::int64_t offset, const std::vector<std::int64_t>& sizes,
                       const std::vector<std::int64_t>& strides) {
    std::uint64_t numel = 1;
    bool empty = false;
    for (std::int64_t size : sizes) {
      if (size == 0) empty = true;
      else if (!checked_mul(numel, static_cast<std::uint64_t>(size), numel) ||
               numel > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        fail(ErrorCode::CorruptFile, "_rebuild_tensor_v2: tensor size overflows");
      }
    }
    std::uint64_t extent = static_cast<std::uint64_t>(offset);
    if (!empty) {
      for (std::size_t i = 0; i < sizes.size(); ++i) {
        std::uint64_t span = 0;
        if (!checked_mul(static_cast<std::uint64_t>(sizes[i] - 1), static_cast<std::uint64_t>(strides[i]), span) ||
            !checked_add(extent, span, extent)) {
          fail(ErrorCode::CorruptFile, "_rebuild_tensor_v2: tensor extent overflows");
        }
      }
      if (!checked_add(extent, 1, extent)) fail(ErrorCode::CorruptFile, "_rebuild_tensor_v2: tensor extent overflows");
    }
    if (extent > storage_numel) {
      fail(ErrorCode::CorruptFile, "_rebuild_tensor_v2: tensor needs " + std::to_string(extent) +
                                       " storage elements but the storage has " + std::to_string(storage_numel));
    }
  }

  // ---- storages ----
  // Persistent id ('storage', storage_type, key, location, numel), loaded once per key.
  Value* persistent_load(Value* pid) {
    if (pid->kind != Kind::Tuple || pid->items.size() != 5) fail(ErrorCode::CorruptFile, "persistent id is not a 5-tuple");
    const std::vector<Value*>& f = pid->items;
    if (f[0]->kind != Kind::String || f[0]->text != "storage") fail(ErrorCode::Unsupported, "persistent id is not a storage");
    if (f[1]->kind != Kind::Global || global_id(f[1]) != GlobalId::StorageType) {
      fail(ErrorCode::CorruptFile, "persistent id names no storage type");
    }
    if (f[2]->kind != Kind::String) fail(ErrorCode::CorruptFile, "storage key is not a string");
    if (f[2]->text.size() > kMaxStorageKeyBytes) fail(ErrorCode::CorruptFile, "storage key is too long");
    if (f[4]->kind != Kind::Int || f[4]->integer < 0) fail(ErrorCode::CorruptFile, "storage size is not a non-negative int");
    const c10::ScalarType dtype = f[1]->dtype;
    const std::string& key = f[2]->text;

    const auto cached = storages_.find(key);
    if (cached != storages_.end()) {
      Value* storage = cached->second;
      if (storage->dtype != dtype || storage->tensor.numel() != f[4]->integer) {
        fail(ErrorCode::CorruptFile, "storage \"" + key + "\" is referenced with different types or sizes");
      }
      return storage;
    }
    Value* storage = make(Kind::Storage);
    storage->dtype = dtype;
    storage->tensor = load_storage(key, dtype, f[4]->integer);
    storages_.emplace(key, storage);
    return storage;
  }

  // A view of the mapped member when aligned for the element type, else a copy.
  at::Tensor load_storage(const std::string& key, c10::ScalarType dtype, std::int64_t numel) {
    const std::string name = prefix_ + "data/" + key;
    const ZipArchive::Member* member = archive_.find(name);
    if (member == nullptr) fail(ErrorCode::CorruptFile, "storage member \"" + name + "\" is missing");
    const std::size_t element_size = c10::elementSize(dtype);
    std::uint64_t bytes = 0;
    if (!checked_mul(static_cast<std::uint64_t>(numel), element_size, bytes) || bytes > member->size) {
      fail(ErrorCode::CorruptFile, "storage \"" + name + "\" claims " + std::to_string(numel) + " elements of " +
                                       std::to_string(element_size) + " bytes but the member has " +
                                       std::to_string(member->size) + " bytes");
    }
    const auto options = at::TensorOptions().dtype(dtype).device(at::kCPU);
    unsigned char* data = archive_.mapping()->copy_on_write_data() + member->data_offset;
    if (reinterpret_cast<std::uintptr_t>(data) % element_size == 0) {
      std::shared_ptr<const MappedFile> keep_alive = archive_.mapping();
      return at::from_blob(data, {numel}, [keep_alive](void*) {}, options);
    }
    at::Tensor copy = at::empty({numel}, options);
    if (bytes > 0) std::memcpy(copy.data_ptr(), data, static_cast<std::size_t>(bytes));
    return copy;
  }

  // ---- opcodes ----
  void execute(unsigned char code) {
    switch (code) {
      case op::kProto: {
        const unsigned version = read_u8();
        if (version > kHighestProtocol) fail(ErrorCode::Unsupported, "pickle protocol " + std::to_string(version));
        return;
      }
      case op::kFrame: {
        // A framing hint for buffered readers; the whole pickle is in memory.
        const std::uint64_t frame = read_le(8);
        if (frame > remaining()) fail(ErrorCode::CorruptFile, "pickle is truncated (frame past the end)");
        return;
      }
      case op::kMark: return push_mark();
      case op::kPop:
        if (stack_.size() > stack_floor()) stack_.pop_back();
        else pop_to_mark();  // as Python: POP on an empty frame discards the mark
        return;
      case op::kPopMark: pop_to_mark(); return;
      case op::kDup: return push(top());

      case op::kNone: return push(make(Kind::None));
      case op::kNewTrue:
      case op::kNewFalse: {
        Value* value = make(Kind::Bool);
        value->integer = code == op::kNewTrue ? 1 : 0;
        return push(value);
      }
      case op::kBinInt: return push(make_int(static_cast<std::int32_t>(static_cast<std::uint32_t>(read_le(4)))));
      case op::kBinInt1: return push(make_int(read_u8()));
      case op::kBinInt2: return push(make_int(static_cast<std::int64_t>(read_le(2))));
      case op::kLong1: return push(make_int(read_long(read_u8())));
      case op::kLong4: return push(make_int(read_long(read_le(4))));
      case op::kBinFloat: return push(read_binfloat());

      case op::kShortBinUnicode:
      case op::kShortBinString:
      case op::kShortBinBytes: return push(make_string(read_string(read_u8())));
      case op::kBinUnicode:
      case op::kBinBytes: return push(make_string(read_string(read_le(4))));
      case op::kBinString: {
        const auto length = static_cast<std::int32_t>(static_cast<std::uint32_t>(read_le(4)));
        if (length < 0) fail(ErrorCode::CorruptFile, "negative BINSTRING length");
        return push(make_string(read_string(static_cast<std::uint64_t>(length))));
      }
      case op::kBinUnicode8:
      case op::kBinBytes8: return push(make_string(read_string(read_le(8))));

      case op::kEmptyTuple: return push(make(Kind::Tuple));
      case op::kTuple: return push(make_sequence(Kind::Tuple, pop_to_mark()));
      case op::kTuple1: return push(make_sequence(Kind::Tuple, pop_n(1)));
      case op::kTuple2: return push(make_sequence(Kind::Tuple, pop_n(2)));
      case op::kTuple3: return push(make_sequence(Kind::Tuple, pop_n(3)));
      case op::kEmptyList: return push(make(Kind::List));
      case op::kList: return push(make_sequence(Kind::List, pop_to_mark()));
      case op::kAppend: {
        Value* item = pop();
        expect(top(), Kind::List, "APPEND")->items.push_back(item);
        return;
      }
      case op::kAppends: {
        std::vector<Value*> items = pop_to_mark();
        Value* list = expect(top(), Kind::List, "APPENDS");
        list->items.insert(list->items.end(), items.begin(), items.end());
        return;
      }
      case op::kEmptyDict: return push(make(Kind::Dict));
      case op::kDict: {
        std::vector<Value*> items = pop_to_mark();
        Value* dict = make(Kind::Dict);
        dict_set_pairs(dict, items, "DICT");
        return push(dict);
      }
      case op::kSetItem: {
        Value* value = pop();
        Value* key = pop();
        dict_set(expect(top(), Kind::Dict, "SETITEM"), key, value);
        return;
      }
      case op::kSetItems: {
        std::vector<Value*> items = pop_to_mark();
        dict_set_pairs(expect(top(), Kind::Dict, "SETITEMS"), items, "SETITEMS");
        return;
      }

      case op::kBinPut: return memo_put(read_u8());
      case op::kLongBinPut: return memo_put(read_le(4));
      case op::kMemoize: return memo_put(memo_.size());
      case op::kBinGet: return memo_get(read_u8());
      case op::kLongBinGet: return memo_get(read_le(4));

      case op::kGlobal: {
        std::string module = read_line();
        std::string name = read_line();
        return push(make_global(module, name));
      }
      case op::kStackGlobal: {
        Value* name = pop();
        Value* module = pop();
        if (name->kind != Kind::String || module->kind != Kind::String) fail(ErrorCode::CorruptFile, "STACK_GLOBAL needs two strings");
        return push(make_global(module->text, name->text));
      }
      case op::kReduce: {
        Value* args = pop();
        Value* callable = pop();
        return push(reduce(callable, args));
      }
      case op::kBuild: {
        // OrderedDict state (e.g. a state dict's _metadata) carries nothing tensors need.
        Value* state = pop();
        (void)state;
        Value* object = top();
        if (object->kind != Kind::Dict) fail(ErrorCode::Unsupported, std::string("BUILD on ") + describe(object->kind));
        return;
      }
      case op::kBinPersId: return push(persistent_load(pop()));
      default: break;
    }
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02x", code);
    fail(ErrorCode::Unsupported, std::string("unsupported pickle opcode ") + hex);
  }

  // LONG1/LONG4: little-endian two's complement of `count` bytes; state dicts only need 64 bits.
  std::int64_t read_long(std::uint64_t count) {
    if (count > 8) {
      if (count > remaining()) fail(ErrorCode::CorruptFile, "pickle is truncated (long integer)");
      fail(ErrorCode::Unsupported, "integer wider than 64 bits");
    }
    if (count == 0) return 0;
    const auto n = static_cast<std::size_t>(count);
    std::uint64_t bits = read_le(n);
    if (n < 8 && (bits >> (8 * n - 1)) & 1) bits |= ~std::uint64_t{0} << (8 * n);  // sign-extend
    return static_cast<std::int64_t>(bits);
  }

  Value* read_binfloat() {
    const unsigned char* p = read_bytes(8);
    std::uint64_t bits = 0;
    for (int i = 0; i < 8; ++i) bits = (bits << 8) | p[i];  // big-endian
    Value* value = make(Kind::Float);
    std::memcpy(&value->real, &bits, sizeof bits);
    return value;
  }

  const ZipArchive& archive_;
  std::string prefix_;
  std::string pickle_name_;
  const unsigned char* begin_ = nullptr;
  std::uint64_t size_ = 0;
  std::uint64_t pos_ = 0;
  std::uint64_t opcode_offset_ = 0;

  std::deque<Value> arena_;
  std::vector<Value*> stack_;
  std::vector<std::size_t> marks_;
  std::unordered_map<std::uint64_t, Value*> memo_;
  std::unordered_map<std::string, Value*> storages_;
  std::size_t tensor_count_ = 0;
};

// The top-level object must be a dict of string -> tensor. As in Python, a repeated key keeps its
// first position and takes the last value. Keys are looked up by object first, so a key object
// the pickle reuses many times (through the memo) is hashed only once.
std::vector<std::pair<std::string, at::Tensor>> to_state_dict(const Value& root, const std::string& path) {
  if (root.kind != Kind::Dict) {
    throw Error(ErrorCode::Unsupported, path + ": top-level object is " + describe(root.kind) + ", expected a state dict");
  }
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  std::unordered_map<const Value*, std::size_t> slot_of_object;
  std::unordered_map<std::string, std::size_t> slot_of_name;
  for (std::size_t i = 0; i < root.items.size(); i += 2) {
    const Value* key = root.items[i];
    const Value& value = *root.items[i + 1];
    if (key->kind != Kind::String) {
      throw Error(ErrorCode::Unsupported, path + ": state dict key is " + describe(key->kind) + ", expected a string");
    }
    if (value.kind != Kind::Tensor) {
      throw Error(ErrorCode::Unsupported, path + ": value of \"" + key->text.substr(0, 200) + "\" is " +
                                              describe(value.kind) + ", expected a tensor (nested state dicts are not supported)");
    }
    auto known = slot_of_object.find(key);
    if (known == slot_of_object.end()) {
      const auto [named, inserted] = slot_of_name.emplace(key->text, tensors.size());
      if (inserted) tensors.emplace_back(key->text, at::Tensor());
      known = slot_of_object.emplace(key, named->second).first;
    }
    tensors[known->second].second = value.tensor;
  }
  return tensors;
}

std::vector<std::pair<std::string, at::Tensor>> load_state_dict(const std::string& path) {
  std::shared_ptr<const MappedFile> file = MappedFile::open(path);
  if (looks_like_legacy_torch_save(*file)) throw Error(ErrorCode::Unsupported, path + ": " + kLegacyMessage);
  const ZipArchive archive(file);
  const std::string prefix = find_archive_prefix(archive);
  check_byteorder(archive, prefix);
  Unpickler unpickler(archive, prefix);
  const Value* root = unpickler.run();
  return to_state_dict(*root, path);
}

}  // namespace

std::vector<std::pair<std::string, at::Tensor>> load_torch_state_dict(const std::string& path) {
  // Only skyreels::Error leaves: LibTorch or allocation failures are translated.
  try {
    return load_state_dict(path);
  } catch (const Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Error(ErrorCode::CorruptFile, path + ": " + e.what_without_backtrace());
  } catch (const std::bad_alloc&) {
    throw Error(ErrorCode::Runtime, path + ": out of memory while loading the state dict");
  } catch (const std::exception& e) {
    throw Error(ErrorCode::Runtime, path + ": " + e.what());
  }
}

}  // namespace skyreels::io
