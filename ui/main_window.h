#pragma once

#include <memory>

#include <QMainWindow>
#include <QSettings>

#include "generation_worker.h"
#include "studio_job.h"

class QButtonGroup;
class QDialog;
class QLabel;
class QPushButton;
class QTabWidget;

namespace skyreels::ui {

class ErrorBanner;
class GalleryWidget;
class GenerationThread;
class JobQueueWidget;
class ModelManagerWidget;
class PreviewPlayer;
class ProgressPanel;
class SettingsForm;
class StatsPanel;

// The studio, laid out for a laptop screen (its minimum fits 1024 × 700): on the left the settings
// form (simple or advanced view) scrolling in its own area over a Generate/Cancel bar that is always
// visible; in the centre the progress line, the preview player taking every spare pixel (its tab
// beside the job queue's and the gallery's), and the stats strip that opens into the charts.
// Generate (Ctrl+Enter) runs the form's job now; the queue runs its jobs in turn and records every
// run (saved beside the settings, so it survives a restart). Errors show in a banner of bounded height
// above the results, never in a modal dialog, and never discard frames already written. Quitting while
// a video renders asks first.
class MainWindow : public QMainWindow {
  Q_OBJECT
public:
  // `settings` is where the form persists; null: QSettings("SkyReels", "SkyReels Studio").
  explicit MainWindow(std::unique_ptr<QSettings> settings = nullptr, QWidget* parent = nullptr);
  ~MainWindow() override;

  SettingsForm* form() const { return form_; }
  PreviewPlayer* player() const { return player_; }
  StatsPanel* stats() const { return stats_; }
  ProgressPanel* progress() const { return progress_; }
  JobQueueWidget* queue() const { return queue_; }
  GalleryWidget* gallery() const { return gallery_; }
  // The model manager's window, once opened (File → Models…); kept, so a download goes on while closed.
  QDialog* modelManagerDialog() const { return modelDialog_; }
  ModelManagerWidget* modelManager() const { return modelManager_; }
  GenerationThread* generation() const { return generation_; }
  QPushButton* generateButton() const { return generate_; }
  QPushButton* cancelButton() const { return cancel_; }
  QPushButton* addToQueueButton() const { return addToQueue_; }
  QTabWidget* centreTabs() const { return tabs_; }
  QPushButton* advancedViewButton() const { return advancedView_; }

  QString errorText() const;          // the banner, empty when hidden
  const JobOutcome& lastOutcome() const { return lastOutcome_; }
  bool isBusy() const;
  // Whether closing the window now would stop a render, so the user is asked first.
  bool quitNeedsConfirmation() const { return isBusy(); }
  // Where the queue is saved between runs.
  QString queueFile() const { return queueFile_; }

  // Whether the form is saved on Generate and on close (off for the screenshot run).
  void setPersistSettings(bool persist) { persist_ = persist; }

public Q_SLOTS:
  void generate();    // the form's job, now
  void cancel();      // the running job; a running queue stops after it
  void addCurrentToQueue();
  void runQueue();
  // Fills the form with the settings stored in a produced video; false (banner says why) otherwise.
  bool restoreFromVideo(const QString& path);
  void saveSettings();
  // The form's simple (the few settings most videos need) or advanced (every setting) view.
  void setAdvancedView(bool advanced);
  // Plays a produced video in the player (the gallery's and the queue's Open); false (status bar says
  // why) while a render has the player, or when the file cannot be read.
  bool playVideo(const QString& path);
  void showModelManager();

Q_SIGNALS:
  // After the window has taken the outcome in (player, stats, queue).
  void jobCompleted(const skyreels::ui::JobOutcome& outcome);

protected:
  void closeEvent(QCloseEvent* event) override;

private:
  QWidget* buildSettingsColumn();
  QWidget* buildResultsColumn();
  void buildMenus();
  void buildShortcuts();
  void connectWorker();
  bool startJob(const StudioJob& job, int queueRow);
  void onJobStarted(const StudioJob& job);
  void onJobFinished(const JobOutcome& outcome);
  void showError(const QString& message);
  void updateButtons();
  void chooseVideoToRestore();
  bool confirmQuit();
  void refreshGallery();

  std::unique_ptr<QSettings> settings_;
  SettingsForm* form_;
  ProgressPanel* progress_;
  PreviewPlayer* player_;
  StatsPanel* stats_;
  JobQueueWidget* queue_;
  GalleryWidget* gallery_;
  QDialog* modelDialog_ = nullptr;
  ModelManagerWidget* modelManager_ = nullptr;
  QString queueFile_;
  QTabWidget* tabs_;
  ErrorBanner* error_;
  QPushButton* generate_;
  QPushButton* cancel_;
  QPushButton* addToQueue_;
  QPushButton* simpleView_;
  QPushButton* advancedView_;
  GenerationThread* generation_;
  JobOutcome lastOutcome_;
  int runningQueueRow_ = -1;  // the queue entry running now, or -1
  bool queueRunning_ = false; // start the next queued job when this one ends
  bool runningFromForm_ = false;
  bool cancelling_ = false;   // Cancel pressed; the worker stops after its current row
  bool persist_ = true;
};

}  // namespace skyreels::ui
