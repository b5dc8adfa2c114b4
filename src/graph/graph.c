// Topologies and the unrolling of an agent graph into scheduler nodes.
#include "gcache/graph.h"
#include "graph/prompt_set.h"
#include "core/error.h"
#include <math.h>
#include <string.h>

static const char *const TOPO_NAMES[] = {"DirectAnswer", "FullConnected", "Chain", "Star", "Layered",
                                         "Mesh", "Debate", "Random", "Learned"};

gc_status gc_topology_from_name(const char *name, gc_topology *out) {
    for (int i = 0; i <= GC_TOPO_LEARNED; i++)
        if (strcasecmp(name, TOPO_NAMES[i]) == 0) { *out = (gc_topology)i; return GC_OK; }
    return gc_fail(GC_ERR_INVALID_ARG,
                   "unknown topology '%s' (DirectAnswer, FullConnected, Chain, Star, Layered, Mesh, Debate, Random, Learned)",
                   name);
}

const char *gc_topology_name(gc_topology t) { return TOPO_NAMES[t]; }

// Depth-first search: is there a path from `from` to `to` along spatial edges?
static bool reaches(const gc_topo *t, int from, int to, uint32_t *seen) {
    if (from == to) return true;
    *seen |= 1u << from;
    for (int k = 0; k < t->n; k++)
        if (t->spatial[from][k] && !(*seen & (1u << k)) && reaches(t, k, to, seen)) return true;
    return false;
}

bool gc_topo_closes_cycle(const gc_topo *t, int i, int j) {
    uint32_t seen = 0;
    return reaches(t, j, i, &seen);
}

static void add_edge(gc_topo *t, int i, int j) {
    if (i != j && !gc_topo_closes_cycle(t, i, j)) t->spatial[i][j] = 1;
}

gc_status gc_topology_fixed(gc_topology kind, int n, uint64_t seed, gc_topo *t) {
    memset(t, 0, sizeof *t);
    if (n < 1 || n > GC_MAX_AGENTS) return gc_fail(GC_ERR_INVALID_ARG, "agents must be in [1, %d], got %d", GC_MAX_AGENTS, n);
    t->n = n;
    uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
    switch (kind) {
    case GC_TOPO_DIRECT:
        t->n = 1;
        break;
    case GC_TOPO_FULL:   // candidates in row-major order; those closing a cycle are skipped
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) add_edge(t, i, j);
        break;
    case GC_TOPO_CHAIN:
        for (int i = 0; i + 1 < n; i++) add_edge(t, i, i + 1);
        break;
    case GC_TOPO_STAR:
        for (int j = 1; j < n; j++) add_edge(t, 0, j);
        break;
    case GC_TOPO_LAYERED: {
        int width = n <= 2 ? 1 : (n + 2) / 3;   // three layers when there are enough agents
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                if (j / width == i / width + 1) add_edge(t, i, j);
        break;
    }
    case GC_TOPO_MESH:
        for (int i = 0; i < n; i++) {
            if (i + 1 < n) add_edge(t, i, i + 1);
            if (i + 2 < n) add_edge(t, i, i + 2);
        }
        break;
    case GC_TOPO_DEBATE:
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) t->temporal[i][j] = 1;
        break;
    case GC_TOPO_RANDOM:
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
                if (((x * 0x2545F4914F6CDD1DULL) >> 63) && i != j) add_edge(t, i, j);
            }
        break;
    case GC_TOPO_LEARNED:
        return gc_fail(GC_ERR_INVALID_ARG, "the Learned topology is sampled from a policy, not fixed");
    }
    return GC_OK;
}

int gc_prompts_n_roles(const gc_prompt_set *ps) { return ps->has_graph ? ps->graph.n_roles : 0; }
const char *gc_prompts_role_name(const gc_prompt_set *ps, int i) { return ps->graph.roles[i % ps->graph.n_roles].role; }
const char *gc_prompts_role_description(const gc_prompt_set *ps, int i) { return ps->graph.descriptions[i % ps->graph.n_roles]; }

void gc_prompts_role_adjacency(const gc_prompt_set *ps, int n, double *adj) {
    memset(adj, 0, (size_t)(n * n) * sizeof *adj);
    if (!ps->has_graph) return;
    const int R = ps->graph.n_roles;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            if (i == j) continue;
            for (int e = 0; e < ps->graph.n_edges; e++) {
                int a = ps->graph.edges[e][0], b = ps->graph.edges[e][1];
                if ((a == i % R && b == j % R) || (b == i % R && a == j % R)) adj[i * n + j] = 1;
            }
        }
}

gc_graph_params gc_graph_default_params(void) {
    gc_graph_params p = {.n_agents = 4, .rounds = 1, .cache_mode = true, .latent_steps = 10, .pass = GC_PASS_OWN,
                         .fuse = GC_FUSE_CONCAT, .max_tokens = 512, .agent_max_tokens = 256, .think = false,
                         .style = GC_CHAT_CHATML};
    return p;
}

gc_status gc_graph_params_from(const gc_graph_settings *s, gc_graph_params *out) {
    gc_graph_params p = gc_graph_default_params();
    if (s->agents < 1 || s->agents > GC_MAX_AGENTS || s->rounds < 1 || s->rounds > GC_MAX_ROUNDS)
        return gc_fail(GC_ERR_INVALID_ARG, "agents %d and rounds %d: agents must be in [1, %d] and rounds in [1, %d]",
                       s->agents, s->rounds, GC_MAX_AGENTS, GC_MAX_ROUNDS);
    if (s->pass) GC_TRY(gc_pass_from_name(s->pass, &p.pass));
    const char *fuse = s->fuse ? s->fuse : "concat";
    if (strcmp(fuse, "concat") != 0 && strcmp(fuse, "wsum") != 0)
        return gc_fail(GC_ERR_INVALID_ARG, "unknown fusion '%s' (concat, wsum)", fuse);
    p.fuse = strcmp(fuse, "wsum") == 0 ? GC_FUSE_WSUM : GC_FUSE_CONCAT;
    p.n_agents = s->agents;
    p.rounds = s->rounds;
    p.cache_mode = !s->text_mode;
    p.latent_steps = s->latent_steps;
    p.max_tokens = s->max_tokens;
    p.agent_max_tokens = s->agent_max_tokens;
    p.think = s->think;
    p.style = s->style;
    *out = p;
    return GC_OK;
}

