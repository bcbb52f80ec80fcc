#pragma once

#include <cstdint>
#include <filesystem>

#include <ATen/core/Generator.h>
#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

namespace skyreels::train {

// A training run's state in a folder, so a run cut short (the GPU machine's time is bounded) resumes
// where it stopped and ends exactly where an uninterrupted run would:
//   DIR/model.safetensors  the parameters by name (float32), the step in its metadata and the random
//                          generator's state as the tensor "__generator_state"
//   DIR/optimizer.pt       the optimiser's state (LibTorch's own archive: moments and step counts)
// Each file is written beside its final name and renamed into place, the optimiser first and the model
// (which holds the step) last.
void save_checkpoint(const std::filesystem::path& dir, torch::nn::Module& module, torch::optim::Optimizer& optimizer,
                     std::int64_t step, const at::Generator& generator);

// Restores what save_checkpoint wrote into a module of the same shape, its optimiser and the generator;
// returns the step. Errors (skyreels::Error) name the file: a missing one, a parameter that does not fit.
std::int64_t load_checkpoint(const std::filesystem::path& dir, torch::nn::Module& module,
                             torch::optim::Optimizer& optimizer, at::Generator& generator);

}  // namespace skyreels::train
