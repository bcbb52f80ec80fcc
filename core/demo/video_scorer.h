#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "demo/procedural_video.h"

namespace skyreels::demo {

// A detector of ours that reads back what a (generated) video shows, in the vocabulary of
// procedural_video.h, so prompt adherence is a number instead of an opinion:
//  1. background: the per-channel median of all pixels (objects cover a few percent), classified to
//     the nearest background colour; too few pixels near it means there is no plain background (noise);
//  2. object mask: pixels past the midpoint between the measured background colour and the measured
//     colour of the object (the median of the pixels far from the background that are nearest the
//     palette colour most of them are nearest), after a 3 x 3 box blur against noise; per frame the
//     largest 4-connected part of it. Object colour: the palette colour most mask pixels are nearest;
//  3. centroid, area and bounding box of that part, per frame;
//  4. shape: per frame, a square when the mask fills the corners of its bounding box (trimmed of the
//     outermost pixels, so that a stray pixel cannot stretch it); otherwise circle or triangle by the
//     mask's fill of its bounding box (circle pi/4, triangle 1/2) and how far its centroid sits below
//     the box's centre (triangle 1/6 of the height, circle 0); then the majority over frames. The
//     features ignore size, and blur moves them little. (Fill alone read a trained model's squares,
//     with slightly pinched sides and a small blob at a corner tip, as circles: fill 0.82-0.92 a frame,
//     mostly under the 0.89 midpoint; their corners are 0.76-1.00 full.)
//  5. motion: a least-squares line through the per-frame centroids; its travel over the clip must be
//     long enough and mostly along one axis.
// One object is tracked: the one of the dominant colour. Two-object scenes are not scored (score()
// throws Error(Unsupported)); their detection describes the object of the most pixels.

// --- thresholds (distances are Euclidean in RGB with channels in [0, 1]) ---
inline constexpr double kBackgroundMaxDistance = 0.3;   // measured background to its palette colour
inline constexpr double kBackgroundNearDistance = 0.25; // a pixel this close is background...
inline constexpr double kMinBackgroundCoverage = 0.5;   // ...and at least this share must be
inline constexpr double kObjectMinContrast = 0.2;       // colour votes count pixels this far from it
inline constexpr double kMinObjectArea = 0.002;         // of the frame, for a frame to have the object
inline constexpr double kMaxObjectArea = 0.3;           // beyond this the "object" is no shape of ours
inline constexpr double kMinFoundFrames = 0.5;          // share of frames where the object must be found
inline constexpr double kMinTravelFraction = 0.1;       // fitted travel / frame size along its axis
inline constexpr double kAxisDominance = 2.0;           // travel along the axis / travel across it
inline constexpr double kTriangleOffset = 1.0 / 6;      // centroid below box centre, / box height
inline constexpr double kOffsetWeight = 2.0;            // weight of that offset against the fill ratio
inline constexpr double kCornerTrim = 0.01;             // mask pixels left out at each side of the box
inline constexpr double kCornerCut = 0.25;              // corner triangles' legs, in box widths/heights
inline constexpr double kSquareCornerFill = 0.5;        // square: corners at least this full (circle 0,
                                                        // triangle 1/3, square 1)
// The median step is floored at this many pixels when judging jumps, so that the sub-pixel jitter of
// a still object does not read as a jump.
inline constexpr double kMinStepPx = 0.5;
// A track last seen within this fraction of the frame (along the motion's axis) from the border its
// motion points to has left across that border: the visible part's centroid of a square 0.4 of the
// frame is 0.1 from the border when half of it is outside (0.2 when it only touches the border).
inline constexpr double kExitBand = 0.1;

// What one frame shows of the tracked object.
struct FrameObject {
  bool found = false;
  Point centroid;
  double area_px = 0;
  double fill = 0;    // area / bounding-box area
  double offset = 0;  // |centroid y - box centre y| / box height
  double corners = 0; // share of the trimmed box's corner triangles the mask fills
  std::optional<Shape> shape;
};

struct Detection {
  bool valid = false;  // false: no plain background or no object in enough frames (see `why`)
  std::string why;
  std::optional<Background> background;  // nullopt: the background matches none of ours
  std::optional<Colour> colour;
  std::optional<Shape> shape;
  std::optional<Motion> motion;  // nullopt: no clear motion (too short, or diagonal)
  std::vector<FrameObject> frames;
  std::vector<std::optional<Point>> centroids;  // per frame; nullopt where the object was not found
  Point travel;                                  // fitted displacement over the clip, in pixels
  double median_step_px = 0;  // median centroid displacement between consecutive frames
  double max_jump_ratio = 0;  // max_jump_ratio(centroids)
  std::array<double, 3> background_rgb{};  // measured, channels in [0, 1]
  std::array<double, 3> object_rgb{};
};

// Frames: uint8 [F, H, W, 3] on the CPU (pipeline::pixels_to_uint8 of a decoded video).
// Error(BadArgument) for any other tensor.
Detection detect(const at::Tensor& frames);

struct ScoreCard {
  bool colour_ok = false;
  bool background_ok = false;
  bool shape_ok = false;
  bool motion_ok = false;
  bool all_ok() const { return colour_ok && background_ok && shape_ok && motion_ok; }
};

// Each check compares the detection with the scene's one object; an invalid detection fails all four.
// Error(Unsupported) for two-object scenes.
ScoreCard score(const Detection& detection, const Scene& expected);

// Steps between consecutive frames where the object was found (frames without it break the chain).
std::vector<double> centroid_steps(const std::vector<std::optional<Point>>& centroids);
// The median of centroid_steps; 0 when there are none.
double median_step(const std::vector<std::optional<Point>>& centroids);
// The largest step over the median step (floored at kMinStepPx): steady motion gives about 1, and a
// window join that jumps gives more than 2 (issue 22's "no jump larger than twice the median
// per-frame displacement"). 0 when there are no steps.
double max_jump_ratio(const std::vector<std::optional<Point>>& centroids);

}  // namespace skyreels::demo
