#pragma once

#include <QImage>
#include <QTimer>
#include <QVector>
#include <QWidget>

class QLabel;
class QPushButton;
class QSlider;

namespace skyreels::ui {

class FrameView;

// The video while it renders: each decoded block is appended at once, and the frames that exist can
// be played (looping, or waiting at the end for the next block) and scrubbed. Beside it, the latest
// latent preview of the row being denoised. At the end the encoded file, read back, replaces the
// blocks, so what plays is what was written.
class PreviewPlayer : public QWidget {
  Q_OBJECT
public:
  explicit PreviewPlayer(QWidget* parent = nullptr);

  // A new video: no frames, `expectedFrames` to come (0: unknown), played at `fps`.
  void reset(qint64 expectedFrames, int fps);
  void setExpectedFrames(qint64 frames);
  // Frames [firstFrame, firstFrame + frames.size()); starts playing with the first block.
  void appendFrames(qint64 firstFrame, const QVector<QImage>& frames);
  void setLatentPreview(const QImage& image);
  // The finished file's frames; playback goes on from the same frame.
  void showEncodedVideo(const QString& path, const QVector<QImage>& frames);
  // The run ended: frames that exist now are all there will be.
  void markComplete();

  int frameCount() const { return static_cast<int>(frames_.size()); }
  int currentFrame() const { return current_; }
  bool isPlaying() const { return timer_.isActive(); }
  QImage frame(int index) const { return frames_.value(index); }
  QImage latentPreview() const { return latent_; }
  QString sourcePath() const { return sourcePath_; }  // the encoded file once shown, else empty

public Q_SLOTS:
  void play();
  void pause();
  void togglePlay();
  void seek(int frame);

private:
  void advance();
  void showCurrent();
  void updateCounter();

  FrameView* view_;
  QLabel* latentView_;
  QLabel* counter_;
  QLabel* source_;
  QPushButton* playButton_;
  QSlider* slider_;
  QTimer timer_;
  QVector<QImage> frames_;
  QImage latent_;
  QString sourcePath_;
  qint64 expected_ = 0;
  int current_ = 0;
  bool complete_ = true;
};

}  // namespace skyreels::ui
