#include "progress_panel.h"

#include <algorithm>
#include <cmath>

#include <QLabel>
#include <QProgressBar>
#include <QVBoxLayout>

namespace skyreels::ui {

QString formatDuration(double seconds) {
  const auto total = static_cast<long long>(std::llround(std::max(0.0, seconds)));
  const auto h = total / 3600, m = (total / 60) % 60, s = total % 60;
  return h > 0 ? QStringLiteral("%1:%2:%3").arg(h).arg(m, 2, 10, QLatin1Char('0')).arg(s, 2, 10, QLatin1Char('0'))
               : QStringLiteral("%1:%2").arg(m).arg(s, 2, 10, QLatin1Char('0'));
}

QString countOf(qint64 n, const char* one, const char* many) {
  return QStringLiteral("%1 %2").arg(n).arg(QString::fromLatin1(n == 1 ? one : many));
}

ProgressPanel::ProgressPanel(QWidget* parent)
    : QWidget(parent), phase_(new QLabel(tr("Ready"), this)), detail_(new QLabel(this)), time_(new QLabel(this)),
      bar_(new QProgressBar(this)) {
  phase_->setObjectName(QStringLiteral("phaseLabel"));
  detail_->setObjectName(QStringLiteral("progressDetail"));
  time_->setObjectName(QStringLiteral("progressTime"));
  bar_->setObjectName(QStringLiteral("progressBar"));
  QFont bold = phase_->font();
  bold.setBold(true);
  phase_->setFont(bold);
  bar_->setRange(0, 1);
  bar_->setValue(0);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  auto* top = new QHBoxLayout;
  top->addWidget(phase_, 1);
  top->addWidget(time_);
  layout->addLayout(top);
  layout->addWidget(bar_);
  layout->addWidget(detail_);
  ticker_.setInterval(500);
  connect(&ticker_, &QTimer::timeout, this, &ProgressPanel::tick);
}

void ProgressPanel::begin(const QString& jobSummary) {
  plan_ = {};
  etaSeconds_ = -1;
  phase_->setText(tr("Starting"));
  detail_->setText(jobSummary);
  bar_->setRange(0, 0);  // busy until the plan is known
  clock_.start();
  ticker_.start();
  tick();
}

void ProgressPanel::setPhase(const QString& phase, const QString& detail) {
  phase_->setText(detail.isEmpty() ? phase : phase + QStringLiteral(" — ") + detail);
}

void ProgressPanel::setPlan(const PlanSummary& plan) {
  plan_ = plan;
  bar_->setRange(0, std::max(1, plan.rowsTotal));
  bar_->setValue(0);
  detail_->setText(countOf(plan.frames, "frame", "frames") + QStringLiteral(" · ") + countOf(plan.windows, "window", "windows") +
                   QStringLiteral(" · ") + countOf(plan.rowsTotal, "row", "rows"));
}

void ProgressPanel::setRow(const RowProgress& row) {
  bar_->setRange(0, std::max(1, row.rowsTotal));
  bar_->setValue(row.rowsDone);
  detail_->setText(tr("Window %1/%2 · row %3/%4 · %5% · %6 s/row")
                       .arg(row.window + 1)
                       .arg(std::max(1, row.windows))
                       .arg(row.row + 1)
                       .arg(row.rows)
                       .arg(100 * row.rowsDone / std::max(1, row.rowsTotal))
                       .arg(row.rowSeconds, 0, 'f', 2));
  // Denoising is done; the last block is decoded and written before the job ends.
  if (row.rowsDone >= row.rowsTotal && row.rowsTotal > 0) phase_->setText(tr("Decoding last block"));
  if (row.rowsDone > 0) {
    etaSeconds_ = row.elapsedSeconds / row.rowsDone * (row.rowsTotal - row.rowsDone);
    etaSince_ = clock_.elapsed();
  }
  tick();
}

void ProgressPanel::end(const JobOutcome& outcome) {
  ticker_.stop();
  // A cancelled or failed job keeps the bar where it stopped: how far it got is worth seeing.
  if (outcome.status == JobOutcome::Status::Finished) {
    bar_->setRange(0, std::max(1, bar_->maximum()));
    bar_->setValue(bar_->maximum());
  } else if (bar_->maximum() == 0) {
    bar_->setRange(0, 1);  // it never got a plan: stop the busy animation
    bar_->setValue(0);
  }
  switch (outcome.status) {
    case JobOutcome::Status::Finished: phase_->setText(tr("Finished")); break;
    case JobOutcome::Status::Cancelled: phase_->setText(tr("Cancelled")); break;
    case JobOutcome::Status::Failed: phase_->setText(tr("Failed")); break;
  }
  detail_->setText(outcome.framesWritten > 0
                       ? tr("%1 in %2 (seed %3)")
                             .arg(countOf(outcome.framesWritten, "frame", "frames"), outcome.outputPath)
                             .arg(outcome.seed)
                       : tr("No frames written"));
  time_->setText(tr("took %1").arg(formatDuration(outcome.seconds)));
}

QString ProgressPanel::phaseText() const { return phase_->text(); }
QString ProgressPanel::detailText() const { return detail_->text(); }
QString ProgressPanel::timeText() const { return time_->text(); }
int ProgressPanel::barValue() const { return bar_->value(); }
int ProgressPanel::barMaximum() const { return bar_->maximum(); }

void ProgressPanel::tick() {
  const double elapsed = static_cast<double>(clock_.elapsed()) / 1000.0;
  QString text = tr("elapsed %1").arg(formatDuration(elapsed));
  if (etaSeconds_ >= 0) {
    const double left = std::max(0.0, etaSeconds_ - static_cast<double>(clock_.elapsed() - etaSince_) / 1000.0);
    text += tr(" · ETA %1").arg(formatDuration(left));
  }
  time_->setText(text);
}

}  // namespace skyreels::ui
