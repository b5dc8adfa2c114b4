// gcache generate / gcache chat
#include "cli/cli.h"
#include "cli/cli_device.h"
#include "gcache/chat.h"
#include "gcache/generate.h"
#include "gcache/tokenizer.h"
#include <stdlib.h>
#include <string.h>

typedef struct gen_opts {
    const char *model, *prompt, *system;
    bool chat, think, no_think, quiet, ignore_eos;
    long long max_tokens, top_k, seed;
    gc_engine_params engine;   // --device, --threads, --exact, --kv and the --cuda-* switches
    double temperature, top_p;
    const char *stop[GC_MAX_STOP];
    int n_stop;
} gen_opts;

static void gen_help(const char *cmd) {
    printf("usage: gcache %s --model PATH %s[options]\n\n", cmd, strcmp(cmd, "generate") == 0 ? "--prompt TEXT " : "");
    if (strcmp(cmd, "generate") == 0)
        printf("Generates a continuation of TEXT (or of a chat turn with --chat), streaming it to\n"
               "stdout, then prints a tokens/s line to stderr.\n\n");
    else
        printf("Interactive chat: type a message, get the reply; an empty line or EOF ends.\n"
               "The whole conversation stays in the KV cache.\n\n");
    printf("options:\n"
           "  --model PATH        HF folder or GGUF file (required)\n"
           "  --chat              wrap the prompt in the model's chat template (generate)\n"
           "  --system TEXT       system message (chat template)\n"
           "  --think / --no-think  Qwen3 thinking switch (default: think)\n"
           "  --max-tokens N      new tokens at most (default 256)\n"
           "  --temperature T     0 = greedy (default 0)\n"
           "  --top-p P           nucleus sampling (default 1)\n"
           "  --top-k K           0 = off (default 0)\n"
           "  --seed S            sampling seed (default 0)\n"
           "  --stop STR          stop string (repeatable, up to %d)\n"
           "  --ignore-eos        do not stop at end-of-sequence tokens\n"
           "  --quiet             no tokens/s line\n"
           "  --device cuda|cpu   where the model runs (default cuda when a GPU is present)\n"
           "  --threads N         CPU threads (default: the cores this process may use)\n"
           "  --exact             the CPU's exact f32 path (default: int8 activations on the quantized blocks)\n"
           "  --kv q8             KV cache as int8 with a scale per position and KV head (default: f32 on the\n"
           "                      CPU, bf16 on CUDA)\n\n"
           "%s\n%s\n"
           "example: gcache %s --model .cache/models/SmolLM2-135M-Instruct.Q4_1.gguf%s\n",
           GC_MAX_STOP, cli_cpu_debug_help, cli_cuda_debug_help, cmd, strcmp(cmd, "generate") == 0 ? " --chat --prompt 'Name three primes.'" : "");
}

// Returns 0 ok, 1 help shown, 2 usage error.
static int parse(const char *cmd, int argc, char **argv, gen_opts *o) {
    memset(o, 0, sizeof *o);
    o->max_tokens = 256;
    o->top_p = 1.0;
    o->engine = gc_engine_default_params();
    o->engine.device = cli_default_device();
    for (int i = 1; i < argc; i++) {
        int r;
        if (strcmp(argv[i], "--help") == 0) { gen_help(cmd); return 1; }
#define OPT(call) if ((r = (call)) < 0) return 2; if (r) continue;
        OPT(cli_opt_str(argc, argv, &i, "--model", &o->model));
        OPT(cli_opt_str(argc, argv, &i, "--prompt", &o->prompt));
        OPT(cli_opt_str(argc, argv, &i, "--system", &o->system));
        OPT(cli_opt_int(argc, argv, &i, "--max-tokens", 0, 1 << 20, &o->max_tokens));
        OPT(cli_opt_int(argc, argv, &i, "--top-k", 0, 1 << 24, &o->top_k));
        OPT(cli_opt_int(argc, argv, &i, "--seed", 0, (long long)1 << 62, &o->seed));
        OPT(cli_opt_float(argc, argv, &i, "--temperature", 0, 100, &o->temperature));
        OPT(cli_opt_float(argc, argv, &i, "--top-p", 1e-6, 1, &o->top_p));
        OPT(cli_opt_flag(argv, &i, "--chat", &o->chat));
        OPT(cli_opt_flag(argv, &i, "--think", &o->think));
        OPT(cli_opt_flag(argv, &i, "--no-think", &o->no_think));
        OPT(cli_opt_flag(argv, &i, "--quiet", &o->quiet));
        OPT(cli_opt_flag(argv, &i, "--ignore-eos", &o->ignore_eos));
        OPT(cli_opt_device(argc, argv, &i, &o->engine.device));
        OPT(cli_opt_threads(argc, argv, &i, &o->engine.n_threads));
        OPT(cli_opt_flag(argv, &i, "--exact", &o->engine.exact));
        OPT(cli_opt_kv(argc, argv, &i, &o->engine.kv_dtype));
        OPT(cli_opt_cuda_debug(argc, argv, &i, &o->engine.cuda));
        OPT(cli_opt_cpu_debug(argc, argv, &i, &o->engine.cpu));
        const char *stop;
        if ((r = cli_opt_str(argc, argv, &i, "--stop", &stop)) < 0) return 2;
        if (r) {
            if (o->n_stop == GC_MAX_STOP) return cli_usage_error(cmd, "at most %d --stop strings", GC_MAX_STOP);
            o->stop[o->n_stop++] = stop;
            continue;
        }
#undef OPT
        return cli_usage_error(cmd, "unknown option '%s'", argv[i]);
    }
    if (!o->model) return cli_usage_error(cmd, "--model is required");
    if (o->think && o->no_think) return cli_usage_error(cmd, "--think and --no-think exclude each other");
    return 0;
}

