#pragma once

#include <atomic>
#include <map>
#include <vector>

#include <QObject>
#include <QString>
#include <QStringList>
#include <QThread>
#include <QWidget>

#include "skyreels/models.h"

class QLabel;
class QProgressBar;
class QPushButton;
class QTreeWidget;

namespace skyreels::ui {

// Runs one download at a time on the model manager's thread (skyreels::download_model) and reports
// it through queued signals. progress is throttled to about ten a second (and always sent when a
// stage changes).
class ModelDownloadWorker : public QObject {
  Q_OBJECT
public:
  void requestCancel() { cancel_ = true; }
  void clearCancel() { cancel_ = false; }

public Q_SLOTS:
  void download(const QString& name, const QString& repo, const QString& cacheDir, const QString& endpoint);

Q_SIGNALS:
  // done and total in bytes of the whole download; file: the file being fetched, stage as text.
  void progress(const QString& name, qint64 done, qint64 total, const QString& file, const QString& stage);
  // ok: every file there and verified (snapshot: the folder to load); else cancelled or failed with message.
  void finished(const QString& name, bool ok, bool cancelled, const QString& message, const QString& snapshot);

private:
  std::atomic<bool> cancel_{false};
};

// The model manager (issue 25, point 5): every model found in the models folders and the Hugging Face
// cache with its name, status (complete, or what is missing) and folder; "Use this model" emits
// modelChosen with the folder. Below, each official SkyReels-V2 DF checkpoint with a Download button,
// a progress bar and Cancel; a download runs on a worker thread (the widget never blocks), resumes what
// an earlier one left, and checks every file's sha256. Not tied to the main window: connect
// modelChosen to the model field.
class ModelManagerWidget : public QWidget {
  Q_OBJECT
public:
  explicit ModelManagerWidget(QWidget* parent = nullptr);
  ~ModelManagerWidget() override;  // cancels a running download, then waits for its thread

  // Where to look: models folders (default: skyreels::default_models_dir() and the demo model's), the
  // Hub cache that downloads go to (default: skyreels::hub_cache_dir()), and the Hub's address (empty:
  // $HF_ENDPOINT, else https://huggingface.co). Each refreshes the list.
  void setModelsDirs(const QStringList& dirs);
  void setHubCacheDir(const QString& dir);
  void setEndpoint(const QString& endpoint);
  // The downloadable models (default: skyreels::official_models()).
  void setDownloadableModels(const std::vector<OfficialModel>& models);

  QStringList modelsDirs() const { return modelsDirs_; }
  QString hubCacheDir() const { return hubCacheDir_; }
  bool isDownloading() const { return !downloading_.isEmpty(); }
  // The models the last refresh found.
  const std::vector<FoundModel>& foundModels() const { return found_; }

public Q_SLOTS:
  void refresh();
  // Starts downloading a downloadable model by name; false while another download runs.
  bool startDownload(const QString& name);
  void cancelDownload();

Q_SIGNALS:
  void modelChosen(const QString& folder);
  void downloadProgress(const QString& name, qint64 done, qint64 total);
  void downloadFinished(const QString& name, bool ok, const QString& message);

private:
  struct DownloadRow {
    OfficialModel model;
    QPushButton* download = nullptr;
    QPushButton* cancel = nullptr;
    QProgressBar* bar = nullptr;
    QLabel* status = nullptr;
  };

  void rebuildDownloadRows();
  void updateDownloadButtons();
  void updateUseButton();
  void chooseCurrent();
  void onProgress(const QString& name, qint64 done, qint64 total, const QString& file, const QString& stage);
  void onFinished(const QString& name, bool ok, bool cancelled, const QString& message, const QString& snapshot);

  QStringList modelsDirs_;
  QString hubCacheDir_, endpoint_, downloading_;
  std::vector<OfficialModel> downloadable_;
  std::vector<FoundModel> found_;
  std::map<QString, DownloadRow> rows_;

  QTreeWidget* list_ = nullptr;
  QPushButton* useButton_ = nullptr;
  QPushButton* refreshButton_ = nullptr;
  QWidget* downloadsBox_ = nullptr;

  QThread thread_;
  ModelDownloadWorker* worker_ = nullptr;
};

}  // namespace skyreels::ui
