#include "frame_view.h"

#include <QPainter>

namespace skyreels::ui {

FrameView::FrameView(Scaling scaling, QWidget* parent) : QWidget(parent), scaling_(scaling) {
  setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
}

void FrameView::setImage(const QImage& image, const QString& placeholder) {
  image_ = image;
  placeholder_ = placeholder;
  update();
}

QRect FrameView::imageRect() const {
  if (image_.isNull()) return {};
  const QSize size = image_.size().scaled(this->size(), Qt::KeepAspectRatio);
  return {QPoint((width() - size.width()) / 2, (height() - size.height()) / 2), size};
}

void FrameView::paintEvent(QPaintEvent*) {
  QPainter painter(this);
  painter.fillRect(rect(), Qt::black);
  if (image_.isNull()) {
    painter.setPen(Qt::gray);
    painter.drawText(rect().adjusted(8, 8, -8, -8), Qt::AlignCenter | Qt::TextWordWrap, placeholder_);
    return;
  }
  painter.setRenderHint(QPainter::SmoothPixmapTransform, scaling_ == Scaling::Smooth);
  painter.drawImage(imageRect(), image_);
}

}  // namespace skyreels::ui
