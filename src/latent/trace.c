// Trace programs (see gcache/trace.h).
#include "gcache/trace.h"
#include "gcache/latent.h"
#include "core/error.h"
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_NAMES = 64, MAX_NAME_LEN = 63, MAX_REFS = 64 };

// A parsed segment: ids for ids:, a count for latent/greedy/keep, cache
// references (indices into the program's name table) for concat/wsum.
typedef struct parsed {
    gc_trace_seg_type type;
    int64_t n;
    int32_t *ids;
    int n_refs;
    int refs[MAX_REFS];
    float w[MAX_REFS];
    int name;   // save: target name index
} parsed;

typedef struct names {
    int n;
    char s[MAX_NAMES][MAX_NAME_LEN + 1];
} names;

static gc_status parse_int(const char *arg, int seg, const char *kind, int64_t lo, int64_t *n) {
    char *end;
    errno = 0;
    long long v = strtoll(arg, &end, 10);
    if (errno || end == arg || *end || v < lo || v > 1000000)
        return gc_fail(GC_ERR_INVALID_ARG, "trace segment %d (%s): expected an integer in [%lld, 1000000], got '%s'",
                       seg, kind, (long long)lo, arg);
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
            return gc_fail(GC_ERR_INVALID_ARG, "trace segment %d (ids): token id %lld out of range [0, %lld)", seg, v,
                           (long long)vocab);
        p->ids[p->n++] = (int32_t)v;
        if (!*end) break;
        c = end + 1;
    }
    return GC_OK;
}

static bool valid_name(const char *s) {
    if (!*s || strlen(s) > MAX_NAME_LEN) return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-') return false;
    return true;
}

static int find_name(const names *nm, const char *s) {
    for (int i = 0; i < nm->n; i++)
        if (strcmp(nm->s[i], s) == 0) return i;
    return -1;
}

