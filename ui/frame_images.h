#pragma once

#include <QImage>
#include <QSize>
#include <QVector>

#include "skyreels/events.h"

namespace skyreels::ui {

// Decoded frames (RGB, uint8) as images, each scaled down to fit `limit` when larger (the player keeps
// many; the file gets the full frames). The images own their pixels.
QVector<QImage> framesToImages(const Frames& frames, QSize limit);

// The engine's RGB image as a QImage with its own pixels (a null image for an empty one).
QImage toQImage(const Image& image);

}  // namespace skyreels::ui
