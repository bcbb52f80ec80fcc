#pragma once

#include <QSlider>

namespace skyreels::ui {

// A slider that jumps to where it is clicked (a plain QSlider moves one page towards the click),
// then follows the drag: scrubbing a video means pointing at the moment you want.
class SeekSlider : public QSlider {
  Q_OBJECT
public:
  explicit SeekSlider(Qt::Orientation orientation, QWidget* parent = nullptr);

  // The value under `pos` (widget coordinates), as the style lays out the groove.
  int valueAt(const QPoint& pos) const;

protected:
  void mousePressEvent(QMouseEvent* event) override;
};

}  // namespace skyreels::ui
