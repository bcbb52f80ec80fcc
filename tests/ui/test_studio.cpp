// The desktop app through its real widgets on the offscreen platform: the form, a generation on the
// demo model (tiny settings, CPU) with block and latent previews, cancel, the queue, and settings
// round trips through QSettings and through a produced video's metadata.

#include <atomic>
#include <cmath>
#include <memory>

#include <QCheckBox>
#include <QApplication>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QGroupBox>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSemaphore>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QWheelEvent>
#include <QtTest>

#include <nlohmann/json.hpp>

#include "engine_queries.h"
#include "generation_thread.h"
#include "generation_worker.h"
#include "job_queue_widget.h"
#include "lora_list.h"
#include "main_window.h"
#include "path_field.h"
#include "preview_player.h"
#include "progress_panel.h"
#include "settings_form.h"
#include "stats_panel.h"
#include "skyreels/media.h"
#include "skyreels/settings.h"

using namespace skyreels;
using namespace skyreels::ui;

namespace {

// A guard against a hang, not a speed requirement: the tiny jobs take seconds.
constexpr int kJobTimeoutMs = 10 * 60 * 1000;

template <typename T>
T* child(QWidget* parent, const char* name) {
  auto* widget = parent->findChild<T*>(QString::fromLatin1(name));
  if (!widget) qFatal("no widget named %s", name);
  return widget;
}

// Replaces a text field's contents the way a user does: select all, type.
void typeInto(QWidget* field, const QString& text) {
  QTest::keyClick(field, Qt::Key_A, Qt::ControlModifier);
  QTest::keyClick(field, Qt::Key_Delete);
  QTest::keyClicks(field, text);
}

}  // namespace

class StudioTest : public QObject {
  Q_OBJECT

private:
  QTemporaryDir dir_;
  int windows_ = 0;

  // A window persisting to its own INI file (never the user's settings).
  std::unique_ptr<MainWindow> newWindow(const QString& ini = {}) {
    const QString path = ini.isEmpty() ? dir_.filePath(QStringLiteral("studio-%1.ini").arg(windows_++)) : ini;
    auto window = std::make_unique<MainWindow>(std::make_unique<QSettings>(path, QSettings::IniFormat));
    window->show();
    return window;
  }

  // The demo model's recommended settings, then the small things a test changes, through the widgets.
  // causalBlockSize 0 keeps the demo's (3, asynchronous); 1 makes a synchronous job of single-frame blocks.
  void fillTinyJob(MainWindow& window, const QString& prompt, int frames, int steps, int causalBlockSize = 0) {
    auto* form = window.form();
    QTest::mouseClick(child<QPushButton>(form, "useDemoModel"), Qt::LeftButton);
    typeInto(form->promptEdit(), prompt);
    auto* device = child<QComboBox>(form, "device");
    device->setCurrentIndex(device->findData(QStringLiteral("cpu")));
    if (causalBlockSize > 0) {
      child<QComboBox>(form, "mode")->setCurrentIndex(0);
      child<QSpinBox>(form, "causalBlockSize")->setValue(causalBlockSize);
    }
    form->lengthUnitBox()->setCurrentIndex(0);  // frames
    form->lengthSpin()->setValue(frames);
    form->stepsSpin()->setValue(steps);
    form->randomSeedBox()->setChecked(false);
    typeInto(form->seedEdit(), QStringLiteral("7"));
    child<PathField>(form, "outputFolder")->setPath(dir_.path());
    auto* codec = child<QComboBox>(form, "codec");
    codec->setCurrentIndex(codec->findData(static_cast<int>(OutputCodec::H264Mp4)));
  }

  static void requireDemoModel() {
#if !defined(SKYREELS_TEST_HAVE_TINY_MODEL)
    QSKIP("this build has no demo model (the SentencePiece trainer was not found)");
#endif
    if (demoModelFolder().isEmpty()) QSKIP("the demo model is not built (target skyreels_demo_model)");
  }

private Q_SLOTS:
  void initTestCase() {
    QStandardPaths::setTestModeEnabled(true);
    QVERIFY(dir_.isValid());
  }

