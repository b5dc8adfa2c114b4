// `gcache run` with an OpenAI-compatible API writing answers (SPEC §5):
//   --method api            the API answers the single-agent prompt alone
//                           (text baseline, no local model at all);
//   --gen-mode api_hint     the local agents run as usual, but the decision
//                           node does not decode: the API answers its prompt,
//                           told in one line that the other agents' work sits
//                           in a KV cache it cannot see (the seed's weak
//                           baseline, kept for comparison);
//   --gen-mode hybrid       the decision node decodes a draft with the real
//                           fused cache; the API refines the draft.
// The API gets the decision node's prompt as chat messages (the ChatML
// prompt split back into turns). Settings: environment or .env (gcache/api.h).
#include "run/run_internal.h"
#include "core/error.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

const char *run_gen_mode_name(gc_run_gen_mode m) {
    return m == GC_RUN_GEN_API_HINT ? "api_hint" : m == GC_RUN_GEN_HYBRID ? "hybrid" : "local";
}

bool run_uses_api(const gc_run_params *p) { return strcmp(p->method, "api") == 0 || p->gen_mode != GC_RUN_GEN_LOCAL; }

gc_status run_api_open(gc_run *r) {
    GC_TRY(gc_api_settings_load(r->p.env_file, &r->api_set));
    const int n = r->p.api_concurrency;
    if (!(r->api = calloc((size_t)n, sizeof *r->api))) return gc_fail(GC_ERR_OOM, "out of memory");
    for (; r->n_api < n; r->n_api++) GC_TRY(gc_api_open(&r->api_set, &r->api[r->n_api]));
    run_note(r, "answers from %s (model %s, %d requests at a time)", r->api_set.base_url, r->api_set.model, n);
    return GC_OK;
}

void run_api_close(gc_run *r) {
    for (int i = 0; i < r->n_api; i++) gc_api_close(r->api[i]);
    free(r->api);
    r->api = NULL;
    r->n_api = 0;
    gc_api_settings_free(&r->api_set);
}

// Splits a ChatML prompt ("<|im_start|>role\ncontent<|im_end|>\n" turns)
// into messages, in place: `text` is modified and the messages point into
// it. The open turn at the end (the generation prompt "<|im_start|>assistant\n",
// possibly with a <think> prefill) has no <|im_end|> and is dropped.
// Returns the number of messages, or -1 when there are more than cap.
static int chatml_split(char *text, gc_api_msg *msgs, int cap) {
    static const char START[] = "<|im_start|>", END[] = "<|im_end|>";
    int n = 0;
    char *p = text;
    for (;;) {
        char *st = strstr(p, START);
        if (!st) break;
        char *role = st + strlen(START), *nl = strchr(role, '\n');
        if (!nl) break;
        char *end = strstr(nl + 1, END);
        if (!end) break;   // the open generation turn
        if (n == cap) return -1;
        *nl = '\0';
        *end = '\0';
        msgs[n++] = (gc_api_msg){.role = role, .content = nl + 1};
        p = end + strlen(END);
    }
    return n;
}

// What api_hint tells the API about the cache it does not get.
static char *hint_line(const gc_qgraph *g) {
    const gc_node *out = &g->nodes[g->output];
    char *h = malloc(512);
    if (!h) return NULL;
    if (out->n_preds == 0 || out->text_in) {
        snprintf(h, 512, "(No cache from other agents was passed to you.)");
    } else {
        snprintf(h, 512,
                 "(Note: %d other agent%s worked on this question; their reasoning was passed on as a "
                 "key-value cache of %lld positions that you cannot read. Answer on your own.)",
                 out->n_preds, out->n_preds == 1 ? "" : "s", (long long)out->cache_in_len);
    }
    return h;
}

