#include "lora_list.h"

#include <algorithm>

#include <QCheckBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QPushButton>
#include <QTableWidget>
#include <QVBoxLayout>

#include "skyreels/limits.h"

namespace skyreels::ui {
namespace {

enum Column { kOn = 0, kFile = 1, kStrength = 2 };

}  // namespace

LoraList::LoraList(QWidget* parent)
    : QWidget(parent), table_(new QTableWidget(0, 3, this)), add_(new QPushButton(tr("Add…"), this)),
      remove_(new QPushButton(tr("Remove"), this)) {
  table_->setObjectName(QStringLiteral("loraTable"));
  add_->setObjectName(QStringLiteral("addLora"));
  remove_->setObjectName(QStringLiteral("removeLora"));
  table_->setHorizontalHeaderLabels({tr("On"), tr("File"), tr("Strength")});
  table_->horizontalHeader()->setSectionResizeMode(kFile, QHeaderView::Stretch);
  table_->horizontalHeader()->setSectionResizeMode(kOn, QHeaderView::ResizeToContents);
  table_->horizontalHeader()->setSectionResizeMode(kStrength, QHeaderView::ResizeToContents);
  table_->verticalHeader()->hide();
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->setMinimumHeight(table_->fontMetrics().lineSpacing() * 5);
  add_->setToolTip(tr("LoRA files (.safetensors): Wan-native / ComfyUI, kohya / musubi or diffusers keys, and "
                      "step-distillation LoRAs (with the few-step preset)"));
  remove_->setEnabled(false);

  auto* buttons = new QHBoxLayout;
  buttons->addWidget(add_);
  buttons->addWidget(remove_);
  buttons->addStretch(1);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(table_);
  layout->addLayout(buttons);

  connect(add_, &QPushButton::clicked, this, &LoraList::browse);
  connect(remove_, &QPushButton::clicked, this, &LoraList::removeSelected);
  connect(table_, &QTableWidget::itemSelectionChanged, this,
          [this] { remove_->setEnabled(!table_->selectionModel()->selectedRows().isEmpty()); });
}

std::vector<StudioLora> LoraList::loras() const {
  std::vector<StudioLora> out;
  for (int r = 0; r < table_->rowCount(); ++r) {
    StudioLora l;
    l.lora = rows_[static_cast<std::size_t>(r)];
    l.lora.strength = strengthSpin(r)->value();
    l.enabled = enabledBox(r)->isChecked();
    out.push_back(l);
  }
  return out;
}

std::vector<LoraSetting> LoraList::enabledLoras() const {
  std::vector<LoraSetting> out;
  for (const auto& l : loras())
    if (l.enabled) out.push_back(l.lora);
  return out;
}

void LoraList::setLoras(const std::vector<StudioLora>& loras) {
  {
    const QSignalBlocker block(this);  // one changed() for the whole list
    table_->setRowCount(0);
    rows_.clear();
    for (const auto& l : loras) appendRow(l);
  }
  Q_EMIT changed();
}

void LoraList::addFiles(const QStringList& paths) {
  for (const auto& path : paths) {
    StudioLora l;
    l.lora.path = path.toStdString();
    appendRow(l);
  }
  if (!paths.isEmpty()) Q_EMIT changed();
}

void LoraList::removeRow(int row) {
  if (row < 0 || row >= table_->rowCount()) return;
  table_->removeRow(row);
  rows_.erase(rows_.begin() + row);
  Q_EMIT changed();
}

QCheckBox* LoraList::enabledBox(int row) const {
  // The box sits centred in a holder widget, found by its object name.
  auto* cell = table_->cellWidget(row, kOn);
  return cell ? cell->findChild<QCheckBox*>(QStringLiteral("loraEnabled")) : nullptr;
}

QDoubleSpinBox* LoraList::strengthSpin(int row) const {
  return qobject_cast<QDoubleSpinBox*>(table_->cellWidget(row, kStrength));
}

void LoraList::appendRow(const StudioLora& l) {
  const int r = table_->rowCount();
  table_->insertRow(r);
  rows_.push_back(l.lora);

  auto* holder = new QWidget(table_);
  auto* box = new QCheckBox(holder);
  box->setObjectName(QStringLiteral("loraEnabled"));
  box->setChecked(l.enabled);
  box->setToolTip(tr("Off: kept in the list, not merged into the model"));
  auto* centre = new QHBoxLayout(holder);
  centre->setContentsMargins(4, 0, 4, 0);
  centre->addWidget(box, 0, Qt::AlignCenter);
  table_->setCellWidget(r, kOn, holder);

  const auto path = QString::fromStdString(l.lora.path);
  auto* file = new QTableWidgetItem(QFileInfo(path).fileName());
  file->setToolTip(path);
  table_->setItem(r, kFile, file);

  auto* strength = new QDoubleSpinBox(table_);
  strength->setObjectName(QStringLiteral("loraStrength"));
  strength->setRange(-limits::kMaxLoraStrength, limits::kMaxLoraStrength);
  strength->setDecimals(2);
  strength->setSingleStep(0.05);
  strength->setValue(l.lora.strength);
  strength->setToolTip(tr("Scales the LoRA's change (1: as trained; 0: none; negative: the opposite)"));
  table_->setCellWidget(r, kStrength, strength);

  connect(box, &QCheckBox::toggled, this, &LoraList::changed);
  connect(strength, qOverload<double>(&QDoubleSpinBox::valueChanged), this, &LoraList::changed);
}

void LoraList::browse() {
  const auto paths = QFileDialog::getOpenFileNames(this, tr("Add LoRAs"), QString(), tr("LoRA files (*.safetensors)"));
  addFiles(paths);
}

void LoraList::removeSelected() {
  auto rows = table_->selectionModel()->selectedRows();
  std::sort(rows.begin(), rows.end(), [](const QModelIndex& a, const QModelIndex& b) { return a.row() > b.row(); });
  for (const auto& index : rows) removeRow(index.row());
}

}  // namespace skyreels::ui
