// The multi-agent methods of gcache/mas.h as scheduler graphs: single agent,
// TextMAS and LatentMAS, sequential or hierarchical, from a prompt set's
// roles (prompts.c renders each role's prompt).
#include "graph/prompt_set.h"
#include "core/error.h"
#include <stdlib.h>
#include <string.h>

gc_mas_params gc_mas_default_params(void) {
    gc_mas_params p = {.method = GC_METHOD_LATENTMAS, .mode = GC_MAS_SEQUENTIAL, .latent_steps = 10,
                       .pass = GC_PASS_WHOLE, .think = false, .max_tokens = 512, .agent_max_tokens = 256,
                       .style = GC_CHAT_CHATML};
    return p;
}

gc_status gc_method_from_name(const char *name, gc_method *out) {
    const char *n[] = {"single", "textmas", "latentmas"};
    for (int i = 0; i < 3; i++) if (strcmp(name, n[i]) == 0) { *out = (gc_method)i; return GC_OK; }
    return gc_fail(GC_ERR_INVALID_ARG, "unknown method '%s' (single, textmas, latentmas)", name);
}

const char *gc_method_name(gc_method m) {
    return m == GC_METHOD_SINGLE ? "single" : m == GC_METHOD_TEXTMAS ? "textmas" : "latentmas";
}

gc_status gc_mas_mode_from_name(const char *name, gc_mas_mode *out) {
    if (strcmp(name, "sequential") == 0) { *out = GC_MAS_SEQUENTIAL; return GC_OK; }
    if (strcmp(name, "hierarchical") == 0) { *out = GC_MAS_HIERARCHICAL; return GC_OK; }
    return gc_fail(GC_ERR_INVALID_ARG, "unknown mode '%s' (sequential, hierarchical)", name);
}

gc_status gc_pass_from_name(const char *name, gc_pass_mode *out) {
    const char *n[] = {"whole", "own", "latent"};
    for (int i = 0; i < 3; i++) if (strcmp(name, n[i]) == 0) { *out = (gc_pass_mode)i; return GC_OK; }
    return gc_fail(GC_ERR_INVALID_ARG, "unknown pass mode '%s' (whole, own, latent)", name);
}

gc_status gc_mas_build(const gc_prompt_set *ps, const gc_mas_params *p, const char *question, uint64_t seed,
                       gc_qgraph *g) {
    memset(g, 0, sizeof *g);
    g->seed = seed;
    gc_status s = GC_OK;
    if (p->method == GC_METHOD_SINGLE) {
        gc_node *nd = &g->nodes[0];
        nd->role = ps->single.role;
        nd->max_tokens = p->max_tokens;
        g->n_nodes = 1;
        s = gc_role_prompt(ps, p, &ps->single, question, false, (char **)&nd->prompt);
        if (s != GC_OK) gc_mas_clear(g);
        return s;
    }
    const mode_spec *m = p->mode == GC_MAS_SEQUENTIAL ? &ps->seq : &ps->hier;
    bool text = p->method == GC_METHOD_TEXTMAS;
    for (int i = 0; i < m->n_agents && s == GC_OK; i++) {
        gc_node *nd = &g->nodes[g->n_nodes++];
        nd->role = m->agents[i].role;
        nd->text_in = text;
        // Sequential: each agent follows the previous one; hierarchical: the
        // domain agents all start from the question alone.
        // In text mode a sequential agent reads every earlier agent's text; in
        // cache mode the previous agent's cache already carries the chain.
        if (p->mode == GC_MAS_SEQUENTIAL && text)
            for (int k = 0; k < i; k++) nd->preds[nd->n_preds++] = k;
        else if (p->mode == GC_MAS_SEQUENTIAL && i > 0)
            nd->preds[nd->n_preds++] = i - 1;
        if (text) nd->max_tokens = p->agent_max_tokens;
        else nd->latent_steps = p->latent_steps;
        nd->pass = p->pass;
        s = gc_role_prompt(ps, p, &m->agents[i], question, text && nd->n_preds > 0, (char **)&nd->prompt);
    }
    if (s == GC_OK) {
        gc_node *j = &g->nodes[g->n_nodes];
        j->role = m->judger.role;
        j->text_in = text;
        j->max_tokens = p->max_tokens;
        if (p->mode == GC_MAS_SEQUENTIAL && !text) j->preds[j->n_preds++] = g->n_nodes - 1;
        else for (int i = 0; i < m->n_agents; i++) j->preds[j->n_preds++] = i;
        g->output = g->n_nodes++;
        s = gc_role_prompt(ps, p, &m->judger, question, text, (char **)&j->prompt);
    }
    if (s != GC_OK) gc_mas_clear(g);
    return s;
}

void gc_mas_clear(gc_qgraph *g) {
    for (int i = 0; i < g->n_nodes; i++) {
        free((char *)g->nodes[i].prompt);
        g->nodes[i].prompt = NULL;
    }
    gc_qgraph_clear(g);
}
