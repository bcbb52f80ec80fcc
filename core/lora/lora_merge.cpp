#include "lora/lora_merge.h"

#include <chrono>
#include <cmath>
#include <memory>
#include <sstream>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "io/safetensors.h"
#include "lora/lora_delta.h"
#include "model/layers.h"
#include "model/wan_dit.h"
#include "skyreels/error.h"
#include "skyreels/log.h"

namespace skyreels::lora {

struct LoraMerger::Source {
  LoraFile lora;
  std::shared_ptr<io::SafetensorsFile> tensors;
  double strength = 1.0;
};

namespace {

std::string strength_text(double strength) {
  std::ostringstream out;
  out << strength;
  return out.str();
}

at::Tensor host_copy(const at::Tensor& t) { return t.device().is_cpu() ? t.clone() : t.to(at::kCPU); }

}  // namespace

LoraMerger::LoraMerger(model::WanDitImpl& dit, io::TensorSourcePtr checkpoint, Requantize requantize)
    : checkpoint_(std::move(checkpoint)), requantize_(std::move(requantize)) {
  if (!requantize_) requantize_ = [](model::LinearImpl& layer, const at::Tensor& w) { layer.requantize_fp8(w); };
  for (const auto& p : dit.named_parameters(/*recurse=*/true)) targets_[p.key()].parameter = p.value();
  // A float8 layer's registered weight is empty; its shape is the float8 buffer's.
  for (const auto& m : dit.named_modules("", /*include_self=*/false)) {
    auto* linear = dynamic_cast<model::LinearImpl*>(m.value().get());
    if (linear && linear->fp8()) targets_.at(m.key() + ".weight").fp8_layer = linear;
  }
  for (const auto& [name, target] : targets_)
    shapes_[name] = target.fp8_layer ? target.fp8_layer->weight_fp8.sizes().vec() : target.parameter.sizes().vec();
}

LoraMerger::~LoraMerger() = default;

MergeReport LoraMerger::apply(const std::vector<LoraUse>& loras) {
  torch::NoGradGuard no_grad;
  const auto start = std::chrono::steady_clock::now();
  MergeReport report;

  // Every file read and checked before any weight changes.
  std::vector<Source> sources;
  sources.reserve(loras.size());
  for (const auto& use : loras) {
    if (!std::isfinite(use.strength))
      throw Error(ErrorCode::BadArgument, "LoRA " + use.path + ": strength " + strength_text(use.strength) +
                                              " is not a finite number");
    Source source;
    source.lora = read_lora_file(use.path);
    check_lora_shapes(source.lora, shapes_);
    for (const auto& entry : source.lora.entries)
      if (targets_.at(entry.target).fp8_layer && !checkpoint_)
        throw Error(ErrorCode::Unsupported, "LoRA " + use.path + ": '" + entry.source_keys().front() + "' changes " +
                                                entry.target + ", a float8 layer, and the checkpoint it was loaded "
                                                "from was not given");
    source.tensors = std::make_shared<io::SafetensorsFile>(use.path);
    source.strength = use.strength;
    sources.push_back(std::move(source));
  }

  // Per parameter, the deltas that change it, in the order of the list.
  std::map<std::string, std::vector<Delta>> plan;
  for (const auto& source : sources) {
    MergedLora merged;
    merged.path = source.lora.path;
    merged.strength = source.strength;
    merged.format = source.lora.format;
    merged.parameters = source.lora.entries.size();
    merged.skipped_image_keys = source.lora.skipped_image_keys.size();
    merged.unmatched_keys = source.lora.unmatched_keys;
    report.loras.push_back(std::move(merged));
    for (const auto& entry : source.lora.entries) plan[entry.target].push_back({&source, &entry});
  }

  try {
    for (auto it = originals_.begin(); it != originals_.end();) {
      if (plan.count(it->first) > 0) {
        ++it;
        continue;
      }
      restore(it->first);
      it = originals_.erase(it);
      ++report.parameters_restored;
    }
    for (const auto& [name, deltas] : plan) merge(name, deltas);
  } catch (...) {
    restore_all();
    throw;
  }
  applied_ = loras;
  report.parameters_merged = plan.size();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const auto log = logger("lora");
  for (const auto& source : sources) {
    if (!source.lora.skipped_image_keys.empty())
      log->warn("LoRA {}: {} image-conditioning keys skipped (the model has no image conditioning), e.g. '{}'",
                source.lora.path, source.lora.skipped_image_keys.size(), source.lora.skipped_image_keys.front());
    if (!source.lora.unmatched_keys.empty()) {
      std::string keys;
      for (const auto& key : source.lora.unmatched_keys) keys += (keys.empty() ? "'" : ", '") + key + "'";
      log->warn("LoRA {}: {} keys match no parameter of the DiT and are ignored: {}", source.lora.path,
                source.lora.unmatched_keys.size(), keys);
    }
  }
  log->info("{} LoRAs merged into {} parameters ({} restored) in {:.3f} s", loras.size(), report.parameters_merged,
            report.parameters_restored, report.seconds);
  return report;
}

void LoraMerger::clear() {
  torch::NoGradGuard no_grad;
  restore_all();
}

std::int64_t LoraMerger::original_bytes() const {
  std::int64_t bytes = 0;
  for (const auto& [name, original] : originals_)
    for (const auto* t : {&original.value, &original.fp8_values, &original.fp8_scale})
      if (t->defined()) bytes += static_cast<std::int64_t>(t->nbytes());
  return bytes;
}

at::Tensor LoraMerger::high_precision_weight(const std::string& name, const Target& target) const {
  if (!target.fp8_layer) return originals_.at(name).value;
  // As the loader fills the bf16 weight it then quantizes: a copy into bf16.
  const auto& shape = shapes_.at(name);
  return at::empty(shape, at::TensorOptions().dtype(at::kBFloat16)).copy_(checkpoint_->tensor(name));
}

void LoraMerger::merge(const std::string& name, const std::vector<Delta>& deltas) {
  const auto& target = targets_.at(name);
  auto& original = originals_[name];
  if (target.fp8_layer && !original.fp8_values.defined()) {
    original.fp8_values = host_copy(target.fp8_layer->weight_fp8);
    original.fp8_scale = host_copy(target.fp8_layer->weight_scale);
  } else if (!target.fp8_layer && !original.value.defined()) {
    original.value = host_copy(target.parameter);
  }
  const auto device = target.fp8_layer ? target.fp8_layer->weight_fp8.device() : target.parameter.device();
  const auto& shape = shapes_.at(name);

  // All deltas summed in float32, added to the original in float32, rounded once.
  at::Tensor sum;
  for (const auto& d : deltas) {
    auto delta = entry_delta(*d.entry, *d.source->tensors, d.source->strength, shape, device);
    sum = sum.defined() ? sum.add_(delta) : delta;
  }
  // A copy even when the original is already float32 on the device: it must stay the original.
  const auto merged = high_precision_weight(name, target).to(device, at::kFloat, false, /*copy=*/true).add_(sum);
  const auto rounded = merged.to(target.fp8_layer ? at::kBFloat16 : target.parameter.scalar_type());
  if (!at::isfinite(rounded).all().item<bool>()) {
    std::string files;
    for (const auto& d : deltas)
      files += (files.empty() ? "" : ", ") + d.source->lora.path + " × " + strength_text(d.source->strength);
    throw Error(ErrorCode::BadArgument, "LoRA merge: " + name + " would hold values beyond its dtype's range (" +
                                            files + "); lower the strength");
  }
  if (target.fp8_layer) requantize_(*target.fp8_layer, rounded);
  else target.parameter.copy_(rounded);
}

void LoraMerger::restore(const std::string& name) {
  const auto& target = targets_.at(name);
  const auto& original = originals_.at(name);
  if (target.fp8_layer) {
    if (!original.fp8_values.defined()) return;  // failed before its copy was made: never changed
    target.fp8_layer->weight_fp8.copy_(original.fp8_values);
    target.fp8_layer->weight_scale.copy_(original.fp8_scale);
  } else if (original.value.defined()) {
    target.parameter.copy_(original.value);
  }
}

void LoraMerger::restore_all() noexcept {
  for (const auto& [name, original] : originals_) {
    try {
      restore(name);
    } catch (const std::exception& e) {
      // A copy back that fails (device memory) leaves this parameter merged: said loudly, never silent.
      logger("lora")->error("LoRA merge: could not restore {}: {}", name, e.what());
    }
  }
  originals_.clear();
  applied_.clear();
}

}  // namespace skyreels::lora
