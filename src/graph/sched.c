// The agent scheduler (see gcache/sched.h).
#include "gcache/sched.h"
#include "engine/gen_internal.h"
#include "gcache/latent.h"
#include "gcache/sampler.h"
#include "core/error.h"
#include "core/strbuf.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef enum phase { P_WAIT, P_PREFILL, P_LATENT, P_DECODE, P_DONE } phase;

// Run-time state of one node.
typedef struct nstate {
    phase ph;
    gc_kv *kv;            // the node's working cache
    gc_kv *exposed;       // what successors receive (set when done; freed once the last of them has fused it)
    int users;            // successors that have yet to fuse `exposed` (text_in successors read text only)
    int32_t *ids;         // prompt tokens
    size_t n_ids;
    size_t n_fed;         // prompt tokens in the cache (the prompt enters in chunks of at most prefill_rows)
    int64_t chunk;        // prompt tokens fed by the step under way
    int64_t own_start, latent_start;
    int64_t row;          // latent phase: the node's row of the run's hid / emb rows (its next input)
    gc_sampler *smp;      // sampling parameters and the stream of u (gcache/sampler.h)
    gc_token_draw draw;   // the next draw, computed by the engine
    int32_t tok;          // the token the engine drew
    // teacher-forced scoring (node spec score_text)
    int sph;              // 0 none, 1 to run in the next step, 2 done
    gc_kv *skv;           // fork of kv where decoding begins
    int32_t *sids;        // prefix tokens then scored tokens
    size_t n_sids, n_sprefix;
    size_t n_sfed;        // scoring tokens in the fork (fed in chunks, as the prompt)
    int64_t schunk;       // scoring tokens fed by the step under way
    float *slogits;       // (n_sids, V)
    gc_detok *dt;
    gc_strbuf text;
    int32_t next;
} nstate;

typedef struct run {
    gc_engine *e;
    const gc_tokenizer *tok;
    const gc_sched_params *p;
    gc_qgraph *const *g;
    int n;
    nstate **st;          // st[q][node]
    int64_t V;
    double t0;
    // Latent steps stay on the engine's backend: a step writes the final-norm
    // hidden state of every node that continues with a latent step into hid
    // (rows 0 .. n_hid-1, in the order of the step), one realignment maps
    // them to the same rows of emb, and each node's next step reads its row
    // of emb. (total nodes) rows each, made when some node has latent steps.
    gc_rows *hid, *emb;
    int64_t n_hid;
    double t_fwd, t_host; // seconds in the engine / in the scheduler (printed with gc_sched_params.profile)
    double t_fwd_rows;    // ... in the engine on steps with a prompt chunk (n > 1 rows for some node)
    int64_t n_fwd, n_fwd_rows; // engine steps, and those of them with a prompt chunk
    int64_t rows_fwd_rows;     // rows of those steps (prompt and one-row nodes alike)
} run;

gc_sched_params gc_sched_default_params(void) {
    gc_sched_params p;
    memset(&p, 0, sizeof p);
    p.sampling = gc_sampler_default_params();
    p.prefill_rows = GC_SCHED_PREFILL_ROWS;
    return p;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}


// The prompt with "{context}" replaced by the predecessors' texts.
char *gc_node_prompt(const gc_qgraph *g, int node) {
    const gc_node *nd = &g->nodes[node];
    const char *mark = nd->text_in ? strstr(nd->prompt, "{context}") : NULL;
    if (!mark) return strdup(nd->prompt);
    size_t ctx_len = 0;
    for (int i = 0; i < nd->n_preds; i++) {
        const gc_node *pn = &g->nodes[nd->preds[i]];
        ctx_len += strlen(pn->role) + (pn->text ? strlen(pn->text) : 0) + 8;
    }
    size_t total = strlen(nd->prompt) + ctx_len + 1;
    char *out = malloc(total), *w = out;
    if (!out) return NULL;
    memcpy(w, nd->prompt, (size_t)(mark - nd->prompt));
    w += mark - nd->prompt;
    for (int i = 0; i < nd->n_preds; i++) {
        const gc_node *pn = &g->nodes[nd->preds[i]];
        w += sprintf(w, "[%s]:\n%s\n\n", pn->role, pn->text ? pn->text : "");
    }
    strcpy(w, mark + strlen("{context}"));
    return out;
}

