#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace skyreels::hub {

// SHA-1 (FIPS 180-4), only for git's object ids: the Hub names a file kept in git (not LFS) by its
// blob id, sha1("blob <size>\0" + content), in its ETag and listing.
class Sha1 {
public:
  Sha1();
  void update(const void* data, std::size_t size);
  std::string hex_digest();  // 40 lowercase hex digits; finishes

private:
  void compress(const std::uint8_t* block);

  std::uint32_t state_[5];
  std::uint8_t block_[64] = {};
  std::size_t pending_ = 0;
  std::uint64_t total_bytes_ = 0;
};

// git's blob id of `file`. Throws Error(NotFound) when it cannot be opened, Error(Runtime) when reading fails.
std::string git_blob_id_of_file(const std::filesystem::path& file);

}  // namespace skyreels::hub
