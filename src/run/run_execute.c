// gc_run_execute: the whole `gcache run` — the policy's training for a
// learned topology, then the evaluation of every pending question, then
// summary.json.
#include "run/run_internal.h"
#include "core/error.h"
#include <stdlib.h>

static gc_status train_phase(gc_run *r) {
    gc_train *t;
    GC_TRY(gc_train_open(r, NULL, &t));
    const char *label = "training the policy";
    const int64_t first = gc_train_iters_done(t);
    run_progress(r, GC_RUN_BEGIN, label, "it", r->p.train_iters, first, first, NULL);
    gc_status s = GC_OK;
    for (;;) {
        gc_train_iter it;
        bool took = false;
        if ((s = gc_train_step(t, &it, &took)) != GC_OK || !took) break;
        char note[96];
        snprintf(note, sizeof note, "utility %.2f loss %.3f", it.stats.mean_utility, it.stats.loss);
        run_progress(r, GC_RUN_TICK, label, "it", r->p.train_iters, first, it.iter + 1, note);
    }
    run_progress(r, GC_RUN_END, label, "it", r->p.train_iters, first, gc_train_iters_done(t), NULL);
    if (s == GC_OK) r->own_policy = gc_train_take_policy(t);
    gc_train_free(t);
    r->policy = r->own_policy;
    return s;
}

static gc_status eval_phase(gc_run *r) {
    int64_t *idx = malloc((size_t)(r->eval_count + 1) * sizeof *idx);
    if (!idx) return gc_fail(GC_ERR_OOM, "out of memory");
    // The questions of the range not yet in the results.
    int64_t n = 0;
    for (int64_t i = r->eval_first; i < r->eval_first + r->eval_count; i++)
        if (!r->res || !gc_results_done(r->res, gc_dataset_get(r->ds, (size_t)i)->id)) idx[n++] = i;
    int64_t done = r->res ? (int64_t)gc_results_done_count(r->res) : 0;
    if (done) run_note(r, "resuming: %lld questions already done", (long long)done);
    const char *label = r->how == RUN_LEARNED ? "evaluating the learned topology" : r->label;
    const int64_t total = done + n, start = done;
    run_progress(r, GC_RUN_BEGIN, label, "q", total, start, done, NULL);
    gc_status s = run_batches(r, idx, n, &done);
    run_progress(r, GC_RUN_END, label, "q", total, start, done, NULL);
    free(idx);
    return s;
}

gc_status gc_run_execute(gc_run *r) {
    if (r->how == RUN_LEARNED && !r->policy) GC_TRY(train_phase(r));
    GC_TRY(eval_phase(r));
    if (!r->out_dir) return GC_OK;
    GC_TRY(gc_results_summarize_run(r->out_dir, r->manifest, &r->summary));
    r->has_summary = true;
    return GC_OK;
}
