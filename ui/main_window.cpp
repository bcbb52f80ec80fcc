#include "main_window.h"

#include <QAction>
#include <QApplication>
#include <QCheckBox>
#include <QCloseEvent>
#include <QDialog>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QButtonGroup>
#include <QPushButton>
#include <QScreen>
#include <QScrollArea>
#include <QScrollBar>
#include <QSettings>
#include <QShortcut>
#include <QSplitter>
#include <QStatusBar>
#include <QTabWidget>
#include <QVBoxLayout>

#include "error_banner.h"
#include "frame_images.h"
#include "gallery_widget.h"
#include "generation_thread.h"
#include "job_queue_widget.h"
#include "model_manager.h"
#include "queue_store.h"
#include "skyreels/settings.h"
#include "preview_player.h"
#include "progress_panel.h"
#include "settings_form.h"
#include "settings_store.h"
#include "skyreels/version.h"
#include "stats_panel.h"
#include "skyreels/media.h"

namespace skyreels::ui {
namespace {

JobQueueWidget::State queueState(JobOutcome::Status status) {
  switch (status) {
    case JobOutcome::Status::Finished: return JobQueueWidget::State::Done;
    case JobOutcome::Status::Cancelled: return JobQueueWidget::State::Cancelled;
    case JobOutcome::Status::Failed: return JobQueueWidget::State::Failed;
  }
  return JobQueueWidget::State::Failed;
}

// The size played videos are read at: the generation's preview size (GenerationWorker's limit).
constexpr QSize kPlaybackLimit(640, 360);

}  // namespace

MainWindow::MainWindow(std::unique_ptr<QSettings> settings, QWidget* parent)
    : QMainWindow(parent), settings_(settings ? std::move(settings)
                                              : std::make_unique<QSettings>(QStringLiteral("SkyReels"),
                                                                            QStringLiteral("SkyReels Studio"))),
      form_(new SettingsForm), progress_(new ProgressPanel), player_(new PreviewPlayer), stats_(new StatsPanel),
      queue_(new JobQueueWidget), gallery_(new GalleryWidget), tabs_(new QTabWidget), error_(new ErrorBanner),
      generate_(new QPushButton(tr("Generate"))), cancel_(new QPushButton(tr("Cancel"))),
      addToQueue_(new QPushButton(tr("Add to queue"))), simpleView_(new QPushButton(tr("Simple"))),
      advancedView_(new QPushButton(tr("Advanced"))), generation_(new GenerationThread(this)) {
  setWindowTitle(tr("SkyReels Studio"));
  auto* split = new QSplitter(Qt::Horizontal);
  split->setObjectName(QStringLiteral("mainSplitter"));
  split->addWidget(buildSettingsColumn());
  split->addWidget(buildResultsColumn());
  split->setChildrenCollapsible(false);  // neither the form nor the preview can vanish by a drag
  split->setStretchFactor(0, 0);
  split->setStretchFactor(1, 1);
  setCentralWidget(split);
  // As large as the screen allows, up to a comfortable size; the layout itself fits 1024 × 700.
  const QRect screenArea = screen() ? screen()->availableGeometry() : QRect(0, 0, 1280, 860);
  resize(std::min(1280, screenArea.width()), std::min(860, screenArea.height()));

  buildMenus();
  buildShortcuts();
  connectWorker();
  connect(generate_, &QPushButton::clicked, this, &MainWindow::generate);
  connect(cancel_, &QPushButton::clicked, this, &MainWindow::cancel);
  connect(addToQueue_, &QPushButton::clicked, this, &MainWindow::addCurrentToQueue);
  connect(queue_, &JobQueueWidget::addRequested, this, &MainWindow::addCurrentToQueue);
  connect(queue_, &JobQueueWidget::runRequested, this, &MainWindow::runQueue);
  connect(generation_, &GenerationThread::busyChanged, this, &MainWindow::updateButtons);
  connect(form_, &SettingsForm::problemChanged, this, &MainWindow::updateButtons);
  connect(form_, &SettingsForm::modelManagerRequested, this, &MainWindow::showModelManager);
  connect(queue_, &JobQueueWidget::openRequested, this, &MainWindow::playVideo);
  connect(gallery_, &GalleryWidget::playRequested, this, &MainWindow::playVideo);
  connect(gallery_, &GalleryWidget::useSettingsRequested, this, &MainWindow::restoreFromVideo);
  connect(tabs_, &QTabWidget::currentChanged, this, [this] {
    if (tabs_->currentWidget() == gallery_) refreshGallery();
  });

  // The runs of earlier sessions; one that was rendering when the app stopped says "interrupted".
  queueFile_ = queueFileFor(*settings_);
  queue_->setEntries(loadQueue(queueFile_));
  connect(queue_, &JobQueueWidget::changed, this, [this] { saveQueue(queueFile_, queue_->entries()); });

  // The last form, or the demo model's recommendations on a first start.
  if (const auto saved = loadJob(*settings_))
    form_->setJob(*saved);
  else
    form_->applyRecommendedSettings();
  setAdvancedView(settings_->value(QStringLiteral("ui/advancedView"), false).toBool());
  gallery_->setFolder(form_->job().effectiveOutputFolder());
  updateButtons();
  statusBar()->showMessage(tr("SkyReels Studio %1").arg(QString::fromLatin1(kVersion)));
}

QWidget* MainWindow::buildSettingsColumn() {
  // The view switch, the form (scrolls in its own area) and the action bar (never scrolls away).
  auto* views = new QButtonGroup(this);
  for (auto* button : {simpleView_, advancedView_}) {
    button->setCheckable(true);
    views->addButton(button);
  }
  simpleView_->setObjectName(QStringLiteral("simpleViewButton"));
  advancedView_->setObjectName(QStringLiteral("advancedViewButton"));
  simpleView_->setToolTip(tr("The settings most videos need: prompt, model, size, length, quality and seed"));
  advancedView_->setToolTip(tr("Every setting of the engine"));
  connect(advancedView_, &QPushButton::toggled, this, &MainWindow::setAdvancedView);
  auto* viewRow = new QHBoxLayout;
  viewRow->addWidget(new QLabel(tr("Settings:")));
  viewRow->addWidget(simpleView_);
  viewRow->addWidget(advancedView_);
  viewRow->addStretch(1);

  auto* scroll = new QScrollArea;
  scroll->setObjectName(QStringLiteral("settingsScroll"));
  scroll->setWidget(form_);
  scroll->setWidgetResizable(true);
  scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  // The form never scrolls sideways: the column is as wide as the form needs in its wider, advanced view.
  const bool advanced = form_->isAdvanced();
  form_->setAdvanced(true);
  const int formWidth = form_->minimumSizeHint().width();
  form_->setAdvanced(advanced);
  scroll->setMinimumWidth(formWidth + scroll->verticalScrollBar()->sizeHint().width() + 2 * scroll->frameWidth());

  generate_->setObjectName(QStringLiteral("generateButton"));
  cancel_->setObjectName(QStringLiteral("cancelButton"));
  addToQueue_->setObjectName(QStringLiteral("addToQueueButton"));
  generate_->setDefault(true);
  QFont bold = generate_->font();
  bold.setBold(true);
  generate_->setFont(bold);
  generate_->setMinimumHeight(generate_->sizeHint().height() * 5 / 4);
  cancel_->setToolTip(tr("Stop after the current row; the finished frames stay in the file"));
  addToQueue_->setToolTip(tr("Keep these settings as a job of the queue, to run later"));
  auto* actions = new QWidget;
  actions->setObjectName(QStringLiteral("actionBar"));
  auto* actionsLayout = new QHBoxLayout(actions);
  actionsLayout->setContentsMargins(0, 4, 0, 0);
  actionsLayout->addWidget(generate_, 1);
  actionsLayout->addWidget(cancel_);
  actionsLayout->addWidget(addToQueue_);

  auto* column = new QWidget;
  auto* layout = new QVBoxLayout(column);
  layout->setContentsMargins(4, 4, 0, 4);
  layout->addLayout(viewRow);
  layout->addWidget(scroll, 1);
  layout->addWidget(actions);
  return column;
}

QWidget* MainWindow::buildResultsColumn() {
  tabs_->setObjectName(QStringLiteral("centreTabs"));
  tabs_->addTab(player_, tr("Preview"));
  tabs_->addTab(queue_, tr("Queue"));
  tabs_->addTab(gallery_, tr("Gallery"));

  auto* column = new QWidget;
  auto* layout = new QVBoxLayout(column);
  layout->setContentsMargins(0, 4, 4, 4);
  // No spacing between the banner and the progress: a hidden or squeezed banner takes no height.
  auto* status = new QVBoxLayout;
  status->setSpacing(0);
  status->addWidget(error_);
  status->addWidget(progress_);
  layout->addLayout(status);
  layout->addWidget(tabs_, 3);
  layout->addWidget(stats_, 1);
  return column;
}

MainWindow::~MainWindow() {
  // Stops the worker (cancel, then wait) before the widgets it reports to are destroyed.
  delete generation_;
}

void MainWindow::buildMenus() {
  auto* file = menuBar()->addMenu(tr("&File"));
  auto* restore = file->addAction(tr("&Restore settings from video…"));
  restore->setObjectName(QStringLiteral("restoreFromVideoAction"));
  connect(restore, &QAction::triggered, this, &MainWindow::chooseVideoToRestore);
  auto* save = file->addAction(tr("&Save settings"));
  connect(save, &QAction::triggered, this, &MainWindow::saveSettings);
  auto* models = file->addAction(tr("&Models…"));
  models->setObjectName(QStringLiteral("modelManagerAction"));
  connect(models, &QAction::triggered, this, &MainWindow::showModelManager);
  file->addSeparator();
  auto* quit = file->addAction(tr("&Quit"));
  quit->setObjectName(QStringLiteral("quitAction"));
  quit->setShortcut(QKeySequence::Quit);  // Ctrl+Q; closing asks first while a video renders
  connect(quit, &QAction::triggered, this, &QWidget::close);

  auto* help = menuBar()->addMenu(tr("&Help"));
  connect(help->addAction(tr("&About")), &QAction::triggered, this, [this] {
    QMessageBox::about(this, tr("About SkyReels Studio"),
                       tr("SkyReels Studio %1\nSkyReels-V2 diffusion-forcing video generation.")
                           .arg(QString::fromLatin1(kVersion)));
  });
}

void MainWindow::buildShortcuts() {
  // Ctrl+Enter starts from anywhere in the window, the prompt included (Enter alone types a line there).
  for (const auto key : {Qt::Key_Return, Qt::Key_Enter}) {
    auto* shortcut = new QShortcut(QKeySequence(Qt::CTRL | key), this);
    connect(shortcut, &QShortcut::activated, this, [this] {
      if (generate_->isEnabled()) generate();
    });
  }
}

void MainWindow::setAdvancedView(bool advanced) {
  form_->setAdvanced(advanced);
  advancedView_->setChecked(advanced);
  simpleView_->setChecked(!advanced);
  settings_->setValue(QStringLiteral("ui/advancedView"), advanced);
}

void MainWindow::connectWorker() {
  auto* worker = generation_->worker();
  // Every connection is queued: the worker lives on the generation thread.
  connect(worker, &GenerationWorker::jobStarted, this, &MainWindow::onJobStarted);
  connect(worker, &GenerationWorker::phaseChanged, progress_, &ProgressPanel::setPhase);
  connect(worker, &GenerationWorker::generationStarted, this, [this](const PlanSummary& plan) {
    progress_->setPlan(plan);
    player_->setExpectedFrames(plan.frames);
  });
  connect(worker, &GenerationWorker::rowDone, this, [this](const RowProgress& row) {
    progress_->setRow(row);
    stats_->addRow(row);
    if (row.rowsTotal > 0) queue_->setProgress(runningQueueRow_, 100 * row.rowsDone / row.rowsTotal);
  });
  connect(worker, &GenerationWorker::memoryPlanned, stats_, &StatsPanel::setMemoryPlan);
  connect(worker, &GenerationWorker::latentPreview, player_, &PreviewPlayer::setLatentPreview);
  connect(worker, &GenerationWorker::framesDecoded, this,
          [this](int, qint64 first, const QVector<QImage>& frames) { player_->appendFrames(first, frames); });
  connect(worker, &GenerationWorker::windowDone, this,
          [this](int window, double seconds, qint64) { stats_->addWindow(window, seconds); });
  connect(worker, &GenerationWorker::encodedVideoReady, player_, &PreviewPlayer::showEncodedVideo);
  connect(worker, &GenerationWorker::jobFinished, this, &MainWindow::onJobFinished);
}

QString MainWindow::errorText() const { return error_->message(); }

bool MainWindow::isBusy() const { return generation_->isBusy(); }

void MainWindow::generate() {
  if (isBusy()) return;
  queueRunning_ = false;
  if (persist_) saveSettings();
  runningFromForm_ = true;
  // Every run is recorded in the queue, Generate's too: its progress, its file, and after a restart.
  const auto job = form_->job();
  const int row = queue_->addJob(job, JobQueueWidget::State::Running);
  if (!startJob(job, row)) queue_->setState(row, JobQueueWidget::State::Failed, tr("could not start"));
}

void MainWindow::cancel() {
  queueRunning_ = false;  // a cancel stops the queue too; the remaining jobs stay queued
  if (!isBusy()) return;
  generation_->cancel();
  cancelling_ = true;
  updateButtons();
  progress_->setPhase(tr("Cancelling"), tr("after the current row; finished frames are kept"));
}

void MainWindow::addCurrentToQueue() {
  queue_->addJob(form_->job());
  tabs_->setCurrentWidget(queue_);
}

void MainWindow::runQueue() {
  if (isBusy()) return;
  const int next = queue_->nextQueued();
  if (next < 0) {
    queueRunning_ = false;
    return;
  }
  queueRunning_ = true;
  runningFromForm_ = false;
  if (!startJob(queue_->job(next), next)) queueRunning_ = false;
}

bool MainWindow::startJob(const StudioJob& job, int queueRow) {
  error_->clearMessage();
  cancelling_ = false;
  runningQueueRow_ = queueRow;
  if (queueRow >= 0) queue_->setState(queueRow, JobQueueWidget::State::Running);
  progress_->begin(job.summary());
  player_->reset(job.settings.num_frames, job.settings.fps,
                 QSize(static_cast<int>(job.settings.width), static_cast<int>(job.settings.height)));
  tabs_->setCurrentWidget(player_);  // what renders is what the user wants to see
  stats_->begin(job.device, job.settings.vram_budget_gib);
  return generation_->start(job);
}

void MainWindow::onJobStarted(const StudioJob& job) {
  // The seed actually used (a fresh one for a random-seed job) goes back to the form.
  if (runningFromForm_) form_->showSeedUsed(job.settings.seed);
  queue_->setJob(runningQueueRow_, job);
  statusBar()->showMessage(tr("Seed %1").arg(job.settings.seed));
}

void MainWindow::onJobFinished(const JobOutcome& outcome) {
  lastOutcome_ = outcome;
  progress_->end(outcome);
  stats_->end(outcome);
  player_->markComplete();
  if (outcome.status == JobOutcome::Status::Failed) {
    QString message = outcome.message;
    if (outcome.framesWritten > 0)
      message += tr("\nThe %1 finished so far were kept in %2.")
                     .arg(countOf(outcome.framesWritten, "frame", "frames"), outcome.outputPath);
    showError(message);
  }
  QString note = tr("seed %1").arg(outcome.seed);
  if (!outcome.outputPath.isEmpty()) note += QStringLiteral(", ") + QFileInfo(outcome.outputPath).fileName();
  if (outcome.status == JobOutcome::Status::Failed) note = outcome.message;
  if (runningQueueRow_ >= 0) {
    queue_->setOutputPath(runningQueueRow_, outcome.outputPath);
    queue_->setState(runningQueueRow_, queueState(outcome.status), note);
  }
  QString message = outcome.outputPath.isEmpty() ? note : tr("Wrote %1").arg(outcome.outputPath);
  // A killed earlier run's file stays (playable up to where it stopped); say so rather than hide it.
  for (const auto& path : outcome.unfinishedEarlier)
    message += tr(" · an earlier run did not finish: %1").arg(QFileInfo(path).fileName());
  statusBar()->showMessage(message);
  runningQueueRow_ = -1;
  runningFromForm_ = false;
  cancelling_ = false;
  updateButtons();
  refreshGallery();
  Q_EMIT jobCompleted(outcome);
  // A failed job does not stop the queue (its entry says why); a cancel does.
  if (queueRunning_ && outcome.status != JobOutcome::Status::Cancelled) runQueue();
}

bool MainWindow::restoreFromVideo(const QString& path) {
  try {
    const auto settings = read_settings_from_video(path.toStdString());
    form_->setSettings(settings);
    form_->randomSeedBox()->setChecked(false);  // restoring means this exact video's seed
    QString note = tr("Restored the settings of %1").arg(QFileInfo(path).fileName());
    if (settings.has_start_image || settings.has_end_image || settings.extends_video)
      note += tr(" (it was made from input images or a video: choose them again)");
    statusBar()->showMessage(note);
    error_->clearMessage();
    return true;
  } catch (const std::exception& e) {
    showError(tr("Cannot restore settings from %1: %2").arg(path, QString::fromUtf8(e.what())));
    return false;
  }
}

void MainWindow::chooseVideoToRestore() {
  const QString path = QFileDialog::getOpenFileName(this, tr("Restore settings from a produced video"), QString(),
                                                    tr("Videos (*.mp4 *.mkv)"));
  if (!path.isEmpty()) restoreFromVideo(path);
}

void MainWindow::saveSettings() { saveJob(*settings_, form_->job()); }

bool MainWindow::confirmQuit() {
  QMessageBox ask(QMessageBox::Question, tr("Quit while rendering?"),
                  tr("A video is rendering. Quit now and stop it?\nThe frames finished so far are kept in the file."),
                  QMessageBox::Yes | QMessageBox::No, this);
  ask.setObjectName(QStringLiteral("quitConfirmation"));
  ask.button(QMessageBox::Yes)->setText(tr("Stop and quit"));
  ask.button(QMessageBox::No)->setText(tr("Keep rendering"));
  ask.setDefaultButton(QMessageBox::No);
  return ask.exec() == QMessageBox::Yes;
}

void MainWindow::closeEvent(QCloseEvent* event) {
  if (quitNeedsConfirmation() && !confirmQuit()) {
    event->ignore();
    return;
  }
  if (persist_) saveSettings();
  queueRunning_ = false;
  generation_->cancel();  // the thread's owner waits for the worker to stop
  event->accept();
}

void MainWindow::refreshGallery() {
  gallery_->setFolder(form_->job().effectiveOutputFolder());
  gallery_->refresh();
}

bool MainWindow::playVideo(const QString& path) {
  if (isBusy()) {
    statusBar()->showMessage(tr("The player shows the video rendering now; play %1 when it is done").arg(QFileInfo(path).fileName()));
    return false;
  }
  try {
    const auto frames = read_video_frames(path.toStdString(), kPlaybackLimit.width(), kPlaybackLimit.height());
    int fps = 24;
    try {
      fps = static_cast<int>(read_settings_from_video(path.toStdString()).fps);
    } catch (const std::exception&) {  // a video without our metadata still plays, at 24 fps
    }
    const auto images = framesToImages(frames, kPlaybackLimit);
    player_->reset(images.size(), fps, images.isEmpty() ? QSize() : images.front().size());
    player_->showEncodedVideo(path, images);
    player_->markComplete();
    player_->play();
    tabs_->setCurrentWidget(player_);
    statusBar()->showMessage(tr("Playing %1").arg(QFileInfo(path).fileName()));
    return true;
  } catch (const std::exception& e) {
    statusBar()->showMessage(tr("Cannot play %1: %2").arg(path, QString::fromUtf8(e.what())));
    return false;
  }
}

void MainWindow::showModelManager() {
  if (!modelDialog_) {
    // Non-modal and kept: closing it only hides it, so a download goes on meanwhile.
    modelDialog_ = new QDialog(this);
    modelDialog_->setObjectName(QStringLiteral("modelManagerDialog"));
    modelDialog_->setWindowTitle(tr("Models"));
    modelManager_ = new ModelManagerWidget(modelDialog_);
    auto* layout = new QVBoxLayout(modelDialog_);
    layout->addWidget(modelManager_);
    modelDialog_->resize(720, 520);
    connect(modelManager_, &ModelManagerWidget::modelChosen, this, [this](const QString& folder) {
      form_->chooseModelFolder(folder);
      modelDialog_->hide();
    });
  }
  modelDialog_->show();
  modelDialog_->raise();
  modelDialog_->activateWindow();
}

void MainWindow::showError(const QString& message) {
  error_->showMessage(message);
}

void MainWindow::updateButtons() {
  const bool busy = isBusy();
  // Settings the engine would reject cannot be started; the form says why next to the field.
  const QString problem = form_->problem();
  generate_->setEnabled(!busy && problem.isEmpty());
  generate_->setToolTip(problem.isEmpty() ? tr("Start rendering these settings (Ctrl+Enter)") : problem);
  cancel_->setEnabled(busy && !cancelling_);  // a second press would do nothing
  queue_->setRunning(busy);
}

}  // namespace skyreels::ui
