#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <istream>
#include <string>
#include <vector>

namespace skyreels::hub {

// The frame SHA-1 and SHA-256 share (FIPS 180-4): 64-byte blocks read as big-endian 32-bit words, and
// the padding 0x80, zeros, the message's length in bits. `Derived` supplies compress(block), which
// updates state_; it befriends this class.
template <typename Derived, std::size_t Words>
class BlockHash {
public:
  void update(const void* data, std::size_t size) {
    auto bytes = static_cast<const std::uint8_t*>(data);
    total_bytes_ += size;
    if (pending_ > 0) {
      const auto take = size < sizeof block_ - pending_ ? size : sizeof block_ - pending_;
      std::memcpy(block_ + pending_, bytes, take);
      pending_ += take;
      bytes += take;
      size -= take;
      if (pending_ < sizeof block_) return;
      compress(block_);
      pending_ = 0;
    }
    for (; size >= sizeof block_; bytes += sizeof block_, size -= sizeof block_) compress(bytes);
    std::memcpy(block_, bytes, size);
    pending_ = size;
  }

  // Pads and returns the state as big-endian bytes; finishes, call once.
  std::array<std::uint8_t, 4 * Words> digest() {
    const std::uint64_t bits = total_bytes_ * 8;
    const std::uint8_t one = 0x80, zero = 0;
    update(&one, 1);
    while (pending_ != 56) update(&zero, 1);
    std::uint8_t length[8];
    for (int i = 0; i < 8; ++i) length[i] = static_cast<std::uint8_t>(bits >> (56 - 8 * i));
    update(length, 8);
    std::array<std::uint8_t, 4 * Words> out{};
    for (std::size_t i = 0; i < Words; ++i)
      for (std::size_t j = 0; j < 4; ++j) out[4 * i + j] = static_cast<std::uint8_t>(state_[i] >> (24 - 8 * j));
    return out;
  }

  // digest() as lowercase hex digits.
  std::string hex_digest() {
    static const char* kHex = "0123456789abcdef";
    std::string text;
    for (const auto byte : digest()) {
      text += kHex[byte >> 4];
      text += kHex[byte & 15];
    }
    return text;
  }

protected:
  explicit BlockHash(const std::array<std::uint32_t, Words>& initial) : state_(initial) {}

  // The 16 big-endian words of a block.
  static void load_words(const std::uint8_t* block, std::uint32_t* w) {
    for (int i = 0; i < 16; ++i)
      w[i] = std::uint32_t{block[4 * i]} << 24 | std::uint32_t{block[4 * i + 1]} << 16 |
             std::uint32_t{block[4 * i + 2]} << 8 | std::uint32_t{block[4 * i + 3]};
  }

  std::array<std::uint32_t, Words> state_;

private:
  void compress(const std::uint8_t* block) { static_cast<Derived*>(this)->compress(block); }

  std::uint8_t block_[64] = {};
  std::size_t pending_ = 0;
  std::uint64_t total_bytes_ = 0;
};

// Feeds `hash` every byte of `in`, `buffer_bytes` at a time. False when reading failed.
template <typename Hash>
bool hash_stream(std::istream& in, Hash& hash, std::size_t buffer_bytes) {
  std::vector<char> buffer(buffer_bytes);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    hash.update(buffer.data(), static_cast<std::size_t>(in.gcount()));
  }
  return !in.bad();
}

}  // namespace skyreels::hub
