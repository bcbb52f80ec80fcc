#include "demo/video_scorer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include <ATen/core/Tensor.h>

#include "skyreels/error.h"

namespace skyreels::demo {

namespace {

// A colour with channels in [0, 255]: the loops below work in 8-bit units, the thresholds in the
// header in [0, 1] (scaled by squared()).
using Colour3 = std::array<double, 3>;

Colour3 levels(Rgb c) { return {static_cast<double>(c.r), static_cast<double>(c.g), static_cast<double>(c.b)}; }
Colour3 unit(const Colour3& c) { return {c[0] / 255, c[1] / 255, c[2] / 255}; }
double squared(double unit_distance) { return unit_distance * unit_distance * 255 * 255; }

template <typename P>
double distance_sq(const P* p, const Colour3& c) {
  const double dr = p[0] - c[0], dg = p[1] - c[1], db = p[2] - c[2];
  return dr * dr + dg * dg + db * db;
}

// The per-channel median of every pixel, in [0, 255], from 256-bin histograms.
Colour3 channel_medians(const std::uint8_t* pixels, std::int64_t count) {
  std::array<std::array<std::int64_t, 256>, 3> histogram{};
  for (std::int64_t i = 0; i < count; ++i)
    for (int c = 0; c < 3; ++c) ++histogram[c][pixels[i * 3 + c]];
  Colour3 medians{};
  for (int c = 0; c < 3; ++c) {
    std::int64_t seen = 0;
    int level = 0;
    while (level < 255 && (seen += histogram[c][level]) * 2 < count) ++level;
    medians[static_cast<std::size_t>(c)] = level;
  }
  return medians;
}

// The object palette, looked up per pixel: the index into kColours of the nearest colour.
struct Palette {
  std::array<Colour3, kColours.size()> colours;
  Palette() {
    for (std::size_t k = 0; k < kColours.size(); ++k) colours[k] = levels(rgb(kColours[k]));
  }
  std::size_t nearest(const float* p) const {
    std::size_t best = 0;
    double best_distance = 1e30;
    for (std::size_t k = 0; k < colours.size(); ++k) {
      const double d = distance_sq(p, colours[k]);
      if (d < best_distance) best = k, best_distance = d;
    }
    return best;
  }
};

Background nearest_background(const Colour3& c) {
  Background best = kBackgrounds[0];
  double best_distance = 1e30;
  for (auto b : kBackgrounds) {
    const double d = distance_sq(c.data(), levels(rgb(b)));
    if (d < best_distance) best = b, best_distance = d;
  }
  return best;
}

// A 3 x 3 box blur of every frame (edges replicated), channels in [0, 255]: it averages noise away
// before masks are cut, and only softens edges, which the midpoint threshold below does not move.
std::vector<float> box_blur(const std::uint8_t* frames, std::int64_t count, std::int64_t height, std::int64_t width) {
  std::vector<float> out(static_cast<std::size_t>(count * height * width * 3));
  std::vector<float> rows(static_cast<std::size_t>(height * width * 3));  // horizontal sums of one frame
  const auto row_len = width * 3;
  for (std::int64_t t = 0; t < count; ++t) {
    const auto* in = frames + t * height * row_len;
    for (std::int64_t y = 0; y < height; ++y) {
      const auto* r = in + y * row_len;
      float* h = rows.data() + y * row_len;
      // Neighbours are 3 values (one pixel) apart; the first and last pixels count their edge twice.
      for (std::int64_t i = 3; i < row_len - 3; ++i) h[i] = static_cast<float>(r[i - 3] + r[i] + r[i + 3]);
      for (int c = 0; c < 3; ++c) {
        h[c] = static_cast<float>(2 * r[c] + r[c + 3]);
        h[row_len - 3 + c] = static_cast<float>(2 * r[row_len - 3 + c] + r[row_len - 6 + c]);
      }
    }
    float* o = out.data() + t * height * row_len;
    for (std::int64_t y = 0; y < height; ++y) {
      const float* up = rows.data() + std::max<std::int64_t>(y - 1, 0) * row_len;
      const float* mid = rows.data() + y * row_len;
      const float* down = rows.data() + std::min(y + 1, height - 1) * row_len;
      for (std::int64_t i = 0; i < row_len; ++i) o[y * row_len + i] = (up[i] + mid[i] + down[i]) / 9.0f;
    }
  }
  return out;
}

// Square by its filled corners; otherwise circle or triangle, the nearer prototype by fill and offset.
Shape classify_shape(double fill, double offset, double corners) {
  if (corners >= kSquareCornerFill) return Shape::Square;
  struct Prototype {
    Shape shape;
    double fill, offset;
  };
  constexpr double kPi = 3.14159265358979323846;
  const Prototype prototypes[] = {{Shape::Circle, kPi / 4, 0.0}, {Shape::Triangle, 0.5, kTriangleOffset}};
  Shape best = Shape::Circle;
  double best_distance = 1e30;
  for (const auto& p : prototypes) {
    const double df = fill - p.fill, doff = kOffsetWeight * (offset - p.offset);
    const double d = df * df + doff * doff;
    if (d < best_distance) best = p.shape, best_distance = d;
  }
  return best;
}

// The `fraction` and 1 - `fraction` quantiles of values (reordered): a span that stray pixels at a
// corner cannot stretch.
std::pair<double, double> trimmed_span(std::vector<double>& values, double fraction) {
  const auto k = static_cast<std::ptrdiff_t>(fraction * static_cast<double>(values.size()));
  std::nth_element(values.begin(), values.begin() + k, values.end());
  const double lo = values[static_cast<std::size_t>(k)];
  std::nth_element(values.begin(), values.end() - 1 - k, values.end());
  return {lo, values[values.size() - 1 - static_cast<std::size_t>(k)]};
}

// The mask's share of the four corner triangles of its trimmed bounding box (each corner cut where
// u + v = kCornerCut in box units from that corner): about 1 for a square, 0 for a circle, 1/3 for a
// triangle (its two base corners, 2/3 each).
double corner_fill(const std::vector<std::int64_t>& pixels, std::int64_t width) {
  std::vector<double> xs, ys;
  xs.reserve(pixels.size());
  ys.reserve(pixels.size());
  for (auto i : pixels) xs.push_back(static_cast<double>(i % width)), ys.push_back(static_cast<double>(i / width));
  const auto [x0, x1] = trimmed_span(xs, kCornerTrim);
  const auto [y0, y1] = trimmed_span(ys, kCornerTrim);
  const double w = x1 - x0 + 1, h = y1 - y0 + 1;
  std::int64_t inside = 0;
  for (auto i : pixels) {
    const double u = (static_cast<double>(i % width) - x0 + 0.5) / w, v = (static_cast<double>(i / width) - y0 + 0.5) / h;
    if (u < 0 || u > 1 || v < 0 || v > 1) continue;
    inside += std::min(u, 1 - u) + std::min(v, 1 - v) < kCornerCut;
  }
  const double corner_area = 2 * kCornerCut * kCornerCut * w * h;  // four triangles of legs kCornerCut
  return std::min(1.0, static_cast<double>(inside) / corner_area);
}

// The largest 4-connected set of `mask` pixels (indices into the frame), found by flood fill.
std::vector<std::int64_t> largest_component(const std::vector<std::uint8_t>& mask, std::int64_t height,
                                            std::int64_t width, std::vector<std::uint8_t>& seen,
                                            std::vector<std::int64_t>& stack) {
  std::vector<std::int64_t> best, current;
  std::fill(seen.begin(), seen.end(), 0);
  for (std::int64_t start = 0; start < height * width; ++start) {
    if (!mask[static_cast<std::size_t>(start)] || seen[static_cast<std::size_t>(start)]) continue;
    current.clear();
    stack.assign(1, start);
    seen[static_cast<std::size_t>(start)] = 1;
    while (!stack.empty()) {
      const auto i = stack.back();
      stack.pop_back();
      current.push_back(i);
      const auto y = i / width, x = i % width;
      const std::int64_t neighbours[4] = {x > 0 ? i - 1 : -1, x + 1 < width ? i + 1 : -1, y > 0 ? i - width : -1,
                                          y + 1 < height ? i + width : -1};
      for (auto n : neighbours) {
        if (n < 0 || !mask[static_cast<std::size_t>(n)] || seen[static_cast<std::size_t>(n)]) continue;
        seen[static_cast<std::size_t>(n)] = 1;
        stack.push_back(n);
      }
    }
    if (current.size() > best.size()) best.swap(current);
  }
  return best;
}

FrameObject measure(const std::vector<std::int64_t>& pixels, std::int64_t width) {
  FrameObject f;
  f.found = true;
  f.area_px = static_cast<double>(pixels.size());
  std::int64_t x0 = width, x1 = -1, y0 = std::numeric_limits<std::int64_t>::max(), y1 = -1;
  double sx = 0, sy = 0;
  for (auto i : pixels) {
    const auto y = i / width, x = i % width;
    sx += static_cast<double>(x) + 0.5;
    sy += static_cast<double>(y) + 0.5;
    x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
  }
  f.centroid = {sx / f.area_px, sy / f.area_px};
  const double box_w = static_cast<double>(x1 - x0 + 1), box_h = static_cast<double>(y1 - y0 + 1);
  f.fill = f.area_px / (box_w * box_h);
  f.offset = std::abs(f.centroid.y - (static_cast<double>(y0) + box_h / 2)) / box_h;
  f.corners = corner_fill(pixels, width);
  f.shape = classify_shape(f.fill, f.offset, f.corners);
  return f;
}

template <typename Enum, std::size_t N>
std::optional<Enum> majority(const std::array<Enum, N>& values, const std::array<std::int64_t, N>& votes) {
  const auto top = std::max_element(votes.begin(), votes.end());
  if (*top == 0) return std::nullopt;
  return values[static_cast<std::size_t>(top - votes.begin())];
}

template <typename Enum, std::size_t N>
std::size_t index_of(const std::array<Enum, N>& values, Enum v) {
  return static_cast<std::size_t>(std::find(values.begin(), values.end(), v) - values.begin());
}

// Slope of the least-squares line through (t, value) over the frames where the object was found.
Point fitted_velocity(const std::vector<std::optional<Point>>& centroids) {
  double n = 0, st = 0, sx = 0, sy = 0, stt = 0, stx = 0, sty = 0;
  for (std::size_t t = 0; t < centroids.size(); ++t) {
    if (!centroids[t]) continue;
    const double tt = static_cast<double>(t);
    n += 1, st += tt, sx += centroids[t]->x, sy += centroids[t]->y;
    stt += tt * tt, stx += tt * centroids[t]->x, sty += tt * centroids[t]->y;
  }
  const double denominator = n * stt - st * st;
  if (n < 2 || denominator <= 0) return {};
  return {(n * stx - st * sx) / denominator, (n * sty - st * sy) / denominator};
}

std::optional<Motion> motion_of(Point travel, std::int64_t height, std::int64_t width) {
  const bool horizontal = std::abs(travel.x) >= std::abs(travel.y);
  const double along = horizontal ? travel.x : travel.y;
  const double across = horizontal ? travel.y : travel.x;
  const double size = static_cast<double>(horizontal ? width : height);
  if (std::abs(along) < kMinTravelFraction * size || std::abs(along) < kAxisDominance * std::abs(across))
    return std::nullopt;
  if (horizontal) return along > 0 ? Motion::Right : Motion::Left;
  return along > 0 ? Motion::Down : Motion::Up;  // image y points down
}

Detection invalid(Detection d, std::string why) {
  d.valid = false;
  d.why = std::move(why);
  return d;
}

}  // namespace

Detection detect(const at::Tensor& frames) {
  if (!frames.defined() || frames.scalar_type() != at::kByte || frames.dim() != 4 || frames.size(3) != 3 ||
      !frames.device().is_cpu() || frames.size(0) < 1 || frames.size(1) < 4 || frames.size(2) < 4)
    throw Error(ErrorCode::BadArgument, "the detector takes uint8 frames [F, H, W, 3] on the CPU");
  const auto count = frames.size(0), height = frames.size(1), width = frames.size(2);
  const auto plane = height * width;
  const auto total = count * plane;
  const auto contiguous = frames.contiguous();
  const std::uint8_t* raw = contiguous.data_ptr<std::uint8_t>();

  Detection d;
  d.frames.resize(static_cast<std::size_t>(count));
  d.centroids.resize(static_cast<std::size_t>(count));

  // 1. Background. Noise has no plain background: too few raw pixels sit near the median colour.
  const auto bg = channel_medians(raw, total);
  d.background_rgb = unit(bg);
  const auto bg_guess = nearest_background(bg);
  if (distance_sq(bg.data(), levels(rgb(bg_guess))) <= squared(kBackgroundMaxDistance)) d.background = bg_guess;
  std::int64_t near = 0;
  const double near_sq = squared(kBackgroundNearDistance);
  for (std::int64_t i = 0; i < total; ++i) near += distance_sq(raw + i * 3, bg) < near_sq;
  const double coverage = static_cast<double>(near) / static_cast<double>(total);
  if (coverage < kMinBackgroundCoverage)
    return invalid(std::move(d), "no plain background: " + std::to_string(static_cast<int>(coverage * 100)) +
                                     "% of pixels are near the median colour");

  // 2. The object's colour: what most pixels far from the background are closest to; its measured
  // value is the per-channel median of those pixels (interior pixels outnumber blurred edges).
  const auto px = box_blur(raw, count, height, width);
  const Palette palette;
  std::array<std::int64_t, kColours.size()> votes{};
  std::vector<std::uint8_t> far;  // pixels far from the background, rounded, with their vote
  std::vector<std::uint8_t> far_vote;
  const double contrast_sq = squared(kObjectMinContrast);
  for (std::int64_t i = 0; i < total; ++i) {
    const float* p = px.data() + i * 3;
    if (distance_sq(p, bg) <= contrast_sq) continue;
    const auto k = palette.nearest(p);
    ++votes[k];
    far_vote.push_back(static_cast<std::uint8_t>(k));
    for (int c = 0; c < 3; ++c) far.push_back(static_cast<std::uint8_t>(std::lround(p[c])));
  }
  const auto top = static_cast<std::size_t>(std::max_element(votes.begin(), votes.end()) - votes.begin());
  if (votes[top] == 0) return invalid(std::move(d), "no object: no pixel stands out from the background");
  std::vector<std::uint8_t> dominant;
  for (std::size_t j = 0; j < far_vote.size(); ++j)
    if (far_vote[j] == top) dominant.insert(dominant.end(), far.begin() + j * 3, far.begin() + j * 3 + 3);
  const auto object = channel_medians(dominant.data(), static_cast<std::int64_t>(dominant.size() / 3));
  d.object_rgb = unit(object);

  // 3. Per frame, the largest part of the mask of pixels past the background/object midpoint.
  const Colour3 axis{object[0] - bg[0], object[1] - bg[1], object[2] - bg[2]};
  const double axis_sq = std::max(1.0, axis[0] * axis[0] + axis[1] * axis[1] + axis[2] * axis[2]);
  std::vector<std::uint8_t> mask(static_cast<std::size_t>(plane));
  std::vector<std::uint8_t> seen(static_cast<std::size_t>(plane));
  std::vector<std::int64_t> stack;
  std::array<std::int64_t, kColours.size()> mask_votes{};
  std::array<std::int64_t, kShapes.size()> shape_votes{};
  std::int64_t found = 0;
  for (std::int64_t t = 0; t < count; ++t) {
    const float* frame = px.data() + t * plane * 3;
    for (std::int64_t i = 0; i < plane; ++i) {
      const float* p = frame + i * 3;
      const double along = (p[0] - bg[0]) * axis[0] + (p[1] - bg[1]) * axis[1] + (p[2] - bg[2]) * axis[2];
      mask[static_cast<std::size_t>(i)] = along > 0.5 * axis_sq;
    }
    const auto part = largest_component(mask, height, width, seen, stack);
    const auto area = static_cast<double>(part.size()) / static_cast<double>(plane);
    if (area < kMinObjectArea || area > kMaxObjectArea) continue;
    auto& f = d.frames[static_cast<std::size_t>(t)];
    f = measure(part, width);
    d.centroids[static_cast<std::size_t>(t)] = f.centroid;
    ++shape_votes[index_of(kShapes, *f.shape)];
    for (auto i : part) ++mask_votes[palette.nearest(frame + i * 3)];
    ++found;
  }
  if (static_cast<double>(found) < kMinFoundFrames * static_cast<double>(count))
    return invalid(std::move(d), "the object was found in " + std::to_string(found) + " of " +
                                     std::to_string(count) + " frames");

  // 4, 5. Colour, shape and motion over the whole clip.
  d.valid = true;
  d.colour = majority(kColours, mask_votes);
  d.shape = majority(kShapes, shape_votes);
  const auto velocity = fitted_velocity(d.centroids);
  d.travel = {velocity.x * static_cast<double>(count - 1), velocity.y * static_cast<double>(count - 1)};
  d.motion = motion_of(d.travel, height, width);
  d.median_step_px = median_step(d.centroids);
  d.max_jump_ratio = max_jump_ratio(d.centroids);
  return d;
}

ScoreCard score(const Detection& detection, const Scene& expected) {
  require_valid(expected);
  if (expected.objects.size() != 1)
    throw Error(ErrorCode::Unsupported, "the video scorer scores one-object scenes only, not \"" +
                                            caption(expected) + "\"");
  ScoreCard card;
  if (!detection.valid) return card;
  const auto& object = expected.objects[0];
  card.colour_ok = detection.colour == object.colour;
  card.background_ok = detection.background == expected.background;
  card.shape_ok = detection.shape == object.shape;
  card.motion_ok = detection.motion == object.motion;
  return card;
}

std::vector<double> centroid_steps(const std::vector<std::optional<Point>>& centroids) {
  std::vector<double> steps;
  for (std::size_t t = 1; t < centroids.size(); ++t)
    if (centroids[t - 1] && centroids[t])
      steps.push_back(std::hypot(centroids[t]->x - centroids[t - 1]->x, centroids[t]->y - centroids[t - 1]->y));
  return steps;
}

double median_step(const std::vector<std::optional<Point>>& centroids) {
  auto steps = centroid_steps(centroids);
  if (steps.empty()) return 0;
  std::sort(steps.begin(), steps.end());
  const auto n = steps.size();
  return n % 2 ? steps[n / 2] : (steps[n / 2 - 1] + steps[n / 2]) / 2;
}

double max_jump_ratio(const std::vector<std::optional<Point>>& centroids) {
  const auto steps = centroid_steps(centroids);
  if (steps.empty()) return 0;
  return *std::max_element(steps.begin(), steps.end()) / std::max(median_step(centroids), kMinStepPx);
}

}  // namespace skyreels::demo
