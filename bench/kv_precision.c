// KV precision on a real model: the same greedy decoding with the device's
// own KV format and with q8 (gc_engine_params.kv_dtype), on the first N
// GSM8K questions (chat template, "reason step by step"), all questions in
// one batch per step. Prints per question the tokens that agree before the
// first divergence, and in total: the share of identical tokens until the
// first divergence, whole-output identity, the logit error at a few
// positions (teacher-forced on the reference run's tokens, so both runs see
// the same inputs), KV bytes per token and the wall time of each run.
// compare=fast instead measures the CPU engine's own default perturbation for
// scale: the exact f32 path (reference) against the fast path, both with the
// f32 KV cache. Also, the reference cache of the first question says where
// q8 loses most: per layer, the mean relative error ‖x − q8(x)‖ / ‖x‖ of its
// K and V rows (one row per position and KV head) and their mean peak-to-RMS
// ratio (an outlier channel makes a row's scale large for the rest).
// A measuring tool, not a test; CMake builds it next to gcache (target
// kv_precision):
//   ./build/kv_precision MODEL GSM8K_JSONL [questions=20] [tokens=128] [device=cpu] [threads=0] [compare=q8|fast]
// device=cuda (a CUDA build) compares bf16 against q8.
#define _POSIX_C_SOURCE 200809L
#include "gcache/chat.h"
#include "gcache/engine.h"
#include "gcache/kv.h"
#include "gcache/model.h"
#include "gcache/tokenizer.h"
#include "backend/kv_q8.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { MAX_Q = 256, N_MARKS = 5 };

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void die(const char *what) {
    fprintf(stderr, "kv_precision: %s: %s\n", what, gc_last_error());
    exit(1);
}

// Per layer, K and V rows of a cache quantized by the q8 rule: mean
// relative row error and mean peak-to-RMS ratio (see the top).
static void row_errors(const gc_kv *kv, const gc_model_info *in) {
    const int64_t hd = in->head_dim, row = in->n_kv_heads * hd, len = gc_kv_len(kv);
    float *k = malloc((size_t)row * 2 * sizeof(float)), *v = k + row, y[512];
    int8_t q[512];
    float sc;
    if (hd > 512) return;
    printf("\nq8 row error of the reference cache (question 0, %lld positions):\n"
           "layer  K rel err  V rel err  K peak/RMS  V peak/RMS\n", (long long)len);
    double tk = 0, tv = 0;
    for (int64_t l = 0; l < in->n_layers; l++) {
        double e[2] = {0, 0}, pr[2] = {0, 0};
        for (int64_t p = 0; p < len; p++) {
            if (gc_kv_read(kv, l, p, k, v) != GC_OK) die("kv_read");
            for (int kind = 0; kind < 2; kind++)
                for (int64_t h = 0; h < in->n_kv_heads; h++) {
                    const float *x = (kind ? v : k) + h * hd;
                    gc_kv_q8_quantize(x, 1, hd, q, &sc);
                    gc_kv_q8_dequantize(q, &sc, 1, hd, y);
                    double d2 = 0, x2 = 0, pk = 0;
                    for (int64_t i = 0; i < hd; i++) {
                        d2 += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
                        x2 += (double)x[i] * x[i];
                        pk = fmax(pk, fabs((double)x[i]));
                    }
                    e[kind] += x2 > 0 ? sqrt(d2 / x2) : 0;
                    pr[kind] += x2 > 0 ? pk / sqrt(x2 / (double)hd) : 0;
                }
        }
        const double nr = (double)(len * in->n_kv_heads);
        printf("%5lld  %9.4f  %9.4f  %10.1f  %10.1f\n", (long long)l, e[0] / nr, e[1] / nr, pr[0] / nr, pr[1] / nr);
        tk += e[0] / nr / (double)in->n_layers;
        tv += e[1] / nr / (double)in->n_layers;
    }
    printf("mean over layers: K %.4f, V %.4f\n", tk, tv);
    free(k);
}

// One run's greedy tokens (nq, G), and its logits at the marks (nq, N_MARKS, V)
// from the teacher-forced pass.
typedef struct run {
    int32_t *tok;
    float *marks;
    double t_greedy, kv_per_token;
    bool row_stats;   // print row_errors of question 0's cache (after its forced pass)
} run;

// Generated-token counts after which the logits are compared: 0 = the
// prompt's last position, then G/4, G/2, 3G/4, G-1.
static void mark_points(int G, int *m) {
    m[0] = 0; m[1] = G / 4; m[2] = G / 2; m[3] = 3 * G / 4; m[4] = G - 1;
}