// Appends `extra` to the content of the last user message (a new string,
// kept in *own for the caller to free).
static gc_status add_to_last_user(gc_api_msg *msgs, int n, const char *extra, char **own) {
    int u = -1;
    for (int i = 0; i < n; i++)
        if (strcmp(msgs[i].role, "user") == 0) u = i;
    if (u < 0) return gc_fail(GC_ERR_INVALID_ARG, "the decision prompt has no user turn");
    size_t a = strlen(msgs[u].content), b = strlen(extra);
    char *s = malloc(a + b + 3);
    if (!s) return gc_fail(GC_ERR_OOM, "out of memory");
    memcpy(s, msgs[u].content, a);
    memcpy(s + a, "\n\n", 2);
    memcpy(s + a + 2, extra, b + 1);
    msgs[u].content = s;
    *own = s;
    return GC_OK;
}

// One question's API exchange: built on the calling thread, sent by a worker.
typedef struct run_api_job {
    gc_qgraph *g;
    char *prompt, *own, *extra;   // buffers the messages point into
    gc_api_msg msgs[16];
    gc_api_request req;
    gc_api_reply rep;
    gc_status st;
    char err[512];                // the worker's gc_last_error() (thread-local there)
} run_api_job;

static gc_status job_build(const gc_run *r, run_api_job *j) {
    gc_qgraph *g = j->g;
    const gc_node *out = &g->nodes[g->output];
    if (!(j->prompt = gc_node_prompt(g, g->output))) return gc_fail(GC_ERR_OOM, "out of memory");
    const int cap = (int)(sizeof j->msgs / sizeof *j->msgs);
    const int n = chatml_split(j->prompt, j->msgs, cap);
    if (n < 0) return gc_fail(GC_ERR_UNSUPPORTED, "the decision prompt has more than %d chat turns", cap);
    if (n == 0) return gc_fail(GC_ERR_INVALID_ARG, "the decision prompt has no complete chat turn to send");
    if (r->p.gen_mode == GC_RUN_GEN_API_HINT) {
        if (!(j->extra = hint_line(g))) return gc_fail(GC_ERR_OOM, "out of memory");
        GC_TRY(add_to_last_user(j->msgs, n, j->extra, &j->own));
    } else if (r->p.gen_mode == GC_RUN_GEN_HYBRID) {
        const char *draft = out->text ? out->text : "";
        const size_t len = strlen(draft) + 512;
        if (!(j->extra = malloc(len))) return gc_fail(GC_ERR_OOM, "out of memory");
        snprintf(j->extra, len,
                 "A local model that read the other agents' work drafted this answer:\n---\n%s\n---\n"
                 "Check the draft, correct it where it is wrong, and give the final answer in the format "
                 "asked for above.",
                 draft);
        GC_TRY(add_to_last_user(j->msgs, n, j->extra, &j->own));
    }
    j->req = (gc_api_request){.msgs = j->msgs, .n_msgs = n, .max_tokens = r->p.max_tokens,
                              .temperature = r->p.temperature, .top_p = r->p.top_p, .seed = (int64_t)r->p.seed};
    return GC_OK;
}

static void job_free(run_api_job *j) {
    gc_api_reply_free(&j->rep);
    free(j->own);
    free(j->extra);
    free(j->prompt);
}

// Worker w sends jobs w, w + n_workers, ... on its own client.
typedef struct worker {
    gc_api *api;
    run_api_job *jobs;
    int n_jobs, first, step;
    pthread_t th;
} worker;

static void *worker_main(void *arg) {
    worker *w = arg;
    for (int k = w->first; k < w->n_jobs; k += w->step) {
        run_api_job *j = &w->jobs[k];
        if (j->st != GC_OK) continue;
        j->st = gc_api_chat(w->api, &j->req, &j->rep);
        if (j->st != GC_OK) snprintf(j->err, sizeof j->err, "%s", gc_last_error());
    }
    return NULL;
}

