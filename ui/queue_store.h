#pragma once

#include <QString>
#include <QVector>

#include "job_queue_widget.h"

class QSettings;

namespace skyreels::ui {

// The queue between runs of the app, as JSON in a file beside the app's settings
// (~/.config/SkyReels/SkyReels Studio-queue.json; a test's INI file gets its own).
QString queueFileFor(const QSettings& settings);

// Writes the whole list (atomically: a crash leaves the old file or the new one); false when it
// cannot be written.
bool saveQueue(const QString& path, const QVector<QueueEntry>& entries);
// The saved list; a run that was running when the app stopped comes back as Interrupted. Empty when
// there is no file; unreadable entries are left out.
QVector<QueueEntry> loadQueue(const QString& path);

}  // namespace skyreels::ui
