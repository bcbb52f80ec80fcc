#include "io/checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "skyreels/error.h"
#include "skyreels/strings.h"
#include "skyreels/log.h"

namespace skyreels::io {

namespace {

namespace fs = std::filesystem;
using Shards = std::vector<std::shared_ptr<const SafetensorsFile>>;

constexpr const char* kIndexSuffix = ".safetensors.index.json";

std::string in_quotes(const std::string& text) { return "\"" + text + "\""; }

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::NotFound, path + ": cannot open");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw Error(ErrorCode::Runtime, path + ": cannot read");
  return text.str();
}

// --- index files ----------------------------------------------------------------------------------

// weight_map of an index file: tensor -> shard path as written.
std::map<std::string, std::string> read_weight_map(const std::string& index_path) {
  nlohmann::json index;
  try {
    index = nlohmann::json::parse(read_text(index_path));
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::CorruptFile, index_path + ": not valid JSON: " + e.what());
  }
  if (!index.is_object()) throw Error(ErrorCode::CorruptFile, index_path + ": root must be a JSON object");
  const auto weight_map = index.find("weight_map");
  if (weight_map == index.end() || !weight_map->is_object()) {
    throw Error(ErrorCode::CorruptFile, index_path + ": missing \"weight_map\" object");
  }
  std::map<std::string, std::string> result;
  for (const auto& [tensor, shard] : weight_map->items()) {
    if (!shard.is_string()) {
      throw Error(ErrorCode::CorruptFile, index_path + ": weight_map value of tensor " + in_quotes(tensor) +
                                              " must be a file name, found " + shard.type_name());
    }
    result.emplace(tensor, shard.get<std::string>());
  }
  if (result.empty()) throw Error(ErrorCode::CorruptFile, index_path + ": weight_map names no tensors");
  return result;
}

// Shard paths are relative to the index's folder and must stay inside it.
fs::path checked_shard_path(const std::string& index_path, const std::string& tensor, const std::string& shard) {
  const fs::path relative(shard);
  bool escapes = shard.empty() || relative.has_root_name() || relative.has_root_directory();
  for (const auto& part : relative) escapes = escapes || part == "..";
  if (escapes) {
    throw Error(ErrorCode::CorruptFile, index_path + ": shard path " + in_quotes(shard) + " of tensor " + in_quotes(tensor) +
                                            " is not a file inside the index's folder");
  }
  return relative.lexically_normal();
}

std::shared_ptr<const SafetensorsFile> open_shard(const std::string& index_path, const std::string& shard_path,
                                                  const std::string& first_tensor) {
  try {
    return std::make_shared<const SafetensorsFile>(shard_path);
  } catch (const Error& e) {
    // Keep the shard's own code (NotFound, CorruptFile, ...) and add which index sent us there.
    throw Error(e.code(), index_path + ": shard of tensor " + in_quotes(first_tensor) + ": " + e.what());
  }
}

Shards open_index(const std::string& index_path) {
  const fs::path folder = fs::path(index_path).parent_path();
  std::map<fs::path, std::vector<std::string>> tensors_by_shard;
  for (const auto& [tensor, shard] : read_weight_map(index_path)) {
    tensors_by_shard[checked_shard_path(index_path, tensor, shard)].push_back(tensor);
  }

  Shards shards;
  for (const auto& [relative, tensors] : tensors_by_shard) {
    const std::string shard_path = (folder / relative).string();
    auto shard = open_shard(index_path, shard_path, tensors.front());
    for (const auto& tensor : tensors) {
      if (!shard->contains(tensor)) {
        throw Error(ErrorCode::CorruptFile, index_path + ": tensor " + in_quotes(tensor) + " is mapped to " +
                                                shard_path + ", which does not hold it");
      }
    }
    shards.push_back(std::move(shard));
  }
  return shards;
}

// --- directories ----------------------------------------------------------------------------------

struct DirectoryListing {
  std::vector<std::string> indexes;       // *.safetensors.index.json
  std::vector<std::string> safetensors;   // *.safetensors
};

