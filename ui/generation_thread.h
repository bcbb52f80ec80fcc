#pragma once

#include <QObject>
#include <QThread>

#include "studio_job.h"

namespace skyreels::ui {

class GenerationWorker;

// Owns the worker thread and its GenerationWorker (Qt's worker recipe): the worker is moved to the
// thread and deleted when it ends; the destructor cancels the running job, then quits and waits, so
// closing the window never leaves a generation running. Lives on the GUI thread.
class GenerationThread : public QObject {
  Q_OBJECT
public:
  explicit GenerationThread(QObject* parent = nullptr);
  ~GenerationThread() override;

  // Connect to its signals; call only requestCancel()/clearCancel() directly.
  GenerationWorker* worker() const { return worker_; }
  bool isBusy() const { return busy_; }

  // Queues the job on the worker thread; false (and nothing queued) while another job runs.
  bool start(const StudioJob& job);
  // Asks the running job to stop after its current row; it keeps its finished frames.
  void cancel();

Q_SIGNALS:
  void busyChanged(bool busy);

private:
  QThread thread_;
  GenerationWorker* worker_ = nullptr;
  bool busy_ = false;
};

}  // namespace skyreels::ui
