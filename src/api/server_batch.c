// The engine thread of `gcache serve`: continuous batching.
//
// Every running request has one sequence per choice. A step feeds every
// sequence to one gc_engine_forward: one decode token for every sequence
// that is replying, and new requests' prompts, at most prefill_rows prompt
// rows in all (a longer prompt enters in chunks over several steps, oldest
// request first, so replies keep getting a token every step). The engine
// draws each sequence's next token by the one rule of gcache/sampler.h with
// the next uniform of the sequence's own seeded sampler, so a reply does not
// depend on what else runs and equals gc_generate's with the same settings.
// Only a prompt's last row comes back as logits: it is checked for NaN/Inf
// (corrupt weights show there already) and gives the first token of the
// other choices, whose caches are zero-copy forks of the prompt's. After the
// step the new text goes to the waiting connection threads under the server
// mutex, and queued requests join before the next step.
#include "api/server_internal.h"
#include "core/error.h"
#include "core/vec.h"
#include "engine/gen_internal.h"
#include "gcache/kv.h"
#include "gcache/sampler.h"
#include "gcache/tokenizer.h"
#include <stdlib.h>
#include <string.h>

typedef struct seq {
    srv_job *job;
    int choice;
    gc_kv *kv;
    gc_sampler *smp;
    gc_detok *dt;
    gc_gen_params gp;     // the job's stop strings (for the stop-string helpers)
    gc_strbuf text;       // decoded so far, cut at a stop string
    size_t published;     // bytes of text handed to the job
    float *logits;        // (V) choice 0 only, until its prompt is in: the prompt's last row
    gc_token_draw draw;   // the draw the engine makes for the next token
    int32_t tok;          // the token the engine drew
    int32_t next;         // the token the next step feeds
    int64_t n_out;        // completion tokens
    bool prefill;         // the next step feeds (a chunk of) the job's prompt
    int64_t n_fed;        // prompt tokens in the cache
    int64_t chunk;        // prompt tokens the step under way feeds
    bool done;
    gc_finish finish;
} seq;

typedef struct batch {
    gc_server *S;
    seq **seqs;           // running sequences
    int n_seqs;
    size_t cap_seqs;
    srv_job **jobs;       // running jobs (the engine holds one reference each)
    int n_jobs;
    size_t cap_jobs;
    int n_fresh;          // jobs[n_jobs - n_fresh ..] joined since the last step
    int last_m;           // sequences in the last step (counted under the mutex)
    gc_seq_step *steps;
    seq **stepped;        // the sequence of each step entry
    size_t cap_steps, cap_stepped;
} batch;

// ---------------------------------------------------------------- jobs

static void finalize_locked(gc_server *S, srv_job *j);

srv_job *srv_job_new(int n) {
    srv_job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    if (!(j->ch = calloc((size_t)n, sizeof *j->ch))) {
        free(j);
        return NULL;
    }
    j->n = n;
    j->refs = 1;   // the creator's
    for (int c = 0; c < n; c++) j->ch[c].finish = -1;
    pthread_cond_init(&j->cv, NULL);
    return j;
}

static void job_free(srv_job *j) {
    gc_graph_answer_clear(&j->e_answer);
    free(j->prompt);
    for (int i = 0; i < SRV_MAX_STOP; i++) free(j->stop[i]);
    free(j->question);
    for (int c = 0; c < j->n; c++) free(j->ch[c].text.s);
    free(j->ch);
    pthread_cond_destroy(&j->cv);
    free(j);
}

// Drops one hold (mu held); the last one frees the job. A job that was
// queued counts in n_jobs until then (a drain waits for it).
static void release_locked(gc_server *S, srv_job *j) {
    if (--j->refs > 0) return;
    if (j->counted) {
        S->n_jobs--;
        pthread_cond_broadcast(&S->idle);
    }
    job_free(j);
}

void srv_job_release(gc_server *S, srv_job *j) {
    if (!j) return;
    pthread_mutex_lock(&S->mu);
    release_locked(S, j);
    pthread_mutex_unlock(&S->mu);
}

// Seconds a request waiting behind `queued` others might wait: the mean
// request time so far × the batches ahead of it, from 1 to 60.
static int retry_estimate_locked(const gc_server *S) {
    const double mean = S->n_job_s ? S->sum_job_s / (double)S->n_job_s : 1.0;
    const double s = mean * (1.0 + (double)S->n_queued / (double)S->o.max_batch);
    return s < 1 ? 1 : s > 60 ? 60 : (int)(s + 0.999);
}

