// The repacked weight layout (qrepack.h): a permutation of whole fields, so
// plain copies do it both ways.
#include "backend/cpu/qrepack.h"
#include "format/quant.h"
#include <string.h>

// A copy of one field: a constant size in each case, so each is one or two
// moves instead of a call (these copies run once per panel of every prefill
// matmul: unpacking a group for the panel packer).
static inline void copy_field(uint8_t *dst, const uint8_t *src, size_t fs) {
    switch (fs) {
    case 2: memcpy(dst, src, 2); break;
    case 4: memcpy(dst, src, 4); break;
    case 16: memcpy(dst, src, 16); break;
    case 32: memcpy(dst, src, 32); break;
    case 64: memcpy(dst, src, 64); break;
    default: memcpy(dst, src, fs); break;
    }
}

// One group's rows (≤ 16) between the GGUF layout (stride rb) and the
// group: to_group, from the rows at src into the group at dst (rows past
// `rows` zero); else from the group at src into the rows at dst.
static void move_group(gc_dtype t, const uint8_t *src, uint8_t *dst, size_t rb, int rows, bool to_group) {
    const int16_t *f;
    const int nf = qg_fields(t, &f);
    const size_t bb = gc_dtype_block_bytes(t), nb = rb / bb;
    if (to_group && rows < 16) memset(dst, 0, 16 * rb);
    for (size_t b = 0; b < nb; b++) {
        size_t go = 16 * b * bb;   // the block's fields in the group, one after the other
        for (int i = 0; i < nf; i++) {
            const size_t fo = (size_t)f[2 * i], fs = (size_t)f[2 * i + 1];
            for (int r = 0; r < rows; r++) {
                const size_t ro = (size_t)r * rb + b * bb + fo, gr = go + (size_t)r * fs;
                if (to_group)
                    copy_field(dst + gr, src + ro, fs);
                else
                    copy_field(dst + ro, src + gr, fs);
            }
            go += 16 * fs;
        }
    }
}

void qg_repack_groups(gc_dtype t, const uint8_t *w, int64_t N, size_t rb, int64_t g0, int64_t g1, uint8_t *dst) {
    for (int64_t g = g0; g < g1; g++) {
        const int64_t n0 = 16 * g;
        const int rows = (int)(N - n0 < 16 ? N - n0 : 16);
        move_group(t, w + (size_t)n0 * rb, dst + (size_t)n0 * rb, rb, rows, true);
    }
}

void qg_unrepack_group(gc_dtype t, const uint8_t *group, size_t rb, int rows, uint8_t *dst) {
    move_group(t, group, dst, rb, rows, false);
}
