#pragma once

#include <cstdint>

#include <c10/core/Device.h>

#include "skyreels/events.h"

namespace skyreels::telemetry {

// Memory of the device the engine runs on (public: skyreels/events.h).
using skyreels::MemoryStats;

MemoryStats memory_stats(c10::Device device);
// Starts a new peak window (CUDA); on the CPU the peak is the process's high-water mark.
void reset_peak_memory(c10::Device device);
// Waits for the device's queued work (CUDA); no-op on the CPU.
void synchronize(c10::Device device);
// Waits, then hands the caching allocator's unused blocks back to the driver (CUDA); no-op on the CPU.
void release_cached_memory(c10::Device device);
// Caps a CUDA device's caching allocator at `bytes` (0: no cap), so that the engine's memory stays
// within a GPU-memory budget: an allocation past it is an out-of-memory error, as on a card that size.
// The CUDA context's own memory is outside the cap. No-op on the CPU.
void cap_device_memory(c10::Device device, std::int64_t bytes);
// Whether this build can use CUDA at all.
bool cuda_built();

inline double to_gib(std::int64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0); }

}  // namespace skyreels::telemetry
