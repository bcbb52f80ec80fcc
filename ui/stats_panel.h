#pragma once

#include <QElapsedTimer>
#include <QTimer>
#include <QWidget>

#include "generation_worker.h"

class QBarSet;
class QBarCategoryAxis;
class QChart;
class QLabel;
class QLineSeries;
class QValueAxis;

namespace skyreels::ui {

// Live plots of a job: device memory over time (CUDA: allocated, reserved and peak allocated from the
// caching allocator; CPU: the process's resident set and its peak), the time of every row (and the
// model's share of it) and the time of every window, then a summary line at the end. Memory is polled
// once a second while a job runs, so model loading shows too, and sampled with every row.
class StatsPanel : public QWidget {
  Q_OBJECT
public:
  explicit StatsPanel(QWidget* parent = nullptr);

  void begin(const QString& device);  // "cpu" or "cuda"
  void addRow(const RowProgress& row);
  void addWindow(int window, double seconds);
  void end(const JobOutcome& outcome);

  int memoryPoints() const;
  int rowPoints() const;
  int windowBars() const;
  QString summaryText() const;

private:
  struct Axes {
    QValueAxis* x;
    QValueAxis* y;
  };
  void sampleMemory();
  void addMemory(qint64 allocated, qint64 reserved, qint64 peak);
  static void grow(QValueAxis* axis, double value);

  bool cuda_ = false;
  QElapsedTimer clock_;
  QTimer poll_;
  QChart* memoryChart_;
  QLineSeries* allocated_;
  QLineSeries* reserved_;
  QLineSeries* peak_;
  Axes memoryAxes_;
  QLineSeries* rowTime_;
  QLineSeries* modelTime_;
  Axes rowAxes_;
  QBarSet* windowTime_;
  QBarCategoryAxis* windowAxis_;
  QValueAxis* windowSeconds_;
  QLabel* summary_;
  double rowSecondsTotal_ = 0, modelSecondsTotal_ = 0;
  qint64 peakBytes_ = 0;
};

}  // namespace skyreels::ui
