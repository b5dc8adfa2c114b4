// The attention's context-split rules (src/backend/cuda/attn_split.h), on
// the CPU: the file has no CUDA in it, so this runs in every build.
//   fixed rule (batch-invariant mode): for random capacities, query
//     positions, sequence layouts (cached length, new positions) and query
//     tilings, the keys a query sees are cut into the same chunks whatever
//     tile it sits in; the splits a longer tile adds lie wholly past the
//     query; every tile merges; ns <= GCK_MAX_SPLIT up to the capacity;
//   balanced rule (the default): splits of whole key tiles that cover the
//     tile's keys, at most `want` of them, merged only when there are
//     several; and it does depend on the tile (why the fixed rule exists).
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdint.h>
#include <stdio.h>
#include "backend/cuda/attn_split.h"

static uint64_t rng = 0x2545F4914F6CDD1DULL;
static int64_t rand_in(int64_t lo, int64_t hi) {   // uniform in [lo, hi]
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return lo + (int64_t)(rng % (uint64_t)(hi - lo + 1));
}
static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// The splits cover [0, vis) in order, each non-empty and within one chunk.
static void check_cover(gc_attn_split s, int64_t vis) {
    assert_true(s.ns >= 1);
    assert_true(s.chunk >= GC_ATTN_KEY_TILE && s.chunk % GC_ATTN_KEY_TILE == 0);
    int64_t at = 0;
    for (int64_t k = 0; k < s.ns; k++) {
        int64_t lo, hi;
        gc_attn_split_range(s, k, vis, &lo, &hi);
        assert_int_equal(lo, at);
        assert_true(hi > lo && hi - lo <= s.chunk);
        at = hi;
    }
    assert_int_equal(at, vis);
}

// The chunk: the smallest multiple of 64 that keeps every context of the
// capacity within GCK_MAX_SPLIT splits.
static void test_fixed_chunk(void **st) {
    (void)st;
    assert_int_equal(gc_attn_fixed_chunk(1), 64);
    assert_int_equal(gc_attn_fixed_chunk(1024), 64);       // the tiny test models
    assert_int_equal(gc_attn_fixed_chunk(1025), 128);
    assert_int_equal(gc_attn_fixed_chunk(32768), 2048);    // Qwen2.5-Coder-0.5B's GGUF context
    assert_int_equal(gc_attn_fixed_chunk(40960), 2560);
    for (int i = 0; i < 20000; i++) {
        const int64_t cap = i < 3000 ? i + 1 : rand_in(1, 1 << 20);
        const int64_t c = gc_attn_fixed_chunk(cap);
        assert_true(c >= GC_ATTN_KEY_TILE && c % GC_ATTN_KEY_TILE == 0);
        assert_true(cdiv(cap, c) <= GCK_MAX_SPLIT);
        assert_true(c == GC_ATTN_KEY_TILE || cdiv(cap, c - GC_ATTN_KEY_TILE) > GCK_MAX_SPLIT);
        // Any tile of a context within the capacity: ns <= GCK_MAX_SPLIT.
        const int64_t vis = i % 2 ? cap : rand_in(1, cap);
        const gc_attn_split s = gc_attn_split_of(vis, rand_in(1, GCK_MAX_SPLIT), c);
        assert_true(s.ns <= GCK_MAX_SPLIT);
        assert_true(s.merge);
        assert_int_equal(s.chunk, c);
        check_cover(s, vis);
    }
}

// What query position p sees of a tile's splits: per split, keys
// [lo, min(hi, p + 1)), or nothing when the split starts past p. Writes the
// non-empty ones to lo/hi (in order) and returns their count; *tail_ok says
// every empty one came after all the non-empty ones.
static int query_view(gc_attn_split s, int64_t vis, int64_t p, int64_t *lo, int64_t *hi, int *tail_ok) {
    int n = 0;
    bool seen_empty = false;
    *tail_ok = 1;
    for (int64_t k = 0; k < s.ns; k++) {
        int64_t a, b;
        gc_attn_split_range(s, k, vis, &a, &b);
        if (a > p) { seen_empty = true; continue; }
        if (seen_empty) *tail_ok = 0;
        lo[n] = a;
        hi[n] = b < p + 1 ? b : p + 1;
        n++;
    }
    return n;
}

