#include "queue_store.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QSaveFile>
#include <QSettings>

#include <nlohmann/json.hpp>

#include "studio_job_json.h"

namespace skyreels::ui {
namespace {

constexpr int kQueueFormat = 1;
constexpr qint64 kMaxQueueFileBytes = 64 * 1024 * 1024;  // far above any real queue; a guard against junk

const char* stateKey(QueueEntry::State state) {
  switch (state) {
    case QueueEntry::State::Queued: return "queued";
    case QueueEntry::State::Running: return "running";
    case QueueEntry::State::Done: return "done";
    case QueueEntry::State::Cancelled: return "cancelled";
    case QueueEntry::State::Failed: return "failed";
    case QueueEntry::State::Interrupted: return "interrupted";
  }
  return "failed";
}

QueueEntry::State stateFromKey(const std::string& key) {
  for (auto s : {QueueEntry::State::Queued, QueueEntry::State::Running, QueueEntry::State::Done,
                 QueueEntry::State::Cancelled, QueueEntry::State::Failed, QueueEntry::State::Interrupted})
    if (key == stateKey(s)) return s;
  return QueueEntry::State::Failed;
}

}  // namespace

QString queueFileFor(const QSettings& settings) {
  const QFileInfo file(settings.fileName());
  return file.dir().filePath(file.completeBaseName() + QStringLiteral("-queue.json"));
}

bool saveQueue(const QString& path, const QVector<QueueEntry>& entries) {
  nlohmann::json jobs = nlohmann::json::array();
  for (const auto& e : entries)
    jobs.push_back({{"job", jobToJson(e.job)},
                    {"state", stateKey(e.state)},
                    {"note", e.note.toStdString()},
                    {"percent", e.percent},
                    {"output", e.outputPath.toStdString()}});
  const nlohmann::json document = {{"queue_format", kQueueFormat}, {"jobs", jobs}};
  QDir().mkpath(QFileInfo(path).absolutePath());
  QSaveFile file(path);
  if (!file.open(QIODevice::WriteOnly)) return false;
  const auto text = document.dump(1, ' ', false, nlohmann::json::error_handler_t::replace);
  file.write(text.data(), static_cast<qint64>(text.size()));
  return file.commit();
}

QVector<QueueEntry> loadQueue(const QString& path) {
  QFile file(path);
  if (!file.open(QIODevice::ReadOnly) || file.size() > kMaxQueueFileBytes) return {};
  const auto document = nlohmann::json::parse(file.readAll().toStdString(), nullptr, /*allow_exceptions=*/false);
  if (!document.is_object() || !document.contains("jobs") || !document["jobs"].is_array()) return {};
  QVector<QueueEntry> entries;
  for (const auto& item : document["jobs"]) {
    try {
      QueueEntry e;
      e.job = jobFromJson(item.at("job"));
      e.state = stateFromKey(item.value("state", std::string()));
      // The app stopped (quit, crash) while this ran: its file, if any, holds the frames written.
      if (e.state == QueueEntry::State::Running) e.state = QueueEntry::State::Interrupted;
      e.note = QString::fromStdString(item.value("note", std::string()));
      e.percent = item.value("percent", 0);
      e.outputPath = QString::fromStdString(item.value("output", std::string()));
      entries.push_back(e);
    } catch (const std::exception&) {  // one damaged entry does not lose the others
    }
  }
  return entries;
}

}  // namespace skyreels::ui
