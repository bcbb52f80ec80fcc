#pragma once

// Small helpers the desktop app's tests share: finding a widget by object name, typing as a user does.

#include <QString>
#include <QWidget>
#include <QtTest>

namespace skyreels::ui::test {

template <typename T>
T* child(QWidget* parent, const char* name) {
  auto* widget = parent->findChild<T*>(QString::fromLatin1(name));
  if (!widget) qFatal("no widget named %s", name);
  return widget;
}

// Replaces a text field's contents the way a user does: select all, type.
inline void typeInto(QWidget* field, const QString& text) {
  QTest::keyClick(field, Qt::Key_A, Qt::ControlModifier);
  QTest::keyClick(field, Qt::Key_Delete);
  QTest::keyClicks(field, text);
}

// Where a widget is on the screen.
inline QRect globalRect(const QWidget* widget) { return {widget->mapToGlobal(QPoint(0, 0)), widget->size()}; }

}  // namespace skyreels::ui::test