static gc_gen_params gen_params(const gen_opts *o) {
    gc_gen_params p = gc_gen_default_params();
    p.max_tokens = (int)o->max_tokens;
    p.sampling.temperature = (float)o->temperature;
    p.sampling.top_p = (float)o->top_p;
    p.sampling.top_k = (int)o->top_k;
    p.sampling.seed = (uint64_t)o->seed;
    p.ignore_eos = o->ignore_eos;
    for (int i = 0; i < o->n_stop; i++) p.stop[i] = o->stop[i];
    return p;
}

static bool print_piece(void *user, const char *text, size_t len) {
    (void)user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return true;
}

static void report(const gc_gen_result *r, bool quiet) {
    if (quiet) return;
    double pf = r->prefill_s > 0 ? (double)r->n_prompt / r->prefill_s : 0;
    double dc = r->decode_s > 0 ? (double)r->n_ids / r->decode_s : 0;
    fprintf(stderr, "\n[%lld prompt tokens %.1f tok/s | %lld new tokens %.1f tok/s | finish: %s]\n",
            (long long)r->n_prompt, pf, (long long)r->n_ids, dc,
            r->finish == GC_FINISH_EOS ? "eos" : r->finish == GC_FINISH_STOP ? "stop" : "length");
}

int cmd_generate(int argc, char **argv) {
    gen_opts o;
    int pr = parse("generate", argc, argv, &o);
    if (pr) return pr == 1 ? 0 : pr;
    if (!o.prompt) return cli_usage_error("generate", "--prompt is required");
    gc_model *m;
    gc_engine *e;
    if (cli_open_params("generate", o.model, &o.engine, &m, &e)) return 1;
    const gc_tokenizer *tok = gc_model_tokenizer(m);
    int rc = 0;
    char *text = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    gc_kv *kv = NULL;
    gc_gen_result res = {0};
    gc_status s;
    if (!tok) { rc = cli_usage_error("generate", "model %s has no tokenizer", o.model); goto out; }
    if (o.chat) {
        gc_chat_msg msgs[2];
        int n = 0;
        if (o.system) msgs[n++] = (gc_chat_msg){"system", o.system};
        msgs[n++] = (gc_chat_msg){"user", o.prompt};
        gc_chat_opts co = {.add_generation_prompt = true, .enable_thinking = !o.no_think};
        s = gc_chat_format(gc_chat_detect(gc_tokenizer_chat_template(tok)), msgs, (size_t)n, &co, &text, NULL);
        if (s != GC_OK) { rc = cli_error("generate", s); goto out; }
    } else {
        text = strdup(o.prompt);
    }
    s = gc_tokenizer_encode(tok, text, strlen(text), o.chat, &ids, &n_ids);
    if (s != GC_OK) { rc = cli_error("generate", s); goto out; }
    if (n_ids == 0) { rc = cli_usage_error("generate", "the prompt encodes to no tokens"); goto out; }
    if ((s = gc_kv_new(e, &kv)) != GC_OK) { rc = cli_error("generate", s); goto out; }
    gc_gen_params gp = gen_params(&o);
    s = gc_generate(e, kv, tok, ids, (int64_t)n_ids, &gp, print_piece, NULL, &res);
    if (s != GC_OK) { rc = cli_error("generate", s); goto out; }
    report(&res, o.quiet);
out:
    gc_gen_result_free(&res);
    gc_kv_free(kv);
    free(ids);
    free(text);
    gc_engine_free(e);
    gc_model_free(m);
    return rc;
}

