#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "lora/lora_file.h"

namespace skyreels::io {
class SafetensorsFile;
}

namespace skyreels::lora {

// What one entry of a LoRA file adds to its parameter at `strength`, in float32 on `device`, shaped as the
// parameter (`shape`, which check_lora_shapes has matched):
//   LowRank      strength × alpha / rank × up · down   (kernel axes flattened, so a conv weight fits too)
//   LowRankBias  strength × alpha / rank × up bias
//   the diffs    strength × diff
// `file` is the entry's LoRA file. A tensor whose shape is no longer the one read_lora_file saw (the file
// changed since) is an Error(CorruptFile) naming the file and the key.
at::Tensor entry_delta(const LoraEntry& entry, const io::SafetensorsFile& file, double strength, at::IntArrayRef shape,
                       c10::Device device);

}  // namespace skyreels::lora
