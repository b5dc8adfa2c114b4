// Adapter between `gcache run` and the evaluation harness (src/eval,
// src/core/progress): the run loop only sees run_io.h.
#include "cli/run_io.h"
#include "gcache/eval.h"
#include "core/error.h"
#include "core/progress.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct runio_set { gc_dataset *ds; gc_task task; };

gc_status runio_load(const char *task, const char *path, bool strict, uint64_t seed, runio_set **out) {
    *out = NULL;
    gc_task t;
    GC_TRY(gc_task_from_name(task, &t));
    gc_dataset_options opt = {.strict = strict, .seed = seed};
    gc_dataset *ds;
    GC_TRY(gc_dataset_load(t, path, &opt, &ds));
    for (size_t i = 0; i < gc_dataset_warning_count(ds); i++)
        fprintf(stderr, "gcache run: warning: %s\n", gc_dataset_warning(ds, i));
    if (gc_dataset_skipped(ds))
        fprintf(stderr, "gcache run: %zu malformed records skipped (--strict makes them fatal)\n", gc_dataset_skipped(ds));
    runio_set *s = calloc(1, sizeof *s);
    if (!s) { gc_dataset_free(ds); return gc_fail(GC_ERR_OOM, "out of memory"); }
    s->ds = ds;
    s->task = t;
    *out = s;
    return GC_OK;
}

int64_t runio_count(const runio_set *s) { return (int64_t)gc_dataset_count(s->ds); }

runio_q runio_get(const runio_set *s, int64_t i) {
    const gc_question *q = gc_dataset_get(s->ds, (size_t)i);
    runio_q r = {q->id, q->question, gc_task_answer_kind(s->task) == GC_ANSWER_CODE ? NULL : q->gold};
    return r;
}

void runio_free(runio_set *s) {
    if (!s) return;
    gc_dataset_free(s->ds);
    free(s);
}

bool runio_score(const char *task, const runio_set *s, int64_t i, const char *text, char **pred, cJSON *rec) {
    (void)task;
    const gc_question *q = gc_dataset_get(s->ds, (size_t)i);
    gc_answer_kind kind = gc_task_answer_kind(s->task);
    *pred = NULL;
    if (kind != GC_ANSWER_CODE) {
        gc_score sc;
        if (gc_answer_score(kind, q, text, &sc) != GC_OK || !sc.extracted) return false;
        *pred = strdup(sc.pred);
        return sc.correct;
    }
    // Code: run candidate + tests in the sandbox; a failure is a wrong answer.
    char *prog = gc_code_program(q, text);
    if (!prog) return false;
    gc_sandbox_limits lim;
    gc_sandbox_limits_default(&lim);
    gc_sandbox_result r;
    memset(&r, 0, sizeof r);
    bool ok = gc_sandbox_run(prog, &lim, &r) == GC_OK && r.passed;
    cJSON *sb = cJSON_CreateObject();
    cJSON_AddStringToObject(sb, "outcome", gc_sandbox_outcome_name(r.outcome));
    cJSON_AddStringToObject(sb, "reason", r.reason);
    cJSON_AddNumberToObject(sb, "wall_s", r.wall_seconds);
    cJSON_AddBoolToObject(sb, "net_isolated", r.net_isolated);
    cJSON_AddItemToObject(rec, "sandbox", sb);
    *pred = gc_answer_extract_code(text, q->code_prompt, q->entry_point);
    gc_sandbox_result_free(&r);
    free(prog);
    return ok;
}

struct runio_results { gc_results *r; char *dir; };

gc_status runio_results_open(const char *dir, bool resume, runio_results **out) {
    *out = NULL;
    runio_results *r = calloc(1, sizeof *r);
    if (!r || !(r->dir = strdup(dir))) { free(r); return gc_fail(GC_ERR_OOM, "out of memory"); }
    gc_status s = gc_results_open(dir, resume ? GC_RESULTS_RESUME : GC_RESULTS_NEW, &r->r);
    if (s != GC_OK) {
        free(r->dir);
        free(r);
        return resume ? s : gc_fail_wrap(s, "pass --resume to continue an earlier run, or choose another --out");
    }
    if (gc_results_note(r->r) && *gc_results_note(r->r)) fprintf(stderr, "gcache run: %s\n", gc_results_note(r->r));
    *out = r;
    return GC_OK;
}

bool runio_results_done(const runio_results *r, const char *id) { return gc_results_done(r->r, id); }
int64_t runio_results_count(const runio_results *r) { return (int64_t)gc_results_done_count(r->r); }
gc_status runio_results_append(runio_results *r, const cJSON *rec) { return gc_results_append(r->r, rec); }

gc_status runio_results_summary(runio_results *r, const char *label, const cJSON *run) {
    gc_results_summary s;
    GC_TRY(gc_results_summarize_run(r->dir, run, &s));
    fprintf(stderr, "\n%s\n", label);
    gc_results_summary_print(&s, stderr);
    return GC_OK;
}

void runio_results_close(runio_results *r) {
    if (!r) return;
    gc_results_close(r->r);
    free(r->dir);
    free(r);
}

struct runio_progress { gc_progress *p; };

runio_progress *runio_progress_new(int64_t total, int64_t start, const char *label, const char *unit) {
    runio_progress *p = calloc(1, sizeof *p);
    gc_progress_opts o = {NULL, -1, NULL, NULL, (size_t)start, 0, unit};
    if (p) p->p = gc_progress_new_opts((size_t)total, label, &o);
    return p;
}

void runio_progress_tick(runio_progress *p, int64_t done, const char *extra) {
    if (p && p->p) gc_progress_tick(p->p, (size_t)done, extra);
}

void runio_progress_done(runio_progress *p) {
    if (!p) return;
    if (p->p) gc_progress_done(p->p);
    free(p);
}
