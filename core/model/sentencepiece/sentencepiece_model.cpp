#include "model/sentencepiece/sentencepiece_model.h"

#include <dlfcn.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <filesystem>
#include <mutex>

#include "model/sentencepiece/sentencepiece_abi.h"
#include "skyreels/error.h"
#include "skyreels/log.h"

namespace skyreels::model {
namespace {

constexpr const char* kModuleName = "libskyreels_sentencepiece.so";

// The plug-in's entry points, resolved once per process.
struct Plugin {
  decltype(&skyreels_spm_load) load = nullptr;
  decltype(&skyreels_spm_free) free = nullptr;
  decltype(&skyreels_spm_piece_size) piece_size = nullptr;
  decltype(&skyreels_spm_eos_id) eos_id = nullptr;
  decltype(&skyreels_spm_pad_id) pad_id = nullptr;
  decltype(&skyreels_spm_encode) encode = nullptr;
  decltype(&skyreels_spm_train) train = nullptr;
  std::string path;   // where it was loaded from
  std::string error;  // why it is unavailable (empty when loaded)
};

std::vector<std::string> candidate_paths() {
  std::vector<std::string> paths;
  if (const char* env = std::getenv("SKYREELS_SENTENCEPIECE_MODULE"); env && *env) paths.emplace_back(env);
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    paths.push_back((exe.parent_path() / ".." / "lib" / "skyreels" / kModuleName).lexically_normal().string());
    paths.push_back((exe.parent_path() / kModuleName).string());
  }
#if defined(SKYREELS_SPM_BUILD_MODULE)
  paths.emplace_back(SKYREELS_SPM_BUILD_MODULE);
#endif
  return paths;
}

template <typename Fn>
void resolve(void* handle, const char* name, Fn& fn, std::string& missing) {
  fn = reinterpret_cast<Fn>(dlsym(handle, name));
  if (!fn) missing += std::string(missing.empty() ? "" : ", ") + name;
}

Plugin open_plugin() {
  Plugin p;
  std::string tried;
  for (const auto& path : candidate_paths()) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
      tried += "\n  " + path + " (not there)";
      continue;
    }
    // A new link-map namespace: the plug-in and libsentencepiece get their own copies of every
    // library (protobuf, libstdc++), so nothing in the process binds to them or they to it.
    void* handle = dlmopen(LM_ID_NEWLM, path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      tried += "\n  " + path + " (" + dlerror() + ")";
      continue;
    }
    std::string missing;
    decltype(&skyreels_spm_abi_version) abi = nullptr;
    resolve(handle, "skyreels_spm_abi_version", abi, missing);
    resolve(handle, "skyreels_spm_load", p.load, missing);
    resolve(handle, "skyreels_spm_free", p.free, missing);
    resolve(handle, "skyreels_spm_piece_size", p.piece_size, missing);
    resolve(handle, "skyreels_spm_eos_id", p.eos_id, missing);
    resolve(handle, "skyreels_spm_pad_id", p.pad_id, missing);
    resolve(handle, "skyreels_spm_encode", p.encode, missing);
    resolve(handle, "skyreels_spm_train", p.train, missing);
    if (!missing.empty() || abi() != SKYREELS_SPM_ABI_VERSION) {
      tried += "\n  " + path + (missing.empty() ? " (another plug-in version)" : " (lacks " + missing + ")");
      dlclose(handle);
      p = Plugin{};
      continue;
    }
    p.path = path;
    logger("model")->debug("SentencePiece plug-in: {}", path);
    return p;  // stays loaded for the life of the process
  }
  p.error = "the SentencePiece plug-in (" + std::string(kModuleName) +
            ") is not available; this build may lack libsentencepiece. Tried:" + tried;
  return p;
}

const Plugin& plugin() {
  static const Plugin p = open_plugin();
  return p;
}

const Plugin& require_plugin(const std::string& what) {
  const auto& p = plugin();
  if (!p.error.empty()) throw Error(ErrorCode::Unsupported, what + ": " + p.error);
  return p;
}

}  // namespace

SentencePieceModel::SentencePieceModel(const std::string& model_path) : path_(model_path) {
  const auto& p = require_plugin(model_path);
  std::array<char, 1024> error{};
  model_ = p.load(model_path.c_str(), error.data(), error.size());
  if (!model_)
    throw Error(ErrorCode::CorruptFile,
                model_path + ": not a readable SentencePiece model (" + std::string(error.data()) + ")");
}

SentencePieceModel::~SentencePieceModel() {
  if (model_) plugin().free(model_);
}

std::vector<int> SentencePieceModel::encode(const std::string& text) const {
  const auto& p = plugin();
  std::array<char, 1024> error{};
  std::vector<int> ids(text.size() + 16);  // a piece covers at least one byte, give or take normalisation
  for (;;) {
    const long n = p.encode(model_, text.data(), text.size(), ids.data(), ids.size(), error.data(), error.size());
    if (n < 0) throw Error(ErrorCode::Runtime, path_ + ": encoding failed (" + std::string(error.data()) + ")");
    if (static_cast<std::size_t>(n) <= ids.size()) {
      ids.resize(static_cast<std::size_t>(n));
      return ids;
    }
    ids.resize(static_cast<std::size_t>(n));
  }
}

int SentencePieceModel::piece_size() const { return plugin().piece_size(model_); }
int SentencePieceModel::eos_id() const { return plugin().eos_id(model_); }
int SentencePieceModel::pad_id() const { return plugin().pad_id(model_); }

bool sentencepiece_available(std::string* why) {
  const auto& p = plugin();
  if (why) *why = p.error;
  return p.error.empty();
}

void train_sentencepiece(const std::string& flags) {
  const auto& p = require_plugin("training a SentencePiece model");
  std::array<char, 2048> error{};
  if (p.train(flags.c_str(), error.data(), error.size()) != 0)
    throw Error(ErrorCode::Runtime, "training a SentencePiece model failed: " + std::string(error.data()));
}

}  // namespace skyreels::model
