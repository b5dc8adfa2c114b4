// Evaluation batches: the graphs of `batch` questions run together on the
// scheduler (then, with --gen-mode, the API answers); each question is scored
// and its record appended to results.jsonl and handed to on_record.
#include "run/run_internal.h"
#include "core/error.h"
#include <stdlib.h>
#include <string.h>

bool run_score(const gc_run *r, int64_t qi, const char *text, char **pred, cJSON *rec) {
    const gc_question *q = gc_dataset_get(r->ds, (size_t)qi);
    *pred = NULL;
    if (r->kind != GC_ANSWER_CODE) {
        gc_score sc;
        if (gc_answer_score(r->kind, q, text, &sc) != GC_OK || !sc.extracted) return false;
        *pred = strdup(sc.pred);
        return sc.correct;
    }
    // Code: run candidate + tests in the sandbox; a failure is a wrong answer.
    char *prog = gc_code_program(q, text);
    if (!prog) return false;
    gc_sandbox_limits lim;
    gc_sandbox_limits_default(&lim);
    gc_sandbox_result res;
    memset(&res, 0, sizeof res);
    bool ok = gc_sandbox_run(prog, &lim, &res) == GC_OK && res.passed;
    cJSON *sb = cJSON_CreateObject();
    cJSON_AddStringToObject(sb, "outcome", gc_sandbox_outcome_name(res.outcome));
    cJSON_AddStringToObject(sb, "reason", res.reason);
    cJSON_AddNumberToObject(sb, "wall_s", res.wall_seconds);
    cJSON_AddBoolToObject(sb, "net_isolated", res.net_isolated);
    cJSON_AddItemToObject(rec, "sandbox", sb);
    *pred = gc_answer_extract_code(text, q->code_prompt, q->entry_point);
    gc_sandbox_result_free(&res);
    free(prog);
    return ok;
}

static cJSON *agents_json(const gc_qgraph *g, int64_t *tin, int64_t *tout, int64_t *lat) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < g->n_nodes; i++) {
        const gc_node *nd = &g->nodes[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "role", nd->role);
        cJSON_AddNumberToObject(o, "prompt_tokens", (double)nd->prompt_tokens);
        cJSON_AddNumberToObject(o, "out_tokens", (double)nd->out_tokens);
        cJSON_AddNumberToObject(o, "latent_steps", (double)nd->latent_done);
        cJSON_AddNumberToObject(o, "cache_in", (double)nd->cache_in_len);
        cJSON_AddNumberToObject(o, "cache_out", (double)nd->cache_out_len);
        cJSON_AddNumberToObject(o, "cache_out_bytes", (double)nd->cache_out_bytes);
        cJSON_AddItemToArray(a, o);
        *tin += nd->prompt_tokens;
        *tout += nd->out_tokens;
        *lat += nd->latent_done;
    }
    return a;
}

// One question's record (the fields results.jsonl documents).
static cJSON *record(const gc_run *r, int64_t qi, const gc_qgraph *g, double wall_s, double batch_s, int batch_n) {
    const gc_question *q = gc_dataset_get(r->ds, (size_t)qi);
    const char *text = g->nodes[g->output].text ? g->nodes[g->output].text : "";
    cJSON *rec = cJSON_CreateObject();
    cJSON_AddStringToObject(rec, "id", q->id);
    cJSON_AddStringToObject(rec, "question", q->question);
    cJSON_AddStringToObject(rec, "gold", r->kind == GC_ANSWER_CODE || !q->gold ? "" : q->gold);
    char *pred = NULL;
    bool ok = run_score(r, qi, text, &pred, rec);
    if (pred) cJSON_AddStringToObject(rec, "prediction", pred);
    else cJSON_AddNullToObject(rec, "prediction");
    free(pred);
    cJSON_AddBoolToObject(rec, "correct", ok);
    cJSON_AddStringToObject(rec, "output", text);
    cJSON_AddStringToObject(rec, "method", r->p.method);
    int64_t tin = 0, tout = 0, lat = 0;
    cJSON *agents = agents_json(g, &tin, &tout, &lat);
    cJSON_AddNumberToObject(rec, "tokens_in", (double)tin);
    cJSON_AddNumberToObject(rec, "output_tokens", (double)tout);
    cJSON_AddNumberToObject(rec, "latent_steps", (double)lat);
    cJSON_AddNumberToObject(rec, "wall_s", wall_s);
    cJSON_AddNumberToObject(rec, "seconds", batch_s / batch_n);   // batch time shared by its questions
    cJSON_AddItemToObject(rec, "agents", agents);
    const gc_node *out = &g->nodes[g->output];
    if (out->score_tokens > 0) cJSON_AddNumberToObject(rec, "answer_logp", out->score_logp / (double)out->score_tokens);
    return rec;
}