  void formBuildsTheJob() {
    auto window = newWindow();
    auto* form = window->form();
    typeInto(form->promptEdit(), QStringLiteral("a lighthouse in a storm"));
    auto* resolution = child<QComboBox>(form, "resolution");
    resolution->setCurrentIndex(resolution->count() - 1);  // Custom
    typeInto(child<QSpinBox>(form, "width"), QStringLiteral("256"));
    typeInto(child<QSpinBox>(form, "height"), QStringLiteral("128"));
    form->stepsSpin()->setValue(12);
    child<QDoubleSpinBox>(form, "guidance")->setValue(4.5);
    child<QDoubleSpinBox>(form, "shift")->setValue(3.0);
    typeInto(form->seedEdit(), QStringLiteral("424242"));
    child<QComboBox>(form, "mode")->setCurrentIndex(1);  // async
    child<QSpinBox>(form, "arStep")->setValue(4);
    child<QSpinBox>(form, "causalBlockSize")->setValue(1);
    child<QGroupBox>(form, "longVideo")->setChecked(true);
    child<QSpinBox>(form, "baseFrames")->setValue(17);
    child<QSpinBox>(form, "overlapFrames")->setValue(5);
    child<QSpinBox>(form, "addNoise")->setValue(20);
    child<QSpinBox>(form, "cfgSkipLastSteps")->setValue(3);
    child<QDoubleSpinBox>(form, "stepCache")->setValue(0.15);
    child<PathField>(form, "endImage")->setPath(QStringLiteral("/tmp/end.png"));
    auto* codec = child<QComboBox>(form, "codec");
    codec->setCurrentIndex(codec->findData(static_cast<int>(OutputCodec::Ffv1Mkv)));
    form->lengthSpin()->setValue(41);

    const auto job = form->job();
    const auto& s = job.settings;
    QCOMPARE(QString::fromStdString(s.prompt), QStringLiteral("a lighthouse in a storm"));
    QCOMPARE(s.width, 256);
    QCOMPARE(s.height, 128);
    QCOMPARE(s.steps, 12);
    QCOMPARE(s.guidance_scale, 4.5);
    QCOMPARE(s.shift, 3.0);
    QCOMPARE(s.seed, 424242u);
    QCOMPARE(s.ar_step, 4);
    QCOMPARE(s.causal_block_size, 1);
    QCOMPARE(s.num_frames, 41);
    QCOMPARE(s.base_num_frames, 17);
    QVERIFY(s.overlap_history.has_value());
    QCOMPARE(*s.overlap_history, 5);
    QCOMPARE(s.addnoise_condition, 20);
    QCOMPARE(s.cfg_skip_last_steps, 3);
    QCOMPARE(s.step_cache_threshold, 0.15);
    QVERIFY(!s.fp8);
    QVERIFY(s.has_end_image);
    QVERIFY(!s.has_start_image);
    QCOMPARE(job.codec, OutputCodec::Ffv1Mkv);
    QVERIFY(!child<QSpinBox>(form, "crf")->isEnabled());  // FFV1 is lossless
    // Valid settings: the problem line is hidden.
    QCOMPARE(form->problem(), QString());

    // Synchronous mode sends ar_step 0 whatever the (disabled) field says.
    child<QComboBox>(form, "mode")->setCurrentIndex(0);
    QCOMPARE(form->job().settings.ar_step, 0);
    QVERIFY(!child<QSpinBox>(form, "arStep")->isEnabled());

    // The random toggle travels with the job; the seed used is written back by the window.
    form->randomSeedBox()->setChecked(true);
    QVERIFY(form->job().randomSeed);
  }

  void fewStepPresetSamplerAndCausalAttention() {
    auto window = newWindow();
    auto* form = window->form();
    QTest::mouseClick(form->fewStepButton(), Qt::LeftButton);
    auto s = form->job().settings;
    QCOMPARE(s.sampler, Sampler::Euler);
    QCOMPARE(s.timestep_list, (std::vector<int>{1000, 750, 500, 250}));
    QCOMPARE(s.steps, 4);
    QCOMPARE(s.guidance_scale, 1.0);
    QCOMPARE(s.shift, 5.0);
    QCOMPARE(form->timestepsEdit()->text(), QStringLiteral("1000, 750, 500, 250"));
    QVERIFY(!form->stepsSpin()->isEnabled());  // the list sets the steps
    QCOMPARE(form->stepsSpin()->value(), 4);
    QCOMPARE(form->problem(), QString());

    // A list of the user's own; UniPC takes none, and the form says so.
    typeInto(form->timestepsEdit(), QStringLiteral("1000 500,250"));
    QCOMPARE(form->job().settings.timestep_list, (std::vector<int>{1000, 500, 250}));
    QCOMPARE(form->job().settings.steps, 3);
    form->samplerBox()->setCurrentIndex(form->samplerBox()->findData(static_cast<int>(Sampler::UniPC)));
    QVERIFY(form->problem().contains(QStringLiteral("euler")));
    QVERIFY(child<QLabel>(form, "formProblem")->isVisibleTo(form));
    // No list: steps from the formula, with either sampler.
    typeInto(form->timestepsEdit(), QString());
    QVERIFY(form->stepsSpin()->isEnabled());
    form->stepsSpin()->setValue(8);
    QCOMPARE(form->job().settings.steps, 8);
    QVERIFY(form->job().settings.timestep_list.empty());
    QCOMPARE(form->problem(), QString());

    // Causal attention, in the diffusion-forcing group.
    QVERIFY(!form->job().settings.causal_attention);
    QTest::mouseClick(form->causalAttentionBox(), Qt::LeftButton);
    QVERIFY(form->job().settings.causal_attention);
  }

