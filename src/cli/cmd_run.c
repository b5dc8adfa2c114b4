// gcache run — evaluate a method on a task file, one JSON line per question.
//   single | textmas | latentmas  (sequential or hierarchical agents)
//   gcache                         (the agent graph with learned topology; see run_gcache.c)
#include "cli/cli.h"
#include "cli/run.h"
#include "core/error.h"
#include "core/file.h"
#include "cli/cli_device.h"
#include "gcache/eval.h"
#include "gcache/mas.h"
#include "gcache/tokenizer.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void run_help(void) {
    printf("usage: gcache run --method M --task T --dataset PATH --model PATH [options]\n\n"
           "Runs a method on the questions of a task file, writing OUT/results.jsonl (one line per\n"
           "question, flushed as it finishes), OUT/summary.json and a table. --resume continues an\n"
           "interrupted run without redoing finished questions.\n\n"
           "methods:   single | textmas | latentmas | gcache | api (the API alone: no --model)\n"
           "tasks:     gsm8k aime arc gpqa medqa mmlu humaneval mbpp\n\n"
           "common options:\n"
           "  --out DIR             results folder (default runs/<task>-<method>)\n"
           "  --max-samples N       at most N questions, N >= 1 (default: all of them)\n"
           "  --offset N            skip the first N questions of the file\n"
           "  --batch N             questions run together in one engine batch (default 8)\n"
           "  --seed S              sampling seed (default 0)\n"
           "  --resume              skip questions already in OUT/results.jsonl\n"
           "  --strict              a malformed dataset record is fatal (default: reported, skipped)\n"
           "  --max-tokens N        final answer length (default 512)\n"
           "  --temperature T       default 0.6 (0 = greedy)\n"
           "  --top-p P             default 0.95\n"
           "  --top-k K             default 0 (off)\n"
           "  --think               thinking mode: prompts end with <think>\n"
           "  --prompts FILE        a prompt-set JSON instead of the task's embedded one\n"
           "  --trace FILE          JSON line per step of every question (node start/done, caches, text)\n"
           "  --device cuda|cpu     default cuda when a GPU is present\n"
           "  --threads N           CPU threads (default: the cores this process may use)\n"
           "  --exact               the CPU's exact f32 path (default: int8 activations on the quantized blocks)\n"
           "  --gen-mode M          who writes the final answer: local (default) | api_hint (an\n"
           "                        OpenAI-compatible API, told in one line about the cache it cannot\n"
           "                        see) | hybrid (the local model drafts with the real cache, the API\n"
           "                        refines the draft). --method api uses the same settings\n"
           "  --env-file PATH       API settings file (default ./.env, used when present; a file named\n"
           "                        here must exist). The environment wins over the file. Variables:\n"
           "                        API_BASE_URL, API_MODEL (required), API_KEY, API_PRICE_IN /\n"
           "                        API_PRICE_OUT (per 1M tokens, for the cost column), API_TIMEOUT\n"
           "                        (seconds per request, default 120), API_MAX_RETRIES (retries after\n"
           "                        429 / 5xx / network errors, default 3; backoff 1, 2, 4 ... s, or\n"
           "                        the server's Retry-After on 429 / 503, at most 60 s and API_TIMEOUT)\n"
           "  --api-concurrency N   API requests in flight at once, within a batch (default 8)\n"
           "LatentMAS / TextMAS:\n"
           "  --mode sequential|hierarchical   (default sequential)\n"
           "  --latent-steps N      latent steps per agent (default 10)\n"
           "  --no-realign          feed hidden states back without the realignment matrix\n"
           "  --pass whole|own|latent  what each agent hands on (default whole)\n"
           "  --agent-max-tokens N  TextMAS: each agent's text (default 256)\n"
           "gcache (agent graph):\n"
           "  --topology NAME       DirectAnswer FullConnected Chain Star Layered Mesh Debate Random Learned\n"
           "  --agents N --rounds R (default 4, 1)\n"
           "  --text-mode           agents exchange text (GDesigner) instead of KV caches\n"
           "  --fuse concat|wsum    cache fusion (default concat); --pass default own\n"
           "  --train-iters N       policy-gradient iterations before evaluating (default 10)\n"
           "  --batch-size N        questions per training iteration (default 4)\n"
           "  --train-offset N      train on the questions from N on and evaluate those of --offset /\n"
           "                        --max-samples (must not overlap); default: train from --offset and\n"
           "                        evaluate the questions after the training range\n"
           "  --lr LR               Adam learning rate (default 0.1)\n"
           "  --edge-temperature T  τ of p = sigmoid(S'/τ) (default 1, as GDesigner: edge probabilities\n"
           "                        then stay in [0.27, 0.73]; ≤ 0.25 lets one topology exceed 0.9)\n"
           "  --no-baseline         REINFORCE without the running-mean baseline (GDesigner exactly)\n"
           "  --reward correct|likelihood  training utility: 1/0 answer correctness (default, GDesigner),\n"
           "                        or the decision node's per-token probability of the gold answer,\n"
           "                        exp(mean log p), teacher-forced after its prompt (dense: it moves\n"
           "                        the policy even when no answer is right)\n"
           "  --score-answer        record that probability (answer_logp, mean log p per token) for\n"
           "                        every evaluated question (on with --reward likelihood)\n"
           "  --checkpoint DIR      policy checkpoints + training log (resumable; default OUT)\n"
           "  --eval-policy greedy|sample  how the trained policy picks each evaluated question's\n"
           "                        topology and fuser: greedy (default: every yes/no choice taken when\n"
           "                        p >= 1/2, fusion weights at their means) or sample (drawn from the\n"
           "                        policy without dropout, seeded by --seed and the question's index)\n\n"
           "example: gcache run --method latentmas --task gsm8k --dataset ../shared/data/gsm8k/test.jsonl \\\n"
           "           --model .cache/models/SmolLM2-135M-Instruct.Q4_1.gguf --max-samples 50 --latent-steps 10\n"
           "         API_BASE_URL=http://127.0.0.1:8080/v1 API_MODEL=gcache gcache run --method latentmas \\\n"
           "           --gen-mode hybrid --task gsm8k --dataset test.jsonl --model MODEL --max-samples 20\n");
}

