// The loss plot and its PNG encoder, read back by a decoder of the test's own: the PNG structure and
// checksums, then where the curves lie in the pixels.

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "skyreels/error.h"
#include "test_support.h"
#include "train/loss_plot.h"
#include "train/png_writer.h"

namespace {

namespace fs = std::filesystem;
namespace train = skyreels::train;
using skyreels::ErrorCode;
using skyreels::test::error_text;
using skyreels::test::read_file;
using skyreels::test::TempDir;

struct Png {
  int width = 0, height = 0;
  int stored_blocks = 0;
  std::vector<std::uint8_t> rgb;  // rows top first, 3 bytes a pixel
};

std::uint32_t be32(const std::string& s, std::size_t at) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<std::uint8_t>(s[at + i]);
  return v;
}

// CRC-32 a bit at a time, independent of the writer's table.
std::uint32_t crc32_bitwise(const std::string& s, std::size_t begin, std::size_t size) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (std::size_t i = begin; i < begin + size; ++i) {
    crc ^= static_cast<std::uint8_t>(s[i]);
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

std::uint32_t adler32_plain(const std::string& data) {
  std::uint32_t a = 1, b = 0;
  for (const char c : data) {
    a = (a + static_cast<std::uint8_t>(c)) % 65521;
    b = (b + a) % 65521;
  }
  return (b << 16) | a;
}

// Decodes what write_png_rgb is specified to write (8-bit RGB, stored deflate blocks, filter 0 rows),
// checking every checksum; anything else fails the test.
void decode_png(const fs::path& path, Png& png) {
  const auto file = read_file(path);
  ASSERT_GE(file.size(), 8u);
  ASSERT_EQ(file.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));

  std::string idat;
  bool ended = false;
  for (std::size_t pos = 8; pos < file.size();) {
    ASSERT_FALSE(ended) << "bytes after IEND";
    ASSERT_LE(pos + 12, file.size());
    const std::uint32_t length = be32(file, pos);
    const auto type = file.substr(pos + 4, 4);
    ASSERT_LE(pos + 12 + length, file.size()) << type;
    EXPECT_EQ(crc32_bitwise(file, pos + 4, 4 + length), be32(file, pos + 8 + length)) << type << " CRC";
    const auto data = file.substr(pos + 8, length);
    if (pos == 8) {
      ASSERT_EQ(type, "IHDR");
    }
    if (type == "IHDR") {
      ASSERT_EQ(length, 13u);
      png.width = static_cast<int>(be32(data, 0));
      png.height = static_cast<int>(be32(data, 4));
      EXPECT_EQ(data[8], 8) << "bit depth";
      EXPECT_EQ(data[9], 2) << "colour type (RGB)";
      EXPECT_EQ(data.substr(10), std::string(3, '\0')) << "compression, filter, interlace";
    } else if (type == "IDAT") {
      idat += data;
    } else {
      ASSERT_EQ(type, "IEND");
      EXPECT_EQ(length, 0u);
      ended = true;
    }
    pos += 12 + length;
  }
  ASSERT_TRUE(ended);

  // zlib: deflate with a window of at most 32K, no preset dictionary, a header check multiple of 31.
  ASSERT_GE(idat.size(), 2u + 5u + 4u);
  const auto cmf = static_cast<std::uint8_t>(idat[0]), flg = static_cast<std::uint8_t>(idat[1]);
  EXPECT_EQ(cmf & 0x0F, 8);
  EXPECT_LE(cmf >> 4, 7);
  EXPECT_EQ((cmf * 256 + flg) % 31, 0);
  EXPECT_EQ(flg & 0x20, 0);
  std::string raw;
  std::size_t pos = 2;
  for (bool final = false; !final;) {
    ASSERT_LE(pos + 5, idat.size());
    const auto header = static_cast<std::uint8_t>(idat[pos]);
    ASSERT_EQ((header >> 1) & 3, 0) << "not a stored block";
    final = header & 1;
    const std::uint32_t len = static_cast<std::uint8_t>(idat[pos + 1]) | static_cast<std::uint8_t>(idat[pos + 2]) << 8;
    const std::uint32_t nlen = static_cast<std::uint8_t>(idat[pos + 3]) | static_cast<std::uint8_t>(idat[pos + 4]) << 8;
    ASSERT_EQ(len, ~nlen & 0xFFFFu);
    ASSERT_LE(pos + 5 + len, idat.size());
    raw.append(idat, pos + 5, len);
    pos += 5 + len;
    ++png.stored_blocks;
  }
  ASSERT_EQ(pos + 4, idat.size()) << "the Adler-32 should end the stream";
  EXPECT_EQ(be32(idat, pos), adler32_plain(raw)) << "Adler-32";

  const std::size_t row_bytes = static_cast<std::size_t>(png.width) * 3;
  ASSERT_EQ(raw.size(), (row_bytes + 1) * png.height);
  for (int y = 0; y < png.height; ++y) {
    const std::size_t begin = y * (row_bytes + 1);
    ASSERT_EQ(raw[begin], '\0') << "row " << y << " filter";
    png.rgb.insert(png.rgb.end(), raw.begin() + begin + 1, raw.begin() + begin + 1 + row_bytes);
  }
}

