// Issue 25 point 4 and the model manager's place in the window, through the real widgets on the
// offscreen platform: the gallery of produced videos (read from the files' own metadata), file names
// from the prompt, the queue that records every run and survives a restart, quitting during a render,
// and File → Models….

#include <memory>

#include <QAction>
#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QDialog>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QLineEdit>
#include <QListWidget>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QUrl>
#include <QtTest>

#include "desktop_links.h"
#include "engine_queries.h"
#include "gallery_widget.h"
#include "generation_thread.h"
#include "generation_worker.h"
#include "job_queue_widget.h"
#include "main_window.h"
#include "model_manager.h"
#include "path_field.h"
#include "preview_player.h"
#include "queue_store.h"
#include "settings_form.h"
#include "ui_test_helpers.h"

using namespace skyreels;
using namespace skyreels::ui;
using skyreels::ui::test::BlockGate;
using skyreels::ui::test::child;
using skyreels::ui::test::MessageBoxAnswerer;
using skyreels::ui::test::typeInto;

namespace {

// A guard against a hang, not a speed requirement: the tiny jobs take seconds.
constexpr int kJobTimeoutMs = 10 * 60 * 1000;

}  // namespace

class GalleryTest : public QObject {
  Q_OBJECT

private:
  QTemporaryDir dir_;
  int windows_ = 0;

  QString iniPath() { return dir_.filePath(QStringLiteral("gallery-%1.ini").arg(windows_++)); }

  std::unique_ptr<MainWindow> newWindow(const QString& ini) {
    auto window = std::make_unique<MainWindow>(std::make_unique<QSettings>(ini, QSettings::IniFormat));
    window->show();
    return window;
  }

  // The demo model, a job into `folder`, through the widgets. Blocks::One: synchronous, the quickest
  // job (all frames decode at the end); Blocks::Demo: the demo's asynchronous blocks of 3 latents, so
  // a job held after its first block has work left.
  enum class Blocks { One, Demo };
  static void fillTinyJob(MainWindow& window, const QString& prompt, int frames, quint64 seed, const QString& folder,
                          Blocks blocks = Blocks::One) {
    auto* form = window.form();
    QTest::mouseClick(child<QPushButton>(form, "useDemoModel"), Qt::LeftButton);
    typeInto(form->promptEdit(), prompt);
    auto* device = child<QComboBox>(form, "device");
    device->setCurrentIndex(device->findData(QStringLiteral("cpu")));
    if (blocks == Blocks::One) {
      child<QComboBox>(form, "mode")->setCurrentIndex(0);
      child<QSpinBox>(form, "causalBlockSize")->setValue(1);
    }
    form->lengthUnitBox()->setCurrentIndex(0);  // frames
    form->lengthSpin()->setValue(frames);
    form->stepsSpin()->setValue(2);
    form->randomSeedBox()->setChecked(false);
    typeInto(form->seedEdit(), QString::number(seed));
    child<PathField>(form, "outputFolder")->setPath(folder);
  }

  static JobOutcome generateAndWait(MainWindow& window) {
    QSignalSpy done(&window, &MainWindow::jobCompleted);
    QTest::mouseClick(window.generateButton(), Qt::LeftButton);
    if (!QTest::qWaitFor([&] { return done.count() == 1; }, kJobTimeoutMs)) return {};
    return window.lastOutcome();
  }

  static bool haveDemoModel() {
#if !defined(SKYREELS_TEST_HAVE_TINY_MODEL)
    return false;
#endif
    return !demoModelFolder().isEmpty();
  }

private Q_SLOTS:
  void initTestCase() {
    QStandardPaths::setTestModeEnabled(true);
    QVERIFY(dir_.isValid());
  }

