#pragma once

#include <atomic>
#include <memory>

#include <QImage>
#include <QObject>
#include <QSize>
#include <QString>
#include <QStringList>
#include <QVector>

#include "studio_job.h"

namespace skyreels {
class Engine;
}

namespace skyreels::ui {

// Copies of the engine's events, as plain Qt values that cross threads through queued signals.
struct PlanSummary {
  int windows = 0;
  int rowsTotal = 0;
  qint64 frames = 0;      // frames of the finished video (input frames of an extension included)
  int modelCalls = 0;
};

struct RowProgress {
  int window = 0, windows = 0;        // 0-based window, and how many
  int row = 0, rows = 0;              // 0-based row of this window, and how many
  int rowsDone = 0, rowsTotal = 0;    // over the whole generation
  double elapsedSeconds = 0, rowSeconds = 0, modelSeconds = 0;
  qint64 allocatedBytes = 0, reservedBytes = 0, peakAllocatedBytes = 0, peakReservedBytes = 0;
};

struct JobOutcome {
  enum class Status { Finished = 1, Cancelled, Failed };
  Status status = Status::Failed;
  QString outputPath;       // empty when no frame was written
  qint64 framesWritten = 0;
  double seconds = 0;       // whole job, loading included
  quint64 seed = 0;         // the seed used
  QString message;          // why it failed (names the setting or the missing model part)
  qint64 peakBytes = 0;     // peak allocated (CUDA) or peak RSS (CPU)
  QStringList unfinishedEarlier;  // NAME.partial files that killed earlier runs to the same file left
};

// Runs jobs on the thread it lives on (moved to a QThread by GenerationThread): owns the engine,
// keeps it (and its loaded models) for the next job with the same model folder and device, writes
// the video as blocks arrive, and re-emits the engine's events as queued-safe copies. Nothing
// escapes run() as an exception: errors become a Failed outcome that keeps the finished frames.
class GenerationWorker : public QObject {
  Q_OBJECT
public:
  explicit GenerationWorker(QObject* parent = nullptr);
  ~GenerationWorker() override;

  // Thread-safe: the engine polls the flag after every row.
  void requestCancel() { cancel_.store(true); }
  void clearCancel() { cancel_.store(false); }

  // The size preview frames are kept at (the encoded file gets the full frames). Set before run().
  void setPreviewLimit(QSize limit) { previewLimit_ = limit; }

public Q_SLOTS:
  void run(const skyreels::ui::StudioJob& job);

Q_SIGNALS:
  void jobStarted(const skyreels::ui::StudioJob& job);  // the seed is the one used
  void phaseChanged(const QString& phase, const QString& detail);
  void generationStarted(const skyreels::ui::PlanSummary& plan);
  // The GPU-memory budget's plan (a job with a budget), and whether the engine enforces it (on a GPU).
  void memoryPlanned(const QString& description, bool enforced);
  void rowDone(const skyreels::ui::RowProgress& row);
  // A cheap look at the window's latents after a row (not the decoded video; see latent_preview.h).
  void latentPreview(const QImage& image);
  // Final frames [firstFrame, firstFrame + frames.size()) of the video, at preview size.
  void framesDecoded(int window, qint64 firstFrame, const QVector<QImage>& frames);
  void windowDone(int window, double seconds, qint64 framesSoFar);
  // The encoded file read back for playback (after a finished or cancelled job with frames).
  void encodedVideoReady(const QString& path, const QVector<QImage>& frames);
  void jobFinished(const skyreels::ui::JobOutcome& outcome);

private:
  Engine& engineFor(const StudioJob& job);

  std::unique_ptr<Engine> engine_;
  QString engineKey_;  // model folder + device of engine_
  std::atomic<bool> cancel_{false};
  QSize previewLimit_{640, 360};
};

}  // namespace skyreels::ui

Q_DECLARE_METATYPE(skyreels::ui::PlanSummary)
Q_DECLARE_METATYPE(skyreels::ui::RowProgress)
Q_DECLARE_METATYPE(skyreels::ui::JobOutcome)
