// The procedural training videos of the demo model (issue 22): deterministic renders, objects of the
// right shape that stay in the frame and move plainly, the caption grammar, and a held-out set the
// sampler never produces.

#include <cmath>
#include <map>
#include <random>
#include <set>
#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "demo/procedural_video.h"
#include "skyreels/error.h"
#include "test_support.h"

namespace demo = skyreels::demo;
using demo::Background;
using demo::Colour;
using demo::Motion;
using demo::Scene;
using demo::SceneObject;
using demo::Shape;
using skyreels::ErrorCode;

namespace {

Scene one(Colour colour, Shape shape, Motion motion, Background background) {
  return Scene{{SceneObject{shape, colour, motion}}, background};
}

std::vector<Scene> every_single_object_scene() {
  std::vector<Scene> scenes;
  for (auto c : demo::kColours)
    for (auto s : demo::kShapes)
      for (auto m : demo::kMotions)
        for (auto b : demo::kBackgrounds) scenes.push_back(one(c, s, m, b));
  return scenes;
}

// The background level of a channel in [-1, 1], as render writes it.
float level(std::uint8_t v) { return static_cast<float>(v) / 127.5f - 1.0f; }

torch::Tensor background_of(Background b) {
  const auto c = demo::rgb(b);
  return torch::tensor({level(c.r), level(c.g), level(c.b)});
}

}  // namespace

TEST(ProceduralVideo, RenderIsDeterministicForASeed) {
  const auto scene = one(Colour::Red, Shape::Circle, Motion::Right, Background::Black);
  const auto a = demo::render(scene, 9, 64, 96, 7);
  EXPECT_TRUE(torch::equal(a, demo::render(scene, 9, 64, 96, 7)));
  EXPECT_FALSE(torch::equal(a, demo::render(scene, 9, 64, 96, 8)));  // another start, speed and size
}

TEST(ProceduralVideo, ShapesSizesAndValueRange) {
  const auto scene = one(Colour::White, Shape::Triangle, Motion::Up, Background::Gray);
  for (auto [frames, height, width] : {std::tuple{1, 32, 48}, {5, 128, 128}, {17, 192, 320}, {21, 320, 192}}) {
    const auto v = demo::render(scene, frames, height, width, 3);
    ASSERT_EQ(v.sizes(), (std::vector<std::int64_t>{3, frames, height, width}));
    EXPECT_EQ(v.scalar_type(), torch::kFloat);
    EXPECT_GE(v.min().item<float>(), -1.0f);
    EXPECT_LE(v.max().item<float>(), 1.0f);
    // The frame's border is background in every frame: objects keep a margin from the edge.
    const auto bg = background_of(Background::Gray).view({3, 1, 1});
    for (std::int64_t t = 0; t < frames; ++t) {
      const auto f = v.select(1, t);
      for (const auto& edge : {f.select(1, 0), f.select(1, height - 1), f.select(2, 0), f.select(2, width - 1)})
        EXPECT_TRUE(torch::allclose(edge, bg.view({3, 1}).expand_as(edge))) << frames << " frames, t = " << t;
    }
  }
}

TEST(ProceduralVideo, RejectsImpossibleSizesAndScenes) {
  const auto scene = one(Colour::Red, Shape::Square, Motion::Left, Background::Black);
  ErrorCode code{};
  for (auto [frames, height, width] : {std::tuple{0, 64, 64}, {2, 64, 64}, {18, 64, 64}, {5, 100, 64}, {5, 64, 0}}) {
    EXPECT_NE(skyreels::test::error_text([&] { demo::render(scene, frames, height, width, 0); }, &code), "");
    EXPECT_EQ(code, ErrorCode::BadArgument);
  }
  const Scene empty{{}, Background::Black};
  Scene three = scene;
  three.objects.assign(3, scene.objects[0]);
  for (const auto& bad : {empty, three}) {
    EXPECT_NE(skyreels::test::error_text([&] { demo::render(bad, 5, 64, 64, 0); }, &code), "");
    EXPECT_EQ(code, ErrorCode::BadArgument);
    EXPECT_NE(skyreels::test::error_text([&] { demo::caption(bad); }, &code), "");
  }
}

