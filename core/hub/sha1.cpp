#include "hub/sha1.h"

#include <fstream>

#include "skyreels/error.h"

namespace skyreels::hub {
namespace {

std::uint32_t rotl(std::uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

}  // namespace

Sha1::Sha1() : BlockHash({0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0}) {}

void Sha1::compress(const std::uint8_t* block) {
  std::uint32_t w[80];
  load_words(block, w);
  for (int i = 16; i < 80; ++i) w[i] = rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
  auto a = state_[0], b = state_[1], c = state_[2], d = state_[3], e = state_[4];
  for (int i = 0; i < 80; ++i) {
    std::uint32_t f, k;
    if (i < 20) f = (b & c) | (~b & d), k = 0x5a827999;
    else if (i < 40) f = b ^ c ^ d, k = 0x6ed9eba1;
    else if (i < 60) f = (b & c) | (b & d) | (c & d), k = 0x8f1bbcdc;
    else f = b ^ c ^ d, k = 0xca62c1d6;
    const auto t = rotl(a, 5) + f + e + k + w[i];
    e = d;
    d = c;
    c = rotl(b, 30);
    b = a;
    a = t;
  }
  state_[0] += a;
  state_[1] += b;
  state_[2] += c;
  state_[3] += d;
  state_[4] += e;
}

std::string git_blob_id_of_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::error_code ec;
  const auto size = std::filesystem::file_size(file, ec);
  if (!in || ec) throw Error(ErrorCode::NotFound, file.string() + ": cannot read it to check its git blob id");
  Sha1 hash;
  const auto header = "blob " + std::to_string(size);
  hash.update(header.c_str(), header.size() + 1);  // with its NUL
  if (!hash_stream(in, hash, std::size_t{1} << 20)) throw Error(ErrorCode::Runtime, file.string() + ": reading failed while checking its git blob id");
  return hash.hex_digest();
}

}  // namespace skyreels::hub
