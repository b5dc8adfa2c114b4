// libFuzzer target: any bytes as a tokenizer.json. Loading must either fail
// cleanly or give a tokenizer that encodes, decodes and streams a fixed text
// (specials, digits, whitespace runs, multi-byte and invalid-for-BPE bytes)
// without touching memory it does not own. Seeds: fuzz/corpus/tokenizer_json/.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gcache/tokenizer.h"

static const char TEXT[] = "Hello, world! <|im_start|>user\n I'm 12,345 caf\xc3\xa9 \xf0\x9f\x98\x80\t\n\n  x<think>y"
                           "</think> [MASK]  word<R>  \r\n\xe4\xb8\xad\xe6\x96\x87";

static void exercise(const gc_tokenizer *t, bool parse_special) {
    int32_t *ids;
    size_t n;
    if (gc_tokenizer_encode(t, TEXT, sizeof TEXT - 1, parse_special, &ids, &n) != GC_OK) return;
    char *text;
    size_t len;
    if (gc_tokenizer_decode(t, ids, n, !parse_special, &text, &len) == GC_OK) free(text);
    gc_detok *d = gc_detok_new(t, parse_special);
    if (d) {
        const char *out;
        for (size_t i = 0; i < n; i++) gc_detok_push(d, ids[i], &out);
        gc_detok_push(d, (int32_t)gc_tokenizer_vocab_size(t), &out);
        gc_detok_flush(d, &out);
        gc_detok_free(d);
    }
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gc_tokenizer *t;
    if (gc_tokenizer_load_json((const char *)data, size, "fuzz.json", &t) != GC_OK) return 0;
    exercise(t, true);
    exercise(t, false);
    gc_tokenizer_find(t, "<|im_start|>");
    gc_tokenizer_free(t);
    return 0;
}