TEST(ProceduralVideo, ObjectsHaveTheirShapesAreaAndCentroid) {
  // Coverage (how far each pixel went from the background towards the object) integrates to the
  // shape's area, and its centroid is the path's point: the triangle's centre is its centroid.
  constexpr double kPi = 3.14159265358979323846;
  for (auto shape : demo::kShapes) {
    const auto scene = one(Colour::Yellow, shape, Motion::Down, Background::Blue);
    const auto path = demo::plan_paths(scene, 128, 128, 11).at(0);
    const auto v = demo::render(scene, 1, 128, 128, 11).select(1, 0);  // [3, H, W]
    const auto bg = background_of(Background::Blue).view({3, 1, 1});
    const auto c = demo::rgb(Colour::Yellow);
    const auto fg = torch::tensor({level(c.r), level(c.g), level(c.b)}).view({3, 1, 1});
    const auto cover = ((v - bg) * (fg - bg)).sum(0) / ((fg - bg) * (fg - bg)).sum();  // [H, W]
    const double s = path.size_px;
    const double expected = shape == Shape::Circle   ? kPi / 4 * s * s
                            : shape == Shape::Square ? s * s
                                                     : s * s / std::sqrt(3.0);
    const double area = cover.sum().item<double>();
    EXPECT_NEAR(area / expected, 1.0, 0.02) << demo::to_string(shape);
    const auto xs = torch::arange(128, torch::kFloat) + 0.5;
    EXPECT_NEAR((cover * xs.view({1, 128})).sum().item<double>() / area, path.start.x, 0.1) << demo::to_string(shape);
    EXPECT_NEAR((cover * xs.view({128, 1})).sum().item<double>() / area, path.start.y, 0.1) << demo::to_string(shape);
    EXPECT_NEAR(s / 128, demo::kObjectSize, demo::kObjectSize * demo::kObjectSizeJitter + 1e-9);
  }
}

TEST(ProceduralVideo, ObjectsMovePlainlyAndStayInTheFrame) {
  for (auto [height, width] : {std::pair{128, 128}, {192, 320}, {320, 192}, {48, 80}}) {
    for (auto motion : demo::kMotions) {
      for (std::uint64_t seed = 0; seed < 40; ++seed) {
        const auto scene = one(Colour::Red, seed % 2 ? Shape::Triangle : Shape::Square, motion, Background::Black);
        const auto p = demo::plan_paths(scene, height, width, seed).at(0);
        const double dx = p.end.x - p.start.x, dy = p.end.y - p.start.y;
        const bool horizontal = motion == Motion::Left || motion == Motion::Right;
        const double travel = horizontal ? dx : dy;
        EXPECT_EQ(horizontal ? dy : dx, 0.0);
        EXPECT_GT(travel * (motion == Motion::Right || motion == Motion::Down ? 1 : -1), 0);
        // At least kMinTravel of the frame, or all the room there is (portrait frames, sideways).
        const double unit = std::min(height, width);
        const double reach = p.size_px * (horizontal ? (seed % 2 ? 2 / std::sqrt(3.0) : 1.0) : 1.0);
        const double room = (horizontal ? width : height) - reach - 2 * demo::kEdgeMargin * unit;
        EXPECT_GE(std::abs(travel) + 1e-9, std::min(demo::kMinTravel * (horizontal ? width : height), room));
        // The whole shape stays inside the frame, the margin free: a square of side s around its centre; an upright
        // equilateral triangle of height s around its centroid reaches 2s/3 up, s/3 down, s/sqrt(3) sideways.
        const bool triangle = seed % 2 == 1;
        const double half_width = triangle ? p.size_px / std::sqrt(3.0) : p.size_px / 2;
        const double up = triangle ? p.size_px * 2 / 3 : p.size_px / 2, down = triangle ? p.size_px / 3 : p.size_px / 2;
        const double margin = demo::kEdgeMargin * unit - 1e-9;
        for (const auto& q : {p.start, p.end}) {
          EXPECT_GE(q.x - half_width, margin);
          EXPECT_LE(q.x + half_width, width - margin);
          EXPECT_GE(q.y - up, margin);
          EXPECT_LE(q.y + down, height - margin);
        }
      }
    }
  }
}

