#pragma once

#include <torch/nn/module.h>

#include "io/tensor_source.h"

namespace skyreels::model {

// Fills every parameter and buffer of `module` from `source` (names as module.named_parameters()),
// converting dtype and device. Strict: if any tensor is missing, unexpected, or of the wrong shape,
// throws skyreels::Error listing them (all three kinds, a bounded number of each) before copying.
void load_weights_strict(torch::nn::Module& module, const io::TensorSource& source);
// The check alone: throws as load_weights_strict would, copies nothing.
void check_weights_fit(torch::nn::Module& module, const io::TensorSource& source);
// Fills a submodule's parameters and buffers from the tensors named `prefix` + their names (after a
// check_weights_fit of the whole model).
void copy_weights(torch::nn::Module& submodule, const io::TensorSource& source, const std::string& prefix);

// Size of axis `axis` of tensor `key`, for detecting a model's shape from its weights. A missing key
// means the weights are not a `model` checkpoint (NotFound), too few axes a ShapeMismatch.
std::int64_t weight_size(const io::TensorSource& weights, const std::string& key, std::size_t axis, const char* model);

// Number of distinct N among keys "blocks.N.*" (the layer count of the DiT and the T5 encoder).
std::int64_t count_blocks(const io::TensorSource& weights);

// Fills every parameter with N(0, std) from a seeded generator (random weights at real shapes for
// benchmarks and tests); norms' weights are set to 1.
void randomize_weights(torch::nn::Module& module, std::uint64_t seed, double std = 0.02);

}  // namespace skyreels::model
