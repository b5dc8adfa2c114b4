// Trace programs (see gcache/trace.h).
#include "gcache/trace.h"
#include "gcache/latent.h"
#include "core/error.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

// A parsed segment before running: ids for GC_SEG_IDS, a count otherwise.
typedef struct parsed {
    gc_trace_seg_type type;
    int64_t n;
    int32_t *ids;
} parsed;

static gc_status parse_count(const char *arg, int seg, const char *kind, int64_t *n) {
    char *end;
    errno = 0;
    long long v = strtoll(arg, &end, 10);
    if (errno || end == arg || *end || v < 1 || v > 1000000)
        return gc_fail(GC_ERR_INVALID_ARG, "trace segment %d (%s): expected a count in [1, 1000000], got '%s'", seg, kind, arg);
    *n = v;
    return GC_OK;
}

static gc_status parse_ids(const char *arg, int seg, int64_t vocab, parsed *p) {
    int64_t cap = 1;
    for (const char *c = arg; *c; c++) cap += *c == ',';
    p->ids = malloc((size_t)cap * sizeof(int32_t));
    if (!p->ids) return gc_fail(GC_ERR_OOM, "out of memory");
    const char *c = arg;
    p->n = 0;
    for (;;) {
        char *end;
        errno = 0;
        long long v = strtoll(c, &end, 10);
        if (errno || end == c || (*end && *end != ','))
            return gc_fail(GC_ERR_INVALID_ARG, "trace segment %d (ids): bad token id at '%.20s'", seg, c);
        if (v < 0 || v >= vocab)
            return gc_fail(GC_ERR_INVALID_ARG, "trace segment %d (ids): token id %lld out of range [0, %lld)", seg, v, (long long)vocab);
        p->ids[p->n++] = (int32_t)v;
        if (!*end) break;
        c = end + 1;
    }
    return GC_OK;
}

static gc_status parse_program(const char *program, int64_t vocab, parsed **out, int *n_out) {
    *out = NULL;
    *n_out = 0;
    char *copy = strdup(program);
    if (!copy) return gc_fail(GC_ERR_OOM, "out of memory");
    int cap = 1;
    for (const char *c = program; *c; c++) cap += *c == ';';
    parsed *ps = calloc((size_t)cap, sizeof *ps);
    if (!ps) { free(copy); return gc_fail(GC_ERR_OOM, "out of memory"); }
    gc_status s = GC_OK;
    int n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ";", &save); tok && s == GC_OK; tok = strtok_r(NULL, ";", &save)) {
        while (*tok == ' ') tok++;
        char *colon = strchr(tok, ':');
        if (!colon) { s = gc_fail(GC_ERR_INVALID_ARG, "trace segment %d: expected KIND:ARG, got '%s'", n, tok); break; }
        *colon = 0;
        const char *arg = colon + 1;
        parsed *p = &ps[n];
        if (strcmp(tok, "ids") == 0) { p->type = GC_SEG_IDS; s = parse_ids(arg, n, vocab, p); }
        else if (strcmp(tok, "latent") == 0) { p->type = GC_SEG_LATENT; s = parse_count(arg, n, tok, &p->n); }
        else if (strcmp(tok, "greedy") == 0) { p->type = GC_SEG_GREEDY; s = parse_count(arg, n, tok, &p->n); }
        else s = gc_fail(GC_ERR_INVALID_ARG, "trace segment %d: unknown kind '%s' (ids, latent, greedy)", n, tok);
        n++;
    }
    free(copy);
    if (s == GC_OK && n == 0) s = gc_fail(GC_ERR_INVALID_ARG, "trace program is empty");
    if (s == GC_OK && ps[0].type != GC_SEG_IDS)
        s = gc_fail(GC_ERR_INVALID_ARG, "trace segment 0: a program must start with ids:");
    if (s != GC_OK) {
        for (int i = 0; i < n; i++) free(ps[i].ids);
        free(ps);
        return s;
    }
    *out = ps;
    *n_out = n;
    return GC_OK;
}

static int32_t argmax(const float *x, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return (int32_t)best;
}

