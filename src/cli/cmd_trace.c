// gcache trace --model PATH --program P [--no-realign] [--device cuda|cpu] [--threads N] [--fast]
#include "cli/cli.h"
#include "cli/cli_device.h"
#include "gcache/trace.h"
#include <string.h>

int cmd_trace(int argc, char **argv) {
    const char *model = NULL, *program = NULL;
    bool no_realign = false, fast = false;
    int device = cli_default_device(), threads = 0;
    for (int i = 1; i < argc; i++) {
        int r;
        if (strcmp(argv[i], "--help") == 0) {
            printf("usage: gcache trace --model PATH --program P [--no-realign] [--device cuda|cpu] [--threads N] [--fast]\n\n"
                   "Runs `;`-separated segments on one sequence and prints one JSON object\n"
                   "{\"segments\":[...]} (floats with 9 significant digits):\n"
                   "  ids:3,17,42  feed tokens  -> {\"type\":\"ids\",\"logits\":[[V]...],\"hidden_last\":[D]}\n"
                   "  latent:K     K latent steps (realigned last hidden state fed back as the\n"
                   "               next input embedding) -> {\"type\":\"latent\",\"hidden\":[[D]...],\"logits_last\":[V]}\n"
                   "  greedy:N     N argmax tokens, each fed back -> {\"type\":\"greedy\",\"ids\":[...]}\n"
                   "--no-realign uses W_a = I (the norm rescaling still applies).\n"
                   "--device: default cuda when a GPU is present, else cpu.\n"
                   "--threads: CPU threads (default: the cores this process may use).\n"
                   "--fast: the CPU's fast path (int8 activations on the quantized blocks); the default\n"
                   "is the exact f32 path, as this is the conformance probe.\n"
                   "Works on model folders without a tokenizer.\n\n"
                   "example: gcache trace --model tests/data/tiny/qwen3 --program 'ids:1,2,3;latent:2;greedy:4'\n");
            return 0;
        }
        if ((r = cli_opt_str(argc, argv, &i, "--model", &model)) < 0) return 2;
        if (r) continue;
        if ((r = cli_opt_str(argc, argv, &i, "--program", &program)) < 0) return 2;
        if (r) continue;
        if (cli_opt_flag(argv, &i, "--no-realign", &no_realign)) continue;
        if (cli_opt_flag(argv, &i, "--fast", &fast)) continue;
        if ((r = cli_opt_device(argc, argv, &i, &device)) < 0) return 2;
        if (r) continue;
        if ((r = cli_opt_threads(argc, argv, &i, &threads)) < 0) return 2;
        if (r) continue;
        return cli_usage_error("trace", "unknown option '%s'", argv[i]);
    }
    if (!model || !program) return cli_usage_error("trace", "--model and --program are required");
    gc_model *m;
    gc_engine *e;
    if (cli_open_on("trace", model, device, threads, !fast, GC_KV_DEFAULT, &m, &e)) return 1;
    gc_trace_opts o = {.realign = !no_realign};
    gc_trace *t;
    gc_status s = gc_trace_run(e, program, &o, &t);
    int rc = 0;
    if (s != GC_OK) {
        rc = cli_error("trace", s);
    } else {
        gc_trace_write_json(t, stdout);
        if (fflush(stdout) != 0 || ferror(stdout)) { fprintf(stderr, "gcache trace: write error\n"); rc = 1; }
        gc_trace_free(t);
    }
    gc_engine_free(e);
    gc_model_free(m);
    return rc;
}
