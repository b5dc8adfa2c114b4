// gcache serve — a local model behind the OpenAI-compatible chat protocol
// (gcache/server.h), until SIGINT / SIGTERM.
#include "cli/cli.h"
#include "cli/cli_device.h"
#include "gcache/server.h"
#include <signal.h>
#include <string.h>

static void serve_help(void) {
    printf("usage: gcache serve --model PATH [options]\n\n"
           "Serves the model on an OpenAI-compatible API: POST /v1/chat/completions (non-streaming),\n"
           "GET /v1/models, GET /health. One request runs at a time, each in a fresh KV cache.\n"
           "Stops on Ctrl-C (SIGINT) or SIGTERM.\n\n"
           "options:\n"
           "  --model PATH          HF folder or GGUF file with a tokenizer and a ChatML chat template\n"
           "  --device cuda|cpu     default cuda when a GPU is present\n"
           "  --host ADDR           IPv4 address to listen on (default 127.0.0.1)\n"
           "  --port N              port (default 8080; 0 = any free port, printed at start)\n"
           "  --name NAME           model name in replies and /v1/models (default gcache)\n"
           "  --max-tokens N        for requests without max_tokens (default 256)\n"
           "  --max-tokens-limit N  larger requests are refused (default 4096)\n\n"
           "example: gcache serve --model .cache/models/SmolLM2-135M-Instruct.Q4_1.gguf --port 8080 &\n"
           "         curl -s http://127.0.0.1:8080/v1/chat/completions -H 'Content-Type: application/json' \\\n"
           "           -d '{\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}],\"max_tokens\":32}'\n");
}

int cmd_serve(int argc, char **argv) {
    const char *model = NULL, *host = "127.0.0.1", *name = "gcache";
    long long port = 8080, max_tokens = 256, limit = 4096;
    int device = cli_default_device();
    for (int i = 1; i < argc; i++) {
        int r;
        if (strcmp(argv[i], "--help") == 0) {
            serve_help();
            return 0;
        }
#define OPT(call) if ((r = (call)) < 0) return 2; if (r) continue;
        OPT(cli_opt_str(argc, argv, &i, "--model", &model));
        OPT(cli_opt_str(argc, argv, &i, "--host", &host));
        OPT(cli_opt_str(argc, argv, &i, "--name", &name));
        OPT(cli_opt_int(argc, argv, &i, "--port", 0, 65535, &port));
        OPT(cli_opt_int(argc, argv, &i, "--max-tokens", 1, 1 << 20, &max_tokens));
        OPT(cli_opt_int(argc, argv, &i, "--max-tokens-limit", 1, 1 << 20, &limit));
        OPT(cli_opt_device(argc, argv, &i, &device));
#undef OPT
        return cli_usage_error("serve", "unknown option '%s'", argv[i]);
    }
    if (!model) return cli_usage_error("serve", "--model is required");
    if (max_tokens > limit) return cli_usage_error("serve", "--max-tokens %lld is above --max-tokens-limit %lld", max_tokens, limit);
    // SIGINT / SIGTERM are blocked before the server's threads start (they
    // inherit the mask), then taken here with sigwait: a clean stop. The
    // default disposition is restored because a shell starts background jobs
    // with SIGINT ignored, and an ignored signal may be discarded, not waited for.
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    gc_model *m;
    gc_engine *e;
    if (cli_open_on("serve", model, device, &m, &e)) return 1;
    gc_server_opts o = gc_server_default_opts();
    o.host = host;
    o.port = (int)port;
    o.model_name = name;
    o.default_max_tokens = (int)max_tokens;
    o.max_tokens_limit = (int)limit;
    gc_server *srv;
    gc_status s = gc_server_start(m, e, &o, &srv);
    int rc = 0;
    if (s != GC_OK) {
        rc = cli_error("serve", s);
    } else {
        fprintf(stderr, "gcache serve: listening on http://%s:%d/v1 (model %s)\n", host, gc_server_port(srv), name);
        int sig = 0;
        sigwait(&stop, &sig);
        fprintf(stderr, "gcache serve: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
        gc_server_stop(srv);
    }
    gc_engine_free(e);
    gc_model_free(m);
    return rc;
}
