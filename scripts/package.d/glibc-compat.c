/*
 * Linked into the release binary by scripts/package so that it needs no glibc newer than
 * 2.34 (EL9's). Built on Debian 12 (glibc 2.36), two kinds of reference would need more:
 *
 * arc4random (GLIBC_2.36), which gcc 12's libstdc++.a (std::random_device) calls: defined
 * here on getrandom(2) (glibc 2.25), which, like arc4random, blocks only until the kernel's
 * pool is first initialised and never fails for 4 bytes except on a signal, retried.
 *
 * The Swift runtime's calls to hypot and
 * hypotf bind to the GLIBC_2.35 versions, the only ones above 2.34: glibc 2.35 gave them new
 * versions (a faster, correctly rounded hypot without the SVID error-handling wrapper, whose
 * _LIB_VERSION switch glibc removed in 2.27, so that for a program linked today both versions
 * return the same values and set errno alike). These definitions take those calls and pass
 * them to the versions every x86-64 glibc has, GLIBC_2.2.5.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/random.h>

uint32_t arc4random(void) {
    uint32_t value;
    for (;;) {
        ssize_t got = getrandom(&value, sizeof value, 0);
        if (got == (ssize_t)sizeof value) return value;
        if (got < 0 && errno != EINTR) abort();
    }
}

double lanekeeper_hypot_2_2_5(double x, double y);
float lanekeeper_hypotf_2_2_5(float x, float y);
__asm__(".symver lanekeeper_hypot_2_2_5, hypot@GLIBC_2.2.5");
__asm__(".symver lanekeeper_hypotf_2_2_5, hypotf@GLIBC_2.2.5");

double hypot(double x, double y) { return lanekeeper_hypot_2_2_5(x, y); }
float hypotf(float x, float y) { return lanekeeper_hypotf_2_2_5(x, y); }