run_opts run_default_opts(void) {
    run_opts o;
    memset(&o, 0, sizeof o);
    o.batch = 8;
    o.max_samples = -1;
    o.max_tokens = 512;
    o.agent_max_tokens = 256;
    o.latent_steps = 10;
    o.temperature = 0.6;
    o.top_p = 0.95;
    o.mode = "sequential";
    o.topology = "FullConnected";
    o.agents = 4;
    o.rounds = 1;
    o.fuse = "concat";
    o.reward = "correct";
    o.eval_policy = "greedy";
    o.train_iters = 10;
    o.batch_size = 4;
    o.train_offset = -1;
    o.lr = 0.1;
    o.edge_temperature = 1.0;
    o.device = cli_default_device();
    o.api_concurrency = 8;
    return o;
}

static int parse(int argc, char **argv, run_opts *o) {
    *o = run_default_opts();
    for (int i = 1; i < argc; i++) {
        int r;
        if (strcmp(argv[i], "--help") == 0) { run_help(); return 1; }
#define OPT(call) if ((r = (call)) < 0) return 2; if (r) continue;
        OPT(cli_opt_str(argc, argv, &i, "--method", &o->method));
        OPT(cli_opt_str(argc, argv, &i, "--task", &o->task));
        OPT(cli_opt_str(argc, argv, &i, "--dataset", &o->dataset));
        OPT(cli_opt_str(argc, argv, &i, "--model", &o->model));
        OPT(cli_opt_str(argc, argv, &i, "--out", &o->out));
        OPT(cli_opt_str(argc, argv, &i, "--prompts", &o->prompts));
        OPT(cli_opt_str(argc, argv, &i, "--trace", &o->trace));
        OPT(cli_opt_str(argc, argv, &i, "--mode", &o->mode));
        OPT(cli_opt_str(argc, argv, &i, "--pass", &o->pass));
        OPT(cli_opt_str(argc, argv, &i, "--topology", &o->topology));
        OPT(cli_opt_str(argc, argv, &i, "--fuse", &o->fuse));
        OPT(cli_opt_str(argc, argv, &i, "--checkpoint", &o->checkpoint));
        OPT(cli_opt_int(argc, argv, &i, "--max-samples", 1, 1LL << 40, &o->max_samples));
        OPT(cli_opt_int(argc, argv, &i, "--offset", 0, 1LL << 40, &o->offset));
        OPT(cli_opt_int(argc, argv, &i, "--batch", 1, 4096, &o->batch));
        OPT(cli_opt_int(argc, argv, &i, "--seed", 0, 1LL << 62, &o->seed));
        OPT(cli_opt_int(argc, argv, &i, "--max-tokens", 1, 1 << 20, &o->max_tokens));
        OPT(cli_opt_int(argc, argv, &i, "--agent-max-tokens", 1, 1 << 20, &o->agent_max_tokens));
        OPT(cli_opt_int(argc, argv, &i, "--latent-steps", 0, 1000, &o->latent_steps));
        OPT(cli_opt_int(argc, argv, &i, "--top-k", 0, 1 << 24, &o->top_k));
        OPT(cli_opt_int(argc, argv, &i, "--agents", 1, 12, &o->agents));
        OPT(cli_opt_int(argc, argv, &i, "--rounds", 1, 4, &o->rounds));
        OPT(cli_opt_int(argc, argv, &i, "--train-iters", 0, 1 << 20, &o->train_iters));
        OPT(cli_opt_int(argc, argv, &i, "--batch-size", 1, 4096, &o->batch_size));
        OPT(cli_opt_int(argc, argv, &i, "--train-offset", 0, 1LL << 40, &o->train_offset));
        OPT(cli_opt_float(argc, argv, &i, "--temperature", 0, 100, &o->temperature));
        OPT(cli_opt_float(argc, argv, &i, "--top-p", 1e-6, 1, &o->top_p));
        OPT(cli_opt_float(argc, argv, &i, "--lr", 0, 100, &o->lr));
        OPT(cli_opt_float(argc, argv, &i, "--edge-temperature", 1e-3, 100, &o->edge_temperature));
        OPT(cli_opt_device(argc, argv, &i, &o->device));
        OPT(cli_opt_threads(argc, argv, &i, &o->threads));
        OPT(cli_opt_flag(argv, &i, "--exact", &o->exact));
        OPT(cli_opt_flag(argv, &i, "--resume", &o->resume));
        OPT(cli_opt_flag(argv, &i, "--strict", &o->strict));
        OPT(cli_opt_flag(argv, &i, "--think", &o->think));
        OPT(cli_opt_flag(argv, &i, "--no-realign", &o->no_realign));
        OPT(cli_opt_flag(argv, &i, "--text-mode", &o->text_mode));
        OPT(cli_opt_flag(argv, &i, "--no-baseline", &o->no_baseline));
        OPT(cli_opt_flag(argv, &i, "--score-answer", &o->score_answer));
        OPT(cli_opt_str(argc, argv, &i, "--reward", &o->reward));
        OPT(cli_opt_str(argc, argv, &i, "--eval-policy", &o->eval_policy));
        OPT(cli_opt_str(argc, argv, &i, "--env-file", &o->env_file));
        OPT(cli_opt_int(argc, argv, &i, "--api-concurrency", 1, 64, &o->api_concurrency));
        const char *gm = NULL;
        if ((r = cli_opt_str(argc, argv, &i, "--gen-mode", &gm)) < 0) return 2;
        if (r) {
            if (run_gen_mode_from_name(gm, &o->gen_mode))
                return cli_usage_error("run", "--gen-mode: expected local, api_hint or hybrid, got '%s'", gm);
            continue;
        }
#undef OPT
        return cli_usage_error("run", "unknown option '%s'", argv[i]);
    }
    if (!o->method || !o->task || !o->dataset)
        return cli_usage_error("run", "--method, --task and --dataset are required");
    static const char *const methods[] = {"single", "textmas", "latentmas", "gcache", "api"};
    bool known = false;
    for (size_t k = 0; k < sizeof methods / sizeof *methods; k++) known = known || strcmp(o->method, methods[k]) == 0;
    if (!known)
        return cli_usage_error("run", "unknown method '%s' (single, textmas, latentmas, gcache, api)", o->method);
    gc_task task;
    if (gc_task_from_name(o->task, &task) != GC_OK) return cli_usage_error("run", "%s", gc_last_error());
    const bool api_only = strcmp(o->method, "api") == 0;
    if (!o->model && !api_only) return cli_usage_error("run", "--model is required (except with --method api)");
    if (api_only && o->gen_mode != RUN_GEN_LOCAL)
        return cli_usage_error("run", "--gen-mode is for methods with local agents; --method api asks the API alone");
    return 0;
}

