#include "skyreels/cpu_threads.h"

#include <algorithm>
#include <cstdlib>
#include <thread>

#include <ATen/Parallel.h>

#if defined(__linux__)
#include <sched.h>
#endif

namespace skyreels {
namespace {

// The cores the scheduler lets this process use (a container or taskset may allow fewer than the
// machine has).
int cores_allowed() {
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
#endif
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace

int use_all_cpu_cores() {
  const char* chosen = std::getenv("OMP_NUM_THREADS");
  if (chosen == nullptr || *chosen == '\0') at::set_num_threads(cores_allowed());
  return cpu_threads();
}

int cpu_threads() { return at::get_num_threads(); }

}  // namespace skyreels
