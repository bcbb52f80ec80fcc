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

#include "pipeline/prompt_embedding_cache.h"
#include "skyreels/error.h"
#include "skyreels/strings.h"

namespace skyreels::api {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

// A 64-bit hash over 8-byte words in four independent lanes (so the multiplies pipeline), each lane a
// multiply-rotate chain, folded with the length and a final avalanche. Fast enough to read a checkpoint
// at disk speed; not cryptographic (it names a model, it does not defend one).
class ContentHash {
public:
  void update(const unsigned char* data, std::size_t size) {
    total_ += size;
    while (size > 0) {
      const auto take = std::min(size, kBlock - pending_);
      std::memcpy(block_.data() + pending_, data, take);
      pending_ += take;
      data += take;
      size -= take;
      if (pending_ == kBlock) mix_block();
    }
  }
  std::uint64_t digest() {
    std::fill(block_.begin() + static_cast<std::ptrdiff_t>(pending_), block_.end(), 0);
    if (pending_ > 0) mix_block();
    std::uint64_t h = total_ * kPrime1;
    for (const auto lane : lanes_) h = rotl(h ^ lane, 29) * kPrime2 + kPrime3;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 33);
  }

private:
  static constexpr std::size_t kBlock = 32;
  static constexpr std::uint64_t kPrime1 = 0x9e3779b185ebca87ULL, kPrime2 = 0xc2b2ae3d27d4eb4fULL,
                                 kPrime3 = 0x165667b19e3779f9ULL;
  static std::uint64_t rotl(std::uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
  void mix_block() {
    for (std::size_t i = 0; i < 4; ++i) {
      std::uint64_t word;
      std::memcpy(&word, block_.data() + 8 * i, 8);
      lanes_[i] = rotl(lanes_[i] + word * kPrime2, 31) * kPrime1;
    }
    pending_ = 0;
  }

  std::array<std::uint64_t, 4> lanes_{kPrime1 + kPrime2, kPrime2, 0, 0 - kPrime1};
  std::array<unsigned char, kBlock> block_{};
  std::size_t pending_ = 0;
  std::uint64_t total_ = 0;
};

std::string hex(std::uint64_t v) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(v));
  return text;
}

std::string stamp_key(const fs::path& file) {
  std::error_code ec;
  const auto size = fs::file_size(file, ec);
  const auto time = fs::last_write_time(file, ec).time_since_epoch().count();
  return fs::absolute(file, ec).string() + "|" + std::to_string(size) + "|" + std::to_string(time);
}

std::uint64_t hash_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(ErrorCode::NotFound, file.string() + ": cannot read the model's weights");
  ContentHash hash;
  std::vector<unsigned char> buffer(std::size_t{8} << 20);
  while (in) {
    in.read(reinterpret_cast<char*>(buffer.data()), static_cast<std::streamsize>(buffer.size()));
    hash.update(buffer.data(), static_cast<std::size_t>(in.gcount()));
  }
  if (in.bad()) throw Error(ErrorCode::Runtime, file.string() + ": reading failed");
  return hash.digest();
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
  ContentHash combined;
  for (const auto& file : files) {
    const auto key = stamp_key(file);
    std::string digest;
    if (cache.contains(key) && cache[key].is_string()) {
      digest = cache[key].get<std::string>();
    } else {
      digest = hex(hash_file(file));
      cache[key] = digest;
      changed = true;
    }
    combined.update(reinterpret_cast<const unsigned char*>(digest.data()), digest.size());
  }
  if (changed && !cache_file.empty()) write_cache(cache_file, cache);
  return hex(combined.digest());
}

fs::path default_hash_cache() {
  // Beside the prompt-embedding cache, under the same $XDG_CACHE_HOME/skyreels-studio.
  return pipeline::PromptEmbeddingCache::default_dir().parent_path() / "weights-hashes.json";
}

}  // namespace skyreels::api