static void emit(run *R, gc_sched_event_kind k, int q, int i) {
    if (!R->p->on_event) return;
    gc_sched_event ev = {.kind = k, .question = q, .node = i, .graph = R->g[q], .t = now_s() - R->t0};
    R->p->on_event(R->p->user, &ev);
}

// Tokens of score_prefix ++ score_text (encoded apart, so the scored tokens
// are exactly score_text's).
static gc_status score_prepare(run *R, nstate *s, const gc_node *nd) {
    int32_t *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    const char *pre = nd->score_prefix ? nd->score_prefix : "";
    gc_status st = gc_tokenizer_encode(R->tok, pre, strlen(pre), false, &a, &na);
    if (st == GC_OK) st = gc_tokenizer_encode(R->tok, nd->score_text, strlen(nd->score_text), false, &b, &nb);
    if (st == GC_OK && nb == 0) st = gc_fail(GC_ERR_INVALID_ARG, "node %s: score text has no tokens", nd->role);
    if (st == GC_OK && !(s->sids = malloc((na + nb) * sizeof *s->sids))) st = gc_fail(GC_ERR_OOM, "out of memory");
    if (st == GC_OK) {
        if (na) memcpy(s->sids, a, na * sizeof *a);
        memcpy(s->sids + na, b, nb * sizeof *b);
        s->n_sids = na + nb;
        s->n_sprefix = na;
    }
    free(a);
    free(b);
    return st;
}

// The node has reached the point where decoding begins: fork its cache for
// the scoring step.
static gc_status score_begin(run *R, nstate *s) {
    if (!s->sids || s->sph) return GC_OK;
    GC_TRY(gc_kv_fork(s->kv, &s->skv));
    if (!(s->slogits = malloc(s->n_sids * (size_t)R->V * sizeof(float)))) return gc_fail(GC_ERR_OOM, "out of memory");
    s->sph = 1;
    return GC_OK;
}

// After the scoring step: Σ log softmax(row t)[sids[t+1]] over the scored tokens.
static void score_end(run *R, gc_node *nd, nstate *s) {
    double sum = 0;
    int64_t cnt = 0;
    for (size_t t = s->n_sprefix; t < s->n_sids; t++) {
        if (t == 0) continue;   // no prefix and no prompt row: the first token has no prediction here
        const float *row = s->slogits + (t - 1) * (size_t)R->V;
        double mx = row[0], z = 0;
        for (int64_t v = 1; v < R->V; v++) if (row[v] > mx) mx = row[v];
        for (int64_t v = 0; v < R->V; v++) z += exp((double)row[v] - mx);
        sum += (double)row[s->sids[t]] - mx - log(z);
        cnt++;
    }
    nd->score_logp = sum;
    nd->score_tokens = cnt;
    gc_kv_free(s->skv);
    s->skv = NULL;
    free(s->slogits);
    s->slogits = NULL;
    s->sph = 2;
}

