#include "video_test_support.h"

#include <cmath>
#include <limits>
#include <stdexcept>

#include <ATen/ATen.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace skyreels::test {

at::Tensor moving_pattern(int frames, int height, int width, int first_frame) {
  constexpr double kTwoPi = 6.283185307179586;
  at::Tensor video = at::empty({frames, height, width, 3}, at::kByte);
  auto v = video.accessor<std::uint8_t, 4>();
  const int square = std::max(4, std::min(width, height) / 5);
  for (int f = 0; f < frames; ++f) {
    const int t = first_frame + f;
    const int sx = (3 * t) % std::max(1, width - square);
    const int sy = height / 3 + static_cast<int>(std::lround(height / 6.0 * std::sin(t * 0.2)));
    for (int y = 0; y < height; ++y) {
      for (int x = 0; x < width; ++x) {
        double r = 128 + 90 * std::sin(kTwoPi * (x + 2.0 * t) / width);
        double g = 128 + 90 * std::sin(kTwoPi * (y - 1.0 * t) / height + 1.0);
        double b = 128 + 60 * std::cos(kTwoPi * (x + y + 3.0 * t) / (width + height));
        if (x >= sx && x < sx + square && y >= sy && y < sy + square) {
          r += 60;
          g += 60;
          b += 60;
        }
        v[f][y][x][0] = static_cast<std::uint8_t>(std::clamp(r, 0.0, 255.0));
        v[f][y][x][1] = static_cast<std::uint8_t>(std::clamp(g, 0.0, 255.0));
        v[f][y][x][2] = static_cast<std::uint8_t>(std::clamp(b, 0.0, 255.0));
      }
    }
  }
  return video;
}

at::Tensor synthetic_rgb(int width, int height) {
  at::Tensor image = at::empty({height, width, 3}, at::kByte);
  auto p = image.accessor<std::uint8_t, 3>();
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      p[y][x][0] = static_cast<std::uint8_t>((x * 37 + y * 11) % 256);
      p[y][x][1] = static_cast<std::uint8_t>((x * x + 3 * y * y) % 256);
      p[y][x][2] = static_cast<std::uint8_t>(((x ^ y) * 29 + 7) % 256);
    }
  }
  return image;
}

double psnr(const at::Tensor& a, const at::Tensor& b) {
  if (a.sizes() != b.sizes()) throw std::runtime_error("psnr: shapes differ");
  const double mse = (a.to(at::kDouble) - b.to(at::kDouble)).pow(2).mean().item<double>();
  if (mse == 0.0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(255.0 * 255.0 / mse);
}

at::Tensor from_hex(const std::string& hex, const std::vector<std::int64_t>& shape) {
  std::int64_t count = 1;
  for (auto s : shape) count *= s;
  if (static_cast<std::int64_t>(hex.size()) != 2 * count) throw std::runtime_error("from_hex: wrong length");
  at::Tensor out = at::empty(shape, at::kByte);
  std::uint8_t* p = out.data_ptr<std::uint8_t>();
  for (std::int64_t i = 0; i < count; ++i) p[i] = static_cast<std::uint8_t>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
  return out;
}

void write_image(const std::string& path, const at::Tensor& rgb) {
  const at::Tensor src = rgb.contiguous();
  cv::Mat view(static_cast<int>(src.size(0)), static_cast<int>(src.size(1)), CV_8UC3, src.data_ptr<std::uint8_t>());
  cv::Mat bgr;
  cv::cvtColor(view, bgr, cv::COLOR_RGB2BGR);
  if (!cv::imwrite(path, bgr)) throw std::runtime_error("cannot write " + path);
}

ErrorCode code_of(const std::function<void()>& f, std::string* message) {
  try {
    f();
  } catch (const Error& e) {
    if (message) *message = e.what();
    return e.code();
  }
  return ErrorCode::Invalid;
}

}  // namespace skyreels::test
