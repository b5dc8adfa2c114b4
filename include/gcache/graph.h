// The agent graph (GDesigner / G-cache): N agents whose roles cycle through a
// prompt set's role list, spatial edges within a round (a DAG), temporal
// edges from round r−1 to round r, R rounds, and a decision node that reads
// every agent of the last round. gc_graph_build unrolls it into a gc_qgraph
// for the scheduler.
//   text mode  (GDesigner): agents decode text; a node's prompt carries its
//              predecessors' text.
//   cache mode (G-cache):   a node fuses its predecessors' KV caches
//              (concat or weighted sum, per-layer gates), appends its prompt,
//              runs m latent steps and stores its cache; only the decision
//              node decodes.
#ifndef GCACHE_GRAPH_H
#define GCACHE_GRAPH_H
#include "gcache/mas.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GC_MAX_AGENTS 12
#define GC_MAX_ROUNDS 4
#define GC_MAX_LAYERS 128

typedef enum gc_topology {
    GC_TOPO_DIRECT = 0,  // one agent answers alone (no edges)
    GC_TOPO_FULL,        // every candidate edge (cycles skipped → i→j for i<j)
    GC_TOPO_CHAIN,       // i → i+1
    GC_TOPO_STAR,        // 0 → every other agent
    GC_TOPO_LAYERED,     // agents split into layers of ⌈N/3⌉, consecutive layers fully connected
    GC_TOPO_MESH,        // i → i+1 and i → i+2 (a band)
    GC_TOPO_DEBATE,      // no spatial edges; every agent reads every agent of the previous round
    GC_TOPO_RANDOM,      // each candidate with p = 0.5 (seeded), cycles skipped
    GC_TOPO_LEARNED,     // sampled from the learned policy (gcache/learn.h)
} gc_topology;

gc_status gc_topology_from_name(const char *name, gc_topology *out);
const char *gc_topology_name(gc_topology t);

// Adjacency of one sampled / fixed topology: spatial[i][j] = edge i→j in a
// round; temporal[i][j] = edge from agent i in round r−1 to agent j in round r.
typedef struct gc_topo {
    int n;
    uint8_t spatial[GC_MAX_AGENTS][GC_MAX_AGENTS];
    uint8_t temporal[GC_MAX_AGENTS][GC_MAX_AGENTS];
} gc_topo;

// A fixed topology (not GC_TOPO_LEARNED) for n agents; seed drives Random.
gc_status gc_topology_fixed(gc_topology t, int n, uint64_t seed, gc_topo *out);
// True if adding i→j to the spatial edges would close a cycle.
bool gc_topo_closes_cycle(const gc_topo *t, int i, int j);

// The role list of a prompt set's "graph" section.
int gc_prompts_n_roles(const gc_prompt_set *ps);
const char *gc_prompts_role_name(const gc_prompt_set *ps, int i);
const char *gc_prompts_role_description(const gc_prompt_set *ps, int i);
// Role-connection graph over n agents (roles cycled): adj[i*n + j] = 1 when
// the roles of agents i and j are connected (symmetric; 0 on the diagonal).
void gc_prompts_role_adjacency(const gc_prompt_set *ps, int n, double *adj);

typedef struct gc_graph_params {
    int n_agents, rounds;
    bool cache_mode;         // G-cache (true) or GDesigner text mode (false)
    int latent_steps;        // cache mode: per agent node
    gc_pass_mode pass;       // cache mode: what an agent hands on (default: own segment)
    gc_fuse_mode fuse;       // cache mode: concat (default) or weighted sum
    int max_tokens;          // decision node's answer
    int agent_max_tokens;    // text mode: each agent's text
    bool think;
    gc_chat_style style;
} gc_graph_params;

gc_graph_params gc_graph_default_params(void);

// The graph's settings as `gcache run`, run.json and the graph model spell
// them (names for pass and fuse); gc_graph_params_from turns them into
// gc_graph_params, the one place both do it.
typedef struct gc_graph_settings {
    int agents, rounds;        // [1, GC_MAX_AGENTS], [1, GC_MAX_ROUNDS]
    bool text_mode;            // GDesigner text mode instead of cache mode
    int latent_steps;
    int max_tokens;            // decision node's answer
    int agent_max_tokens;      // text mode: each agent's text
    bool think;
    const char *pass;          // "whole" | "own" | "latent"; NULL: own
    const char *fuse;          // "concat" | "wsum"; NULL: concat
    gc_chat_style style;
} gc_graph_settings;

// Checks the settings (agents and rounds in range, known pass and fuse names)
// and fills *out (the defaults of gc_graph_default_params for the rest).
gc_status gc_graph_params_from(const gc_graph_settings *s, gc_graph_params *out);

// Per-question fuser choices (cache mode); NULL fields mean: gates all on,
// equal weights. gate (n_layers) applies to every node's received cache;
// fuse_w[i][j] is the weight of agent i's cache at agent j (normalised over
// j's predecessors by the builder).
typedef struct gc_fuser_choice {
    const uint8_t *gate;
    const double (*fuse_w)[GC_MAX_AGENTS];
} gc_fuser_choice;

// Unrolls the graph of one question into *g (prompts malloc'd: gc_mas_clear).
gc_status gc_graph_build(const gc_prompt_set *ps, const gc_graph_params *p, const gc_topo *topo,
                         const gc_fuser_choice *fc, const char *question, uint64_t seed, gc_qgraph *g);

#ifdef __cplusplus
}
#endif
#endif
