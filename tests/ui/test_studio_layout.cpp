// Issue 25 in the desktop app's real widgets: the layout on a laptop screen, the player's controls,
// readable charts and progress, the simple and advanced views with their tooltips, and screenshots of
// the main states. The layout and screenshot cases need a real screen of a known size (ctest runs
// them under Xvfb at 1366 × 768); the others run on the offscreen platform.

#include <atomic>
#include <cmath>
#include <memory>

#include <QAbstractSpinBox>
#include <QApplication>
#include <QChart>
#include <QChartView>
#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QGroupBox>
#include <QLabel>
#include <QLayout>
#include <QLegend>
#include <QLineEdit>
#include <QLineSeries>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QScreen>
#include <QScrollArea>
#include <QScrollBar>
#include <QSemaphore>
#include <QSettings>
#include <QSignalSpy>
#include <QSlider>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QToolButton>
#include <QValueAxis>
#include <QtTest>

#include "engine_queries.h"
#include "frame_view.h"
#include "gallery_widget.h"
#include "job_queue_widget.h"
#include "generation_thread.h"
#include "generation_worker.h"
#include "main_window.h"
#include "path_field.h"
#include "preview_player.h"
#include "progress_panel.h"
#include "quality_preset.h"
#include "round_ticks.h"
#include "settings_form.h"
#include "setting_tooltips.h"
#include "stats_panel.h"
#include "ui_test_helpers.h"

using namespace skyreels;
using namespace skyreels::ui;
using skyreels::ui::test::BlockGate;
using skyreels::ui::test::child;
using skyreels::ui::test::globalRect;
using skyreels::ui::test::typeInto;

namespace {

// A guard against a hang, not a speed requirement: the tiny jobs take seconds.
constexpr int kJobTimeoutMs = 10 * 60 * 1000;

bool isRoundStep(double step) {
  const double scale = std::pow(10.0, std::floor(std::log10(step) + 1e-9));
  const double m = step / scale;
  return std::abs(m - 1) < 1e-9 || std::abs(m - 2) < 1e-9 || std::abs(m - 5) < 1e-9;
}

// The axis runs from 0 to a whole number of round steps.
void verifyRoundAxis(QValueAxis* axis) {
  QVERIFY2(axis->tickType() == QValueAxis::TicksDynamic, qPrintable(axis->titleText()));
  QVERIFY2(isRoundStep(axis->tickInterval()), qPrintable(QString::number(axis->tickInterval())));
  QCOMPARE(axis->min(), 0.0);
  const double intervals = axis->max() / axis->tickInterval();
  QVERIFY2(std::abs(intervals - std::round(intervals)) < 1e-6, qPrintable(QString::number(axis->max())));
  QVERIFY2(intervals >= 1 && intervals <= 10, qPrintable(QString::number(intervals)));  // a readable handful
}

QValueAxis* valueAxis(QChart* chart, Qt::Orientation orientation) {
  const auto axes = chart->axes(orientation);
  return axes.isEmpty() ? nullptr : qobject_cast<QValueAxis*>(axes.first());
}

QLineSeries* lineNamed(QChart* chart, const QString& start) {
  for (auto* series : chart->series())
    if (series->name().startsWith(start)) return qobject_cast<QLineSeries*>(series);
  return nullptr;
}

// Differs in colour and in dash pattern: tellable apart on any screen and in grey.
void verifyDistinct(QLineSeries* a, QLineSeries* b) {
  QVERIFY(a && b);
  QVERIFY(a->pen().color() != b->pen().color());
  QVERIFY(a->pen().style() != b->pen().style());
}

RowProgress rowAt(int done, int total, double seconds) {
  RowProgress r;
  r.windows = 1;
  r.row = done - 1;
  r.rows = total;
  r.rowsDone = done;
  r.rowsTotal = total;
  r.rowSeconds = seconds;
  r.modelSeconds = seconds * 0.8;
  r.elapsedSeconds = done * 1.0;
  r.allocatedBytes = 300ll << 20;
  return r;
}


}  // namespace

class StudioLayoutTest : public QObject {
  Q_OBJECT

private:
  QTemporaryDir dir_;
  int windows_ = 0;

  std::unique_ptr<MainWindow> newWindow(const QString& ini = {}) {
    const QString path = ini.isEmpty() ? dir_.filePath(QStringLiteral("layout-%1.ini").arg(windows_++)) : ini;
    auto window = std::make_unique<MainWindow>(std::make_unique<QSettings>(path, QSettings::IniFormat));
    window->show();
    return window;
  }