static bool path_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

// The first missing directory on the way to `dir` (NULL when it exists):
// what a failed start removes again.
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
// run.json, and the directories up to the first one that did not exist
// (each only when empty, so nothing else is lost).
static void undo_out(run_ctx *c) {
    if (!c->created_from) return;
    char *f = gc_path_join(c->out_dir, "results.jsonl");
    struct stat st;
    if (f && stat(f, &st) == 0 && st.st_size == 0) unlink(f);
    free(f);
    if (c->wrote_manifest && (f = gc_path_join(c->out_dir, RUN_MANIFEST))) { unlink(f); free(f); }
    char *p = strdup(c->out_dir);
    size_t stop = strlen(c->created_from);
    while (p && strlen(p) >= stop && rmdir(p) == 0) {
        char *slash = strrchr(p, '/');
        if (!slash || (size_t)(slash - p) < stop) break;
        *slash = 0;
    }
    free(p);
    free(c->created_from);
    c->created_from = NULL;
}

// Everything that can fail on the user's input (task, dataset, model, API
// settings, prompts, a --resume into another run's folder) is checked
// before OUT is created; if a later step fails, what was created goes again.
int run_open(run_ctx *c, const run_opts *o) {
    memset(c, 0, sizeof *c);
    c->o = o;
    if (!o->out) {
        snprintf(c->out_dir, sizeof c->out_dir, "runs/%s-%s", o->task, o->method);
    } else {
        snprintf(c->out_dir, sizeof c->out_dir, "%s", o->out);
    }
    gc_status s = runio_load(o->task, o->dataset, o->strict, (uint64_t)o->seed, &c->data);
    if (s != GC_OK) return cli_error("run", s);
    if (strcmp(o->method, "api") == 0) {
        c->style = GC_CHAT_CHATML;   // prompts are only split back into turns for the API
    } else {
        if (cli_open_on("run", o->model, o->device, o->threads, o->exact, &c->m, &c->e)) return 1;
        c->tok = gc_model_tokenizer(c->m);
        if (!c->tok) return cli_usage_error("run", "model %s has no tokenizer", o->model);
        c->style = gc_chat_detect(gc_tokenizer_chat_template(c->tok));
    }
    if (run_uses_api(o) && run_api_open(c)) return 1;
    s = o->prompts ? gc_prompts_load(o->prompts, &c->ps) : gc_prompts_for_task(o->task, &c->ps);
    if (s != GC_OK) return cli_error("run", s);
    if (!(c->manifest = run_manifest_new(c))) return cli_error("run", gc_fail(GC_ERR_OOM, "out of memory"));
    if (o->resume && path_exists(c->out_dir) && run_manifest_check(c->out_dir, c->manifest)) return 1;

    c->created_from = first_missing_dir(c->out_dir);
    if (gc_mkdir_p(c->out_dir) != 0) {
        fprintf(stderr, "gcache run: cannot create %s: %s\n", c->out_dir, strerror(errno));
        free(c->created_from);
        c->created_from = NULL;
        return 1;
    }
    int rc = 0;
    s = runio_results_open(c->out_dir, o->resume, &c->res);
    if (s != GC_OK) rc = cli_error("run", s);
    // A resumed run keeps the record of the run it continues.
    char *mpath = gc_path_join(c->out_dir, RUN_MANIFEST);
    if (!rc && mpath && !(o->resume && gc_file_exists(mpath))) {
        if ((s = run_manifest_write(c->out_dir, c->manifest)) != GC_OK) rc = cli_error("run", s);
        else c->wrote_manifest = true;
    }
    free(mpath);
    if (!rc && o->trace && !(c->trace = fopen(o->trace, o->resume ? "a" : "w"))) {
        fprintf(stderr, "gcache run: cannot write trace file %s: %s\n", o->trace, strerror(errno));
        rc = 1;
    }
    if (rc) {
        if (c->res) { runio_results_close(c->res); c->res = NULL; }
        undo_out(c);
        return rc;
    }
    free(c->created_from);   // from here on OUT is the run's, whatever happens
    c->created_from = NULL;
    return 0;
}