bool srv_submit(gc_server *S, srv_job *j, unsigned *status, char *msg, size_t msg_len, int *retry_after) {
    *retry_after = 0;
    pthread_mutex_lock(&S->mu);
    bool ok = false;
    if (!S->ready) {
        *status = 503;
        *retry_after = 5;
        snprintf(msg, msg_len, "the model is loading");
    } else if (S->draining || S->stopping) {
        *status = 503;
        snprintf(msg, msg_len, "the server is shutting down");
    } else if (S->active_seqs + S->queued_seqs > 0 && S->active_seqs + S->queued_seqs + j->n > S->o.max_batch &&
               S->n_queued >= S->o.queue_limit) {   // it would wait, and the queue is full
        *status = 503;
        *retry_after = retry_estimate_locked(S);
        snprintf(msg, msg_len, "too many requests waiting (%d queued); retry later", S->n_queued);
    } else {
        j->refs++;   // the engine's

        j->counted = true;
        j->state = SRV_QUEUED;
        if (S->q_tail) S->q_tail->next = j;
        else S->q_head = j;
        S->q_tail = j;
        S->n_queued++;
        S->queued_seqs += j->n;
        S->n_jobs++;
        S->st.requests++;
        pthread_cond_signal(&S->work);
        ok = true;
    }
    pthread_mutex_unlock(&S->mu);
    return ok;
}

void srv_cancel_all_locked(gc_server *S, unsigned status, const char *msg) {
    // Queued jobs end here; running ones at the engine's next look (reap_locked).
    S->cancel_status = status;
    snprintf(S->cancel_msg, sizeof S->cancel_msg, "%s", msg);
    pthread_cond_signal(&S->work);
    while (S->q_head) {
        srv_job *j = S->q_head;
        S->q_head = j->next;
        j->next = NULL;
        S->n_queued--;
        S->queued_seqs -= j->n;
        j->cancel = true;
        j->err_status = status;
        snprintf(j->err_msg, sizeof j->err_msg, "%s", msg);
        j->t_start = srv_now();
        finalize_locked(S, j);
        release_locked(S, j);
    }
    S->q_tail = NULL;
}

// ---------------------------------------------------------------- the batch

static void job_fail(srv_job *j, unsigned status, const char *msg) {
    if (j->e_failed) return;
    j->e_failed = true;
    j->e_status = status;
    snprintf(j->e_msg, sizeof j->e_msg, "%s", msg);
}

static void seq_free(seq *s) {
    if (!s) return;
    gc_kv_free(s->kv);
    gc_sampler_free(s->smp);
    gc_detok_free(s->dt);
    free(s->text.s);
    free(s->logits);
    free(s);
}

// A sequence for choice `choice` of j: a fresh cache (choice 0, which
// prefills the prompt) or a fork of `from` (the other choices, after it).
static gc_status seq_new(batch *B, srv_job *j, int choice, const seq *from, seq **out) {
    gc_server *S = B->S;
    *out = NULL;
    seq *s = calloc(1, sizeof *s);
    if (!s) return gc_fail(GC_ERR_OOM, "out of memory");
    s->job = j;
    s->choice = choice;
    s->gp = gc_gen_default_params();
    for (int i = 0; i < SRV_MAX_STOP && j->stop[i]; i++) s->gp.stop[i] = j->stop[i];
    gc_sampler_params sp = j->sampling;
    // Choice 0 draws with the request's seed (as gc_generate would); the
    // others with seeds spread by the golden-ratio increment.
    sp.seed += (uint64_t)choice * 0x9E3779B97F4A7C15ull;
    gc_status st = gc_sampler_new(&sp, S->vocab, &s->smp);
    if (st == GC_OK && !(s->dt = gc_detok_new(S->tok, true))) st = gc_fail(GC_ERR_OOM, "out of memory");
    if (st == GC_OK && !from && !(s->logits = malloc((size_t)S->vocab * sizeof *s->logits)))
        st = gc_fail(GC_ERR_OOM, "out of memory");
    if (st == GC_OK) st = from ? gc_kv_fork(from->kv, &s->kv) : gc_kv_new(S->e, &s->kv);
    if (st != GC_OK) {
        seq_free(s);
        return st;
    }
    s->prefill = !from;
    *out = s;
    return GC_OK;
}

static gc_status add_seq(batch *B, seq *s) {
    if (!GC_VEC_RESERVE(B->seqs, B->cap_seqs, (size_t)B->n_seqs + 1)) return gc_fail(GC_ERR_OOM, "out of memory");
    B->seqs[B->n_seqs++] = s;
    s->job->e_live++;
    return GC_OK;
}

