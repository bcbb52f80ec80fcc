#include "error_banner.h"

#include <QLabel>

namespace skyreels::ui {

ErrorBanner::ErrorBanner(QWidget* parent) : QScrollArea(parent), label_(new QLabel(this)) {
  setObjectName(QStringLiteral("errorBannerArea"));
  label_->setObjectName(QStringLiteral("errorBanner"));
  label_->setWordWrap(true);
  label_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  label_->setStyleSheet(QStringLiteral("background: #fde7e9; color: #8a0010; padding: 6px;"));
  setWidget(label_);
  setWidgetResizable(true);
  setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  setStyleSheet(QStringLiteral("QScrollArea { border: 1px solid #e0a0a8; }"));
  setMaximumHeight(label_->fontMetrics().lineSpacing() * 4 + 16);
  hide();
}

void ErrorBanner::showMessage(const QString& message) {
  label_->setText(message);
  show();
}

void ErrorBanner::clearMessage() {
  label_->clear();
  hide();
}

QString ErrorBanner::message() const { return isHidden() ? QString() : label_->text(); }

QSize ErrorBanner::minimumSizeHint() const { return {QScrollArea::minimumSizeHint().width(), 0}; }

}  // namespace skyreels::ui
