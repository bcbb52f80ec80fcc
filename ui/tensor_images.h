#pragma once

#include <ATen/core/Tensor.h>
#include <QImage>
#include <QSize>
#include <QVector>

namespace skyreels::ui {

// Decoded frames uint8 [n, H, W, 3] (any device) as RGB images, each scaled down to fit `limit` when
// larger (the player keeps many; the file gets the full frames). The images own their pixels.
QVector<QImage> framesToImages(const at::Tensor& frames, QSize limit);

// A look at a window's latents [C, F, h, w] (C = 16 for Wan) without the VAE: up to `maxFrames` evenly
// spaced latent frames side by side, at latent size (1/8 of the video's).
//
// Colours come from the latents themselves: the three principal components of the channels (a C x C
// covariance and its eigenvectors, so the cost is one small matmul beside the model's), each shown
// as ±2.5 standard deviations around mid-grey. Unlike a fixed latent→RGB matrix fitted to one VAE,
// this works for any model, the demo's random one included; it shows structure and motion, not the
// true colours. Each component's largest coefficient is made positive so colours do not flip
// between rows.
QImage latentPreviewImage(const at::Tensor& latents, int maxFrames = 8);

}  // namespace skyreels::ui