bool is(const Png& png, int x, int y, const train::Rgb& colour) {
  const auto* p = &png.rgb[(static_cast<std::size_t>(y) * png.width + x) * 3];
  return p[0] == colour[0] && p[1] == colour[1] && p[2] == colour[2];
}

int count(const Png& png, const train::Rgb& colour, int x_begin = 0, int x_end = -1) {
  int n = 0;
  for (int y = 0; y < png.height; ++y)
    for (int x = x_begin; x < (x_end < 0 ? png.width : x_end); ++x) n += is(png, x, y, colour);
  return n;
}

// The mean row of `colour`'s pixels in column x; NaN if it has none.
double mean_row(const Png& png, const train::Rgb& colour, int x) {
  double sum = 0;
  int n = 0;
  for (int y = 0; y < png.height; ++y)
    if (is(png, x, y, colour)) sum += y, ++n;
  return n ? sum / n : std::nan("");
}

// The first and last columns of [x_begin, x_end) holding `colour`.
std::pair<int, int> column_span(const Png& png, const train::Rgb& colour, int x_begin, int x_end) {
  int first = -1, last = -1;
  for (int x = x_begin; x < x_end; ++x)
    if (!std::isnan(mean_row(png, colour, x))) {
      if (first < 0) first = x;
      last = x;
    }
  return {first, last};
}

// A loss falling from `from` by `decades` over `steps` steps, with a noise of +-30%.
std::vector<train::LossRow> noisy_curve(const std::string& stage, int steps, double from, double decades) {
  std::vector<train::LossRow> rows;
  for (int step = 0; step < steps; ++step) {
    const double noise = 1.0 + 0.6 * ((step * 7919 % 101) / 100.0 - 0.5);
    rows.push_back({stage, step, from * std::pow(10.0, -decades * step / steps) * noise, 1e-4, step * 0.1});
  }
  return rows;
}

TEST(LossLogPlot, ADescendingLossEndsLowerThanItStarts) {
  TempDir dir;
  const auto path = dir / "loss.png";
  train::write_loss_plot(path, noisy_curve("pretrain", 500, 2.0, 2.0));
  Png png;
  ASSERT_NO_FATAL_FAILURE(decode_png(path, png));
  EXPECT_EQ(png.width, 960);
  EXPECT_EQ(png.height, 540);
  EXPECT_GE(png.stored_blocks, 2) << "960x540 pixels need more than one 64 KiB stored block";

  EXPECT_GT(count(png, train::kLossRawColour), 500) << "the raw loss, light";
  EXPECT_GT(count(png, train::kLossAverageColour), 500) << "its moving average, dark";
  const auto [left, right] = column_span(png, train::kLossAverageColour, 0, png.width);
  EXPECT_LT(left, png.width / 8);
  EXPECT_GT(right, png.width * 7 / 8);
  const double left_y = mean_row(png, train::kLossAverageColour, left);
  const double right_y = mean_row(png, train::kLossAverageColour, right);
  EXPECT_GT(right_y - left_y, png.height / 3) << "image rows grow downwards: a falling loss ends lower";

  using fs::directory_iterator;
  EXPECT_EQ(std::distance(directory_iterator(dir.path()), directory_iterator()), 1) << "a temporary file was left";
}

TEST(LossLogPlot, TheYAxisIsLogarithmic) {
  // 10^(-step/100): a straight line on a log axis, a sharply bent one on a linear axis.
  std::vector<train::LossRow> rows;
  for (int step = 0; step <= 300; ++step) rows.push_back({"a", step, std::pow(10.0, -step / 100.0), 0, 0});
  TempDir dir;
  train::write_loss_plot(dir / "loss.png", rows, 600, 400);
  Png png;
  ASSERT_NO_FATAL_FAILURE(decode_png(dir / "loss.png", png));
  const auto [left, right] = column_span(png, train::kLossAverageColour, 0, png.width);
  const double left_y = mean_row(png, train::kLossAverageColour, left);
  const double right_y = mean_row(png, train::kLossAverageColour, right);
  const double middle_y = mean_row(png, train::kLossAverageColour, (left + right) / 2);
  ASSERT_GT(right_y - left_y, 200);
  EXPECT_NEAR(middle_y, (left_y + right_y) / 2, 4);
}

