#include "io/safetensors_header.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <set>
#include <string_view>
#include <tuple>

#include <nlohmann/json.hpp>

#include "skyreels/error.h"

namespace skyreels::io {

namespace {

using nlohmann::json;

// Deeper JSON than this is never a real header; rejecting it first keeps hostile input cheap.
constexpr int kMaxJsonDepth = 16;
// Names in messages are cut so a hostile megabyte-long key cannot flood a log.
constexpr std::size_t kMaxNameInMessage = 200;

constexpr std::uint64_t kMaxInt64 = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());

std::string in_quotes(const std::string& name) {
  if (name.size() <= kMaxNameInMessage) return "\"" + name + "\"";
  return "\"" + name.substr(0, kMaxNameInMessage) + "...\"";
}

[[noreturn]] void fail(ErrorCode code, const std::string& file, const std::string& what) {
  throw Error(code, file + ": " + what);
}

[[noreturn]] void fail_tensor(ErrorCode code, const std::string& file, const std::string& tensor,
                              const std::string& what) {
  throw Error(code, file + ": tensor " + in_quotes(tensor) + ": " + what);
}

// A short description of a JSON value for messages: numbers as written, other values by type.
std::string describe(const json& value) {
  if (value.is_number()) return value.dump();
  return value.type_name();
}

// The value as JSON text, cut short for messages.
std::string short_dump(const json& value) {
  constexpr std::size_t kMaxChars = 60;
  std::string text = value.dump();
  if (text.size() > kMaxChars) text = text.substr(0, kMaxChars) + "...";
  return text;
}

std::string format_shape(const std::vector<std::int64_t>& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) text += ", ";
    text += std::to_string(shape[i]);
  }
  return text + "]";
}

std::string format_range(std::uint64_t begin, std::uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
}

std::uint64_t read_u64_le(const unsigned char* bytes) {
  std::uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | bytes[i];
  return value;
}

// Rejects nesting deeper than kMaxJsonDepth before the JSON parser sees the text. Brackets inside
// strings do not count; malformed text is left for the parser to report.
void check_nesting_depth(std::string_view text, const std::string& file) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > kMaxJsonDepth) {
        fail(ErrorCode::CorruptFile, file, "header JSON is nested deeper than " + std::to_string(kMaxJsonDepth) +
                                               " levels");
      }
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
}

// Tracks the keys of every open JSON object during parsing: nlohmann keeps only the last of two equal
// keys, which would let a hostile file hide a tensor entry.
struct DuplicateKeyFinder {
  std::vector<std::set<std::string>> open_objects;
  std::string current_tensor;  // the last top-level key
  std::optional<std::string> duplicate;
  std::string duplicate_owner;  // the tensor whose entry repeats a key; empty for top-level duplicates

  bool on_event(int depth, json::parse_event_t event, const json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        open_objects.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case json::parse_event_t::key: {
        const auto& key = parsed.get_ref<const std::string&>();
        if (depth == 1) current_tensor = key;
        if (!open_objects.empty() && !open_objects.back().insert(key).second && !duplicate) {
          duplicate = key;
          if (depth > 1) duplicate_owner = current_tensor;
        }
        break;
      }
      default:
        break;
    }
    return true;
  }
};

json parse_header_json(std::string_view text, const std::string& file) {
  check_nesting_depth(text, file);
  DuplicateKeyFinder finder;
  json root;
  try {
    root = json::parse(
        text.begin(), text.end(),
        [&finder](int depth, json::parse_event_t event, json& parsed) { return finder.on_event(depth, event, parsed); });
  } catch (const json::exception& e) {
    fail(ErrorCode::CorruptFile, file, std::string("header is not valid JSON: ") + e.what());
  }
  if (finder.duplicate) {
    if (finder.duplicate_owner.empty()) {
      fail(ErrorCode::CorruptFile, file, "tensor " + in_quotes(*finder.duplicate) + " appears twice in the header");
    }
    fail_tensor(ErrorCode::CorruptFile, file, finder.duplicate_owner, "key " + in_quotes(*finder.duplicate) + " appears twice");
  }
  if (!root.is_object()) {
    fail(ErrorCode::CorruptFile, file, std::string("header JSON must be an object, found ") + root.type_name());
  }
  return root;
}

