#include "io/tensor_source.h"

#include <algorithm>
#include <filesystem>
#include <map>

#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "io/torch_pickle.h"
#include "skyreels/error.h"
#include "skyreels/strings.h"

namespace skyreels::io {
namespace {

class CheckpointSource final : public TensorSource {
public:
  explicit CheckpointSource(std::shared_ptr<const Checkpoint> c) : checkpoint_(std::move(c)) {}
  std::vector<std::string> keys() const override { return checkpoint_->keys(); }
  bool contains(const std::string& key) const override { return checkpoint_->contains(key); }
  std::vector<std::int64_t> shape(const std::string& key) const override { return checkpoint_->entry(key).shape; }
  at::Tensor tensor(const std::string& key) const override { return checkpoint_->tensor(key); }
  std::string describe() const override { return checkpoint_->source(); }

private:
  std::shared_ptr<const Checkpoint> checkpoint_;
};

class SafetensorsSource final : public TensorSource {
public:
  explicit SafetensorsSource(std::shared_ptr<const SafetensorsFile> f) : file_(std::move(f)) {}
  std::vector<std::string> keys() const override {
    std::vector<std::string> out;
    for (const auto& e : file_->entries()) out.push_back(e.name);
    std::sort(out.begin(), out.end());
    return out;
  }
  bool contains(const std::string& key) const override { return file_->contains(key); }
  std::vector<std::int64_t> shape(const std::string& key) const override { return file_->entry(key).shape; }
  at::Tensor tensor(const std::string& key) const override { return file_->tensor(key); }
  std::string describe() const override { return file_->path(); }

private:
  std::shared_ptr<const SafetensorsFile> file_;
};

class MemorySource final : public TensorSource {
public:
  MemorySource(std::vector<std::pair<std::string, at::Tensor>> tensors, std::string description)
      : description_(std::move(description)) {
    for (auto& [name, tensor] : tensors) {
      if (!tensors_.emplace(name, std::move(tensor)).second)
        throw Error(ErrorCode::CorruptFile, description_ + ": tensor \"" + name + "\" appears twice");
    }
  }
  std::vector<std::string> keys() const override {
    std::vector<std::string> out;
    for (const auto& kv : tensors_) out.push_back(kv.first);
    return out;
  }
  bool contains(const std::string& key) const override { return tensors_.count(key) != 0; }
  std::vector<std::int64_t> shape(const std::string& key) const override { return find(key).sizes().vec(); }
  at::Tensor tensor(const std::string& key) const override { return find(key); }
  std::string describe() const override { return description_; }

private:
  const at::Tensor& find(const std::string& key) const {
    const auto it = tensors_.find(key);
    if (it == tensors_.end()) throw Error(ErrorCode::NotFound, description_ + ": no tensor \"" + key + "\"");
    return it->second;
  }
  std::map<std::string, at::Tensor> tensors_;
  std::string description_;
};

// A source seen through a name mapping (new name -> source name).
class MappedView final : public TensorSource {
public:
  MappedView(TensorSourcePtr source, std::map<std::string, std::string> names, std::string description)
      : source_(std::move(source)), names_(std::move(names)), description_(std::move(description)) {}
  std::vector<std::string> keys() const override {
    std::vector<std::string> out;
    for (const auto& kv : names_) out.push_back(kv.first);
    return out;
  }
  bool contains(const std::string& key) const override { return names_.count(key) != 0; }
  std::vector<std::int64_t> shape(const std::string& key) const override { return source_->shape(source_name(key)); }
  at::Tensor tensor(const std::string& key) const override { return source_->tensor(source_name(key)); }
  std::string describe() const override { return description_; }

private:
  const std::string& source_name(const std::string& key) const {
    const auto it = names_.find(key);
    if (it == names_.end()) throw Error(ErrorCode::NotFound, description_ + ": no tensor \"" + key + "\"");
    return it->second;
  }
  TensorSourcePtr source_;
  std::map<std::string, std::string> names_;
  std::string description_;
};

}  // namespace

TensorSourcePtr checkpoint_source(std::shared_ptr<const Checkpoint> checkpoint) {
  return std::make_shared<CheckpointSource>(std::move(checkpoint));
}

TensorSourcePtr safetensors_source(std::shared_ptr<const SafetensorsFile> file) {
  return std::make_shared<SafetensorsSource>(std::move(file));
}

TensorSourcePtr memory_source(std::vector<std::pair<std::string, at::Tensor>> tensors, std::string description) {
  return std::make_shared<MemorySource>(std::move(tensors), std::move(description));
}

TensorSourcePtr prefixed_view(TensorSourcePtr source, std::string prefix) {
  std::map<std::string, std::string> names;
  for (const auto& key : source->keys())
    if (key.compare(0, prefix.size(), prefix) == 0) names.emplace(key.substr(prefix.size()), key);
  auto description = source->describe() + " [" + prefix + "*]";
  return std::make_shared<MappedView>(std::move(source), std::move(names), std::move(description));
}

TensorSourcePtr renamed_view(TensorSourcePtr source, std::function<std::string(const std::string&)> rename,
                             std::string description) {
  std::map<std::string, std::string> names;
  for (const auto& key : source->keys()) {
    auto renamed = rename(key);
    if (renamed.empty()) continue;
    const auto [it, inserted] = names.emplace(renamed, key);
    if (!inserted)
      throw Error(ErrorCode::CorruptFile, source->describe() + ": tensors \"" + it->second + "\" and \"" + key +
                                              "\" both map to \"" + renamed + "\"");
  }
  return std::make_shared<MappedView>(std::move(source), std::move(names), std::move(description));
}

TensorSourcePtr open_weights(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw Error(ErrorCode::NotFound, path + ": no such file or folder");
  if (ends_with(path, ".pth") || ends_with(path, ".pt") || ends_with(path, ".bin"))
    return memory_source(load_torch_state_dict(path), path);
  return checkpoint_source(std::make_shared<Checkpoint>(Checkpoint::open(path)));
}

}  // namespace skyreels::io
