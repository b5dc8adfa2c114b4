// Summary over every line of DIR/results.jsonl (old runs and resumed ones):
// a repeated id counts once with its last line; a torn last line is ignored
// (the writer removes it on resume).
#include "gcache/eval.h"
#include "core/error.h"
#include "core/file.h"
#include "core/vec.h"
#include "eval/results_internal.h"
#include "eval/strset.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    char *id;
    int correct;   // -1 absent, else 0/1
    double tokens, seconds, cost;
    bool has_tokens, has_seconds, has_cost;
} entry;

typedef struct collect {
    entry *e;
    size_t n, cap;
    const char *path;
    int64_t line;
} collect;

static bool num(const cJSON *obj, const char *key, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return false;
    *out = v->valuedouble;
    return true;
}

static gc_status add_entry(void *user, const cJSON *obj, const char *id) {
    collect *c = user;
    if (!GC_VEC_RESERVE(c->e, c->cap, c->n + 1)) return gc_fail(GC_ERR_OOM, "%s: out of memory", c->path);
    entry *e = &c->e[c->n];
    memset(e, 0, sizeof *e);
    e->id = strdup(id);
    if (!e->id) return gc_fail(GC_ERR_OOM, "%s: out of memory", c->path);
    const cJSON *cv = cJSON_GetObjectItemCaseSensitive(obj, "correct");
    e->correct = cJSON_IsBool(cv) ? cJSON_IsTrue(cv) : -1;
    e->has_tokens = num(obj, "output_tokens", &e->tokens);
    e->has_seconds = num(obj, "seconds", &e->seconds);
    e->has_cost = num(obj, "cost", &e->cost);
    c->n++;
    return GC_OK;
}

static void compute(const collect *c, gc_results_summary *s, gc_strset *seen, bool *oom) {
    memset(s, 0, sizeof *s);
    double tok = 0, sec = 0;
    size_t n_tok = 0, n_sec = 0, n_cost = 0;
    for (size_t i = c->n; i-- > 0;) {  // last line of an id wins
        const entry *e = &c->e[i];
        int added = gc_strset_add(seen, e->id);
        if (added < 0) { *oom = true; return; }
        if (!added) continue;
        s->n++;
        if (e->correct >= 0) { s->n_scored++; s->n_correct += (size_t)e->correct; }
        if (e->has_tokens) { tok += e->tokens; n_tok++; }
        if (e->has_seconds) { sec += e->seconds; n_sec++; }
        if (e->has_cost) { s->total_cost += e->cost; n_cost++; }
    }
    s->accuracy = s->n_scored ? (double)s->n_correct / (double)s->n_scored : 0;
    s->mean_output_tokens = n_tok ? tok / (double)n_tok : 0;
    s->mean_seconds = n_sec ? sec / (double)n_sec : 0;
    s->has_cost = n_cost > 0;
    s->mean_cost = n_cost ? s->total_cost / (double)n_cost : 0;
}

static char *summary_json(const gc_results_summary *s, const cJSON *run) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddNumberToObject(o, "questions", (double)s->n);
    cJSON_AddNumberToObject(o, "scored", (double)s->n_scored);
    cJSON_AddNumberToObject(o, "correct", (double)s->n_correct);
    cJSON_AddNumberToObject(o, "accuracy", s->accuracy);
    cJSON_AddNumberToObject(o, "mean_output_tokens", s->mean_output_tokens);
    cJSON_AddNumberToObject(o, "mean_seconds", s->mean_seconds);
    if (s->has_cost) {
        cJSON_AddNumberToObject(o, "total_cost", s->total_cost);
        cJSON_AddNumberToObject(o, "mean_cost", s->mean_cost);
    }
    if (run) {
        cJSON *copy = cJSON_Duplicate(run, true);
        if (!copy || !cJSON_AddItemToObject(o, "run", copy)) { cJSON_Delete(copy); cJSON_Delete(o); return NULL; }
    }
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    return text;
}

gc_status gc_results_summarize(const char *dir, gc_results_summary *out) {
    return gc_results_summarize_run(dir, NULL, out);
}

gc_status gc_results_summarize_run(const char *dir, const cJSON *run, gc_results_summary *out) {
    char *path = gc_path_join(dir, "results.jsonl");
    char *spath = gc_path_join(dir, "summary.json");
    char *d = NULL;
    size_t len = 0, tail;
    int64_t tail_line;
    collect c = {0};
    gc_strset seen = {0};
    gc_status st = (!path || !spath) ? gc_fail(GC_ERR_OOM, "out of memory") : GC_OK;
    if (st == GC_OK) st = gc_file_read_all(path, &d, &len);
    if (st == GC_OK) {
        c.path = path;
        st = gc_results_each_line(path, d, len, add_entry, &c, &tail, &tail_line);
    }
    gc_results_summary s;
    if (st == GC_OK) {
        bool oom = false;
        compute(&c, &s, &seen, &oom);
        if (oom) st = gc_fail(GC_ERR_OOM, "out of memory");
    }
    if (st == GC_OK) {
        char *text = summary_json(&s, run);
        if (!text) st = gc_fail(GC_ERR_OOM, "out of memory");
        else {
            size_t tl = strlen(text);
            text[tl] = '\n';  // replaces the NUL; written with its length
            st = gc_file_write_atomic(spath, text, tl + 1);
            free(text);
        }
    }
    if (st == GC_OK && out) *out = s;
    for (size_t i = 0; i < c.n; i++) free(c.e[i].id);
    free(c.e);
    gc_strset_free(&seen);
    free(d);
    free(path);
    free(spath);
    return st;
}

void gc_results_summary_print(const gc_results_summary *s, FILE *fp) {
    fprintf(fp, "%-20s %12zu\n", "questions", s->n);
    fprintf(fp, "%-20s %12zu\n", "scored", s->n_scored);
    fprintf(fp, "%-20s %12zu\n", "correct", s->n_correct);
    fprintf(fp, "%-20s %11.2f%%\n", "accuracy", 100.0 * s->accuracy);
    fprintf(fp, "%-20s %12.1f\n", "output tokens / q", s->mean_output_tokens);
    fprintf(fp, "%-20s %12.3f\n", "seconds / q", s->mean_seconds);
    if (s->has_cost) {
        fprintf(fp, "%-20s %12.4f\n", "total cost", s->total_cost);
        fprintf(fp, "%-20s %12.6f\n", "cost / q", s->mean_cost);
    }
}
