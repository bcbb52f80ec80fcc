#pragma once

namespace skyreels {

// Sets the threads LibTorch's CPU operations use to every core this process may run on, unless the
// user chose a number with OMP_NUM_THREADS. LibTorch's own default was one thread on the 2-core Debian
// machine, which made a CPU render about 1.3x slower (docs/performance.md, "CPU figures"). Call once
// at start, before any tensor work; threads started later take the same count. Returns the threads
// in use.
int use_all_cpu_cores();

// The threads LibTorch's CPU operations use now.
int cpu_threads();

}  // namespace skyreels
