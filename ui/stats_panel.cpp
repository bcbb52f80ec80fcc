#include "stats_panel.h"

#include <algorithm>
#include <cmath>

#include <QBarCategoryAxis>
#include <QBarSeries>
#include <QBarSet>
#include <QChart>
#include <QChartView>
#include <QLabel>
#include <QLineSeries>
#include <QPen>
#include <QValueAxis>
#include <QVBoxLayout>

#include "progress_panel.h"
#include "skyreels/engine.h"

namespace skyreels::ui {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;

QChart* newChart(const QString& title) {
  auto* chart = new QChart;
  chart->setTitle(title);
  chart->legend()->setAlignment(Qt::AlignRight);
  chart->setMargins(QMargins(4, 4, 4, 4));
  chart->setAnimationOptions(QChart::NoAnimation);
  return chart;
}

QLineSeries* addLine(QChart* chart, const QString& name) {
  auto* series = new QLineSeries;
  series->setName(name);
  chart->addSeries(series);
  return series;
}

// Units are in the chart's title: axis titles take room that small charts need for their labels.
QValueAxis* newAxis(const char* format) {
  auto* axis = new QValueAxis;
  axis->setLabelFormat(QString::fromLatin1(format));
  axis->setTickCount(5);
  axis->setRange(0, 1);
  return axis;
}

// Ticks every 1, 2 or 5 × 10^k units, about five of them: round labels for counts and seconds.
void useRoundTicks(QValueAxis* axis) {
  const double rough = std::max(axis->max(), 1.0) / 5.0;
  const double scale = std::pow(10.0, std::floor(std::log10(rough)));
  double step = scale;
  for (const double m : {1.0, 2.0, 5.0, 10.0})
    if (m * scale >= rough) {
      step = m * scale;
      break;
    }
  axis->setTickType(QValueAxis::TicksDynamic);
  axis->setTickAnchor(0);
  axis->setTickInterval(std::max(1.0, step));
}

QChartView* viewOf(QChart* chart, const char* name) {
  auto* view = new QChartView(chart);
  view->setObjectName(QString::fromLatin1(name));
  view->setRenderHint(QPainter::Antialiasing);
  view->setMinimumHeight(180);
  return view;
}

}  // namespace

StatsPanel::StatsPanel(QWidget* parent) : QWidget(parent), summary_(new QLabel(this)) {
  memoryChart_ = newChart(tr("Memory (MiB over seconds)"));
  allocated_ = addLine(memoryChart_, tr("allocated"));
  reserved_ = addLine(memoryChart_, tr("reserved"));
  peak_ = addLine(memoryChart_, tr("peak"));
  memoryAxes_ = {newAxis("%.0f"), newAxis("%.0f")};
  memoryChart_->addAxis(memoryAxes_.x, Qt::AlignBottom);
  memoryChart_->addAxis(memoryAxes_.y, Qt::AlignLeft);
  for (auto* s : {allocated_, reserved_, peak_}) {
    s->attachAxis(memoryAxes_.x);
    s->attachAxis(memoryAxes_.y);
  }

  auto* rows = newChart(tr("Time per row (seconds)"));
  rowTime_ = addLine(rows, tr("row"));
  modelTime_ = addLine(rows, tr("model calls"));
  // Dashed, so the row line stays visible where the model calls are the whole row.
  QPen dashed = modelTime_->pen();
  dashed.setStyle(Qt::DashLine);
  modelTime_->setPen(dashed);
  rowAxes_ = {newAxis("%.0f"), newAxis("%.2f")};
  rows->addAxis(rowAxes_.x, Qt::AlignBottom);
  rows->addAxis(rowAxes_.y, Qt::AlignLeft);
  for (auto* s : {rowTime_, modelTime_}) {
    s->attachAxis(rowAxes_.x);
    s->attachAxis(rowAxes_.y);
  }

  auto* windows = newChart(tr("Time per window (seconds)"));
  windowTime_ = new QBarSet(tr("window"));
  auto* bars = new QBarSeries;
  bars->append(windowTime_);
  windows->addSeries(bars);
  windowAxis_ = new QBarCategoryAxis;
  windowSeconds_ = newAxis("%.1f");
  windows->addAxis(windowAxis_, Qt::AlignBottom);
  windows->addAxis(windowSeconds_, Qt::AlignLeft);
  bars->attachAxis(windowAxis_);
  bars->attachAxis(windowSeconds_);
  windows->legend()->hide();

  summary_->setObjectName(QStringLiteral("statsSummary"));
  summary_->setWordWrap(true);
  summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(viewOf(memoryChart_, "memoryChart"), 1);
  layout->addWidget(viewOf(rows, "rowChart"), 1);
  layout->addWidget(viewOf(windows, "windowChart"), 1);
  layout->addWidget(summary_);

  poll_.setInterval(1000);
  connect(&poll_, &QTimer::timeout, this, &StatsPanel::sampleMemory);
}

