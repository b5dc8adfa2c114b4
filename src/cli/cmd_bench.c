// gcache bench --model PATH [--prompt-tokens N] [--gen-tokens N] [--reps R] [--batch B] [--device cuda|cpu] [--threads N] [--exact]
//              [--kv q8] [--cpu-avx2] [--cpu-gguf-layout] (cli_device.h)
//              [--cuda-* switches (cli_device.h)]
#include "cli/cli.h"
#include "cli/cli_device.h"
#include <stdlib.h>
#include <string.h>

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int cmd_bench(int argc, char **argv) {
    const char *model = NULL;
    long long n_prompt = 128, n_gen = 64, reps = 3, batch = 1;
    gc_engine_params ep = gc_engine_default_params();
    ep.device = cli_default_device();
    for (int i = 1; i < argc; i++) {
        int r;
        if (strcmp(argv[i], "--help") == 0) {
            printf("usage: gcache bench --model PATH [--prompt-tokens N] [--gen-tokens N] [--reps R] [--batch B]\n"
                   "                    [--device cuda|cpu] [--threads N] [--exact] [--kv q8] [--cpu-* switches]\n"
                   "                    [--cuda-* switches]\n\n"
                   "Prefill of N tokens and greedy decode of M tokens on B sequences at once,\n"
                   "repeated R times; prints the median tokens/s of each as JSON.\n"
                   "Token ids are fixed pseudo-random ids, so any model can be measured.\n"
                   "--device: default cuda when a GPU is present (greedy argmax then runs on the GPU).\n"
                   "--threads: CPU threads (default: the cores this process may use).\n"
                   "--exact: the CPU's exact f32 path (default: int8 activations on the quantized blocks).\n"
                   "--kv q8: KV cache as int8 with a scale per position and KV head (default: f32 on the CPU,\n"
                   "bf16 on CUDA); the JSON gives the format and the KV bytes per token.\n"
                   "\n%s\n%s\n"
                   "example: gcache bench --model .cache/models/SmolLM2-135M-Instruct.Q4_1.gguf --prompt-tokens 128 --gen-tokens 64\n",
                   cli_cpu_debug_help, cli_cuda_debug_help);
            return 0;
        }
#define OPT(call) if ((r = (call)) < 0) return 2; if (r) continue;
        OPT(cli_opt_str(argc, argv, &i, "--model", &model));
        OPT(cli_opt_int(argc, argv, &i, "--prompt-tokens", 1, 1 << 20, &n_prompt));
        OPT(cli_opt_int(argc, argv, &i, "--gen-tokens", 1, 1 << 20, &n_gen));
        OPT(cli_opt_int(argc, argv, &i, "--reps", 1, 1000, &reps));
        OPT(cli_opt_int(argc, argv, &i, "--batch", 1, 4096, &batch));
        OPT(cli_opt_device(argc, argv, &i, &ep.device));
        OPT(cli_opt_threads(argc, argv, &i, &ep.n_threads));
        OPT(cli_opt_flag(argv, &i, "--exact", &ep.exact));
        OPT(cli_opt_cpu_debug(argc, argv, &i, &ep.cpu));
        OPT(cli_opt_kv(argc, argv, &i, &ep.kv_dtype));
        OPT(cli_opt_cuda_debug(argc, argv, &i, &ep.cuda));
#undef OPT
        return cli_usage_error("bench", "unknown option '%s'", argv[i]);
    }
    if (!model) return cli_usage_error("bench", "--model is required");
    gc_model *m;
    gc_engine *e;
    if (cli_open_params("bench", model, &ep, &m, &e)) return 1;
    gc_model_info in;
    gc_model_get_info(m, &in);
    int B = (int)batch;
    int32_t *ids = malloc((size_t)(n_prompt * B) * sizeof *ids);
    gc_kv **kv = calloc((size_t)B, sizeof *kv);
    gc_seq_step *st = calloc((size_t)B, sizeof *st);
    int32_t *next = malloc((size_t)B * sizeof *next);
    double *pf = calloc((size_t)reps, sizeof(double)), *dc = calloc((size_t)reps, sizeof(double));
    int rc = 0;
    if (!ids || !kv || !st || !next || !pf || !dc) { fprintf(stderr, "gcache bench: out of memory\n"); rc = 1; goto out; }
    uint64_t x = 88172645463325252ULL;
    for (long long i = 0; i < n_prompt * B; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        ids[i] = (int32_t)(x % (uint64_t)in.vocab_size);
    }
    for (long long r = 0; r < reps && !rc; r++) {
        for (int b = 0; b < B; b++) {
            gc_kv_free(kv[b]);
            kv[b] = NULL;
            gc_status s = gc_kv_new(e, &kv[b]);
            if (s != GC_OK) { rc = cli_error("bench", s); break; }
            // The engine picks each next token (greedy) on whatever device runs it: on
            // CUDA only one int per sequence comes back, on the CPU it is the same argmax.
            st[b] = (gc_seq_step){.kv = kv[b], .n = n_prompt, .ids = ids + b * n_prompt, .argmax = next + b};
        }
        if (rc) break;
        double t0 = cli_now();
        gc_status s = gc_engine_forward(e, st, B);
        if (s != GC_OK) { rc = cli_error("bench", s); break; }
        double t1 = cli_now();
        for (long long g = 0; g < n_gen && !rc; g++) {
            for (int b = 0; b < B; b++) st[b] = (gc_seq_step){.kv = kv[b], .n = 1, .ids = next + b, .argmax = next + b};
            if ((s = gc_engine_forward(e, st, B)) != GC_OK) rc = cli_error("bench", s);
        }
        double t2 = cli_now();
        pf[r] = (double)(n_prompt * B) / (t1 - t0);
        dc[r] = (double)(n_gen * B) / (t2 - t1);
        fprintf(stderr, "rep %lld: prefill %.1f tok/s, decode %.1f tok/s\n", r + 1, pf[r], dc[r]);
    }
    if (!rc) {
        qsort(pf, (size_t)reps, sizeof *pf, cmp_d);
        qsort(dc, (size_t)reps, sizeof *dc, cmp_d);
        // KV bytes per token as the device stores them (the last rep's caches, all of one length).
        const double kv_tok = (double)gc_kv_bytes(kv[0]) / (double)gc_kv_len(kv[0]);
        printf("{\"model\":\"%s\",\"device\":\"%s\",\"exact\":%s,\"threads\":%d,\"arch\":\"%s\",\"weight_dtype\":\"%s\",\"kv\":\"%s\","
               "\"kv_bytes_per_token\":%.0f,\"batch\":%d,\"prompt_tokens\":%lld,"
               "\"gen_tokens\":%lld,\"reps\":%lld,\"prefill_tok_s\":%.2f,\"decode_tok_s\":%.2f}\n",
               model, gc_device_name(gc_engine_device(e)), ep.exact ? "true" : "false", gc_engine_n_threads(e), in.arch,
               in.weight_dtype, gc_kv_dtype_name(gc_engine_kv_dtype(e)), kv_tok, B, n_prompt, n_gen, reps, pf[reps / 2],
               dc[reps / 2]);
    }
out:
    for (int b = 0; kv && b < B; b++) gc_kv_free(kv[b]);
    free(kv); free(st); free(next); free(ids); free(pf); free(dc);
    gc_engine_free(e);
    gc_model_free(m);
    return rc;
}
