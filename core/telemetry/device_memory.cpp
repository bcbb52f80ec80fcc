#include "telemetry/device_memory.h"

#include <algorithm>
#include <fstream>
#include <string>

#include <unistd.h>

#include "skyreels/error.h"

#if defined(SKYREELS_WITH_CUDA)
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#endif

namespace skyreels::telemetry {
namespace {

// Resident and peak resident set of this process, from /proc (Linux).
MemoryStats process_memory() {
  MemoryStats stats;
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    std::int64_t kib = 0;
    if (key == "VmRSS:" && status >> kib) stats.allocated_bytes = stats.reserved_bytes = kib * 1024;
    else if (key == "VmHWM:" && status >> kib) stats.peak_allocated_bytes = stats.peak_reserved_bytes = kib * 1024;
    status.ignore(1 << 12, '\n');
  }
  return stats;
}

}  // namespace

bool cuda_built() {
#if defined(SKYREELS_WITH_CUDA)
  return true;
#else
  return false;
#endif
}

MemoryStats memory_stats(c10::Device device) {
  if (!device.is_cuda()) return process_memory();
#if defined(SKYREELS_WITH_CUDA)
  const auto s = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index() < 0 ? 0 : device.index());
  constexpr std::size_t all = 0;  // StatType::AGGREGATE; the enum moved namespaces across LibTorch versions
  return {s.allocated_bytes[all].current, s.reserved_bytes[all].current, s.allocated_bytes[all].peak,
          s.reserved_bytes[all].peak};
#else
  throw Error(ErrorCode::Unsupported, "this build has no CUDA support");
#endif
}

void reset_peak_memory(c10::Device device) {
#if defined(SKYREELS_WITH_CUDA)
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(device.index() < 0 ? 0 : device.index());
#endif
}

void synchronize(c10::Device device) {
#if defined(SKYREELS_WITH_CUDA)
  if (device.is_cuda()) c10::cuda::device_synchronize();
#endif
}

void release_cached_memory(c10::Device device) {
  synchronize(device);
#if defined(SKYREELS_WITH_CUDA)
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::emptyCache();
#endif
}

void cap_device_memory(c10::Device device, std::int64_t bytes) {
#if defined(SKYREELS_WITH_CUDA)
  if (!device.is_cuda()) return;
  const int index = device.index() < 0 ? c10::cuda::current_device() : device.index();
  const auto total = static_cast<double>(at::cuda::getDeviceProperties(index)->totalGlobalMem);
  const double fraction = bytes > 0 ? std::min(1.0, static_cast<double>(bytes) / total) : 1.0;
  c10::cuda::CUDACachingAllocator::setMemoryFraction(fraction, static_cast<c10::DeviceIndex>(index));
#else
  (void)device;
  (void)bytes;
#endif
}

}  // namespace skyreels::telemetry
