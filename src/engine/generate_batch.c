// Batched generation: all sequences advance together, one engine step per
// token, so the weights are read once per step for the whole batch.
#include "engine/gen_internal.h"
#include "core/error.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}


typedef struct seq_state {
    gc_sampler *smp;
    gc_detok *dt;
    char *text;
    size_t len, cap;
    bool done;
    int32_t next;
} seq_state;

static bool append(seq_state *s, const char *p, size_t n) {
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        while (cap < s->len + n + 1) cap *= 2;
        char *nt = realloc(s->text, cap);
        if (!nt) return false;
        s->text = nt;
        s->cap = cap;
    }
    memcpy(s->text + s->len, p, n);
    s->len += n;
    s->text[s->len] = 0;
    return true;
}

gc_status gc_generate_batch(gc_engine *e, const gc_tokenizer *tok, gc_gen_seq *seqs, int n, const gc_gen_params *p) {
    if (n < 1) return GC_OK;
    gc_model_info info;
    gc_model_get_info(gc_engine_model(e), &info);
    const int64_t V = info.vocab_size;
    seq_state *S = calloc((size_t)n, sizeof *S);
    float *logits = malloc((size_t)(n * V) * sizeof(float));
    gc_seq_step *steps = calloc((size_t)n, sizeof *steps);
    int *idx = malloc((size_t)n * sizeof *idx);
    gc_status st = GC_OK;
    if (!S || !logits || !steps || !idx) { st = gc_fail(GC_ERR_OOM, "out of memory"); goto done; }
    for (int i = 0; i < n && st == GC_OK; i++) {
        memset(&seqs[i].res, 0, sizeof seqs[i].res);
        seqs[i].res.unfed = -1;
        seqs[i].res.n_prompt = seqs[i].n_prompt;
        seqs[i].res.ids = malloc(((size_t)p->max_tokens + 1) * sizeof(int32_t));
        gc_sampler_params sp = p->sampling;
        sp.seed = seqs[i].seed;
        st = gc_sampler_new(&sp, V, &S[i].smp);
        if (st == GC_OK && tok && !(S[i].dt = gc_detok_new(tok, true))) st = gc_fail(GC_ERR_OOM, "out of memory");
        if (st == GC_OK && !seqs[i].res.ids) st = gc_fail(GC_ERR_OOM, "out of memory");
        if (st == GC_OK && seqs[i].n_prompt < 1) st = gc_fail(GC_ERR_INVALID_ARG, "generate_batch: sequence %d has an empty prompt", i);
    }
    if (st != GC_OK) goto done;
    double t0 = now_s();
    for (int i = 0; i < n; i++)
        steps[i] = (gc_seq_step){.kv = seqs[i].kv, .n = seqs[i].n_prompt, .ids = seqs[i].prompt, .logits = logits + i * V};
    if ((st = gc_engine_forward(e, steps, n)) != GC_OK) goto done;
    double t1 = now_s();
    for (int i = 0; i < n; i++) {
        seqs[i].res.prefill_s = t1 - t0;
        seqs[i].res.finish = GC_FINISH_LENGTH;
    }
    for (int t = 0; t < p->max_tokens; t++) {
        int active = 0;
        for (int i = 0; i < n; i++) {
            if (S[i].done) continue;
            gc_gen_result *r = &seqs[i].res;
            int32_t id = gc_sampler_sample(S[i].smp, logits + i * V);
            r->unfed = id;
            if (!p->ignore_eos && gc_gen_is_stop_id(e, tok, id)) { r->finish = GC_FINISH_EOS; S[i].done = true; continue; }
            r->ids[r->n_ids++] = id;
            if (S[i].dt) {
                const char *piece;
                size_t pl = gc_detok_push(S[i].dt, id, &piece);
                if (!append(&S[i], piece, pl)) { st = gc_fail(GC_ERR_OOM, "out of memory"); goto done; }
                size_t cut = gc_gen_find_stop(p, S[i].text, S[i].len);
                if (cut < S[i].len) {
                    S[i].len = cut;
                    S[i].text[cut] = 0;
                    r->finish = GC_FINISH_STOP;
                    S[i].done = true;
                    continue;
                }
            }
            if (t + 1 == p->max_tokens) { S[i].done = true; continue; }
            S[i].next = id;
            steps[active] = (gc_seq_step){.kv = seqs[i].kv, .n = 1, .ids = &S[i].next, .logits = logits + i * V};
            idx[active++] = i;
        }
        if (!active) break;
        if ((st = gc_engine_forward(e, steps, active)) != GC_OK) goto done;
        for (int a = 0; a < active; a++) seqs[idx[a]].res.unfed = -1;
    }
    double t2 = now_s();
    for (int i = 0; i < n; i++) {
        seqs[i].res.decode_s = t2 - t1;
        if (S[i].dt && seqs[i].res.finish != GC_FINISH_STOP) {
            const char *piece;
            size_t pl = gc_detok_flush(S[i].dt, &piece);
            if (!append(&S[i], piece, pl)) { st = gc_fail(GC_ERR_OOM, "out of memory"); goto done; }
        }
    }
done:
    for (int i = 0; S && i < n; i++) {
        if (!S[i].text) S[i].text = calloc(1, 1);
        seqs[i].res.text = S[i].text;
        seqs[i].res.text_len = S[i].len;
        gc_sampler_free(S[i].smp);
        gc_detok_free(S[i].dt);
    }
    free(S);
    free(logits);
    free(steps);
    free(idx);
    return st;
}
