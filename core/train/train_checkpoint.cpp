#include "train/train_checkpoint.h"

#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <torch/serialize.h>

#include "io/safetensors.h"
#include "io/tensor_source.h"
#include "model/weights.h"
#include "skyreels/error.h"

namespace skyreels::train {
namespace {

namespace fs = std::filesystem;

constexpr const char* kModelFile = "model.safetensors";
constexpr const char* kOptimizerFile = "optimizer.pt";
constexpr const char* kGeneratorState = "__generator_state";
constexpr const char* kStepKey = "step";

}  // namespace

void save_checkpoint(const fs::path& dir, torch::nn::Module& module, torch::optim::Optimizer& optimizer,
                     std::int64_t step, const at::Generator& generator) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (!fs::is_directory(dir)) throw Error(ErrorCode::BadArgument, dir.string() + ": cannot create the checkpoint folder");
  const auto optimizer_temp = dir / (std::string(kOptimizerFile) + ".partial");
  try {
    torch::save(optimizer, optimizer_temp.string());
  } catch (const c10::Error& e) {
    throw Error(ErrorCode::Runtime, optimizer_temp.string() + ": cannot write the optimiser's state: " + e.what_without_backtrace());
  }
  fs::rename(optimizer_temp, dir / kOptimizerFile, ec);
  if (ec) throw Error(ErrorCode::Runtime, (dir / kOptimizerFile).string() + ": " + ec.message());

  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& p : module.named_parameters(/*recurse=*/true)) tensors.emplace_back(p.key(), p.value().detach());
  for (const auto& b : module.named_buffers(/*recurse=*/true)) tensors.emplace_back(b.key(), b.value().detach());
  tensors.emplace_back(kGeneratorState, generator.get_state());
  io::write_safetensors((dir / kModelFile).string(), tensors, {{kStepKey, std::to_string(step)}});
}

std::int64_t load_checkpoint(const fs::path& dir, torch::nn::Module& module, torch::optim::Optimizer& optimizer,
                             at::Generator& generator) {
  const auto model_path = (dir / kModelFile).string(), optimizer_path = (dir / kOptimizerFile).string();
  std::error_code ec;
  for (const auto& path : {model_path, optimizer_path})
    if (!fs::is_regular_file(path, ec)) throw Error(ErrorCode::NotFound, path + ": no such checkpoint file");
  auto file = std::make_shared<io::SafetensorsFile>(model_path);
  const auto& metadata = file->metadata();
  const auto step_text = metadata.count(kStepKey) ? metadata.at(kStepKey) : std::string();
  if (step_text.empty() || step_text.find_first_not_of("0123456789") != std::string::npos || step_text.size() > 12)
    throw Error(ErrorCode::CorruptFile, model_path + ": no training step in its metadata");
  if (!file->contains(kGeneratorState)) throw Error(ErrorCode::CorruptFile, model_path + ": no generator state");
  const auto generator_state = file->tensor(kGeneratorState).clone();

  // The module's own tensors, strictly (a checkpoint of another shape is an error naming them).
  const auto weights = io::renamed_view(io::safetensors_source(file),
                                        [](const std::string& key) { return key == kGeneratorState ? std::string() : key; },
                                        model_path);
  torch::NoGradGuard no_grad;
  model::load_weights_strict(module, *weights);
  try {
    torch::load(optimizer, optimizer_path);
  } catch (const c10::Error& e) {
    throw Error(ErrorCode::CorruptFile, optimizer_path + ": not an optimiser state for this model: " + e.what_without_backtrace());
  }
  generator.set_state(generator_state);
  return std::stoll(step_text);
}

}  // namespace skyreels::train
