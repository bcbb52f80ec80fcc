#include "job_queue_widget.h"

#include <algorithm>

#include <QFileInfo>
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
    case JobQueueWidget::State::Interrupted: return QObject::tr("interrupted");
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
      open_(button(tr("Open"), "queueOpen", this)), run_(button(tr("Run queue"), "queueRun", this)) {
  list_->setObjectName(QStringLiteral("queueList"));
  list_->setSelectionMode(QAbstractItemView::SingleSelection);
  open_->setToolTip(tr("Play the selected run's video in the player"));
  // Two rows, so the centre column's minimum width stays within a 1024-pixel-wide window.
  auto* editing = new QHBoxLayout;
  for (auto* b : {add_, up_, down_, remove_}) editing->addWidget(b);
  editing->addStretch(1);
  editing->addWidget(run_);
  auto* finished = new QHBoxLayout;
  for (auto* b : {open_, clear_}) finished->addWidget(b);
  finished->addStretch(1);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(list_, 1);
  layout->addLayout(editing);
  layout->addLayout(finished);

  connect(add_, &QPushButton::clicked, this, &JobQueueWidget::addRequested);
  connect(run_, &QPushButton::clicked, this, &JobQueueWidget::runRequested);
  connect(up_, &QPushButton::clicked, this, [this] { moveJob(selectedRow(), selectedRow() - 1); });
  connect(down_, &QPushButton::clicked, this, [this] { moveJob(selectedRow(), selectedRow() + 1); });
  connect(remove_, &QPushButton::clicked, this, [this] { removeJob(selectedRow()); });
  connect(clear_, &QPushButton::clicked, this, &JobQueueWidget::clearFinished);
  connect(open_, &QPushButton::clicked, this, [this] { openRow(selectedRow()); });
  connect(list_, &QListWidget::itemActivated, this, [this](QListWidgetItem* item) { openRow(list_->row(item)); });
  connect(list_, &QListWidget::currentRowChanged, this, &JobQueueWidget::updateOpenButton);
  updateOpenButton();
}

QString JobQueueWidget::text(int row) const { return list_->item(row) ? list_->item(row)->text() : QString(); }

int JobQueueWidget::selectedRow() const { return list_->currentRow(); }

void JobQueueWidget::selectRow(int row) { list_->setCurrentRow(row); }

int JobQueueWidget::addJob(const StudioJob& job, State state) {
  entries_.push_back({job, state, {}, 0, {}});
  refresh(count() - 1);
  return count() - 1;
}

void JobQueueWidget::setEntries(const QVector<QueueEntry>& entries) {
  entries_ = entries;
  refresh(-1);
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
  if (state == State::Done) entries_[row].percent = 100;
  refresh(selectedRow());
}

void JobQueueWidget::setJob(int row, const StudioJob& job) {
  if (row < 0 || row >= count()) return;
  entries_[row].job = job;
  refresh(selectedRow());
}

void JobQueueWidget::setProgress(int row, int percent) {
  if (row < 0 || row >= count() || entries_[row].percent == percent) return;
  entries_[row].percent = std::clamp(percent, 0, 100);
  refresh(selectedRow());
}

void JobQueueWidget::setOutputPath(int row, const QString& path) {
  if (row < 0 || row >= count()) return;
  entries_[row].outputPath = path;
  refresh(selectedRow());
}

void JobQueueWidget::setRunning(bool running) {
  running_ = running;
  run_->setEnabled(!running);
}

bool JobQueueWidget::openRow(int row) {
  if (row < 0 || row >= count()) return false;
  const QString path = entries_[row].outputPath;
  if (path.isEmpty() || !QFileInfo::exists(path)) return false;
  Q_EMIT openRequested(path);
  return true;
}

void JobQueueWidget::updateOpenButton() {
  const int row = selectedRow();
  open_->setEnabled(row >= 0 && row < count() && !entries_[row].outputPath.isEmpty());
}

void JobQueueWidget::refresh(int selected) {
  list_->clear();
  for (int i = 0; i < count(); ++i) {
    const auto& e = entries_[i];
    QString state = stateName(e.state);
    if (e.state == State::Running || (e.percent > 0 && e.state != State::Done)) state += QStringLiteral(" %1 %").arg(e.percent);
    QString line = QStringLiteral("%1. [%2] %3").arg(i + 1).arg(state, e.job.summary());
    if (!e.note.isEmpty()) line += QStringLiteral(" — ") + e.note;
    list_->addItem(line);
  }
  if (selected >= 0 && selected < count()) list_->setCurrentRow(selected);
  updateOpenButton();
  Q_EMIT changed();
}

}  // namespace skyreels::ui
