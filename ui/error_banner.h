#pragma once

#include <QScrollArea>

class QLabel;

namespace skyreels::ui {

// The message of a failed job or an unusable file, above the results, in plain sight and selectable.
// At most a few lines tall: a long message scrolls inside it. It asks for no minimum height, so
// showing it never makes the window's minimum larger (on a laptop screen the window would no longer
// fit); it takes the room of its text when there is room.
class ErrorBanner : public QScrollArea {
  Q_OBJECT
public:
  explicit ErrorBanner(QWidget* parent = nullptr);

  void showMessage(const QString& message);
  void clearMessage();  // and hides
  QString message() const;  // empty while hidden

  QSize minimumSizeHint() const override;

private:
  QLabel* label_;
};

}  // namespace skyreels::ui
