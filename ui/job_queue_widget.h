#pragma once

#include <QVector>
#include <QWidget>

#include "studio_job.h"

class QListWidget;
class QPushButton;

namespace skyreels::ui {

// One run of the queue: queued, or one that ran (started from the queue or with Generate).
struct QueueEntry {
  enum class State { Queued = 1, Running, Done, Cancelled, Failed, Interrupted };
  StudioJob job;
  State state = State::Queued;
  QString note;        // the seed used, the file, or why it failed
  int percent = 0;     // rows done of the job, 0..100
  QString outputPath;  // the file written, once there is one
};

// Every run, in order: jobs waiting to run (add the form's current settings, move up or down, remove,
// run them in turn) and the runs that ran, with their state and progress, until removed or cleared. A
// finished run opens in the player (double-click or Open). The widget keeps the list; MainWindow runs
// it (nextQueued(), setState()) and saves it on changed().
class JobQueueWidget : public QWidget {
  Q_OBJECT
public:
  using State = QueueEntry::State;

  explicit JobQueueWidget(QWidget* parent = nullptr);

  int count() const { return static_cast<int>(entries_.size()); }
  const StudioJob& job(int row) const { return entries_.at(row).job; }
  State state(int row) const { return entries_.at(row).state; }
  int percent(int row) const { return entries_.at(row).percent; }
  QString outputPath(int row) const { return entries_.at(row).outputPath; }
  const QVector<QueueEntry>& entries() const { return entries_; }
  QString text(int row) const;  // as listed
  int selectedRow() const;
  void selectRow(int row);

  // Appends an entry (a run Generate starts comes in as Running); returns its row.
  int addJob(const StudioJob& job, State state = State::Queued);
  // Replaces the list (a saved queue restored).
  void setEntries(const QVector<QueueEntry>& entries);
  // Moves a queued entry; false when either row is out of range or the entry is running.
  bool moveJob(int from, int to);
  // Removes an entry that is not running.
  bool removeJob(int row);
  void clearFinished();
  // The first queued entry, or -1.
  int nextQueued() const;
  void setState(int row, State state, const QString& note = {});
  // The job as it runs (a random seed replaced by the one drawn).
  void setJob(int row, const StudioJob& job);
  void setProgress(int row, int percent);
  void setOutputPath(int row, const QString& path);
  // "Run queue" is disabled while a job runs; queued entries can still be reordered or removed.
  void setRunning(bool running);
  // Asks to open a row's video (openRequested), when it has one.
  bool openRow(int row);

Q_SIGNALS:
  void addRequested();  // "Add current settings"
  void runRequested();  // "Run queue"
  void openRequested(const QString& path);
  void changed();       // any entry added, removed, moved or updated

private:
  void refresh(int selected);
  void updateOpenButton();

  QVector<QueueEntry> entries_;
  QListWidget* list_;
  QPushButton* add_;
  QPushButton* up_;
  QPushButton* down_;
  QPushButton* remove_;
  QPushButton* clear_;
  QPushButton* open_;
  QPushButton* run_;
  bool running_ = false;
};

}  // namespace skyreels::ui