TEST(ProceduralVideo, LeavingObjectsCrossTheBorderTheyMoveToAtTheDemosSpeeds) {
  constexpr std::int64_t kH = 64, kW = 96, kFrames = 33;
  int gone_early = 0;
  for (auto motion : demo::kMotions) {
    for (std::uint64_t seed = 0; seed < 24; ++seed) {
      const auto shape = seed % 3 == 0 ? Shape::Triangle : seed % 3 == 1 ? Shape::Circle : Shape::Square;
      const auto scene = one(Colour::White, shape, motion, Background::Black);
      const auto p = demo::plan_paths(scene, kH, kW, seed, demo::Travel::LeavesFrame).at(0);
      const bool horizontal = motion == Motion::Left || motion == Motion::Right;
      const bool forward = motion == Motion::Right || motion == Motion::Down;
      const double length = horizontal ? kW : kH;
      const double travel = horizontal ? p.end.x - p.start.x : p.end.y - p.start.y;
      EXPECT_EQ(horizontal ? p.end.y - p.start.y : p.end.x - p.start.x, 0.0);
      EXPECT_GT(travel * (forward ? 1 : -1), 0);
      EXPECT_GE(std::abs(travel), demo::kMinTravel * length - 1e-9);
      EXPECT_LE(std::abs(travel), demo::kMaxTravel * length + 1e-9);

      // The frames, rendered: the object is in the first one; once it is wholly past the border, each
      // later frame is the bare background, and it went out on the side its motion points to.
      const auto video = demo::render(scene, kFrames, kH, kW, seed, demo::Travel::LeavesFrame);
      const auto bg = background_of(Background::Black).view({3, 1, 1, 1});
      const auto differs = (video - bg).abs().amax(0) > 0.05f;  // [F, H, W]
      EXPECT_TRUE(differs[0].any().item<bool>()) << "seed " << seed;
      std::int64_t first_empty = kFrames;
      for (std::int64_t t = 0; t < kFrames; ++t)
        if (!differs[t].any().item<bool>()) { first_empty = t; break; }
      for (std::int64_t t = first_empty; t < kFrames; ++t) EXPECT_FALSE(differs[t].any().item<bool>()) << t;
      if (first_empty == kFrames) continue;
      ++gone_early;
      const double progress = static_cast<double>(first_empty) / (kFrames - 1);
      EXPECT_GE(progress, demo::kLeaveProgressMin - 1e-9);
      const auto last_seen = differs[first_empty - 1].nonzero().to(torch::kFloat).mean(0);  // (y, x)
      const double along = last_seen[horizontal ? 1 : 0].item<double>();
      EXPECT_TRUE(forward ? along > length * 0.75 : along < length * 0.25) << "seed " << seed << " at " << along;
    }
  }
  // Most clips of this kind end with empty frames, as a long video's do after its object has gone.
  EXPECT_GT(gone_early, 4 * 24 / 3);
}

TEST(ProceduralVideo, TwoObjectsArePlacedApart) {
  const Scene scene{{SceneObject{Shape::Circle, Colour::Red, Motion::Right},
                     SceneObject{Shape::Square, Colour::Blue, Motion::Left}},
                    Background::Gray};
  int apart = 0;
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    const auto paths = demo::plan_paths(scene, 128, 128, seed);
    ASSERT_EQ(paths.size(), 2u);
    double closest = 1e9;
    for (int i = 0; i <= 8; ++i) {
      const auto a = paths[0].at(i / 8.0), b = paths[1].at(i / 8.0);
      closest = std::min(closest, std::hypot(a.x - b.x, a.y - b.y));
    }
    apart += closest >= demo::kMinObjectSeparation * std::max(paths[0].size_px, paths[1].size_px);
    for (const auto& p : paths)
      EXPECT_NEAR(p.size_px / 128, demo::kObjectSize * demo::kTwoObjectSizeScale,
                  demo::kObjectSize * demo::kTwoObjectSizeScale * demo::kObjectSizeJitter + 1e-9);
  }
  EXPECT_GE(apart, 45);  // best effort: crossing paths in a small frame may not always avoid each other
  EXPECT_EQ(demo::render(scene, 5, 64, 64, 1).sizes(), (std::vector<std::int64_t>{3, 5, 64, 64}));
}

