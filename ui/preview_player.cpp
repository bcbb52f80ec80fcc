#include "preview_player.h"

#include <algorithm>
#include <cmath>

#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QPainter>
#include <QShortcut>
#include <QToolButton>
#include <QVBoxLayout>

#include "frame_view.h"
#include "seek_slider.h"

namespace skyreels::ui {
namespace {

// Tall enough to tell shapes and motion apart in a latent of 1/8 of the video's size.
constexpr int kLatentHeight = 120;

QToolButton* toolButton(QWidget* parent, const QString& text, const char* name, const QString& tip) {
  auto* button = new QToolButton(parent);
  button->setText(text);
  button->setObjectName(QString::fromLatin1(name));
  button->setToolTip(tip);
  button->setMinimumWidth(button->fontMetrics().horizontalAdvance(QStringLiteral("Pause")) + 16);
  return button;
}

// The engine's latent preview is a strip of up to 8 frames side by side, each tiny; two rows of
// them fill the box under the player far better. Tiles are frames of the video's aspect; a strip
// that is not whole tiles (an unknown size) is shown as it is.
QImage latentGrid(const QImage& strip, QSize videoSize) {
  if (strip.isNull() || !videoSize.isValid() || videoSize.height() <= 0) return strip;
  const int tile = static_cast<int>(std::lround(double(strip.height()) * videoSize.width() / videoSize.height()));
  if (tile <= 0 || strip.width() % tile != 0) return strip;
  const int tiles = strip.width() / tile;
  if (tiles < 4) return strip;
  const int columns = (tiles + 1) / 2;
  QImage grid(columns * tile, 2 * strip.height(), QImage::Format_RGB32);
  grid.fill(Qt::black);
  QPainter painter(&grid);
  for (int i = 0; i < tiles; ++i)
    painter.drawImage(QPoint((i % columns) * tile, (i / columns) * strip.height()), strip,
                      QRect(i * tile, 0, tile, strip.height()));
  return grid;
}

}  // namespace

PreviewPlayer::PreviewPlayer(QWidget* parent)
    : QWidget(parent), view_(new FrameView(FrameView::Scaling::Smooth, this)),
      latentView_(new FrameView(FrameView::Scaling::Pixels, this)), counter_(new QLabel(this)), time_(new QLabel(this)),
      source_(new QLabel(this)), playButton_(toolButton(this, tr("Play"), "playButton", tr("Play or pause (Space)"))),
      stepBack_(toolButton(this, QStringLiteral("◀|"), "stepBackButton", tr("One frame back (Left)"))),
      stepForward_(toolButton(this, QStringLiteral("|▶"), "stepForwardButton", tr("One frame forward (Right)"))),
      loopButton_(toolButton(this, tr("Loop"), "loopButton", tr("Start again at the end of a finished video"))),
      slider_(new SeekSlider(Qt::Horizontal, this)) {
  view_->setObjectName(QStringLiteral("frameView"));
  view_->setMinimumSize(240, 120);
  view_->setFocusPolicy(Qt::ClickFocus);  // a click on the video gives the keys to the player
  latentView_->setObjectName(QStringLiteral("latentPreview"));
  latentView_->setFixedHeight(kLatentHeight);
  latentView_->setMinimumWidth(kLatentHeight * 16 / 9);
  latentView_->setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
  latentView_->setToolTip(tr("Latent preview of the row being denoised: the window's latent frames in false colour "
                             "(principal components of the channels), not the decoded video"));
  counter_->setObjectName(QStringLiteral("frameCounter"));
  time_->setObjectName(QStringLiteral("timeReadout"));
  time_->setToolTip(tr("Current time / length of the frames that exist, in seconds"));
  slider_->setObjectName(QStringLiteral("scrubSlider"));
  slider_->setToolTip(tr("Click or drag to jump to a frame"));
  loopButton_->setCheckable(true);
  loopButton_->setChecked(loop_);
  source_->setObjectName(QStringLiteral("playerStatus"));
  source_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  source_->setWordWrap(true);
  source_->setAlignment(Qt::AlignLeft | Qt::AlignTop);
  slider_->setRange(0, 0);

  auto* controls = new QHBoxLayout;
  controls->addWidget(stepBack_);
  controls->addWidget(playButton_);
  controls->addWidget(stepForward_);
  controls->addWidget(slider_, 1);
  controls->addWidget(time_);
  controls->addWidget(counter_);
  controls->addWidget(loopButton_);
  auto* below = new QHBoxLayout;
  below->addWidget(latentView_, 3);
  below->addWidget(source_, 1);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(view_, 1);
  layout->addLayout(controls);
  layout->addLayout(below);

  connect(playButton_, &QToolButton::clicked, this, &PreviewPlayer::togglePlay);
  connect(stepBack_, &QToolButton::clicked, this, &PreviewPlayer::stepBackward);
  connect(stepForward_, &QToolButton::clicked, this, &PreviewPlayer::stepForward);
  connect(loopButton_, &QToolButton::toggled, this, &PreviewPlayer::setLoop);
  connect(slider_, &QSlider::valueChanged, this, [this](int value) {
    if (value != current_) seek(value);
  });
  connect(slider_, &QSlider::sliderPressed, this, &PreviewPlayer::pause);
  connect(&timer_, &QTimer::timeout, this, &PreviewPlayer::advance);
  // Only while the player has focus: Space and the arrows type and move in the form's fields.
  auto key = [this](QKeySequence sequence, void (PreviewPlayer::*slot)()) {
    auto* shortcut = new QShortcut(sequence, this);
    shortcut->setContext(Qt::WidgetWithChildrenShortcut);
    connect(shortcut, &QShortcut::activated, this, slot);
  };
  key(QKeySequence(Qt::Key_Space), &PreviewPlayer::togglePlay);
  key(QKeySequence(Qt::Key_Left), &PreviewPlayer::stepBackward);
  key(QKeySequence(Qt::Key_Right), &PreviewPlayer::stepForward);

  reset(0, 24);
  // Idle until the first job: nothing is rendering yet.
  complete_ = true;
  source_->setText(tr("No video yet: set a prompt and press Generate (Ctrl+Enter)."));
  view_->setImage(QImage(), tr("The video appears here block by block while it renders"));
  latentView_->setImage(QImage(), tr("latent preview"));
  updateCounter();
}

void PreviewPlayer::reset(qint64 expectedFrames, int fps, QSize videoSize) {
  pause();
  videoSize_ = videoSize;
  frames_.clear();
  latent_ = QImage();
  sourcePath_.clear();
  expected_ = expectedFrames;
  fps_ = std::max(1, fps);
  current_ = 0;
  complete_ = false;
  timer_.setInterval(std::max(1, 1000 / fps_));
  slider_->setRange(0, 0);
  latentView_->setImage(QImage(), tr("latent preview"));
  source_->setText(tr("Rendering…"));
  source_->setToolTip(QString());
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
  if (!image.isNull()) latentView_->setImage(latentGrid(image, videoSize_));
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

QString PreviewPlayer::statusText() const { return source_->text(); }
QString PreviewPlayer::timeText() const { return time_->text(); }

void PreviewPlayer::play() {
  if (frames_.isEmpty()) return;
  // Play on a finished, non-looping video at its end starts it again.
  if (complete_ && !loop_ && current_ + 1 >= frameCount()) seek(0);
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

void PreviewPlayer::stepForward() {
  pause();
  seek(current_ + 1);
}

void PreviewPlayer::stepBackward() {
  pause();
  seek(current_ - 1);
}

void PreviewPlayer::setLoop(bool loop) {
  loop_ = loop;
  if (loopButton_->isChecked() != loop) loopButton_->setChecked(loop);
}

void PreviewPlayer::advance() {
  if (frames_.isEmpty()) return;
  if (current_ + 1 < frameCount()) {
    ++current_;
  } else if (!complete_) {
    return;  // wait at the newest frame for the next block
  } else if (loop_) {
    current_ = 0;
  } else {
    pause();  // stop on the last frame
    return;
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
  QString text = tr("frame %1 / %2").arg(frames_.isEmpty() ? 0 : current_ + 1).arg(frameCount());
  if (!complete_ && expected_ > frameCount()) text += tr(" (of %1)").arg(expected_);
  counter_->setText(text);
  const double now = frames_.isEmpty() ? 0.0 : static_cast<double>(current_) / fps_;
  time_->setText(tr("%1 / %2 s").arg(now, 0, 'f', 2).arg(static_cast<double>(frameCount()) / fps_, 0, 'f', 2));
}

}  // namespace skyreels::ui