static gc_status start_node(run *R, int q, int i) {
    const gc_qgraph *g = R->g[q];
    gc_node *nd = (gc_node *)&g->nodes[i];
    nstate *s = &R->st[q][i];
    // Input cache: the predecessors' exposed caches, fused (concatenation is
    // zero-copy; a weighted sum materialises new blocks), then gated per layer.
    gc_kv *parts[GC_MAX_PREDS];
    int np = 0;
    if (!nd->text_in)
        for (int k = 0; k < nd->n_preds; k++) parts[np++] = R->st[q][nd->preds[k]].exposed;
    if (np == 0) GC_TRY(gc_kv_new(R->e, &s->kv));
    else if (nd->fuse == GC_FUSE_WSUM) GC_TRY(gc_kv_wsum(parts, nd->fuse_w, np, &s->kv));
    else GC_TRY(gc_kv_concat(parts, np, &s->kv));
    if (nd->gate && gc_kv_len(s->kv) > 0) GC_TRY(gc_kv_scale(s->kv, 0, gc_kv_len(s->kv), NULL, NULL, nd->gate));
    nd->cache_in_len = gc_kv_len(s->kv);
    // The fused cache holds its own references to the blocks it shares: a
    // predecessor's exposed cache can go as soon as its last reader has fused it.
    for (int k = 0; k < np; k++) {
        nstate *ps = &R->st[q][nd->preds[k]];
        if (--ps->users == 0) {
            gc_kv_free(ps->exposed);
            ps->exposed = NULL;
        }
    }
    char *prompt = gc_node_prompt(g, i);
    if (!prompt) return gc_fail(GC_ERR_OOM, "out of memory");
    gc_status st = gc_tokenizer_encode(R->tok, prompt, strlen(prompt), true, &s->ids, &s->n_ids);
    free(prompt);
    GC_TRY(st);
    if (s->n_ids == 0) return gc_fail(GC_ERR_INVALID_ARG, "node %d (%s): empty prompt", i, nd->role);
    nd->prompt_tokens = (int64_t)s->n_ids;
    if (nd->score_text && *nd->score_text) GC_TRY(score_prepare(R, s, nd));
    s->own_start = gc_kv_len(s->kv);
    if (nd->max_tokens > 0) {
        gc_sampler_params sp = R->p->sampling;
        sp.seed = g->seed * 1000003ULL + (uint64_t)i;
        GC_TRY(gc_sampler_new(&sp, R->V, &s->smp));
        if (!(s->dt = gc_detok_new(R->tok, true))) return gc_fail(GC_ERR_OOM, "out of memory");
    }
    if (nd->latent_steps > 0 && !R->p->realign)
        return gc_fail(GC_ERR_INVALID_ARG, "node %d (%s): latent steps need a realignment map", i, nd->role);
    nd->t_start = now_s() - R->t0;
    s->ph = P_PREFILL;
    emit(R, GC_EV_NODE_START, q, i);
    return GC_OK;
}

static gc_status finish_node(run *R, int q, int i) {
    gc_node *nd = (gc_node *)&R->g[q]->nodes[i];
    nstate *s = &R->st[q][i];
    int64_t len = gc_kv_len(s->kv);
    switch (nd->pass) {
    case GC_PASS_WHOLE: GC_TRY(gc_kv_fork(s->kv, &s->exposed)); break;
    case GC_PASS_OWN: GC_TRY(gc_kv_slice(s->kv, s->own_start, len, &s->exposed)); break;
    case GC_PASS_LATENT:
        GC_TRY(gc_kv_slice(s->kv, s->latent_start, s->latent_start + nd->latent_done, &s->exposed));
        break;
    }
    gc_kv_free(s->kv);
    s->kv = NULL;
    nd->cache_out_len = gc_kv_len(s->exposed);
    nd->cache_out_bytes = gc_kv_bytes(s->exposed);
    if (s->users == 0) {   // nobody will read it
        gc_kv_free(s->exposed);
        s->exposed = NULL;
    }
    if (s->dt) {
        const char *piece;
        size_t pl = gc_detok_flush(s->dt, &piece);
        if (nd->finish != GC_FINISH_STOP && !gc_strbuf_append(&s->text, piece, pl)) return gc_fail(GC_ERR_OOM, "out of memory");
    }
    if (nd->max_tokens > 0) {
        nd->text = s->text.s ? s->text.s : calloc(1, 1);
        s->text.s = NULL;
    }
    nd->t_end = now_s() - R->t0;
    s->ph = P_DONE;
    emit(R, GC_EV_NODE_DONE, q, i);
    return GC_OK;
}

// Takes the token the engine drew for a decoding node; finishes the node on
// a stop token / stop string / length.
static gc_status decode_next(run *R, int q, int i) {
    gc_node *nd = (gc_node *)&R->g[q]->nodes[i];
    nstate *s = &R->st[q][i];
    s->ph = P_DECODE;
    int32_t id = s->tok;
    if (gc_gen_is_stop_id(R->e, R->tok, id)) {
        nd->finish = GC_FINISH_EOS;
        return finish_node(R, q, i);
    }
    nd->out_tokens++;
    const char *piece;
    size_t pl = gc_detok_push(s->dt, id, &piece);
    if (!gc_strbuf_append(&s->text, piece, pl)) return gc_fail(GC_ERR_OOM, "out of memory");
    gc_gen_params gp = gc_gen_default_params();
    memcpy(gp.stop, R->p->stop, sizeof gp.stop);
    size_t cut = gc_gen_find_stop(&gp, s->text.s, s->text.len);
    if (cut < s->text.len) {
        s->text.len = cut;
        s->text.s[cut] = 0;
        nd->finish = GC_FINISH_STOP;
        return finish_node(R, q, i);
    }
    if (nd->out_tokens >= nd->max_tokens) {
        nd->finish = GC_FINISH_LENGTH;
        return finish_node(R, q, i);
    }
    s->next = id;
    return GC_OK;
}

