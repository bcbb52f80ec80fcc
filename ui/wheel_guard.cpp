#include "wheel_guard.h"

#include <QAbstractSpinBox>
#include <QApplication>
#include <QComboBox>
#include <QEvent>
#include <QWidget>

namespace skyreels::ui {

WheelGuard::WheelGuard(QObject* parent) : QObject(parent) {}

void WheelGuard::guard(QWidget* root) {
  auto protect = [this](QWidget* field) {
    // The wheel must not give focus either, or the second notch would change the value.
    field->setFocusPolicy(Qt::StrongFocus);
    field->installEventFilter(this);  // installing twice keeps one filter
  };
  for (auto* spin : root->findChildren<QAbstractSpinBox*>()) protect(spin);
  for (auto* combo : root->findChildren<QComboBox*>()) protect(combo);
}

bool WheelGuard::eventFilter(QObject* watched, QEvent* event) {
  if (event->type() != QEvent::Wheel) return false;
  auto* field = qobject_cast<QWidget*>(watched);
  if (!field || field->hasFocus()) return false;
  // Scroll what is around the field instead: the parent chain up to the scroll area's viewport.
  if (auto* parent = field->parentWidget()) QApplication::sendEvent(parent, event);
  return true;
}

}  // namespace skyreels::ui
