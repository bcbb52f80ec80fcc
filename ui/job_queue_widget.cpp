#include "job_queue_widget.h"

#include <QHBoxLayout>
#include <QListWidget>
#include <QPushButton>
#include <QVBoxLayout>

namespace skyreels::ui {
namespace {

QString stateName(JobQueueWidget::State state) {
  switch (state) {
    case JobQueueWidget::State::Queued: return QObject::tr("queued");
    case JobQueueWidget::State::Running: return QObject::tr("running");
    case JobQueueWidget::State::Done: return QObject::tr("done");
    case JobQueueWidget::State::Cancelled: return QObject::tr("cancelled");
    case JobQueueWidget::State::Failed: return QObject::tr("failed");
  }
  return {};
}

QPushButton* button(const QString& text, const char* name, QWidget* parent) {
  auto* b = new QPushButton(text, parent);
  b->setObjectName(QString::fromLatin1(name));
  return b;
}

}  // namespace

JobQueueWidget::JobQueueWidget(QWidget* parent)
    : QWidget(parent), list_(new QListWidget(this)), add_(button(tr("Add current settings"), "queueAdd", this)),
      up_(button(tr("Move up"), "queueUp", this)), down_(button(tr("Move down"), "queueDown", this)),
      remove_(button(tr("Remove"), "queueRemove", this)), clear_(button(tr("Clear finished"), "queueClear", this)),
      run_(button(tr("Run queue"), "queueRun", this)) {
  list_->setObjectName(QStringLiteral("queueList"));
  list_->setSelectionMode(QAbstractItemView::SingleSelection);
  auto* buttons = new QHBoxLayout;
  for (auto* b : {add_, up_, down_, remove_, clear_}) buttons->addWidget(b);
  buttons->addStretch(1);
  buttons->addWidget(run_);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(list_, 1);
  layout->addLayout(buttons);

  connect(add_, &QPushButton::clicked, this, &JobQueueWidget::addRequested);
  connect(run_, &QPushButton::clicked, this, &JobQueueWidget::runRequested);
  connect(up_, &QPushButton::clicked, this, [this] { moveJob(selectedRow(), selectedRow() - 1); });
  connect(down_, &QPushButton::clicked, this, [this] { moveJob(selectedRow(), selectedRow() + 1); });
  connect(remove_, &QPushButton::clicked, this, [this] { removeJob(selectedRow()); });
  connect(clear_, &QPushButton::clicked, this, &JobQueueWidget::clearFinished);
}

QString JobQueueWidget::text(int row) const { return list_->item(row) ? list_->item(row)->text() : QString(); }

int JobQueueWidget::selectedRow() const { return list_->currentRow(); }

void JobQueueWidget::selectRow(int row) { list_->setCurrentRow(row); }

void JobQueueWidget::addJob(const StudioJob& job) {
  entries_.push_back({job, State::Queued, {}});
  refresh(count() - 1);
}

bool JobQueueWidget::moveJob(int from, int to) {
  if (from < 0 || to < 0 || from >= count() || to >= count() || from == to) return false;
  if (entries_[from].state == State::Running || entries_[to].state == State::Running) return false;
  entries_.move(from, to);
  refresh(to);
  return true;
}

bool JobQueueWidget::removeJob(int row) {
  if (row < 0 || row >= count() || entries_[row].state == State::Running) return false;
  entries_.removeAt(row);
  refresh(std::min(row, count() - 1));
  return true;
}

void JobQueueWidget::clearFinished() {
  for (int i = count() - 1; i >= 0; --i)
    if (entries_[i].state != State::Queued && entries_[i].state != State::Running) entries_.removeAt(i);
  refresh(-1);
}

int JobQueueWidget::nextQueued() const {
  for (int i = 0; i < count(); ++i)
    if (entries_[i].state == State::Queued) return i;
  return -1;
}

void JobQueueWidget::setState(int row, State state, const QString& note) {
  if (row < 0 || row >= count()) return;
  entries_[row].state = state;
  entries_[row].note = note;
  refresh(selectedRow());
}

void JobQueueWidget::setRunning(bool running) {
  running_ = running;
  run_->setEnabled(!running);
}

void JobQueueWidget::refresh(int selected) {
  list_->clear();
  for (int i = 0; i < count(); ++i) {
    const auto& e = entries_[i];
    QString line = QStringLiteral("%1. [%2] %3").arg(i + 1).arg(stateName(e.state), e.job.summary());
    if (!e.note.isEmpty()) line += QStringLiteral(" — ") + e.note;
    list_->addItem(line);
  }
  if (selected >= 0 && selected < count()) list_->setCurrentRow(selected);
}

}  // namespace skyreels::ui
