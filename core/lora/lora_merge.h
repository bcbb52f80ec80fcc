#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "io/tensor_source.h"
#include "lora/lora_file.h"

namespace skyreels::model {
class LinearImpl;
class WanDitImpl;
}  // namespace skyreels::model

namespace skyreels::lora {

// One LoRA of a job, and how strongly it applies.
struct LoraUse {
  std::string path;
  double strength = 1.0;
};

// What one merged LoRA changed, for events and logs.
struct MergedLora {
  std::string path;
  double strength = 1.0;
  LoraFormat format = LoraFormat::WanNative;
  std::size_t parameters = 0;          // parameters of the DiT it changes
  std::size_t skipped_image_keys = 0;  // image-conditioning keys, of no use to a T2V model
  std::vector<std::string> unmatched_keys;
};

struct MergeReport {
  std::vector<MergedLora> loras;
  std::size_t parameters_merged = 0;    // parameters holding a delta now
  std::size_t parameters_restored = 0;  // parameters no LoRA changes any more, back to their originals
  double seconds = 0;
};

// LoRAs merged into a loaded DiT in place, and changed or removed between jobs without reloading it.
// Before a parameter first changes, a host copy of it is kept (a float8 layer: its float8 values and
// scales); every merge starts again from that copy and a removal copies it back, so no rounding ever
// accumulates and the original returns bit for bit. Per parameter, the deltas of all LoRAs are summed
// in float32 and added to the original in float32, then rounded once to the parameter's dtype.
// A float8 layer keeps no high-precision weight: its weight is read from the checkpoint the model was
// loaded from (as the loader rounds it, to bf16), merged the same way, and quantized again as loading
// quantizes it.
class LoraMerger {
public:
  // How a float8 layer's weight is made from its merged bf16 weight; by default
  // LinearImpl::requantize_fp8, the loader's quantization. (Tests on machines without float8 replace it.)
  using Requantize = std::function<void(model::LinearImpl& layer, const at::Tensor& weight)>;

  // `dit` must outlive the merger. `checkpoint`: the weights `dit` was loaded from (official names),
  // needed only when a LoRA changes a float8 layer.
  explicit LoraMerger(model::WanDitImpl& dit, io::TensorSourcePtr checkpoint = nullptr, Requantize requantize = {});
  ~LoraMerger();
  LoraMerger(const LoraMerger&) = delete;
  LoraMerger& operator=(const LoraMerger&) = delete;

  // Makes the model's LoRAs exactly `loras` (empty: none), in that order. Every file is read and
  // checked first (read_lora_file, check_lora_shapes, a finite strength); an Error then leaves the
  // model as it was. A failure while writing (memory; a delta that overflows the weight's dtype, an
  // Error(BadArgument) naming the parameter and the files) puts every parameter back to its original
  // before it is rethrown, and applied() is then empty.
  MergeReport apply(const std::vector<LoraUse>& loras);
  // Every parameter back to its original, bit for bit; the host copies are freed.
  void clear();

  const std::vector<LoraUse>& applied() const noexcept { return applied_; }
  // Host memory of the originals kept (bytes).
  std::int64_t original_bytes() const;

private:
  // A parameter a LoRA may change: the model's own tensor, or the float8 layer whose weight it is.
  struct Target {
    at::Tensor parameter;
    model::LinearImpl* fp8_layer = nullptr;
  };
  struct Original {
    at::Tensor value;                  // host copy of the parameter
    at::Tensor fp8_values, fp8_scale;  // a float8 layer's buffers, host copies
  };
  struct Source;  // a checked LoRA file and its tensors
  struct Delta {
    const Source* source;
    const LoraEntry* entry;
  };

  void merge(const std::string& name, const std::vector<Delta>& deltas);
  void restore(const std::string& name);
  void restore_all() noexcept;
  at::Tensor high_precision_weight(const std::string& name, const Target& target) const;

  std::map<std::string, Target> targets_;
  ParameterShapes shapes_;
  io::TensorSourcePtr checkpoint_;
  Requantize requantize_;
  std::map<std::string, Original> originals_;  // the parameters merged now
  std::vector<LoraUse> applied_;
};

}  // namespace skyreels::lora