void run_close(run_ctx *c) {
    run_api_close(c);
    if (c->res) runio_results_close(c->res);
    if (c->trace) fclose(c->trace);
    cJSON_Delete(c->manifest);
    free(c->created_from);
    gc_prompts_free(c->ps);
    gc_realign_free(c->ra);
    gc_engine_free(c->e);
    gc_model_free(c->m);
    runio_free(c->data);
}

gc_sched_params run_sched_params(run_ctx *c) {
    gc_sched_params sp;
    memset(&sp, 0, sizeof sp);
    sp.sampling = gc_sampler_default_params();
    sp.sampling.temperature = (float)c->o->temperature;
    sp.sampling.top_p = (float)c->o->top_p;
    sp.sampling.top_k = (int)c->o->top_k;
    sp.realign = c->ra;
    if (c->trace) {
        sp.on_event = run_trace_event;
        sp.user = c;
    }
    return sp;
}

// Questions [offset, offset + max) of the file that are not yet in the results.
int64_t run_pending(run_ctx *c, int64_t first, int64_t count, int64_t *idx) {
    int64_t n = 0, total = runio_count(c->data);
    for (int64_t i = first; i < total && i < first + count; i++)
        if (!runio_results_done(c->res, runio_get(c->data, i).id)) idx[n++] = i;
    return n;
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

cJSON *run_record(run_ctx *c, int64_t qi, const gc_qgraph *g, double wall_s, double batch_s, int batch_n) {
    runio_q q = runio_get(c->data, qi);
    const char *text = g->nodes[g->output].text ? g->nodes[g->output].text : "";
    cJSON *rec = cJSON_CreateObject();
    cJSON_AddStringToObject(rec, "id", q.id);
    cJSON_AddStringToObject(rec, "question", q.question);
    cJSON_AddStringToObject(rec, "gold", q.gold ? q.gold : "");
    char *pred = NULL;
    bool ok = runio_score(c->o->task, c->data, qi, text, &pred, rec);
    if (pred) cJSON_AddStringToObject(rec, "prediction", pred);
    else cJSON_AddNullToObject(rec, "prediction");
    free(pred);
    cJSON_AddBoolToObject(rec, "correct", ok);
    cJSON_AddStringToObject(rec, "output", text);
    cJSON_AddStringToObject(rec, "method", c->o->method);
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
    run_ctx *c = user;
    const gc_node *nd = &ev->graph->nodes[ev->node];
    cJSON *o = cJSON_CreateObject();
    static const char *const kinds[] = {"node_start", "node_done", "decision"};
    cJSON_AddStringToObject(o, "event", kinds[ev->kind]);
    cJSON_AddStringToObject(o, "question_id", c->batch_ids ? c->batch_ids[ev->question] : "");
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
    if (line) { fputs(line, c->trace); fputc('\n', c->trace); fflush(c->trace); }
    free(line);
    cJSON_Delete(o);
}

// Runs graphs for the questions idx[0..n) in batches and records them.
int run_batches(run_ctx *c, const int64_t *idx, int64_t n, run_build_fn build, void *user, runio_progress *pb,
                int64_t *done) {
    int64_t B = c->o->batch;
    gc_qgraph *gs = calloc((size_t)B, sizeof *gs);
    gc_qgraph **gp = calloc((size_t)B, sizeof *gp);
    const char **ids = calloc((size_t)B, sizeof *ids);
    cJSON **extra = calloc((size_t)B, sizeof *extra);
    double *t_api = calloc((size_t)B, sizeof *t_api);
    int rc = 0;
    if (!gs || !gp || !ids || !extra || !t_api) { fprintf(stderr, "gcache run: out of memory\n"); rc = 1; }
    for (int64_t b0 = 0; !rc && b0 < n; b0 += B) {
        int nb = (int)(n - b0 < B ? n - b0 : B);
        gc_status s = GC_OK;
        int built = 0;
        for (int k = 0; k < nb && s == GC_OK; k++, built++) {
            ids[k] = runio_get(c->data, idx[b0 + k]).id;
            s = build(c, idx[b0 + k], &gs[k], user);
            gp[k] = &gs[k];
        }
        c->batch_ids = ids;
        // api_hint: the decision node only reads its prompt; the API answers.
        for (int k = 0; k < nb && c->o->gen_mode == RUN_GEN_API_HINT; k++) gs[k].nodes[gs[k].output].max_tokens = 0;
        double t0 = cli_now();
        if (s == GC_OK && c->e) s = gc_sched_run(c->e, c->tok, gp, nb, &c->sp);
        // API answers for the whole batch, n_api requests at a time; the
        // questions before a failed one are still recorded.
        int n_rec = s == GC_OK ? nb : 0;
        gc_status s_api = GC_OK;
        if (s == GC_OK && c->api) {
            memset(extra, 0, (size_t)nb * sizeof *extra);
            s_api = run_api_answers(c, idx + b0, gs, nb, extra, t_api, &n_rec);
        }
        const double t_batch = cli_now() - t0;
        for (int k = 0; k < n_rec && s == GC_OK; k++) {
            // Seconds per question: the batch's wall time (local steps, then the API
            // requests in flight together) shared out; the record's api.seconds
            // is the question's own exchange.
            cJSON *rec = run_record(c, idx[b0 + k], &gs[k], gs[k].t_done + (c->api ? t_api[k] : 0), t_batch, nb);
            for (cJSON *f = c->api ? extra[k]->child : NULL; f;) {
                cJSON *next = f->next;
                cJSON_AddItemToObject(rec, f->string, cJSON_DetachItemViaPointer(extra[k], f));
                f = next;
            }
            if (c->on_record) c->on_record(c, idx[b0 + k], &gs[k], rec);
            s = runio_results_append(c->res, rec);
            cJSON_Delete(rec);
            (*done)++;
        }
        for (int k = 0; k < nb && c->api; k++) cJSON_Delete(extra[k]);
        if (s == GC_OK && s_api != GC_OK) {
            s = s_api;
            fprintf(stderr, "gcache run: the API failed; the finished questions are in %s (--resume continues)\n",
                    c->out_dir);
        }
        for (int k = 0; k < built; k++) gc_mas_clear(&gs[k]);
        if (s != GC_OK) { rc = cli_error("run", s); break; }
        char note[64];
        snprintf(note, sizeof note, "%.1f s/question", t_batch / nb);
        runio_progress_tick(pb, *done, note);
    }
    c->batch_ids = NULL;
    free(gs);
    free(gp);
    free(ids);
    free(extra);
    free(t_api);
    return rc;
}

static gc_status build_mas(run_ctx *c, int64_t qi, gc_qgraph *g, void *user) {
    const gc_mas_params *mp = user;
    return gc_mas_build(c->ps, mp, runio_get(c->data, qi).question, (uint64_t)c->o->seed * 1000003ULL + (uint64_t)qi, g);
}

int cmd_run(int argc, char **argv) {
    run_opts o;
    int pr = parse(argc, argv, &o);
    if (pr) return pr == 1 ? 0 : pr;
    if (strcmp(o.method, "gcache") == 0) return run_gcache(&o);
    gc_mas_params mp = gc_mas_default_params();
    // --method api: the single-agent prompt, answered by the API alone.
    gc_status s = gc_method_from_name(strcmp(o.method, "api") == 0 ? "single" : o.method, &mp.method);
    if (s == GC_OK) s = gc_mas_mode_from_name(o.mode, &mp.mode);
    if (s == GC_OK && o.pass) s = gc_pass_from_name(o.pass, &mp.pass);
    if (s != GC_OK) return cli_usage_error("run", "%s", gc_last_error());
    run_ctx c;
    int rc = run_open(&c, &o);
    if (!rc) {
        mp.latent_steps = (int)o.latent_steps;
        mp.think = o.think;
        mp.max_tokens = (int)o.max_tokens;
        mp.agent_max_tokens = (int)o.agent_max_tokens;
        mp.style = c.style;
        if (mp.method == GC_METHOD_LATENTMAS && (s = gc_realign_new(c.m, !o.no_realign, gc_engine_n_threads(c.e), &c.ra)) != GC_OK) rc = cli_error("run", s);
    }
    if (!rc) {
        c.sp = run_sched_params(&c);
        int64_t total = runio_count(c.data), count = o.max_samples < 0 ? total : o.max_samples;
        int64_t *idx = malloc((size_t)(total + 1) * sizeof *idx);
        int64_t n = idx ? run_pending(&c, o.offset, count, idx) : 0;
        int64_t done = runio_results_count(c.res);
        char label[128];
        snprintf(label, sizeof label, "%s %s", o.method, o.task);
        runio_progress *pb = runio_progress_new(done + n, done, label, "q");
        if (done) fprintf(stderr, "gcache run: resuming: %lld questions already done\n", (long long)done);
        rc = idx ? run_batches(&c, idx, n, build_mas, &mp, pb, &done) : 1;
        runio_progress_done(pb);
        free(idx);
        if (!rc && (s = runio_results_summary(c.res, label, c.manifest)) != GC_OK) rc = cli_error("run", s);
    }
    run_close(&c);
    return rc;
}
