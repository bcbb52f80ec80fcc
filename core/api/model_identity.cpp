#include "api/model_identity.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <set>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "io/content_hash.h"
#include "pipeline/prompt_embedding_cache.h"
#include "skyreels/error.h"
#include "skyreels/strings.h"

namespace skyreels::api {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

std::string stamp_key(const fs::path& file) {
  std::error_code ec;
  const auto size = fs::file_size(file, ec);
  const auto time = fs::last_write_time(file, ec).time_since_epoch().count();
  return fs::absolute(file, ec).string() + "|" + std::to_string(size) + "|" + std::to_string(time);
}

Json read_cache(const fs::path& cache_file) {
  std::error_code ec;
  if (cache_file.empty() || !fs::is_regular_file(cache_file, ec) || fs::file_size(cache_file, ec) > (std::uint64_t{1} << 20))
    return Json::object();
  std::ifstream in(cache_file);
  auto json = Json::parse(in, nullptr, /*allow_exceptions=*/false);
  return json.is_object() ? json : Json::object();
}

void write_cache(const fs::path& cache_file, const Json& cache) {
  std::error_code ec;
  fs::create_directories(cache_file.parent_path(), ec);
  const auto temporary = cache_file.string() + "." + std::to_string(::getpid()) + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << cache.dump();
    if (!out) return;  // a cache that cannot be written is only slower next time
  }
  fs::rename(temporary, cache_file, ec);
  if (ec) fs::remove(temporary, ec);
}

}  // namespace

std::vector<fs::path> weight_files(const std::string& dit) {
  std::error_code ec;
  std::vector<fs::path> files;
  if (fs::is_directory(dit, ec)) {
    for (const auto& entry : fs::directory_iterator(dit, ec))
      if (entry.is_regular_file(ec) && ends_with(entry.path().filename().string(), ".safetensors"))
        files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    return files;
  }
  files.emplace_back(dit);
  if (ends_with(dit, ".index.json")) {
    std::ifstream in(dit);
    const auto index = Json::parse(in, nullptr, /*allow_exceptions=*/false);
    std::set<std::string> shards;
    if (index.is_object() && index.contains("weight_map") && index["weight_map"].is_object())
      for (const auto& [key, shard] : index["weight_map"].items())
        if (shard.is_string()) shards.insert(shard.get<std::string>());
    for (const auto& shard : shards) files.push_back(fs::path(dit).parent_path() / shard);
  }
  return files;
}

std::string weights_hash(const std::vector<fs::path>& files, const fs::path& cache_file) {
  auto cache = read_cache(cache_file);
  bool changed = false;
  io::ContentHash combined;
  for (const auto& file : files) {
    const auto key = stamp_key(file);
    std::string digest;
    if (cache.contains(key) && cache[key].is_string()) {
      digest = cache[key].get<std::string>();
    } else {
      digest = io::hex_digest(io::hash_file(file, "model's weights"));
      cache[key] = digest;
      changed = true;
    }
    combined.update(reinterpret_cast<const unsigned char*>(digest.data()), digest.size());
  }
  if (changed && !cache_file.empty()) write_cache(cache_file, cache);
  return io::hex_digest(combined.digest());
}

fs::path default_hash_cache() {
  // Beside the prompt-embedding cache, under the same $XDG_CACHE_HOME/skyreels-studio.
  return pipeline::PromptEmbeddingCache::default_dir().parent_path() / "weights-hashes.json";
}

}  // namespace skyreels::api