std::map<std::string, std::string> parse_metadata(const json& value, const std::string& file) {
  if (!value.is_object()) {
    fail(ErrorCode::CorruptFile, file, "\"__metadata__\" must be an object of strings, found " + describe(value));
  }
  std::map<std::string, std::string> metadata;
  for (const auto& [key, item] : value.items()) {
    if (!item.is_string()) {
      fail(ErrorCode::CorruptFile, file, "\"__metadata__\" value of " + in_quotes(key) + " must be a string, found " +
                                             describe(item));
    }
    metadata.emplace(key, item.get<std::string>());
  }
  return metadata;
}

const json& required_field(const json& entry, const char* field, const std::string& file, const std::string& name) {
  const auto it = entry.find(field);
  if (it == entry.end()) fail_tensor(ErrorCode::CorruptFile, file, name, std::string("missing \"") + field + "\"");
  return *it;
}

DType parse_dtype(const json& value, const std::string& file, const std::string& name) {
  if (!value.is_string()) {
    fail_tensor(ErrorCode::CorruptFile, file, name, "\"dtype\" must be a string, found " + describe(value));
  }
  const auto& text = value.get_ref<const std::string&>();
  const auto dtype = dtype_from_name(text);
  if (!dtype) fail_tensor(ErrorCode::Unsupported, file, name, "unknown dtype " + in_quotes(text));
  return *dtype;
}

std::vector<std::int64_t> parse_shape(const json& value, const std::string& file, const std::string& name) {
  if (!value.is_array()) {
    fail_tensor(ErrorCode::CorruptFile, file, name, "\"shape\" must be an array, found " + describe(value));
  }
  std::vector<std::int64_t> shape;
  shape.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) {
    const json& dim = value[i];
    const std::string where = "shape[" + std::to_string(i) + "]";
    // nlohmann stores every non-negative integer as unsigned; negatives and fractions land elsewhere.
    if (!dim.is_number_unsigned()) {
      fail_tensor(ErrorCode::CorruptFile, file, name, where + " must be a non-negative integer, found " + describe(dim));
    }
    const auto size = dim.get<std::uint64_t>();
    if (size > kMaxInt64) fail_tensor(ErrorCode::CorruptFile, file, name, where + " = " + dim.dump() + " is too large");
    shape.push_back(static_cast<std::int64_t>(size));
  }
  return shape;
}

// numel x element size, or nullopt when it cannot be a tensor: the product of the non-zero dims is
// bounded too, so LibTorch's own size arithmetic cannot overflow even for empty tensors.
std::optional<std::uint64_t> byte_size_of(const std::vector<std::int64_t>& shape, std::size_t element_size) {
  std::uint64_t nonzero_product = element_size;
  bool empty = false;
  for (const std::int64_t dim : shape) {
    if (dim == 0) {
      empty = true;
      continue;
    }
    const auto factor = static_cast<std::uint64_t>(dim);
    if (nonzero_product > kMaxInt64 / factor) return std::nullopt;
    nonzero_product *= factor;
  }
  return empty ? 0 : nonzero_product;
}

std::pair<std::uint64_t, std::uint64_t> parse_offsets(const json& value, const std::string& file,
                                                      const std::string& name) {
  if (!value.is_array() || value.size() != 2 || !value[0].is_number_unsigned() || !value[1].is_number_unsigned()) {
    fail_tensor(ErrorCode::CorruptFile, file, name,
                "\"data_offsets\" must be two non-negative integers [begin, end], found " + short_dump(value));
  }
  return {value[0].get<std::uint64_t>(), value[1].get<std::uint64_t>()};
}

