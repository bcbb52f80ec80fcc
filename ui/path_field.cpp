#include "path_field.h"

#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLineEdit>
#include <QToolButton>

namespace skyreels::ui {

PathField::PathField(Kind kind, QString dialogTitle, QString fileFilter, QWidget* parent)
    : QWidget(parent), kind_(kind), title_(std::move(dialogTitle)), filter_(std::move(fileFilter)),
      edit_(new QLineEdit(this)), browse_(new QToolButton(this)), clear_(new QToolButton(this)) {
  auto* layout = new QHBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(edit_, 1);
  layout->addWidget(browse_);
  layout->addWidget(clear_);
  browse_->setText(tr("…"));
  browse_->setToolTip(title_);
  clear_->setText(tr("×"));
  clear_->setToolTip(tr("Clear"));
  connect(browse_, &QToolButton::clicked, this, &PathField::browse);
  connect(clear_, &QToolButton::clicked, this, [this] {
    edit_->clear();
    Q_EMIT pathChosen(QString());
  });
  connect(edit_, &QLineEdit::editingFinished, this, [this] { Q_EMIT pathChosen(path()); });
}

QString PathField::path() const { return edit_->text().trimmed(); }

void PathField::setPath(const QString& path) { edit_->setText(path); }

void PathField::setPlaceholderText(const QString& text) { edit_->setPlaceholderText(text); }

void PathField::browse() {
  const QString start = path().isEmpty() ? QString() : QFileInfo(path()).absolutePath();
  const QString chosen = kind_ == Kind::Folder ? QFileDialog::getExistingDirectory(this, title_, path())
                                               : QFileDialog::getOpenFileName(this, title_, start, filter_);
  if (chosen.isEmpty()) return;
  edit_->setText(chosen);
  Q_EMIT pathChosen(chosen);
}

}  // namespace skyreels::ui
