#include "generation_worker.h"

#include <chrono>
#include <variant>

#include <QDateTime>
#include <QDir>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QRandomGenerator>
#include <QStandardPaths>

#include <nlohmann/json.hpp>

#include "engine_queries.h"
#include "pipeline/engine.h"
#include "skyreels/error.h"
#include "telemetry/device_memory.h"
#include "tensor_images.h"
#include "video/generation_inputs.h"
#include "video/video_encoder.h"
#include "video/video_reader.h"

namespace skyreels::ui {
namespace {

using Clock = std::chrono::steady_clock;

// The latent preview is cheap, but on a fast GPU rows come quicker than anyone can look at them.
constexpr auto kLatentPreviewInterval = std::chrono::milliseconds(200);

QString phaseName(pipeline::Phase phase) {
  switch (phase) {
    case pipeline::Phase::LoadingModels: return QObject::tr("Loading models");
    case pipeline::Phase::EncodingPrompts: return QObject::tr("Encoding prompts");
    case pipeline::Phase::Denoising: return QObject::tr("Denoising");
    case pipeline::Phase::Finishing: return QObject::tr("Finishing");
  }
  return {};
}

// What kind of problem an engine error is, in the user's words.
QString describe(const Error& e) {
  QString kind;
  switch (e.code()) {
    case ErrorCode::BadArgument: kind = QObject::tr("Settings"); break;
    case ErrorCode::NotFound: kind = QObject::tr("Not found"); break;
    case ErrorCode::CorruptFile: kind = QObject::tr("Damaged file"); break;
    case ErrorCode::Unsupported: kind = QObject::tr("Not supported"); break;
    case ErrorCode::ShapeMismatch: kind = QObject::tr("Model mismatch"); break;
    default: kind = QObject::tr("Generation failed"); break;
  }
  return kind + QStringLiteral(": ") + QString::fromUtf8(e.what());
}

c10::Device deviceOf(const QString& name) {
  return name == QLatin1String("cuda") ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
}

QString outputFolderOf(const StudioJob& job) {
  if (!job.outputFolder.trimmed().isEmpty()) return job.outputFolder.trimmed();
  auto movies = QStandardPaths::writableLocation(QStandardPaths::MoviesLocation);
  if (movies.isEmpty()) movies = QDir::homePath();
  return QDir(movies).filePath(QStringLiteral("SkyReels"));
}

// skyreels-<date>-<time>-<seed>.mp4, never overwriting an earlier file.
QString newOutputPath(const QString& folder, std::uint64_t seed, OutputCodec codec) {
  const QString stem = QStringLiteral("skyreels-%1-%2")
                           .arg(QDateTime::currentDateTime().toString(QStringLiteral("yyyyMMdd-HHmmss")))
                           .arg(seed);
  const QDir dir(folder);
  QString path = dir.filePath(stem + fileExtension(codec));
  for (int n = 2; QFileInfo::exists(path); ++n) path = dir.filePath(stem + QStringLiteral("-%1").arg(n) + fileExtension(codec));
  return path;
}

// The size `limit` allows for a width x height video, even numbers (0 x 0: keep the video's size).
QSize previewSize(int width, int height, QSize limit) {
  if (width <= limit.width() && height <= limit.height()) return {0, 0};
  const QSize fitted = QSize(width, height).scaled(limit, Qt::KeepAspectRatio);
  return {std::max(2, fitted.width() & ~1), std::max(2, fitted.height() & ~1)};
}

RowProgress toRowProgress(const pipeline::RowDone& e, int windows) {
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

}  // namespace

GenerationWorker::GenerationWorker(QObject* parent) : QObject(parent) {}

GenerationWorker::~GenerationWorker() = default;

pipeline::Engine& GenerationWorker::engineFor(const StudioJob& job) {
  const QString folder = effectiveModelFolder(job.modelFolder);
  if (folder.isEmpty())
    throw Error(ErrorCode::NotFound, "no model folder was chosen and the embedded demo model is not installed "
                                     "(set SKYREELS_DEMO_MODEL or choose a SkyReels-V2-DF folder)");
  const QString key = folder + QLatin1Char('|') + job.device;
  if (!engine_ || key != engineKey_) {
    engine_.reset();  // frees the previous models before loading others
    engineKey_.clear();
    pipeline::EngineOptions options;
    options.device = deviceOf(job.device);
    engine_ = std::make_unique<pipeline::Engine>(folder.toStdString(), options);
    engineKey_ = key;
  }
  return *engine_;
}

void GenerationWorker::run(const StudioJob& requested) {
  QElapsedTimer clock;
  clock.start();
  StudioJob job = requested;
  if (job.randomSeed) job.settings.seed = QRandomGenerator::global()->generate();
  JobOutcome outcome;
  outcome.seed = job.settings.seed;
  Q_EMIT jobStarted(job);

  std::unique_ptr<video::VideoEncoder> encoder;
  QString path;
  int windows = 0;
  telemetry::MemoryStats memory;
  auto lastPreview = Clock::time_point{};

  auto onEvent = [&](const pipeline::GenerationEvent& event) {
    if (const auto* e = std::get_if<pipeline::PhaseStarted>(&event)) {
      Q_EMIT phaseChanged(phaseName(e->phase), QString::fromStdString(e->detail));
    } else if (const auto* e = std::get_if<pipeline::GenerationStarted>(&event)) {
      windows = static_cast<int>(e->plan.windows.size());
      Q_EMIT generationStarted(PlanSummary{windows, e->plan.total_rows, e->plan.output_pixel_frames, e->plan.model_calls});
    } else if (const auto* e = std::get_if<pipeline::RowDone>(&event)) {
      memory = e->memory;
      Q_EMIT rowDone(toRowProgress(*e, windows));
      const auto now = Clock::now();
      if (e->row == 0 || e->row + 1 == e->rows || now - lastPreview >= kLatentPreviewInterval) {
        lastPreview = now;
        try {
          Q_EMIT latentPreview(latentPreviewImage(e->latents));
        } catch (const std::exception&) {  // a preview is never worth failing the generation for
        }
      }
    } else if (const auto* e = std::get_if<pipeline::BlockDecoded>(&event)) {
      encoder->write(e->frames);  // written first: what the player shows is already in the file
      Q_EMIT framesDecoded(e->window, e->first_frame, framesToImages(e->frames, previewLimit_));
    } else if (const auto* e = std::get_if<pipeline::WindowDone>(&event)) {
      Q_EMIT windowDone(e->window, e->elapsed_seconds, e->frames_so_far);
    } else if (const auto* e = std::get_if<pipeline::GenerationFinished>(&event)) {
      memory = e->memory;
    }
  };

  try {
    auto settings = job.effectiveSettings();
    // Settings mistakes are named before a model loads or a file is created.
    pipeline::require_valid(settings);
    auto& engine = engineFor(job);
    const auto request = video::load_generation_inputs(settings, job.startImage.toStdString(),
                                                       job.endImage.toStdString(), job.extendVideo.toStdString());
    settings = request.settings;

    const QString folder = outputFolderOf(job);
    if (!QDir().mkpath(folder)) throw Error(ErrorCode::BadArgument, "cannot create the output folder " + folder.toStdString());
    path = newOutputPath(folder, settings.seed, job.codec);
    video::EncoderSettings format;
    format.format = job.codec == OutputCodec::Ffv1Mkv ? video::VideoFormat::Ffv1Mkv : video::VideoFormat::H264Mp4;
    format.fps_num = settings.fps;
    format.crf = job.crf;
    // The settings go into the file, so "Restore from video…" can bring them back.
    encoder = video::open_video_encoder(path.toStdString(), static_cast<int>(settings.width),
                                        static_cast<int>(settings.height), format, pipeline::to_json(settings));

    const auto result = engine.generate(request, onEvent, &cancel_);
    outcome.status = result.cancelled ? JobOutcome::Status::Cancelled : JobOutcome::Status::Finished;
  } catch (const Error& e) {
    outcome.status = JobOutcome::Status::Failed;
    outcome.message = describe(e);
  } catch (const std::exception& e) {
    outcome.status = JobOutcome::Status::Failed;
    outcome.message = tr("Generation failed: %1").arg(QString::fromUtf8(e.what()));
  }

  // Finished, cancelled or failed: the frames written so far become a playable file.
  if (encoder) {
    Q_EMIT phaseChanged(tr("Finishing"), tr("writing %1").arg(QFileInfo(path).fileName()));
    try {
      if (encoder->frames_written() > 0) encoder->finish();
    } catch (const std::exception& e) {
      if (outcome.status != JobOutcome::Status::Failed) outcome.message = tr("Writing the video failed: %1").arg(e.what());
      outcome.status = JobOutcome::Status::Failed;
    }
    outcome.framesWritten = encoder->frames_written();
    encoder.reset();
  }
  if (outcome.framesWritten > 0) {
    outcome.outputPath = path;
    try {
      const auto info = video::probe_video(path.toStdString());
      const auto size = previewSize(info.width, info.height, previewLimit_);
      const auto frames = video::read_video_frames(path.toStdString(), size.width(), size.height());
      Q_EMIT encodedVideoReady(path, framesToImages(frames, previewLimit_));
    } catch (const std::exception&) {  // the player keeps the decoded blocks instead
    }
  }
  outcome.peakBytes = memory.peak_allocated_bytes;
  outcome.seconds = static_cast<double>(clock.elapsed()) / 1000.0;
  Q_EMIT jobFinished(outcome);
}

}  // namespace skyreels::ui