SafetensorsEntry parse_entry(const std::string& name, const json& value, std::uint64_t data_size,
                             const std::string& file) {
  if (!value.is_object()) {
    fail_tensor(ErrorCode::CorruptFile, file, name, "entry must be an object, found " + describe(value));
  }
  for (const auto& item : value.items()) {
    const auto& key = item.key();
    if (key != "dtype" && key != "shape" && key != "data_offsets") {
      fail_tensor(ErrorCode::CorruptFile, file, name, "unexpected key " + in_quotes(key));
    }
  }
  SafetensorsEntry entry;
  entry.name = name;
  entry.dtype = parse_dtype(required_field(value, "dtype", file, name), file, name);
  entry.shape = parse_shape(required_field(value, "shape", file, name), file, name);
  std::tie(entry.begin, entry.end) = parse_offsets(required_field(value, "data_offsets", file, name), file, name);

  const std::string range = format_range(entry.begin, entry.end);
  if (entry.begin > entry.end) {
    fail_tensor(ErrorCode::CorruptFile, file, name, "data_offsets " + range + " end before they begin");
  }
  if (entry.end > data_size) {
    fail_tensor(ErrorCode::CorruptFile, file, name,
                "data_offsets " + range + " run past the end of the data section (" + std::to_string(data_size) +
                    " bytes)");
  }
  const auto expected = byte_size_of(entry.shape, dtype_size(entry.dtype));
  if (!expected) {
    fail_tensor(ErrorCode::CorruptFile, file, name, "shape " + format_shape(entry.shape) + " is too large");
  }
  const std::uint64_t actual = entry.end - entry.begin;
  if (actual != *expected) {
    fail_tensor(ErrorCode::CorruptFile, file, name,
                "byte size " + std::to_string(actual) + " does not match dtype " + dtype_name(entry.dtype) +
                    " x shape " + format_shape(entry.shape) + " (" + std::to_string(*expected) + " bytes)");
  }
  return entry;
}

// Sorts entries by offset and rejects any two whose byte ranges share a byte (empty ranges share none).
void sort_and_check_overlaps(std::vector<SafetensorsEntry>& entries, const std::string& file) {
  std::sort(entries.begin(), entries.end(), [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  const SafetensorsEntry* previous = nullptr;  // the last non-empty entry; ranges before it are disjoint
  for (const auto& entry : entries) {
    if (entry.begin == entry.end) continue;
    if (previous != nullptr && entry.begin < previous->end) {
      fail_tensor(ErrorCode::CorruptFile, file, entry.name,
                  "data_offsets " + format_range(entry.begin, entry.end) + " overlap those of tensor " +
                      in_quotes(previous->name) + " " + format_range(previous->begin, previous->end));
    }
    previous = &entry;
  }
}

}  // namespace

SafetensorsHeader parse_safetensors_header(const unsigned char* bytes, std::size_t size,
                                           const std::string& file_label) {
  const std::string& file = file_label;
  if (size < 8 || bytes == nullptr) {
    fail(ErrorCode::CorruptFile, file,
         "file is " + std::to_string(size) + " bytes, too short for a safetensors header (at least 8)");
  }
  const std::uint64_t header_size = read_u64_le(bytes);
  if (header_size > kMaxSafetensorsHeaderBytes) {
    fail(ErrorCode::CorruptFile, file,
         "header length " + std::to_string(header_size) + " exceeds the limit of " +
             std::to_string(kMaxSafetensorsHeaderBytes) + " bytes");
  }
  if (header_size > size - 8) {
    fail(ErrorCode::CorruptFile, file,
         "header length " + std::to_string(header_size) + " runs past the end of the file (" + std::to_string(size) +
             " bytes)");
  }

  SafetensorsHeader header;
  header.data_offset = 8 + header_size;
  const std::uint64_t data_size = size - header.data_offset;
  const std::string_view text(reinterpret_cast<const char*>(bytes + 8), static_cast<std::size_t>(header_size));
  const json root = parse_header_json(text, file);

  for (const auto& item : root.items()) {
    if (item.key() == "__metadata__") {
      header.metadata = parse_metadata(item.value(), file);
    } else {
      header.entries.push_back(parse_entry(item.key(), item.value(), data_size, file));
    }
  }
  sort_and_check_overlaps(header.entries, file);
  return header;
}

}  // namespace skyreels::io
