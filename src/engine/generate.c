// The generation loop. Text is held back while it could still be the start of
// a stop string, so the stream never shows text that is later cut.
#include "engine/gen_internal.h"
#include "core/error.h"
#include "core/strbuf.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>

gc_gen_params gc_gen_default_params(void) {
    gc_gen_params p;
    memset(&p, 0, sizeof p);
    p.max_tokens = 256;
    p.sampling = gc_sampler_default_params();
    return p;
}

void gc_gen_result_free(gc_gen_result *r) {
    free(r->text);
    free(r->ids);
    memset(r, 0, sizeof *r);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}


bool gc_gen_is_stop_id(const gc_engine *e, const gc_tokenizer *tok, int32_t id) {
    int n;
    const int32_t *eos = gc_model_eos_ids(gc_engine_model(e), &n);
    for (int i = 0; i < n; i++)
        if (eos[i] == id) return true;
    if (tok) {
        if (id == gc_tokenizer_eos(tok)) return true;
        if (id == gc_tokenizer_find(tok, "<|im_end|>")) return true;
        if (id == gc_tokenizer_find(tok, "<|endoftext|>")) return true;
    }
    return false;
}


size_t gc_gen_find_stop(const gc_gen_params *p, const char *s, size_t len) {
    size_t best = len;
    for (int i = 0; i < GC_MAX_STOP && p->stop[i]; i++) {
        size_t sl = strlen(p->stop[i]);
        if (!sl || sl > len) continue;
        for (size_t k = 0; k + sl <= len && k < best; k++)
            if (memcmp(s + k, p->stop[i], sl) == 0) { best = k; break; }
    }
    return best;
}

size_t gc_gen_held_back(const gc_gen_params *p, const char *s, size_t len) {
    size_t hold = 0;
    for (int i = 0; i < GC_MAX_STOP && p->stop[i]; i++) {
        size_t sl = strlen(p->stop[i]);
        for (size_t k = sl > 1 ? sl - 1 : 0; k > hold; k--)
            if (k <= len && memcmp(s + len - k, p->stop[i], k) == 0) { hold = k; break; }
    }
    return hold;
}

bool gc_gen_logits_finite(const float *logits, int64_t n) {
    // NaN and ±Inf are the floats whose exponent bits are all ones; an
    // integer OR-reduction over "all ones" flags (vectorised by the compiler).
    uint32_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, &logits[i], sizeof b);
        bad |= (uint32_t)((b & 0x7f800000u) == 0x7f800000u);
    }
    return bad == 0;
}

// Asks the engine for the next token by the sampler's next draw (the one
// rule of gcache/sampler.h, on every backend); the logits come back too, to
// catch corrupt weights.
static void draw_step(gc_seq_step *st, gc_sampler *smp, gc_token_draw *draw, int32_t *out) {
    st->argmax = out;
    st->draw = draw;
    *draw = gc_sampler_next_draw(smp);
}

gc_status gc_generate(gc_engine *e, gc_kv *kv, const gc_tokenizer *tok, const int32_t *prompt, int64_t n_prompt,
                      const gc_gen_params *p, gc_gen_stream_fn stream, void *user, gc_gen_result *res) {
    memset(res, 0, sizeof *res);
    res->n_prompt = n_prompt;
    res->unfed = -1;
    if (n_prompt < 1) return gc_fail(GC_ERR_INVALID_ARG, "generate: empty prompt");
    if (p->max_tokens < 0) return gc_fail(GC_ERR_INVALID_ARG, "generate: max_tokens must be >= 0");
    gc_model_info info;
    gc_model_get_info(gc_engine_model(e), &info);
    const int64_t V = info.vocab_size;
    gc_sampler *smp = NULL;
    float *logits = malloc((size_t)V * sizeof(float));
    gc_detok *dt = tok ? gc_detok_new(tok, true) : NULL;
    gc_strbuf tb = {0};
    size_t emitted = 0;
    gc_status s = GC_OK;
    res->ids = malloc(((size_t)p->max_tokens + 1) * sizeof(int32_t));
    if (!logits || !res->ids || (tok && !dt)) { s = gc_fail(GC_ERR_OOM, "out of memory"); goto done; }
    if ((s = gc_sampler_new(&p->sampling, V, &smp)) != GC_OK) goto done;

    gc_token_draw draw;
    int32_t next = -1;
    double t0 = now_s();
    gc_seq_step st = {.kv = kv, .n = n_prompt, .ids = prompt, .logits = logits};
    draw_step(&st, smp, &draw, &next);
    if ((s = gc_engine_forward(e, &st, 1)) != GC_OK) goto done;
    double t1 = now_s();
    res->prefill_s = t1 - t0;
    res->finish = GC_FINISH_LENGTH;
    for (int i = 0; i < p->max_tokens; i++) {
        if (!gc_gen_logits_finite(logits, V)) {
            s = gc_fail(GC_ERR_FORMAT, "generate: the model's logits are not finite (NaN or Inf) at reply token %d: "
                        "the weights are likely corrupt", i + 1);
            goto done;
        }
        int32_t id = next;
        res->unfed = id;
        if (!p->ignore_eos && gc_gen_is_stop_id(e, tok, id)) { res->finish = GC_FINISH_EOS; break; }
        res->ids[res->n_ids++] = id;
        if (dt) {
            const char *piece;
            size_t pl = gc_detok_push(dt, id, &piece);
            if (!gc_strbuf_append(&tb, piece, pl)) { s = gc_fail(GC_ERR_OOM, "out of memory"); goto done; }
        }
        size_t stop_at = gc_gen_find_stop(p, tb.s ? tb.s : "", tb.len);
        if (stop_at < tb.len) {
            tb.len = stop_at;
            tb.s[stop_at] = 0;
            res->finish = GC_FINISH_STOP;
            break;
        }
        size_t ready = tb.len - gc_gen_held_back(p, tb.s ? tb.s : "", tb.len);
        if (stream && ready > emitted) {
            if (!stream(user, tb.s + emitted, ready - emitted)) { emitted = ready; break; }
            emitted = ready;
        }
        if (i + 1 == p->max_tokens) break;   // the last token needs no forward pass
        gc_seq_step d = {.kv = kv, .n = 1, .ids = &id, .logits = logits};
        draw_step(&d, smp, &draw, &next);
        if ((s = gc_engine_forward(e, &d, 1)) != GC_OK) goto done;
        res->unfed = -1;
    }
    if (dt && res->finish != GC_FINISH_STOP) {
        const char *piece;
        size_t pl = gc_detok_flush(dt, &piece);
        if (!gc_strbuf_append(&tb, piece, pl)) { s = gc_fail(GC_ERR_OOM, "out of memory"); goto done; }
    }
    if (stream && tb.len > emitted) stream(user, tb.s + emitted, tb.len - emitted);
    res->decode_s = now_s() - t1;
done:
    if (!tb.s) tb.s = calloc(1, 1);
    res->text = tb.s;
    res->text_len = tb.len;
    gc_sampler_free(smp);
    gc_detok_free(dt);
    free(logits);
    return s;
}
