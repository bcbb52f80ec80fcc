#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace skyreels::api {

// The files holding a DiT's weights (model_folder.h's `dit`): the file itself, an index and the shards
// it names, or every *.safetensors of a folder of shards. Sorted, index first.
std::vector<std::filesystem::path> weight_files(const std::string& dit);

// A content hash of `files` (16 hex digits): every byte of every file, in order. Reading a 14B
// checkpoint takes a while, so results are kept in `cache_file` (JSON) under each file's path, size
// and modification time, and a file that did not change is not read again. An empty `cache_file`
// caches nothing; an unreadable or damaged cache is ignored and rewritten.
std::string weights_hash(const std::vector<std::filesystem::path>& files, const std::filesystem::path& cache_file);

// $XDG_CACHE_HOME/skyreels-studio/weights-hashes.json (else ~/.cache/...).
std::filesystem::path default_hash_cache();

}  // namespace skyreels::api
