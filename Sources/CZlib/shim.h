// zlib, for reading gzip-compressed captures. inflateInit2 is a macro Swift cannot call.
#pragma once
#include <zlib.h>

/// inflateInit2 with automatic gzip/zlib header detection (window bits 15 + 32).
static inline int lk_inflate_init(z_stream *stream) {
    return inflateInit2(stream, 15 + 32);
}
