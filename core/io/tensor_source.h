#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

namespace skyreels::io {

class Checkpoint;
class SafetensorsFile;

// Named tensors read on demand: what model loaders consume. Implementations read lazily from
// memory-mapped files, so a 28 GB checkpoint never sits in host memory as a whole.
class TensorSource {
public:
  virtual ~TensorSource() = default;
  virtual std::vector<std::string> keys() const = 0;  // sorted
  virtual bool contains(const std::string& key) const = 0;
  virtual std::vector<std::int64_t> shape(const std::string& key) const = 0;
  virtual at::Tensor tensor(const std::string& key) const = 0;  // a CPU tensor
  virtual std::string describe() const = 0;                      // where the tensors come from, for messages
};

using TensorSourcePtr = std::shared_ptr<const TensorSource>;

TensorSourcePtr checkpoint_source(std::shared_ptr<const Checkpoint> checkpoint);
TensorSourcePtr safetensors_source(std::shared_ptr<const SafetensorsFile> file);
// Tensors held in memory (e.g. a loaded .pth state dict).
TensorSourcePtr memory_source(std::vector<std::pair<std::string, at::Tensor>> tensors, std::string description);
// The tensors whose names start with `prefix`, with the prefix removed ("w.", "vae.", ...).
TensorSourcePtr prefixed_view(TensorSourcePtr source, std::string prefix);
// The same tensors under other names: `rename` maps a source name to its new name, or to "" to leave
// the tensor out. Two source names that map to one new name are an error naming both.
TensorSourcePtr renamed_view(TensorSourcePtr source, std::function<std::string(const std::string&)> rename,
                             std::string description);

// Opens model weights from a path: a .safetensors file, an *.index.json, a folder of shards, or a
// torch .pth state dict (read into memory).
TensorSourcePtr open_weights(const std::string& path);

}  // namespace skyreels::io