TEST(ProceduralVideo, CaptionsReadAsTheIssueAsks) {
  EXPECT_EQ(demo::caption(one(Colour::Red, Shape::Circle, Motion::Right, Background::Black)),
            "a red circle moves right on a black background");
  const Scene two{{SceneObject{Shape::Circle, Colour::Red, Motion::Right},
                   SceneObject{Shape::Square, Colour::Blue, Motion::Up}},
                  Background::Gray};
  EXPECT_EQ(demo::caption(two), "a red circle moves right and a blue square moves up on a gray background");
}

TEST(ProceduralVideo, CaptionRoundTripsForEveryCombination) {
  const auto singles = every_single_object_scene();
  ASSERT_EQ(singles.size(), 240u);
  std::set<std::string> captions;
  for (const auto& scene : singles) {
    const auto text = demo::caption(scene);
    captions.insert(text);
    const auto parsed = demo::parse_caption(text);
    ASSERT_TRUE(parsed) << text;
    EXPECT_EQ(*parsed, scene) << text;
  }
  EXPECT_EQ(captions.size(), singles.size());
  for (const auto& a : singles) {
    for (const auto& b : singles) {
      if (a.background != b.background) continue;
      const Scene two{{a.objects[0], b.objects[0]}, a.background};
      const auto parsed = demo::parse_caption(demo::caption(two));
      ASSERT_TRUE(parsed) << demo::caption(two);
      EXPECT_EQ(*parsed, two);
    }
  }
}

TEST(ProceduralVideo, ParseCaptionAcceptsLooseSpellingAndRejectsTheRest) {
  const auto expected = one(Colour::Yellow, Shape::Triangle, Motion::Down, Background::Green);
  for (const char* text : {"A Yellow triangle moves down on a green background.",
                           "  a yellow  triangle moves down on a green background ",
                           "a yellow triangle moves down on a green background..."}) {
    const auto parsed = demo::parse_caption(text);
    ASSERT_TRUE(parsed) << text;
    EXPECT_EQ(*parsed, expected);
  }
  for (const char* text :
       {"", "a red circle moves right", "a purple circle moves right on a black background",
        "a red circle moves sideways on a black background", "a red circle moves right on a pink background",
        "a red circle moves right on a black background please", "the red circle moves right on a black background",
        "a red circle moves right and on a black background", "a red ball bounces on a wooden floor",
        "a red circle moves right and a blue square moves up and a white circle moves left on a gray background"})
    EXPECT_FALSE(demo::parse_caption(text)) << text;
}

TEST(ProceduralVideo, HeldOutSetCoversEveryValueAndNoClash) {
  const auto& held_out = demo::held_out_combinations();
  ASSERT_GE(held_out.size(), 24u);
  std::set<std::string> unique;
  std::map<std::string, int> seen;
  for (const auto& c : held_out) {
    unique.insert(demo::caption(c.scene()));
    ++seen[demo::to_string(c.colour) + std::string(" colour")];
    ++seen[demo::to_string(c.shape)];
    ++seen[std::string("moves ") + demo::to_string(c.motion)];
    ++seen[demo::to_string(c.background) + std::string(" background")];
    EXPECT_TRUE(demo::is_held_out(c.scene()));
    // Never an object on the background of its own name.
    EXPECT_FALSE(c.colour == Colour::Blue && c.background == Background::Blue);
    EXPECT_FALSE(c.colour == Colour::Green && c.background == Background::Green);
  }
  EXPECT_EQ(unique.size(), held_out.size());
  EXPECT_EQ(seen.size(),
            demo::kColours.size() + demo::kShapes.size() + demo::kMotions.size() + demo::kBackgrounds.size());
}

