#include "train/loss_plot.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "skyreels/error.h"
#include "train/png_writer.h"

namespace skyreels::train {
namespace {

constexpr Rgb kInk = {30, 30, 30};  // axes, ticks and text
constexpr Rgb kGrid = {228, 228, 228};

// A 5x7 bitmap font ('#' is ink): digits, a-z, and the punctuation of numbers and stage names. Upper case
// draws as lower case; anything else as '?'.
struct Glyph {
  char c;
  std::array<const char*, 7> rows;
};
constexpr Glyph kFont[] = {
    {' ', {".....", ".....", ".....", ".....", ".....", ".....", "....."}},
    {'0', {".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."}},
    {'1', {"..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."}},
    {'2', {".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"}},
    {'3', {"#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."}},
    {'4', {"...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."}},
    {'5', {"#####", "#....", "####.", "....#", "....#", "#...#", ".###."}},
    {'6', {"..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."}},
    {'7', {"#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."}},
    {'8', {".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."}},
    {'9', {".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."}},
    {'.', {".....", ".....", ".....", ".....", ".....", ".##..", ".##.."}},
    {'-', {".....", ".....", ".....", ".###.", ".....", ".....", "....."}},
    {'+', {".....", "..#..", "..#..", "#####", "..#..", "..#..", "....."}},
    {'_', {".....", ".....", ".....", ".....", ".....", ".....", "#####"}},
    {':', {".....", ".##..", ".##..", ".....", ".##..", ".##..", "....."}},
    {'/', {".....", "....#", "...#.", "..#..", ".#...", "#....", "....."}},
    {'?', {".###.", "#...#", "....#", "...#.", "..#..", ".....", "..#.."}},
    {'a', {".....", ".....", ".###.", "....#", ".####", "#...#", ".####"}},
    {'b', {"#....", "#....", "#.##.", "##..#", "#...#", "#...#", "####."}},
    {'c', {".....", ".....", ".###.", "#....", "#....", "#...#", ".###."}},
    {'d', {"....#", "....#", ".##.#", "#..##", "#...#", "#...#", ".####"}},
    {'e', {".....", ".....", ".###.", "#...#", "#####", "#....", ".###."}},
    {'f', {"..##.", ".#..#", ".#...", "###..", ".#...", ".#...", ".#..."}},
    {'g', {".....", ".....", ".####", "#...#", ".####", "....#", ".###."}},
    {'h', {"#....", "#....", "#.##.", "##..#", "#...#", "#...#", "#...#"}},
    {'i', {"..#..", ".....", ".##..", "..#..", "..#..", "..#..", ".###."}},
    {'j', {"...#.", ".....", "..##.", "...#.", "...#.", "#..#.", ".##.."}},
    {'k', {"#....", "#....", "#..#.", "#.#..", "##...", "#.#..", "#..#."}},
    {'l', {".##..", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."}},
    {'m', {".....", ".....", "##.#.", "#.#.#", "#.#.#", "#...#", "#...#"}},
    {'n', {".....", ".....", "#.##.", "##..#", "#...#", "#...#", "#...#"}},
    {'o', {".....", ".....", ".###.", "#...#", "#...#", "#...#", ".###."}},
    {'p', {".....", ".....", "####.", "#...#", "####.", "#....", "#...."}},
    {'q', {".....", ".....", ".####", "#...#", ".####", "....#", "....#"}},
    {'r', {".....", ".....", "#.##.", "##..#", "#....", "#....", "#...."}},
    {'s', {".....", ".....", ".####", "#....", ".###.", "....#", "####."}},
    {'t', {".#...", ".#...", "###..", ".#...", ".#...", ".#..#", "..##."}},
    {'u', {".....", ".....", "#...#", "#...#", "#...#", "#..##", ".##.#"}},
    {'v', {".....", ".....", "#...#", "#...#", "#...#", ".#.#.", "..#.."}},
    {'w', {".....", ".....", "#...#", "#...#", "#.#.#", "#.#.#", ".#.#."}},
    {'x', {".....", ".....", "#...#", ".#.#.", "..#..", ".#.#.", "#...#"}},
    {'y', {".....", ".....", "#...#", "#...#", ".####", "....#", ".###."}},
    {'z', {".....", ".....", "#####", "...#.", "..#..", ".#...", "#####"}},
};

const Glyph& glyph(char c) {
  if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  const Glyph* unknown = nullptr;
  for (const auto& g : kFont) {
    if (g.c == c) return g;
    if (g.c == '?') unknown = &g;
  }
  return *unknown;
}

// A white RGB raster that clips what falls outside it.
class Canvas {
public:
  Canvas(int width, int height) : width_(width), height_(height), rgb_(static_cast<std::size_t>(width) * height * 3, 255) {}

  int width() const { return width_; }
  int height() const { return height_; }
  const std::vector<std::uint8_t>& rgb() const { return rgb_; }

  void set(int x, int y, Rgb colour) {
    if (x < 0 || y < 0 || x >= width_ || y >= height_) return;
    std::copy(colour.begin(), colour.end(), rgb_.begin() + (static_cast<std::ptrdiff_t>(y) * width_ + x) * 3);
  }

  void line(int x0, int y0, int x1, int y1, Rgb colour) {  // Bresenham
    const int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    for (int err = dx + dy;;) {
      set(x0, y0, colour);
      if (x0 == x1 && y0 == y1) break;
      const int e2 = 2 * err;
      if (e2 >= dy) err += dy, x0 += sx;
      if (e2 <= dx) err += dx, y0 += sy;
    }
  }

  // Text with its top left corner at (x, y), each font pixel `scale` pixels square.
  void text(int x, int y, std::string_view s, int scale, Rgb colour) {
    for (const char c : s) {
      const auto& g = glyph(c);
      for (int row = 0; row < 7; ++row)
        for (int col = 0; col < 5; ++col)
          if (g.rows[row][col] == '#')
            for (int i = 0; i < scale * scale; ++i) set(x + col * scale + i % scale, y + row * scale + i / scale, colour);
      x += 6 * scale;
    }
  }

  static int text_width(std::string_view s, int scale) {
    return s.empty() ? 0 : (6 * static_cast<int>(s.size()) - 1) * scale;
  }

private:
  int width_, height_;
  std::vector<std::uint8_t> rgb_;
};

// A stage's plottable points (finite, positive losses) in step order.
struct StageSeries {
  std::string name;
  std::vector<std::int64_t> steps;
  std::vector<double> losses;
};

std::vector<StageSeries> series_by_stage(const std::vector<LossRow>& rows) {
  std::vector<StageSeries> stages;
  std::map<std::string, std::size_t> index;
  std::vector<std::vector<std::pair<std::int64_t, double>>> points;
  for (const auto& row : rows) {
    const auto [it, inserted] = index.emplace(row.stage, stages.size());
    if (inserted) {
      stages.push_back({row.stage, {}, {}});
      points.emplace_back();
    }
    if (std::isfinite(row.loss) && row.loss > 0) points[it->second].emplace_back(row.step, row.loss);
  }
  for (std::size_t s = 0; s < stages.size(); ++s) {
    std::stable_sort(points[s].begin(), points[s].end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [step, loss] : points[s]) {
      stages[s].steps.push_back(step);
      stages[s].losses.push_back(loss);
    }
  }
  return stages;
}

// The mean of a window centred on each point (cut short at the ends), 2% of the points wide.
std::vector<double> moving_average(const std::vector<double>& values) {
  const auto n = static_cast<std::ptrdiff_t>(values.size());
  const auto window = std::max<std::ptrdiff_t>(1, std::lround(0.02 * static_cast<double>(n)));
  // Long double: the early losses may be orders of magnitude above the late ones they are subtracted from.
  std::vector<long double> prefix(values.size() + 1, 0.0L);
  for (std::ptrdiff_t i = 0; i < n; ++i) prefix[i + 1] = prefix[i] + values[i];
  std::vector<double> average(values.size());
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    const auto begin = std::max<std::ptrdiff_t>(0, i - window / 2), end = std::min(n, i - window / 2 + window);
    average[i] = static_cast<double>((prefix[end] - prefix[begin]) / static_cast<long double>(end - begin));
  }
  return average;
}

// 10^k as a tick label: plain digits from 0.0001 to 100000, "1e<k>" beyond.
std::string decade_label(int k) {
  if (k >= 0 && k <= 5) return "1" + std::string(k, '0');
  if (k < 0 && k >= -4) return "0." + std::string(-k - 1, '0') + "1";
  return "1e" + std::to_string(k);
}

// The smallest of 1, 2, 5 x 10^k steps that cuts `span` into at most `max_ticks` parts.
std::int64_t tick_step(std::int64_t span, std::int64_t max_ticks) {
  const double wanted = static_cast<double>(span) / static_cast<double>(std::max<std::int64_t>(1, max_ticks));
  std::int64_t magnitude = 1;
  while (static_cast<double>(magnitude) * 10 <= wanted) magnitude *= 10;
  for (const std::int64_t m : {1, 2, 5}) if (static_cast<double>(m * magnitude) >= wanted) return m * magnitude;
  return 10 * magnitude;
}

void draw_centred(Canvas& canvas, int centre_x, int y, std::string_view text, int scale, Rgb colour) {
  canvas.text(centre_x - Canvas::text_width(text, scale) / 2, y, text, scale, colour);
}

struct Box {
  int x, y, width, height;
};

// A panel's plot area and its scales: steps linear on x, the loss log10 on y over decades [low, high].
struct Axes {
  int x0, x1, y0, y1;  // y0 the top
  std::int64_t first_step, last_step;
  int low, high;

  int x(std::int64_t step) const {
    if (first_step == last_step) return (x0 + x1) / 2;  // a stage logged at one step only
    return x0 + static_cast<int>(std::lround(static_cast<double>(step - first_step) * (x1 - x0) /
                                             static_cast<double>(last_step - first_step)));
  }
  int y(double loss) const {
    return y1 - static_cast<int>(std::lround((std::log10(loss) - low) * (y1 - y0) / (high - low)));
  }
};

constexpr int kPad = 6, kTick = 4, kTitleScale = 2;

// Decade grid lines and labels (every n-th decade when they would crowd), minor ticks when there is room.
void draw_loss_axis(Canvas& canvas, const Axes& axes) {
  const int stride = std::max(1, (axes.high - axes.low) / std::max(1, (axes.y1 - axes.y0) / 16) + 1);
  const double decade_pixels = static_cast<double>(axes.y1 - axes.y0) / (axes.high - axes.low);
  for (int k = axes.low; k <= axes.high; ++k) {
    const int y = axes.y(std::pow(10.0, k));
    if ((k - axes.low) % stride == 0) {
      canvas.line(axes.x0 + 1, y, axes.x1, y, kGrid);
      canvas.line(axes.x0 - kTick, y, axes.x0, y, kInk);
      const auto label = decade_label(k);
      canvas.text(axes.x0 - kTick - 3 - Canvas::text_width(label, 1), y - 3, label, 1, kInk);
    }
    if (k < axes.high && decade_pixels >= 40)
      for (int m = 2; m <= 9; ++m) {
        const int minor = axes.y(m * std::pow(10.0, k));
        canvas.line(axes.x0 - kTick / 2, minor, axes.x0, minor, kInk);
      }
  }
}

// Step ticks and labels, and both axis lines (drawn over the curves' ends).
void draw_step_axis(Canvas& canvas, const Axes& axes, int label_width) {
  canvas.line(axes.x0, axes.y0, axes.x0, axes.y1, kInk);
  canvas.line(axes.x0, axes.y1, axes.x1, axes.y1, kInk);
  const std::int64_t every = tick_step(axes.last_step - axes.first_step, (axes.x1 - axes.x0) / (label_width + 24) + 1);
  std::int64_t first_tick = axes.first_step / every * every;  // the first multiple of `every` from first_step
  if (first_tick < axes.first_step) first_tick += every;
  for (std::int64_t step = first_tick; step <= axes.last_step; step += every) {
    const int x = axes.x(step);
    canvas.line(x, axes.y1, x, axes.y1 + kTick, kInk);
    draw_centred(canvas, x, axes.y1 + kTick + 3, std::to_string(step), 1, kInk);
  }
  draw_centred(canvas, (axes.x0 + axes.x1) / 2, axes.y1 + kTick + 3 + 7 + 5, "step", 1, kInk);
}

// The raw loss, then its moving average over it, two pixels thick.
void draw_curves(Canvas& canvas, const Axes& axes, const StageSeries& stage) {
  const auto& steps = stage.steps;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const std::size_t from = i == 0 ? 0 : i - 1;
    canvas.line(axes.x(steps[from]), axes.y(stage.losses[from]), axes.x(steps[i]), axes.y(stage.losses[i]),
                kLossRawColour);
  }
  const auto average = moving_average(stage.losses);
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const std::size_t from = i == 0 ? 0 : i - 1;
    if (average[from] <= 0 || average[i] <= 0) continue;  // rounding on a curve falling by many decades
    const int xa = axes.x(steps[from]), ya = axes.y(average[from]), xb = axes.x(steps[i]), yb = axes.y(average[i]);
    canvas.line(xa, ya, xb, yb, kLossAverageColour);
    canvas.line(xa, ya - 1, xb, yb - 1, kLossAverageColour);
  }
  if (steps.size() == 1) {  // a lone point would be a speck
    const int x = axes.x(steps[0]), y = axes.y(average[0]);
    for (int d = -1; d <= 1; ++d) canvas.line(x - 1, y + d, x + 1, y + d, kLossAverageColour);
  }
}

void draw_panel(Canvas& canvas, const StageSeries& stage, const Box& box) {
  // The title, cut to the panel's width.
  const auto fits = static_cast<std::size_t>(std::max(1, (box.width - 2 * kPad) / (6 * kTitleScale)));
  draw_centred(canvas, box.x + box.width / 2, box.y + kPad, stage.name.substr(0, fits), kTitleScale, kInk);
  if (stage.losses.empty()) {
    draw_centred(canvas, box.x + box.width / 2, box.y + box.height / 2, "no data", 1, kInk);
    return;
  }

  // Whole decades, so every loss label is a power of ten; the margins fit the labels.
  const auto [min_loss, max_loss] = std::minmax_element(stage.losses.begin(), stage.losses.end());
  const int low = static_cast<int>(std::floor(std::log10(*min_loss)));
  const int high = std::max(low + 1, static_cast<int>(std::ceil(std::log10(*max_loss))));
  int loss_label_width = 0;
  for (int k = low; k <= high; ++k) loss_label_width = std::max(loss_label_width, Canvas::text_width(decade_label(k), 1));
  const std::int64_t first_step = stage.steps.front(), last_step = stage.steps.back();
  const int step_label_width = std::max(Canvas::text_width(std::to_string(first_step), 1),
                                        Canvas::text_width(std::to_string(last_step), 1));

  const int title_bottom = box.y + kPad + 7 * kTitleScale;
  const Axes axes{box.x + kPad + loss_label_width + 3 + kTick,
                  box.x + box.width - std::max(2 * kPad, step_label_width / 2 + kPad),
                  title_bottom + kPad + 7 + kPad,                               // under the "loss" axis title
                  box.y + box.height - (kTick + 3 + 7 + 5 + 7 + kPad),          // above the step labels and "step"
                  first_step, last_step, low, high};
  if (axes.x1 - axes.x0 < 16 || axes.y1 - axes.y0 < 16) return;  // too small a panel to say anything

  canvas.text(box.x + kPad, title_bottom + kPad, "loss", 1, kInk);
  draw_loss_axis(canvas, axes);  // its grid lines under the curves
  draw_curves(canvas, axes, stage);
  draw_step_axis(canvas, axes, step_label_width);
}

}  // namespace

void write_loss_plot(const std::filesystem::path& png, const std::vector<LossRow>& rows, int width, int height) {
  if (width < 160 || height < 120 || width > 8192 || height > 8192)
    throw Error(ErrorCode::BadArgument, png.string() + ": a loss plot of " + std::to_string(width) + "x" +
                                            std::to_string(height) + " pixels (160x120 to 8192x8192)");
  Canvas canvas(width, height);
  const auto stages = series_by_stage(rows);
  if (stages.empty()) {
    draw_centred(canvas, width / 2, height / 2 - 7, "no data", 2, kInk);
  } else {
    const int columns = static_cast<int>(std::min<std::size_t>(stages.size(), 3));
    const int panel_rows = static_cast<int>((stages.size() + columns - 1) / columns);
    const int panel_width = width / columns, panel_height = height / panel_rows;
    for (std::size_t i = 0; i < stages.size(); ++i) {
      const int column = static_cast<int>(i) % columns, row = static_cast<int>(i) / columns;
      draw_panel(canvas, stages[i], {column * panel_width, row * panel_height, panel_width, panel_height});
    }
  }
  write_png_rgb(png, canvas.width(), canvas.height(), canvas.rgb());
}

}  // namespace skyreels::train
