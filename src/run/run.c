// gc_run: parameters, opening (every check on the user's input before OUT is
// created, and OUT removed again when a later step fails), freeing.
#include "run/run_internal.h"
#include "core/error.h"
#include "core/file.h"
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

gc_run_params gc_run_default_params(void) {
    gc_run_params p;
    memset(&p, 0, sizeof p);
    p.engine = gc_engine_default_params();
    p.max_samples = -1;
    p.batch = 8;
    p.max_tokens = 512;
    p.agent_max_tokens = 256;
    p.temperature = 0.6;
    p.top_p = 0.95;
    p.mode = "sequential";
    p.latent_steps = 10;
    p.realign = true;
    p.topology = "FullConnected";
    p.agents = 4;
    p.rounds = 1;
    p.fuse = "concat";
    p.train_iters = 10;
    p.batch_size = 4;
    p.train_offset = -1;
    p.lr = 0.1;
    p.edge_temperature = 1.0;
    p.baseline = true;
    p.reward = "correct";
    p.eval_policy = "greedy";
    p.api_concurrency = 8;
    return p;
}

static bool is(const char *a, const char *b) { return a && strcmp(a, b) == 0; }

static gc_status check_graph(const gc_run_params *p, gc_task task) {
    gc_topology topo;
    gc_pass_mode pass;
    GC_TRY(gc_topology_from_name(p->topology, &topo));
    if (p->pass) GC_TRY(gc_pass_from_name(p->pass, &pass));
    if (!is(p->fuse, "concat") && !is(p->fuse, "wsum"))
        return gc_fail(GC_ERR_INVALID_ARG, "unknown fusion '%s' (concat, wsum)", p->fuse ? p->fuse : "");
    if (!is(p->reward, "correct") && !is(p->reward, "likelihood"))
        return gc_fail(GC_ERR_INVALID_ARG, "unknown reward '%s' (correct, likelihood)", p->reward ? p->reward : "");
    if (!is(p->eval_policy, "greedy") && !is(p->eval_policy, "sample"))
        return gc_fail(GC_ERR_INVALID_ARG, "eval policy: expected greedy or sample, got '%s'",
                       p->eval_policy ? p->eval_policy : "");
    if ((p->score_answer || is(p->reward, "likelihood")) && gc_task_answer_kind(task) == GC_ANSWER_CODE)
        return gc_fail(GC_ERR_INVALID_ARG, "the likelihood reward / answer scoring need a task with a short gold "
                                           "answer (not code tasks)");
    if (p->agents < 1 || p->agents > GC_MAX_AGENTS || p->rounds < 1 || p->rounds > GC_MAX_ROUNDS)
        return gc_fail(GC_ERR_INVALID_ARG, "agents must be in [1, %d] and rounds in [1, %d]", GC_MAX_AGENTS,
                       GC_MAX_ROUNDS);
    if (p->gates != GC_RUN_GATES_LEARNED && p->text_mode)
        return gc_fail(GC_ERR_INVALID_ARG, "forced layer gates need cache mode (the text mode exchanges no caches)");
    if (p->train_iters < 0 || p->batch_size < 1 || !(p->lr >= 0) || !(p->edge_temperature >= 1e-3))
        return gc_fail(GC_ERR_INVALID_ARG, "train_iters must be >= 0, batch_size >= 1, lr >= 0 and the edge "
                                           "temperature >= 0.001");
    return GC_OK;
}

