#pragma once

#include <QObject>

class QWidget;

namespace skyreels::ui {

// Keeps the mouse wheel from changing a spin box's or combo box's value while the user scrolls the
// form past it: a field without keyboard focus passes the wheel on to its parent (the scroll area
// scrolls); a focused one (clicked or tabbed into) still takes it.
class WheelGuard : public QObject {
  Q_OBJECT
public:
  explicit WheelGuard(QObject* parent = nullptr);
  // Guards every spin box and combo box under `root` (again after rows were added; a guarded one stays
  // guarded once).
  void guard(QWidget* root);

protected:
  bool eventFilter(QObject* watched, QEvent* event) override;
};

}  // namespace skyreels::ui
