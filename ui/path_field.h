#pragma once

#include <QString>
#include <QWidget>

class QLineEdit;
class QToolButton;

namespace skyreels::ui {

// A path typed or chosen with a file dialog: a line edit, a browse button and a clear button.
class PathField : public QWidget {
  Q_OBJECT
public:
  enum class Kind { OpenFile = 1, Folder };

  PathField(Kind kind, QString dialogTitle, QString fileFilter = {}, QWidget* parent = nullptr);

  QString path() const;  // trimmed; empty when unset
  void setPath(const QString& path);
  void setPlaceholderText(const QString& text);
  QLineEdit* lineEdit() const { return edit_; }

Q_SIGNALS:
  // After editing finished, a dialog choice or a clear.
  void pathChosen(const QString& path);

private:
  void browse();

  Kind kind_;
  QString title_, filter_;
  QLineEdit* edit_;
  QToolButton* browse_;
  QToolButton* clear_;
};

}  // namespace skyreels::ui
