#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "hub/block_hash.h"

namespace skyreels::hub {

// SHA-1 (FIPS 180-4), only for git's object ids: the Hub names a file kept in git (not LFS) by its
// blob id, sha1("blob <size>\0" + content), in its ETag and listing.
// update(), digest() and hex_digest() (40 lowercase hex digits; finishes) come from BlockHash.
class Sha1 : public BlockHash<Sha1, 5> {
public:
  Sha1();

private:
  friend class BlockHash<Sha1, 5>;
  void compress(const std::uint8_t* block);
};

// git's blob id of `file`. Throws Error(NotFound) when it cannot be opened, Error(Runtime) when reading fails.
std::string git_blob_id_of_file(const std::filesystem::path& file);

}  // namespace skyreels::hub
