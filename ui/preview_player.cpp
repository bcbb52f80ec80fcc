#include "preview_player.h"

#include <algorithm>

#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QPainter>
#include <QPushButton>
#include <QSlider>
#include <QVBoxLayout>

namespace skyreels::ui {

// One image scaled to fit, centred on black (QLabel would rescale a pixmap copy on every frame).
class FrameView : public QWidget {
public:
  explicit FrameView(QWidget* parent) : QWidget(parent) {
    setMinimumSize(320, 180);
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
  }
  void setImage(const QImage& image, const QString& placeholder = {}) {
    image_ = image;
    placeholder_ = placeholder;
    update();
  }

protected:
  void paintEvent(QPaintEvent*) override {
    QPainter painter(this);
    painter.fillRect(rect(), Qt::black);
    if (image_.isNull()) {
      painter.setPen(Qt::gray);
      painter.drawText(rect(), Qt::AlignCenter | Qt::TextWordWrap, placeholder_);
      return;
    }
    const QSize size = image_.size().scaled(this->size(), Qt::KeepAspectRatio);
    const QRect target(QPoint((width() - size.width()) / 2, (height() - size.height()) / 2), size);
    painter.setRenderHint(QPainter::SmoothPixmapTransform);
    painter.drawImage(target, image_);
  }

private:
  QImage image_;
  QString placeholder_;
};

PreviewPlayer::PreviewPlayer(QWidget* parent)
    : QWidget(parent), view_(new FrameView(this)), latentView_(new QLabel(this)), counter_(new QLabel(this)),
      source_(new QLabel(this)), playButton_(new QPushButton(tr("Play"), this)), slider_(new QSlider(Qt::Horizontal, this)) {
  view_->setObjectName(QStringLiteral("frameView"));
  latentView_->setObjectName(QStringLiteral("latentPreview"));
  counter_->setObjectName(QStringLiteral("frameCounter"));
  playButton_->setObjectName(QStringLiteral("playButton"));
  slider_->setObjectName(QStringLiteral("scrubSlider"));
  latentView_->setMinimumHeight(40);
  latentView_->setAlignment(Qt::AlignCenter);
  latentView_->setToolTip(tr("Latent preview of the row being denoised: the window's latent frames in false colour "
                             "(principal components of the channels), not the decoded video"));
  latentView_->setText(tr("latent preview"));
  source_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  source_->setWordWrap(true);
  slider_->setRange(0, 0);

  auto* controls = new QHBoxLayout;
  controls->addWidget(playButton_);
  controls->addWidget(slider_, 1);
  controls->addWidget(counter_);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(view_, 1);
  layout->addLayout(controls);
  layout->addWidget(latentView_);
  layout->addWidget(source_);

  connect(playButton_, &QPushButton::clicked, this, &PreviewPlayer::togglePlay);
  connect(slider_, &QSlider::valueChanged, this, [this](int value) {
    if (value != current_) seek(value);
  });
  connect(slider_, &QSlider::sliderPressed, this, &PreviewPlayer::pause);
  connect(&timer_, &QTimer::timeout, this, &PreviewPlayer::advance);
  reset(0, 24);
}

void PreviewPlayer::reset(qint64 expectedFrames, int fps) {
  pause();
  frames_.clear();
  latent_ = QImage();
  sourcePath_.clear();
  expected_ = expectedFrames;
  current_ = 0;
  complete_ = false;
  timer_.setInterval(std::max(1, 1000 / std::max(1, fps)));
  slider_->setRange(0, 0);
  latentView_->setPixmap(QPixmap());
  latentView_->setText(tr("latent preview"));
  source_->setText(tr("Rendering…"));
  view_->setImage(QImage(), tr("Decoded blocks appear here as soon as they are final"));
  updateCounter();
}

void PreviewPlayer::setExpectedFrames(qint64 frames) {
  expected_ = frames;
  updateCounter();
}

void PreviewPlayer::appendFrames(qint64 firstFrame, const QVector<QImage>& frames) {
  if (frames.isEmpty() || firstFrame < 0) return;
  const bool first = frames_.isEmpty();
  const auto end = firstFrame + frames.size();
  if (frames_.size() < end) frames_.resize(static_cast<int>(end));
  std::copy(frames.begin(), frames.end(), frames_.begin() + firstFrame);
  slider_->setRange(0, frameCount() - 1);
  if (first) {
    showCurrent();
    play();
  }
  updateCounter();
}

void PreviewPlayer::setLatentPreview(const QImage& image) {
  latent_ = image;
  if (image.isNull()) return;
  // Latents are 1/8 of the video's size: scaled up with visible pixels, which is what they are.
  const int height = std::max(40, latentView_->height());
  latentView_->setPixmap(QPixmap::fromImage(image.scaledToHeight(std::min(height, image.height() * 4))));
}

void PreviewPlayer::showEncodedVideo(const QString& path, const QVector<QImage>& frames) {
  if (frames.isEmpty()) return;
  frames_ = frames;
  sourcePath_ = path;
  complete_ = true;
  current_ = std::min(current_, frameCount() - 1);
  slider_->setRange(0, frameCount() - 1);
  source_->setText(tr("Playing %1").arg(QFileInfo(path).fileName()));
  source_->setToolTip(path);
  showCurrent();
  updateCounter();
  play();
}

void PreviewPlayer::markComplete() {
  complete_ = true;
  if (sourcePath_.isEmpty()) source_->setText(frames_.isEmpty() ? tr("No frames") : tr("Decoded blocks"));
  updateCounter();
}

void PreviewPlayer::play() {
  if (frames_.isEmpty()) return;
  timer_.start();
  playButton_->setText(tr("Pause"));
}

void PreviewPlayer::pause() {
  timer_.stop();
  playButton_->setText(tr("Play"));
}

void PreviewPlayer::togglePlay() {
  if (isPlaying())
    pause();
  else
    play();
}

void PreviewPlayer::seek(int frame) {
  if (frames_.isEmpty()) return;
  current_ = std::clamp(frame, 0, frameCount() - 1);
  showCurrent();
  updateCounter();
}

void PreviewPlayer::advance() {
  if (frames_.isEmpty()) return;
  if (current_ + 1 < frameCount()) {
    ++current_;
  } else if (complete_) {
    current_ = 0;  // loop the finished video
  } else {
    return;  // wait at the newest frame for the next block
  }
  showCurrent();
  updateCounter();
}

void PreviewPlayer::showCurrent() {
  view_->setImage(frames_.value(current_));
  const QSignalBlocker block(slider_);
  slider_->setValue(current_);
}

void PreviewPlayer::updateCounter() {
  QString text = QStringLiteral("%1 / %2").arg(frames_.isEmpty() ? 0 : current_ + 1).arg(frameCount());
  if (!complete_ && expected_ > frameCount()) text += tr(" (of %1)").arg(expected_);
  counter_->setText(text);
}

}  // namespace skyreels::ui
