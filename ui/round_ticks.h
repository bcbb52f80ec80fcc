#pragma once

class QValueAxis;

namespace skyreels::ui {

// Axis ticks on round numbers (1, 2 or 5 × 10^k apart), so labels read 0, 0.5, 1.0 rather than
// 1.31, 2.62: `step` between ticks and the axis' `top`, the first tick at or above the largest value.
struct RoundTicks {
  double step = 1;
  double top = 1;
  int decimals = 0;  // what the step needs (0.25 is never a step, so at most -log10 of it)
};

// About `ticks` intervals from 0 up to at least `maxValue` (which may be 0: one interval of 1).
RoundTicks roundTicks(double maxValue, int ticks = 5);

// The axis from 0 to the round top, ticks every step, labels with the decimals the step needs.
void applyRoundTicks(QValueAxis* axis, double maxValue, int ticks = 5);

}  // namespace skyreels::ui