  void galleryListsPlaysAndUsesSettings() {
    if (!haveDemoModel()) QSKIP("this build has no demo model (target skyreels_tiny_model)");
    const QString folder = dir_.filePath(QStringLiteral("gallery-videos"));
    auto window = newWindow(iniPath());

    // A finished video, and one cancelled after its first block.
    fillTinyJob(*window, QStringLiteral("A red circle moves right, on black!"), 5, 42, folder);
    const auto finished = generateAndWait(*window);
    QVERIFY2(finished.status == JobOutcome::Status::Finished, qPrintable(finished.message));
    // The file is named after the prompt's first words (ASCII letters, digits, hyphens), then date, time, seed.
    const QString name = QFileInfo(finished.outputPath).fileName();
    QVERIFY2(QRegularExpression(QStringLiteral("^a-red-circle-moves-\\d{8}-\\d{6}-42\\.mp4$")).match(name).hasMatch(),
             qPrintable(name));

    fillTinyJob(*window, QStringLiteral("a blue square moves up"), 33, 7, folder, Blocks::Demo);
    {
      BlockGate gate(window->generation()->worker());
      QSignalSpy done(window.get(), &MainWindow::jobCompleted);
      QTest::mouseClick(window->generateButton(), Qt::LeftButton);
      QTRY_VERIFY_WITH_TIMEOUT(window->player()->frameCount() > 0, kJobTimeoutMs);
      QTest::mouseClick(window->cancelButton(), Qt::LeftButton);
      gate.release();
      QTRY_COMPARE_WITH_TIMEOUT(done.count(), 1, kJobTimeoutMs);
    }
    const auto cancelled = window->lastOutcome();
    QVERIFY2(cancelled.status == JobOutcome::Status::Cancelled, qPrintable(cancelled.message));
    QVERIFY(cancelled.framesWritten > 0 && cancelled.framesWritten < 33);

    // The gallery tab lists both, newest first, from the files' own metadata.
    auto* tabs = window->centreTabs();
    auto* gallery = window->gallery();
    tabs->setCurrentWidget(gallery);
    QCOMPARE(tabs->tabText(tabs->currentIndex()), QStringLiteral("Gallery"));
    QCOMPARE(QDir(gallery->folder()), QDir(folder));
    QCOMPARE(gallery->count(), 2);
    int finishedRow = -1, cancelledRow = -1;
    for (int row = 0; row < gallery->count(); ++row) {
      if (QFileInfo(gallery->item(row).path) == QFileInfo(finished.outputPath)) finishedRow = row;
      if (QFileInfo(gallery->item(row).path) == QFileInfo(cancelled.outputPath)) cancelledRow = row;
    }
    QVERIFY(finishedRow >= 0 && cancelledRow >= 0);
    const auto& item = gallery->item(finishedRow);
    QCOMPARE(item.prompt, QStringLiteral("A red circle moves right, on black!"));
    QCOMPARE(item.seed, quint64(42));
    QCOMPARE(item.frames, qint64(5));
    QCOMPARE(item.model, QStringLiteral("demo"));
    QVERIFY(!item.thumbnail.isNull());
    QVERIFY(item.thumbnail.width() <= 160 && item.thumbnail.height() <= 90);
    QVERIFY(qAbs(item.created.secsTo(QDateTime::currentDateTime())) < 24 * 3600);  // made today, not epoch 0
    const QString line = gallery->text(finishedRow);
    for (const QString& part : {QStringLiteral("A red circle moves right"), QStringLiteral("seed 42"),
                                QStringLiteral("5 frames"), QStringLiteral("demo")})
      QVERIFY2(line.contains(part), qPrintable(line));
    QVERIFY(!line.contains(QStringLiteral("cancelled")));
    QVERIFY(gallery->item(cancelledRow).partial());
    QVERIFY2(gallery->text(cancelledRow).contains(QStringLiteral("cancelled at %1 of 33 frames").arg(cancelled.framesWritten)),
             qPrintable(gallery->text(cancelledRow)));
    QCOMPARE(cancelledRow, 0);  // newest first

    // Double-click plays the video in the player.
    auto* list = child<QListWidget>(gallery, "galleryList");
    gallery->selectRow(finishedRow);
    QTRY_VERIFY(list->viewport()->rect().contains(list->visualItemRect(list->item(finishedRow)).center()));
    const QPoint centre = list->visualItemRect(list->item(finishedRow)).center();
    QTest::mouseClick(list->viewport(), Qt::LeftButton, {}, centre);
    QTest::mouseDClick(list->viewport(), Qt::LeftButton, {}, centre);
    QCOMPARE(tabs->currentWidget(), static_cast<QWidget*>(window->player()));
    QCOMPARE(window->player()->sourcePath(), finished.outputPath);
    QCOMPARE(window->player()->frameCount(), 5);

    // Use these settings: the form gets the video's prompt and seed back.
    typeInto(window->form()->promptEdit(), QStringLiteral("something else"));
    typeInto(window->form()->seedEdit(), QStringLiteral("1"));
    tabs->setCurrentWidget(gallery);
    gallery->selectRow(finishedRow);
    QTest::mouseClick(child<QPushButton>(gallery, "galleryUseSettings"), Qt::LeftButton);
    QCOMPARE(window->form()->promptEdit()->toPlainText(), QStringLiteral("A red circle moves right, on black!"));
    QCOMPARE(window->form()->seedEdit()->text(), QStringLiteral("42"));
    QCOMPARE(window->form()->job().settings.num_frames, 5);

    // Open folder and Reveal file go to the desktop, through the one opener a test can watch.
    QList<QUrl> opened;
    const auto previous = setUrlOpener([&](const QUrl& url) {
      opened << url;
      return true;
    });
    QTest::mouseClick(child<QPushButton>(gallery, "galleryOpenFolder"), Qt::LeftButton);
    QTest::mouseClick(child<QPushButton>(gallery, "galleryReveal"), Qt::LeftButton);
    setUrlOpener(previous);
    QCOMPARE(opened.size(), 2);
    QCOMPARE(QDir(opened[0].toLocalFile()), QDir(folder));
    QCOMPARE(QDir(opened[1].toLocalFile()), QDir(QFileInfo(finished.outputPath).absolutePath()));

    // Delete asks first: No keeps the file, Yes removes it from the folder and the list.
    gallery->selectRow(finishedRow);
    {
      MessageBoxAnswerer no("deleteConfirmation", QMessageBox::No);
      QTest::mouseClick(child<QPushButton>(gallery, "galleryDelete"), Qt::LeftButton);
      QCOMPARE(no.answered(), 1);
    }
    QVERIFY(QFileInfo::exists(finished.outputPath));
    QCOMPARE(gallery->count(), 2);
    gallery->selectRow(finishedRow);
    {
      MessageBoxAnswerer yes("deleteConfirmation", QMessageBox::Yes);
      QTest::mouseClick(child<QPushButton>(gallery, "galleryDelete"), Qt::LeftButton);
      QCOMPARE(yes.answered(), 1);
    }
    QVERIFY(!QFileInfo::exists(finished.outputPath));
    QCOMPARE(gallery->count(), 1);
    QCOMPARE(QFileInfo(gallery->item(0).path), QFileInfo(cancelled.outputPath));
  }

