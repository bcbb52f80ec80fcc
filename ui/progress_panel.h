#pragma once

#include <QElapsedTimer>
#include <QTimer>
#include <QWidget>

#include "generation_worker.h"

class QLabel;
class QProgressBar;

namespace skyreels::ui {

// Where a job is: the phase ("Loading models", "Denoising", "Decoding last block", ...), window and row with a bar, and the
// elapsed time with an ETA extrapolated from the average time per row (ticking between rows).
class ProgressPanel : public QWidget {
  Q_OBJECT
public:
  explicit ProgressPanel(QWidget* parent = nullptr);

  void begin(const QString& jobSummary);
  void setPhase(const QString& phase, const QString& detail);
  void setPlan(const PlanSummary& plan);
  void setRow(const RowProgress& row);
  void end(const JobOutcome& outcome);

  QString phaseText() const;
  QString detailText() const;
  QString timeText() const;
  int barValue() const;
  int barMaximum() const;

private:
  void tick();

  QLabel* phase_;
  QLabel* detail_;
  QLabel* time_;
  QProgressBar* bar_;
  QTimer ticker_;
  QElapsedTimer clock_;
  PlanSummary plan_;
  double etaSeconds_ = -1;  // at etaSince_ (ms of clock_); negative: unknown
  qint64 etaSince_ = 0;
};

// "1:05" or "1:02:03".
QString formatDuration(double seconds);
// "1 frame", "9 frames" (the app ships no translations, so no %n plural forms).
QString countOf(qint64 n, const char* one, const char* many);

}  // namespace skyreels::ui
