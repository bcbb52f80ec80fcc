#include "video/image_resample.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <vector>

#include <ATen/ATen.h>

#include "skyreels/error.h"

namespace skyreels::video {

namespace {

// Pillow's 8-bit resampler: 32-bit accumulators, 8 bits of pixel, 2 bits of headroom for the
// kernel's negative lobes.
constexpr int kPrecisionBits = 32 - 8 - 2;
constexpr double kCubicSupport = 2.0;

double cubic(double x) {
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

// For each output position along one axis: the first input index, the tap count and the fixed-point
// weights (ksize per position, unused ones zero).
struct Taps {
  int ksize = 0;
  std::vector<int> first;
  std::vector<int> count;
  std::vector<std::int32_t> weights;
};

Taps make_taps(int in_size, int out_size) {
  // The same double arithmetic, in the same order, as Pillow, so the rounded weights agree.
  const double scale = static_cast<double>(in_size) / out_size;
  const double filter_scale = std::max(scale, 1.0);
  const double support = kCubicSupport * filter_scale;
  Taps taps;
  taps.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  taps.first.resize(out_size);
  taps.count.resize(out_size);
  taps.weights.assign(static_cast<std::size_t>(out_size) * taps.ksize, 0);
  std::vector<double> k(taps.ksize);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filter_scale;
    int xmin = static_cast<int>(center - support + 0.5);  // truncation, as in C
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double sum = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double w = cubic((x + xmin - center + 0.5) * ss);
      k[x] = w;
      sum += w;
    }
    for (int x = 0; x < xmax; ++x) {
      if (sum != 0.0) k[x] /= sum;
      const double fixed = k[x] * (1 << kPrecisionBits);
      taps.weights[static_cast<std::size_t>(xx) * taps.ksize + x] =
          static_cast<std::int32_t>(k[x] < 0 ? fixed - 0.5 : fixed + 0.5);
    }
    taps.first[xx] = xmin;
    taps.count[xx] = xmax;
  }
  return taps;
}

inline std::uint8_t clip8(std::int32_t acc) {
  const std::int32_t v = acc >> kPrecisionBits;  // arithmetic shift: floor, like Pillow's lookup table
  return static_cast<std::uint8_t>(std::clamp(v, 0, 255));
}

// Horizontal pass over rows [row0, row0 + rows) of src into dst (rows x out_width).
void resample_rows(const std::uint8_t* src, int src_width, int channels, int row0, int rows, const Taps& taps,
                   int out_width, std::uint8_t* dst) {
  for (int y = 0; y < rows; ++y) {
    const std::uint8_t* in = src + static_cast<std::size_t>(row0 + y) * src_width * channels;
    std::uint8_t* out = dst + static_cast<std::size_t>(y) * out_width * channels;
    for (int xx = 0; xx < out_width; ++xx) {
      const std::int32_t* k = &taps.weights[static_cast<std::size_t>(xx) * taps.ksize];
      const int xmin = taps.first[xx];
      for (int c = 0; c < channels; ++c) {
        std::int32_t acc = 1 << (kPrecisionBits - 1);
        for (int x = 0; x < taps.count[xx]; ++x) acc += in[(x + xmin) * channels + c] * k[x];
        out[xx * channels + c] = clip8(acc);
      }
    }
  }
}

// Vertical pass: src has `width` columns; output row yy reads src rows first[yy] - shift onwards.
void resample_columns(const std::uint8_t* src, int width, int channels, const Taps& taps, int shift,
                      int out_height, std::uint8_t* dst) {
  const std::size_t row_bytes = static_cast<std::size_t>(width) * channels;
  for (int yy = 0; yy < out_height; ++yy) {
    const std::int32_t* k = &taps.weights[static_cast<std::size_t>(yy) * taps.ksize];
    const int ymin = taps.first[yy] - shift;
    std::uint8_t* out = dst + static_cast<std::size_t>(yy) * row_bytes;
    for (std::size_t i = 0; i < row_bytes; ++i) {
      std::int32_t acc = 1 << (kPrecisionBits - 1);
      for (int y = 0; y < taps.count[yy]; ++y) acc += src[(ymin + y) * row_bytes + i] * k[y];
      out[i] = clip8(acc);
    }
  }
}

}  // namespace

void resize_like_pil(const std::uint8_t* src, int src_width, int src_height, int channels, std::uint8_t* dst,
                     int width, int height) {
  if (src_width < 1 || src_height < 1 || width < 1 || height < 1 || channels < 1) {
    std::ostringstream msg;
    msg << "resize_like_pil: sizes must be positive, got " << src_width << "x" << src_height << " -> " << width << "x"
        << height << " with " << channels << " channels";
    throw Error(ErrorCode::BadArgument, msg.str());
  }
  const std::size_t out_bytes = static_cast<std::size_t>(width) * height * channels;
  if (src_width == width && src_height == height) {  // Pillow returns a copy
    std::copy(src, src + out_bytes, dst);
    return;
  }
  const Taps horizontal = make_taps(src_width, width);
  const Taps vertical = make_taps(src_height, height);
  const bool need_horizontal = width != src_width;
  const bool need_vertical = height != src_height;
  if (need_horizontal) {
    // Only the source rows the vertical pass reads.
    const int first_row = vertical.first.front();
    const int last_row = vertical.first.back() + vertical.count.back();
    const int rows = last_row - first_row;
    if (!need_vertical) {
      resample_rows(src, src_width, channels, 0, src_height, horizontal, width, dst);
      return;
    }
    std::vector<std::uint8_t> temp(static_cast<std::size_t>(rows) * width * channels);
    resample_rows(src, src_width, channels, first_row, rows, horizontal, width, temp.data());
    resample_columns(temp.data(), width, channels, vertical, first_row, height, dst);
    return;
  }
  resample_columns(src, src_width, channels, vertical, 0, height, dst);
}

at::Tensor resize_like_pil(const at::Tensor& rgb, int width, int height) {
  if (!rgb.defined() || rgb.scalar_type() != at::kByte || rgb.dim() != 3 || rgb.size(2) < 1) {
    std::ostringstream msg;
    msg << "resize_like_pil: expected a uint8 image [H, W, C], got ";
    if (rgb.defined()) {
      msg << rgb.scalar_type() << " " << rgb.sizes();
    } else {
      msg << "an undefined tensor";
    }
    throw Error(ErrorCode::ShapeMismatch, msg.str());
  }
  const at::Tensor src = rgb.to(at::kCPU).contiguous();
  const int channels = static_cast<int>(src.size(2));
  at::Tensor out = at::empty({height < 1 ? 0 : height, width < 1 ? 0 : width, channels}, src.options());
  resize_like_pil(src.data_ptr<std::uint8_t>(), static_cast<int>(src.size(1)), static_cast<int>(src.size(0)),
                  channels, out.data_ptr<std::uint8_t>(), width, height);
  return out;
}

}  // namespace skyreels::video