// The trace file: one JSON line per scheduler event.
void run_trace_event(void *user, const gc_sched_event *ev) {
    gc_run *r = user;
    const gc_node *nd = &ev->graph->nodes[ev->node];
    cJSON *o = cJSON_CreateObject();
    static const char *const kinds[] = {"node_start", "node_done", "decision"};
    cJSON_AddStringToObject(o, "event", kinds[ev->kind]);
    cJSON_AddStringToObject(o, "question_id", r->batch_ids ? r->batch_ids[ev->question] : "");
    cJSON_AddNumberToObject(o, "node", ev->node);
    cJSON_AddStringToObject(o, "role", nd->role);
    cJSON_AddNumberToObject(o, "t", ev->t);
    if (ev->kind == GC_EV_NODE_START) {
        cJSON *src = cJSON_CreateArray();
        for (int k = 0; k < nd->n_preds; k++) cJSON_AddItemToArray(src, cJSON_CreateNumber(nd->preds[k]));
        cJSON_AddItemToObject(o, "sources", src);
        cJSON_AddStringToObject(o, "received", nd->text_in ? "text" : "cache");
        cJSON_AddNumberToObject(o, "fused_len", (double)nd->cache_in_len);
        cJSON_AddStringToObject(o, "fuse", nd->fuse == GC_FUSE_WSUM ? "wsum" : "concat");
        cJSON_AddNumberToObject(o, "prompt_tokens", (double)nd->prompt_tokens);
    } else {
        cJSON_AddNumberToObject(o, "latent_steps", (double)nd->latent_done);
        cJSON_AddNumberToObject(o, "out_tokens", (double)nd->out_tokens);
        cJSON_AddNumberToObject(o, "cache_stored", (double)nd->cache_out_len);
        cJSON_AddNumberToObject(o, "cache_stored_bytes", (double)nd->cache_out_bytes);
        if (nd->text) cJSON_AddStringToObject(o, "text", nd->text);
    }
    char *line = cJSON_PrintUnformatted(o);
    if (line) { fputs(line, r->trace); fputc('\n', r->trace); fflush(r->trace); }
    free(line);
    cJSON_Delete(o);
}

// Appends the record to results.jsonl and hands it to on_record.
static gc_status emit(gc_run *r, const cJSON *rec) {
    if (r->res) GC_TRY(gc_results_append(r->res, rec));
    if (!r->p.on_record) return GC_OK;
    char *line = cJSON_PrintUnformatted(rec);
    if (!line) return gc_fail(GC_ERR_OOM, "out of memory");
    bool go_on = r->p.on_record(r->p.user, line);
    free(line);
    return go_on ? GC_OK : gc_fail(GC_ERR_INVALID_ARG, "the run was stopped by its record callback");
}

// Per batch: the graphs, their pointers for the scheduler, the question ids
// (trace lines), the API's extra record fields and exchange times.
typedef struct batch_bufs {
    gc_qgraph *gs;
    gc_qgraph **gp;
    const char **ids;
    cJSON **extra;
    double *t_api;
} batch_bufs;

static void bufs_free(batch_bufs *b) {
    free(b->gs);
    free(b->gp);
    free(b->ids);
    free(b->extra);
    free(b->t_api);
}