gc_status gc_run_params_check(const gc_run_params *p) {
    if (!p || !p->method || !p->task) return gc_fail(GC_ERR_INVALID_ARG, "a run needs a method and a task");
    static const char *const methods[] = {"single", "textmas", "latentmas", "gcache", "api"};
    bool known = false;
    for (size_t k = 0; k < sizeof methods / sizeof *methods; k++) known = known || is(p->method, methods[k]);
    if (!known)
        return gc_fail(GC_ERR_INVALID_ARG, "unknown method '%s' (single, textmas, latentmas, gcache, api)", p->method);
    gc_task task;
    GC_TRY(gc_task_from_name(p->task, &task));
    if (!p->dataset && !p->questions) return gc_fail(GC_ERR_INVALID_ARG, "a run needs a dataset (or questions)");
    const bool api_only = is(p->method, "api"), graph = is(p->method, "gcache");
    if (!api_only && !p->model && !p->model_handle)
        return gc_fail(GC_ERR_INVALID_ARG, "a model is required (except with method api)");
    if (!p->model_handle != !p->engine_handle)
        return gc_fail(GC_ERR_INVALID_ARG, "a borrowed model needs its engine, and an engine its model");
    if (api_only && p->gen_mode != GC_RUN_GEN_LOCAL)
        return gc_fail(GC_ERR_INVALID_ARG, "the generation mode is for methods with local agents; method api asks "
                                           "the API alone");
    if (p->gen_mode < GC_RUN_GEN_LOCAL || p->gen_mode > GC_RUN_GEN_HYBRID || p->gates < GC_RUN_GATES_LEARNED ||
        p->gates > GC_RUN_GATES_OFF)
        return gc_fail(GC_ERR_INVALID_ARG, "unknown generation mode or gates value");
    if (p->batch < 1 || (p->max_samples < 1 && p->max_samples != -1) || p->offset < 0 || p->max_tokens < 1 ||
        p->agent_max_tokens < 1 || p->latent_steps < 0 || p->top_k < 0 || !(p->temperature >= 0) ||
        !(p->top_p > 0 && p->top_p <= 1) || p->api_concurrency < 1 || p->prefill_rows < 0)
        return gc_fail(GC_ERR_INVALID_ARG, "a run needs batch >= 1, max_samples >= 1 (or -1: all), offset >= 0, "
                                           "max_tokens >= 1, latent_steps >= 0, temperature >= 0, top_p in (0, 1], "
                                           "api_concurrency >= 1, prefill_rows >= 0");
    if (p->resume && !p->out) return gc_fail(GC_ERR_INVALID_ARG, "resume needs an output folder");
    if (p->gates != GC_RUN_GATES_LEARNED && !graph)
        return gc_fail(GC_ERR_INVALID_ARG, "forced layer gates are for the agent graph (method gcache) in cache mode");
    if (graph) return check_graph(p, task);
    gc_method m;
    gc_mas_mode mode;
    gc_pass_mode pass;
    if (!api_only) GC_TRY(gc_method_from_name(p->method, &m));
    GC_TRY(gc_mas_mode_from_name(p->mode ? p->mode : "", &mode));
    if (p->pass) GC_TRY(gc_pass_from_name(p->pass, &pass));
    return GC_OK;
}

void run_note(const gc_run *r, const char *fmt, ...) {
    if (!r->p.on_note) return;
    va_list ap, again;
    va_start(ap, fmt);
    va_copy(again, ap);
    const int n = vsnprintf(NULL, 0, fmt, ap);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf) vsnprintf(buf, (size_t)n + 1, fmt, again);
    va_end(again);
    va_end(ap);
    r->p.on_note(r->p.user, buf ? buf : "(a note did not fit in memory)");
    free(buf);
}

void run_progress(const gc_run *r, gc_run_phase_event ev, const char *label, const char *unit, int64_t total,
                  int64_t start, int64_t done, const char *note) {
    if (!r->p.on_progress) return;
    gc_run_progress pr = {ev, label, unit, total, start, done, note};
    r->p.on_progress(r->p.user, &pr);
}

double run_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// Copies every string of the params (the caller's may go away).
static gc_status copy_strings(gc_run *r) {
    const char **fields[] = {&r->p.method, &r->p.task, &r->p.dataset, &r->p.model, &r->p.prompts, &r->p.mode,
                             &r->p.pass, &r->p.topology, &r->p.fuse, &r->p.reward, &r->p.eval_policy, &r->p.out,
                             &r->p.trace, &r->p.checkpoint, &r->p.env_file};
    const int n = (int)(sizeof fields / sizeof *fields);
    if (!(r->strings = calloc((size_t)n, sizeof *r->strings))) return gc_fail(GC_ERR_OOM, "out of memory");
    for (int i = 0; i < n; i++) {
        if (!*fields[i]) continue;
        if (!(r->strings[r->n_strings++] = strdup(*fields[i]))) return gc_fail(GC_ERR_OOM, "out of memory");
        *fields[i] = r->strings[r->n_strings - 1];
    }
    return GC_OK;
}