// Agents run in a topological order of the spatial DAG (Kahn, lowest index first).
static void topo_order(const gc_topo *t, int *order) {
    int indeg[GC_MAX_AGENTS] = {0}, k = 0;
    bool done[GC_MAX_AGENTS] = {false};
    for (int i = 0; i < t->n; i++) for (int j = 0; j < t->n; j++) indeg[j] += t->spatial[i][j];
    while (k < t->n)
        for (int i = 0; i < t->n; i++)
            if (!done[i] && indeg[i] == 0) {
                done[i] = true;
                order[k++] = i;
                for (int j = 0; j < t->n; j++) indeg[j] -= t->spatial[i][j];
                break;
            }
}

static void set_weights(gc_node *nd, const int *pred_agent, const gc_fuser_choice *fc, int self) {
    double sum = 0;
    for (int k = 0; k < nd->n_preds; k++) {
        double w = fc && fc->fuse_w && pred_agent[k] >= 0 ? fc->fuse_w[pred_agent[k]][self] : 1.0;
        nd->fuse_w[k] = (float)w;
        sum += w;
    }
    for (int k = 0; k < nd->n_preds && sum > 0; k++) nd->fuse_w[k] = (float)(nd->fuse_w[k] / sum);
}

gc_status gc_graph_build(const gc_prompt_set *ps, const gc_graph_params *p, const gc_topo *topo,
                         const gc_fuser_choice *fc, const char *question, uint64_t seed, gc_qgraph *g) {
    memset(g, 0, sizeof *g);
    g->seed = seed;
    if (!ps->has_graph) return gc_fail(GC_ERR_INVALID_ARG, "prompt set '%s' has no \"graph\" section", ps->family);
    const int n = topo->n, R = p->rounds;
    if (n < 1 || n > GC_MAX_AGENTS) return gc_fail(GC_ERR_INVALID_ARG, "agents must be in [1, %d]", GC_MAX_AGENTS);
    if (R < 1 || R > GC_MAX_ROUNDS) return gc_fail(GC_ERR_INVALID_ARG, "rounds must be in [1, %d]", GC_MAX_ROUNDS);
    if (n * R + 1 > GC_MAX_NODES) return gc_fail(GC_ERR_INVALID_ARG, "graph too large: %d nodes", n * R + 1);
    gc_mas_params mp = gc_mas_default_params();
    mp.think = p->think;
    mp.style = p->style;
    int order[GC_MAX_AGENTS], node_of[GC_MAX_ROUNDS][GC_MAX_AGENTS];
    topo_order(topo, order);
    gc_status s = GC_OK;
    for (int r = 0; r < R && s == GC_OK; r++)
        for (int k = 0; k < n && s == GC_OK; k++) {
            int a = order[k], idx = g->n_nodes++;
            node_of[r][a] = idx;
            gc_node *nd = &g->nodes[idx];
            const role_t *role = &ps->graph.roles[a % ps->graph.n_roles];
            nd->role = role->role;
            int pred_agent[GC_MAX_PREDS];
            for (int i = 0; i < n; i++)   // spatial predecessors (already placed: topological order)
                if (topo->spatial[i][a] && nd->n_preds < GC_MAX_PREDS) {
                    pred_agent[nd->n_preds] = i;
                    nd->preds[nd->n_preds++] = node_of[r][i];
                }
            if (r > 0)   // temporal predecessors, and the agent's own memory of the last round
                for (int i = 0; i < n; i++)
                    if ((topo->temporal[i][a] || i == a) && nd->n_preds < GC_MAX_PREDS) {
                        pred_agent[nd->n_preds] = -1;
                        nd->preds[nd->n_preds++] = node_of[r - 1][i];
                    }
            nd->text_in = !p->cache_mode;
            if (p->cache_mode) {
                nd->latent_steps = p->latent_steps;
                nd->pass = p->pass;
                nd->fuse = p->fuse;
                nd->gate = fc ? fc->gate : NULL;
                set_weights(nd, pred_agent, fc, a);
            } else {
                nd->max_tokens = p->agent_max_tokens;
            }
            s = gc_role_prompt(ps, &mp, role, question, !p->cache_mode && nd->n_preds > 0, (char **)&nd->prompt);
        }
    if (s == GC_OK) {
        gc_node *d = &g->nodes[g->n_nodes];
        d->role = ps->graph.decision.role;
        d->max_tokens = p->max_tokens;
        d->text_in = !p->cache_mode;
        int pred_agent[GC_MAX_PREDS];
        for (int a = 0; a < n && d->n_preds < GC_MAX_PREDS; a++) {
            pred_agent[d->n_preds] = -1;
            d->preds[d->n_preds++] = node_of[R - 1][a];
        }
        if (p->cache_mode) {
            d->fuse = p->fuse;
            d->gate = fc ? fc->gate : NULL;
            set_weights(d, pred_agent, NULL, 0);
        }
        g->output = g->n_nodes++;
        s = gc_role_prompt(ps, &mp, &ps->graph.decision, question, !p->cache_mode, (char **)&d->prompt);
    }
    if (s != GC_OK) gc_mas_clear(g);
    return s;
}
