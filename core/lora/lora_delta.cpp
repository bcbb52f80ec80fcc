#include "lora/lora_delta.h"

#include <vector>

#include <ATen/ATen.h>

#include "io/safetensors.h"
#include "skyreels/error.h"

namespace skyreels::lora {
namespace {

// The key's tensor as float32 on `device`, after checking it still has the shape the entry was read with.
at::Tensor read(const io::SafetensorsFile& file, const std::string& key, const std::vector<std::int64_t>& shape,
                c10::Device device) {
  const auto t = file.tensor(key);
  if (t.sizes().vec() != shape)
    throw Error(ErrorCode::CorruptFile, "LoRA " + file.path() + ": '" + key + "' changed while it was read (shape " +
                                            c10::str(t.sizes()) + ")");
  return t.to(device, at::kFloat);
}

}  // namespace

at::Tensor entry_delta(const LoraEntry& entry, const io::SafetensorsFile& file, double strength, at::IntArrayRef shape,
                       c10::Device device) {
  // The scale in double, rounded to float once: the product below is the only float32 rounding of the delta.
  const double scale = entry.kind == DeltaKind::LowRank || entry.kind == DeltaKind::LowRankBias
                           ? strength * entry.alpha / static_cast<double>(entry.rank)
                           : strength;
  at::Tensor delta;
  switch (entry.kind) {
    case DeltaKind::LowRank: {
      const auto up = read(file, entry.up_key, entry.up_shape, device).reshape({entry.up_shape[0], entry.rank});
      const auto down = read(file, entry.down_key, entry.down_shape, device).reshape({entry.rank, -1});
      delta = at::mm(up, down);
      break;
    }
    case DeltaKind::LowRankBias: delta = read(file, entry.up_key, entry.up_shape, device); break;
    case DeltaKind::WeightDiff:
    case DeltaKind::BiasDiff:
    case DeltaKind::ModulationDiff: delta = read(file, entry.diff_key, entry.diff_shape, device); break;
  }
  // Out of place: a float32 CPU tensor read from the file is a view of its (read-only) mapping.
  return (delta * scale).reshape(shape);
}

}  // namespace skyreels::lora
