#include "io/content_hash.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <vector>

#include "skyreels/error.h"

namespace skyreels::io {
namespace {

constexpr std::uint64_t kPrime1 = 0x9e3779b185ebca87ULL, kPrime2 = 0xc2b2ae3d27d4eb4fULL,
                        kPrime3 = 0x165667b19e3779f9ULL;

std::uint64_t rotl(std::uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

}  // namespace

ContentHash::ContentHash() : lanes_{kPrime1 + kPrime2, kPrime2, 0, 0 - kPrime1} {}

void ContentHash::update(const unsigned char* data, std::size_t size) {
  total_ += size;
  while (size > 0) {
    const auto take = std::min(size, kBlock - pending_);
    std::memcpy(block_ + pending_, data, take);
    pending_ += take;
    data += take;
    size -= take;
    if (pending_ == kBlock) mix_block();
  }
}

std::uint64_t ContentHash::digest() {
  std::fill(block_ + pending_, block_ + kBlock, 0);
  if (pending_ > 0) mix_block();
  std::uint64_t h = total_ * kPrime1;
  for (const auto lane : lanes_) h = rotl(h ^ lane, 29) * kPrime2 + kPrime3;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  return h ^ (h >> 33);
}

void ContentHash::mix_block() {
  for (std::size_t i = 0; i < 4; ++i) {
    std::uint64_t word;
    std::memcpy(&word, block_ + 8 * i, 8);
    lanes_[i] = rotl(lanes_[i] + word * kPrime2, 31) * kPrime1;
  }
  pending_ = 0;
}

std::uint64_t hash_file(const std::filesystem::path& file, const std::string& what) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(ErrorCode::NotFound, file.string() + ": cannot read the " + what);
  ContentHash hash;
  std::vector<unsigned char> buffer(std::size_t{8} << 20);
  while (in) {
    in.read(reinterpret_cast<char*>(buffer.data()), static_cast<std::streamsize>(buffer.size()));
    hash.update(buffer.data(), static_cast<std::size_t>(in.gcount()));
  }
  if (in.bad()) throw Error(ErrorCode::Runtime, file.string() + ": reading failed");
  return hash.digest();
}

std::string hex_digest(std::uint64_t v) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(v));
  return text;
}

}  // namespace skyreels::io
