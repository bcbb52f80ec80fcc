// skyreels-studio: the desktop app. `--screenshot FILE` runs one generation with the form's model
// (the demo model unless --model is given), saves the window as a PNG and exits (used by the Xvfb test).

#include <cstdio>
#include <cstring>

#include <QApplication>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QSpinBox>
#include <QCommandLineParser>
#include <QDir>
#include <QFileInfo>
#include <QTimer>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "main_window.h"
#include "settings_form.h"
#include "skyreels/cpu_threads.h"
#include "skyreels/version.h"
#include "studio_job.h"

namespace {

using skyreels::ui::JobOutcome;
using skyreels::ui::MainWindow;

// Exit codes of a screenshot run.
enum ScreenshotExit { kShotSaved = 0, kShotNotSaved = 1, kShotTimedOut = 2 };

bool saveScreenshot(MainWindow& window, const QString& path) {
  QDir().mkpath(QFileInfo(path).absolutePath());
  return window.grab().save(path, "PNG");
}

// The model's recommended settings (not the user's saved form, so the picture is the same on every
// machine), writing the video beside the screenshot.
void prepareScreenshotForm(MainWindow& window, const QString& path) {
  window.setPersistSettings(false);
  skyreels::ui::StudioJob job = window.form()->job();
  job.randomSeed = false;
  job.settings.prompt.clear();  // the model's own example prompt
  job.startImage.clear();
  job.endImage.clear();
  job.extendVideo.clear();
  job.outputFolder = QFileInfo(path).absolutePath();
  window.form()->setJob(job);
  window.form()->applyRecommendedSettings();
}

// Generates once, then saves the window and exits.
void runScreenshot(MainWindow& window, const QString& path, int timeoutSeconds) {
  QObject::connect(&window, &MainWindow::jobCompleted, &window, [&window, path](const JobOutcome& outcome) {
    // A moment for the encoded file to reach the player and the plots to repaint.
    QTimer::singleShot(500, &window, [&window, path, outcome] {
      const bool saved = saveScreenshot(window, path);
      std::fprintf(stderr, "skyreels-studio: %s %s (job %s, %lld frames)\n", saved ? "saved" : "could not save",
                   qPrintable(path), outcome.status == JobOutcome::Status::Finished ? "finished" : "did not finish",
                   static_cast<long long>(outcome.framesWritten));
      QApplication::exit(saved ? kShotSaved : kShotNotSaved);
    });
  });
  QTimer::singleShot(timeoutSeconds * 1000, &window, [&window, path] {
    saveScreenshot(window, path);
    std::fprintf(stderr, "skyreels-studio: the generation did not end in time; saved the window as it is\n");
    QApplication::exit(kShotTimedOut);
  });
  QTimer::singleShot(0, &window, &MainWindow::generate);
}

}  // namespace

int main(int argc, char** argv) {
  // Answered before QApplication, so it needs no display at all.
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--version") == 0 || std::strcmp(argv[i], "-v") == 0) {
      std::printf("skyreels-studio %s\n", skyreels::kVersion);
      return 0;
    }
  }

  // The engine's log goes to stderr, as the CLI's does (spdlog's default is stdout); the app writes no log file.
  spdlog::set_default_logger(spdlog::stderr_color_mt("skyreels"));
  skyreels::use_all_cpu_cores();

  QApplication app(argc, argv);
  QApplication::setOrganizationName(QStringLiteral("SkyReels"));
  QApplication::setApplicationName(QStringLiteral("SkyReels Studio"));
  QApplication::setApplicationVersion(QString::fromLatin1(skyreels::kVersion));
  // Matches the installed skyreels-studio.desktop, so the desktop shows its icon for the window.
  QGuiApplication::setDesktopFileName(QStringLiteral("skyreels-studio"));

  QCommandLineParser parser;
  parser.setApplicationDescription(QStringLiteral("SkyReels-V2 diffusion-forcing video generation"));
  parser.addHelpOption();
  parser.addOption({QStringLiteral("version"), QStringLiteral("Print the version and exit.")});
  const QCommandLineOption model(QStringLiteral("model"), QStringLiteral("Model folder (default: the embedded demo model)."),
                                 QStringLiteral("DIR"));
  const QCommandLineOption screenshot(QStringLiteral("screenshot"),
                                      QStringLiteral("Generate once, save the window as a PNG and exit."),
                                      QStringLiteral("FILE"));
  const QCommandLineOption timeout(QStringLiteral("screenshot-timeout"),
                                   QStringLiteral("Seconds to wait for the generation in --screenshot mode (default 600)."),
                                   QStringLiteral("SECONDS"), QStringLiteral("600"));
  const QCommandLineOption frames(QStringLiteral("frames"), QStringLiteral("Length in frames (snapped to a valid count)."),
                                  QStringLiteral("N"));
  const QCommandLineOption steps(QStringLiteral("steps"), QStringLiteral("Denoising steps."), QStringLiteral("N"));
  parser.addOptions({model, frames, steps, screenshot, timeout});
  parser.process(app);

  MainWindow window;
  auto* form = window.form();
  if (parser.isSet(model)) {
    auto job = form->job();
    job.modelFolder = parser.value(model);
    form->setJob(job);
    form->applyRecommendedSettings();
  }
  if (parser.isSet(screenshot)) prepareScreenshotForm(window, parser.value(screenshot));
  if (parser.isSet(frames)) {
    form->lengthUnitBox()->setCurrentIndex(0);
    form->lengthSpin()->setValue(parser.value(frames).toDouble());
  }
  if (parser.isSet(steps)) form->stepsSpin()->setValue(parser.value(steps).toInt());
  window.show();
  if (parser.isSet(screenshot)) runScreenshot(window, parser.value(screenshot), parser.value(timeout).toInt());
  return QApplication::exec();
}
