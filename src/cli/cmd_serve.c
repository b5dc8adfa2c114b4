// gcache serve — a local model behind the OpenAI-compatible chat protocol
// (gcache/server.h), until SIGINT / SIGTERM, which drain it.
#include "cli/cli.h"
#include "cli/cli_device.h"
#include "gcache/graph_model.h"
#include "gcache/server.h"
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void serve_help(void) {
    printf("usage: gcache serve --model PATH [options]\n\n"
           "Serves the model on an OpenAI-compatible API: POST /v1/chat/completions (JSON, or Server-Sent\n"
           "Events with \"stream\": true), GET /v1/models, GET /health. Concurrent requests are batched\n"
           "together (continuous batching: a new request joins the running batch at the next step).\n"
           "Listens on loopback (127.0.0.1) unless --host says otherwise: anyone who can reach the port\n"
           "can use the model, so set --api-key before listening on other addresses.\n"
           "SIGINT / SIGTERM drain: new requests get 503, those running finish (up to --drain-timeout),\n"
           "then the server exits 0; a second signal stops at once.\n\n"
           "options:\n"
           "  --model PATH          HF folder or GGUF file with a tokenizer and a ChatML chat template\n"
           "  --device cuda|cpu     default cuda when a GPU is present\n"
           "  --threads N           CPU threads (default: the cores this process may use)\n"
           "  --exact               the CPU's exact f32 path (default: int8 activations on the quantized blocks)\n"
           "  --kv q8               KV cache as int8 with a scale per position and KV head (default: f32 on\n"
           "                        the CPU, bf16 on CUDA)\n"
           "  --host ADDR           IPv4 address to listen on (default 127.0.0.1, loopback only)\n"
           "  --port N              port (default 8080; 0 = any free port, printed at start)\n"
           "  --name NAME           model name in replies and /v1/models (default gcache)\n"
           "  --api-key KEY         require \"Authorization: Bearer KEY\" on /v1/* (default: env\n"
           "                        GCACHE_API_KEY; none when both are unset)\n"
           "  --max-tokens N        for requests without max_tokens (default 256)\n"
           "  --max-tokens-limit N  larger requests are refused (default 4096)\n"
           "  --max-batch N         sequences generated together at most (default 32; n choices count n)\n"
           "  --queue-limit N       requests waiting for the batch at most; more get 503 + Retry-After\n"
           "                        (default 256)\n"
           "  --max-n N             choices per request at most (default 8)\n"
           "  --prefill-rows N      prompt rows in one engine step at most (default 512; 0 = unlimited): a\n"
           "                        longer prompt enters over several steps, so running replies keep\n"
           "                        getting a token every step\n"
           "  --drain-timeout S     seconds a signal waits for running requests (default 30)\n"
           "  --quiet               no per-request log lines on stderr\n\n"
           "The agent graph as a model: requests for the model --graph-name run a multi-agent method on\n"
           "their last user message and answer with its decision node's text (usage summed over agents):\n"
           "  --graph-method M      single | textmas | latentmas | gcache (G-cache agent graph)\n"
           "  --graph-checkpoint DIR  the method of a `gcache run` folder: its run.json settings and, for a\n"
           "                        Learned topology, its trained policy.ckpt\n"
           "  --graph-name NAME     its model name (default gcache-graph)\n"
           "  --graph-prompts P     prompt family (math, choice, code) or prompt-set file (default math)\n"
           "  --graph-latent-steps N  latent steps per agent (default 10)\n"
           "  --graph-agents N      gcache: agents (default 4)\n"
           "  --graph-topology T    gcache: a fixed topology (default FullConnected)\n\n"
           "Each finished request logs a line on stderr: its id (the reply's \"id\"), status, prompt and\n"
           "completion tokens, n, seed (drawn fresh when the request has none), queue and total seconds,\n"
           "finish reasons.\n\n"
           "example: gcache serve --model .cache/models/SmolLM2-135M-Instruct.Q4_1.gguf --port 8080 &\n"
           "         curl -s http://127.0.0.1:8080/v1/chat/completions -H 'Content-Type: application/json' \\\n"
           "           -d '{\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}],\"max_tokens\":32}'\n");
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// Waits for the requests in flight to finish, up to timeout_s; a second
// signal cuts the wait short.
static void drain(gc_server *srv, const sigset_t *stop, double timeout_s) {
    gc_server_drain(srv);
    const double until = now_s() + timeout_s;
    int n;
    if ((n = gc_server_in_flight(srv)) > 0)
        fprintf(stderr, "gcache serve: draining %d request(s) (up to %.0f s; signal again to stop now)\n", n, timeout_s);
    while ((n = gc_server_in_flight(srv)) > 0) {
        const double left = until - now_s();
        if (left <= 0) {
            fprintf(stderr, "gcache serve: drain timeout, cancelling %d request(s)\n", n);
            return;
        }
        const double wait = left < 0.1 ? left : 0.1;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)(wait * 1e9)};
        if (sigtimedwait(stop, NULL, &ts) > 0) {
            fprintf(stderr, "gcache serve: second signal, cancelling %d request(s)\n", n);
            return;
        }
    }
}

