#pragma once

#include <torch/nn/module.h>

#include "io/tensor_source.h"

namespace skyreels::model {

// Fills every parameter and buffer of `module` from `source` (names as module.named_parameters()),
// converting dtype and device. Strict: if any tensor is missing, unexpected, or of the wrong shape,
// throws skyreels::Error listing them (all three kinds, a bounded number of each) before copying.
void load_weights_strict(torch::nn::Module& module, const io::TensorSource& source);

// Fills every parameter with N(0, std) from a seeded generator (random weights at real shapes for
// benchmarks and tests); norms' weights are set to 1.
void randomize_weights(torch::nn::Module& module, std::uint64_t seed, double std = 0.02);

}  // namespace skyreels::model
