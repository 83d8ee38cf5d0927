#pragma once
#include <zlib.h>

/* deflateInit2 is a macro: gzip framing (window bits 15 + 16) at `level`. */
static inline int np_deflate_init_gzip(z_streamp strm, int level) {
    return deflateInit2(strm, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
}
/* inflateInit2 with gzip or zlib detection (window bits 15 + 32). */
static inline int np_inflate_init_auto(z_streamp strm) { return inflateInit2(strm, 15 + 32); }