static void seq_finish(seq *s, gc_finish f) {
    s->done = true;
    s->finish = f;
    s->job->e_live--;
}

// Takes the sequence's next token `id`: stop token, stop string or length
// end it.
static gc_status advance(batch *B, seq *s, int32_t id) {
    gc_server *S = B->S;
    srv_job *j = s->job;
    if (gc_gen_is_stop_id(S->e, S->tok, id)) {
        seq_finish(s, GC_FINISH_EOS);
        return GC_OK;
    }
    s->n_out++;
    const char *piece;
    const size_t pl = gc_detok_push(s->dt, id, &piece);
    if (!gc_strbuf_append(&s->text, piece, pl)) return gc_fail(GC_ERR_OOM, "out of memory");
    const size_t cut = gc_gen_find_stop(&s->gp, s->text.s ? s->text.s : "", s->text.len);
    if (cut < s->text.len) {
        s->text.len = cut;
        s->text.s[cut] = 0;
        seq_finish(s, GC_FINISH_STOP);
        return GC_OK;
    }
    if (s->n_out >= j->max_tokens) {
        seq_finish(s, GC_FINISH_LENGTH);
        return GC_OK;
    }
    s->next = id;
    return GC_OK;
}

// The text a finished sequence still holds in its detokenizer.
static gc_status flush_text(seq *s) {
    if (s->finish == GC_FINISH_STOP) return GC_OK;
    const char *piece;
    const size_t pl = gc_detok_flush(s->dt, &piece);
    if (!gc_strbuf_append(&s->text, piece, pl)) return gc_fail(GC_ERR_OOM, "out of memory");
    return GC_OK;
}

// After a job's whole prompt is in: its last row's logits must be finite
// (NaN or Inf there means corrupt weights; decode steps bring back only the
// drawn token), and its other choices fork the prompt's cache and draw their
// first token from that row on the host, by the same rule the engine uses.
static gc_status prompt_done(batch *B, seq *s) {
    gc_server *S = B->S;
    srv_job *j = s->job;
    s->prefill = false;
    if (!gc_gen_logits_finite(s->logits, S->vocab)) {
        job_fail(j, 500, "the model's logits are not finite (NaN or Inf) at reply token 1: the weights are likely corrupt");
        return GC_OK;
    }
    gc_status st = GC_OK;
    for (int c = 1; c < j->n && st == GC_OK; c++) {
        seq *t = NULL;
        st = seq_new(B, j, c, s, &t);
        if (st == GC_OK && (st = add_seq(B, t)) != GC_OK) seq_free(t);
        if (st == GC_OK && (st = advance(B, t, gc_sampler_sample(t->smp, s->logits))) == GC_OK && t->done)
            st = flush_text(t);
    }
    free(s->logits);
    s->logits = NULL;
    return st;
}

// After a step: a job whose prompt is in spawns its other choices; every
// stepped sequence that was given a token takes it.
static void after_step(batch *B, int m) {
    for (int k = 0; k < m; k++) {
        seq *s = B->stepped[k];
        srv_job *j = s->job;
        if (j->e_failed) continue;
        gc_status st = GC_OK;
        if (s->prefill && (s->n_fed += s->chunk) < j->n_prompt) continue;   // more of the prompt next step
        if (s->prefill) st = prompt_done(B, s);
        if (st == GC_OK && !j->e_failed && (st = advance(B, s, s->tok)) == GC_OK && s->done) st = flush_text(s);
        if (st != GC_OK) job_fail(j, 500, gc_last_error());
    }
}

// One engine step over every running sequence (outside the server mutex).
// The graph jobs waiting: one run of the method for those that share the
// first one's parameters (the other requests' sequences wait meanwhile).
static void run_graph_jobs(batch *B) {
    gc_server *S = B->S;
    srv_job *jobs[64];
    const char *qs[64];
    uint64_t seeds[64];
    gc_graph_answer ans[64];
    int n = 0;
    for (int i = 0; i < B->n_jobs && n < 64; i++) {
        srv_job *j = B->jobs[i];
        if (!j->question || j->e_live != 1 || j->e_answered || j->e_failed) continue;   // not waiting for its run
        // Jobs share one run when they share its parameters (the first one's);
        // the others wait for the next step.
        const gc_sampler_params *a = &j->sampling, *b = n ? &jobs[0]->sampling : a;
        if (a->temperature != b->temperature || a->top_p != b->top_p || a->top_k != b->top_k ||
            j->max_tokens != (n ? jobs[0]->max_tokens : j->max_tokens))
            continue;
        jobs[n] = j;
        qs[n] = j->question;
        seeds[n] = j->sampling.seed;
        n++;
    }
    if (n == 0) return;
    gc_status st = gc_graph_model_answer(S->graph, qs, seeds, n, &jobs[0]->sampling, jobs[0]->max_tokens, ans);
    char msg[512];
    if (st != GC_OK) snprintf(msg, sizeof msg, "graph model: %s", gc_last_error());
    for (int k = 0; k < n; k++) {
        if (st != GC_OK) {
            gc_graph_answer_clear(&ans[k]);
            job_fail(jobs[k], 500, msg);
        } else {
            jobs[k]->e_answer = ans[k];
            jobs[k]->e_answered = true;
        }
    }
}