void StatsPanel::begin(const QString& device) {
  cuda_ = device == QLatin1String("cuda");
  for (auto* s : {allocated_, reserved_, peak_, rowTime_, modelTime_}) s->clear();
  windowTime_->remove(0, windowTime_->count());
  windowAxis_->clear();
  for (auto* axis : {memoryAxes_.x, memoryAxes_.y, rowAxes_.x, rowAxes_.y, windowSeconds_}) axis->setRange(0, 1);
  // On the CPU there is one number, the process's resident set; "reserved" would repeat it.
  memoryChart_->setTitle(cuda_ ? tr("GPU memory, caching allocator (MiB over seconds)")
                               : tr("System RAM, process resident set (MiB over seconds)"));
  allocated_->setName(cuda_ ? tr("allocated") : tr("RSS"));
  peak_->setName(cuda_ ? tr("peak allocated") : tr("peak RSS"));
  reserved_->setVisible(cuda_);
  rowSecondsTotal_ = modelSecondsTotal_ = 0;
  peakBytes_ = 0;
  summary_->setText(tr("Running on %1…").arg(cuda_ ? tr("the GPU") : tr("the CPU")));
  clock_.start();
  sampleMemory();
  poll_.start();
}

void StatsPanel::addRow(const RowProgress& row) {
  addMemory(row.allocatedBytes, row.reservedBytes, row.peakAllocatedBytes);
  rowTime_->append(row.rowsDone, row.rowSeconds);
  modelTime_->append(row.rowsDone, row.modelSeconds);
  grow(rowAxes_.x, row.rowsDone);
  useRoundTicks(rowAxes_.x);
  grow(rowAxes_.y, row.rowSeconds * 1.1);
  rowSecondsTotal_ += row.rowSeconds;
  modelSecondsTotal_ += row.modelSeconds;
}

void StatsPanel::addWindow(int window, double seconds) {
  windowAxis_->append(tr("W%1").arg(window + 1));
  windowTime_->append(seconds);
  grow(windowSeconds_, seconds * 1.1);
}

void StatsPanel::end(const JobOutcome& outcome) {
  poll_.stop();
  sampleMemory();
  peakBytes_ = std::max(peakBytes_, outcome.peakBytes);
  const int rows = rowPoints();
  QStringList parts;
  parts << tr("%1 in %2").arg(countOf(outcome.framesWritten, "frame", "frames"), formatDuration(outcome.seconds));
  if (rows > 0)
    parts << tr("%1, %2 s/row on average (model %3 s)")
                 .arg(countOf(rows, "row", "rows"))
                 .arg(rowSecondsTotal_ / rows, 0, 'f', 3)
                 .arg(modelSecondsTotal_ / rows, 0, 'f', 3);
  if (windowBars() > 0) {
    QStringList windows;
    for (int i = 0; i < windowTime_->count(); ++i) windows << QString::number(windowTime_->at(i), 'f', 1) + QStringLiteral(" s");
    parts << tr("windows: %1").arg(windows.join(QStringLiteral(", ")));
  }
  parts << tr("peak %1 %2 MiB").arg(cuda_ ? tr("GPU memory") : tr("RSS")).arg(static_cast<double>(peakBytes_) / kMiB, 0, 'f', 0);
  summary_->setText(parts.join(QStringLiteral(" · ")));
}

int StatsPanel::memoryPoints() const { return allocated_->count(); }
int StatsPanel::rowPoints() const { return rowTime_->count(); }
int StatsPanel::windowBars() const { return windowTime_->count(); }
QString StatsPanel::summaryText() const { return summary_->text(); }

void StatsPanel::sampleMemory() {
  // Reading the allocator's counters (or /proc on the CPU) is safe from any thread.
  const auto m = memory_stats(cuda_ ? "cuda:0" : "cpu");
  addMemory(m.allocated_bytes, m.reserved_bytes, m.peak_allocated_bytes);
}

void StatsPanel::addMemory(qint64 allocated, qint64 reserved, qint64 peak) {
  const double t = static_cast<double>(clock_.elapsed()) / 1000.0;
  peakBytes_ = std::max(peakBytes_, peak);
  allocated_->append(t, static_cast<double>(allocated) / kMiB);
  reserved_->append(t, static_cast<double>(reserved) / kMiB);
  peak_->append(t, static_cast<double>(peak) / kMiB);
  grow(memoryAxes_.x, t);
  useRoundTicks(memoryAxes_.x);
  grow(memoryAxes_.y, static_cast<double>(std::max({allocated, reserved, peak})) / kMiB * 1.1);
}

void StatsPanel::grow(QValueAxis* axis, double value) {
  if (value > axis->max()) axis->setMax(value);
}

}  // namespace skyreels::ui
