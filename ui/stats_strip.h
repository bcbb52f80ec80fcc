#pragma once

#include <QWidget>

#include "generation_worker.h"

class QLabel;
class QToolButton;

namespace skyreels::ui {

// The stats in one line under the player: memory now, seconds per row, time left; and the button
// that opens the charts. Takes a line's height, so the player keeps the room.
class StatsStrip : public QWidget {
  Q_OBJECT
public:
  explicit StatsStrip(QWidget* parent = nullptr);

  // A new job on "cpu" (resident set) or "cuda" (GPU allocator).
  void begin(bool cuda);
  void setMemory(qint64 bytes);
  void setRow(const RowProgress& row);
  void end();

  QString text() const;  // the three figures as shown
  QToolButton* chartsButton() const { return charts_; }

Q_SIGNALS:
  void chartsToggled(bool open);

private:
  QLabel* memory_;
  QLabel* rowTime_;
  QLabel* eta_;
  QToolButton* charts_;
  bool cuda_ = false;
};

}  // namespace skyreels::ui
