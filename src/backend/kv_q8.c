// The q8 KV quantizer (backend/kv_q8.h).
#include "backend/kv_q8.h"
#include <math.h>

void gc_kv_q8_quantize(const float *x, int64_t n_rows, int64_t hd, int8_t *q, float *scale) {
    for (int64_t r = 0; r < n_rows; r++) {
        const float *xr = x + r * hd;
        int8_t *qr = q + r * hd;
        float amax = 0.0f;
        for (int64_t i = 0; i < hd; i++) amax = fmaxf(amax, fabsf(xr[i]));
        const float d = amax / 127.0f;
        scale[r] = d;
        for (int64_t i = 0; i < hd; i++) {
            // fmaxf/fminf clamp (and map a NaN input to -127) before the
            // conversion, which rounds to nearest even (the default mode).
            const float v = d > 0.0f ? fminf(fmaxf(xr[i] / d, -127.0f), 127.0f) : 0.0f;
            qr[i] = (int8_t)lrintf(v);
        }
    }
}

void gc_kv_q8_dequantize(const int8_t *q, const float *scale, int64_t n_rows, int64_t hd, float *x) {
    for (int64_t r = 0; r < n_rows; r++)
        for (int64_t i = 0; i < hd; i++) x[r * hd + i] = (float)q[r * hd + i] * scale[r];
}
