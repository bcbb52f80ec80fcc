#pragma once

#include <memory>
#include <string>

#include <spdlog/logger.h>

namespace skyreels {

// Named loggers of the engine: io, model, sched, pipeline, video, telemetry, conformance.
// The engine installs no sinks of its own beyond stderr; applications may replace them.
std::shared_ptr<spdlog::logger> logger(const std::string& name);

}  // namespace skyreels