  // QSKIP returns from the test function only where it is written: these say whether to skip.
  static bool haveDemoModel() {
#if !defined(SKYREELS_TEST_HAVE_TINY_MODEL)
    return false;
#endif
    return !demoModelFolder().isEmpty();
  }

  // The screen the layout cases expect (ctest runs them under Xvfb and sets SKYREELS_TEST_SCREEN);
  // an empty size without it. A screen of another size is a broken test set-up, not a skip.
  static QSize testScreen() {
    const QString expected = qEnvironmentVariable("SKYREELS_TEST_SCREEN");
    if (expected.isEmpty()) return {};
    const QSize size = QGuiApplication::primaryScreen()->geometry().size();
    const auto wh = expected.split(QLatin1Char('x'));
    if (wh.size() != 2 || size != QSize(wh[0].toInt(), wh[1].toInt()))
      qFatal("the screen is %dx%d, not %s", size.width(), size.height(), qPrintable(expected));
    return size;
  }

  // The window as a window manager maximises it (Xvfb has none).
  static void maximise(MainWindow& window) {
    const QRect area = window.screen()->availableGeometry();
    window.setGeometry(area);
    QTRY_COMPARE(window.geometry(), area);
  }

  // The demo model, a short CPU job writing into the test's folder.
  void fillTinyJob(MainWindow& window, const QString& prompt, int frames, int steps) {
    auto* form = window.form();
    QTest::mouseClick(child<QPushButton>(form, "useDemoModel"), Qt::LeftButton);
    typeInto(form->promptEdit(), prompt);
    auto* device = child<QComboBox>(form, "device");
    device->setCurrentIndex(device->findData(QStringLiteral("cpu")));
    form->lengthUnitBox()->setCurrentIndex(0);
    form->lengthSpin()->setValue(frames);
    form->stepsSpin()->setValue(steps);
    form->randomSeedBox()->setChecked(false);
    typeInto(form->seedEdit(), QStringLiteral("7"));
    child<PathField>(form, "outputFolder")->setPath(dir_.path());
  }

  // build/test-artifacts/NAME, when the test run asks for screenshots (SKYREELS_TEST_ARTIFACTS).
  static void saveShot(QWidget& window, const char* name) {
    const QString folder = qEnvironmentVariable("SKYREELS_TEST_ARTIFACTS");
    if (folder.isEmpty()) return;
    QVERIFY(QDir().mkpath(folder));
    const QString path = QDir(folder).filePath(QString::fromLatin1(name));
    // Labels whose text just changed are laid out by a posted event: settle before the picture.
    QCoreApplication::sendPostedEvents(nullptr, QEvent::LayoutRequest);
    QCoreApplication::processEvents();
    QVERIFY2(window.grab().save(path, "PNG"), qPrintable(path));
    qInfo("screenshot: %s", qPrintable(path));
  }

private Q_SLOTS:
  void initTestCase() {
    QStandardPaths::setTestModeEnabled(true);
    QVERIFY(dir_.isValid());
  }