  void loraListAddRemoveStrengthOnOff() {
    const QString ini = dir_.filePath(QStringLiteral("loras.ini"));
    const QString style = dir_.filePath(QStringLiteral("style.safetensors"));
    const QString distill = dir_.filePath(QStringLiteral("lightx2v_4step.safetensors"));
    const QString motion = dir_.filePath(QStringLiteral("motion.safetensors"));
    for (const auto& path : {style, distill, motion}) {
      QFile f(path);
      QVERIFY(f.open(QIODevice::WriteOnly));  // the form does not read them; the engine does, at the job's start
    }
    {
      auto window = newWindow(ini);
      auto* loras = window->form()->loraList();
      // Add… through its file dialog (Qt's own on the offscreen platform).
      QTimer::singleShot(0, [&] {
        auto* dialog = qobject_cast<QFileDialog*>(QApplication::activeModalWidget());
        QVERIFY(dialog);
        dialog->selectFile(style);
        static_cast<QDialog*>(dialog)->accept();  // public on QDialog
      });
      QTest::mouseClick(loras->addButton(), Qt::LeftButton);
      QCOMPARE(loras->table()->rowCount(), 1);
      loras->addFiles({distill, motion});
      QCOMPARE(loras->table()->rowCount(), 3);
      QCOMPARE(loras->table()->item(1, 1)->text(), QStringLiteral("lightx2v_4step.safetensors"));

      // Strength, on/off, remove.
      loras->strengthSpin(0)->setValue(0.75);
      QTest::mouseClick(loras->enabledBox(1), Qt::LeftButton);
      QVERIFY(!loras->enabledBox(1)->isChecked());
      loras->table()->selectRow(2);
      QTest::mouseClick(loras->removeButton(), Qt::LeftButton);
      QCOMPARE(loras->table()->rowCount(), 2);

      // The engine gets the enabled LoRA only; the job keeps both.
      const auto job = window->form()->job();
      QCOMPARE(job.settings.loras.size(), std::size_t{1});
      QCOMPARE(QString::fromStdString(job.settings.loras[0].path), style);
      QCOMPARE(job.settings.loras[0].strength, 0.75);
      QCOMPARE(job.loraList.size(), std::size_t{2});
      QVERIFY(!job.loraList[1].enabled);
      window->close();  // saves
    }
    // The disabled LoRA comes back with the form.
    auto window = newWindow(ini);
    auto* loras = window->form()->loraList();
    QCOMPARE(loras->table()->rowCount(), 2);
    QVERIFY(loras->enabledBox(0)->isChecked());
    QCOMPARE(loras->strengthSpin(0)->value(), 0.75);
    QVERIFY(!loras->enabledBox(1)->isChecked());
    QCOMPARE(window->form()->job().settings.loras.size(), std::size_t{1});
    // Turned on again, it reaches the engine's settings.
    QTest::mouseClick(loras->enabledBox(1), Qt::LeftButton);
    QCOMPARE(window->form()->job().settings.loras.size(), std::size_t{2});
    QCOMPARE(QString::fromStdString(window->form()->job().settings.loras[1].path), distill);
    // The few-step preset keeps the list as it is.
    QTest::mouseClick(window->form()->fewStepButton(), Qt::LeftButton);
    QCOMPARE(loras->table()->rowCount(), 2);
  }

