#include "lora/lora_identity.h"

#include <filesystem>
#include <map>
#include <mutex>
#include <string>

#include "io/content_hash.h"
#include "skyreels/error.h"

namespace skyreels::lora {
namespace {

namespace fs = std::filesystem;

struct Identity {
  std::int64_t size = 0;
  std::string hash;
};

// The hash of the file as it is now, memoised under its path, size and modification time.
Identity identify(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(ErrorCode::NotFound, "LoRA " + path + ": no such file");
  if (!fs::is_regular_file(path, ec)) throw Error(ErrorCode::NotFound, "LoRA " + path + ": not a regular file");
  const auto size = static_cast<std::int64_t>(fs::file_size(path, ec));
  const auto time = fs::last_write_time(path, ec).time_since_epoch().count();
  const auto key = fs::absolute(path, ec).string() + "|" + std::to_string(size) + "|" + std::to_string(time);

  static std::mutex mutex;
  static std::map<std::string, std::string> hashes;
  {
    const std::lock_guard<std::mutex> lock(mutex);
    const auto it = hashes.find(key);
    if (it != hashes.end()) return {size, it->second};
  }
  auto hash = io::hex_digest(io::hash_file(path, "LoRA"));
  const std::lock_guard<std::mutex> lock(mutex);
  hashes[key] = hash;
  return {size, hash};
}

}  // namespace

void record_lora_files(std::vector<LoraSetting>& loras) {
  for (auto& lora : loras) {
    const auto now = identify(lora.path);
    if (lora.recorded() && (now.size != lora.size || now.hash != lora.hash))
      throw Error(ErrorCode::BadArgument,
                  "LoRA " + lora.path + " has changed since these settings were made (then " + std::to_string(lora.size) +
                      " bytes, hash " + lora.hash + "; now " + std::to_string(now.size) + " bytes, hash " + now.hash +
                      "): restore that file, or choose the LoRAs again");
    lora.size = now.size;
    lora.hash = now.hash;
    lora.name = fs::path(lora.path).filename().string();
  }
}

}  // namespace skyreels::lora