static gc_status open_questions(gc_run *r) {
    GC_TRY(gc_task_from_name(r->p.task, &r->task));
    r->kind = gc_task_answer_kind(r->task);
    if (r->p.questions) {
        if (gc_dataset_task(r->p.questions) != r->task)
            return gc_fail(GC_ERR_INVALID_ARG, "the questions are of task %s, not %s",
                           gc_task_name(gc_dataset_task(r->p.questions)), gc_task_name(r->task));
        r->ds = r->p.questions;
        return GC_OK;
    }
    gc_dataset_options opt = {.strict = r->p.strict, .seed = r->p.seed};
    GC_TRY(gc_dataset_load(r->task, r->p.dataset, &opt, &r->own_ds));
    r->ds = r->own_ds;
    for (size_t i = 0; i < gc_dataset_warning_count(r->ds); i++) run_note(r, "warning: %s", gc_dataset_warning(r->ds, i));
    if (gc_dataset_skipped(r->ds))
        run_note(r, "%zu malformed records skipped (--strict makes them fatal)", gc_dataset_skipped(r->ds));
    return GC_OK;
}

static gc_status open_model(gc_run *r) {
    if (is(r->p.method, "api")) {
        r->style = GC_CHAT_CHATML;   // prompts are only split back into turns for the API
        return GC_OK;
    }
    if (r->p.model_handle) {
        r->m = r->p.model_handle;
        r->e = r->p.engine_handle;
    } else {
        GC_TRY(gc_model_load(r->p.model, &r->m));
        r->own_model = true;
        GC_TRY(gc_engine_new(r->m, &r->p.engine, &r->e));
    }
    r->tok = gc_model_tokenizer(r->m);
    if (!r->tok)
        return gc_fail(GC_ERR_INVALID_ARG, "model %s has no tokenizer", r->p.model ? r->p.model : "(given)");
    r->style = gc_chat_detect(gc_tokenizer_chat_template(r->tok));
    gc_model_info mi;
    gc_model_get_info(r->m, &mi);
    r->D = mi.hidden_size;
    r->n_layers = mi.n_layers;
    return GC_OK;
}

static bool path_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

// The first missing folder on the way to `dir` (NULL when it exists): what a
// failed start removes again.
static char *first_missing_dir(const char *dir) {
    char *p = strdup(dir), *missing = NULL;
    if (!p) return NULL;
    for (;;) {
        if (path_exists(p)) break;
        free(missing);
        missing = strdup(p);
        char *slash = strrchr(p, '/');
        while (slash && slash > p && slash[1] == 0) { *slash = 0; slash = strrchr(p, '/'); }   // trailing '/'
        if (!slash || slash == p) break;
        *slash = 0;
    }
    free(p);
    return missing;
}

// Removes what a start that failed created in OUT: the empty results file,
// run.json, and the folders up to the first one that did not exist (each
// only when empty, so nothing else is lost).
static void undo_out(gc_run *r) {
    if (!r->created_from) return;
    char *f = gc_path_join(r->out_dir, "results.jsonl");
    struct stat st;
    if (f && stat(f, &st) == 0 && st.st_size == 0) unlink(f);
    free(f);
    if (r->wrote_manifest && (f = gc_path_join(r->out_dir, RUN_MANIFEST))) { unlink(f); free(f); }
    char *p = strdup(r->out_dir);
    size_t stop = strlen(r->created_from);
    while (p && strlen(p) >= stop && rmdir(p) == 0) {
        char *slash = strrchr(p, '/');
        if (!slash || (size_t)(slash - p) < stop) break;
        *slash = 0;
    }
    free(p);
    free(r->created_from);
    r->created_from = NULL;
}

// The trace file (it may live inside a new OUT: opened after it, undone with it).
static gc_status open_trace(gc_run *r) {
    if (!r->p.trace) return GC_OK;
    if (!(r->trace = fopen(r->p.trace, r->p.resume ? "a" : "w")))
        return gc_fail(GC_ERR_IO, "cannot write trace file %s: %s", r->p.trace, strerror(errno));
    r->sp.on_event = run_trace_event;
    r->sp.user = r;
    return GC_OK;
}

static gc_status create_out(gc_run *r) {
    gc_status s = GC_OK;
    r->created_from = first_missing_dir(r->out_dir);
    if (gc_mkdir_p(r->out_dir) != 0) {
        s = gc_fail(GC_ERR_IO, "cannot create %s: %s", r->out_dir, strerror(errno));
        free(r->created_from);
        r->created_from = NULL;
        return s;
    }
    s = gc_results_open(r->out_dir, r->p.resume ? GC_RESULTS_RESUME : GC_RESULTS_NEW, &r->res);
    if (s != GC_OK && !r->p.resume)
        s = gc_fail_wrap(s, "pass --resume to continue an earlier run, or choose another --out");
    if (s == GC_OK && gc_results_note(r->res) && *gc_results_note(r->res)) run_note(r, "%s", gc_results_note(r->res));
    // A resumed run keeps the record of the run it continues.
    char *mpath = s == GC_OK ? gc_path_join(r->out_dir, RUN_MANIFEST) : NULL;
    if (s == GC_OK && !mpath) s = gc_fail(GC_ERR_OOM, "out of memory");
    if (s == GC_OK && !(r->p.resume && gc_file_exists(mpath))) {
        if ((s = run_manifest_write(r->out_dir, r->manifest)) == GC_OK) r->wrote_manifest = true;
    }
    free(mpath);
    if (s == GC_OK) s = open_trace(r);
    if (s != GC_OK) {
        if (r->res) { gc_results_close(r->res); r->res = NULL; }
        undo_out(r);
        return s;
    }
    free(r->created_from);   // from here on OUT is the run's, whatever happens
    r->created_from = NULL;
    return GC_OK;
}