TEST(ProceduralVideo, SampledScenesAreNeverHeldOutAndCoverEveryValue) {
  std::mt19937_64 rng(0);
  std::set<std::string> values, pairs;
  int two = 0;
  constexpr int kSamples = 5000;
  for (int i = 0; i < kSamples; ++i) {
    const auto scene = demo::sample_scene(rng);
    ASSERT_FALSE(demo::is_held_out(scene)) << demo::caption(scene);
    ASSERT_TRUE(scene.objects.size() == 1 || scene.objects.size() == 2);
    two += scene.objects.size() == 2;
    if (scene.objects.size() == 2) {
      EXPECT_NE(scene.objects[0].colour, scene.objects[1].colour);
    }
    const std::string bg = std::string(demo::to_string(scene.background)) + " background";
    values.insert(bg);
    for (const auto& o : scene.objects) {
      EXPECT_FALSE(o.colour == Colour::Blue && scene.background == Background::Blue);
      EXPECT_FALSE(o.colour == Colour::Green && scene.background == Background::Green);
      const std::string words[] = {demo::to_string(o.colour) + std::string(" colour"), demo::to_string(o.shape),
                                   std::string("moves ") + demo::to_string(o.motion), bg};
      for (const auto& w : words) values.insert(w);
      if (scene.objects.size() == 1) {  // every pair of values is shown in training, alone on a background
        for (int a = 0; a < 4; ++a)
          for (int b = a + 1; b < 4; ++b) pairs.insert(words[a] + " + " + words[b]);
      }
    }
  }
  EXPECT_EQ(values.size(), 16u);  // 5 colours, 3 shapes, 4 motions, 4 backgrounds
  // 5x3 + 5x4 + 5x4 + 3x4 + 3x4 + 4x4 pairs, less blue/blue and green/green.
  EXPECT_EQ(pairs.size(), 15u + 20 + 20 + 12 + 12 + 16 - 2);
  EXPECT_NEAR(static_cast<double>(two) / kSamples, demo::kTwoObjectProbability, 0.03);

  const auto draw = [](std::uint64_t seed) {
    std::mt19937_64 r(seed);
    std::vector<Scene> scenes;
    for (int i = 0; i < 10; ++i) scenes.push_back(demo::sample_scene(r));
    return scenes;
  };
  EXPECT_EQ(draw(0), draw(0));
  EXPECT_NE(draw(0), draw(1));
  std::mt19937_64 singles(2);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(demo::sample_scene(singles, 0.0).objects.size(), 1u);
}

TEST(ProceduralVideo, RoleContrastScenesPutBlueOnGreenOrGreenOnBlue) {
  std::mt19937_64 rng(3);
  std::set<std::string> shapes_and_motions;
  int blue_objects = 0;
  constexpr int kSamples = 2000;
  for (int i = 0; i < kSamples; ++i) {
    const auto scene = demo::sample_role_contrast_scene(rng);
    ASSERT_EQ(scene.objects.size(), 1u);
    ASSERT_FALSE(demo::is_held_out(scene)) << demo::caption(scene);
    const auto& o = scene.objects[0];
    const bool blue_on_green = o.colour == Colour::Blue && scene.background == Background::Green;
    const bool green_on_blue = o.colour == Colour::Green && scene.background == Background::Blue;
    ASSERT_TRUE(blue_on_green || green_on_blue) << demo::caption(scene);
    ASSERT_TRUE(demo::is_role_contrast(scene));
    blue_objects += blue_on_green;
    shapes_and_motions.insert(std::string(demo::to_string(o.shape)) + " " + demo::to_string(o.motion));
  }
  EXPECT_EQ(shapes_and_motions.size(), demo::kShapes.size() * demo::kMotions.size());
  EXPECT_NEAR(static_cast<double>(blue_objects) / kSamples, 0.5, 0.05);
  EXPECT_FALSE(demo::is_role_contrast(Scene{{SceneObject{Shape::Circle, Colour::Blue, Motion::Up}}, Background::Gray}));
  EXPECT_FALSE(demo::is_role_contrast(
      Scene{{SceneObject{Shape::Circle, Colour::Blue, Motion::Up}, SceneObject{Shape::Square, Colour::Red, Motion::Up}},
            Background::Green}));
}