  // Point 2: click-to-seek, time readout, Space, frame step, loop.
  void playerSeeksStepsLoopsAndPlaysOnSpace() {
    PreviewPlayer player;
    player.resize(800, 520);
    player.show();
    player.activateWindow();
    QVERIFY(QTest::qWaitForWindowActive(&player));
    player.reset(40, 10);
    QVector<QImage> frames;
    for (int i = 0; i < 40; ++i) {
      QImage image(64, 36, QImage::Format_RGB32);
      image.fill(QColor::fromHsv(i * 9, 200, 200));
      frames << image;
    }
    player.appendFrames(0, frames);
    player.markComplete();
    player.pause();
    QCOMPARE(player.currentFrame(), 0);

    // A click at three quarters of the slider lands near frame 29 (a plain slider pages 10 frames).
    auto* slider = child<QSlider>(&player, "scrubSlider");
    QTest::mouseClick(slider, Qt::LeftButton, {}, QPoint(slider->width() * 3 / 4, slider->height() / 2));
    const int expected = static_cast<int>(std::lround(0.75 * 39));
    QVERIFY2(std::abs(player.currentFrame() - expected) <= 2, qPrintable(QString::number(player.currentFrame())));
    QVERIFY(!player.isPlaying());
    QCOMPARE(player.timeText(), QStringLiteral("%1 / 4.00 s").arg(player.currentFrame() / 10.0, 0, 'f', 2));

    // Space plays and pauses while the player has focus.
    auto* view = child<QWidget>(&player, "frameView");
    view->setFocus();
    QTRY_VERIFY(view->hasFocus());
    QTest::keyClick(view, Qt::Key_Space);
    QVERIFY(player.isPlaying());
    QTest::keyClick(view, Qt::Key_Space);
    QVERIFY(!player.isPlaying());

    // Frame steps: the arrows and the buttons, one frame each, paused.
    const int at = player.currentFrame();
    QTest::keyClick(view, Qt::Key_Right);
    QCOMPARE(player.currentFrame(), at + 1);
    QTest::keyClick(view, Qt::Key_Left);
    QTest::keyClick(view, Qt::Key_Left);
    QCOMPARE(player.currentFrame(), at - 1);
    QTest::mouseClick(child<QToolButton>(&player, "stepForwardButton"), Qt::LeftButton);
    QCOMPARE(player.currentFrame(), at);
    player.play();
    QTest::mouseClick(child<QToolButton>(&player, "stepBackButton"), Qt::LeftButton);
    QVERIFY(!player.isPlaying());
    QCOMPARE(player.currentFrame(), at - 1);

    // Loop off: playback stops on the last frame. Loop on: it starts again.
    auto* loop = child<QToolButton>(&player, "loopButton");
    QVERIFY(player.loops());
    QTest::mouseClick(loop, Qt::LeftButton);
    QVERIFY(!player.loops());
    player.seek(37);
    player.play();
    QTRY_VERIFY(!player.isPlaying());
    QCOMPARE(player.currentFrame(), 39);
    QTest::mouseClick(loop, Qt::LeftButton);
    QVERIFY(player.loops());
    player.seek(38);
    player.play();
    QTRY_VERIFY(player.currentFrame() < 38);
    QVERIFY(player.isPlaying());
  }

  void latentPreviewIsReadableAndIdleSaysSo() {
    auto window = newWindow();
    auto* player = window->player();
    // Idle: nothing claims to be rendering.
    QVERIFY2(!player->statusText().contains(QStringLiteral("Rendering")), qPrintable(player->statusText()));
    QCOMPARE(window->progress()->phaseText(), QStringLiteral("Ready"));
    // A latent of 1/8 of the demo size is drawn at least 4 times larger.
    player->setLatentPreview(QImage(40, 24, QImage::Format_RGB888));
    auto* latent = child<FrameView>(player, "latentPreview");
    QVERIFY(latent->height() >= 96);
    QVERIFY2(latent->imageRect().height() >= 4 * 24, qPrintable(QString::number(latent->imageRect().height())));
    // The engine's strip of 8 latent frames is shown as two rows of four.
    player->reset(33, 24, QSize(320, 192));
    player->setLatentPreview(QImage(8 * 40, 24, QImage::Format_RGB888));
    QCOMPARE(latent->image().size(), QSize(4 * 40, 2 * 24));
    QVERIFY(latent->imageRect().height() >= 96);
    QVERIFY(player->statusText().contains(QStringLiteral("Rendering")));  // now it is
  }

  // Point 6: round ticks.
  void roundTicksFallOnRoundNumbers() {
    auto check = [](double max, double step, double top) {
      const auto r = roundTicks(max);
      QVERIFY2(std::abs(r.step - step) < 1e-9 && std::abs(r.top - top) < 1e-9,
               qPrintable(QStringLiteral("%1: step %2 top %3").arg(max).arg(r.step).arg(r.top)));
    };
    check(2.62, 1, 3);
    check(1.31, 0.5, 1.5);
    check(1310, 500, 1500);
    check(9, 2, 10);
    check(0, 1, 1);
    check(0.037, 0.01, 0.04);
    QCOMPARE(roundTicks(1.31).decimals, 1);
    QCOMPARE(roundTicks(1310).decimals, 0);
  }