// After the node's prompt or a latent step: next latent input, decoding, or done.
static gc_status after_forward(run *R, int q, int i) {
    gc_node *nd = (gc_node *)&R->g[q]->nodes[i];
    nstate *s = &R->st[q][i];
    if (s->ph == P_PREFILL && (s->n_fed += (size_t)s->chunk) < s->n_ids) return GC_OK;   // more prompt next step
    if (s->ph == P_PREFILL) s->latent_start = gc_kv_len(s->kv);
    else if (s->ph == P_LATENT) nd->latent_done++;
    else return decode_next(R, q, i);
    if (nd->latent_done < nd->latent_steps) {
        // Its hidden row is realigned with every other node's after the step (realign_pending).
        s->ph = P_LATENT;
        return GC_OK;
    }
    GC_TRY(score_begin(R, s));
    if (nd->max_tokens > 0) return decode_next(R, q, i);
    return finish_node(R, q, i);
}

// The next input embeddings of every node that continues with a latent step:
// one realignment of the step's hidden rows, on the engine's backend.
static gc_status realign_pending(run *R) {
    if (R->n_hid == 0) return GC_OK;
    GC_TRY(gc_realign_rows(R->p->realign, R->hid, 0, R->n_hid, R->emb, 0));
    R->n_hid = 0;
    return GC_OK;
}

// True when this step's last hidden state, realigned, is the node's next
// input (its prompt or a latent step that another latent step follows;
// after_forward's test, made before the step).
static bool feeds_latent(const gc_node *nd, const nstate *s) {
    if (s->ph == P_PREFILL) return nd->latent_steps > 0 && s->n_fed + (size_t)s->chunk == s->n_ids;
    return s->ph == P_LATENT && nd->latent_done + 1 < nd->latent_steps;
}

// True when this step's output is the node's next token (the last position
// of its prompt or of its last latent step, or a decode step).
static bool wants_token(const gc_node *nd, const nstate *s) {
    if (nd->max_tokens <= 0) return false;
    if (s->ph == P_DECODE) return true;
    if (s->ph == P_PREFILL) return nd->latent_steps == 0 && s->n_fed + (size_t)s->chunk == s->n_ids;
    return s->ph == P_LATENT && nd->latent_done + 1 >= nd->latent_steps;
}

// The rows a prompt of `left` more tokens feeds this step, out of the step's
// prefill budget *budget (which it takes them from).
static int64_t take_rows(int64_t *budget, size_t left) {
    const int64_t n = (int64_t)left < *budget ? (int64_t)left : *budget;
    *budget -= n;
    return n;
}

// Asks the engine to draw the node's next token (by the one rule of
// gcache/sampler.h, with the next u of the node's stream).
static void want_token(nstate *s, gc_seq_step *x) {
    s->draw = gc_sampler_next_draw(s->smp);
    x->argmax = &s->tok;
    x->draw = &s->draw;
}

