#include "stats_panel.h"

#include <algorithm>
#include <cmath>

#include <QBarCategoryAxis>
#include <QBarSeries>
#include <QBarSet>
#include <QChart>
#include <QChartView>
#include <QHBoxLayout>
#include <QLabel>
#include <QLegend>
#include <QLegendMarker>
#include <QLineSeries>
#include <QPen>
#include <QStackedWidget>
#include <QToolButton>
#include <QValueAxis>
#include <QVBoxLayout>

#include "progress_panel.h"
#include "round_ticks.h"
#include "skyreels/engine.h"
#include "stats_strip.h"

namespace skyreels::ui {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;

QChart* newChart(const QString& title) {
  auto* chart = new QChart;
  chart->setTitle(title);
  chart->legend()->setAlignment(Qt::AlignBottom);
  chart->legend()->setMarkerShape(QLegend::MarkerShapeFromSeries);  // a line's marker is its pen
  chart->setMargins(QMargins(2, 2, 2, 2));
  chart->setAnimationOptions(QChart::NoAnimation);
  return chart;
}

// Colour and dash both differ, so series stay apart where they overlap and in grey print.
QLineSeries* addLine(QChart* chart, const QString& name, const QColor& colour, Qt::PenStyle style) {
  auto* series = new QLineSeries;
  series->setName(name);
  QPen pen(colour);
  pen.setWidthF(2);
  pen.setStyle(style);
  series->setPen(pen);
  chart->addSeries(series);
  return series;
}

QValueAxis* newAxis(const QString& title) {
  auto* axis = new QValueAxis;
  axis->setTitleText(title);
  applyRoundTicks(axis, 1);
  return axis;
}

// The chart, or until its first data a sentence saying when it fills (page 0).
QStackedWidget* chartOrPlaceholder(QChart* chart, const char* name, const QString& placeholder) {
  auto* stack = new QStackedWidget;
  auto* label = new QLabel(placeholder);
  label->setObjectName(QString::fromLatin1(name) + QStringLiteral("Placeholder"));
  label->setAlignment(Qt::AlignCenter);
  label->setWordWrap(true);
  label->setStyleSheet(QStringLiteral("color: gray; border: 1px dashed #bbb;"));
  auto* view = new QChartView(chart);
  view->setObjectName(QString::fromLatin1(name));
  view->setRenderHint(QPainter::Antialiasing);
  stack->addWidget(label);
  stack->addWidget(view);
  stack->setMinimumSize(180, 160);
  return stack;
}

}  // namespace