  // Point 6: axis titles with units, round ticks, distinct series with a legend, placeholders
  // before data, and the GPU-memory budget line.
  void chartsAreReadable() {
    StatsPanel stats;
    stats.resize(1000, 360);
    stats.setChartsOpen(true);
    stats.show();
    QVERIFY(QTest::qWaitForWindowExposed(&stats));
    auto* memoryView = child<QChartView>(&stats, "memoryChart");
    auto* rowView = child<QChartView>(&stats, "rowChart");
    // No data: a sentence, no axes.
    for (const char* name : {"memoryChartPlaceholder", "rowChartPlaceholder", "windowChartPlaceholder"})
      QVERIFY2(child<QLabel>(&stats, name)->isVisible(), name);
    QVERIFY(!memoryView->isVisible());
    QVERIFY(!rowView->isVisible());

    stats.begin(QStringLiteral("cpu"), 2.0);
    QVERIFY(memoryView->isVisible());
    QVERIFY(!rowView->isVisible());  // no row yet
    auto* memory = memoryView->chart();
    auto* budget = lineNamed(memory, QStringLiteral("GPU-memory budget"));
    QVERIFY(budget && budget->isVisible());
    QCOMPARE(budget->count(), 2);
    QCOMPARE(budget->at(0).y(), 2048.0);
    QCOMPARE(budget->at(1).y(), 2048.0);
    QVERIFY(valueAxis(memory, Qt::Vertical)->max() >= 2048.0);
    QVERIFY(valueAxis(memory, Qt::Vertical)->titleText().contains(QStringLiteral("(MiB)")));
    QVERIFY(valueAxis(memory, Qt::Horizontal)->titleText().contains(QStringLiteral("(s)")));
    verifyRoundAxis(valueAxis(memory, Qt::Vertical));
    verifyDistinct(lineNamed(memory, QStringLiteral("RSS")), lineNamed(memory, QStringLiteral("peak RSS")));
    verifyDistinct(lineNamed(memory, QStringLiteral("RSS")), budget);
    QVERIFY(memory->legend()->isVisible());

    for (int done = 1; done <= 3; ++done) stats.addRow(rowAt(done, 10, done == 2 ? 2.62 : 1.31));
    QVERIFY(rowView->isVisible());
    auto* rows = rowView->chart();
    auto* seconds = valueAxis(rows, Qt::Vertical);
    verifyRoundAxis(seconds);
    QCOMPARE(seconds->tickInterval(), 1.0);  // 0, 1, 2, 3 s: not 1.31, 2.62
    QCOMPARE(seconds->max(), 3.0);
    QVERIFY(seconds->titleText().contains(QStringLiteral("(s)")));
    QVERIFY(!valueAxis(rows, Qt::Horizontal)->titleText().isEmpty());
    verifyRoundAxis(valueAxis(rows, Qt::Horizontal));
    verifyDistinct(lineNamed(rows, QStringLiteral("whole row")), lineNamed(rows, QStringLiteral("model calls")));
    QVERIFY(rows->legend()->isVisible());

    stats.addWindow(0, 7.3);
    QVERIFY(child<QChartView>(&stats, "windowChart")->isVisible());
    verifyRoundAxis(valueAxis(child<QChartView>(&stats, "windowChart")->chart(), Qt::Vertical));

    // A job without a budget draws none.
    stats.begin(QStringLiteral("cpu"));
    QVERIFY(!budget->isVisible());
    QVERIFY(!rowView->isVisible());  // its rows are gone: the placeholder again
  }

  // Point 1: the stats are a one-line strip (memory, s/row, ETA) that opens into the charts.
  void statsCollapseIntoAStrip() {
    StatsPanel stats;
    stats.resize(900, 400);
    stats.show();
    QVERIFY(QTest::qWaitForWindowExposed(&stats));
    QVERIFY(!stats.chartsOpen());
    QVERIFY(!child<QWidget>(&stats, "statsCharts")->isVisible());
    stats.begin(QStringLiteral("cpu"));
    stats.addRow(rowAt(2, 10, 0.5));
    const QString strip = stats.stripText();
    QVERIFY2(strip.contains(QStringLiteral("MiB")), qPrintable(strip));
    QVERIFY2(strip.contains(QStringLiteral("0.50 s/row")), qPrintable(strip));
    QVERIFY2(strip.contains(QStringLiteral("ETA 0:08")), qPrintable(strip));  // 1 s a row, 8 rows left
    QTest::mouseClick(child<QToolButton>(&stats, "chartsToggle"), Qt::LeftButton);
    QVERIFY(stats.chartsOpen());
    QVERIFY(child<QWidget>(&stats, "statsCharts")->isVisible());
    QTest::mouseClick(child<QToolButton>(&stats, "chartsToggle"), Qt::LeftButton);
    QVERIFY(!stats.chartsOpen());
  }