// Records what the API said for one question (calling thread).
static void job_record(const gc_run *r, int64_t qi, run_api_job *j, cJSON *rec_extra) {
    gc_node *out = &j->g->nodes[j->g->output];
    if (r->p.gen_mode == GC_RUN_GEN_HYBRID) {
        cJSON_AddStringToObject(rec_extra, "draft", out->text ? out->text : "");
        char *pred = NULL;
        cJSON *scratch = cJSON_CreateObject();
        bool ok = run_score(r, qi, out->text ? out->text : "", &pred, scratch);
        cJSON_Delete(scratch);
        if (pred) cJSON_AddStringToObject(rec_extra, "draft_prediction", pred);
        else cJSON_AddNullToObject(rec_extra, "draft_prediction");
        cJSON_AddBoolToObject(rec_extra, "draft_correct", ok);
        free(pred);
    }
    const gc_api_reply *rep = &j->rep;
    free(out->text);
    out->text = j->rep.text;   // the API's answer is the question's answer now
    j->rep.text = NULL;
    if (rep->completion_tokens > 0) out->out_tokens += rep->completion_tokens;
    if (!r->e && rep->prompt_tokens > 0) out->prompt_tokens = rep->prompt_tokens;
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "model", r->api_set.model);
    cJSON_AddNumberToObject(a, "prompt_tokens", (double)rep->prompt_tokens);
    cJSON_AddNumberToObject(a, "completion_tokens", (double)rep->completion_tokens);
    cJSON_AddStringToObject(a, "finish_reason", rep->finish_reason ? rep->finish_reason : "");
    cJSON_AddNumberToObject(a, "seconds", rep->seconds);
    cJSON_AddNumberToObject(a, "attempts", rep->attempts);
    cJSON_AddItemToObject(rec_extra, "api", a);
    cJSON_AddNumberToObject(rec_extra, "cost", gc_api_cost(&r->api_set, rep));
    cJSON_AddStringToObject(rec_extra, "gen_mode",
                            strcmp(r->p.method, "api") == 0 ? "api" : run_gen_mode_name(r->p.gen_mode));
}

gc_status run_api_answers(gc_run *r, const int64_t *qi, gc_qgraph *gs, int n, cJSON **extra, double *seconds,
                          int *n_ok) {
    run_api_job *jobs = calloc((size_t)n, sizeof *jobs);
    worker *ws = calloc((size_t)r->n_api, sizeof *ws);
    bool *threaded = calloc((size_t)r->n_api, sizeof *threaded);
    *n_ok = 0;
    if (!jobs || !ws || !threaded) {
        free(jobs);
        free(ws);
        free(threaded);
        return gc_fail(GC_ERR_OOM, "out of memory");
    }
    gc_status s = GC_OK;
    for (int k = 0; k < n; k++) {
        jobs[k].g = &gs[k];
        jobs[k].st = job_build(r, &jobs[k]);
        if (jobs[k].st != GC_OK) snprintf(jobs[k].err, sizeof jobs[k].err, "%s", gc_last_error());
    }
    // Each worker drives its own client; one thread per client at a time.
    const int nw = r->n_api < n ? r->n_api : n;
    for (int w = 0; w < nw; w++) {
        ws[w] = (worker){.api = r->api[w], .jobs = jobs, .n_jobs = n, .first = w, .step = nw};
        threaded[w] = w > 0 && pthread_create(&ws[w].th, NULL, worker_main, &ws[w]) == 0;
    }
    worker_main(&ws[0]);   // the calling thread is worker 0
    for (int w = 1; w < nw; w++) {
        if (threaded[w]) pthread_join(ws[w].th, NULL);
        else worker_main(&ws[w]);   // no thread: its share runs here
    }
    // Results in question order; the first failure ends the batch there.
    for (int k = 0; k < n; k++) {
        if (jobs[k].st != GC_OK) {
            s = gc_fail(jobs[k].st, "API answer for question %lld: %s", (long long)qi[k], jobs[k].err);
            break;
        }
        extra[k] = cJSON_CreateObject();
        job_record(r, qi[k], &jobs[k], extra[k]);
        seconds[k] = jobs[k].rep.seconds;
        (*n_ok)++;
    }
    for (int k = 0; k < n; k++) job_free(&jobs[k]);
    free(jobs);
    free(ws);
    free(threaded);
    return s;
}
