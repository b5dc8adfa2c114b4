// libFuzzer target: the input is a saved KV cache file (gc_kv_save's layout,
// src/kv/kv_io.c), loaded into an f32 and a q8 engine of the tiny llama
// fixture (run from the repository root). Each input is loaded twice: as
// given (the checksum guards it) and with its trailing checksum recomputed,
// so that mutations reach the header, span and q8 checks. A cache that
// loads must read back at every position, take one more token, and save
// and load again.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/hash.h"
#include "gcache/engine.h"

static gc_model *g_model;
static gc_engine *g_eng[2];   // f32, q8
static char g_path[64], g_path2[64];

static int init(void) {
    if (g_model) return 1;
    if (gc_model_load("tests/data/tiny/llama", &g_model) != GC_OK) return 0;
    for (int i = 0; i < 2; i++) {
        gc_engine_params p = gc_engine_default_params();
        p.n_threads = 1;
        p.kv_dtype = i ? GC_KV_Q8 : GC_KV_F32;
        if (gc_engine_new(g_model, &p, &g_eng[i]) != GC_OK) abort();
    }
    snprintf(g_path, sizeof g_path, "/tmp/gc_fuzz_kv_%d", (int)getpid());
    snprintf(g_path2, sizeof g_path2, "/tmp/gc_fuzz_kv_%d.2", (int)getpid());
    return 1;
}

static void exercise(const uint8_t *data, size_t size) {
    FILE *f = fopen(g_path, "wb");
    if (!f) return;
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
    for (int i = 0; i < 2; i++) {
        gc_kv *kv = NULL;
        if (gc_kv_load(g_eng[i], g_path, &kv) != GC_OK) {
            if (kv) abort();
            continue;
        }
        float k[16], v[16];
        for (int64_t p = 0; p < gc_kv_len(kv); p++)
            for (int l = 0; l < 3; l++)
                if (gc_kv_read(kv, l, p, k, v) != GC_OK) abort();
        int32_t id = 7;
        gc_seq_step s = {.kv = kv, .n = 1, .ids = &id};
        if (gc_kv_len(kv) < 512 && gc_engine_forward(g_eng[i], &s, 1) != GC_OK) abort();
        gc_kv *again = NULL;
        if (gc_kv_save(kv, g_path2) != GC_OK || gc_kv_load(g_eng[i], g_path2, &again) != GC_OK) abort();
        if (gc_kv_len(again) != gc_kv_len(kv)) abort();
        gc_kv_free(again);
        gc_kv_free(kv);
        if (gc_engine_kv_live_blocks(g_eng[i]) != 0) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!init()) return 0;
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    exercise(buf, size);
    if (size >= 64) {
        uint64_t h = gc_fnv1a(GC_FNV_INIT, buf, size - 8);
        for (int k = 0; k < 8; k++) buf[size - 8 + k] = (uint8_t)(h >> (8 * k));
        exercise(buf, size);
    }
    free(buf);
    return 0;
}