  void queueRecordsRunsAndSurvivesRestart() {
    if (!haveDemoModel()) QSKIP("this build has no demo model (target skyreels_tiny_model)");
    const QString folder = dir_.filePath(QStringLiteral("queue-videos"));
    const QString ini = iniPath();
    auto window = newWindow(ini);
    auto* queue = window->queue();
    QCOMPARE(queue->count(), 0);

    // A run started with Generate is recorded, with its progress and its file.
    fillTinyJob(*window, QStringLiteral("recorded run"), 5, 3, folder);
    const auto first = generateAndWait(*window);
    QVERIFY2(first.status == JobOutcome::Status::Finished, qPrintable(first.message));
    QCOMPARE(queue->count(), 1);
    QCOMPARE(queue->state(0), JobQueueWidget::State::Done);
    QCOMPARE(queue->percent(0), 100);
    QCOMPARE(queue->outputPath(0), first.outputPath);
    QVERIFY(queue->text(0).contains(QStringLiteral("recorded run")));

    // A finished run opens in the player (double-click, or Open).
    window->centreTabs()->setCurrentWidget(queue);
    queue->selectRow(0);
    QTest::mouseClick(child<QPushButton>(queue, "queueOpen"), Qt::LeftButton);
    QCOMPARE(window->centreTabs()->currentWidget(), static_cast<QWidget*>(window->player()));
    QCOMPARE(window->player()->sourcePath(), first.outputPath);
    QCOMPARE(window->player()->frameCount(), 5);

    // A second run, held after its first block: the queue shows it running, part done.
    fillTinyJob(*window, QStringLiteral("interrupted run"), 33, 4, folder, Blocks::Demo);
    BlockGate gate(window->generation()->worker());
    QSignalSpy done(window.get(), &MainWindow::jobCompleted);
    QTest::mouseClick(window->generateButton(), Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(window->player()->frameCount() > 0, kJobTimeoutMs);
    QCOMPARE(queue->count(), 2);
    QCOMPARE(queue->state(1), JobQueueWidget::State::Running);
    QTRY_VERIFY(queue->percent(1) > 0);
    QVERIFY(queue->percent(1) < 100);
    QVERIFY2(queue->text(1).contains(QStringLiteral("running %1 %").arg(queue->percent(1))), qPrintable(queue->text(1)));

    // The app stopping now (as a crash would): a window started on the same settings finds both runs,
    // the one that was running as interrupted.
    QVERIFY(QFileInfo::exists(window->queueFile()));
    {
      auto restarted = newWindow(ini);
      QCOMPARE(restarted->queueFile(), window->queueFile());
      auto* restored = restarted->queue();
      QCOMPARE(restored->count(), 2);
      QCOMPARE(restored->state(0), JobQueueWidget::State::Done);
      QCOMPARE(restored->outputPath(0), first.outputPath);
      QCOMPARE(QString::fromStdString(restored->job(0).settings.prompt), QStringLiteral("recorded run"));
      QCOMPARE(restored->state(1), JobQueueWidget::State::Interrupted);
      QVERIFY(restored->text(1).contains(QStringLiteral("interrupted")));
      QCOMPARE(restored->nextQueued(), -1);  // an interrupted run is not started again by itself
      restarted->setPersistSettings(false);
    }
    gate.release();
    QTRY_COMPARE_WITH_TIMEOUT(done.count(), 1, kJobTimeoutMs);
    QCOMPARE(queue->state(1), JobQueueWidget::State::Done);

    // Damaged or foreign content in the file loses nothing else: unreadable entries are left out.
    const QString damaged = dir_.filePath(QStringLiteral("damaged-queue.json"));
    QFile file(damaged);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write(R"({"queue_format": 1, "jobs": [{"job": {"settings": {"steps": "many"}}}, 17]})");
    file.close();
    QCOMPARE(loadQueue(damaged).size(), 0);
    QCOMPARE(loadQueue(dir_.filePath(QStringLiteral("no-such-queue.json"))).size(), 0);
  }

  void quitDuringRenderAsksFirst() {
    if (!haveDemoModel()) QSKIP("this build has no demo model (target skyreels_tiny_model)");
    auto window = newWindow(iniPath());
    window->setPersistSettings(false);
    QVERIFY(!window->quitNeedsConfirmation());
    fillTinyJob(*window, QStringLiteral("quit while rendering"), 33, 5, dir_.filePath(QStringLiteral("quit-videos")),
                Blocks::Demo);
    BlockGate gate(window->generation()->worker());
    QSignalSpy done(window.get(), &MainWindow::jobCompleted);
    QTest::mouseClick(window->generateButton(), Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(window->player()->frameCount() > 0, kJobTimeoutMs);
    QVERIFY(window->quitNeedsConfirmation());

    // Ctrl+Q (the Quit action) asks; "Keep rendering" keeps the window and the render.
    {
      MessageBoxAnswerer keep("quitConfirmation", QMessageBox::No);
      child<QAction>(window.get(), "quitAction")->trigger();
      QCOMPARE(keep.answered(), 1);
    }
    QVERIFY(window->isVisible());
    QVERIFY(window->isBusy());
    // Closing the window asks the same; "Stop and quit" closes it and cancels the render.
    {
      MessageBoxAnswerer quit("quitConfirmation", QMessageBox::Yes);
      QVERIFY(window->close());
      QCOMPARE(quit.answered(), 1);
    }
    QVERIFY(!window->isVisible());
    gate.release();
    QTRY_COMPARE_WITH_TIMEOUT(done.count(), 1, kJobTimeoutMs);
    QCOMPARE(window->lastOutcome().status, JobOutcome::Status::Cancelled);

    // Idle: no question.
    QVERIFY(!window->quitNeedsConfirmation());
    window->show();
    MessageBoxAnswerer none("quitConfirmation", QMessageBox::No);
    QVERIFY(window->close());
    QCOMPARE(none.answered(), 0);
  }

  void modelsActionOpensManagerAndChoosesModel() {
    if (!haveDemoModel()) QSKIP("this build has no demo model (target skyreels_tiny_model)");
    auto window = newWindow(iniPath());
    window->setPersistSettings(false);
    QVERIFY(window->modelManagerDialog() == nullptr);
    child<QAction>(window.get(), "modelManagerAction")->trigger();
    auto* dialog = window->modelManagerDialog();
    QVERIFY(dialog);
    QVERIFY(dialog->isVisible());
    QVERIFY(!dialog->isModal());  // the form stays usable beside it
    auto* manager = dialog->findChild<ModelManagerWidget*>();
    QVERIFY(manager);
    QCOMPARE(manager, window->modelManager());
    QVERIFY(manager->isVisible());

    // Choosing a model sets the form's model field as choosing the folder there does, and hides the dialog.
    const QString tiny = demoModelFolder();
    QVERIFY(window->form()->modelFolderField()->path() != tiny);
    window->form()->stepsSpin()->setValue(77);
    Q_EMIT manager->modelChosen(tiny);
    QCOMPARE(window->form()->modelFolderField()->path(), tiny);
    QVERIFY(window->form()->stepsSpin()->value() != 77);  // the model's recommended settings applied
    QVERIFY(!dialog->isVisible());

    // Closed, it is kept (a download goes on); the form's Models… button shows the same one again.
    QTest::mouseClick(child<QPushButton>(window->form(), "modelManagerButton"), Qt::LeftButton);
    QCOMPARE(window->modelManagerDialog(), dialog);
    QVERIFY(dialog->isVisible());
  }
};

QTEST_MAIN(GalleryTest)
#include "test_gallery.moc"
