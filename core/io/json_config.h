#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace skyreels::io {

// A model's config.json with typed getters whose errors name the file and the key.
class JsonConfig {
public:
  // Throws skyreels::Error(NotFound) for a missing file, (CorruptFile) for bad JSON or a non-object root.
  static JsonConfig load(const std::string& path);
  // From text already in memory; `label` names it in messages.
  static JsonConfig parse(const std::string& text, const std::string& label);

  bool has(const std::string& key) const;
  // Required values: throw skyreels::Error(NotFound / CorruptFile) for a missing key or a wrong type.
  std::int64_t get_int(const std::string& key) const;
  double get_double(const std::string& key) const;  // accepts integers too
  bool get_bool(const std::string& key) const;
  std::string get_string(const std::string& key) const;
  std::vector<std::int64_t> get_int_list(const std::string& key) const;
  // Optional values: the fallback when the key is absent or null; a wrong type still throws.
  std::int64_t get_int(const std::string& key, std::int64_t fallback) const;
  double get_double(const std::string& key, double fallback) const;
  bool get_bool(const std::string& key, bool fallback) const;
  std::string get_string(const std::string& key, const std::string& fallback) const;

  const nlohmann::json& json() const noexcept { return json_; }
  const std::string& label() const noexcept { return label_; }

private:
  JsonConfig(nlohmann::json json, std::string label);
  const nlohmann::json& value(const std::string& key) const;

  nlohmann::json json_;
  std::string label_;
};

}  // namespace skyreels::io
