// Small C helpers Swift has no spelling for. Header-only: each call is inlined.
#pragma once

#include <time.h>

/// Asks the processor to start loading the cache line holding `address` for reading, and
/// returns at once. Never faults, whatever the address (a hint, not a load).
static inline void lk_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

// glibc declares sched_getaffinity only under _GNU_SOURCE, which Swift's Glibc module is
// built without; the kernel's mask is an array of unsigned longs, one bit per processor.
extern int sched_getaffinity(int pid, unsigned long size, void *mask);

/// Processors the calling process may run on (its affinity mask, as `taskset` or a cgroup
/// cpuset leave it, up to 1024), or -1 when the mask cannot be read.
static inline int lk_allowed_processors(void) {
    unsigned long mask[1024 / (8 * sizeof(unsigned long))] = {0};
    if (sched_getaffinity(0, sizeof mask, mask) != 0) return -1;
    int count = 0;
    for (unsigned i = 0; i < sizeof mask / sizeof mask[0]; i++) count += __builtin_popcountl(mask[i]);
    return count;
}

/// Tells the processor the caller is spinning on a value another thread will change: on
/// x86 PAUSE, on ARM YIELD. It lets the other hardware thread of the core (a host's SMT
/// sibling, which a guest cannot see) run at full speed meanwhile, and keeps the spin's
/// loads from flooding the memory pipeline.
static inline void lk_spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield");
#endif
}

/// Nanoseconds of CLOCK_MONOTONIC (through the vDSO: no system call).
static inline unsigned long long lk_monotonic_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (unsigned long long)now.tv_sec * 1000000000ull + (unsigned long long)now.tv_nsec;
}
