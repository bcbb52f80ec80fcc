#pragma once

#include <QDateTime>
#include <QHash>
#include <QImage>
#include <QVector>
#include <QWidget>

class QLabel;
class QListWidget;
class QPushButton;

namespace skyreels::ui {

// One video of the gallery, as its file tells (skyreels::read_video_summary): what was asked, with
// which seed and model, how long it is, when it was made.
struct GalleryItem {
  QString path;
  QString prompt;
  quint64 seed = 0;
  qint64 frames = 0, framesPlanned = 0;
  double fps = 0;
  QString model;
  QDateTime created;  // local time
  QImage thumbnail;
  bool partial() const { return framesPlanned > 0 && frames < framesPlanned; }
};

// Issue 25's gallery: every video this app made in the output folder (finished, or cancelled with
// the frames it kept), newest first, each with its first frame, prompt, seed, length, model and date.
// Double-click (or Play) plays it; Use these settings loads its stored settings into the form; Open
// folder and Reveal file show it in the desktop's file manager; Delete asks, then moves it to the
// trash. The widget lists and asks; MainWindow plays and fills the form (playRequested,
// useSettingsRequested).
class GalleryWidget : public QWidget {
  Q_OBJECT
public:
  explicit GalleryWidget(QWidget* parent = nullptr);

  // The folder listed; refreshes when it changes.
  void setFolder(const QString& folder);
  QString folder() const { return folder_; }

  int count() const { return static_cast<int>(items_.size()); }
  const GalleryItem& item(int row) const { return items_.at(row); }
  QString text(int row) const;  // as listed
  int selectedRow() const;
  void selectRow(int row);

public Q_SLOTS:
  // Reads the folder again (a file's summary is read once, until it changes).
  void refresh();
  bool playSelected();
  bool useSelectedSettings();
  void openFolder();
  bool revealSelected();
  // Asks first; true when the file was deleted.
  bool deleteSelected();

Q_SIGNALS:
  void playRequested(const QString& path);
  void useSettingsRequested(const QString& path);

private:
  struct Cached {
    QDateTime modified;
    qint64 size = 0;
    GalleryItem item;
  };
  void updateButtons();

  QString folder_;
  QVector<GalleryItem> items_;
  QHash<QString, Cached> cache_;
  QLabel* heading_;
  QListWidget* list_;
  QPushButton* play_;
  QPushButton* useSettings_;
  QPushButton* openFolder_;
  QPushButton* reveal_;
  QPushButton* delete_;
  QPushButton* refresh_;
};

}  // namespace skyreels::ui
