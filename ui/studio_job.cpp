#include "studio_job.h"

#include <QDir>
#include <QStandardPaths>

namespace skyreels::ui {

QString StudioJob::summary() const {
  QString prompt = QString::fromStdString(settings.prompt).simplified();
  if (prompt.isEmpty()) prompt = QStringLiteral("(no prompt)");
  if (prompt.size() > 48) prompt = prompt.left(47) + QChar(0x2026);
  const QString seed = randomSeed ? QStringLiteral("random seed") : QStringLiteral("seed %1").arg(settings.seed);
  return QStringLiteral("%1 — %2x%3, %4 frames, %5 steps, %6")
      .arg(prompt)
      .arg(settings.width)
      .arg(settings.height)
      .arg(settings.num_frames)
      .arg(settings.steps)
      .arg(seed);
}

QString StudioJob::effectiveOutputFolder() const {
  if (!outputFolder.trimmed().isEmpty()) return outputFolder.trimmed();
  auto movies = QStandardPaths::writableLocation(QStandardPaths::MoviesLocation);
  if (movies.isEmpty()) movies = QDir::homePath();
  return QDir(movies).filePath(QStringLiteral("SkyReels"));
}

GenerationSettings StudioJob::effectiveSettings() const {
  auto s = settings;
  s.has_start_image = !startImage.isEmpty();
  s.has_end_image = !endImage.isEmpty();
  s.extends_video = !extendVideo.isEmpty();
  return s;
}

QString fileExtension(OutputCodec codec) {
  return codec == OutputCodec::Ffv1Mkv ? QStringLiteral(".mkv") : QStringLiteral(".mp4");
}

}  // namespace skyreels::ui