StatsPanel::StatsPanel(QWidget* parent)
    : QWidget(parent), strip_(new StatsStrip(this)), charts_(new QWidget(this)), summary_(new QLabel(this)),
      plan_(new QLabel(this)) {
  memoryChart_ = newChart(tr("Memory"));
  allocated_ = addLine(memoryChart_, tr("allocated"), QColor(0x1f, 0x77, 0xb4), Qt::SolidLine);
  reserved_ = addLine(memoryChart_, tr("reserved"), QColor(0xff, 0x7f, 0x0e), Qt::DashLine);
  peak_ = addLine(memoryChart_, tr("peak"), QColor(0x2c, 0xa0, 0x2c), Qt::DotLine);
  budget_ = addLine(memoryChart_, tr("GPU-memory budget"), QColor(0xd6, 0x27, 0x28), Qt::DashDotLine);
  memoryAxes_ = {newAxis(tr("time (s)")), newAxis(tr("memory (MiB)"))};
  memoryChart_->addAxis(memoryAxes_.x, Qt::AlignBottom);
  memoryChart_->addAxis(memoryAxes_.y, Qt::AlignLeft);
  for (auto* s : {allocated_, reserved_, peak_, budget_}) {
    s->attachAxis(memoryAxes_.x);
    s->attachAxis(memoryAxes_.y);
  }

  auto* rows = newChart(tr("Time per row"));
  rowTime_ = addLine(rows, tr("whole row"), QColor(0x1f, 0x77, 0xb4), Qt::SolidLine);
  modelTime_ = addLine(rows, tr("model calls"), QColor(0xff, 0x7f, 0x0e), Qt::DashLine);
  rowAxes_ = {newAxis(tr("row")), newAxis(tr("time (s)"))};
  rows->addAxis(rowAxes_.x, Qt::AlignBottom);
  rows->addAxis(rowAxes_.y, Qt::AlignLeft);
  for (auto* s : {rowTime_, modelTime_}) {
    s->attachAxis(rowAxes_.x);
    s->attachAxis(rowAxes_.y);
  }

  auto* windows = newChart(tr("Time per window"));
  windowTime_ = new QBarSet(tr("window"));
  windowTime_->setColor(QColor(0x1f, 0x77, 0xb4));
  auto* bars = new QBarSeries;
  bars->append(windowTime_);
  windows->addSeries(bars);
  windowAxis_ = new QBarCategoryAxis;
  windowAxis_->setTitleText(tr("window"));
  windowSeconds_ = newAxis(tr("time (s)"));
  windows->addAxis(windowAxis_, Qt::AlignBottom);
  windows->addAxis(windowSeconds_, Qt::AlignLeft);
  bars->attachAxis(windowAxis_);
  bars->attachAxis(windowSeconds_);
  windows->legend()->hide();  // one series: the title says what it is

  memoryStack_ = chartOrPlaceholder(memoryChart_, "memoryChart", tr("Memory shows here while a job runs."));
  rowStack_ = chartOrPlaceholder(rows, "rowChart", tr("The time of each row shows here after the first row."));
  windowStack_ = chartOrPlaceholder(windows, "windowChart", tr("The time of each window shows here when one ends."));

  summary_->setObjectName(QStringLiteral("statsSummary"));
  summary_->setWordWrap(true);
  summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  auto* chartsLayout = new QVBoxLayout(charts_);
  chartsLayout->setContentsMargins(0, 0, 0, 0);
  auto* row = new QHBoxLayout;
  row->addWidget(memoryStack_, 1);
  row->addWidget(rowStack_, 1);
  row->addWidget(windowStack_, 1);
  chartsLayout->addLayout(row, 1);
  chartsLayout->addWidget(summary_);
  plan_->setObjectName(QStringLiteral("statsMemoryPlan"));
  plan_->setWordWrap(true);
  plan_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  plan_->hide();
  chartsLayout->addWidget(plan_);
  charts_->setObjectName(QStringLiteral("statsCharts"));
  // Open, the charts share the height with the player; capped, so the preview stays the larger.
  charts_->setMaximumHeight(300);
  charts_->hide();

  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(strip_);
  layout->addWidget(charts_, 1);
  connect(strip_, &StatsStrip::chartsToggled, this, &StatsPanel::setChartsOpen);
  setChartsOpen(false);

  poll_.setInterval(1000);
  connect(&poll_, &QTimer::timeout, this, &StatsPanel::sampleMemory);
}

bool StatsPanel::chartsOpen() const { return !charts_->isHidden(); }

void StatsPanel::setChartsOpen(bool open) {
  charts_->setVisible(open);
  if (strip_->chartsButton()->isChecked() != open) strip_->chartsButton()->setChecked(open);
  // Open, the panel takes its share of the height; closed, one line.
  setSizePolicy(QSizePolicy::Preferred, open ? QSizePolicy::Preferred : QSizePolicy::Fixed);
}