gc_status gc_sched_run(gc_engine *e, const gc_tokenizer *tok, gc_qgraph *const *graphs, int n,
                       const gc_sched_params *p) {
    if (!tok) return gc_fail(GC_ERR_INVALID_ARG, "the agent scheduler needs a tokenizer");
    if (n < 1) return GC_OK;
    gc_model_info info;
    gc_model_get_info(gc_engine_model(e), &info);
    run R = {.e = e, .tok = tok, .p = p, .g = graphs, .n = n, .V = info.vocab_size, .t0 = now_s()};
    int total = 0;
    for (int q = 0; q < n; q++) {
        const gc_qgraph *g = graphs[q];
        if (g->n_nodes < 1 || g->n_nodes > GC_MAX_NODES || g->output < 0 || g->output >= g->n_nodes)
            return gc_fail(GC_ERR_INVALID_ARG, "question %d: bad graph (%d nodes, output %d)", q, g->n_nodes, g->output);
        for (int i = 0; i < g->n_nodes; i++) {
            const gc_node *nd = &g->nodes[i];
            if (!nd->prompt || nd->n_preds < 0 || nd->n_preds > GC_MAX_PREDS || nd->latent_steps < 0 || nd->max_tokens < 0)
                return gc_fail(GC_ERR_INVALID_ARG, "question %d node %d: bad spec", q, i);
            for (int k = 0; k < nd->n_preds; k++)
                if (nd->preds[k] < 0 || nd->preds[k] >= i)
                    return gc_fail(GC_ERR_INVALID_ARG, "question %d node %d: predecessor %d is not an earlier node", q, i, nd->preds[k]);
        }
        total += g->n_nodes;
    }
    R.st = calloc((size_t)n, sizeof *R.st);
    // A node can have two sequences in a step: its own and its scoring fork.
    gc_seq_step *steps = calloc((size_t)total * 2, sizeof *steps);
    int (*who)[3] = calloc((size_t)total * 2, sizeof *who);
    gc_status st = (!R.st || !steps || !who) ? gc_fail(GC_ERR_OOM, "out of memory") : GC_OK;
    bool latent = false;
    for (int q = 0; q < n; q++)
        for (int i = 0; i < graphs[q]->n_nodes; i++) latent |= graphs[q]->nodes[i].latent_steps > 0;
    if (st == GC_OK && latent) st = gc_rows_new(e, total, &R.hid);
    if (st == GC_OK && latent) st = gc_rows_new(e, total, &R.emb);
    for (int q = 0; st == GC_OK && q < n; q++)
        if (!(R.st[q] = calloc((size_t)graphs[q]->n_nodes, sizeof **R.st))) st = gc_fail(GC_ERR_OOM, "out of memory");

    for (int q = 0; st == GC_OK && q < n; q++)
        for (int i = 0; i < graphs[q]->n_nodes; i++)
            if (!graphs[q]->nodes[i].text_in)
                for (int k = 0; k < graphs[q]->nodes[i].n_preds; k++) R.st[q][graphs[q]->nodes[i].preds[k]].users++;

    while (st == GC_OK) {
        // Start every node whose predecessors are done.
        for (int q = 0; st == GC_OK && q < n; q++)
            for (int i = 0; st == GC_OK && i < graphs[q]->n_nodes; i++) {
                if (R.st[q][i].ph != P_WAIT) continue;
                const gc_node *nd = &graphs[q]->nodes[i];
                bool ready = true;
                for (int k = 0; k < nd->n_preds; k++) ready &= R.st[q][nd->preds[k]].ph == P_DONE;
                if (ready) st = start_node(&R, q, i);
            }
        if (st != GC_OK) break;
        // One engine step over every active node of every question; prompt
        // rows (prefill and scoring) share a budget of prefill_rows, given in
        // node order: a node whose prompt gets none this step waits.
        int64_t budget = p->prefill_rows > 0 ? p->prefill_rows : INT64_MAX;
        int m = 0;
        for (int q = 0; q < n; q++)
            for (int i = 0; i < graphs[q]->n_nodes; i++) {
                nstate *s = &R.st[q][i];
                const gc_node *nd = &graphs[q]->nodes[i];
                gc_seq_step *x = &steps[m];
                switch (s->ph) {
                case P_PREFILL:
                    // Only the last chunk gives a hidden row (feeds_latent) or a token (wants_token).
                    if ((s->chunk = take_rows(&budget, s->n_ids - s->n_fed)) == 0) continue;
                    *x = (gc_seq_step){.kv = s->kv, .n = s->chunk, .ids = s->ids + s->n_fed};
                    break;
                case P_LATENT:
                    *x = (gc_seq_step){.kv = s->kv, .n = 1, .in_rows = R.emb, .in_row = s->row};
                    break;
                case P_DECODE:
                    *x = (gc_seq_step){.kv = s->kv, .n = 1, .ids = &s->next};
                    break;
                default: continue;
                }
                if (wants_token(nd, s)) want_token(s, x);
                if (feeds_latent(nd, s)) {   // the hidden state stays on the backend, in the node's next row
                    x->hidden_rows = R.hid;
                    x->hidden_row = s->row = R.n_hid++;
                }
                who[m][0] = q;
                who[m][1] = i;
                who[m][2] = 0;
                m++;
            }
        for (int q = 0; q < n; q++)
            for (int i = 0; i < graphs[q]->n_nodes; i++) {
                nstate *s = &R.st[q][i];
                if (s->sph != 1 || (s->schunk = take_rows(&budget, s->n_sids - s->n_sfed)) == 0) continue;
                steps[m] = (gc_seq_step){.kv = s->skv, .n = s->schunk, .ids = s->sids + s->n_sfed,
                                         .logits = s->slogits + s->n_sfed * (size_t)R.V, .logits_all = true};
                who[m][0] = q;
                who[m][1] = i;
                who[m][2] = 1;
                m++;
            }
        if (m == 0) break;
        bool chunk = false;   // a step where some node feeds several rows (not a one-row-per-node step)
        int64_t rows = 0;
        for (int k = 0; k < m; k++) {
            chunk |= steps[k].n > 1;
            rows += steps[k].n;
        }
        const double tf0 = now_s();
        if ((st = gc_engine_forward(e, steps, m)) != GC_OK) break;
        const double tf1 = now_s();
        R.n_fwd++;
        if (chunk) { R.n_fwd_rows++; R.t_fwd_rows += tf1 - tf0; R.rows_fwd_rows += rows; }
        for (int k = 0; st == GC_OK && k < m; k++) {
            nstate *s = &R.st[who[k][0]][who[k][1]];
            if (!who[k][2]) st = after_forward(&R, who[k][0], who[k][1]);
            else if ((s->n_sfed += (size_t)s->schunk) == s->n_sids)
                score_end(&R, (gc_node *)&graphs[who[k][0]]->nodes[who[k][1]], s);
        }
        if (st == GC_OK) st = realign_pending(&R);
        R.t_fwd += tf1 - tf0;
        R.t_host += now_s() - tf1;
        // A question is done when all of its nodes are.
        for (int q = 0; st == GC_OK && q < n; q++) {
            if (graphs[q]->t_done > 0) continue;
            bool done = true;
            for (int i = 0; i < graphs[q]->n_nodes; i++) done &= R.st[q][i].ph == P_DONE && R.st[q][i].sph != 1;
            if (done) {
                ((gc_qgraph *)graphs[q])->t_done = now_s() - R.t0;
                emit(&R, GC_EV_QUESTION_DONE, q, graphs[q]->output);
            }
        }
    }
    for (int q = 0; R.st && q < n; q++) {
        for (int i = 0; R.st[q] && i < graphs[q]->n_nodes; i++) {
            nstate *s = &R.st[q][i];
            gc_kv_free(s->kv);
            gc_kv_free(s->exposed);
            free(s->ids); free(s->text.s);
            gc_kv_free(s->skv);
            free(s->sids); free(s->slogits);
            gc_sampler_free(s->smp);
            gc_detok_free(s->dt);
        }
        free(R.st[q]);
    }
    free(R.st);
    free(steps);
    free(who);
    gc_rows_free(R.hid);
    gc_rows_free(R.emb);
    if (p->profile)
        fprintf(stderr,
                "sched: %.3f s in the engine (%lld steps; %lld of them with prompt rows: %.3f s for %lld rows), "
                "%.3f s in the scheduler after steps, %.3f s in all\n",
                R.t_fwd, (long long)R.n_fwd, (long long)R.n_fwd_rows, R.t_fwd_rows, (long long)R.rows_fwd_rows,
                R.t_host, now_s() - R.t0);
    return st;
}

void gc_qgraph_clear(gc_qgraph *g) {
    for (int i = 0; i < g->n_nodes; i++) {
        free(g->nodes[i].text);
        g->nodes[i].text = NULL;
    }
}
