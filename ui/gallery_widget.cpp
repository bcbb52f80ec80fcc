#include "gallery_widget.h"

#include <algorithm>
#include <optional>

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QMessageBox>
#include <QPushButton>
#include <QUrl>
#include <QVBoxLayout>

#include "desktop_links.h"
#include "frame_images.h"
#include "skyreels/media.h"

namespace skyreels::ui {
namespace {

constexpr QSize kThumbnail(160, 90);

QPushButton* button(const QString& text, const char* name, const QString& tip, QWidget* parent) {
  auto* b = new QPushButton(text, parent);
  b->setObjectName(QString::fromLatin1(name));
  b->setToolTip(tip);
  return b;
}

// The file's own record of itself; nullopt for a file this app did not make (no SkyReels metadata).
std::optional<GalleryItem> readItem(const QFileInfo& file) {
  try {
    const auto summary = read_video_summary(file.absoluteFilePath().toStdString(), kThumbnail.width(), kThumbnail.height());
    GalleryItem item;
    item.path = file.absoluteFilePath();
    item.prompt = QString::fromStdString(summary.settings.prompt);
    item.seed = summary.settings.seed;
    item.frames = summary.frames;
    item.framesPlanned = summary.frames_planned;
    item.fps = summary.fps;
    item.model = QString::fromStdString(summary.model_name);
    item.created = QDateTime::fromString(QString::fromStdString(summary.created), Qt::ISODate).toLocalTime();
    if (!item.created.isValid()) item.created = file.lastModified();  // older files did not record it
    const auto images = framesToImages(summary.thumbnail, kThumbnail);
    if (!images.isEmpty()) item.thumbnail = images.front();
    return item;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

QString describe(const GalleryItem& item) {
  QString prompt = item.prompt.simplified();
  if (prompt.isEmpty()) prompt = QObject::tr("(no prompt)");
  if (prompt.size() > 90) prompt = prompt.left(89) + QChar(0x2026);
  QString length = QObject::tr("%1 frames").arg(item.frames);
  if (item.fps > 0) length += QStringLiteral(", %1 s").arg(item.frames / item.fps, 0, 'f', 1);
  QStringList facts{QObject::tr("seed %1").arg(item.seed), length};
  if (!item.model.isEmpty()) facts << item.model;
  facts << QLocale().toString(item.created, QLocale::ShortFormat);
  if (item.partial()) facts << QObject::tr("cancelled at %1 of %2 frames").arg(item.frames).arg(item.framesPlanned);
  return prompt + QLatin1Char('\n') + facts.join(QStringLiteral(" · "));
}

}  // namespace

GalleryWidget::GalleryWidget(QWidget* parent)
    : QWidget(parent), heading_(new QLabel(this)), list_(new QListWidget(this)),
      play_(button(tr("Play"), "galleryPlay", tr("Play the selected video in the player"), this)),
      useSettings_(button(tr("Use these settings"), "galleryUseSettings",
                          tr("Load the selected video's settings (prompt, seed, everything) into the form"), this)),
      openFolder_(button(tr("Open folder"), "galleryOpenFolder", tr("Show the output folder in the file manager"), this)),
      reveal_(button(tr("Reveal file"), "galleryReveal", tr("Show the folder of the selected video in the file manager"), this)),
      delete_(button(tr("Delete…"), "galleryDelete", tr("Move the selected video to the trash (asks first)"), this)),
      refresh_(button(tr("Refresh"), "galleryRefresh", tr("Read the output folder again"), this)) {
  heading_->setObjectName(QStringLiteral("galleryHeading"));
  heading_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  list_->setObjectName(QStringLiteral("galleryList"));
  list_->setSelectionMode(QAbstractItemView::SingleSelection);
  list_->setIconSize(kThumbnail);
  list_->setSpacing(2);
  list_->setWordWrap(true);
  auto* buttons = new QHBoxLayout;
  for (auto* b : {play_, useSettings_, openFolder_, reveal_, delete_}) buttons->addWidget(b);
  buttons->addStretch(1);
  buttons->addWidget(refresh_);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(heading_);
  layout->addWidget(list_, 1);
  layout->addLayout(buttons);

  connect(list_, &QListWidget::itemActivated, this, [this] { playSelected(); });
  connect(list_, &QListWidget::currentRowChanged, this, &GalleryWidget::updateButtons);
  connect(play_, &QPushButton::clicked, this, &GalleryWidget::playSelected);
  connect(useSettings_, &QPushButton::clicked, this, &GalleryWidget::useSelectedSettings);
  connect(openFolder_, &QPushButton::clicked, this, &GalleryWidget::openFolder);
  connect(reveal_, &QPushButton::clicked, this, &GalleryWidget::revealSelected);
  connect(delete_, &QPushButton::clicked, this, &GalleryWidget::deleteSelected);
  connect(refresh_, &QPushButton::clicked, this, &GalleryWidget::refresh);
  refresh();
}

void GalleryWidget::setFolder(const QString& folder) {
  if (folder == folder_) return;
  folder_ = folder;
  refresh();
}

QString GalleryWidget::text(int row) const { return list_->item(row) ? list_->item(row)->text() : QString(); }

int GalleryWidget::selectedRow() const { return list_->currentRow(); }

void GalleryWidget::selectRow(int row) { list_->setCurrentRow(row); }

void GalleryWidget::refresh() {
  const QString selected = selectedRow() >= 0 ? items_.value(selectedRow()).path : QString();
  items_.clear();
  QHash<QString, Cached> seen;
  if (!folder_.isEmpty()) {
    const auto files = QDir(folder_).entryInfoList({QStringLiteral("*.mp4"), QStringLiteral("*.mkv")}, QDir::Files);
    for (const auto& file : files) {
      // NAME.partial.EXT is a render in progress (or a killed one): not a video of the gallery yet.
      if (file.fileName().contains(QStringLiteral(".partial"))) continue;
      const auto known = cache_.constFind(file.absoluteFilePath());
      if (known != cache_.constEnd() && known->modified == file.lastModified() && known->size == file.size()) {
        seen.insert(file.absoluteFilePath(), *known);
      } else if (auto item = readItem(file)) {
        seen.insert(file.absoluteFilePath(), {file.lastModified(), file.size(), *item});
      }
    }
  }
  cache_ = seen;
  for (const auto& cached : std::as_const(cache_)) items_.push_back(cached.item);
  std::sort(items_.begin(), items_.end(), [](const GalleryItem& a, const GalleryItem& b) {
    return a.created != b.created ? a.created > b.created : a.path < b.path;  // newest first
  });

  heading_->setText(folder_.isEmpty() ? tr("No output folder")
                    : items_.isEmpty() ? tr("No videos yet in %1").arg(QDir::toNativeSeparators(folder_))
                                       : tr("%1 in %2").arg(items_.size() == 1 ? tr("1 video") : tr("%1 videos").arg(items_.size()),
                                                            QDir::toNativeSeparators(folder_)));
  list_->clear();
  int reselect = -1;
  for (int i = 0; i < count(); ++i) {
    auto* entry = new QListWidgetItem(QIcon(QPixmap::fromImage(items_[i].thumbnail)), describe(items_[i]), list_);
    entry->setToolTip(QDir::toNativeSeparators(items_[i].path));
    if (items_[i].path == selected) reselect = i;
  }
  if (reselect >= 0) list_->setCurrentRow(reselect);
  updateButtons();
}

bool GalleryWidget::playSelected() {
  const int row = selectedRow();
  if (row < 0 || row >= count()) return false;
  Q_EMIT playRequested(items_[row].path);
  return true;
}

bool GalleryWidget::useSelectedSettings() {
  const int row = selectedRow();
  if (row < 0 || row >= count()) return false;
  Q_EMIT useSettingsRequested(items_[row].path);
  return true;
}

void GalleryWidget::openFolder() {
  if (folder_.isEmpty()) return;
  QDir().mkpath(folder_);  // a first start has no folder yet; show the empty one rather than fail
  openWithDesktop(QUrl::fromLocalFile(folder_));
}

bool GalleryWidget::revealSelected() {
  const int row = selectedRow();
  if (row < 0 || row >= count()) return false;
  // QDesktopServices cannot select a file in every file manager; its folder is what all of them open.
  return openWithDesktop(QUrl::fromLocalFile(QFileInfo(items_[row].path).absolutePath()));
}

bool GalleryWidget::deleteSelected() {
  const int row = selectedRow();
  if (row < 0 || row >= count()) return false;
  const QString path = items_[row].path;
  QMessageBox ask(QMessageBox::Question, tr("Delete video"),
                  tr("Delete %1?\nIt goes to the trash where the desktop has one.").arg(QFileInfo(path).fileName()),
                  QMessageBox::Yes | QMessageBox::No, this);
  ask.setObjectName(QStringLiteral("deleteConfirmation"));
  ask.setDefaultButton(QMessageBox::No);
  if (ask.exec() != QMessageBox::Yes) return false;
  // The trash first, so a mistake can be undone; a file system without one: deleted.
  const bool gone = QFile::moveToTrash(path) || QFile::remove(path);
  refresh();
  return gone;
}

void GalleryWidget::updateButtons() {
  const bool any = selectedRow() >= 0 && selectedRow() < count();
  for (auto* b : {play_, useSettings_, reveal_, delete_}) b->setEnabled(any);
  openFolder_->setEnabled(!folder_.isEmpty());
}

}  // namespace skyreels::ui
