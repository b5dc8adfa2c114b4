// Internal layout of a prompt set (prompts/<family>.json).
#ifndef GC_GRAPH_PROMPT_SET_H
#define GC_GRAPH_PROMPT_SET_H
#include "gcache/mas.h"

#define MAX_AGENTS 8

typedef struct role_t { char *role, *system, *user; } role_t;

typedef struct mode_spec {
    int n_agents;
    role_t agents[MAX_AGENTS];
    role_t judger;
} mode_spec;

#define MAX_GRAPH_ROLES 16
#define MAX_ROLE_EDGES 64

// The "graph" section: roles agents cycle through, which roles are
// connected (for the GCN), and the decision node.
typedef struct graph_spec {
    int n_roles;
    role_t roles[MAX_GRAPH_ROLES];
    char *descriptions[MAX_GRAPH_ROLES];
    int n_edges;
    int edges[MAX_ROLE_EDGES][2];   // role index pairs
    role_t decision;
} graph_spec;

struct gc_prompt_set {
    char *family, *answer_instruction, *text_context;
    char **tasks;
    int n_tasks;
    role_t single;
    mode_spec seq, hier;
    bool has_graph;
    graph_spec graph;
};

// The chat-formatted prompt of one role; text_mode appends text_context
// (its {context} is filled in by the scheduler). *out malloc'd.
gc_status gc_role_prompt(const gc_prompt_set *ps, const gc_mas_params *p, const role_t *r, const char *question,
                         bool text_mode, char **out);



#endif
