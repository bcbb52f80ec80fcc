#pragma once

#include <QImage>
#include <QString>
#include <QWidget>

namespace skyreels::ui {

// One image scaled to fit, centred on black, or a placeholder text while there is none. A QLabel
// would rescale a pixmap copy on every frame. Latents are shown with hard pixel edges (Scaling::Pixels):
// they are 1/8 of the video's size, and smoothing would pretend to detail they do not have.
class FrameView : public QWidget {
  Q_OBJECT
public:
  enum class Scaling { Smooth = 1, Pixels };

  explicit FrameView(Scaling scaling, QWidget* parent = nullptr);

  void setImage(const QImage& image, const QString& placeholder = {});
  const QImage& image() const { return image_; }
  QString placeholder() const { return placeholder_; }
  // Where the image is drawn now (empty without one).
  QRect imageRect() const;

protected:
  void paintEvent(QPaintEvent* event) override;

private:
  Scaling scaling_;
  QImage image_;
  QString placeholder_;
};

}  // namespace skyreels::ui