// "A,B,C" (concat) or "A@0.7,B@0.3" (wsum, weights required).
static gc_status parse_refs(char *arg, int seg, const char *kind, bool weights, const names *nm, parsed *p) {
    char *save = NULL;
    for (char *tok = strtok_r(arg, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (p->n_refs == MAX_REFS) return gc_fail(GC_ERR_INVALID_ARG, "trace segment %d (%s): more than %d caches", seg, kind, MAX_REFS);
        char *at = strchr(tok, '@');
        float w = 1.0f;
        if (weights) {
            if (!at) return gc_fail(GC_ERR_INVALID_ARG, "trace segment %d (%s): expected NAME@WEIGHT, got '%s'", seg, kind, tok);
            *at = 0;
            char *end;
            errno = 0;
            double d = strtod(at + 1, &end);
            if (errno || end == at + 1 || *end || !isfinite(d))
                return gc_fail(GC_ERR_INVALID_ARG, "trace segment %d (%s): bad weight '%s'", seg, kind, at + 1);
            w = (float)d;
        } else if (at) {
            return gc_fail(GC_ERR_INVALID_ARG, "trace segment %d (%s): weights are for wsum, got '%s'", seg, kind, tok);
        }
        int id = find_name(nm, tok);
        if (id < 0) return gc_fail(GC_ERR_INVALID_ARG, "trace segment %d (%s): no cache saved as '%s'", seg, kind, tok);
        p->refs[p->n_refs] = id;
        p->w[p->n_refs++] = w;
    }
    if (p->n_refs == 0) return gc_fail(GC_ERR_INVALID_ARG, "trace segment %d (%s): no caches named", seg, kind);
    return GC_OK;
}

static gc_status parse_one(char *tok, int i, int64_t vocab, names *nm, parsed *p) {
    while (*tok == ' ') tok++;
    char *colon = strchr(tok, ':');
    char *arg = colon ? colon + 1 : NULL;
    if (colon) *colon = 0;
    if (strcmp(tok, "reset") == 0) {
        if (arg) return gc_fail(GC_ERR_INVALID_ARG, "trace segment %d: reset takes no argument", i);
        p->type = GC_SEG_RESET;
        return GC_OK;
    }
    if (!arg) return gc_fail(GC_ERR_INVALID_ARG, "trace segment %d: expected KIND:ARG, got '%s'", i, tok);
    if (strcmp(tok, "ids") == 0) { p->type = GC_SEG_IDS; return parse_ids(arg, i, vocab, p); }
    if (strcmp(tok, "latent") == 0) { p->type = GC_SEG_LATENT; return parse_int(arg, i, tok, 1, &p->n); }
    if (strcmp(tok, "greedy") == 0) { p->type = GC_SEG_GREEDY; return parse_int(arg, i, tok, 1, &p->n); }
    if (strcmp(tok, "keep") == 0) { p->type = GC_SEG_KEEP; return parse_int(arg, i, tok, 0, &p->n); }
    if (strcmp(tok, "concat") == 0) { p->type = GC_SEG_CONCAT; return parse_refs(arg, i, tok, false, nm, p); }
    if (strcmp(tok, "wsum") == 0) { p->type = GC_SEG_WSUM; return parse_refs(arg, i, tok, true, nm, p); }
    if (strcmp(tok, "save") == 0) {
        p->type = GC_SEG_SAVE;
        if (!valid_name(arg))
            return gc_fail(GC_ERR_INVALID_ARG, "trace segment %d (save): name '%s' must be 1-%d of [A-Za-z0-9_-]", i, arg, MAX_NAME_LEN);
        int id = find_name(nm, arg);
        if (id < 0) {
            if (nm->n == MAX_NAMES) return gc_fail(GC_ERR_INVALID_ARG, "trace segment %d (save): more than %d names", i, MAX_NAMES);
            id = nm->n++;
            strcpy(nm->s[id], arg);
        }
        p->name = id;
        return GC_OK;
    }
    return gc_fail(GC_ERR_INVALID_ARG, "trace segment %d: unknown kind '%s' (ids, latent, greedy, save, reset, concat, keep, wsum)", i, tok);
}

static void free_parsed(parsed *ps, int n) {
    for (int i = 0; i < n; i++) free(ps[i].ids);
    free(ps);
}

static gc_status parse_program(const char *program, int64_t vocab, names *nm, parsed **out, int *n_out) {
    *out = NULL;
    *n_out = 0;
    int cap = 1;
    for (const char *c = program; *c; c++) cap += *c == ';';
    char *copy = strdup(program);
    parsed *ps = calloc((size_t)cap, sizeof *ps);
    if (!copy || !ps) { free(copy); free(ps); return gc_fail(GC_ERR_OOM, "out of memory"); }
    gc_status s = GC_OK;
    int n = 0;
    bool have_logits = false;   // static check: latent/greedy need a prior ids
    char *save = NULL;
    for (char *tok = strtok_r(copy, ";", &save); tok && s == GC_OK; tok = strtok_r(NULL, ";", &save), n++) {
        s = parse_one(tok, n, vocab, nm, &ps[n]);
        if (s != GC_OK) { n++; break; }
        switch (ps[n].type) {
        case GC_SEG_IDS: have_logits = true; break;
        case GC_SEG_LATENT: case GC_SEG_GREEDY:
            if (!have_logits)
                s = gc_fail(GC_ERR_INVALID_ARG, "trace segment %d: latent/greedy need the logits of a preceding ids: segment", n);
            break;
        case GC_SEG_SAVE: break;
        default: have_logits = false;
        }
    }
    free(copy);
    if (s == GC_OK && n == 0) s = gc_fail(GC_ERR_INVALID_ARG, "trace program is empty");
    if (s != GC_OK) { free_parsed(ps, n); return s; }
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

typedef struct state {
    gc_engine *e;
    gc_kv *cur;
    gc_kv *saved[MAX_NAMES];
    const gc_realign *ra;
    float *last_logits, *last_hidden;   // (V), (D) at the last position fed
    int64_t V, D;
} state;

static gc_status feed(state *S, const int32_t *ids, const float *emb, int64_t n, float *logits_all) {
    gc_seq_step st = {.kv = S->cur, .n = n, .ids = ids, .embeds = emb,
                      .logits = logits_all ? logits_all : S->last_logits, .logits_all = logits_all != NULL,
                      .hidden = S->last_hidden};
    GC_TRY(gc_engine_forward(S->e, &st, 1));
    if (logits_all) memcpy(S->last_logits, logits_all + (n - 1) * S->V, (size_t)S->V * sizeof(float));
    return GC_OK;
}

static gc_status replace_cur(state *S, gc_kv *nk) {
    gc_kv_free(S->cur);
    S->cur = nk;
    return GC_OK;
}

static gc_status run_seg(state *S, const parsed *p, gc_trace_seg *out) {
    const int64_t V = S->V, D = S->D;
    out->type = p->type;
    out->n = p->n;
    switch (p->type) {
    case GC_SEG_IDS:
        out->logits = malloc((size_t)(p->n * V) * sizeof(float));
        out->hidden = malloc((size_t)D * sizeof(float));
        if (!out->logits || !out->hidden) return gc_fail(GC_ERR_OOM, "out of memory");
        GC_TRY(feed(S, p->ids, NULL, p->n, out->logits));
        memcpy(out->hidden, S->last_hidden, (size_t)D * sizeof(float));
        return GC_OK;
    case GC_SEG_LATENT: {
        out->hidden = malloc((size_t)(p->n * D) * sizeof(float));
        out->logits_last = malloc((size_t)V * sizeof(float));
        float *emb = malloc((size_t)D * sizeof(float));
        gc_status s = (!out->hidden || !out->logits_last || !emb) ? gc_fail(GC_ERR_OOM, "out of memory") : GC_OK;
        for (int64_t k = 0; s == GC_OK && k < p->n; k++) {
            gc_realign_apply(S->ra, S->last_hidden, emb);
            s = feed(S, NULL, emb, 1, NULL);
            if (s == GC_OK) memcpy(out->hidden + k * D, S->last_hidden, (size_t)D * sizeof(float));
        }
        free(emb);
        if (s == GC_OK) memcpy(out->logits_last, S->last_logits, (size_t)V * sizeof(float));
        return s;
    }
    case GC_SEG_GREEDY:
        out->ids = malloc((size_t)p->n * sizeof(int32_t));
        if (!out->ids) return gc_fail(GC_ERR_OOM, "out of memory");
        for (int64_t k = 0; k < p->n; k++) {
            int32_t t = argmax(S->last_logits, V);
            out->ids[k] = t;
            GC_TRY(feed(S, &t, NULL, 1, NULL));
        }
        return GC_OK;
    case GC_SEG_SAVE: {
        gc_kv *f;
        GC_TRY(gc_kv_fork(S->cur, &f));
        gc_kv_free(S->saved[p->name]);
        S->saved[p->name] = f;
        return GC_OK;
    }
    case GC_SEG_RESET: {
        gc_kv *nk;
        GC_TRY(gc_kv_new(S->e, &nk));
        return replace_cur(S, nk);
    }
    case GC_SEG_KEEP:
        return gc_kv_keep_last(S->cur, p->n);
    case GC_SEG_CONCAT:
    case GC_SEG_WSUM: {
        gc_kv *parts[MAX_REFS], *nk;
        for (int i = 0; i < p->n_refs; i++) parts[i] = S->saved[p->refs[i]];
        if (p->type == GC_SEG_CONCAT) GC_TRY(gc_kv_concat(parts, p->n_refs, &nk));
        else GC_TRY(gc_kv_wsum(parts, p->w, p->n_refs, &nk));
        return replace_cur(S, nk);
    }
    }
    return gc_fail(GC_ERR_INTERNAL, "unknown trace segment");
}

gc_status gc_trace_run(gc_engine *e, const char *program, const gc_trace_opts *o, gc_trace **out) {
    *out = NULL;
    gc_model_info info;
    gc_model_get_info(gc_engine_model(e), &info);
    names nm = {0};
    parsed *ps;
    int n;
    GC_TRY(parse_program(program, info.vocab_size, &nm, &ps, &n));
    state S = {.e = e, .V = info.vocab_size, .D = info.hidden_size};
    gc_realign *ra = NULL;
    gc_trace *t = calloc(1, sizeof *t);
    S.last_logits = malloc((size_t)S.V * sizeof(float));
    S.last_hidden = malloc((size_t)S.D * sizeof(float));
    gc_status s = GC_OK;
    if (!t || !S.last_logits || !S.last_hidden || !(t->segs = calloc((size_t)n, sizeof *t->segs))) {
        s = gc_fail(GC_ERR_OOM, "out of memory");
        goto done;
    }
    t->n_segs = n;
    t->vocab = S.V;
    t->dim = S.D;
    bool need_realign = false;
    for (int i = 0; i < n; i++) need_realign |= ps[i].type == GC_SEG_LATENT;
    if (need_realign && (s = gc_realign_new(gc_engine_model(e), o ? o->realign : true, gc_engine_n_threads(e), &ra)) != GC_OK) goto done;
    S.ra = ra;
    if ((s = gc_kv_new(e, &S.cur)) != GC_OK) goto done;
    for (int i = 0; i < n && s == GC_OK; i++) {
        s = run_seg(&S, &ps[i], &t->segs[i]);
        if (s != GC_OK) gc_fail_wrap(s, "trace segment %d", i);
        t->segs[i].cache_len = gc_kv_len(S.cur);
    }
done:
    free_parsed(ps, n);
    free(S.last_logits);
    free(S.last_hidden);
    gc_kv_free(S.cur);
    for (int i = 0; i < MAX_NAMES; i++) gc_kv_free(S.saved[i]);
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

static const char *seg_name(gc_trace_seg_type t) {
    static const char *const n[] = {"ids", "latent", "greedy", "save", "reset", "concat", "keep", "wsum"};
    return n[t];
}

void gc_trace_write_json(const gc_trace *t, FILE *f) {
    fputs("{\"segments\":[", f);
    for (int i = 0; i < t->n_segs; i++) {
        const gc_trace_seg *s = &t->segs[i];
        if (i) fputc(',', f);
        fprintf(f, "{\"type\":\"%s\"", seg_name(s->type));
        if (s->type == GC_SEG_IDS) {
            fputs(",\"logits\":", f);
            write_rows(f, s->logits, s->n, t->vocab);
            fputs(",\"hidden_last\":", f);
            write_floats(f, s->hidden, t->dim);
        } else if (s->type == GC_SEG_LATENT) {
            fputs(",\"hidden\":", f);
            write_rows(f, s->hidden, s->n, t->dim);
            fputs(",\"logits_last\":", f);
            write_floats(f, s->logits_last, t->vocab);
        } else if (s->type == GC_SEG_GREEDY) {
            fputs(",\"ids\":[", f);
            for (int64_t k = 0; k < s->n; k++) fprintf(f, "%s%d", k ? "," : "", s->ids[k]);
            fputc(']', f);
        }
        fputc('}', f);
    }
    fputs("]}\n", f);
}
