#include "stats_strip.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QToolButton>

#include "progress_panel.h"

namespace skyreels::ui {
namespace {
constexpr double kMiB = 1024.0 * 1024.0;
}

StatsStrip::StatsStrip(QWidget* parent)
    : QWidget(parent), memory_(new QLabel(this)), rowTime_(new QLabel(this)), eta_(new QLabel(this)),
      charts_(new QToolButton(this)) {
  memory_->setObjectName(QStringLiteral("stripMemory"));
  rowTime_->setObjectName(QStringLiteral("stripRowTime"));
  eta_->setObjectName(QStringLiteral("stripEta"));
  memory_->setToolTip(tr("Memory in use now: the process's resident set on the CPU, the GPU allocator's on CUDA"));
  rowTime_->setToolTip(tr("Seconds the last row of denoising took"));
  eta_->setToolTip(tr("Time left, from the average time per row so far"));
  charts_->setObjectName(QStringLiteral("chartsToggle"));
  charts_->setCheckable(true);
  charts_->setText(tr("Charts"));
  charts_->setToolTip(tr("Show or hide the memory and timing charts"));
  charts_->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
  charts_->setArrowType(Qt::RightArrow);
  auto* layout = new QHBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(memory_);
  for (auto* label : {rowTime_, eta_}) {
    layout->addWidget(new QLabel(QStringLiteral("·"), this));
    layout->addWidget(label);
  }
  layout->addStretch(1);
  layout->addWidget(charts_);
  connect(charts_, &QToolButton::toggled, this, [this](bool open) {
    charts_->setArrowType(open ? Qt::DownArrow : Qt::RightArrow);
    Q_EMIT chartsToggled(open);
  });
  begin(false);
  memory_->setText(tr("Memory —"));
}

void StatsStrip::begin(bool cuda) {
  cuda_ = cuda;
  rowTime_->setText(tr("— s/row"));
  eta_->setText(tr("ETA —"));
}

void StatsStrip::setMemory(qint64 bytes) {
  memory_->setText((cuda_ ? tr("GPU %1 MiB") : tr("RAM %1 MiB")).arg(static_cast<double>(bytes) / kMiB, 0, 'f', 0));
}

void StatsStrip::setRow(const RowProgress& row) {
  rowTime_->setText(tr("%1 s/row").arg(row.rowSeconds, 0, 'f', 2));
  if (row.rowsDone > 0)
    eta_->setText(tr("ETA %1").arg(formatDuration(row.elapsedSeconds / row.rowsDone * (row.rowsTotal - row.rowsDone))));
}

void StatsStrip::end() { eta_->setText(tr("ETA —")); }

QString StatsStrip::text() const {
  return memory_->text() + QStringLiteral(" · ") + rowTime_->text() + QStringLiteral(" · ") + eta_->text();
}

}  // namespace skyreels::ui
