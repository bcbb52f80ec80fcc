#include "frame_images.h"

namespace skyreels::ui {

QVector<QImage> framesToImages(const Frames& frames, QSize limit) {
  QVector<QImage> images;
  if (frames.empty() || frames.data() == nullptr) return images;
  const int w = static_cast<int>(frames.width()), h = static_cast<int>(frames.height());
  const bool shrink = w > limit.width() || h > limit.height();
  images.reserve(static_cast<int>(frames.count()));
  for (std::int64_t i = 0; i < frames.count(); ++i) {
    // A view of the engine's memory; scaled() and copy() both return images with their own pixels.
    const QImage view(frames.frame(i), w, h, w * 3, QImage::Format_RGB888);
    images.push_back(shrink ? view.scaled(limit, Qt::KeepAspectRatio, Qt::SmoothTransformation) : view.copy());
  }
  return images;
}

QImage toQImage(const Image& image) {
  if (image.empty()) return {};
  const QImage view(image.rgb.data(), image.width, image.height, image.width * 3, QImage::Format_RGB888);
  return view.copy();
}

}  // namespace skyreels::ui
