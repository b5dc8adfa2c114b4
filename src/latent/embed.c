// Mean-pooled final hidden states as a text embedding.
#include "gcache/latent.h"
#include "gcache/tokenizer.h"
#include "core/error.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

gc_status gc_text_embed_model(gc_engine *e, const gc_tokenizer *tok, const char *text, double *out) {
    if (!tok) return gc_fail(GC_ERR_INVALID_ARG, "text embedding needs a tokenizer");
    gc_model_info info;
    gc_model_get_info(gc_engine_model(e), &info);
    const int64_t D = info.hidden_size;
    int32_t *ids;
    size_t n;
    GC_TRY(gc_tokenizer_encode(tok, text, strlen(text), false, &ids, &n));
    if (n == 0) {   // empty text: the zero vector
        free(ids);
        memset(out, 0, (size_t)D * sizeof *out);
        return GC_OK;
    }
    if ((int64_t)n > info.max_position) n = (size_t)info.max_position;
    gc_kv *kv = NULL;
    float *h = malloc(n * (size_t)D * sizeof(float));
    gc_status s = h ? gc_kv_new(e, &kv) : gc_fail(GC_ERR_OOM, "out of memory");
    if (s == GC_OK) {
        gc_seq_step st = {.kv = kv, .n = (int64_t)n, .ids = ids, .hidden = h, .hidden_all = true};
        s = gc_engine_forward(e, &st, 1);
    }
    if (s == GC_OK) {
        double norm = 0;
        for (int64_t d = 0; d < D; d++) {
            double acc = 0;
            for (size_t t = 0; t < n; t++) acc += h[t * (size_t)D + (size_t)d];
            out[d] = acc / (double)n;
            norm += out[d] * out[d];
        }
        norm = sqrt(norm);
        for (int64_t d = 0; d < D && norm > 0; d++) out[d] /= norm;
    }
    gc_kv_free(kv);
    free(h);
    free(ids);
    return s;
}
