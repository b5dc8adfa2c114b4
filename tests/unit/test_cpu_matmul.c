// The CPU matmul gives every token the same bits whatever its batch: a row
// computed alone (T = 1), first or last of an odd batch, or paired with any
// neighbour, for row counts with and without a tail of < 4 weight rows, K
// with and without a tail of < 8, f32 and dequantised (BF16) weights. It is
// also checked against a float64 product (relative error ≤ 1e-5).
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/ops.h"
#include "format/tensor.h"

static uint64_t g_s = 0x243f6a8885a308d3ULL;
static float rnd(void) {
    g_s ^= g_s << 13; g_s ^= g_s >> 7; g_s ^= g_s << 17;
    return (float)((double)(g_s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static void check(gc_dtype dt, int64_t N, int64_t K) {
    const int64_t T = 7;
    float *wf = malloc((size_t)(N * K) * sizeof *wf), *x = malloc((size_t)(T * K) * sizeof *x);
    float *bias = malloc((size_t)N * sizeof *bias), *yb = malloc((size_t)(T * N) * sizeof *yb);
    float *y1 = malloc((size_t)N * sizeof *y1), *y2 = malloc((size_t)(2 * N) * sizeof *y2);
    uint16_t *wb = malloc((size_t)(N * K) * sizeof *wb);
    assert_true(wf && x && bias && yb && y1 && y2 && wb);
    for (int64_t i = 0; i < N * K; i++) {
        wf[i] = rnd();
        if (dt == GC_DT_BF16) {   // keep the top 16 bits; wf holds the exact value
            uint32_t u;
            memcpy(&u, &wf[i], 4);
            wb[i] = (uint16_t)(u >> 16);
            u = (uint32_t)wb[i] << 16;
            memcpy(&wf[i], &u, 4);
        }
    }
    for (int64_t i = 0; i < T * K; i++) x[i] = rnd();
    for (int64_t i = 0; i < N; i++) bias[i] = rnd();
    gc_tensor W = {.name = "w", .dtype = dt, .ndim = 2, .shape = {N, K},
                   .data = dt == GC_DT_BF16 ? (const void *)wb : (const void *)wf,
                   .nbytes = (size_t)(N * K) * (dt == GC_DT_BF16 ? 2 : 4)};
    assert_int_equal(gc_cpu_matmul(NULL, yb, x, T, &W, bias), GC_OK);
    for (int64_t t = 0; t < T; t++) {
        double num = 0, den = 0;
        for (int64_t n = 0; n < N; n++) {
            double r = bias[n];
            for (int64_t k = 0; k < K; k++) r += (double)wf[n * K + k] * x[t * K + k];
            num += (yb[t * N + n] - r) * (yb[t * N + n] - r);
            den += r * r;
        }
        assert_true(sqrt(num / den) <= 1e-5);
        assert_int_equal(gc_cpu_matmul(NULL, y1, x + t * K, 1, &W, bias), GC_OK);                     // alone
        assert_memory_equal(y1, yb + t * N, (size_t)N * sizeof *y1);
        for (int64_t u = 0; u < T; u++) {                                // paired with u, either order
            float xx[2 * 80];
            assert_true(K <= 80);
            memcpy(xx, x + u * K, (size_t)K * sizeof *xx);
            memcpy(xx + K, x + t * K, (size_t)K * sizeof *xx);
            assert_int_equal(gc_cpu_matmul(NULL, y2, xx, 2, &W, bias), GC_OK);
            assert_memory_equal(y2 + N, yb + t * N, (size_t)N * sizeof *y2);
            assert_memory_equal(y2, yb + u * N, (size_t)N * sizeof *y2);
        }
    }
    free(wf); free(x); free(bias); free(yb); free(y1); free(y2); free(wb);
}

static void test_batch_invariant(void **state) {
    (void)state;
    const int64_t Ns[] = {4, 9, 30}, Ks[] = {8, 40, 77};
    for (int d = 0; d < 2; d++)
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++) check(d ? GC_DT_BF16 : GC_DT_F32, Ns[a], Ks[b]);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_batch_invariant)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
