#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "hub/block_hash.h"

namespace skyreels::hub {

// SHA-256 (FIPS 180-4), for checking downloads against the sha256 the Hub publishes.
// update(), digest() (32 bytes; finishes, call once) and hex_digest() (64 lowercase hex digits) come
// from BlockHash.
class Sha256 : public BlockHash<Sha256, 8> {
public:
  Sha256();

private:
  friend class BlockHash<Sha256, 8>;
  void compress(const std::uint8_t* block);
};

// The sha256 of every byte of `file`, as 64 lowercase hex digits. Throws Error(NotFound) when it cannot
// be opened, Error(Runtime) when reading fails.
std::string sha256_of_file(const std::filesystem::path& file);

}  // namespace skyreels::hub
