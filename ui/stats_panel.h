#pragma once

#include <optional>

#include <QElapsedTimer>
#include <QTimer>
#include <QWidget>

#include "generation_worker.h"

class QBarSet;
class QBarCategoryAxis;
class QChart;
class QLabel;
class QLineSeries;
class QStackedWidget;
class QValueAxis;

namespace skyreels::ui {

class StatsStrip;

// The stats of a job: a one-line strip (memory now, s/row, ETA) that opens into live charts of device
// memory over time (CUDA: allocated, reserved and peak allocated from the caching allocator; CPU: the
// process's resident set and its peak; the GPU-memory budget as a line when the job has one), the
// time of every row (and the model's share of it) and the time of every window, then a summary line
// at the end. A chart without data shows a sentence saying when it will fill, never empty axes. Memory
// is polled once a second while a job runs, so model loading shows too, and sampled with every row.
class StatsPanel : public QWidget {
  Q_OBJECT
public:
  explicit StatsPanel(QWidget* parent = nullptr);

  // `device` "cpu" or "cuda"; `budgetGib` the job's vram_budget_gib.
  void begin(const QString& device, std::optional<double> budgetGib = std::nullopt);
  void addRow(const RowProgress& row);
  void addWindow(int window, double seconds);
  void end(const JobOutcome& outcome);
  // The job's GPU-memory plan, shown under the charts until the next job begins.
  void setMemoryPlan(const QString& description, bool enforced);

  bool chartsOpen() const;
  void setChartsOpen(bool open);

  int memoryPoints() const;
  int rowPoints() const;
  int windowBars() const;
  QString summaryText() const;
  QString stripText() const;
  QString memoryPlanText() const;
  StatsStrip* strip() const { return strip_; }

private:
  struct Axes {
    QValueAxis* x;
    QValueAxis* y;
  };
  void sampleMemory();
  void addMemory(qint64 allocated, qint64 reserved, qint64 peak);
  void updateBudgetLine();
  static void showChart(QStackedWidget* stack);

  bool cuda_ = false;
  QElapsedTimer clock_;
  QTimer poll_;
  StatsStrip* strip_;
  QWidget* charts_;
  QStackedWidget* memoryStack_;
  QStackedWidget* rowStack_;
  QStackedWidget* windowStack_;
  QChart* memoryChart_;
  QLineSeries* allocated_;
  QLineSeries* reserved_;
  QLineSeries* peak_;
  QLineSeries* budget_;
  Axes memoryAxes_;
  QLineSeries* rowTime_;
  QLineSeries* modelTime_;
  Axes rowAxes_;
  QBarSet* windowTime_;
  QBarCategoryAxis* windowAxis_;
  QValueAxis* windowSeconds_;
  QLabel* summary_;
  QLabel* plan_;
  std::optional<double> budgetMiB_;
  double memoryMaxMiB_ = 0, secondsMax_ = 0, rowSecondsMax_ = 0, windowSecondsMax_ = 0;
  double rowSecondsTotal_ = 0, modelSecondsTotal_ = 0;
  int rowsMax_ = 0;
  qint64 peakBytes_ = 0;
};

}  // namespace skyreels::ui
