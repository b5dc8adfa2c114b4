// gcache run — evaluate a method on a task file, one JSON line per question.
// The options and the printing; the run itself is the library's (gcache/run.h).
#include "cli/cli.h"
#include "cli/cli_device.h"
#include "core/progress.h"
#include "gcache/run.h"
#include <stdlib.h>
#include <string.h>

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
           "  --prefill-rows N      prompt rows one engine step feeds at most; the batch's prompts enter\n"
           "                        over several steps (default 512 on the CPU, 4096 on CUDA)\n"
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
           "  --profile             each batch prints its seconds in the engine and in the scheduler to stderr\n"
           "  --device cuda|cpu     default cuda when a GPU is present\n"
           "  --threads N           CPU threads (default: the cores this process may use)\n"
           "  --exact               the CPU's exact f32 path (default: int8 activations on the quantized blocks)\n"
           "  --kv q8               KV cache as int8 with a scale per position and KV head (default: f32 on\n"
           "                        the CPU, bf16 on CUDA)\n"
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
           "  --gates learned|on|off  layer gates of the received caches (cache mode): as the policy\n"
           "                        picks them (default; fixed topologies keep them on), or forced on /\n"
           "                        off in every layer of every received cache (the ablation: off hides\n"
           "                        what the other agents hand on; the policy is trained the same)\n"
           "  --eval-policy greedy|sample  how the trained policy picks each evaluated question's\n"
           "                        topology and fuser: greedy (default: every yes/no choice taken when\n"
           "                        p >= 1/2, fusion weights at their means) or sample (drawn from the\n"
           "                        policy without dropout, seeded by --seed and the question's index)\n\n"
           "%s\n%s\n"
           "example: gcache run --method latentmas --task gsm8k --dataset ../shared/data/gsm8k/test.jsonl \\\n"
           "           --model .cache/models/SmolLM2-135M-Instruct.Q4_1.gguf --max-samples 50 --latent-steps 10\n"
           "         API_BASE_URL=http://127.0.0.1:8080/v1 API_MODEL=gcache gcache run --method latentmas \\\n"
           "           --gen-mode hybrid --task gsm8k --dataset test.jsonl --model MODEL --max-samples 20\n",
           cli_cpu_debug_help, cli_cuda_debug_help);
}

// Matches option `name` with one of `names` (n of them) at argv[*i], as the
// cli_opt_* helpers do; *value gets the value and *out its index. -2: a
// value that is none of them.
static int opt_choice(int argc, char **argv, int *i, const char *name, const char *const *names, int n,
                      const char **value, int *out) {
    int r = cli_opt_str(argc, argv, i, name, value);
    if (r <= 0) return r;
    for (int k = 0; k < n; k++)
        if (strcmp(*value, names[k]) == 0) {
            *out = k;
            return 1;
        }
    return -2;
}

