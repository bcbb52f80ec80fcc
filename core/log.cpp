#include "skyreels/log.h"

#include <mutex>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace skyreels {

std::shared_ptr<spdlog::logger> logger(const std::string& name) {
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  if (auto existing = spdlog::get(name)) return existing;
  // Share the default logger's sinks so an application that swaps the default sinks redirects us too.
  auto sinks = spdlog::default_logger()->sinks();
  auto created = std::make_shared<spdlog::logger>(name, sinks.begin(), sinks.end());
  created->set_level(spdlog::default_logger()->level());
  spdlog::register_logger(created);
  return created;
}

}  // namespace skyreels