// The query tile holding position p of a sequence with ctx_first cached
// positions and n new ones, cut into tiles of qt queries from its first new
// position (gc_cu_build_items' tiling): the keys its last query sees.
static int64_t tile_vis(int64_t p, int64_t ctx_first, int64_t n, int64_t qt) {
    const int64_t q0 = (p - ctx_first) / qt * qt, nq = q0 + qt < n ? qt : n - q0;
    return ctx_first + q0 + nq;
}

static void test_fixed_rule_is_per_query(void **st) {
    (void)st;
    static const int64_t qts[] = {1, 2, 4, 8, 16, 32, 64};
    int64_t rlo[GCK_MAX_SPLIT], rhi[GCK_MAX_SPLIT], lo[GCK_MAX_SPLIT], hi[GCK_MAX_SPLIT];
    long tiles = 0, longer = 0;
    for (int trial = 0; trial < 4000; trial++) {
        const int64_t cap = trial % 4 == 0 ? 1024 : rand_in(1, 40960);
        const int64_t C = gc_attn_fixed_chunk(cap);
        const int64_t p = rand_in(0, cap - 1);
        // The query alone at the end of its context: its own splits.
        int tail;
        const gc_attn_split ref = gc_attn_split_of(p + 1, 1, C);
        const int nref = query_view(ref, p + 1, p, rlo, rhi, &tail);
        assert_int_equal(nref, ref.ns);
        for (int lay = 0; lay < 24; lay++) {
            // Any step that holds p: ctx_first cached positions before it, n new ones reaching past it.
            const int64_t ctx_first = lay % 3 == 0 ? p : rand_in(0, p);
            const int64_t n = rand_in(p - ctx_first + 1, cap - ctx_first);
            const int64_t qt = qts[rand_in(0, 6)];
            const int64_t vis = tile_vis(p, ctx_first, n, qt);
            assert_true(vis > p && vis <= cap);
            const gc_attn_split s = gc_attn_split_of(vis, rand_in(1, GCK_MAX_SPLIT), C);
            assert_true(s.ns <= GCK_MAX_SPLIT && s.merge);
            check_cover(s, vis);
            const int nv = query_view(s, vis, p, lo, hi, &tail);
            assert_true(tail);   // splits past p only after the query's own
            assert_int_equal(nv, nref);
            for (int k = 0; k < nv; k++) {
                assert_int_equal(lo[k], rlo[k]);
                assert_int_equal(hi[k], rhi[k]);
            }
            tiles++;
            longer += s.ns > nref;
        }
    }
    print_message("fixed rule: %ld tiles, %ld of them with splits wholly past the query\n", tiles, longer);
    assert_true(longer > 0);   // the masked-split case was exercised
}

static void test_balanced_rule(void **st) {
    (void)st;
    for (int i = 0; i < 20000; i++) {
        const int64_t vis = rand_in(1, 40000), want = rand_in(1, GCK_MAX_SPLIT);
        const gc_attn_split s = gc_attn_split_of(vis, want, 0);
        assert_true(s.ns <= want && s.ns <= cdiv(vis, GC_ATTN_KEY_TILE));
        assert_true(s.merge == (s.ns > 1));
        check_cover(s, vis);
    }
    // The same query (position 100) alone and in a longer tile, both at
    // want = 2: keys [0, 64) + [64, 101) alone, one split [0, 101) in the
    // tile of 200 keys: another order of summation.
    int64_t lo[GCK_MAX_SPLIT], hi[GCK_MAX_SPLIT];
    int tail;
    const gc_attn_split a = gc_attn_split_of(101, 2, 0), b = gc_attn_split_of(200, 2, 0);
    assert_int_equal(query_view(a, 101, 100, lo, hi, &tail), 2);
    assert_int_equal(query_view(b, 200, 100, lo, hi, &tail), 1);
    // And the split count follows the step's work (want): 2 splits vs 1 for the same tile.
    assert_int_equal(gc_attn_split_of(101, 2, 0).ns, 2);
    assert_int_equal(gc_attn_split_of(101, 1, 0).ns, 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_chunk),
        cmocka_unit_test(test_fixed_rule_is_per_query),
        cmocka_unit_test(test_balanced_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
