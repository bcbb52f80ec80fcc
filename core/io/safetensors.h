#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "io/mapped_file.h"
#include "io/safetensors_header.h"

namespace skyreels::io {

// A memory-mapped safetensors file. Tensors are views of the mapping (zero copy) when the data is
// aligned for its type and LibTorch has the type; otherwise they are copied or widened.
class SafetensorsFile {
public:
  // Throws skyreels::Error naming the path (and the tensor) on any defect; see parse_safetensors_header.
  explicit SafetensorsFile(const std::string& path);

  const std::string& path() const noexcept { return file_->path(); }
  const std::vector<SafetensorsEntry>& entries() const noexcept { return header_.entries; }
  const std::map<std::string, std::string>& metadata() const noexcept { return header_.metadata; }

  bool contains(const std::string& name) const;
  // Throws skyreels::Error(NotFound) naming the file and the tensor.
  const SafetensorsEntry& entry(const std::string& name) const;
  // A CPU tensor of the entry's dtype (F8 widened to float32 on LibTorch without float8 types).
  at::Tensor tensor(const std::string& name) const;

private:
  std::shared_ptr<const MappedFile> file_;
  SafetensorsHeader header_;
  std::map<std::string, std::size_t> index_;  // name -> position in header_.entries
};

// Writes tensors (any device; contiguous copies are made on the CPU) in the order given, with optional
// "__metadata__". Writes to a temporary file and renames, so a failure never leaves a half-written file.
void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace skyreels::io
