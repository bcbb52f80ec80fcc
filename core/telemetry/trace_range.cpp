#include "telemetry/trace_range.h"

// NVTX v3 is header-only and ships with every CUDA toolkit since 10; nothing to link.
#if defined(SKYREELS_WITH_CUDA) && defined(__has_include)
#if __has_include(<nvtx3/nvToolsExt.h>)
#include <nvtx3/nvToolsExt.h>
#define SKYREELS_HAVE_NVTX 1
#endif
#endif

namespace skyreels::telemetry {

#if defined(SKYREELS_HAVE_NVTX)
TraceRange::TraceRange(const char* name) { nvtxRangePushA(name); }
TraceRange::~TraceRange() { nvtxRangePop(); }
bool tracing_available() { return true; }
#else
TraceRange::TraceRange(const char*) {}
TraceRange::~TraceRange() = default;
bool tracing_available() { return false; }
#endif

}  // namespace skyreels::telemetry