static gc_status make_label(gc_run *r) {
    char buf[256];
    if (r->how == RUN_MAS) snprintf(buf, sizeof buf, "%s %s", r->p.method, r->p.task);
    else snprintf(buf, sizeof buf, "gcache %s %s %s", gc_topology_name(r->topo), r->gp.cache_mode ? "cache" : "text",
                  r->p.task);
    return (r->label = strdup(buf)) ? GC_OK : gc_fail(GC_ERR_OOM, "out of memory");
}

static gc_status open_all(gc_run *r) {
    GC_TRY(copy_strings(r));
    GC_TRY(open_questions(r));
    GC_TRY(open_model(r));
    if (run_uses_api(&r->p)) GC_TRY(run_api_open(r));
    GC_TRY(r->p.prompts ? gc_prompts_load(r->p.prompts, &r->ps) : gc_prompts_for_task(r->p.task, &r->ps));
    GC_TRY(run_graph_setup(r));
    GC_TRY(make_label(r));
    r->sp.prefill_rows = r->p.prefill_rows > 0 ? r->p.prefill_rows
                         : r->e ? gc_engine_prompt_rows(r->e) : GC_SCHED_PREFILL_ROWS;
    r->sp.profile = r->p.profile;
    r->sp.sampling = gc_sampler_default_params();
    r->sp.sampling.temperature = (float)r->p.temperature;
    r->sp.sampling.top_p = (float)r->p.top_p;
    r->sp.sampling.top_k = r->p.top_k;
    r->sp.realign = r->ra;
    if (!r->p.out) return open_trace(r);
    if (!(r->out_dir = strdup(r->p.out)) || !(r->manifest = run_manifest_new(r))) return gc_fail(GC_ERR_OOM, "out of memory");
    if (r->p.resume && path_exists(r->out_dir)) GC_TRY(run_manifest_check(r, r->out_dir, r->manifest));
    GC_TRY(create_out(r));
    return GC_OK;
}

gc_status gc_run_open(const gc_run_params *p, gc_run **out) {
    *out = NULL;
    GC_TRY(gc_run_params_check(p));
    gc_run *r = calloc(1, sizeof *r);
    if (!r) return gc_fail(GC_ERR_OOM, "out of memory");
    r->p = *p;
    gc_status s = open_all(r);
    if (s != GC_OK) {
        char keep[4096];   // freeing may overwrite the message
        snprintf(keep, sizeof keep, "%s", gc_last_error());
        gc_run_free(r);
        return gc_fail(s, "%s", keep);
    }
    *out = r;
    return GC_OK;
}

void gc_run_free(gc_run *r) {
    if (!r) return;
    run_api_close(r);
    if (r->res) gc_results_close(r->res);
    if (r->trace) fclose(r->trace);
    undo_out(r);
    cJSON_Delete(r->manifest);
    for (int k = 0; r->samples && k < r->n_samples; k++) gc_sample_clear(&r->samples[k]);
    free(r->samples);
    free(r->role_emb);
    gc_policy_free(r->own_policy);
    gc_prompts_free(r->ps);
    gc_realign_free(r->own_ra);
    if (r->own_model) {
        gc_engine_free(r->e);
        gc_model_free(r->m);
    }
    gc_dataset_free(r->own_ds);
    free(r->label);
    free(r->out_dir);
    for (int i = 0; i < r->n_strings; i++) free(r->strings[i]);
    free(r->strings);
    free(r);
}

const char *gc_run_label(const gc_run *r) { return r->label; }
const char *gc_run_out_dir(const gc_run *r) { return r->out_dir; }

bool gc_run_summary(const gc_run *r, gc_results_summary *out) {
    if (!r->has_summary) return false;
    *out = r->summary;
    return true;
}
