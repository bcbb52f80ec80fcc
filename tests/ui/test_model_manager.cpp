// The model manager widget (ui/model_manager.h) on the offscreen platform, against a local fake of the
// Hugging Face Hub (tests/core/hub/fake_hub.h): a download driven through its buttons shows progress
// without blocking, lands in the Hub cache and is listed complete, ready to use; a cancel keeps the
// partial file and Resume continues it with a Range request; a folder missing a part says which.

#include <filesystem>
#include <fstream>
#include <memory>

#include <QDir>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTreeWidget>
#include <QtTest>

#include "core/hub/fake_hub.h"
#include "core/hub/tiny_model_files.h"
#include "model_manager.h"

using namespace skyreels;
using namespace skyreels::ui;

namespace {

constexpr int kTimeoutMs = 60 * 1000;
const std::string kRepo = "Test/Tiny-DF";
const std::string kCommit = "89abcdef0123456789abcdef0123456789abcdef";

template <typename T>
T* child(QWidget* parent, const QString& name) {
  auto* widget = parent->findChild<T*>(name);
  if (!widget) qFatal("no widget named %s", qPrintable(name));
  return widget;
}

std::vector<OfficialModel> tinyCatalog() { return {{"tiny-df", kRepo, "a tiny test model", 2000000}}; }

}  // namespace

class TestModelManager : public QObject {
  Q_OBJECT

private Q_SLOTS:
  void init() {
    cache_ = std::make_unique<QTemporaryDir>();
    models_ = std::make_unique<QTemporaryDir>();
    hub_ = std::make_unique<test::FakeHub>(std::vector<test::FakeRepo>{{kRepo, kCommit, test::tiny_model_files()}});
    widget_ = std::make_unique<ModelManagerWidget>();
    widget_->setModelsDirs({models_->path()});
    widget_->setHubCacheDir(cache_->path());
    widget_->setEndpoint(QString::fromStdString(hub_->endpoint()));
    widget_->setDownloadableModels(tinyCatalog());
    widget_->resize(900, 600);
    widget_->show();
  }

  void cleanup() {
    widget_.reset();
    hub_.reset();
  }

  void downloadShowsProgressAndIsListedComplete() {
    if (!download_available()) QSKIP("built without libcurl");
    hub_->set_piece_delay_ms(5);
    QSignalSpy progress(widget_.get(), &ModelManagerWidget::downloadProgress);
    QSignalSpy finished(widget_.get(), &ModelManagerWidget::downloadFinished);
    QSignalSpy chosen(widget_.get(), &ModelManagerWidget::modelChosen);
    auto* download = child<QPushButton>(widget_.get(), "download:tiny-df");
    QCOMPARE(download->text(), QStringLiteral("Download"));
    QTest::mouseClick(download, Qt::LeftButton);
    // The click returns at once: the download runs on the worker thread.
    QVERIFY(widget_->isDownloading());
    QVERIFY(!download->isEnabled());
    QVERIFY(child<QPushButton>(widget_.get(), "cancel:tiny-df")->isEnabled());
    QVERIFY(finished.wait(kTimeoutMs) || finished.count() == 1);
    QCOMPARE(finished.count(), 1);
    QVERIFY2(finished.at(0).at(1).toBool(), qPrintable(finished.at(0).at(2).toString()));
    QVERIFY(progress.count() >= 2);
    const auto last = progress.last();
    QCOMPARE(last.at(1).toLongLong(), last.at(2).toLongLong());
    auto* bar = child<QProgressBar>(widget_.get(), "progress:tiny-df");
    QCOMPARE(bar->value(), bar->maximum());
    QVERIFY(child<QLabel>(widget_.get(), "status:tiny-df")->text().contains(QStringLiteral("verified")));
    QVERIFY(!widget_->isDownloading());

    // Listed complete, selected, and "Use this model" hands over the snapshot folder.
    auto* list = child<QTreeWidget>(widget_.get(), "foundModels");
    QCOMPARE(list->topLevelItemCount(), 1);
    QCOMPARE(list->topLevelItem(0)->text(0), QStringLiteral("demo"));
    QCOMPARE(list->topLevelItem(0)->text(1), QStringLiteral("complete"));
    auto* use = child<QPushButton>(widget_.get(), "useModel");
    QVERIFY(use->isEnabled());
    QTest::mouseClick(use, Qt::LeftButton);
    QCOMPARE(chosen.count(), 1);
    const auto expected = std::filesystem::path(cache_->path().toStdString()) / "models--Test--Tiny-DF" / "snapshots" / kCommit;
    QCOMPARE(chosen.at(0).at(0).toString(), QString::fromStdString(expected.string()));
    QCOMPARE(download->text(), QStringLiteral("Check again"));
    // For the screenshot set (issue 25, point 8): the manager after a download.
    QDir().mkpath(QStringLiteral(SKYREELS_TEST_ARTIFACTS_DIR));
    QVERIFY(widget_->grab().save(QStringLiteral(SKYREELS_TEST_ARTIFACTS_DIR "/model-manager.png")));
  }

