// A software prefetch, which Swift has no spelling for. Header-only: the call is inlined.
#pragma once

/// Asks the processor to start loading the cache line holding `address` for reading, and
/// returns at once. Never faults, whatever the address (a hint, not a load).
static inline void lk_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}
