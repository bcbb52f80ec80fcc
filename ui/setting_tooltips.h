#pragma once

#include <QString>

class QWidget;

namespace skyreels::ui {

// What each setting of the form does, in plain words, in one table (setting_tooltips.cpp), keyed by
// the field's object name ("arStep", "causalBlockSize", ...). An empty string for a name it lacks.
QString settingTooltip(const QString& fieldName);

// Gives every field under `form` whose object name the table knows its tooltip, and each form row's
// label the tooltip of its field, so hovering the name explains it too.
void applySettingTooltips(QWidget* form);

}  // namespace skyreels::ui
