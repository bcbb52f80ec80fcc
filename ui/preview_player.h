#pragma once

#include <QImage>
#include <QTimer>
#include <QVector>
#include <QWidget>

class QLabel;
class QToolButton;

namespace skyreels::ui {

class FrameView;
class SeekSlider;

// The video while it renders: each decoded block is appended at once, and the frames that exist can
// be played (looping or stopping at the end; waiting for the next block while rendering), scrubbed
// (a click jumps there), and stepped frame by frame. Keys while the player has focus: Space plays or
// pauses, Left/Right step one frame. Under it, the latest latent preview of the row being denoised,
// at a size one can read. At the end the encoded file, read back, replaces the blocks, so what plays
// is what was written.
class PreviewPlayer : public QWidget {
  Q_OBJECT
public:
  explicit PreviewPlayer(QWidget* parent = nullptr);

  // A new video: no frames, `expectedFrames` to come (0: unknown), played at `fps`; `videoSize` (when
  // known) lets the latent preview's strip of frames be shown as a grid of them.
  void reset(qint64 expectedFrames, int fps, QSize videoSize = {});
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
  bool loops() const { return loop_; }
  QImage frame(int index) const { return frames_.value(index); }
  QImage latentPreview() const { return latent_; }
  QString sourcePath() const { return sourcePath_; }  // the encoded file once shown, else empty
  QString statusText() const;                          // the line under the player ("Rendering…", the file)
  QString timeText() const;                            // "1.25 / 3.00 s"

public Q_SLOTS:
  void play();
  void pause();
  void togglePlay();
  void seek(int frame);
  void stepForward();   // one frame, paused
  void stepBackward();
  void setLoop(bool loop);

private:
  void advance();
  void showCurrent();
  void updateCounter();

  FrameView* view_;
  FrameView* latentView_;
  QLabel* counter_;
  QLabel* time_;
  QLabel* source_;
  QToolButton* playButton_;
  QToolButton* stepBack_;
  QToolButton* stepForward_;
  QToolButton* loopButton_;
  SeekSlider* slider_;
  QTimer timer_;
  QVector<QImage> frames_;
  QImage latent_;
  QString sourcePath_;
  QSize videoSize_;
  qint64 expected_ = 0;
  int fps_ = 24;
  int current_ = 0;
  bool complete_ = true;
  bool loop_ = true;
};

}  // namespace skyreels::ui