  void cancelKeepsThePartialAndResumeContinues() {
    if (!download_available()) QSKIP("built without libcurl");
    hub_->set_piece_delay_ms(40);
    QSignalSpy progress(widget_.get(), &ModelManagerWidget::downloadProgress);
    QSignalSpy finished(widget_.get(), &ModelManagerWidget::downloadFinished);
    QVERIFY(widget_->startDownload(QStringLiteral("tiny-df")));
    QVERIFY(!widget_->startDownload(QStringLiteral("tiny-df")));  // one at a time
    // Cancel once part of the weights has arrived.
    QTRY_VERIFY_WITH_TIMEOUT(widget_->isDownloading() && progress.count() > 0 && progress.last().at(1).toLongLong() > 200000,
                             kTimeoutMs);
    QTest::mouseClick(child<QPushButton>(widget_.get(), "cancel:tiny-df"), Qt::LeftButton);
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, kTimeoutMs);
    QVERIFY(!finished.at(0).at(1).toBool());
    QVERIFY(child<QLabel>(widget_.get(), "status:tiny-df")->text().startsWith(QStringLiteral("Cancelled")));
    auto* download = child<QPushButton>(widget_.get(), "download:tiny-df");
    QVERIFY(download->isEnabled());

    hub_->set_piece_delay_ms(0);
    QTest::mouseClick(download, Qt::LeftButton);
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 2, kTimeoutMs);
    QVERIFY2(finished.at(1).at(1).toBool(), qPrintable(finished.at(1).at(2).toString()));
    bool resumed = false;
    for (const auto& r : hub_->requests()) resumed = resumed || (r.method == "GET" && r.range.rfind("bytes=", 0) == 0);
    QVERIFY(resumed);
    QCOMPARE(child<QTreeWidget>(widget_.get(), "foundModels")->topLevelItem(0)->text(1), QStringLiteral("complete"));
  }

  void incompleteFolderSaysWhatIsMissing() {
    const auto folder = std::filesystem::path(models_->path().toStdString()) / "my-model";
    for (const auto& file : test::tiny_model_files()) {
      if (file.path == "Wan2.1_VAE.safetensors") continue;
      std::filesystem::create_directories((folder / file.path).parent_path());
      std::ofstream(folder / file.path, std::ios::binary) << file.content;
    }
    child<QPushButton>(widget_.get(), "refreshModels")->click();
    auto* list = child<QTreeWidget>(widget_.get(), "foundModels");
    QCOMPARE(list->topLevelItemCount(), 1);
    QVERIFY2(list->topLevelItem(0)->text(1).startsWith(QStringLiteral("incomplete: missing Wan2.1_VAE.pth")),
             qPrintable(list->topLevelItem(0)->text(1)));
    list->setCurrentItem(list->topLevelItem(0));
    QVERIFY(!child<QPushButton>(widget_.get(), "useModel")->isEnabled());
  }

private:
  std::unique_ptr<QTemporaryDir> cache_, models_;
  std::unique_ptr<test::FakeHub> hub_;
  std::unique_ptr<ModelManagerWidget> widget_;
};

QTEST_MAIN(TestModelManager)
#include "test_model_manager.moc"
