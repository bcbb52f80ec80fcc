#include "round_ticks.h"

#include <algorithm>
#include <cmath>

#include <QValueAxis>

namespace skyreels::ui {

RoundTicks roundTicks(double maxValue, int ticks) {
  RoundTicks r;
  if (!(maxValue > 0) || !std::isfinite(maxValue)) return r;
  const double rough = maxValue / std::max(1, ticks);
  const double scale = std::pow(10.0, std::floor(std::log10(rough)));
  r.step = 10 * scale;
  for (const double m : {1.0, 2.0, 5.0})
    if (m * scale >= rough) {
      r.step = m * scale;
      break;
    }
  // A hair of slack, so 2.0000001 (a sum of floats) does not add a whole interval.
  r.top = std::ceil(maxValue / r.step - 1e-9) * r.step;
  r.decimals = std::max(0, static_cast<int>(-std::floor(std::log10(r.step) + 1e-9)));
  return r;
}

void applyRoundTicks(QValueAxis* axis, double maxValue, int ticks) {
  const auto r = roundTicks(maxValue, ticks);
  axis->setTickType(QValueAxis::TicksDynamic);
  axis->setTickAnchor(0);
  // The axis lays out its ticks at each change: a range of 0..20000 MiB with the old interval of 1
  // would make 20000 tick items. Widen the interval before the range, narrow it after.
  if (r.step >= axis->tickInterval()) {
    axis->setTickInterval(r.step);
    axis->setRange(0, r.top);
  } else {
    axis->setRange(0, r.top);
    axis->setTickInterval(r.step);
  }
  axis->setLabelFormat(QStringLiteral("%.") + QString::number(r.decimals) + QStringLiteral("f"));
}

}  // namespace skyreels::ui
