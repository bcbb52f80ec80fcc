#pragma once

// Small helpers the desktop app's tests share: finding a widget by object name, typing as a user does,
// holding a job mid-render, answering a message box.

#include <atomic>
#include <memory>

#include <QApplication>
#include <QMessageBox>
#include <QPushButton>
#include <QSemaphore>
#include <QString>
#include <QTimer>
#include <QWidget>
#include <QtTest>

#include "generation_worker.h"

namespace skyreels::ui::test {

template <typename T>
T* child(QWidget* parent, const char* name) {
  auto* widget = parent->findChild<T*>(QString::fromLatin1(name));
  if (!widget) qFatal("no widget named %s", name);
  return widget;
}

// Replaces a text field's contents the way a user does: select all, type.
inline void typeInto(QWidget* field, const QString& text) {
  QTest::keyClick(field, Qt::Key_A, Qt::ControlModifier);
  QTest::keyClick(field, Qt::Key_Delete);
  QTest::keyClicks(field, text);
}

// Where a widget is on the screen.
inline QRect globalRect(const QWidget* widget) { return {widget->mapToGlobal(QPoint(0, 0)), widget->size()}; }

// Holds the worker in its first block event until released, so a test acts while a job is surely
// running. Shared with the worker thread, which may outlive a failed test's scope.
struct BlockGate {
  std::shared_ptr<QSemaphore> gate = std::make_shared<QSemaphore>();
  std::shared_ptr<std::atomic<bool>> held = std::make_shared<std::atomic<bool>>(false);
  explicit BlockGate(GenerationWorker* worker) {
    QObject::connect(
        worker, &GenerationWorker::framesDecoded, worker,
        [gate = gate, held = held](int, qint64, const QVector<QImage>&) {
          if (!held->exchange(true)) gate->acquire();
        },
        Qt::DirectConnection);
  }
  void release() { gate->release(100); }
  ~BlockGate() { release(); }  // never leave the worker blocked, even when a check fails
};

// While it lives, answers every modal message box named `name` with `answer`, clicking its button as
// a user does (the box's exec() runs its own event loop, where the polling timer fires).
class MessageBoxAnswerer {
public:
  MessageBoxAnswerer(const char* name, QMessageBox::StandardButton answer) {
    timer_.setInterval(10);
    QObject::connect(&timer_, &QTimer::timeout, [this, boxName = QString::fromLatin1(name), answer] {
      auto* box = qobject_cast<QMessageBox*>(QApplication::activeModalWidget());
      if (!box || box->objectName() != boxName || !box->button(answer)) return;
      ++answered_;
      box->button(answer)->click();
    });
    timer_.start();
  }
  int answered() const { return answered_; }

private:
  QTimer timer_;
  int answered_ = 0;
};

}  // namespace skyreels::ui::test
