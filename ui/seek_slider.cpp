#include "seek_slider.h"

#include <QMouseEvent>
#include <QStyle>
#include <QStyleOptionSlider>

namespace skyreels::ui {

SeekSlider::SeekSlider(Qt::Orientation orientation, QWidget* parent) : QSlider(orientation, parent) {}

int SeekSlider::valueAt(const QPoint& pos) const {
  QStyleOptionSlider option;
  initStyleOption(&option);
  const QRect groove = style()->subControlRect(QStyle::CC_Slider, &option, QStyle::SC_SliderGroove, this);
  const QRect handle = style()->subControlRect(QStyle::CC_Slider, &option, QStyle::SC_SliderHandle, this);
  // The handle's centre travels over the groove less the handle's own size.
  if (orientation() == Qt::Horizontal) {
    const int span = groove.width() - handle.width();
    return QStyle::sliderValueFromPosition(minimum(), maximum(), pos.x() - groove.x() - handle.width() / 2, span,
                                           option.upsideDown);
  }
  const int span = groove.height() - handle.height();
  return QStyle::sliderValueFromPosition(minimum(), maximum(), pos.y() - groove.y() - handle.height() / 2, span,
                                         option.upsideDown);
}

void SeekSlider::mousePressEvent(QMouseEvent* event) {
  if (event->button() == Qt::LeftButton && maximum() > minimum()) {
    setValue(valueAt(event->position().toPoint()));
    // Now under the pointer: the press below grabs the handle, so a drag goes on from here.
  }
  QSlider::mousePressEvent(event);
}

}  // namespace skyreels::ui
