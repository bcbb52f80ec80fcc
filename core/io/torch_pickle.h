#pragma once

#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

namespace skyreels::io {

// Loads a plain state dict saved by torch.save (the zip format since PyTorch 1.6): the format of
// the official Wan2.1_VAE.pth and models_t5_umt5-xxl-enc-bf16.pth.
//
// Implements only what state dicts use: the pickle opcodes of protocol 2 (and the common ones of
// protocols 3-5), collections.OrderedDict, torch._utils._rebuild_tensor_v2 / _rebuild_parameter,
// typed storages (torch.FloatStorage, BFloat16Storage, ...) as persistent ids, little-endian data.
// Anything else (other globals, legacy non-zip files, big-endian data) throws skyreels::Error
// (Unsupported or CorruptFile) naming the file and what was found.
//
// Tensors are CPU tensors in the order of the file; their storages are views of the mapped file
// when aligned, copies otherwise.
std::vector<std::pair<std::string, at::Tensor>> load_torch_state_dict(const std::string& path);

}  // namespace skyreels::io