  // Point 6: the last block's decode has its phase; the bar keeps its value on cancel and failure.
  void progressDecodingPhaseAndBarKept() {
    ProgressPanel progress;
    progress.begin(QStringLiteral("job"));
    progress.setPlan(PlanSummary{1, 10, 33, 20});
    progress.setPhase(QStringLiteral("Denoising"), {});
    progress.setRow(rowAt(4, 10, 1));
    QCOMPARE(progress.phaseText(), QStringLiteral("Denoising"));
    QCOMPARE(progress.barValue(), 4);
    JobOutcome cancelled;
    cancelled.status = JobOutcome::Status::Cancelled;
    progress.end(cancelled);
    QCOMPARE(progress.phaseText(), QStringLiteral("Cancelled"));
    QCOMPARE(progress.barValue(), 4);
    QCOMPARE(progress.barMaximum(), 10);

    progress.begin(QStringLiteral("job"));
    progress.setPlan(PlanSummary{1, 10, 33, 20});
    progress.setRow(rowAt(6, 10, 1));
    JobOutcome failed;
    failed.status = JobOutcome::Status::Failed;
    progress.end(failed);
    QCOMPARE(progress.barValue(), 6);

    progress.begin(QStringLiteral("job"));
    progress.setPlan(PlanSummary{1, 10, 33, 20});
    progress.setRow(rowAt(10, 10, 1));
    QCOMPARE(progress.phaseText(), QStringLiteral("Decoding last block"));
    JobOutcome finished;
    finished.status = JobOutcome::Status::Finished;
    progress.end(finished);
    QCOMPARE(progress.barValue(), progress.barMaximum());
  }

  // Point 7: the simple view shows the few settings most videos need; the advanced view all.
  void simpleAndAdvancedViews() {
    const QString ini = dir_.filePath(QStringLiteral("views.ini"));
    {
      auto window = newWindow(ini);
      auto* form = window->form();
      QVERIFY(!form->isAdvanced());  // a first launch is simple
      const QList<QWidget*> simple = {form->promptEdit(), form->modelFolderField(), child<QWidget>(form, "resolution"),
                                      form->lengthSpin(), form->qualityPresetBox(), form->seedEdit()};
      const QList<QWidget*> advanced = {form->stepsSpin(), form->samplerBox(), child<QWidget>(form, "arStep"),
                                        child<QWidget>(form, "negativePrompt"), child<QWidget>(form, "codec"),
                                        child<QWidget>(form, "vramBudget"), child<QWidget>(form, "startImage")};
      for (auto* w : simple) QVERIFY2(w->isVisibleTo(form), qPrintable(w->objectName()));
      for (auto* w : advanced) QVERIFY2(!w->isVisibleTo(form), qPrintable(w->objectName()));

      QTest::mouseClick(window->advancedViewButton(), Qt::LeftButton);
      QVERIFY(form->isAdvanced());
      for (auto* w : simple + advanced) QVERIFY2(w->isVisibleTo(form), qPrintable(w->objectName()));
      QTest::mouseClick(child<QPushButton>(window.get(), "simpleViewButton"), Qt::LeftButton);
      QVERIFY(!form->stepsSpin()->isVisibleTo(form));

      // A hidden setting with a problem shows, next to its message, in the simple view too.
      child<PathField>(form, "startImage")->setPath(dir_.filePath(QStringLiteral("start.png")));
      child<QSpinBox>(form, "causalBlockSize")->setValue(5);
      QVERIFY(child<QLabel>(form, "problem_causal_block_size")->isVisibleTo(form));
      QVERIFY(child<QSpinBox>(form, "causalBlockSize")->isVisibleTo(form));
      QTest::mouseClick(child<QPushButton>(form, "fix_causal_block_size"), Qt::LeftButton);
      QVERIFY(!child<QSpinBox>(form, "causalBlockSize")->isVisibleTo(form));

      QTest::mouseClick(window->advancedViewButton(), Qt::LeftButton);
      window->close();
    }
    // The view chosen comes back with the app.
    auto window = newWindow(ini);
    QVERIFY(window->form()->isAdvanced());
    QVERIFY(window->form()->stepsSpin()->isVisibleTo(window->form()));
  }

