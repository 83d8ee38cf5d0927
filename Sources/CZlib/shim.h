#pragma once
#include <zlib.h>

/* deflateInit2 is a macro: gzip framing (window bits 15 + 16) at `level`. */
static inline int np_deflate_init_gzip(z_streamp strm, int level) {
    return deflateInit2(strm, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
}
