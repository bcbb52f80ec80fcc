#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "io/safetensors.h"

namespace skyreels::conformance {

// One reference fixture: a folder with manifest.json and (for most kinds) tensors.safetensors.
// Pipeline cases name a shared weights folder in "models", relative to the case.
class FixtureCase {
public:
  // Throws skyreels::Error naming the folder if manifest.json is missing or malformed.
  explicit FixtureCase(const std::filesystem::path& dir);

  const std::filesystem::path& dir() const noexcept { return dir_; }
  std::string name() const { return dir_.filename().string(); }
  std::string kind() const;
  const nlohmann::json& manifest() const noexcept { return manifest_; }

  // A tensor of tensors.safetensors (CPU); throws skyreels::Error(NotFound) naming the case.
  at::Tensor tensor(const std::string& name) const;
  bool has_tensor(const std::string& name) const;
  // The shared-weights file of pipeline cases (the "models" folder's tensors.safetensors).
  const io::SafetensorsFile& models() const;

  // manifest["tolerance"][key] as a number; throws skyreels::Error(CorruptFile) if absent.
  double tolerance(const std::string& key) const;

private:
  const io::SafetensorsFile& tensors() const;

  std::filesystem::path dir_;
  nlohmann::json manifest_;
  mutable std::shared_ptr<io::SafetensorsFile> tensors_;
  mutable std::shared_ptr<io::SafetensorsFile> models_;
};

}  // namespace skyreels::conformance
