#include "generation_thread.h"

#include <QMetaObject>

#include "generation_worker.h"

namespace skyreels::ui {

GenerationThread::GenerationThread(QObject* parent) : QObject(parent), worker_(new GenerationWorker) {
  qRegisterMetaType<StudioJob>();
  qRegisterMetaType<PlanSummary>();
  qRegisterMetaType<RowProgress>();
  qRegisterMetaType<JobOutcome>();
  qRegisterMetaType<QVector<QImage>>();
  thread_.setObjectName(QStringLiteral("generation"));
  worker_->moveToThread(&thread_);
  connect(&thread_, &QThread::finished, worker_, &QObject::deleteLater);
  // Made before any other connection to jobFinished, so busy is false when theirs run (a queue can
  // start its next job from there).
  connect(worker_, &GenerationWorker::jobFinished, this, [this] {
    busy_ = false;
    Q_EMIT busyChanged(false);
  });
  thread_.start();
}

GenerationThread::~GenerationThread() {
  worker_->requestCancel();
  thread_.quit();
  thread_.wait();
}

bool GenerationThread::start(const StudioJob& job) {
  if (busy_) return false;
  busy_ = true;
  // Cleared here, not in run(): a cancel pressed before the worker picks the job up still counts.
  worker_->clearCancel();
  QMetaObject::invokeMethod(worker_, [worker = worker_, job] { worker->run(job); }, Qt::QueuedConnection);
  Q_EMIT busyChanged(true);
  return true;
}

void GenerationThread::cancel() {
  if (busy_) worker_->requestCancel();
}

}  // namespace skyreels::ui