  // Point 7: every field says what it does, and so does its label.
  void everySettingHasATooltip() {
    auto window = newWindow();
    auto* form = window->form();
    QStringList missing;
    for (auto* w : form->findChildren<QWidget*>()) {
      // Fields: inputs a user sets (a line edit inside a spin box or a combo box is part of it).
      const bool field = qobject_cast<QAbstractSpinBox*>(w) || qobject_cast<QComboBox*>(w) ||
                         qobject_cast<QPlainTextEdit*>(w) || qobject_cast<QCheckBox*>(w) ||
                         qobject_cast<PathField*>(w) ||
                         (qobject_cast<QGroupBox*>(w) && static_cast<QGroupBox*>(w)->isCheckable()) ||
                         (qobject_cast<QLineEdit*>(w) && !qobject_cast<QAbstractSpinBox*>(w->parentWidget()) &&
                          !qobject_cast<QComboBox*>(w->parentWidget()));
      if (field && w->toolTip().trimmed().isEmpty()) missing << w->objectName() + QLatin1Char('/') + QString::fromLatin1(w->metaObject()->className());
    }
    QVERIFY2(missing.isEmpty(), qPrintable(missing.join(QStringLiteral(", "))));
    QCOMPARE(child<QWidget>(form, "arStep")->toolTip(), settingTooltip(QStringLiteral("arStep")));
    QVERIFY(settingTooltip(QStringLiteral("arStep")).contains(QStringLiteral("0 = all frames denoise together")));
    // The label of a row explains it as its field does.
    bool labelled = false;
    for (auto* label : form->findChildren<QLabel*>())
      if (label->text() == QStringLiteral("Steps")) labelled = label->toolTip() == form->stepsSpin()->toolTip();
    QVERIFY(labelled);
  }

  // Point 7: the quality/speed preset sets the steps from the model's recommendation.
  void qualityPresetSetsTheSteps() {
    if (!haveDemoModel()) QSKIP("this build has no demo model (target skyreels_tiny_model)");
    auto window = newWindow();
    auto* form = window->form();
    QTest::mouseClick(child<QPushButton>(form, "useDemoModel"), Qt::LeftButton);
    const auto recommended = *recommendedSettings(QString());
    auto* preset = form->qualityPresetBox();
    QCOMPARE(preset->currentData().toInt(), static_cast<int>(QualityPreset::Quality));
    QCOMPARE(form->job().settings.steps, recommended.steps);
    preset->setFocus();
    QTest::keyClick(preset, Qt::Key_Down);  // Balanced
    QCOMPARE(preset->currentData().toInt(), static_cast<int>(QualityPreset::Balanced));
    QCOMPARE(form->job().settings.steps, std::max(2, (recommended.steps + 1) / 2));
    QTest::keyClick(preset, Qt::Key_Down);  // Draft
    QCOMPARE(form->job().settings.steps, std::max(2, (recommended.steps + 3) / 4));
    QTest::keyClick(preset, Qt::Key_Down);  // Few-step
    QCOMPARE(form->job().settings.sampler, Sampler::Euler);
    QCOMPARE(form->job().settings.steps, 4);
    QCOMPARE(preset->currentData().toInt(), static_cast<int>(QualityPreset::FewStep));
    // Steps set by hand: Custom.
    form->samplerBox()->setCurrentIndex(form->samplerBox()->findData(static_cast<int>(Sampler::UniPC)));
    form->timestepsEdit()->clear();
    form->stepsSpin()->setValue(recommended.steps + 3);
    QCOMPARE(preset->currentData().toInt(), static_cast<int>(QualityPreset::Custom));
  }