static void step(batch *B) {
    gc_server *S = B->S;
    run_graph_jobs(B);
    for (int i = B->n_jobs - B->n_fresh; i < B->n_jobs; i++) {
        srv_job *j = B->jobs[i];
        if (j->question) continue;   // graph jobs have no sequences
        seq *s = NULL;
        gc_status st = seq_new(B, j, 0, NULL, &s);
        if (st == GC_OK && (st = add_seq(B, s)) != GC_OK) seq_free(s);
        if (st != GC_OK) job_fail(j, 500, gc_last_error());
    }
    B->n_fresh = 0;
    if (B->n_seqs == 0) return;
    if (!GC_VEC_RESERVE(B->steps, B->cap_steps, (size_t)B->n_seqs) ||
        !GC_VEC_RESERVE(B->stepped, B->cap_stepped, (size_t)B->n_seqs)) {
        for (int i = 0; i < B->n_jobs; i++) job_fail(B->jobs[i], 500, "out of memory");
        return;
    }
    // Prompt rows share a budget of prefill_rows, given in admission order.
    int64_t budget = S->o.prefill_rows > 0 ? S->o.prefill_rows : INT64_MAX;
    int m = 0;
    for (int i = 0; i < B->n_seqs; i++) {
        seq *s = B->seqs[i];
        // (Cancelled jobs left at the last reap; `cancel` is read under the mutex only.)
        if (s->done || s->job->e_failed) continue;
        gc_seq_step *x = &B->steps[m];
        if (s->prefill) {
            const int64_t left = s->job->n_prompt - s->n_fed;
            if ((s->chunk = left < budget ? left : budget) == 0) continue;   // its prompt waits for the next step
            budget -= s->chunk;
            *x = (gc_seq_step){.kv = s->kv, .n = s->chunk, .ids = s->job->prompt + s->n_fed};
            if (s->chunk < left) {   // not the last chunk: nothing to draw yet
                B->stepped[m++] = s;
                continue;
            }
            x->logits = s->logits;
        } else {
            *x = (gc_seq_step){.kv = s->kv, .n = 1, .ids = &s->next};
        }
        s->draw = gc_sampler_next_draw(s->smp);
        x->argmax = &s->tok;
        x->draw = &s->draw;
        B->stepped[m++] = s;
    }
    if (m == 0) return;
    gc_status st = gc_engine_forward(S->e, B->steps, m);
    if (st != GC_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "engine: %s", gc_last_error());
        for (int k = 0; k < m; k++) job_fail(B->stepped[k]->job, 500, msg);
        return;
    }
    after_step(B, m);
    B->last_m = m;
}

// Hands new text, token counts and finish reasons to the jobs (mu held).
static void publish_locked(batch *B) {
    if (B->last_m) {
        B->S->st.steps++;
        if (B->last_m > B->S->st.max_step_seqs) B->S->st.max_step_seqs = B->last_m;
        B->last_m = 0;
    }
    for (int i = 0; i < B->n_jobs; i++) {
        srv_job *j = B->jobs[i];
        if (!j->e_answered) continue;
        j->e_answered = false;
        srv_choice *c = &j->ch[0];
        const gc_graph_answer *a = &j->e_answer;
        if (!gc_strbuf_append(&c->text, a->text, strlen(a->text))) job_fail(j, 500, "out of memory");
        c->tokens = a->completion_tokens;
        c->finish = (int)a->finish;
        B->S->st.tokens += a->completion_tokens;
        j->n_prompt = a->prompt_tokens;
        j->started = true;
        j->e_live = 0;
        pthread_cond_broadcast(&j->cv);
    }
    for (int i = 0; i < B->n_seqs; i++) {
        seq *s = B->seqs[i];
        srv_job *j = s->job;
        if (j->e_failed || j->cancel) continue;
        const size_t ready = s->done ? s->text.len : s->text.len - gc_gen_held_back(&s->gp, s->text.s, s->text.len);
        srv_choice *c = &j->ch[s->choice];
        bool changed = false;
        if (ready > s->published) {
            if (!gc_strbuf_append(&c->text, s->text.s + s->published, ready - s->published)) {
                job_fail(j, 500, "out of memory");
                continue;
            }
            s->published = ready;
            changed = true;
        }
        B->S->st.tokens += s->n_out - c->tokens;
        c->tokens = s->n_out;
        if (s->done && c->finish < 0) {
            c->finish = (int)s->finish;
            changed = true;
        }
        if (!s->prefill && !j->started) {
            j->started = true;
            changed = true;
        }
        if (changed) pthread_cond_broadcast(&j->cv);
    }
}

