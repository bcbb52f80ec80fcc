#include "generation_worker.h"

#include <chrono>
#include <variant>

#include <QElapsedTimer>
#include <QFileInfo>

#include "engine_queries.h"
#include "frame_images.h"
#include "skyreels/engine.h"
#include "skyreels/error.h"
#include "skyreels/media.h"

namespace skyreels::ui {
namespace {

using Clock = std::chrono::steady_clock;

// The latent preview is cheap, but on a fast GPU rows come quicker than anyone can look at them.
constexpr auto kLatentPreviewInterval = std::chrono::milliseconds(200);

QString phaseName(Phase phase) {
  switch (phase) {
    case Phase::LoadingModels: return QObject::tr("Loading models");
    case Phase::EncodingPrompts: return QObject::tr("Encoding prompts");
    case Phase::Denoising: return QObject::tr("Denoising");
    case Phase::Finishing: return QObject::tr("Finishing");
  }
  return {};
}

// What kind of problem an engine error is, in the user's words.
QString describe(ErrorCode code, const QString& message) {
  QString kind;
  switch (code) {
    case ErrorCode::BadArgument: kind = QObject::tr("Settings"); break;
    case ErrorCode::NotFound: kind = QObject::tr("Not found"); break;
    case ErrorCode::CorruptFile: kind = QObject::tr("Damaged file"); break;
    case ErrorCode::Unsupported: kind = QObject::tr("Not supported"); break;
    case ErrorCode::ShapeMismatch: kind = QObject::tr("Model mismatch"); break;
    default: kind = QObject::tr("Generation failed"); break;
  }
  return kind + QStringLiteral(": ") + message;
}

RowProgress toRowProgress(const RowDone& e, int windows) {
  RowProgress r;
  r.window = e.window;
  r.windows = windows;
  r.row = e.row;
  r.rows = e.rows;
  r.rowsDone = e.rows_done;
  r.rowsTotal = e.rows_total;
  r.elapsedSeconds = e.elapsed_seconds;
  r.rowSeconds = e.row_seconds;
  r.modelSeconds = e.model_seconds;
  r.allocatedBytes = e.memory.allocated_bytes;
  r.reservedBytes = e.memory.reserved_bytes;
  r.peakAllocatedBytes = e.memory.peak_allocated_bytes;
  r.peakReservedBytes = e.memory.peak_reserved_bytes;
  return r;
}

RenderJob renderJobOf(const StudioJob& job) {
  RenderJob r;
  r.request.settings = job.effectiveSettings();
  r.request.start_image = job.startImage.toStdString();
  r.request.end_image = job.endImage.toStdString();
  r.request.video_to_extend = job.extendVideo.toStdString();
  r.output_folder = job.effectiveOutputFolder().toStdString();
  r.default_extension = fileExtension(job.codec).toStdString();
  r.crf = job.crf;
  return r;
}

}  // namespace

GenerationWorker::GenerationWorker(QObject* parent) : QObject(parent) {}

GenerationWorker::~GenerationWorker() = default;

Engine& GenerationWorker::engineFor(const StudioJob& job) {
  const QString key = job.modelFolder.trimmed() + QLatin1Char('|') + job.device;
  if (!engine_ || key != engineKey_) {
    engine_.reset();  // frees the previous models before loading others
    engineKey_.clear();
    EngineOptions options;
    options.device = job.device == QLatin1String("cuda") ? "cuda:0" : "cpu";
    // An empty folder is the embedded demo model.
    engine_ = std::make_unique<Engine>(job.modelFolder.trimmed().toStdString(), options);
    engineKey_ = key;
  }
  return *engine_;
}

void GenerationWorker::run(const StudioJob& requested) {
  QElapsedTimer clock;
  clock.start();
  StudioJob job = requested;
  // The seed is drawn here (draw_seed(), the engine's one rule) so jobStarted shows the one used.
  if (job.randomSeed) job.settings.seed = draw_seed();
  JobOutcome outcome;
  outcome.seed = job.settings.seed;
  Q_EMIT jobStarted(job);

  int windows = 0;
  MemoryStats memory;
  auto lastPreview = Clock::time_point{};
  auto onEvent = [&](const GenerationEvent& event) {
    if (const auto* e = std::get_if<PhaseStarted>(&event)) {
      Q_EMIT phaseChanged(phaseName(e->phase), QString::fromStdString(e->detail));
    } else if (const auto* e = std::get_if<MemoryPlanned>(&event)) {
      Q_EMIT memoryPlanned(QString::fromStdString(e->description), e->enforced);
    } else if (const auto* e = std::get_if<GenerationStarted>(&event)) {
      windows = static_cast<int>(e->plan.windows.size());
      Q_EMIT generationStarted(PlanSummary{windows, e->plan.total_rows, e->plan.output_pixel_frames, e->plan.model_calls});
    } else if (const auto* e = std::get_if<RowDone>(&event)) {
      memory = e->memory;
      Q_EMIT rowDone(toRowProgress(*e, windows));
      const auto now = Clock::now();
      if (e->row == 0 || e->row + 1 == e->rows || now - lastPreview >= kLatentPreviewInterval) {
        lastPreview = now;
        try {
          Q_EMIT latentPreview(toQImage(e->latents.preview()));
        } catch (const std::exception&) {  // a preview is never worth failing the generation for
        }
      }
    } else if (const auto* e = std::get_if<BlockDecoded>(&event)) {
      // The job runner has written these frames to the file already.
      Q_EMIT framesDecoded(e->window, e->first_frame, framesToImages(e->frames, previewLimit_));
    } else if (const auto* e = std::get_if<WindowDone>(&event)) {
      Q_EMIT windowDone(e->window, e->elapsed_seconds, e->frames_so_far);
    } else if (const auto* e = std::get_if<GenerationFinished>(&event)) {
      memory = e->memory;
    }
  };

  try {
    auto& engine = engineFor(job);
    const auto result = render_to_file(engine, renderJobOf(job), onEvent, &cancel_);
    switch (result.status) {
      case RenderStatus::Finished: outcome.status = JobOutcome::Status::Finished; break;
      case RenderStatus::Cancelled: outcome.status = JobOutcome::Status::Cancelled; break;
      case RenderStatus::Failed:
        outcome.status = JobOutcome::Status::Failed;
        outcome.message = describe(result.error, QString::fromStdString(result.message));
        break;
    }
    outcome.framesWritten = result.frames_written;
    outcome.outputPath = QString::fromStdString(result.output);
    for (const auto& path : result.unfinished_earlier) outcome.unfinishedEarlier << QString::fromStdString(path);
  } catch (const Error& e) {
    outcome.status = JobOutcome::Status::Failed;
    outcome.message = describe(e.code(), QString::fromUtf8(e.what()));
  } catch (const std::exception& e) {
    outcome.status = JobOutcome::Status::Failed;
    outcome.message = tr("Generation failed: %1").arg(QString::fromUtf8(e.what()));
  }

  // The encoded file read back for the player (after a job with frames).
  if (!outcome.outputPath.isEmpty()) {
    Q_EMIT phaseChanged(tr("Finishing"), tr("reading %1 back").arg(QFileInfo(outcome.outputPath).fileName()));
    try {
      const auto frames = read_video_frames(outcome.outputPath.toStdString(), previewLimit_.width(), previewLimit_.height());
      Q_EMIT encodedVideoReady(outcome.outputPath, framesToImages(frames, previewLimit_));
    } catch (const std::exception&) {  // the player keeps the decoded blocks instead
    }
  }
  outcome.peakBytes = memory.peak_allocated_bytes;
  outcome.seconds = static_cast<double>(clock.elapsed()) / 1000.0;
  Q_EMIT jobFinished(outcome);
}

}  // namespace skyreels::ui
