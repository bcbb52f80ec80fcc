#pragma once

namespace skyreels::telemetry {

// A named range on the profiler timeline (NVTX push/pop) for the scope of the object, so an Nsight
// Systems profile reads as windows, rows, model calls and decodes. No-op in builds without CUDA's
// NVTX headers.
class TraceRange {
public:
  explicit TraceRange(const char* name);
  ~TraceRange();
  TraceRange(const TraceRange&) = delete;
  TraceRange& operator=(const TraceRange&) = delete;
};

// Whether ranges reach a profiler in this build.
bool tracing_available();

}  // namespace skyreels::telemetry
