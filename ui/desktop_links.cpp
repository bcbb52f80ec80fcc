#include "desktop_links.h"

#include <QDesktopServices>

namespace skyreels::ui {
namespace {

UrlOpener& currentOpener() {
  static UrlOpener opener;
  return opener;
}

}  // namespace

bool openWithDesktop(const QUrl& url) {
  const auto& opener = currentOpener();
  return opener ? opener(url) : QDesktopServices::openUrl(url);
}

UrlOpener setUrlOpener(UrlOpener opener) {
  auto previous = std::move(currentOpener());
  currentOpener() = std::move(opener);
  return previous;
}

}  // namespace skyreels::ui