int cmd_serve(int argc, char **argv) {
    const char *model = NULL, *host = "127.0.0.1", *name = "gcache", *api_key = getenv("GCACHE_API_KEY");
    long long port = 8080, max_tokens = 256, limit = 4096, max_batch = 32, queue_limit = 256, max_n = 8;
    long long prefill_rows = 512;
    double drain_timeout = 30;
    bool quiet = false;
    gc_graph_model_spec gs = gc_graph_model_default_spec();
    const char *graph_method = NULL, *graph_dir = NULL, *graph_name = "gcache-graph";
    long long graph_latent = gs.latent_steps, graph_agents = gs.agents;
    int device = cli_default_device(), threads = 0, kv_dtype = GC_KV_DEFAULT;
    bool exact = false;
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
        OPT(cli_opt_str(argc, argv, &i, "--api-key", &api_key));
        OPT(cli_opt_int(argc, argv, &i, "--port", 0, 65535, &port));
        OPT(cli_opt_int(argc, argv, &i, "--max-tokens", 1, 1 << 20, &max_tokens));
        OPT(cli_opt_int(argc, argv, &i, "--max-tokens-limit", 1, 1 << 20, &limit));
        OPT(cli_opt_int(argc, argv, &i, "--max-batch", 1, 4096, &max_batch));
        OPT(cli_opt_int(argc, argv, &i, "--queue-limit", 0, 1 << 20, &queue_limit));
        OPT(cli_opt_int(argc, argv, &i, "--max-n", 1, 128, &max_n));
        OPT(cli_opt_int(argc, argv, &i, "--prefill-rows", 0, 1 << 20, &prefill_rows));
        OPT(cli_opt_float(argc, argv, &i, "--drain-timeout", 0, 86400, &drain_timeout));
        OPT(cli_opt_flag(argv, &i, "--quiet", &quiet));
        OPT(cli_opt_str(argc, argv, &i, "--graph-method", &graph_method));
        OPT(cli_opt_str(argc, argv, &i, "--graph-checkpoint", &graph_dir));
        OPT(cli_opt_str(argc, argv, &i, "--graph-name", &graph_name));
        OPT(cli_opt_str(argc, argv, &i, "--graph-prompts", &gs.prompts));
        OPT(cli_opt_str(argc, argv, &i, "--graph-topology", &gs.topology));
        OPT(cli_opt_int(argc, argv, &i, "--graph-latent-steps", 0, 10000, &graph_latent));
        OPT(cli_opt_int(argc, argv, &i, "--graph-agents", 1, 12, &graph_agents));
        OPT(cli_opt_device(argc, argv, &i, &device));
        OPT(cli_opt_threads(argc, argv, &i, &threads));
        OPT(cli_opt_flag(argv, &i, "--exact", &exact));
        OPT(cli_opt_kv(argc, argv, &i, &kv_dtype));
#undef OPT
        return cli_usage_error("serve", "unknown option '%s'", argv[i]);
    }
    if (!model) return cli_usage_error("serve", "--model is required");
    if (max_tokens > limit) return cli_usage_error("serve", "--max-tokens %lld is above --max-tokens-limit %lld", max_tokens, limit);
    if (graph_method && graph_dir)
        return cli_usage_error("serve", "--graph-method and --graph-checkpoint exclude each other (the folder names its method)");
    if (graph_method && strcmp(graph_method, "single") != 0 && strcmp(graph_method, "textmas") != 0 &&
        strcmp(graph_method, "latentmas") != 0 && strcmp(graph_method, "gcache") != 0)
        return cli_usage_error("serve", "--graph-method: expected single, textmas, latentmas or gcache, got '%s'", graph_method);
    if (graph_method) {
        gs.method = graph_method;
        gs.latent_steps = (int)graph_latent;
        gs.agents = (int)graph_agents;
    }
    // SIGINT / SIGTERM are blocked before the server's threads start (they
    // inherit the mask), then taken here with sigwait. The default
    // disposition is restored because a shell starts background jobs with
    // SIGINT ignored, and an ignored signal may be discarded, not waited for.
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    gc_server_opts o = gc_server_default_opts();
    o.host = host;
    o.port = (int)port;
    o.model_name = name;
    o.api_key = api_key && *api_key ? api_key : NULL;
    o.default_max_tokens = (int)max_tokens;
    o.max_tokens_limit = (int)limit;
    o.max_batch = (int)max_batch;
    o.queue_limit = (int)queue_limit;
    o.max_n = (int)max_n;
    o.prefill_rows = (int)prefill_rows;
    o.log = quiet ? NULL : stderr;
    // Listening first: /health says "loading" while the model loads.
    gc_server *srv;
    gc_status s = gc_server_open(&o, &srv);
    if (s != GC_OK) return cli_error("serve", s);
    fprintf(stderr, "gcache serve: listening on http://%s:%d/v1 (model %s)\n", host, gc_server_port(srv), name);
    if (o.api_key) fprintf(stderr, "gcache serve: /v1/* require the API key\n");
    gc_model *m = NULL;
    gc_engine *e = NULL;
    gc_graph_model *graph = NULL;
    int rc = cli_open_on("serve", model, device, threads, exact, kv_dtype, &m, &e);
    if (!rc && (graph_method || graph_dir)) {
        s = graph_dir ? gc_graph_model_open_run(e, gc_model_tokenizer(m), graph_dir, &graph)
                      : gc_graph_model_open(e, gc_model_tokenizer(m), &gs, &graph);
        if (s == GC_OK) s = gc_server_set_graph(srv, graph_name, graph);
        if (s != GC_OK) rc = cli_error("serve", s);
        else fprintf(stderr, "gcache serve: model %s: %s\n", graph_name, gc_graph_model_describe(graph));
    }
    if (!rc && (s = gc_server_attach(srv, m, e)) != GC_OK) rc = cli_error("serve", s);
    if (!rc) {
        fprintf(stderr, "gcache serve: ready\n");
        int sig = 0;
        sigwait(&stop, &sig);
        fprintf(stderr, "gcache serve: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
        drain(srv, &stop, drain_timeout);
    }
    gc_server_stop(srv);
    gc_graph_model_free(graph);
    gc_engine_free(e);
    gc_model_free(m);
    return rc;
}
