#pragma once

#include <vector>

#include <QStringList>
#include <QWidget>

#include "studio_job.h"

class QCheckBox;
class QDoubleSpinBox;
class QPushButton;
class QTableWidget;

namespace skyreels::ui {

// The form's LoRAs: one row each with an on/off box, the file's name (its path in the tooltip) and a
// strength; Add… picks .safetensors files with a file dialog, Remove drops the selected rows. Rows keep
// what a restored video recorded about their file (size, hash), so the engine can tell a changed file.
class LoraList : public QWidget {
  Q_OBJECT
public:
  explicit LoraList(QWidget* parent = nullptr);

  // Every row, in order, disabled ones included.
  std::vector<StudioLora> loras() const;
  // The enabled rows, as the engine takes them.
  std::vector<LoraSetting> enabledLoras() const;
  void setLoras(const std::vector<StudioLora>& loras);

  // What Add… does after its dialog: one enabled row at strength 1 per file.
  void addFiles(const QStringList& paths);
  void removeRow(int row);

  // For the app's helpers and the UI tests (the widgets also have object names).
  QTableWidget* table() const { return table_; }
  QCheckBox* enabledBox(int row) const;
  QDoubleSpinBox* strengthSpin(int row) const;
  QPushButton* addButton() const { return add_; }
  QPushButton* removeButton() const { return remove_; }

Q_SIGNALS:
  void changed();

private:
  void appendRow(const StudioLora& lora);
  void browse();
  void removeSelected();

  QTableWidget* table_;
  QPushButton* add_;
  QPushButton* remove_;
  std::vector<LoraSetting> rows_;  // each row's file and what was recorded about it (strength: the spin box's)
};

}  // namespace skyreels::ui