static int parse(int argc, char **argv, gc_run_params *o) {
    *o = gc_run_default_params();
    o->engine.device = cli_default_device();
    bool no_realign = false, no_baseline = false;
    for (int i = 1; i < argc; i++) {
        int r;
        long long v;
        if (strcmp(argv[i], "--help") == 0) { run_help(); return 1; }
#define OPT(call) if ((r = (call)) < 0) return 2; if (r) continue;
#define OPT_INT(name, lo, hi, field) \
    if ((r = cli_opt_int(argc, argv, &i, name, lo, hi, &v)) < 0) return 2; \
    if (r) { field = (__typeof__(field))v; continue; }
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
        OPT_INT("--max-samples", 1, 1LL << 40, o->max_samples);
        OPT_INT("--offset", 0, 1LL << 40, o->offset);
        OPT_INT("--batch", 1, 4096, o->batch);
        OPT_INT("--seed", 0, 1LL << 62, o->seed);
        OPT_INT("--max-tokens", 1, 1 << 20, o->max_tokens);
        OPT_INT("--agent-max-tokens", 1, 1 << 20, o->agent_max_tokens);
        OPT_INT("--latent-steps", 0, 1000, o->latent_steps);
        OPT_INT("--top-k", 0, 1 << 24, o->top_k);
        OPT_INT("--agents", 1, 12, o->agents);
        OPT_INT("--rounds", 1, 4, o->rounds);
        OPT_INT("--train-iters", 0, 1 << 20, o->train_iters);
        OPT_INT("--batch-size", 1, 4096, o->batch_size);
        OPT_INT("--train-offset", 0, 1LL << 40, o->train_offset);
        OPT(cli_opt_float(argc, argv, &i, "--temperature", 0, 100, &o->temperature));
        OPT(cli_opt_float(argc, argv, &i, "--top-p", 1e-6, 1, &o->top_p));
        OPT(cli_opt_float(argc, argv, &i, "--lr", 0, 100, &o->lr));
        OPT(cli_opt_float(argc, argv, &i, "--edge-temperature", 1e-3, 100, &o->edge_temperature));
        OPT(cli_opt_device(argc, argv, &i, &o->engine.device));
        OPT(cli_opt_threads(argc, argv, &i, &o->engine.n_threads));
        OPT(cli_opt_flag(argv, &i, "--exact", &o->engine.exact));
        OPT(cli_opt_kv(argc, argv, &i, &o->engine.kv_dtype));
        OPT(cli_opt_cuda_debug(argc, argv, &i, &o->engine.cuda));
        OPT(cli_opt_cpu_debug(argc, argv, &i, &o->engine.cpu));
        OPT(cli_opt_flag(argv, &i, "--resume", &o->resume));
        OPT(cli_opt_flag(argv, &i, "--profile", &o->profile));
        OPT(cli_opt_flag(argv, &i, "--strict", &o->strict));
        OPT(cli_opt_flag(argv, &i, "--think", &o->think));
        OPT(cli_opt_flag(argv, &i, "--no-realign", &no_realign));
        OPT(cli_opt_flag(argv, &i, "--text-mode", &o->text_mode));
        OPT(cli_opt_flag(argv, &i, "--no-baseline", &no_baseline));
        OPT(cli_opt_flag(argv, &i, "--score-answer", &o->score_answer));
        OPT(cli_opt_str(argc, argv, &i, "--reward", &o->reward));
        OPT(cli_opt_str(argc, argv, &i, "--eval-policy", &o->eval_policy));
        OPT(cli_opt_str(argc, argv, &i, "--env-file", &o->env_file));
        OPT_INT("--api-concurrency", 1, 64, o->api_concurrency);
        OPT_INT("--prefill-rows", 1, 1 << 24, o->prefill_rows);
        static const char *const gen_modes[] = {"local", "api_hint", "hybrid"};
        static const char *const gates[] = {"learned", "on", "off"};
        int k = 0;
        const char *val = NULL;
        if ((r = opt_choice(argc, argv, &i, "--gen-mode", gen_modes, 3, &val, &k)) == -1) return 2;
        if (r == -2) return cli_usage_error("run", "--gen-mode: expected local, api_hint or hybrid, got '%s'", val);
        if (r) { o->gen_mode = (gc_run_gen_mode)k; continue; }
        if ((r = opt_choice(argc, argv, &i, "--gates", gates, 3, &val, &k)) == -1) return 2;
        if (r == -2) return cli_usage_error("run", "--gates: expected learned, on or off, got '%s'", val);
        if (r) { o->gates = (gc_run_gates)k; continue; }
#undef OPT
#undef OPT_INT
        return cli_usage_error("run", "unknown option '%s'", argv[i]);
    }
    o->realign = !no_realign;
    o->baseline = !no_baseline;
    if (!o->method || !o->task || !o->dataset)
        return cli_usage_error("run", "--method, --task and --dataset are required");
    const bool api_only = strcmp(o->method, "api") == 0;
    if (!o->model && !api_only) return cli_usage_error("run", "--model is required (except with --method api)");
    if (api_only && o->gen_mode != GC_RUN_GEN_LOCAL)
        return cli_usage_error("run", "--gen-mode is for methods with local agents; --method api asks the API alone");
    if (gc_run_params_check(o) != GC_OK) return cli_usage_error("run", "%s", gc_last_error());
    return 0;
}

// The progress bar of the phase in flight (training, evaluation) on stderr.
static void on_progress(void *user, const gc_run_progress *p) {
    gc_progress **bar = user;
    if (p->event == GC_RUN_BEGIN) {
        gc_progress_opts o = {NULL, -1, NULL, NULL, (size_t)p->start, 0, p->unit};
        *bar = gc_progress_new_opts((size_t)p->total, p->label, &o);
    } else if (p->event == GC_RUN_TICK) {
        gc_progress_tick(*bar, (size_t)p->done, p->note);
    } else {
        gc_progress_done(*bar);
        *bar = NULL;
    }
}

static void on_note(void *user, const char *note) {
    (void)user;
    fprintf(stderr, "gcache run: %s\n", note);
}

int cmd_run(int argc, char **argv) {
    gc_run_params o;
    int pr = parse(argc, argv, &o);
    if (pr) return pr == 1 ? 0 : pr;
    char out[1024];
    if (!o.out) {
        snprintf(out, sizeof out, "runs/%s-%s", o.task, o.method);
        o.out = out;
    }
    gc_progress *bar = NULL;
    o.on_progress = on_progress;
    o.on_note = on_note;
    o.user = &bar;
    gc_run *run;
    gc_status s = gc_run_open(&o, &run);
    if (s != GC_OK) return cli_error("run", s);
    s = gc_run_execute(run);
    gc_progress_done(bar);   // a phase cut short by a failure
    gc_results_summary sum;
    if (s == GC_OK && gc_run_summary(run, &sum)) {
        fprintf(stderr, "\n%s\n", gc_run_label(run));
        gc_results_summary_print(&sum, stderr);
    }
    int rc = s == GC_OK ? 0 : cli_error("run", s);
    gc_run_free(run);
    return rc;
}
