#include "demo/procedural_video.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <sstream>

#include <ATen/ATen.h>

#include "skyreels/error.h"

namespace skyreels::demo {

Rgb rgb(Colour colour) {
  switch (colour) {
    case Colour::Red: return {230, 40, 40};
    case Colour::Green: return {40, 200, 70};
    case Colour::Blue: return {40, 100, 240};
    case Colour::Yellow: return {245, 215, 30};
    case Colour::White: return {245, 245, 245};
  }
  return {};
}

Rgb rgb(Background background) {
  switch (background) {
    case Background::Black: return {10, 10, 10};
    case Background::Blue: return {20, 40, 150};
    case Background::Green: return {20, 120, 40};
    case Background::Gray: return {128, 128, 128};
  }
  return {};
}

const char* to_string(Shape shape) {
  switch (shape) {
    case Shape::Circle: return "circle";
    case Shape::Square: return "square";
    case Shape::Triangle: return "triangle";
  }
  return "?";
}

const char* to_string(Colour colour) {
  switch (colour) {
    case Colour::Red: return "red";
    case Colour::Green: return "green";
    case Colour::Blue: return "blue";
    case Colour::Yellow: return "yellow";
    case Colour::White: return "white";
  }
  return "?";
}

const char* to_string(Motion motion) {
  switch (motion) {
    case Motion::Left: return "left";
    case Motion::Right: return "right";
    case Motion::Up: return "up";
    case Motion::Down: return "down";
  }
  return "?";
}

const char* to_string(Background background) {
  switch (background) {
    case Background::Black: return "black";
    case Background::Blue: return "blue";
    case Background::Green: return "green";
    case Background::Gray: return "gray";
  }
  return "?";
}

void require_valid(const Scene& scene) {
  if (scene.objects.empty() || scene.objects.size() > 2)
    throw Error(ErrorCode::BadArgument,
                "a scene has one or two objects, this one has " + std::to_string(scene.objects.size()));
}

std::string caption(const Scene& scene) {
  require_valid(scene);
  std::string text;
  for (const auto& o : scene.objects) {
    if (!text.empty()) text += " and ";
    text += std::string("a ") + to_string(o.colour) + " " + to_string(o.shape) + " moves " + to_string(o.motion);
  }
  return text + " on a " + to_string(scene.background) + " background";
}

namespace {

template <typename Enum, std::size_t N>
std::optional<Enum> from_word(const std::array<Enum, N>& values, const std::string& word) {
  for (auto v : values)
    if (word == to_string(v)) return v;
  return std::nullopt;
}

// Reads "a COLOUR SHAPE moves DIRECTION" at tokens[at..at+5).
std::optional<SceneObject> parse_clause(const std::vector<std::string>& tokens, std::size_t at) {
  if (at + 5 > tokens.size() || tokens[at] != "a" || tokens[at + 3] != "moves") return std::nullopt;
  const auto colour = from_word(kColours, tokens[at + 1]);
  const auto shape = from_word(kShapes, tokens[at + 2]);
  const auto motion = from_word(kMotions, tokens[at + 4]);
  if (!colour || !shape || !motion) return std::nullopt;
  return SceneObject{*shape, *colour, *motion};
}

}  // namespace

std::optional<Scene> parse_caption(std::string_view text) {
  std::string lower(text);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  while (!lower.empty() && (std::isspace(static_cast<unsigned char>(lower.back())) || lower.back() == '.'))
    lower.pop_back();
  std::vector<std::string> tokens;
  std::istringstream words(lower);
  for (std::string w; words >> w;) tokens.push_back(w);

  Scene scene;
  std::size_t at = 0;
  for (;;) {
    const auto object = parse_clause(tokens, at);
    if (!object) return std::nullopt;
    scene.objects.push_back(*object);
    at += 5;
    if (scene.objects.size() == 2 || at >= tokens.size() || tokens[at] != "and") break;
    ++at;
  }
  // "on a BACKGROUND background", and nothing after it.
  if (tokens.size() != at + 4 || tokens[at] != "on" || tokens[at + 1] != "a" || tokens[at + 3] != "background")
    return std::nullopt;
  const auto background = from_word(kBackgrounds, tokens[at + 2]);
  if (!background) return std::nullopt;
  scene.background = *background;
  return scene;
}

const std::vector<Combination>& held_out_combinations() {
  using C = Colour;
  using S = Shape;
  using M = Motion;
  using B = Background;
  // Six per background; shapes cycle every 3 and motions every 4 entries, so each (shape, motion) pair
  // appears twice; colours 4-5 times each, never on their own background.
  static const std::vector<Combination> held_out = {
      {C::Red, S::Circle, M::Left, B::Black},       {C::Green, S::Square, M::Right, B::Black},
      {C::Yellow, S::Triangle, M::Up, B::Black},    {C::Blue, S::Circle, M::Down, B::Black},
      {C::White, S::Square, M::Left, B::Black},     {C::Blue, S::Triangle, M::Right, B::Black},
      {C::White, S::Circle, M::Up, B::Blue},        {C::Yellow, S::Square, M::Down, B::Blue},
      {C::Red, S::Triangle, M::Left, B::Blue},      {C::Green, S::Circle, M::Right, B::Blue},
      {C::Green, S::Square, M::Up, B::Blue},        {C::Red, S::Triangle, M::Down, B::Blue},
      {C::Blue, S::Circle, M::Left, B::Green},      {C::Red, S::Square, M::Right, B::Green},
      {C::Blue, S::Triangle, M::Up, B::Green},      {C::Yellow, S::Circle, M::Down, B::Green},
      {C::White, S::Square, M::Left, B::Green},     {C::Yellow, S::Triangle, M::Right, B::Green},
      {C::Yellow, S::Circle, M::Up, B::Gray},       {C::Red, S::Square, M::Down, B::Gray},
      {C::Green, S::Triangle, M::Left, B::Gray},    {C::White, S::Circle, M::Right, B::Gray},
      {C::Blue, S::Square, M::Up, B::Gray},         {C::Green, S::Triangle, M::Down, B::Gray},
  };
  return held_out;
}

bool is_held_out(const Scene& scene) {
  const auto& held_out = held_out_combinations();
  for (const auto& o : scene.objects) {
    const Combination c{o.colour, o.shape, o.motion, scene.background};
    if (std::find(held_out.begin(), held_out.end(), c) != held_out.end()) return true;
  }
  return false;
}

double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

namespace {

double uniform(std::mt19937_64& rng, double lo, double hi) { return lo + (hi - lo) * uniform01(rng); }
template <typename T, std::size_t N>
T pick(std::mt19937_64& rng, const std::array<T, N>& values) {
  return values[std::min<std::size_t>(N - 1, static_cast<std::size_t>(uniform01(rng) * N))];
}

// An object on the background of its own name would be invisible in a trained model's colours.
bool clashes(Colour colour, Background background) {
  return (colour == Colour::Blue && background == Background::Blue) ||
         (colour == Colour::Green && background == Background::Green);
}

bool trainable(const Scene& scene) {
  for (const auto& o : scene.objects)
    if (clashes(o.colour, scene.background)) return false;
  if (scene.objects.size() == 2 && scene.objects[0].colour == scene.objects[1].colour) return false;
  return !is_held_out(scene);
}

SceneObject sample_object(std::mt19937_64& rng) {
  SceneObject o;
  o.colour = pick(rng, kColours);
  o.shape = pick(rng, kShapes);
  o.motion = pick(rng, kMotions);
  return o;
}

}  // namespace

Scene sample_scene(std::mt19937_64& rng, double two_object_probability) {
  const bool two = uniform01(rng) < two_object_probability;
  // Rejection keeps the draw uniform over the allowed scenes (a fifth of one-object draws are rejected).
  for (;;) {
    Scene scene;
    scene.background = pick(rng, kBackgrounds);
    scene.objects.push_back(sample_object(rng));
    if (two) scene.objects.push_back(sample_object(rng));
    if (trainable(scene)) return scene;
  }
}

bool is_role_contrast(const Scene& scene) {
  if (scene.objects.size() != 1) return false;
  const auto colour = scene.objects[0].colour;
  return (colour == Colour::Blue && scene.background == Background::Green) ||
         (colour == Colour::Green && scene.background == Background::Blue);
}

Scene sample_role_contrast_scene(std::mt19937_64& rng) {
  for (;;) {
    const bool blue_object = uniform01(rng) < 0.5;
    SceneObject o = sample_object(rng);
    o.colour = blue_object ? Colour::Blue : Colour::Green;
    Scene scene{{o}, blue_object ? Background::Green : Background::Blue};
    if (trainable(scene)) return scene;
  }
}

namespace {

constexpr double kSqrt3 = 1.7320508075688772;

// How far a shape reaches from its centre (its centroid), in pixels.
struct Extent {
  double left, right, up, down;
};
Extent extent_of(Shape shape, double size) {
  if (shape == Shape::Triangle) {
    const double half_side = size / kSqrt3;
    return {half_side, half_side, size * 2 / 3, size / 3};
  }
  return {size / 2, size / 2, size / 2, size / 2};
}

// One coordinate of a path: `along` the motion's axis or across it, inside [lo, hi].
struct AxisRange {
  double lo, hi;
};

ObjectPath sample_path(std::mt19937_64& rng, const SceneObject& object, double size_fraction, double height, double width,
                       Travel mode) {
  const double unit = std::min(height, width);
  const double margin = kEdgeMargin * unit;
  ObjectPath path;
  path.size_px = unit * size_fraction * uniform(rng, 1 - kObjectSizeJitter, 1 + kObjectSizeJitter);
  const auto e = extent_of(object.shape, path.size_px);
  const AxisRange xs{margin + e.left, width - margin - e.right};
  const AxisRange ys{margin + e.up, height - margin - e.down};
  if (xs.hi <= xs.lo || ys.hi <= ys.lo)
    throw Error(ErrorCode::BadArgument, "a " + std::to_string(static_cast<int>(width)) + " x " +
                                            std::to_string(static_cast<int>(height)) +
                                            " frame has no room for a moving object");

  const bool horizontal = object.motion == Motion::Left || object.motion == Motion::Right;
  const bool forward = object.motion == Motion::Right || object.motion == Motion::Down;
  const auto along = horizontal ? xs : ys;
  const auto across = horizontal ? ys : xs;
  const double length = horizontal ? width : height;
  double from = 0, to = 0;
  if (mode == Travel::InFrame) {
    const double travel = std::min(uniform(rng, kMinTravel, kMaxTravel) * length, along.hi - along.lo);
    from = forward ? uniform(rng, along.lo, along.hi - travel) : uniform(rng, along.lo + travel, along.hi);
    to = forward ? from + travel : from - travel;
  } else {
    // The same speeds, unclamped; wholly out (its trailing edge on the border) at progress `gone`.
    const double travel = uniform(rng, kMinTravel, kMaxTravel) * length;
    const double gone = uniform(rng, kLeaveProgressMin, kLeaveProgressMax);
    const double trailing = horizontal ? (forward ? e.left : e.right) : (forward ? e.up : e.down);
    const double out = forward ? length + trailing : -trailing;
    from = forward ? out - travel * gone : out + travel * gone;
    to = forward ? from + travel : from - travel;
  }
  const double side = uniform(rng, across.lo, across.hi);
  path.start = horizontal ? Point{from, side} : Point{side, from};
  path.end = horizontal ? Point{to, side} : Point{side, to};
  return path;
}

double closest_approach(const ObjectPath& a, const ObjectPath& b) {
  double closest = 1e30;
  for (int i = 0; i <= 8; ++i) {
    const auto p = a.at(i / 8.0);
    const auto q = b.at(i / 8.0);
    closest = std::min(closest, std::hypot(p.x - q.x, p.y - q.y));
  }
  return closest;
}

}  // namespace

std::vector<ObjectPath> plan_paths(const Scene& scene, std::int64_t height, std::int64_t width, std::uint64_t seed,
                                   Travel travel) {
  require_valid(scene);
  std::mt19937_64 rng(seed);
  std::vector<ObjectPath> paths;
  const double size_fraction = scene.objects.size() > 1 ? kObjectSize * kTwoObjectSizeScale : kObjectSize;
  for (int attempt = 0; attempt < kPlacementTries; ++attempt) {
    paths.clear();
    for (const auto& o : scene.objects)
      paths.push_back(
          sample_path(rng, o, size_fraction, static_cast<double>(height), static_cast<double>(width), travel));
    if (paths.size() < 2 ||
        closest_approach(paths[0], paths[1]) >= kMinObjectSeparation * std::max(paths[0].size_px, paths[1].size_px))
      break;
  }
  return paths;
}

namespace {

// Signed distance in pixels from a shape's outline (negative inside), centred on its centroid; the
// triangle's is Inigo Quilez's equilateral-triangle distance, apex up.
double signed_distance(Shape shape, double dx, double dy, double size) {
  switch (shape) {
    case Shape::Circle: return std::hypot(dx, dy) - size / 2;
    case Shape::Square: {
      const double qx = std::abs(dx) - size / 2;
      const double qy = std::abs(dy) - size / 2;
      return std::hypot(std::max(qx, 0.0), std::max(qy, 0.0)) + std::min(std::max(qx, qy), 0.0);
    }
    case Shape::Triangle: {
      const double r = size / kSqrt3;  // half the side
      double px = std::abs(dx) - r;
      double py = -dy + r / kSqrt3;  // image y points down
      if (px + kSqrt3 * py > 0) {
        const double nx = (px - kSqrt3 * py) / 2;
        const double ny = (-kSqrt3 * px - py) / 2;
        px = nx;
        py = ny;
      }
      px -= std::clamp(px, -2 * r, 0.0);
      return -std::hypot(px, py) * (py > 0 ? 1.0 : (py < 0 ? -1.0 : 0.0));
    }
  }
  return 1e30;
}

float to_unit(std::uint8_t level) { return static_cast<float>(level) / 127.5f - 1.0f; }

}  // namespace

at::Tensor render(const Scene& scene, std::int64_t frames, std::int64_t height, std::int64_t width,
                  std::uint64_t seed, Travel travel) {
  if (frames < 1 || (frames - 1) % 4 != 0)
    throw Error(ErrorCode::BadArgument, "frames must be 1 + 4k, got " + std::to_string(frames));
  if (height < 16 || width < 16 || height % 16 != 0 || width % 16 != 0)
    throw Error(ErrorCode::BadArgument, "height and width must be positive multiples of 16, got " +
                                            std::to_string(height) + " x " + std::to_string(width));
  const auto paths = plan_paths(scene, height, width, seed, travel);

  auto video = at::empty({3, frames, height, width}, at::kFloat);
  float* data = video.data_ptr<float>();
  const std::int64_t plane = height * width;
  const std::int64_t channel = frames * plane;
  const auto bg = rgb(scene.background);
  const float bg_unit[3] = {to_unit(bg.r), to_unit(bg.g), to_unit(bg.b)};
  for (int c = 0; c < 3; ++c) std::fill(data + c * channel, data + (c + 1) * channel, bg_unit[c]);

  for (std::int64_t t = 0; t < frames; ++t) {
    const double progress = frames == 1 ? 0.0 : static_cast<double>(t) / static_cast<double>(frames - 1);
    for (std::size_t k = 0; k < paths.size(); ++k) {
      const auto& object = scene.objects[k];
      const auto centre = paths[k].at(progress);
      const auto fg = rgb(object.colour);
      const float fg_unit[3] = {to_unit(fg.r), to_unit(fg.g), to_unit(fg.b)};
      // Only the shape's box (plus the anti-aliasing pixel) can change.
      const double reach = paths[k].size_px + 2;
      const auto x0 = std::max<std::int64_t>(0, static_cast<std::int64_t>(std::floor(centre.x - reach)));
      const auto x1 = std::min<std::int64_t>(width, static_cast<std::int64_t>(std::ceil(centre.x + reach)));
      const auto y0 = std::max<std::int64_t>(0, static_cast<std::int64_t>(std::floor(centre.y - reach)));
      const auto y1 = std::min<std::int64_t>(height, static_cast<std::int64_t>(std::ceil(centre.y + reach)));
      for (std::int64_t y = y0; y < y1; ++y) {
        for (std::int64_t x = x0; x < x1; ++x) {
          const double d = signed_distance(object.shape, x + 0.5 - centre.x, y + 0.5 - centre.y, paths[k].size_px);
          const auto cover = static_cast<float>(std::clamp(0.5 - d, 0.0, 1.0));  // one-pixel anti-aliasing
          if (cover <= 0) continue;
          for (int c = 0; c < 3; ++c) {
            float& v = data[c * channel + t * plane + y * width + x];
            v = v * (1 - cover) + fg_unit[c] * cover;
          }
        }
      }
    }
  }
  return video;
}

}  // namespace skyreels::demo
