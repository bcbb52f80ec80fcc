#pragma once

#include <QVector>
#include <QWidget>

#include "studio_job.h"

class QListWidget;
class QPushButton;

namespace skyreels::ui {

// Jobs waiting to run, in order: add (the form's current settings), move up or down, remove, and run
// them in turn. Entries stay listed with their state after they ran, until removed or cleared. The
// widget keeps the list; MainWindow runs it (nextQueued(), setState()).
class JobQueueWidget : public QWidget {
  Q_OBJECT
public:
  enum class State { Queued = 1, Running, Done, Cancelled, Failed };

  explicit JobQueueWidget(QWidget* parent = nullptr);

  int count() const { return static_cast<int>(entries_.size()); }
  const StudioJob& job(int row) const { return entries_.at(row).job; }
  State state(int row) const { return entries_.at(row).state; }
  QString text(int row) const;  // as listed
  int selectedRow() const;
  void selectRow(int row);

  void addJob(const StudioJob& job);
  // Moves a queued entry; false when either row is out of range or the entry is running.
  bool moveJob(int from, int to);
  // Removes an entry that is not running.
  bool removeJob(int row);
  void clearFinished();
  // The first queued entry, or -1.
  int nextQueued() const;
  void setState(int row, State state, const QString& note = {});
  // "Run queue" is disabled while a job runs; queued entries can still be reordered or removed.
  void setRunning(bool running);

Q_SIGNALS:
  void addRequested();  // "Add current settings"
  void runRequested();  // "Run queue"

private:
  struct Entry {
    StudioJob job;
    State state = State::Queued;
    QString note;  // the seed used, the file, or why it failed
  };
  void refresh(int selected);

  QVector<Entry> entries_;
  QListWidget* list_;
  QPushButton* add_;
  QPushButton* up_;
  QPushButton* down_;
  QPushButton* remove_;
  QPushButton* clear_;
  QPushButton* run_;
  bool running_ = false;
};

}  // namespace skyreels::ui