  // Point 1: Ctrl+Enter generates; point 6: Cancel is disabled while cancelling, the bar stays.
  void ctrlEnterGeneratesAndCancelWaitsDisabled() {
    if (!haveDemoModel()) QSKIP("this build has no demo model (target skyreels_tiny_model)");
    auto window = newWindow();
    fillTinyJob(*window, QStringLiteral("ctrl enter"), 33, 2);
    window->activateWindow();
    QVERIFY(QTest::qWaitForWindowActive(window.get()));
    BlockGate gate(window->generation()->worker());
    QSignalSpy done(window.get(), &MainWindow::jobCompleted);

    window->form()->promptEdit()->setFocus();
    QTRY_VERIFY(window->form()->promptEdit()->hasFocus());
    QTest::keyClick(window->form()->promptEdit(), Qt::Key_Return, Qt::ControlModifier);
    QVERIFY(window->isBusy());
    QCOMPARE(window->form()->promptEdit()->toPlainText(), QStringLiteral("ctrl enter"));  // no line typed
    QTRY_VERIFY_WITH_TIMEOUT(window->player()->frameCount() > 0, kJobTimeoutMs);

    QVERIFY(window->cancelButton()->isEnabled());
    QTest::mouseClick(window->cancelButton(), Qt::LeftButton);
    QVERIFY(window->isBusy());                        // the worker is still in its row
    QVERIFY(!window->cancelButton()->isEnabled());    // a second press would do nothing
    QVERIFY(window->progress()->phaseText().startsWith(QStringLiteral("Cancelling")));
    gate.release();
    QTRY_COMPARE_WITH_TIMEOUT(done.count(), 1, kJobTimeoutMs);
    QCOMPARE(window->lastOutcome().status, JobOutcome::Status::Cancelled);
    QVERIFY(window->progress()->barValue() > 0);
    QVERIFY(window->progress()->barValue() < window->progress()->barMaximum());
    QVERIFY(!window->cancelButton()->isEnabled());
    QVERIFY(window->generateButton()->isEnabled());
  }

  // Point 1 on a real 1366 × 768 screen (Xvfb): the minimum fits 1024 × 700 with or without an
  // error; Generate and the preview are on screen at 1024 × 700, 1280 × 720 and maximised; the
  // preview grows with the window; the form scrolls under a Generate bar that stays put.
  void layoutFitsALaptopScreen() {
    const QSize screen = testScreen();
    if (screen.isEmpty()) QSKIP("needs a screen of a known size: ctest runs it under Xvfb at 1366 x 768");
    auto window = newWindow();
    QVERIFY(QTest::qWaitForWindowExposed(window.get()));
    QVERIFY(window->width() <= screen.width() && window->height() <= screen.height());

    window->layout()->activate();
    const QSize minimum = window->minimumSizeHint().expandedTo(window->minimumSize());
    QVERIFY2(minimum.width() <= 1024 && minimum.height() <= 700,
             qPrintable(QStringLiteral("%1 x %2").arg(minimum.width()).arg(minimum.height())));
    QVERIFY(!window->restoreFromVideo(dir_.filePath(QStringLiteral("no-such-video.mp4"))));
    QVERIFY(!window->errorText().isEmpty());
    window->layout()->activate();
    QCOMPARE(window->minimumSizeHint().expandedTo(window->minimumSize()), minimum);  // an error does not grow it

    auto* generate = window->generateButton();
    auto* preview = child<QWidget>(window->player(), "frameView");
    QSize small;
    for (const QSize size : {QSize(1024, 700), QSize(1280, 720)}) {
      window->resize(size);
      QTRY_COMPARE(window->size(), size);
      const QRect inside = window->rect();
      QVERIFY2(generate->isVisible() && inside.contains(QRect(generate->mapTo(window.get(), QPoint()), generate->size())),
               qPrintable(QStringLiteral("Generate at %1 x %2").arg(size.width()).arg(size.height())));
      QVERIFY(preview->isVisible() && inside.contains(QRect(preview->mapTo(window.get(), QPoint()), preview->size())));
      if (small.isEmpty()) small = preview->size();
    }

    maximise(*window);
    const QRect onScreen = window->screen()->geometry();
    QVERIFY2(onScreen.contains(globalRect(generate)), "Generate is off the 1366 x 768 screen");
    QVERIFY2(onScreen.contains(globalRect(preview)), "the preview is off the 1366 x 768 screen");
    QVERIFY2(preview->width() > small.width() && preview->height() > small.height(), "the preview did not grow");
    // The preview is the largest thing in the window.
    QVERIFY(preview->width() * preview->height() > window->form()->width() * 300);
    // The stats are one line until opened.
    QVERIFY(window->stats()->height() <= 3 * window->fontMetrics().height());

    // Charts open: the player keeps its minimum and its controls stay below the picture.
    window->stats()->setChartsOpen(true);
    window->layout()->activate();
    QVERIFY(window->minimumSizeHint().height() <= 700);
    auto* play = child<QWidget>(window->player(), "playButton");
    QTRY_VERIFY(child<QWidget>(window->stats(), "statsCharts")->isVisible());
    QVERIFY2(preview->height() >= preview->minimumHeight(), qPrintable(QString::number(preview->height())));
    QVERIFY(preview->mapTo(window.get(), QPoint(0, preview->height())).y() <= play->mapTo(window.get(), QPoint()).y());
    QVERIFY(onScreen.contains(globalRect(generate)));
    window->stats()->setChartsOpen(false);

    // Full screen: the preview keeps all the room it had, still on screen.
    const QSize maximised = preview->size();
    window->showFullScreen();
    QTRY_VERIFY(window->isFullScreen());
    QTRY_COMPARE(window->geometry(), window->screen()->geometry());
    QVERIFY(preview->width() >= maximised.width() && preview->height() >= maximised.height());
    QVERIFY(onScreen.contains(globalRect(preview)));
    QVERIFY(onScreen.contains(globalRect(generate)));
    window->showNormal();
    maximise(*window);

    // Scrolling the (long, advanced) form leaves the Generate bar where it is.
    window->setAdvancedView(true);
    auto* scroll = child<QScrollArea>(window.get(), "settingsScroll");
    QTRY_VERIFY(scroll->verticalScrollBar()->maximum() > 0);
    const QRect before = globalRect(generate);
    scroll->verticalScrollBar()->setValue(scroll->verticalScrollBar()->maximum());
    QCOMPARE(globalRect(generate), before);
    QVERIFY(onScreen.contains(before));
  }

