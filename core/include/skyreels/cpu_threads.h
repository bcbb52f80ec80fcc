#pragma once

namespace skyreels {

// Sets the threads LibTorch's CPU operations use to every core this process may run on, unless the
// user chose a number with OMP_NUM_THREADS. LibTorch's own default counts physical cores through
// cpuinfo, which reads one on the 2-core Debian machine (measured): the CLI's default demo then took
// 12.1 s on one thread against 8.8 s on two. Call once at start, before any tensor work. Returns the
// threads in use.
int use_all_cpu_cores();

// The threads LibTorch's CPU operations use now.
int cpu_threads();

}  // namespace skyreels
