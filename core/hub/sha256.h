#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace skyreels::hub {

// SHA-256 (FIPS 180-4), for checking downloads against the sha256 the Hub publishes.
class Sha256 {
public:
  Sha256();
  void update(const void* data, std::size_t size);
  std::array<std::uint8_t, 32> digest();  // finishes; call once
  std::string hex_digest();               // 64 lowercase hex digits; finishes

private:
  void compress(const std::uint8_t* block);

  std::uint32_t state_[8];
  std::uint8_t block_[64] = {};
  std::size_t pending_ = 0;
  std::uint64_t total_bytes_ = 0;
};

// The sha256 of every byte of `file`, as 64 lowercase hex digits. Throws Error(NotFound) when it cannot
// be opened, Error(Runtime) when reading fails.
std::string sha256_of_file(const std::filesystem::path& file);

}  // namespace skyreels::hub