void StatsPanel::begin(const QString& device, std::optional<double> budgetGib) {
  cuda_ = device == QLatin1String("cuda");
  for (auto* s : {allocated_, reserved_, peak_, budget_, rowTime_, modelTime_}) s->clear();
  windowTime_->remove(0, windowTime_->count());
  windowAxis_->clear();
  memoryMaxMiB_ = secondsMax_ = rowSecondsMax_ = windowSecondsMax_ = 0;
  rowsMax_ = 0;
  budgetMiB_.reset();
  if (budgetGib) budgetMiB_ = *budgetGib * 1024.0;
  for (auto* axis : {memoryAxes_.x, memoryAxes_.y, rowAxes_.x, rowAxes_.y, windowSeconds_}) applyRoundTicks(axis, 1);
  // On the CPU there is one number, the process's resident set; "reserved" would repeat it.
  memoryChart_->setTitle(cuda_ ? tr("GPU memory (caching allocator)") : tr("System RAM (process resident set)"));
  allocated_->setName(cuda_ ? tr("allocated") : tr("RSS"));
  peak_->setName(cuda_ ? tr("peak allocated") : tr("peak RSS"));
  reserved_->setVisible(cuda_);
  for (auto* marker : memoryChart_->legend()->markers(reserved_)) marker->setVisible(cuda_);
  budget_->setVisible(budgetMiB_.has_value());
  for (auto* marker : memoryChart_->legend()->markers(budget_)) marker->setVisible(budgetMiB_.has_value());
  if (budgetMiB_) budget_->setName(tr("GPU-memory budget (%1 GiB)").arg(*budgetGib, 0, 'g', 3));
  rowSecondsTotal_ = modelSecondsTotal_ = 0;
  peakBytes_ = 0;
  for (auto* stack : {rowStack_, windowStack_}) stack->setCurrentIndex(0);
  summary_->setText(tr("Running on %1…").arg(cuda_ ? tr("the GPU") : tr("the CPU")));
  plan_->clear();
  plan_->hide();
  strip_->begin(cuda_);
  clock_.start();
  sampleMemory();
  poll_.start();
}

void StatsPanel::addRow(const RowProgress& row) {
  addMemory(row.allocatedBytes, row.reservedBytes, row.peakAllocatedBytes);
  strip_->setRow(row);
  rowTime_->append(row.rowsDone, row.rowSeconds);
  modelTime_->append(row.rowsDone, row.modelSeconds);
  rowsMax_ = std::max(rowsMax_, row.rowsDone);
  rowSecondsMax_ = std::max({rowSecondsMax_, row.rowSeconds, row.modelSeconds});
  applyRoundTicks(rowAxes_.x, rowsMax_);
  applyRoundTicks(rowAxes_.y, rowSecondsMax_);
  rowSecondsTotal_ += row.rowSeconds;
  modelSecondsTotal_ += row.modelSeconds;
  showChart(rowStack_);
}

void StatsPanel::addWindow(int window, double seconds) {
  windowAxis_->append(tr("%1").arg(window + 1));
  windowTime_->append(seconds);
  windowSecondsMax_ = std::max(windowSecondsMax_, seconds);
  applyRoundTicks(windowSeconds_, windowSecondsMax_);
  showChart(windowStack_);
}

void StatsPanel::end(const JobOutcome& outcome) {
  poll_.stop();
  sampleMemory();
  strip_->end();
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
QString StatsPanel::stripText() const { return strip_->text(); }
QString StatsPanel::memoryPlanText() const { return plan_->text(); }

void StatsPanel::setMemoryPlan(const QString& description, bool enforced) {
  plan_->setText(enforced ? tr("Memory plan: %1. The GPU allocator is capped at the budget.").arg(description)
                          : tr("Memory plan: %1. On the CPU the plan is only shown; nothing is enforced.").arg(description));
  plan_->show();
}

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
  strip_->setMemory(allocated);
  secondsMax_ = std::max(secondsMax_, t);
  memoryMaxMiB_ = std::max(memoryMaxMiB_, static_cast<double>(std::max({allocated, reserved, peak})) / kMiB);
  updateBudgetLine();
  applyRoundTicks(memoryAxes_.x, secondsMax_);
  applyRoundTicks(memoryAxes_.y, std::max(memoryMaxMiB_, budgetMiB_.value_or(0.0)));
  showChart(memoryStack_);
}

void StatsPanel::updateBudgetLine() {
  if (!budgetMiB_) return;
  // Across the whole time axis: from 0 to where the axis ends now.
  const double end = std::max(1.0, roundTicks(secondsMax_).top);
  budget_->replace(QList<QPointF>{{0, *budgetMiB_}, {end, *budgetMiB_}});
}

void StatsPanel::showChart(QStackedWidget* stack) { stack->setCurrentIndex(1); }

}  // namespace skyreels::ui