  // Point 8: the main states as PNGs in build/test-artifacts (SKYREELS_TEST_ARTIFACTS), at 1366 × 768.
  void screenshotsOfMainStates() {
    if (testScreen().isEmpty()) QSKIP("needs a screen of a known size: ctest runs it under Xvfb at 1366 x 768");
    if (!haveDemoModel()) QSKIP("this build has no demo model (target skyreels_tiny_model)");
    auto window = newWindow();
    maximise(*window);
    QVERIFY(QTest::qWaitForWindowExposed(window.get()));
    saveShot(*window, "studio-first-launch.png");
    window->setAdvancedView(true);
    saveShot(*window, "studio-advanced-view.png");
    window->setAdvancedView(false);

    // An error next to its field: more frames than one window holds.
    auto* form = window->form();
    auto* length = form->lengthSpin();
    length->setFocus();
    typeInto(length, QStringLiteral("100000"));
    QTest::keyClick(length, Qt::Key_Return);
    QVERIFY(child<QLabel>(form, "problem_num_frames")->isVisible());
    QVERIFY(!window->generateButton()->isEnabled());
    saveShot(*window, "studio-error-next-to-field.png");

    // Rendering: held after the first block, so the picture shows a job half done.
    fillTinyJob(*window, QStringLiteral("a red circle moves right on a black background"), 33, 3);
    BlockGate gate(window->generation()->worker());
    QSignalSpy done(window.get(), &MainWindow::jobCompleted);
    QTest::mouseClick(window->generateButton(), Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(window->player()->frameCount() > 0, kJobTimeoutMs);
    QTRY_VERIFY(!window->player()->latentPreview().isNull());
    window->player()->pause();  // the same frame in every run
    saveShot(*window, "studio-rendering.png");

    gate.release();
    QTRY_COMPARE_WITH_TIMEOUT(done.count(), 1, kJobTimeoutMs);
    QCOMPARE(window->lastOutcome().status, JobOutcome::Status::Finished);
    window->stats()->setChartsOpen(true);
    window->player()->pause();
    window->player()->seek(window->player()->frameCount() / 2);
    QTRY_VERIFY(window->stats()->chartsOpen());
    saveShot(*window, "studio-finished-with-charts.png");

    // The gallery beside the player: the video just made, listed from its file with its thumbnail.
    window->stats()->setChartsOpen(false);
    window->centreTabs()->setCurrentWidget(window->gallery());
    QVERIFY(window->gallery()->count() >= 1);
    QVERIFY(window->gallery()->text(0).contains(QStringLiteral("a red circle moves right")));
    QVERIFY(!window->gallery()->item(0).thumbnail.isNull());
    window->gallery()->selectRow(0);
    saveShot(*window, "studio-finished-with-gallery.png");
  }
};

QTEST_MAIN(StudioLayoutTest)
#include "test_studio_layout.moc"