TEST(LossLogPlot, StagesGetPanelsAndUnplottableLossesAreLeftOut) {
  auto rows = noisy_curve("pretrain", 300, 1.0, 1.5);
  for (auto& row : noisy_curve("finetune", 300, 0.1, -1.5)) rows.push_back(row);  // a rising loss
  const double nan = std::nan(""), inf = std::numeric_limits<double>::infinity();
  for (const double bad : {nan, inf, -inf, 0.0, -1.0}) rows.push_back({"pretrain", 150, bad, 0, 0});
  for (const double bad : {nan, 0.0}) rows.push_back({"diverged", 1, bad, 0, 0});
  TempDir dir;
  train::write_loss_plot(dir / "loss.png", rows);
  Png png;
  ASSERT_NO_FATAL_FAILURE(decode_png(dir / "loss.png", png));

  // Three panels side by side in the order the stages first appear; the third has nothing to draw.
  const int third = png.width / 3;
  for (const int panel : {0, 1}) {
    const auto [left, right] = column_span(png, train::kLossAverageColour, panel * third, (panel + 1) * third);
    ASSERT_GE(left, panel * third) << panel;
    EXPECT_GT(right - left, third / 2) << panel;
    const double fall = mean_row(png, train::kLossAverageColour, right) -
                        mean_row(png, train::kLossAverageColour, left);
    if (panel == 0) {
      EXPECT_GT(fall, png.height / 4) << "pretrain falls";
    } else {
      EXPECT_LT(fall, -png.height / 4) << "finetune rises";
    }
    EXPECT_GT(count(png, train::kLossRawColour, panel * third, (panel + 1) * third), 100) << panel;
  }
  EXPECT_EQ(count(png, train::kLossAverageColour, 2 * third, png.width), 0);
  EXPECT_EQ(count(png, train::kLossRawColour, 2 * third, png.width), 0);
}

TEST(LossLogPlot, NoRowsDrawsAPlotSayingSo) {
  TempDir dir;
  train::write_loss_plot(dir / "loss.png", {}, 320, 200);
  Png png;
  ASSERT_NO_FATAL_FAILURE(decode_png(dir / "loss.png", png));
  EXPECT_EQ(png.width, 320);
  EXPECT_EQ(png.height, 200);
  EXPECT_EQ(count(png, train::kLossAverageColour) + count(png, train::kLossRawColour), 0);
  EXPECT_GT(count(png, {255, 255, 255}), png.width * png.height * 9 / 10) << "a white image";
  EXPECT_GT(png.width * png.height - count(png, {255, 255, 255}), 50) << "with some text on it";
}

TEST(LossLogPlot, ImpossibleSizesAreRefused) {
  TempDir dir;
  for (const auto& [w, h] : {std::pair{0, 540}, std::pair{960, -1}, std::pair{20, 20}, std::pair{100000, 540}}) {
    ErrorCode code{};
    error_text([&, w = w, h = h] { train::write_loss_plot(dir / "loss.png", {}, w, h); }, &code);
    EXPECT_EQ(code, ErrorCode::BadArgument) << w << "x" << h;
  }
}

TEST(LossLogPng, PixelsReadBackExactly) {
  TempDir dir;
  // 3x2: one block. 250x100: 75,100 bytes of rows, two blocks.
  for (const auto& [w, h] : {std::pair{3, 2}, std::pair{250, 100}}) {
    std::vector<std::uint8_t> rgb(static_cast<std::size_t>(w) * h * 3);
    for (std::size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<std::uint8_t>(i * 31 + i / 7);
    train::write_png_rgb(dir / "image.png", w, h, rgb);
    Png png;
    ASSERT_NO_FATAL_FAILURE(decode_png(dir / "image.png", png));
    EXPECT_EQ(png.width, w);
    EXPECT_EQ(png.height, h);
    EXPECT_EQ(png.stored_blocks, w == 3 ? 1 : 2);
    EXPECT_EQ(png.rgb, rgb);
  }
}

TEST(LossLogPng, ErrorsNameTheProblem) {
  TempDir dir;
  ErrorCode code{};
  error_text([&] { train::write_png_rgb(dir / "a.png", 4, 4, std::vector<std::uint8_t>(4 * 4 * 3 - 1)); }, &code);
  EXPECT_EQ(code, ErrorCode::BadArgument);
  const auto unwritable = dir / "no-such-folder" / "a.png";
  const auto message = error_text([&] { train::write_png_rgb(unwritable, 1, 1, {1, 2, 3}); });
  EXPECT_NE(message.find(unwritable.string()), std::string::npos) << message;
}

}  // namespace
