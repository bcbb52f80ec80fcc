#include "model/weights.h"

#include <regex>
#include <set>
#include <sstream>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "skyreels/error.h"
#include "skyreels/strings.h"
#include "skyreels/log.h"

namespace skyreels::model {
namespace {

std::string shape_text(c10::IntArrayRef shape) { return c10::str(shape); }

// "a, b, c and 12 more"
std::string listing(const std::vector<std::string>& items, std::size_t limit = 12) {
  std::ostringstream out;
  for (std::size_t i = 0; i < items.size() && i < limit; ++i) out << (i ? ", " : "") << items[i];
  if (items.size() > limit) out << " and " << items.size() - limit << " more";
  return out.str();
}

// Every parameter and buffer by its dotted name.
torch::OrderedDict<std::string, at::Tensor> weight_targets(torch::nn::Module& module) {
  auto targets = module.named_parameters(/*recurse=*/true);
  for (const auto& item : module.named_buffers(true)) targets.insert(item.key(), item.value());
  return targets;
}

}  // namespace

void check_weights_fit(torch::nn::Module& module, const io::TensorSource& source) {
  const auto targets = weight_targets(module);
  std::vector<std::string> missing, mismatched, unexpected;
  std::set<std::string> expected;
  for (const auto& item : targets) {
    expected.insert(item.key());
    if (!source.contains(item.key())) {
      missing.push_back(item.key());
      continue;
    }
    const auto shape = source.shape(item.key());
    if (!item.value().sizes().equals(shape))
      mismatched.push_back(item.key() + " " + shape_text(shape) + " (model expects " +
                           shape_text(item.value().sizes()) + ")");
  }
  for (const auto& key : source.keys())
    if (!expected.count(key)) unexpected.push_back(key);

  if (!missing.empty() || !mismatched.empty() || !unexpected.empty()) {
    std::ostringstream message;
    message << source.describe() << ": weights do not fit the model";
    if (!missing.empty()) message << "; missing " << missing.size() << ": " << listing(missing);
    if (!unexpected.empty()) message << "; unexpected " << unexpected.size() << ": " << listing(unexpected);
    if (!mismatched.empty()) message << "; wrong shape " << mismatched.size() << ": " << listing(mismatched);
    throw Error(mismatched.empty() ? ErrorCode::NotFound : ErrorCode::ShapeMismatch, message.str());
  }
}

void copy_weights(torch::nn::Module& submodule, const io::TensorSource& source, const std::string& prefix) {
  torch::NoGradGuard no_grad;
  for (auto& item : weight_targets(submodule)) item.value().copy_(source.tensor(prefix + item.key()));
}

void load_weights_strict(torch::nn::Module& module, const io::TensorSource& source) {
  check_weights_fit(module, source);
  copy_weights(module, source, "");
  logger("model")->debug("loaded {} tensors from {}", weight_targets(module).size(), source.describe());
}

void randomize_weights(torch::nn::Module& module, std::uint64_t seed, double std) {
  torch::NoGradGuard no_grad;
  at::manual_seed(seed);  // the default generator of every device
  for (auto& item : module.named_parameters(true)) {
    auto& p = item.value();
    const auto& name = item.key();
    if (ends_with(name, "norm_q.weight") || ends_with(name, "norm_k.weight") || ends_with(name, "norm3.weight")) {
      p.fill_(1.0);
      continue;
    }
    // Drawn in float32 on the parameter's device, one tensor at a time.
    p.copy_(at::empty(p.sizes(), p.options().dtype(at::kFloat)).normal_(0.0, std));
  }
}
std::int64_t weight_size(const io::TensorSource& w, const std::string& key, std::size_t axis, const char* model) {
  if (!w.contains(key))
    throw Error(ErrorCode::NotFound, w.describe() + ": not a " + model + " checkpoint (no \"" + key + "\")");
  const auto shape = w.shape(key);
  if (shape.size() <= axis)
    throw Error(ErrorCode::ShapeMismatch, w.describe() + ": tensor \"" + key + "\" has too few dimensions");
  return shape[axis];
}

std::int64_t count_blocks(const io::TensorSource& w) {
  std::set<int> block_ids;
  static const std::regex block_key(R"(^blocks\.(\d+)\.)");
  for (const auto& key : w.keys()) {
    std::smatch m;
    if (!std::regex_search(key, m, block_key)) continue;
    // No real model has a million blocks; a longer number is a crafted key, not an overflow to crash on.
    if (m[1].length() > 6) throw Error(ErrorCode::CorruptFile, w.describe() + ": tensor \"" + key + "\" names an impossible block");
    block_ids.insert(std::stoi(m[1]));
  }
  return static_cast<std::int64_t>(block_ids.size());
}

}  // namespace skyreels::model
