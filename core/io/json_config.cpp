#include "io/json_config.h"

#include <fstream>
#include <limits>
#include <sstream>
#include <utility>

#include <sys/stat.h>

#include "skyreels/error.h"

namespace skyreels::io {

namespace {

using Json = nlohmann::json;

// The JSON type of a value for messages; integers and fractions are told apart.
std::string kind_of(const Json& value) {
  if (value.is_number_integer()) return "integer";
  if (value.is_number_float()) return "float";
  return value.type_name();
}

// Config, settings and manifest files are small; anything larger is not one of them (and reading
// it whole could exhaust memory).
constexpr std::int64_t kMaxJsonFileBytes = std::int64_t{16} << 20;

std::string read_config_text(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) throw Error(ErrorCode::NotFound, path + ": no such file");
  if (S_ISDIR(info.st_mode)) throw Error(ErrorCode::BadArgument, path + ": is a directory, expected a JSON file");
  // A FIFO or a device would block or never end: only regular files are read.
  if (!S_ISREG(info.st_mode)) throw Error(ErrorCode::BadArgument, path + ": not a regular file, expected a JSON file");
  if (info.st_size > kMaxJsonFileBytes)
    throw Error(ErrorCode::BadArgument, path + ": " + std::to_string(info.st_size) + " bytes is too large for a JSON " +
                                            "config (at most " + std::to_string(kMaxJsonFileBytes) + ")");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::NotFound, path + ": cannot open");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw Error(ErrorCode::Runtime, path + ": cannot read");
  return text.str();
}

}  // namespace

JsonConfig::JsonConfig(nlohmann::json json, std::string label) : json_(std::move(json)), label_(std::move(label)) {}

JsonConfig JsonConfig::load(const std::string& path) { return parse(read_config_text(path), path); }

JsonConfig JsonConfig::parse(const std::string& text, const std::string& label) {
  Json root;
  try {
    root = Json::parse(text);
  } catch (const Json::exception& e) {
    throw Error(ErrorCode::CorruptFile, label + ": not valid JSON: " + e.what());
  }
  if (!root.is_object()) {
    throw Error(ErrorCode::CorruptFile, label + ": root must be a JSON object, found " + kind_of(root));
  }
  return JsonConfig(std::move(root), label);
}

bool JsonConfig::has(const std::string& key) const { return json_.contains(key); }

const Json& JsonConfig::value(const std::string& key) const {
  const auto it = json_.find(key);
  if (it == json_.end()) throw Error(ErrorCode::NotFound, label_ + ": missing key \"" + key + "\"");
  return *it;
}

namespace {

[[noreturn]] void wrong_type(const std::string& label, const std::string& key, const char* expected,
                             const Json& found) {
  throw Error(ErrorCode::CorruptFile, label + ": key \"" + key + "\" must be " + expected + ", found " + kind_of(found));
}

// An integer that fits int64 (nlohmann keeps large non-negative integers as unsigned).
std::int64_t as_int(const std::string& label, const std::string& key, const Json& value) {
  if (!value.is_number_integer()) wrong_type(label, key, "an integer", value);
  if (value.is_number_unsigned() &&
      value.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    throw Error(ErrorCode::CorruptFile, label + ": key \"" + key + "\" = " + value.dump() + " does not fit in int64");
  }
  return value.get<std::int64_t>();
}

double as_double(const std::string& label, const std::string& key, const Json& value) {
  if (!value.is_number()) wrong_type(label, key, "a number", value);
  return value.get<double>();
}

bool as_bool(const std::string& label, const std::string& key, const Json& value) {
  if (!value.is_boolean()) wrong_type(label, key, "a boolean", value);
  return value.get<bool>();
}

std::string as_string(const std::string& label, const std::string& key, const Json& value) {
  if (!value.is_string()) wrong_type(label, key, "a string", value);
  return value.get<std::string>();
}

}  // namespace

std::int64_t JsonConfig::get_int(const std::string& key) const { return as_int(label_, key, value(key)); }

double JsonConfig::get_double(const std::string& key) const { return as_double(label_, key, value(key)); }

bool JsonConfig::get_bool(const std::string& key) const { return as_bool(label_, key, value(key)); }

std::string JsonConfig::get_string(const std::string& key) const { return as_string(label_, key, value(key)); }

std::vector<std::int64_t> JsonConfig::get_int_list(const std::string& key) const {
  const Json& list = value(key);
  if (!list.is_array()) wrong_type(label_, key, "a list of integers", list);
  std::vector<std::int64_t> result;
  result.reserve(list.size());
  for (std::size_t i = 0; i < list.size(); ++i) {
    result.push_back(as_int(label_, key + "[" + std::to_string(i) + "]", list[i]));
  }
  return result;
}

// Optional getters: absent and null both mean "use the fallback" (configs write None as null).
std::int64_t JsonConfig::get_int(const std::string& key, std::int64_t fallback) const {
  const auto it = json_.find(key);
  return it == json_.end() || it->is_null() ? fallback : as_int(label_, key, *it);
}

double JsonConfig::get_double(const std::string& key, double fallback) const {
  const auto it = json_.find(key);
  return it == json_.end() || it->is_null() ? fallback : as_double(label_, key, *it);
}

bool JsonConfig::get_bool(const std::string& key, bool fallback) const {
  const auto it = json_.find(key);
  return it == json_.end() || it->is_null() ? fallback : as_bool(label_, key, *it);
}

std::string JsonConfig::get_string(const std::string& key, const std::string& fallback) const {
  const auto it = json_.find(key);
  return it == json_.end() || it->is_null() ? fallback : as_string(label_, key, *it);
}

}  // namespace skyreels::io