  void lengthSnapsToValidCounts() {
    auto window = newWindow();
    auto* form = window->form();
    child<QSpinBox>(form, "causalBlockSize")->setValue(1);
    child<QSpinBox>(form, "fps")->setValue(24);
    form->lengthUnitBox()->setCurrentIndex(0);
    // Typed 10 frames: not 1 + 4k; the field snaps when editing ends.
    typeInto(form->lengthSpin(), QStringLiteral("10"));
    QTest::keyClick(form->lengthSpin(), Qt::Key_Return);
    QCOMPARE(form->frameCount(), snap_frames(10, 1));
    QCOMPARE(form->lengthSpin()->value(), static_cast<double>(snap_frames(10, 1)));
    // With blocks of 3 latent frames the count moves to a whole block.
    child<QSpinBox>(form, "causalBlockSize")->setValue(3);
    QCOMPARE(form->frameCount(), snap_frames(std::llround(form->lengthSpin()->value()), 3));
    QCOMPARE((form->frameCount() - 1) % 4, 0);
    QCOMPARE(((form->frameCount() - 1) / 4 + 1) % 3, 0);
    // Seconds: the nearest valid count at the frame rate.
    form->lengthUnitBox()->setCurrentIndex(1);
    form->lengthSpin()->setValue(2.0);
    QCOMPARE(form->frameCount(), frames_for_seconds(2.0, 24, 3));
    QCOMPARE(form->job().settings.num_frames, frames_for_seconds(2.0, 24, 3));
    QVERIFY(child<QLabel>(form, "lengthNote")->text().contains(QString::number(form->frameCount())));
  }

  void generateShowsPreviewsAndRestoresFromVideo() {
    requireDemoModel();
    auto window = newWindow();
    fillTinyJob(*window, QStringLiteral("a tiny test video"), 9, 2);
    window->form()->randomSeedBox()->setChecked(true);
    // A GPU-memory budget (issue 24): the engine's plan reaches the stats panel, shown, not enforced, on the CPU.
    child<QDoubleSpinBox>(window->form(), "vramBudget")->setValue(4.0);
    auto* worker = window->generation()->worker();
    QSignalSpy planned(worker, &GenerationWorker::memoryPlanned);
    QSignalSpy frames(worker, &GenerationWorker::framesDecoded);
    QSignalSpy latents(worker, &GenerationWorker::latentPreview);
    QSignalSpy rows(worker, &GenerationWorker::rowDone);
    QSignalSpy done(window.get(), &MainWindow::jobCompleted);

    QTest::mouseClick(window->generateButton(), Qt::LeftButton);
    QVERIFY(window->isBusy());
    QVERIFY(!window->generateButton()->isEnabled());
    QVERIFY(window->cancelButton()->isEnabled());
    QTRY_COMPARE_WITH_TIMEOUT(done.count(), 1, kJobTimeoutMs);

    const auto outcome = window->lastOutcome();
    QVERIFY2(outcome.status == JobOutcome::Status::Finished, qPrintable(outcome.message));
    QCOMPARE(outcome.framesWritten, 9);
    QVERIFY(frames.count() >= 1);
    QVERIFY(latents.count() >= 1);
    QVERIFY(rows.count() >= 1);
    QVERIFY(!window->player()->latentPreview().isNull());
    QCOMPARE(window->player()->frameCount(), 9);
    QCOMPARE(window->player()->frame(0).size(), QSize(320, 192));
    QCOMPARE(window->player()->sourcePath(), outcome.outputPath);  // the encoded file plays at the end
    QVERIFY(window->player()->isPlaying());
    QVERIFY(window->generateButton()->isEnabled());
    QVERIFY(!window->cancelButton()->isEnabled());
    QCOMPARE(window->progress()->phaseText(), QStringLiteral("Finished"));
    QCOMPARE(window->stats()->rowPoints(), rows.count());
    QCOMPARE(window->stats()->windowBars(), 1);
    QVERIFY(window->stats()->memoryPoints() > 0);
    QVERIFY(window->stats()->summaryText().contains(QStringLiteral("9 frames")));
    QCOMPARE(planned.count(), 1);
    QVERIFY(!planned.at(0).at(1).toBool());  // on the CPU
    QVERIFY2(window->stats()->memoryPlanText().contains(QStringLiteral("DiT")), qPrintable(window->stats()->memoryPlanText()));
    QVERIFY(window->stats()->memoryPlanText().contains(QStringLiteral("only shown")));
    QVERIFY(window->stats()->memoryPlanText().contains(planned.at(0).at(0).toString()));
    // The random seed that was used is shown in the form.
    QCOMPARE(window->form()->seedEdit()->text(), QString::number(outcome.seed));
    QVERIFY(child<QLabel>(window->form(), "seedUsed")->text().contains(QString::number(outcome.seed)));

    // The file decodes to the frames generated.
    const auto video = read_video_frames(outcome.outputPath.toStdString());
    QCOMPARE(video.count(), 9);
    QCOMPARE(video.height(), 192);
    QCOMPARE(video.width(), 320);

    // Its metadata brings the settings back into the form.
    typeInto(window->form()->promptEdit(), QStringLiteral("something else"));
    window->form()->stepsSpin()->setValue(30);
    window->form()->lengthSpin()->setValue(33);
    QVERIFY(window->restoreFromVideo(outcome.outputPath));
    const auto restored = window->form()->job();
    QCOMPARE(QString::fromStdString(restored.settings.prompt), QStringLiteral("a tiny test video"));
    QCOMPARE(restored.settings.steps, 2);
    QCOMPARE(restored.settings.num_frames, 9);
    QCOMPARE(restored.settings.seed, static_cast<std::uint64_t>(outcome.seed));
    QVERIFY(!restored.randomSeed);
    QCOMPARE(restored.settings.width, 320);
    QCOMPARE(restored.settings.height, 192);

    // A file without metadata is refused with a message, not a crash.
    QVERIFY(!window->restoreFromVideo(dir_.filePath(QStringLiteral("no-such-video.mp4"))));
    QVERIFY(!window->errorText().isEmpty());
  }

