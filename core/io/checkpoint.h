#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "io/dtype.h"
#include "io/safetensors.h"

namespace skyreels::io {

// The tensors of one model, from a single .safetensors file or from several shards.
//
// open() accepts:
//   - a .safetensors file;
//   - a "*.safetensors.index.json" file (its "weight_map" names the shard of every tensor);
//   - a directory: its *.safetensors.index.json if there is exactly one, else every *.safetensors file
//     in it (sorted; hidden files skipped). Other indexes (pytorch_model.bin.index.json) are ignored.
// Every shard is memory-mapped; tensors are read on demand. A tensor held by two shards, a shard
// named by the index but missing, a shard path that leaves the index's folder, or an index entry whose
// tensor is not in its shard is an error naming the files and the tensor. Tensors a shard holds but the
// index does not list are still part of the checkpoint.
class Checkpoint {
public:
  // Throws skyreels::Error: NotFound (missing path, missing shard, a directory without checkpoints),
  // CorruptFile (bad index, bad shard, duplicates), or whatever SafetensorsFile raises for a shard.
  static Checkpoint open(const std::string& path);

  // Sorted tensor names.
  std::vector<std::string> keys() const;
  bool contains(const std::string& name) const;
  // entry(), tensor() and file_of() throw skyreels::Error(NotFound) naming source() and the tensor.
  const SafetensorsEntry& entry(const std::string& name) const;  // dtype, shape
  at::Tensor tensor(const std::string& name) const;               // CPU tensor, see SafetensorsFile
  // The file that holds a tensor (for messages).
  const std::string& file_of(const std::string& name) const;
  // Where the checkpoint came from, as given to open().
  const std::string& source() const noexcept { return source_; }

private:
  std::string source_;
  std::vector<std::shared_ptr<const SafetensorsFile>> shards_;
  std::vector<std::pair<std::string, std::size_t>> index_;  // sorted name -> shard
  std::size_t shard_of(const std::string& name) const;
};

}  // namespace skyreels::io
