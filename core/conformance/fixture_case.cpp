#include "conformance/fixture_case.h"

#include <fstream>

#include "skyreels/error.h"

namespace skyreels::conformance {

FixtureCase::FixtureCase(const std::filesystem::path& dir) : dir_(dir) {
  const auto manifest_path = dir_ / "manifest.json";
  std::ifstream in(manifest_path);
  if (!in) throw Error(ErrorCode::NotFound, manifest_path.string() + ": no manifest.json in the case folder");
  try {
    manifest_ = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::CorruptFile, manifest_path.string() + ": " + e.what());
  }
  if (!manifest_.is_object() || !manifest_.contains("kind") || !manifest_["kind"].is_string())
    throw Error(ErrorCode::CorruptFile, manifest_path.string() + ": manifest has no \"kind\" string");
}

std::string FixtureCase::kind() const { return manifest_["kind"].get<std::string>(); }

const io::SafetensorsFile& FixtureCase::tensors() const {
  if (!tensors_) tensors_ = std::make_shared<io::SafetensorsFile>((dir_ / "tensors.safetensors").string());
  return *tensors_;
}

bool FixtureCase::has_tensor(const std::string& name) const { return tensors().contains(name); }

at::Tensor FixtureCase::tensor(const std::string& name) const { return tensors().tensor(name); }

const io::SafetensorsFile& FixtureCase::models() const {
  if (!models_) {
    if (!manifest_.contains("models") || !manifest_["models"].is_string())
      throw Error(ErrorCode::CorruptFile, (dir_ / "manifest.json").string() + ": no \"models\" folder named");
    const auto folder = dir_ / manifest_["models"].get<std::string>();
    models_ = std::make_shared<io::SafetensorsFile>((folder / "tensors.safetensors").string());
  }
  return *models_;
}

double FixtureCase::tolerance(const std::string& key) const {
  const auto& tol = manifest_.value("tolerance", nlohmann::json::object());
  if (!tol.is_object() || !tol.contains(key) || !tol[key].is_number())
    throw Error(ErrorCode::CorruptFile,
                (dir_ / "manifest.json").string() + ": tolerance \"" + key + "\" is missing or not a number");
  return tol[key].get<double>();
}

}  // namespace skyreels::conformance
