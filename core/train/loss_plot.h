#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <vector>

#include "train/loss_log.h"

namespace skyreels::train {

using Rgb = std::array<std::uint8_t, 3>;

// The plot's two curves, so a reader of the image (a test, a legend) can tell them apart.
inline constexpr Rgb kLossRawColour = {150, 190, 235};    // the loss of each step, light
inline constexpr Rgb kLossAverageColour = {20, 55, 135};  // its moving average, dark

// Draws a loss log as a PNG line chart: a panel per stage (in the order the stages first appear; up to
// three side by side, then more rows), steps on x, the loss on a log10 y axis with decades labelled, the
// raw loss light and its centred moving average (over 2% of the stage's points, at least 1) dark.
// Non-finite and non-positive losses have no place on a log axis and are left out; a stage left with
// none, or no rows at all, draws "no data". Written beside `png` and renamed into place.
// Errors (skyreels::Error): BadArgument for a size under 160x120 or over 8192x8192, and what
// write_png_rgb throws.
void write_loss_plot(const std::filesystem::path& png, const std::vector<LossRow>& rows, int width = 960,
                     int height = 540);

}  // namespace skyreels::train