static void run_one(const gc_model *m, int device, int kv_dtype, bool exact, int threads, int nq, int32_t **prompt,
                    const int *plen, int G, const int32_t *forced, run *out) {
    gc_engine_params p = gc_engine_default_params();
    p.device = device;
    p.kv_dtype = kv_dtype;
    p.exact = exact;
    p.n_threads = threads;
    gc_engine *e;
    if (gc_engine_new(m, &p, &e) != GC_OK) die("engine");
    gc_model_info in;
    gc_model_get_info(m, &in);
    const int64_t V = in.vocab_size;
    gc_kv **kv = calloc((size_t)nq, sizeof *kv);
    gc_seq_step *st = calloc((size_t)nq, sizeof *st);
    int32_t *next = malloc((size_t)nq * sizeof *next);
    out->tok = malloc((size_t)(nq * G) * sizeof(int32_t));
    out->marks = malloc((size_t)nq * N_MARKS * (size_t)V * sizeof(float));
    // Greedy: all prompts in one step, then one token per question per step.
    for (int q = 0; q < nq; q++) {
        if (gc_kv_new(e, &kv[q]) != GC_OK) die("cache");
        st[q] = (gc_seq_step){.kv = kv[q], .n = plen[q], .ids = prompt[q], .argmax = next + q};
    }
    double t0 = now();
    if (gc_engine_forward(e, st, nq) != GC_OK) die("prefill");
    for (int g = 0; g < G; g++) {
        for (int q = 0; q < nq; q++) out->tok[q * G + g] = next[q];
        if (g + 1 == G) break;
        for (int q = 0; q < nq; q++) st[q] = (gc_seq_step){.kv = kv[q], .n = 1, .ids = next + q, .argmax = next + q};
        if (gc_engine_forward(e, st, nq) != GC_OK) die("decode");
    }
    out->t_greedy = now() - t0;
    out->kv_per_token = (double)gc_kv_bytes(kv[0]) / (double)gc_kv_len(kv[0]);
    // Teacher-forced: prompt, then the reference tokens (forced, (nq, G);
    // NULL: this run's own) in chunks that end at the marks; the logits of
    // each chunk's last position.
    if (!forced) forced = out->tok;
    int mk[N_MARKS];
    mark_points(G, mk);
    for (int q = 0; q < nq; q++) {
        gc_kv_free(kv[q]);
        if (gc_kv_new(e, &kv[q]) != GC_OK) die("cache");
        gc_seq_step s = {.kv = kv[q], .n = plen[q], .ids = prompt[q], .logits = out->marks + (size_t)q * N_MARKS * V};
        if (gc_engine_forward(e, &s, 1) != GC_OK) die("forced prefill");
        for (int k = 1; k < N_MARKS; k++) {
            s = (gc_seq_step){.kv = kv[q], .n = mk[k] - mk[k - 1], .ids = forced + q * G + mk[k - 1],
                              .logits = out->marks + ((size_t)q * N_MARKS + (size_t)k) * V};
            if (gc_engine_forward(e, &s, 1) != GC_OK) die("forced step");
        }
    }
    if (out->row_stats) row_errors(kv[0], &in);
    for (int q = 0; q < nq; q++) gc_kv_free(kv[q]);
    free(kv); free(st); free(next);
    gc_engine_free(e);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: kv_precision MODEL GSM8K_JSONL [questions=20] [tokens=128] [device=cpu] [threads=0] "
                        "[compare=q8|fast]\n");
        return 2;
    }
    const int nq = argc > 3 ? atoi(argv[3]) : 20, G = argc > 4 ? atoi(argv[4]) : 128;
    const int device = argc > 5 && strcmp(argv[5], "cuda") == 0 ? GC_DEVICE_CUDA : GC_DEVICE_CPU;
    const int threads = argc > 6 ? atoi(argv[6]) : 0;
    const bool fast = argc > 7 && strcmp(argv[7], "fast") == 0;   // exact vs fast path, f32 KV
    if (nq < 1 || nq > MAX_Q || G < 8) { fprintf(stderr, "kv_precision: 1..%d questions, >= 8 tokens\n", MAX_Q); return 2; }
    gc_model *m;
    if (gc_model_load(argv[1], &m) != GC_OK) die(argv[1]);
    const gc_tokenizer *tok = gc_model_tokenizer(m);
    if (!tok) { fprintf(stderr, "kv_precision: the model has no tokenizer\n"); return 1; }
    gc_chat_style style = gc_chat_detect(gc_tokenizer_chat_template(tok));
    FILE *f = fopen(argv[2], "r");
    if (!f) { perror(argv[2]); return 1; }
    int32_t *prompt[MAX_Q];
    int plen[MAX_Q];
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    while (n < nq && getline(&line, &cap, f) > 0) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *qs = j ? cJSON_GetObjectItem(j, "question") : NULL;
        if (!cJSON_IsString(qs)) { cJSON_Delete(j); continue; }
        char *user = malloc(strlen(qs->valuestring) + 128);
        sprintf(user, "%s\nPlease reason step by step, and put your final answer within \\boxed{}.", qs->valuestring);
        gc_chat_msg msg = {"user", user};
        char *text;
        size_t tl;
        if (gc_chat_format(style, &msg, 1, NULL, &text, &tl) != GC_OK) die("chat template");
        size_t ni;
        if (gc_tokenizer_encode(tok, text, tl, true, &prompt[n], &ni) != GC_OK) die("tokenize");
        plen[n++] = (int)ni;
        free(text); free(user);
        cJSON_Delete(j);
    }
    free(line);
    fclose(f);
    if (n < nq) { fprintf(stderr, "kv_precision: only %d questions in %s\n", n, argv[2]); return 1; }
    gc_model_info in;
    gc_model_get_info(m, &in);
    const int64_t V = in.vocab_size;
    // The reference first: its greedy tokens are what both runs are forced on.
    run ref = {.row_stats = !fast}, cmp = {0};   // the reference and the compared run
    run_one(m, device, GC_KV_DEFAULT, fast, threads, n, prompt, plen, G, NULL, &ref);
    run_one(m, device, fast ? GC_KV_DEFAULT : GC_KV_Q8, false, threads, n, prompt, plen, G, ref.tok, &cmp);
    long agree = 0, total = 0;
    int identical = 0;
    printf("question  prompt  identical-prefix  (of %d)\n", G);
    for (int q = 0; q < n; q++) {
        int k = 0;
        while (k < G && ref.tok[q * G + k] == cmp.tok[q * G + k]) k++;
        agree += k;
        total += G;
        identical += k == G;
        printf("%8d  %6d  %16d\n", q, plen[q], k);
    }
    int mk[N_MARKS];
    mark_points(G, mk);
    printf("\nlogits, teacher-forced on the reference's tokens (max |diff|, mean |diff|, top-1 agreement):\n");
    double all_max = 0, all_mean = 0;
    int all_top = 0;
    for (int k = 0; k < N_MARKS; k++) {
        double mx = 0, mean = 0, spread = 0;
        int top = 0;
        for (int q = 0; q < n; q++) {
            const float *a = ref.marks + ((size_t)q * N_MARKS + (size_t)k) * V, *b = cmp.marks + ((size_t)q * N_MARKS + (size_t)k) * V;
            int64_t ia = 0, ib = 0;
            double s = 0, lo = a[0], hi = a[0];
            for (int64_t i = 0; i < V; i++) {
                const double d = fabs((double)a[i] - b[i]);
                mx = fmax(mx, d);
                s += d;
                if (a[i] > a[ia]) ia = i;
                if (b[i] > b[ib]) ib = i;
                lo = fmin(lo, a[i]);
                hi = fmax(hi, a[i]);
            }
            mean += s / (double)V;
            spread += hi - lo;
            top += ia == ib;
        }
        printf("  after %3d generated tokens: max %.4f  mean %.4f  top-1 %d/%d  (reference logit range %.1f on average)\n",
               mk[k], mx, mean / n, top, n, spread / n);
        all_max = fmax(all_max, mx);
        all_mean += mean / n / N_MARKS;
        all_top += top;
    }
    if (fast)
        printf("\n%d questions × %d greedy tokens, device cpu, f32 KV: exact path (reference) vs fast path\n", n, G);
    else
        printf("\n%d questions × %d greedy tokens, device %s: reference KV %s vs q8\n", n, G,
               device == GC_DEVICE_CUDA ? "cuda" : "cpu", device == GC_DEVICE_CUDA ? "bf16" : "f32");
    printf("identical tokens until the first divergence: %ld of %ld (%.1f %%); whole outputs identical: %d of %d\n",
           agree, total, 100.0 * (double)agree / (double)total, identical, n);
    printf("logit error over %d positions: max %.4f, mean %.4f; top-1 agreement %d of %d\n", n * N_MARKS, all_max,
           all_mean, all_top, n * N_MARKS);
    printf("KV bytes per token: reference %.0f, compared %.0f (%.3f×)\n", ref.kv_per_token, cmp.kv_per_token,
           cmp.kv_per_token / ref.kv_per_token);
    printf("greedy run wall time: reference %.1f s, compared %.1f s\n", ref.t_greedy, cmp.t_greedy);
    for (int q = 0; q < n; q++) free(prompt[q]);
    free(ref.tok); free(ref.marks); free(cmp.tok); free(cmp.marks);
    gc_model_free(m);
    return 0;
}
