#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace skyreels::io {

// A 64-bit hash over 8-byte words in four independent lanes (so the multiplies pipeline), each lane a
// multiply-rotate chain, folded with the length and a final avalanche. Fast enough to read a checkpoint
// at disk speed; not cryptographic (it names a file's content, it does not defend it).
class ContentHash {
public:
  ContentHash();
  void update(const unsigned char* data, std::size_t size);
  std::uint64_t digest();

private:
  static constexpr std::size_t kBlock = 32;
  void mix_block();

  std::uint64_t lanes_[4];
  unsigned char block_[kBlock] = {};
  std::size_t pending_ = 0;
  std::uint64_t total_ = 0;
};

// The content hash of every byte of `file`. Throws Error(NotFound) naming `what` and the file when it
// cannot be opened, Error(Runtime) when reading fails.
std::uint64_t hash_file(const std::filesystem::path& file, const std::string& what = "file");

// 16 lowercase hex digits.
std::string hex_digest(std::uint64_t digest);

}  // namespace skyreels::io