int cmd_chat(int argc, char **argv) {
    gen_opts o;
    int pr = parse("chat", argc, argv, &o);
    if (pr) return pr == 1 ? 0 : pr;
    gc_model *m;
    gc_engine *e;
    if (cli_open_params("chat", o.model, &o.engine, &m, &e)) return 1;
    const gc_tokenizer *tok = gc_model_tokenizer(m);
    gc_kv *kv = NULL;
    int rc = 0;
    if (!tok) { rc = cli_usage_error("chat", "model %s has no tokenizer", o.model); goto out; }
    gc_status s = gc_kv_new(e, &kv);
    if (s != GC_OK) { rc = cli_error("chat", s); goto out; }
    char line[8192];
    bool first = true;
    int32_t pending = -1;   // sampled last turn, not yet in the cache
    for (;;) {
        fprintf(stderr, "> ");
        if (!fgets(line, sizeof line, stdin)) break;
        size_t ll = strlen(line);
        while (ll && (line[ll - 1] == '\n' || line[ll - 1] == '\r')) line[--ll] = 0;
        if (ll == 0) break;
        // Each turn appends only its own messages: the cache already holds the
        // conversation so far (the assistant's reply ended with <|im_end|>).
        gc_chat_msg msgs[2];
        int n = 0;
        if (first && o.system) msgs[n++] = (gc_chat_msg){"system", o.system};
        msgs[n++] = (gc_chat_msg){"user", line};
        char *text = NULL;
        // Later turns use plain ChatML: the template's default system prompt
        // belongs only at the start of the conversation.
        gc_chat_opts co = {.add_generation_prompt = true, .enable_thinking = !o.no_think};
        gc_chat_style style = first ? gc_chat_detect(gc_tokenizer_chat_template(tok)) : GC_CHAT_CHATML;
        if (!first && gc_chat_detect(gc_tokenizer_chat_template(tok)) == GC_CHAT_QWEN3) style = GC_CHAT_QWEN3;
        s = gc_chat_format(style, msgs, (size_t)n, &co, &text, NULL);
        if (s != GC_OK) { rc = cli_error("chat", s); break; }
        // Close the previous assistant turn: its last sampled token (unless it
        // was the end-of-turn token itself) and "<|im_end|>\n" are not in the
        // cache yet.
        if (!first) {
            char *closed = malloc(strlen(text) + 16);
            if (!closed) { free(text); rc = 1; break; }
            strcpy(closed, "<|im_end|>\n");
            strcat(closed, text);
            free(text);
            text = closed;
        }
        int32_t *ids = NULL;
        size_t n_ids = 0;
        s = gc_tokenizer_encode(tok, text, strlen(text), true, &ids, &n_ids);
        free(text);
        if (s != GC_OK) { rc = cli_error("chat", s); break; }
        if (pending >= 0) {
            int32_t *grown = realloc(ids, (n_ids + 1) * sizeof *ids);
            if (!grown) { free(ids); rc = 1; break; }
            ids = grown;
            memmove(ids + 1, ids, n_ids * sizeof *ids);
            ids[0] = pending;
            n_ids++;
        }
        gc_gen_params gp = gen_params(&o);
        gc_gen_result res;
        s = gc_generate(e, kv, tok, ids, (int64_t)n_ids, &gp, print_piece, NULL, &res);
        free(ids);
        if (s != GC_OK) { gc_gen_result_free(&res); rc = cli_error("chat", s); break; }
        printf("\n");
        report(&res, o.quiet);
        pending = res.finish == GC_FINISH_EOS ? -1 : res.unfed;
        gc_gen_result_free(&res);
        first = false;
    }
out:
    gc_kv_free(kv);
    gc_engine_free(e);
    gc_model_free(m);
    return rc;
}
