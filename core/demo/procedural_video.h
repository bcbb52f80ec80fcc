#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <ATen/core/Tensor.h>

namespace skyreels::demo {

// Procedural training videos for the trained demo model (issue 22): solid shapes moving across a plain
// background, with captions from one small grammar, so that "does it generate what the prompt says" can
// be checked by a detector (video_scorer.h) instead of by eye.
//
// Caption grammar (lower case; parse_caption also takes capitals, extra spaces and a final '.'):
//   caption := clause [ "and" clause ] "on a" BACKGROUND "background"
//   clause  := "a" COLOUR SHAPE "moves" DIRECTION
// e.g. "a red circle moves right on a black background",
//      "a red circle moves right and a blue square moves up on a gray background".
//
// Colour rule: sample_scene never puts an object on the background of its own name (blue on blue,
// green on green) and never gives two objects the same colour, so every sampled video can be scored.
// render() draws whatever it is given (such scenes only exist when asked for explicitly).

enum class Shape { Circle, Square, Triangle };
enum class Colour { Red, Green, Blue, Yellow, White };
enum class Motion { Left, Right, Up, Down };
enum class Background { Black, Blue, Green, Gray };

inline constexpr std::array kShapes{Shape::Circle, Shape::Square, Shape::Triangle};
inline constexpr std::array kColours{Colour::Red, Colour::Green, Colour::Blue, Colour::Yellow, Colour::White};
inline constexpr std::array kMotions{Motion::Left, Motion::Right, Motion::Up, Motion::Down};
inline constexpr std::array kBackgrounds{Background::Black, Background::Blue, Background::Green, Background::Gray};

// --- the numbers that shape the videos (fractions of min(height, width) unless said otherwise) ---
inline constexpr double kObjectSize = 0.4;         // circle diameter, square side, triangle height (run 3
                                                   // at 0.2, 26 px, two DiT tokens: blobs; run 5 at 0.3,
                                                   // 38 px: squares with pinched sides, read as circles)
inline constexpr double kObjectSizeJitter = 0.1;   // size drawn from kObjectSize * (1 +- jitter)
inline constexpr double kEdgeMargin = 0.05;        // kept free between an object and the frame's edge
// Distance travelled over the whole clip, as a fraction of the frame along the motion's axis, so the
// motion is plain at any length; shortened where the frame has less room (portrait frames). With
// the objects' size and margins the square frame has room for 0.5.
inline constexpr double kMinTravel = 0.3;
inline constexpr double kMaxTravel = 0.5;
inline constexpr double kTwoObjectProbability = 0.25;  // of sample_scene
// Objects of two-object scenes are this much smaller, so that two fit side by side and kept apart in
// a square frame (at kObjectSize 0.4 two objects moving towards each other cannot pass).
inline constexpr double kTwoObjectSizeScale = 0.75;
// Two objects start at least this many object sizes apart and their paths are kept apart as well
// (best effort: after kPlacementTries draws the last one is used).
inline constexpr double kMinObjectSeparation = 1.2;
inline constexpr int kPlacementTries = 32;

// 8-bit sRGB; object colours are saturated and bright, backgrounds dark or mid gray, so that every
// pair the sampler can produce is at least 0.5 apart (Euclidean, channels in [0, 1]).
struct Rgb {
  std::uint8_t r = 0, g = 0, b = 0;
};
Rgb rgb(Colour colour);
Rgb rgb(Background background);

// The caption words ("red", "circle", "right" as in "moves right", "gray").
const char* to_string(Shape shape);
const char* to_string(Colour colour);
const char* to_string(Motion motion);
const char* to_string(Background background);

struct SceneObject {
  Shape shape = Shape::Circle;
  Colour colour = Colour::Red;
  Motion motion = Motion::Right;
  bool operator==(const SceneObject& o) const {
    return shape == o.shape && colour == o.colour && motion == o.motion;
  }
  bool operator!=(const SceneObject& o) const { return !(*this == o); }
};

// What a video shows; positions, sizes and speeds come from render's seed.
struct Scene {
  std::vector<SceneObject> objects;  // one or two; the second is drawn over the first
  Background background = Background::Black;
  bool operator==(const Scene& o) const { return objects == o.objects && background == o.background; }
  bool operator!=(const Scene& o) const { return !(*this == o); }
};

// Error(BadArgument) unless the scene has one or two objects.
void require_valid(const Scene& scene);

std::string caption(const Scene& scene);
// The scene a caption of the grammar above describes; nullopt for any other text.
std::optional<Scene> parse_caption(std::string_view text);

// One object with its background: the unit held out of training.
struct Combination {
  Colour colour = Colour::Red;
  Shape shape = Shape::Circle;
  Motion motion = Motion::Right;
  Background background = Background::Black;
  Scene scene() const { return Scene{{SceneObject{shape, colour, motion}}, background}; }
  bool operator==(const Combination& o) const {
    return colour == o.colour && shape == o.shape && motion == o.motion && background == o.background;
  }
};

// The 24 single-object combinations the trainer never sees and the quality tests prompt with. Every
// colour, shape, motion and background appears in it (4-8 times each) and in training; none pairs a
// colour with its own background.
const std::vector<Combination>& held_out_combinations();
// True when any object of the scene, with the scene's background, is a held-out combination (so a
// two-object training scene cannot show a held-out object either).
bool is_held_out(const Scene& scene);

// A training scene: uniform over the allowed combinations (colour rule above), never held out; two
// objects with the given probability. Deterministic for the generator's state.
Scene sample_scene(std::mt19937_64& rng, double two_object_probability = kTwoObjectProbability);
// A training scene whose object's colour names the other background: a blue object on green or a green
// one on blue, any shape and motion, never held out. These are the only captions in which a colour
// word's role (object or background) decides the picture; a model that reads captions as a bag of
// colour words swaps the two (runs 5 and 6), so the DiT's data has more of them (DitStage).
Scene sample_role_contrast_scene(std::mt19937_64& rng);
// True for a single object in blue on green or in green on blue: what sample_role_contrast_scene draws.
bool is_role_contrast(const Scene& scene);

// A uniform draw in [0, 1) from the engine's bits: std::uniform_*_distribution differ between standard
// libraries, and the dataset must be the same everywhere for a seed.
double uniform01(std::mt19937_64& rng);

struct Point {
  double x = 0;  // pixels from the left edge (pixel centres at i + 0.5)
  double y = 0;  // pixels from the top edge
};

// Where one object is over a clip: its centre moves on a straight line at constant speed. The centre
// is the shape's centroid (for the triangle, two thirds of the way down from its apex).
struct ObjectPath {
  Point start;
  Point end;
  double size_px = 0;  // circle diameter, square side, triangle height (its side is 2 / sqrt(3) of that)
  Point at(double progress) const {  // progress 0 = first frame, 1 = last frame
    return {start.x + (end.x - start.x) * progress, start.y + (end.y - start.y) * progress};
  }
};

// How far the objects travel. InFrame: the whole path stays inside the frame (the demo's clips).
// LeavesFrame: the object moves at the same speeds but runs over the border its motion points to and is
// wholly outside by a point drawn between kLeaveProgressMin and kLeaveProgressMax of the clip (past 1:
// it is still partly in at the end); training clips of this kind show a model what a long video needs
// once an object reaches the border: it goes, and the frames after stay empty.
enum class Travel { InFrame, LeavesFrame };
inline constexpr double kLeaveProgressMin = 0.6, kLeaveProgressMax = 1.3;

// The paths render() draws for this scene, frame size and seed (one per object, in scene order).
std::vector<ObjectPath> plan_paths(const Scene& scene, std::int64_t height, std::int64_t width, std::uint64_t seed,
                                   Travel travel = Travel::InFrame);

// The video: float32 [3, F, H, W] in [-1, 1] on the CPU, deterministic for (scene, sizes, seed). Shapes
// are solid and anti-aliased over one pixel. Error(BadArgument) unless frames is 1 + 4k, height and
// width are positive multiples of 16 and the scene is valid.
at::Tensor render(const Scene& scene, std::int64_t frames, std::int64_t height, std::int64_t width,
                  std::uint64_t seed, Travel travel = Travel::InFrame);

}  // namespace skyreels::demo