// Ends a job: its final state for the connection, the log line (mu held).
static void finalize_locked(gc_server *S, srv_job *j) {
    if (j->e_failed && !j->err_status) {
        j->err_status = j->e_status;
        snprintf(j->err_msg, sizeof j->err_msg, "%s", j->e_msg);
    }
    j->usage_prompt = j->n_prompt;
    j->usage_completion = 0;
    for (int c = 0; c < j->n; c++) j->usage_completion += j->ch[c].tokens;
    if (j->state == SRV_RUNNING) S->active_seqs -= j->n;   // its batch places
    j->state = SRV_DONE;
    j->t_done = srv_now();
    if (!j->err_status && !j->cancel) {
        S->sum_job_s += j->t_done - j->t_queued;
        S->n_job_s++;
    }
    if (j->cancel) S->st.cancelled++;
    srv_log_job(S, j);
    pthread_cond_broadcast(&j->cv);
}

// Removes finished, failed and cancelled jobs and their sequences (mu held).
static void reap_locked(batch *B) {
    gc_server *S = B->S;
    for (int i = 0; S->cancel_status && i < B->n_jobs; i++) {
        srv_job *j = B->jobs[i];
        if (j->cancel) continue;
        j->cancel = true;
        j->err_status = S->cancel_status;
        snprintf(j->err_msg, sizeof j->err_msg, "%s", S->cancel_msg);
    }
    int w = 0;
    for (int i = 0; i < B->n_seqs; i++) {
        seq *s = B->seqs[i];
        srv_job *j = s->job;
        if (j->e_failed || j->cancel || j->e_live == 0) {
            seq_free(s);
        } else {
            B->seqs[w++] = s;
        }
    }
    B->n_seqs = w;
    w = 0;
    for (int i = 0; i < B->n_jobs; i++) {
        srv_job *j = B->jobs[i];
        if (j->e_failed || j->cancel || j->e_live == 0) {
            finalize_locked(S, j);
            release_locked(S, j);
        } else {
            B->jobs[w++] = j;
        }
    }
    B->n_jobs = w;
}

// Moves queued jobs into the batch while their choices fit (mu held).
static void admit_locked(batch *B) {
    gc_server *S = B->S;
    while (S->q_head && (S->active_seqs == 0 || S->active_seqs + S->q_head->n <= S->o.max_batch)) {
        if (!GC_VEC_RESERVE(B->jobs, B->cap_jobs, (size_t)B->n_jobs + 1)) return;
        srv_job *j = S->q_head;
        S->q_head = j->next;
        if (!S->q_head) S->q_tail = NULL;
        j->next = NULL;
        S->n_queued--;
        S->queued_seqs -= j->n;
        j->t_start = srv_now();
        if (j->cancel) {   // the client left while it waited
            finalize_locked(S, j);
            release_locked(S, j);
            continue;
        }
        j->state = SRV_RUNNING;
        S->active_seqs += j->n;
        if (j->question) j->e_live = 1;   // until its answer is published
        B->jobs[B->n_jobs++] = j;
        B->n_fresh++;
    }
}

void *srv_engine_main(void *arg) {
    gc_server *S = arg;
    batch B = {.S = S};
    pthread_mutex_lock(&S->mu);
    for (;;) {
        publish_locked(&B);
        reap_locked(&B);
        while (!S->stopping && B.n_jobs == 0 && !S->q_head) pthread_cond_wait(&S->work, &S->mu);
        if (B.n_jobs == 0 && !S->q_head) break;   // stopping, and nothing left
        admit_locked(&B);
        pthread_mutex_unlock(&S->mu);
        step(&B);
        pthread_mutex_lock(&S->mu);
    }
    pthread_mutex_unlock(&S->mu);
    free(B.seqs);
    free(B.jobs);
    free(B.steps);
    free(B.stepped);
    return NULL;
}