  void cancelKeepsFinishedFrames() {
    requireDemoModel();
    auto window = newWindow();
    // The demo's own length: three causal blocks, so a cancel after the first leaves work undone.
    fillTinyJob(*window, QStringLiteral("cancel me"), 33, 2);
    auto* worker = window->generation()->worker();

    // Holds the worker inside its first block event until the test has pressed Cancel, so where the
    // cancel lands does not depend on timing. The GUI stays live meanwhile (it receives the block).
    // Shared with the worker thread, which may outlive this scope when a check fails.
    auto gate = std::make_shared<QSemaphore>();
    auto held = std::make_shared<std::atomic<bool>>(false);
    connect(
        worker, &GenerationWorker::framesDecoded, worker,
        [gate, held](int, qint64, const QVector<QImage>&) {
          if (!held->exchange(true)) gate->acquire();
        },
        Qt::DirectConnection);
    struct Release {
      std::shared_ptr<QSemaphore> gate;
      ~Release() { gate->release(100); }  // never leave the worker blocked, even when a check fails
    } release{gate};
    QSignalSpy done(window.get(), &MainWindow::jobCompleted);

    QTest::mouseClick(window->generateButton(), Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(window->player()->frameCount() > 0, kJobTimeoutMs);
    const int shown = window->player()->frameCount();
    QTest::mouseClick(window->cancelButton(), Qt::LeftButton);
    gate->release();
    QTRY_COMPARE_WITH_TIMEOUT(done.count(), 1, kJobTimeoutMs);

    const auto outcome = window->lastOutcome();
    QVERIFY2(outcome.status == JobOutcome::Status::Cancelled, qPrintable(outcome.message));
    QCOMPARE(outcome.framesWritten, shown);
    QVERIFY(outcome.framesWritten < 33);
    QCOMPARE(window->progress()->phaseText(), QStringLiteral("Cancelled"));
    QVERIFY(window->errorText().isEmpty());  // a cancel is not an error
    const auto video = read_video_frames(outcome.outputPath.toStdString());
    QCOMPARE(video.count(), shown);
    QCOMPARE(window->player()->frameCount(), shown);
  }

  void startImageToLosslessFile() {
    requireDemoModel();
    // A portrait start image of another size: the job crops and resizes it, and (as the reference
    // does) swaps the output to portrait.
    QImage image(150, 240, QImage::Format_RGB888);
    image.fill(QColor(200, 60, 20));
    const QString imagePath = dir_.filePath(QStringLiteral("start.png"));
    QVERIFY(image.save(imagePath));

    auto window = newWindow();
    fillTinyJob(*window, QStringLiteral("from a start image"), 5, 2, 1);
    child<PathField>(window->form(), "startImage")->setPath(imagePath);
    auto* codec = child<QComboBox>(window->form(), "codec");
    codec->setCurrentIndex(codec->findData(static_cast<int>(OutputCodec::Ffv1Mkv)));
    QCOMPARE(window->form()->problem(), QString());
    QSignalSpy done(window.get(), &MainWindow::jobCompleted);
    QTest::mouseClick(window->generateButton(), Qt::LeftButton);
    QTRY_COMPARE_WITH_TIMEOUT(done.count(), 1, kJobTimeoutMs);

    const auto outcome = window->lastOutcome();
    QVERIFY2(outcome.status == JobOutcome::Status::Finished, qPrintable(outcome.message));
    QVERIFY(outcome.outputPath.endsWith(QStringLiteral(".mkv")));
    const auto video = read_video_frames(outcome.outputPath.toStdString());
    QCOMPARE(video.count(), 5);
    QCOMPARE(video.height(), 320);  // portrait: height and width swapped
    QCOMPARE(video.width(), 192);
    // The file's metadata holds the settings as generated: the start image flag and the swapped size.
    const auto stored = read_settings_from_video(outcome.outputPath.toStdString());
    QVERIFY(stored.has_start_image);
    QCOMPARE(stored.height, 320);
    QCOMPARE(stored.width, 192);
  }

  void queueRunsJobsInOrder() {
    requireDemoModel();
    auto window = newWindow();
    auto* queue = window->queue();
    for (const char* prompt : {"job A", "job B", "job C"}) {
      fillTinyJob(*window, QString::fromLatin1(prompt), 5, 2, 1);  // 2 latent frames: the quickest job
      QTest::mouseClick(window->addToQueueButton(), Qt::LeftButton);
    }
    QCOMPARE(queue->count(), 3);
    auto promptAt = [&](int row) { return QString::fromStdString(queue->job(row).settings.prompt); };

    queue->selectRow(2);
    QTest::mouseClick(child<QPushButton>(queue, "queueUp"), Qt::LeftButton);  // A C B
    QCOMPARE(promptAt(1), QStringLiteral("job C"));
    QCOMPARE(promptAt(2), QStringLiteral("job B"));
    queue->selectRow(0);
    QTest::mouseClick(child<QPushButton>(queue, "queueDown"), Qt::LeftButton);  // C A B
    QCOMPARE(promptAt(0), QStringLiteral("job C"));
    queue->selectRow(1);
    QTest::mouseClick(child<QPushButton>(queue, "queueRemove"), Qt::LeftButton);  // C B
    QCOMPARE(queue->count(), 2);
    QCOMPARE(promptAt(0), QStringLiteral("job C"));
    QCOMPARE(promptAt(1), QStringLiteral("job B"));
    QVERIFY(queue->text(0).contains(QStringLiteral("queued")));

    QSignalSpy started(window->generation()->worker(), &GenerationWorker::jobStarted);
    QSignalSpy done(window.get(), &MainWindow::jobCompleted);
    QTest::mouseClick(child<QPushButton>(queue, "queueRun"), Qt::LeftButton);
    QTRY_COMPARE_WITH_TIMEOUT(done.count(), 2, kJobTimeoutMs);
    QCOMPARE(started.count(), 2);
    QCOMPARE(QString::fromStdString(started.at(0).at(0).value<StudioJob>().settings.prompt), QStringLiteral("job C"));
    QCOMPARE(QString::fromStdString(started.at(1).at(0).value<StudioJob>().settings.prompt), QStringLiteral("job B"));
    for (int row = 0; row < 2; ++row) {
      QCOMPARE(queue->state(row), JobQueueWidget::State::Done);
      const auto outcome = done.at(row).at(0).value<JobOutcome>();
      QVERIFY2(outcome.status == JobOutcome::Status::Finished, qPrintable(outcome.message));
      QCOMPARE(read_video_frames(outcome.outputPath.toStdString()).count(), 5);
    }
    QVERIFY(!window->isBusy());
  }

  void settingsRoundTripThroughQSettings() {
    const QString ini = dir_.filePath(QStringLiteral("round-trip.ini"));
    StudioJob expected;
    {
      auto window = newWindow(ini);
      auto* form = window->form();
      form->promptEdit()->setPlainText(QStringLiteral("ünïcödé prompt, 第二"));  // keyClicks types Latin-1 only
      typeInto(child<QPlainTextEdit>(form, "negativePrompt"), QStringLiteral("blurry"));
      auto* resolution = child<QComboBox>(form, "resolution");
      resolution->setCurrentIndex(resolution->findData(QSize(1280, 720)));
      form->stepsSpin()->setValue(17);
      child<QDoubleSpinBox>(form, "guidance")->setValue(5.25);
      typeInto(form->seedEdit(), QStringLiteral("18446744073709"));
      form->randomSeedBox()->setChecked(true);
      child<QComboBox>(form, "mode")->setCurrentIndex(1);
      child<QSpinBox>(form, "arStep")->setValue(5);
      child<QSpinBox>(form, "causalBlockSize")->setValue(5);
      child<QGroupBox>(form, "longVideo")->setChecked(true);
      child<QSpinBox>(form, "baseFrames")->setValue(97);
      child<QSpinBox>(form, "overlapFrames")->setValue(17);
      child<QSpinBox>(form, "addNoise")->setValue(20);
      form->lengthSpin()->setValue(257);
      child<PathField>(form, "modelFolder")->setPath(QStringLiteral("/models/SkyReels-V2-DF-1.3B-540P"));
      child<PathField>(form, "outputFolder")->setPath(dir_.path());
      child<PathField>(form, "extendVideo")->setPath(QStringLiteral("/videos/in.mp4"));
      auto* codec = child<QComboBox>(form, "codec");
      codec->setCurrentIndex(codec->findData(static_cast<int>(OutputCodec::Ffv1Mkv)));
      child<QSpinBox>(form, "crf")->setValue(23);
      expected = form->job();
      window->close();  // saves, as quitting the app does
    }
    QVERIFY(QFileInfo::exists(ini));
    auto window = newWindow(ini);
    const auto got = window->form()->job();
    QCOMPARE(QString::fromStdString(to_json(got.settings).dump()),
             QString::fromStdString(to_json(expected.settings).dump()));
    QCOMPARE(got.settings.num_frames, 257);
    QCOMPARE(got.settings.width, 1280);
    QCOMPARE(got.modelFolder, expected.modelFolder);
    QCOMPARE(got.randomSeed, true);
    QCOMPARE(got.extendVideo, expected.extendVideo);
    QCOMPARE(got.outputFolder, expected.outputFolder);
    QCOMPARE(got.codec, OutputCodec::Ffv1Mkv);
    QCOMPARE(got.crf, 23);
    QCOMPARE(got.device, expected.device);
  }

  void errorsAreShownWithoutCrashing() {
    auto window = newWindow();
    auto* form = window->form();
    child<PathField>(form, "outputFolder")->setPath(dir_.filePath(QStringLiteral("errors")));
    // A size the engine rejects: the form says so at once, and Generate reports it without loading.
    auto* resolution = child<QComboBox>(form, "resolution");
    resolution->setCurrentIndex(resolution->count() - 1);
    child<QSpinBox>(form, "width")->setValue(250);
    QVERIFY(form->problem().contains(QStringLiteral("multiples of 16")));
    QVERIFY(child<QLabel>(form, "formProblem")->isVisible());
    QVERIFY(child<QLabel>(form, "problem_resolution")->isVisible());  // under the size fields too
    QVERIFY(!window->generateButton()->isEnabled());  // nothing starts that the engine would refuse

    // A folder that is not a model: the message names the missing parts.
    QSignalSpy done(window.get(), &MainWindow::jobCompleted);
    child<QSpinBox>(form, "width")->setValue(256);
    QVERIFY(!child<QLabel>(form, "problem_resolution")->isVisible());
    QVERIFY(window->generateButton()->isEnabled());
    QTemporaryDir empty;
    child<PathField>(form, "modelFolder")->setPath(empty.path());
    QTest::mouseClick(window->generateButton(), Qt::LeftButton);
    QTRY_COMPARE_WITH_TIMEOUT(done.count(), 1, kJobTimeoutMs);
    QCOMPARE(window->lastOutcome().status, JobOutcome::Status::Failed);
    QVERIFY(window->errorText().startsWith(QStringLiteral("Not found:")));
    QVERIFY(window->generateButton()->isEnabled());
  }

  // Issue 25: a window longer than the RoPE table is refused next to Frames, with a one-click fix.
  void checksBeforeWorkNextToTheField() {
    auto window = newWindow();
    auto* form = window->form();
    form->setSettings(GenerationSettings{});  // one window, no long video
    QVERIFY(window->generateButton()->isEnabled());
    auto* length = form->lengthSpin();
    length->setFocus();
    typeInto(length, QStringLiteral("100000"));
    QTest::keyClick(length, Qt::Key_Return);
    auto* message = child<QLabel>(form, "problem_num_frames");
    QVERIFY(message->isVisible());
    QVERIFY2(message->text().startsWith(QStringLiteral("Frames: ")), qPrintable(message->text()));
    QVERIFY(message->text().contains(QStringLiteral("1024 latent frames")));
    QVERIFY(!window->generateButton()->isEnabled());
    auto* fix = child<QPushButton>(form, "fix_num_frames");
    QVERIFY(fix->isVisible());
    QCOMPARE(fix->text(), QStringLiteral("Turn on long video"));

    QTest::mouseClick(fix, Qt::LeftButton);
    QVERIFY2(form->problem().isEmpty(), qPrintable(form->problem()));
    QVERIFY(child<QGroupBox>(form, "longVideo")->isChecked());
    QCOMPARE(form->frameCount(), snap_frames(100000));  // the length asked for stays
    QVERIFY(!message->isVisible());
    QVERIFY(window->generateButton()->isEnabled());

    // No frames is an error, not a silent default.
    typeInto(length, QStringLiteral("0"));
    QTest::keyClick(length, Qt::Key_Return);
    QCOMPARE(form->frameCount(), 0);
    QVERIFY2(message->isVisible() && message->text().contains(QStringLiteral("Frames: 0")), qPrintable(message->text()));
    QVERIFY(!window->generateButton()->isEnabled());

    // A start image with causal blocks: the fix sets the block size to 1.
    typeInto(length, QStringLiteral("97"));
    QTest::keyClick(length, Qt::Key_Return);
    auto* block = child<QSpinBox>(form, "causalBlockSize");
    child<PathField>(form, "startImage")->setPath(dir_.filePath(QStringLiteral("start.png")));
    block->setValue(5);  // (setPath alone, as a program sets it, does not re-check)
    auto* blockFix = child<QPushButton>(form, "fix_causal_block_size");
    QVERIFY(child<QLabel>(form, "problem_causal_block_size")->isVisible());
    QCOMPARE(blockFix->text(), QStringLiteral("Set causal block size to 1"));
    QVERIFY(!window->generateButton()->isEnabled());
    QTest::mouseClick(blockFix, Qt::LeftButton);
    QCOMPARE(block->value(), 1);
    QVERIFY2(form->problem().isEmpty(), qPrintable(form->problem()));
    QVERIFY(window->generateButton()->isEnabled());
  }

  // Scrolling the form over a field it has not focused scrolls, and never changes the value.
  void wheelLeavesUnfocusedFieldsAlone() {
    auto window = newWindow();
    window->setAdvancedView(true);  // steps and sampler are advanced settings: hidden (unfocusable) in the simple view
    auto* form = window->form();
    auto* steps = form->stepsSpin();
    auto* sampler = form->samplerBox();
    window->activateWindow();
    QVERIFY(QTest::qWaitForWindowActive(window.get()));
    window->generateButton()->setFocus();
    QVERIFY(!steps->hasFocus());
    const int before = steps->value();
    const int samplerBefore = sampler->currentIndex();
    for (QWidget* field : {static_cast<QWidget*>(steps), static_cast<QWidget*>(sampler)}) {
      const QPointF at(field->width() / 2.0, field->height() / 2.0);
      for (const int delta : {120, -120, -120}) {
        QWheelEvent wheel(at, field->mapToGlobal(at), QPoint(), QPoint(0, delta), Qt::NoButton, Qt::NoModifier,
                          Qt::NoScrollPhase, false);
        QApplication::sendEvent(field, &wheel);
      }
    }
    QCOMPARE(steps->value(), before);
    QCOMPARE(sampler->currentIndex(), samplerBefore);
    QVERIFY(!steps->hasFocus());

    // A field the user focused still takes the wheel.
    steps->setFocus();
    QTRY_VERIFY(steps->hasFocus());
    const QPointF at(steps->width() / 2.0, steps->height() / 2.0);
    QWheelEvent wheel(at, steps->mapToGlobal(at), QPoint(), QPoint(0, 120), Qt::NoButton, Qt::NoModifier,
                      Qt::NoScrollPhase, false);
    QApplication::sendEvent(steps, &wheel);
    QCOMPARE(steps->value(), before + 1);
  }

  // Run by ctest after `skyreels-studio --screenshot` under Xvfb (SKYREELS_SCREENSHOT names the PNG).
  void screenshotIsNotBlank() {
    const QString path = qEnvironmentVariable("SKYREELS_SCREENSHOT");
    if (path.isEmpty()) QSKIP("SKYREELS_SCREENSHOT is not set (the screenshot ctest sets it)");
    const QImage shot(path);
    QVERIFY2(!shot.isNull(), qPrintable(path + QStringLiteral(" is missing or not an image")));
    QVERIFY(shot.width() >= 640 && shot.height() >= 400);
    // A blank or single-colour window has a handful of colours; widgets, plots and frames have many.
    QSet<QRgb> colours;
    for (int y = 0; y < shot.height(); y += 3)
      for (int x = 0; x < shot.width(); x += 3) colours.insert(shot.pixel(x, y));
    QVERIFY2(colours.size() > 64, qPrintable(QStringLiteral("only %1 colours").arg(colours.size())));
  }
};

QTEST_MAIN(StudioTest)
#include "test_studio.moc"
