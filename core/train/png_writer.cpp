#include "train/png_writer.h"

#include <algorithm>
#include <array>
#include <string>

#include "io/atomic_file.h"
#include "skyreels/error.h"

namespace skyreels::train {
namespace {

constexpr std::size_t kMaxStoredBlock = 65535;  // a stored deflate block's LEN is 16 bits

// CRC-32 (ISO-HDLC: reflected polynomial 0xEDB88320), as the PNG chunks carry it.
std::uint32_t crc32(const std::string& bytes, std::size_t begin) {
  static const auto table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t n = 0; n < 256; ++n) {
      std::uint32_t c = n;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[n] = c;
    }
    return t;
  }();
  std::uint32_t c = 0xFFFFFFFFu;
  for (std::size_t i = begin; i < bytes.size(); ++i)
    c = table[(c ^ static_cast<std::uint8_t>(bytes[i])) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

// Adler-32, the zlib stream's checksum of the uncompressed data.
std::uint32_t adler32(const std::string& bytes) {
  constexpr std::uint32_t kMod = 65521;
  constexpr std::size_t kRun = 5552;  // the most bytes before the sums can overflow 32 bits
  std::uint32_t a = 1, b = 0;
  for (std::size_t begin = 0; begin < bytes.size(); begin += kRun) {
    const std::size_t end = std::min(bytes.size(), begin + kRun);
    for (std::size_t i = begin; i < end; ++i) {
      a += static_cast<std::uint8_t>(bytes[i]);
      b += a;
    }
    a %= kMod;
    b %= kMod;
  }
  return (b << 16) | a;
}

void put_u32_be(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xFF));
}

void put_u16_le(std::string& out, std::uint32_t v) {
  out.push_back(static_cast<char>(v & 0xFF));
  out.push_back(static_cast<char>((v >> 8) & 0xFF));
}

void put_chunk(std::string& png, const char* type, const std::string& data) {
  put_u32_be(png, static_cast<std::uint32_t>(data.size()));
  const std::size_t crc_begin = png.size();  // the CRC covers the type and the data, not the length
  png.append(type, 4);
  png += data;
  put_u32_be(png, crc32(png, crc_begin));
}

// A zlib stream of stored deflate blocks: header 0x78 0x01 (deflate, 32K window, no dictionary, and a
// check value making it a multiple of 31), the blocks, then the Adler-32 of the data.
std::string zlib_stored(const std::string& data) {
  std::string out = {'\x78', '\x01'};
  out.reserve(data.size() + data.size() / kMaxStoredBlock * 5 + 16);
  std::size_t pos = 0;
  do {
    const std::size_t len = std::min(kMaxStoredBlock, data.size() - pos);
    const bool final = pos + len == data.size();
    out.push_back(final ? '\x01' : '\x00');  // BFINAL, BTYPE 00; the rest of the byte pads to a boundary
    put_u16_le(out, static_cast<std::uint32_t>(len));
    put_u16_le(out, static_cast<std::uint32_t>(~len & 0xFFFF));
    out.append(data, pos, len);
    pos += len;
  } while (pos < data.size());
  put_u32_be(out, adler32(data));
  return out;
}

}  // namespace

void write_png_rgb(const std::filesystem::path& png, int width, int height, const std::vector<std::uint8_t>& rgb) {
  const auto name = png.string();
  if (width <= 0 || height <= 0)
    throw Error(ErrorCode::BadArgument, name + ": an image of " + std::to_string(width) + "x" + std::to_string(height) + " pixels");
  const std::size_t row_bytes = static_cast<std::size_t>(width) * 3;
  if (rgb.size() / row_bytes != static_cast<std::size_t>(height) || rgb.size() % row_bytes != 0)
    throw Error(ErrorCode::BadArgument, name + ": " + std::to_string(rgb.size()) + " bytes of pixels for a " +
                                            std::to_string(width) + "x" + std::to_string(height) + " RGB image");

  // Each row is preceded by its filter type, 0 (none).
  std::string raw;
  raw.reserve((row_bytes + 1) * static_cast<std::size_t>(height));
  for (int y = 0; y < height; ++y) {
    raw.push_back('\0');
    raw.append(reinterpret_cast<const char*>(rgb.data()) + y * row_bytes, row_bytes);
  }
  auto idat = zlib_stored(raw);
  raw = std::string();
  if (idat.size() > 0x7FFFFFFFu) throw Error(ErrorCode::BadArgument, name + ": image too large for one PNG chunk");

  std::string ihdr;
  put_u32_be(ihdr, static_cast<std::uint32_t>(width));
  put_u32_be(ihdr, static_cast<std::uint32_t>(height));
  ihdr += std::string{'\x08', '\x02', '\x00', '\x00', '\x00'};  // 8 bits, RGB, deflate, filter 0, no interlace

  std::string file = "\x89PNG\r\n\x1a\n";
  put_chunk(file, "IHDR", ihdr);
  put_chunk(file, "IDAT", idat);
  put_chunk(file, "IEND", {});
  io::write_file_atomically(png, file);
}

}  // namespace skyreels::train