DirectoryListing list_directory(const std::string& dir) {
  DirectoryListing listing;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || name.front() == '.') continue;  // hidden files, e.g. macOS "._x" resource forks
    std::error_code type_ec;
    if (!it->is_regular_file(type_ec)) continue;
    if (ends_with(name, kIndexSuffix)) listing.indexes.push_back(it->path().string());
    if (ends_with(name, ".safetensors")) listing.safetensors.push_back(it->path().string());
  }
  if (ec) throw Error(ErrorCode::NotFound, dir + ": cannot list the directory: " + ec.message());
  std::sort(listing.indexes.begin(), listing.indexes.end());
  std::sort(listing.safetensors.begin(), listing.safetensors.end());
  return listing;
}

Shards open_directory(const std::string& dir) {
  const DirectoryListing listing = list_directory(dir);
  if (listing.indexes.size() == 1) return open_index(listing.indexes.front());
  if (listing.indexes.size() > 1) {
    logger("io")->warn("{}: {} index files; loading every *.safetensors file instead", dir, listing.indexes.size());
  }
  if (listing.safetensors.empty()) {
    throw Error(ErrorCode::NotFound,
                dir + ": no checkpoint found (looked for *.safetensors files and a *.safetensors.index.json)");
  }
  Shards shards;
  for (const auto& path : listing.safetensors) shards.push_back(std::make_shared<const SafetensorsFile>(path));
  return shards;
}

Shards open_shards(const std::string& path) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (!fs::exists(status)) throw Error(ErrorCode::NotFound, path + ": no such file or directory");
  if (fs::is_directory(status)) return open_directory(path);
  if (ends_with(path, ".index.json")) return open_index(path);
  return {std::make_shared<const SafetensorsFile>(path)};
}

// Sorted (tensor, shard) pairs; a tensor held by two shards is an error naming both files.
std::vector<std::pair<std::string, std::size_t>> index_tensors(const std::string& source, const Shards& shards) {
  std::vector<std::pair<std::string, std::size_t>> index;
  for (std::size_t shard = 0; shard < shards.size(); ++shard) {
    for (const auto& entry : shards[shard]->entries()) index.emplace_back(entry.name, shard);
  }
  std::sort(index.begin(), index.end());
  for (std::size_t i = 1; i < index.size(); ++i) {
    if (index[i].first == index[i - 1].first) {
      throw Error(ErrorCode::CorruptFile, source + ": tensor " + in_quotes(index[i].first) + " appears in both " +
                                              shards[index[i - 1].second]->path() + " and " +
                                              shards[index[i].second]->path());
    }
  }
  return index;
}

using TensorIndex = std::vector<std::pair<std::string, std::size_t>>;

// Binary search of the sorted index; end() when the name is absent.
TensorIndex::const_iterator find_name(const TensorIndex& index, const std::string& name) {
  const auto it = std::lower_bound(index.begin(), index.end(), name,
                                   [](const auto& item, const std::string& key) { return item.first < key; });
  return it != index.end() && it->first == name ? it : index.end();
}

}  // namespace

Checkpoint Checkpoint::open(const std::string& path) {
  Checkpoint checkpoint;
  checkpoint.source_ = path;
  checkpoint.shards_ = open_shards(path);
  checkpoint.index_ = index_tensors(path, checkpoint.shards_);
  logger("io")->debug("{}: {} tensors in {} file(s)", path, checkpoint.index_.size(), checkpoint.shards_.size());
  return checkpoint;
}

std::vector<std::string> Checkpoint::keys() const {
  std::vector<std::string> names;
  names.reserve(index_.size());
  for (const auto& item : index_) names.push_back(item.first);
  return names;
}

bool Checkpoint::contains(const std::string& name) const { return find_name(index_, name) != index_.end(); }

std::size_t Checkpoint::shard_of(const std::string& name) const {
  const auto it = find_name(index_, name);
  if (it == index_.end()) {
    throw Error(ErrorCode::NotFound, source_ + ": no tensor " + in_quotes(name) + " in this checkpoint");
  }
  return it->second;
}

const SafetensorsEntry& Checkpoint::entry(const std::string& name) const { return shards_[shard_of(name)]->entry(name); }

at::Tensor Checkpoint::tensor(const std::string& name) const { return shards_[shard_of(name)]->tensor(name); }

const std::string& Checkpoint::file_of(const std::string& name) const { return shards_[shard_of(name)]->path(); }

}  // namespace skyreels::io