// Runs one segment; `last_logits` (V) / `last_hidden` (D) carry state across segments.
static gc_status run_seg(gc_engine *e, gc_kv *kv, const gc_realign *ra, parsed *p, gc_trace_seg *out,
                         float *last_logits, float *last_hidden, int64_t V, int64_t D) {
    out->type = p->type;
    out->n = p->n;
    if (p->type == GC_SEG_IDS) {
        out->logits = malloc((size_t)(p->n * V) * sizeof(float));
        out->hidden = malloc((size_t)D * sizeof(float));
        if (!out->logits || !out->hidden) return gc_fail(GC_ERR_OOM, "out of memory");
        gc_seq_step st = {.kv = kv, .n = p->n, .ids = p->ids, .logits = out->logits, .logits_all = true, .hidden = out->hidden};
        GC_TRY(gc_engine_forward(e, &st, 1));
        memcpy(last_logits, out->logits + (p->n - 1) * V, (size_t)V * sizeof(float));
        memcpy(last_hidden, out->hidden, (size_t)D * sizeof(float));
    } else if (p->type == GC_SEG_LATENT) {
        out->hidden = malloc((size_t)(p->n * D) * sizeof(float));
        out->logits_last = malloc((size_t)V * sizeof(float));
        float *emb = malloc((size_t)D * sizeof(float));
        if (!out->hidden || !out->logits_last || !emb) { free(emb); return gc_fail(GC_ERR_OOM, "out of memory"); }
        for (int64_t k = 0; k < p->n; k++) {
            gc_realign_apply(ra, last_hidden, emb);
            gc_seq_step st = {.kv = kv, .n = 1, .embeds = emb, .logits = last_logits, .hidden = last_hidden};
            gc_status s = gc_engine_forward(e, &st, 1);
            if (s != GC_OK) { free(emb); return s; }
            memcpy(out->hidden + k * D, last_hidden, (size_t)D * sizeof(float));
        }
        free(emb);
        memcpy(out->logits_last, last_logits, (size_t)V * sizeof(float));
    } else {
        out->ids = malloc((size_t)p->n * sizeof(int32_t));
        if (!out->ids) return gc_fail(GC_ERR_OOM, "out of memory");
        for (int64_t k = 0; k < p->n; k++) {
            int32_t t = argmax(last_logits, V);
            out->ids[k] = t;
            gc_seq_step st = {.kv = kv, .n = 1, .ids = &t, .logits = last_logits, .hidden = last_hidden};
            GC_TRY(gc_engine_forward(e, &st, 1));
        }
    }
    return GC_OK;
}

gc_status gc_trace_run(gc_engine *e, const char *program, const gc_trace_opts *o, gc_trace **out) {
    *out = NULL;
    gc_model_info info;
    gc_model_get_info(gc_engine_model(e), &info);
    const int64_t V = info.vocab_size, D = info.hidden_size;
    parsed *ps;
    int n;
    GC_TRY(parse_program(program, V, &ps, &n));
    gc_trace *t = calloc(1, sizeof *t);
    gc_kv *kv = NULL;
    gc_realign *ra = NULL;
    float *ll = malloc((size_t)V * sizeof(float)), *lh = malloc((size_t)D * sizeof(float));
    gc_status s = GC_OK;
    if (!t || !ll || !lh || !(t->segs = calloc((size_t)n, sizeof *t->segs))) { s = gc_fail(GC_ERR_OOM, "out of memory"); goto done; }
    t->n_segs = n;
    t->vocab = V;
    t->dim = D;
    bool need_realign = false;
    for (int i = 0; i < n; i++) need_realign |= ps[i].type == GC_SEG_LATENT;
    if (need_realign && (s = gc_realign_new(gc_engine_model(e), o ? o->realign : true, &ra)) != GC_OK) goto done;
    if ((s = gc_kv_new(e, &kv)) != GC_OK) goto done;
    for (int i = 0; i < n && s == GC_OK; i++) {
        s = run_seg(e, kv, ra, &ps[i], &t->segs[i], ll, lh, V, D);
        if (s != GC_OK) gc_fail_wrap(s, "trace segment %d", i);
    }
done:
    for (int i = 0; i < n; i++) free(ps[i].ids);
    free(ps);
    free(ll);
    free(lh);
    gc_kv_free(kv);
    gc_realign_free(ra);
    if (s != GC_OK) { gc_trace_free(t); return s; }
    *out = t;
    return GC_OK;
}

void gc_trace_free(gc_trace *t) {
    if (!t) return;
    for (int i = 0; t->segs && i < t->n_segs; i++) {
        free(t->segs[i].logits);
        free(t->segs[i].hidden);
        free(t->segs[i].logits_last);
        free(t->segs[i].ids);
    }
    free(t->segs);
    free(t);
}

static void write_floats(FILE *f, const float *x, int64_t n) {
    fputc('[', f);
    for (int64_t i = 0; i < n; i++) {
        if (i) fputc(',', f);
        if (isfinite(x[i])) fprintf(f, "%.9g", x[i]);
        else fputs("null", f);
    }
    fputc(']', f);
}

static void write_rows(FILE *f, const float *x, int64_t rows, int64_t w) {
    fputc('[', f);
    for (int64_t r = 0; r < rows; r++) {
        if (r) fputc(',', f);
        write_floats(f, x + r * w, w);
    }
    fputc(']', f);
}

void gc_trace_write_json(const gc_trace *t, FILE *f) {
    fputs("{\"segments\":[", f);
    for (int i = 0; i < t->n_segs; i++) {
        const gc_trace_seg *s = &t->segs[i];
        if (i) fputc(',', f);
        if (s->type == GC_SEG_IDS) {
            fputs("{\"type\":\"ids\",\"logits\":", f);
            write_rows(f, s->logits, s->n, t->vocab);
            fputs(",\"hidden_last\":", f);
            write_floats(f, s->hidden, t->dim);
        } else if (s->type == GC_SEG_LATENT) {
            fputs("{\"type\":\"latent\",\"hidden\":", f);
            write_rows(f, s->hidden, s->n, t->dim);
            fputs(",\"logits_last\":", f);
            write_floats(f, s->logits_last, t->vocab);
        } else {
            fputs("{\"type\":\"greedy\",\"ids\":[", f);
            for (int64_t k = 0; k < s->n; k++) fprintf(f, "%s%d", k ? "," : "", s->ids[k]);
            fputc(']', f);
        }
        fputc('}', f);
    }
    fputs("]}\n", f);
}
