#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

namespace skyreels::train {

// Writes an 8-bit RGB image as a PNG file: `rgb` holds `height` rows of `width` pixels, top row first,
// 3 bytes (R, G, B) a pixel. The pixels go uncompressed (stored deflate blocks), so the encoder needs no
// zlib; the price is a file as large as the pixels. The file is written beside `png` and renamed into
// place. Errors (skyreels::Error): BadArgument when the sizes disagree, Runtime / NotFound naming the path
// when it cannot be written.
void write_png_rgb(const std::filesystem::path& png, int width, int height, const std::vector<std::uint8_t>& rgb);

}  // namespace skyreels::train