// One batch: questions qi[0..nb) build, run, (API answers), records.
static gc_status one_batch(gc_run *r, batch_bufs *b, const int64_t *qi, int nb, int64_t *done, double *t_batch) {
    gc_status s = GC_OK;
    int built = 0;
    memset(b->extra, 0, (size_t)nb * sizeof *b->extra);
    for (int k = 0; k < nb && s == GC_OK; k++, built++) {
        b->ids[k] = gc_dataset_get(r->ds, (size_t)qi[k])->id;
        s = run_graph_build(r, k, qi[k], &b->gs[k]);
        b->gp[k] = &b->gs[k];
    }
    r->batch_ids = b->ids;
    // api_hint: the decision node only reads its prompt; the API answers.
    for (int k = 0; k < nb && s == GC_OK && r->p.gen_mode == GC_RUN_GEN_API_HINT; k++)
        b->gs[k].nodes[b->gs[k].output].max_tokens = 0;
    const double t0 = run_now();
    if (s == GC_OK && r->e) s = gc_sched_run(r->e, r->tok, b->gp, nb, &r->sp);
    // API answers for the whole batch, n_api requests at a time; the
    // questions before a failed one are still recorded.
    int n_rec = s == GC_OK ? nb : 0;
    gc_status s_api = GC_OK;
    if (s == GC_OK && r->api) {
        s_api = run_api_answers(r, qi, b->gs, nb, b->extra, b->t_api, &n_rec);
    }
    *t_batch = run_now() - t0;
    for (int k = 0; k < n_rec && s == GC_OK; k++) {
        // Seconds per question: the batch's wall time (local steps, then the API
        // requests in flight together) shared out; the record's api.seconds
        // is the question's own exchange.
        cJSON *rec = record(r, qi[k], &b->gs[k], b->gs[k].t_done + (r->api ? b->t_api[k] : 0), *t_batch, nb);
        for (cJSON *f = r->api ? b->extra[k]->child : NULL; f;) {
            cJSON *next = f->next;
            cJSON_AddItemToObject(rec, f->string, cJSON_DetachItemViaPointer(b->extra[k], f));
            f = next;
        }
        run_graph_record(r, k, qi[k], rec);
        s = emit(r, rec);
        cJSON_Delete(rec);
        (*done)++;
    }
    for (int k = 0; k < nb; k++) cJSON_Delete(b->extra[k]);
    if (s == GC_OK && s_api != GC_OK) {
        s = s_api;
        if (r->out_dir) run_note(r, "the API failed; the finished questions are in %s (--resume continues)", r->out_dir);
    }
    for (int k = 0; k < built; k++) gc_mas_clear(&b->gs[k]);
    r->batch_ids = NULL;
    return s;
}

gc_status run_batches(gc_run *r, const int64_t *idx, int64_t n, int64_t *done) {
    const int B = r->p.batch;
    batch_bufs b = {calloc((size_t)B, sizeof *b.gs), calloc((size_t)B, sizeof *b.gp), calloc((size_t)B, sizeof *b.ids),
                    calloc((size_t)B, sizeof *b.extra), calloc((size_t)B, sizeof *b.t_api)};
    gc_status s = GC_OK;
    if (!b.gs || !b.gp || !b.ids || !b.extra || !b.t_api) s = gc_fail(GC_ERR_OOM, "out of memory");
    for (int64_t b0 = 0; s == GC_OK && b0 < n; b0 += B) {
        const int nb = (int)(n - b0 < B ? n - b0 : B);
        double t_batch = 0;
        s = one_batch(r, &b, idx + b0, nb, done, &t_batch);
        if (s != GC_OK) break;
        char note[64];
        snprintf(note, sizeof note, "%.1f s/question", t_batch / nb);
        run_progress(r, GC_RUN_TICK, r->how == RUN_LEARNED ? "evaluating the learned topology" : r->label, "q", 0, 0,
                     *done, note);
    }
    bufs_free(&b);
    return s;
}
