#pragma once

#include <functional>

#include <QUrl>

namespace skyreels::ui {

// Opening a folder or a file in the desktop's own program (QDesktopServices::openUrl). Every such
// action of the app goes through openWithDesktop, so a test can put an observer in its place
// instead of starting a file manager.
using UrlOpener = std::function<bool(const QUrl&)>;

bool openWithDesktop(const QUrl& url);
// Replaces the opener (an empty one: QDesktopServices again); returns the one it replaced.
UrlOpener setUrlOpener(UrlOpener opener);

}  // namespace skyreels::ui
