#include "model_manager.h"

#include <chrono>

#include <QDir>
#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QMetaObject>
#include <QProgressBar>
#include <QPushButton>
#include <QTreeWidget>
#include <QVBoxLayout>

#include "skyreels/engine.h"

namespace skyreels::ui {
namespace {

QString qs(const std::string& text) { return QString::fromStdString(text); }

QString stageText(DownloadProgress::Stage stage) {
  switch (stage) {
    case DownloadProgress::Stage::Listing: return QStringLiteral("listing");
    case DownloadProgress::Stage::Downloading: return QStringLiteral("downloading");
    case DownloadProgress::Stage::Verifying: return QStringLiteral("verifying");
    case DownloadProgress::Stage::Done: return QStringLiteral("done");
  }
  return {};
}

// Progress bars count in KiB so a 41 GB download fits an int.
int barUnits(qint64 bytes) { return static_cast<int>(bytes / 1024); }

QString statusText(const FoundModel& model) {
  if (model.complete) return QStringLiteral("complete");
  if (model.problems.empty()) return QStringLiteral("incomplete");
  QString text = QStringLiteral("incomplete: ") + qs(model.problems.front());
  if (model.problems.size() > 1) text += QStringLiteral(" (+%1 more)").arg(model.problems.size() - 1);
  return text;
}

}  // namespace

void ModelDownloadWorker::download(const QString& name, const QString& repo, const QString& cacheDir, const QString& endpoint) {
  DownloadOptions options;
  options.cache_dir = cacheDir.toStdString();
  options.endpoint = endpoint.toStdString();
  using Clock = std::chrono::steady_clock;
  auto last = Clock::now() - std::chrono::seconds(1);
  auto lastStage = DownloadProgress::Stage::Listing;
  QString lastFile;
  auto report = [&](const DownloadProgress& p) {
    const auto now = Clock::now();
    const auto file = qs(p.file);
    if (p.stage == lastStage && file == lastFile && now - last < std::chrono::milliseconds(100)) return;
    last = now;
    lastStage = p.stage;
    lastFile = file;
    Q_EMIT progress(name, static_cast<qint64>(p.bytes_done), static_cast<qint64>(p.bytes_total), file, stageText(p.stage));
  };
  try {
    const auto result = download_model(repo.toStdString(), options, report, &cancel_);
    Q_EMIT finished(name, true, false,
                    QStringLiteral("Downloaded and verified (%1 new files, %2)")
                        .arg(result.files_downloaded)
                        .arg(qs(format_bytes(result.bytes_downloaded))),
                    qs(result.snapshot));
  } catch (const Error& e) {
    Q_EMIT finished(name, false, e.code() == ErrorCode::Cancelled, qs(e.what()), {});
  } catch (const std::exception& e) {
    Q_EMIT finished(name, false, false, qs(e.what()), {});
  }
}

ModelManagerWidget::ModelManagerWidget(QWidget* parent) : QWidget(parent), worker_(new ModelDownloadWorker) {
  setObjectName(QStringLiteral("modelManager"));
  modelsDirs_ << qs(default_models_dir());
  if (const auto demo = demo_model_folder(); !demo.empty()) modelsDirs_ << qs(demo);
  hubCacheDir_ = qs(hub_cache_dir());
  downloadable_ = official_models();

  auto* layout = new QVBoxLayout(this);
  auto* foundBox = new QGroupBox(tr("Models on this computer"), this);
  auto* foundLayout = new QVBoxLayout(foundBox);
  list_ = new QTreeWidget(foundBox);
  list_->setObjectName(QStringLiteral("foundModels"));
  list_->setHeaderLabels({tr("Name"), tr("Status"), tr("Folder")});
  list_->setRootIsDecorated(false);
  list_->setSelectionMode(QAbstractItemView::SingleSelection);
  list_->header()->setSectionResizeMode(0, QHeaderView::ResizeToContents);
  list_->header()->setStretchLastSection(true);
  foundLayout->addWidget(list_);
  auto* buttons = new QHBoxLayout;
  refreshButton_ = new QPushButton(tr("Refresh"), foundBox);
  refreshButton_->setObjectName(QStringLiteral("refreshModels"));
  useButton_ = new QPushButton(tr("Use this model"), foundBox);
  useButton_->setObjectName(QStringLiteral("useModel"));
  useButton_->setToolTip(tr("Load the selected model for the next generation"));
  buttons->addWidget(refreshButton_);
  buttons->addStretch(1);
  buttons->addWidget(useButton_);
  foundLayout->addLayout(buttons);
  layout->addWidget(foundBox, 1);

  auto* downloadBox = new QGroupBox(tr("Download the official SkyReels-V2 models"), this);
  downloadsBox_ = downloadBox;
  new QGridLayout(downloadBox);
  layout->addWidget(downloadBox);

  connect(refreshButton_, &QPushButton::clicked, this, &ModelManagerWidget::refresh);
  connect(useButton_, &QPushButton::clicked, this, &ModelManagerWidget::chooseCurrent);
  connect(list_, &QTreeWidget::itemSelectionChanged, this, &ModelManagerWidget::updateUseButton);
  connect(list_, &QTreeWidget::itemDoubleClicked, this, &ModelManagerWidget::chooseCurrent);

  // The worker recipe: moved to the thread, deleted when it ends; the destructor cancels, quits, waits.
  thread_.setObjectName(QStringLiteral("model-download"));
  worker_->moveToThread(&thread_);
  connect(&thread_, &QThread::finished, worker_, &QObject::deleteLater);
  connect(worker_, &ModelDownloadWorker::progress, this, &ModelManagerWidget::onProgress);
  connect(worker_, &ModelDownloadWorker::finished, this, &ModelManagerWidget::onFinished);
  thread_.start();

  rebuildDownloadRows();
  refresh();
}

ModelManagerWidget::~ModelManagerWidget() {
  worker_->requestCancel();
  thread_.quit();
  thread_.wait();
}

void ModelManagerWidget::setModelsDirs(const QStringList& dirs) {
  modelsDirs_ = dirs;
  refresh();
}

void ModelManagerWidget::setHubCacheDir(const QString& dir) {
  hubCacheDir_ = dir;
  refresh();
}

void ModelManagerWidget::setEndpoint(const QString& endpoint) { endpoint_ = endpoint; }

void ModelManagerWidget::setDownloadableModels(const std::vector<OfficialModel>& models) {
  downloadable_ = models;
  rebuildDownloadRows();
  updateDownloadButtons();
}

void ModelManagerWidget::refresh() {
  std::vector<std::string> dirs;
  for (const auto& dir : modelsDirs_) dirs.push_back(dir.toStdString());
  found_ = find_models(dirs, hubCacheDir_.toStdString());
  const auto selected = list_->currentItem() ? list_->currentItem()->data(0, Qt::UserRole).toString() : QString();
  list_->clear();
  for (const auto& model : found_) {
    auto* item = new QTreeWidgetItem(list_);
    item->setText(0, qs(model.name));
    item->setText(1, statusText(model));
    item->setText(2, QDir::toNativeSeparators(qs(model.path)));
    item->setData(0, Qt::UserRole, qs(model.path));
    item->setData(1, Qt::UserRole, model.complete);
    QString tip = qs(model.path);
    if (!model.repo.empty()) tip += QStringLiteral("\n%1 at %2").arg(qs(model.repo), qs(model.revision.substr(0, 12)));
    tip += QStringLiteral("\n%1, %2 layout").arg(qs(format_bytes(model.bytes)), qs(model.layout));
    for (const auto& problem : model.problems) tip += QStringLiteral("\n- ") + qs(problem);
    for (int column = 0; column < 3; ++column) item->setToolTip(column, tip);
    if (!model.complete) item->setForeground(1, QBrush(QColor(0xb0, 0x40, 0x20)));
    if (qs(model.path) == selected) list_->setCurrentItem(item);
  }
  updateUseButton();
  updateDownloadButtons();
}

void ModelManagerWidget::rebuildDownloadRows() {
  auto* grid = static_cast<QGridLayout*>(downloadsBox_->layout());
  rows_.clear();  // its widgets are the grid's, deleted below
  while (auto* item = grid->takeAt(0)) {
    delete item->widget();
    delete item;
  }
  int r = 0;
  for (const auto& model : downloadable_) {
    const auto name = qs(model.name);
    DownloadRow row;
    row.model = model;
    auto* label = new QLabel(QStringLiteral("<b>%1</b> <small>(about %2)</small><br><small>%3</small>")
                                 .arg(name.toHtmlEscaped(), qs(format_bytes(model.download_bytes)), qs(model.description).toHtmlEscaped()),
                             downloadsBox_);
    label->setToolTip(qs(model.repo));
    row.download = new QPushButton(tr("Download"), downloadsBox_);
    row.download->setObjectName(QStringLiteral("download:") + name);
    row.cancel = new QPushButton(tr("Cancel"), downloadsBox_);
    row.cancel->setObjectName(QStringLiteral("cancel:") + name);
    row.cancel->setEnabled(false);
    row.bar = new QProgressBar(downloadsBox_);
    row.bar->setObjectName(QStringLiteral("progress:") + name);
    row.bar->setRange(0, 1);
    row.bar->setValue(0);
    row.bar->setTextVisible(true);
    row.status = new QLabel(downloadsBox_);
    row.status->setObjectName(QStringLiteral("status:") + name);
    row.status->setWordWrap(true);
    row.status->setTextInteractionFlags(Qt::TextSelectableByMouse);
    grid->addWidget(label, 2 * r, 0);
    grid->addWidget(row.bar, 2 * r, 1);
    grid->addWidget(row.download, 2 * r, 2);
    grid->addWidget(row.cancel, 2 * r, 3);
    grid->addWidget(row.status, 2 * r + 1, 0, 1, 4);
    grid->setColumnStretch(1, 1);
    connect(row.download, &QPushButton::clicked, this, [this, name] { startDownload(name); });
    connect(row.cancel, &QPushButton::clicked, this, &ModelManagerWidget::cancelDownload);
    rows_[name] = row;
    ++r;
  }
}

void ModelManagerWidget::updateDownloadButtons() {
  for (auto& [name, row] : rows_) {
    bool complete = false, partial = false;
    for (const auto& model : found_) {
      const bool same = model.repo == row.model.repo || (model.repo.empty() && model.name == row.model.name);
      if (!same) continue;
      complete = complete || model.complete;
      partial = partial || (!model.complete && model.source == FoundModel::Source::HubCache);
    }
    const bool running = downloading_ == name;
    row.download->setEnabled(!isDownloading());
    row.download->setText(running ? tr("Downloading…") : complete ? tr("Check again") : partial ? tr("Resume") : tr("Download"));
    row.download->setToolTip(complete ? tr("Already downloaded; checks every file and fetches what is missing")
                                      : tr("Download %1 into %2").arg(qs(row.model.repo), hubCacheDir_));
    row.cancel->setEnabled(running);
  }
}

void ModelManagerWidget::updateUseButton() {
  const auto* item = list_->currentItem();
  useButton_->setEnabled(item && item->data(1, Qt::UserRole).toBool());
}

void ModelManagerWidget::chooseCurrent() {
  const auto* item = list_->currentItem();
  if (!item || !item->data(1, Qt::UserRole).toBool()) return;
  Q_EMIT modelChosen(item->data(0, Qt::UserRole).toString());
}

bool ModelManagerWidget::startDownload(const QString& name) {
  const auto it = rows_.find(name);
  if (isDownloading() || it == rows_.end()) return false;
  downloading_ = name;
  auto& row = it->second;
  row.bar->setRange(0, 0);  // busy until the listing gives the total
  row.status->setText(tr("Listing the files…"));
  updateDownloadButtons();
  worker_->clearCancel();
  QMetaObject::invokeMethod(worker_, [worker = worker_, name, repo = qs(row.model.repo), cache = hubCacheDir_, endpoint = endpoint_] {
    worker->download(name, repo, cache, endpoint);
  }, Qt::QueuedConnection);
  return true;
}

void ModelManagerWidget::cancelDownload() {
  if (!isDownloading()) return;
  worker_->requestCancel();
  const auto it = rows_.find(downloading_);
  if (it != rows_.end()) {
    it->second.cancel->setEnabled(false);
    it->second.status->setText(tr("Cancelling…"));
  }
}

void ModelManagerWidget::onProgress(const QString& name, qint64 done, qint64 total, const QString& file, const QString& stage) {
  const auto it = rows_.find(name);
  if (it == rows_.end()) return;
  auto& row = it->second;
  if (total > 0) {
    row.bar->setRange(0, std::max(1, barUnits(total)));
    row.bar->setValue(barUnits(done));
    row.bar->setFormat(QStringLiteral("%p% (%1 of %2)").arg(qs(format_bytes(done)), qs(format_bytes(total))));
  }
  if (stage != QLatin1String("listing"))
    row.status->setText(stage == QLatin1String("done") ? tr("Finishing…") : QStringLiteral("%1 %2").arg(stage, file));
  Q_EMIT downloadProgress(name, done, total);
}

void ModelManagerWidget::onFinished(const QString& name, bool ok, bool cancelled, const QString& message, const QString& snapshot) {
  downloading_.clear();
  const auto it = rows_.find(name);
  if (it != rows_.end()) {
    auto& row = it->second;
    if (row.bar->maximum() == 0) row.bar->setRange(0, 1);
    if (ok) row.bar->setValue(row.bar->maximum());
    row.status->setText(ok ? message
                           : cancelled ? tr("Cancelled. The files downloaded so far are kept: Resume continues from there.")
                                       : tr("Failed: %1").arg(message));
  }
  refresh();
  if (ok)  // select the new snapshot, ready for "Use this model"
    for (int i = 0; i < list_->topLevelItemCount(); ++i)
      if (list_->topLevelItem(i)->data(0, Qt::UserRole).toString() == snapshot) list_->setCurrentItem(list_->topLevelItem(i));
  Q_EMIT downloadFinished(name, ok, message);
}

}  // namespace skyreels::ui
