// Prompt sets: JSON data files with each role's system and user templates.
// Placeholders: {question}, {answer_instruction}; text_context holds
// {context} (what earlier agents wrote, TextMAS).
#include "graph/prompt_set.h"
#include "core/error.h"
#include "core/json.h"
#include "core/file.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const char *const gc_embedded_prompts[][2];

static gc_status dup_str(const char *path, const cJSON *obj, const char *field, char **out) {
    const char *s;
    GC_TRY(gc_json_req_string(path, obj, field, &s));
    if (!(*out = strdup(s))) return gc_fail(GC_ERR_OOM, "out of memory");
    return GC_OK;
}

static gc_status read_role(const char *path, const cJSON *obj, role_t *r) {
    if (!cJSON_IsObject(obj)) return gc_fail(GC_ERR_FORMAT, "%s: a role must be an object", path);
    GC_TRY(dup_str(path, obj, "role", &r->role));
    GC_TRY(dup_str(path, obj, "system", &r->system));
    GC_TRY(dup_str(path, obj, "user", &r->user));
    if (!strstr(r->user, "{question}"))
        return gc_fail(GC_ERR_FORMAT, "%s: role \"%s\": field \"user\" must contain {question}", path, r->role);
    return GC_OK;
}

static gc_status read_mode(const char *path, const cJSON *root, const char *field, mode_spec *m) {
    const cJSON *obj;
    GC_TRY(gc_json_req_object(path, root, field, &obj));
    const cJSON *agents;
    GC_TRY(gc_json_req_array(path, obj, "agents", &agents));
    int n = cJSON_GetArraySize(agents);
    if (n < 1 || n > MAX_AGENTS)
        return gc_fail(GC_ERR_FORMAT, "%s: field \"%s.agents\": expected 1 to %d agents, got %d", path, field, MAX_AGENTS, n);
    for (int i = 0; i < n; i++) GC_TRY(read_role(path, cJSON_GetArrayItem(agents, i), &m->agents[i]));
    m->n_agents = n;
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, "judger");
    if (!j) return gc_fail(GC_ERR_FORMAT, "%s: field \"%s.judger\" is missing", path, field);
    return read_role(path, j, &m->judger);
}

static void free_role(role_t *r) { free(r->role); free(r->system); free(r->user); }

static int role_index(const graph_spec *g, const char *name) {
    for (int i = 0; i < g->n_roles; i++)
        if (strcmp(g->roles[i].role, name) == 0) return i;
    return -1;
}

// The optional "graph" section: {"roles": [{name, description, system, user}],
// "role_graph": [[a, b], ...], "decision": {role, system, user}}.
static gc_status read_graph(const char *path, const cJSON *root, gc_prompt_set *p) {
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(root, "graph");
    if (!g) return GC_OK;
    graph_spec *gs = &p->graph;
    const cJSON *roles, *edges, *dec;
    GC_TRY(gc_json_req_array(path, g, "roles", &roles));
    int n = cJSON_GetArraySize(roles);
    if (n < 1 || n > MAX_GRAPH_ROLES)
        return gc_fail(GC_ERR_FORMAT, "%s: field \"graph.roles\": expected 1 to %d roles", path, MAX_GRAPH_ROLES);
    for (int i = 0; i < n; i++) {
        const cJSON *r = cJSON_GetArrayItem(roles, i);
        if (!cJSON_IsObject(r)) return gc_fail(GC_ERR_FORMAT, "%s: field \"graph.roles[%d]\": expected an object", path, i);
        role_t *rt = &gs->roles[i];
        GC_TRY(dup_str(path, r, "name", &rt->role));
        GC_TRY(dup_str(path, r, "system", &rt->system));
        GC_TRY(dup_str(path, r, "user", &rt->user));
        GC_TRY(dup_str(path, r, "description", &gs->descriptions[i]));
        gs->n_roles = i + 1;
        if (!strstr(rt->user, "{question}"))
            return gc_fail(GC_ERR_FORMAT, "%s: graph role \"%s\": field \"user\" must contain {question}", path, rt->role);
    }
    GC_TRY(gc_json_req_array(path, g, "role_graph", &edges));
    for (int i = 0; i < cJSON_GetArraySize(edges); i++) {
        const cJSON *e = cJSON_GetArrayItem(edges, i);
        const cJSON *a = cJSON_GetArrayItem(e, 0), *b = cJSON_GetArrayItem(e, 1);
        if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) != 2 || !cJSON_IsString(a) || !cJSON_IsString(b))
            return gc_fail(GC_ERR_FORMAT, "%s: field \"graph.role_graph[%d]\": expected [\"role\", \"role\"]", path, i);
        int ia = role_index(gs, a->valuestring), ib = role_index(gs, b->valuestring);
        if (ia < 0 || ib < 0)
            return gc_fail(GC_ERR_FORMAT, "%s: field \"graph.role_graph[%d]\": unknown role \"%s\"", path, i,
                           ia < 0 ? a->valuestring : b->valuestring);
        if (gs->n_edges == MAX_ROLE_EDGES) return gc_fail(GC_ERR_FORMAT, "%s: more than %d role edges", path, MAX_ROLE_EDGES);
        gs->edges[gs->n_edges][0] = ia;
        gs->edges[gs->n_edges++][1] = ib;
    }
    dec = cJSON_GetObjectItemCaseSensitive(g, "decision");
    if (!dec) return gc_fail(GC_ERR_FORMAT, "%s: field \"graph.decision\" is missing", path);
    GC_TRY(read_role(path, dec, &gs->decision));
    p->has_graph = true;
    return GC_OK;
}

void gc_prompts_free(gc_prompt_set *p) {
    if (!p) return;
    free(p->family); free(p->answer_instruction); free(p->text_context);
    for (int i = 0; i < p->n_tasks; i++) free(p->tasks[i]);
    free(p->tasks);
    free_role(&p->single);
    for (int i = 0; i < p->graph.n_roles; i++) { free_role(&p->graph.roles[i]); free(p->graph.descriptions[i]); }
    free_role(&p->graph.decision);
    mode_spec *ms[] = {&p->seq, &p->hier};
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < ms[k]->n_agents; i++) free_role(&ms[k]->agents[i]);
        free_role(&ms[k]->judger);
    }
    free(p);
}

static gc_status parse(const char *text, size_t len, const char *path, gc_prompt_set **out) {
    cJSON *root;
    GC_TRY(gc_json_parse(text, len, path, &root));
    gc_prompt_set *p = calloc(1, sizeof *p);
    gc_status s = p ? GC_OK : gc_fail(GC_ERR_OOM, "out of memory");
    const cJSON *single = NULL, *tasks = NULL;
    if (s == GC_OK) s = dup_str(path, root, "family", &p->family);
    if (s == GC_OK) s = dup_str(path, root, "answer_instruction", &p->answer_instruction);
    if (s == GC_OK) s = dup_str(path, root, "text_context", &p->text_context);
    if (s == GC_OK && !strstr(p->text_context, "{context}"))
        s = gc_fail(GC_ERR_FORMAT, "%s: field \"text_context\" must contain {context}", path);
    if (s == GC_OK) s = gc_json_req_object(path, root, "single", &single);
    if (s == GC_OK) s = read_role(path, single, &p->single);
    if (s == GC_OK) s = read_mode(path, root, "sequential", &p->seq);
    if (s == GC_OK) s = read_mode(path, root, "hierarchical", &p->hier);
    if (s == GC_OK) s = read_graph(path, root, p);
    if (s == GC_OK) s = gc_json_req_array(path, root, "tasks", &tasks);
    if (s == GC_OK) {
        int n = cJSON_GetArraySize(tasks);
        p->tasks = calloc((size_t)(n ? n : 1), sizeof *p->tasks);
        if (!p->tasks) s = gc_fail(GC_ERR_OOM, "out of memory");
        for (int i = 0; s == GC_OK && i < n; i++) {
            cJSON *t = cJSON_GetArrayItem(tasks, i);
            if (!cJSON_IsString(t)) s = gc_fail(GC_ERR_FORMAT, "%s: field \"tasks[%d]\": expected a string", path, i);
            else if (!(p->tasks[p->n_tasks++] = strdup(t->valuestring))) s = gc_fail(GC_ERR_OOM, "out of memory");
        }
    }
    cJSON_Delete(root);
    if (s != GC_OK) { gc_prompts_free(p); return s; }
    *out = p;
    return GC_OK;
}

gc_status gc_prompts_load(const char *name, gc_prompt_set **out) {
    *out = NULL;
    for (int i = 0; gc_embedded_prompts[i][0]; i++)
        if (strcmp(gc_embedded_prompts[i][0], name) == 0) {
            char label[96];
            snprintf(label, sizeof label, "prompts/%s.json (embedded)", name);
            return parse(gc_embedded_prompts[i][1], strlen(gc_embedded_prompts[i][1]), label, out);
        }
    size_t n = strlen(name);
    if (n < 5 || strcmp(name + n - 5, ".json") != 0)
        return gc_fail(GC_ERR_INVALID_ARG, "prompt set '%s': not an embedded family (math, choice, code) nor a .json file", name);
    char *text;
    size_t len;
    GC_TRY(gc_file_read_all(name, &text, &len));
    gc_status s = parse(text, len, name, out);
    free(text);
    return s;
}

gc_status gc_prompts_for_task(const char *task, gc_prompt_set **out) {
    *out = NULL;
    for (int i = 0; gc_embedded_prompts[i][0]; i++) {
        gc_prompt_set *p;
        GC_TRY(gc_prompts_load(gc_embedded_prompts[i][0], &p));
        for (int k = 0; k < p->n_tasks; k++)
            if (strcmp(p->tasks[k], task) == 0) { *out = p; return GC_OK; }
        gc_prompts_free(p);
    }
    return gc_fail(GC_ERR_INVALID_ARG, "no prompt set for task '%s'", task);
}

const char *gc_prompts_family(const gc_prompt_set *p) { return p->family; }

// Replaces every {key} of tmpl; returns malloc'd text or NULL on OOM.
static char *subst(const char *tmpl, const char *const *keys, const char *const *vals, int n) {
    size_t cap = strlen(tmpl) + 1;
    for (const char *c = tmpl; *c; c++)
        if (*c == '{')
            for (int k = 0; k < n; k++)
                if (strncmp(c + 1, keys[k], strlen(keys[k])) == 0 && c[1 + strlen(keys[k])] == '}') cap += strlen(vals[k]);
    char *out = malloc(cap), *w = out;
    if (!out) return NULL;
    for (const char *c = tmpl; *c;) {
        int hit = -1;
        if (*c == '{')
            for (int k = 0; k < n && hit < 0; k++)
                if (strncmp(c + 1, keys[k], strlen(keys[k])) == 0 && c[1 + strlen(keys[k])] == '}') hit = k;
        if (hit >= 0) {
            size_t vl = strlen(vals[hit]);
            memcpy(w, vals[hit], vl);
            w += vl;
            c += strlen(keys[hit]) + 2;
        } else {
            *w++ = *c++;
        }
    }
    *w = 0;
    return out;
}

// The chat-formatted prompt of one role. text_mode appends the text_context
// block (its {context} is filled in by the scheduler when the node starts).
gc_status gc_role_prompt(const gc_prompt_set *ps, const gc_mas_params *p, const role_t *r, const char *question,
                             bool text_mode, char **out) {
    const char *keys[] = {"question", "answer_instruction"};
    const char *vals[] = {question, ps->answer_instruction};
    char *user = subst(r->user, keys, vals, 2);
    if (!user) return gc_fail(GC_ERR_OOM, "out of memory");
    if (text_mode) {
        char *u2 = malloc(strlen(user) + strlen(ps->text_context) + 1);
        if (!u2) { free(user); return gc_fail(GC_ERR_OOM, "out of memory"); }
        strcpy(u2, user);
        strcat(u2, ps->text_context);
        free(user);
        user = u2;
    }
    gc_chat_msg msgs[2] = {{"system", r->system}, {"user", user}};
    gc_chat_opts co = {.add_generation_prompt = true, .enable_thinking = p->think};
    char *text;
    gc_status s = gc_chat_format(p->style, msgs, 2, &co, &text, NULL);
    free(user);
    GC_TRY(s);
    if (p->think && p->style != GC_CHAT_QWEN3) {
        char *t2 = malloc(strlen(text) + 10);
        if (!t2) { free(text); return gc_fail(GC_ERR_OOM, "out of memory"); }
        strcpy(t2, text);
        strcat(t2, "<think>\n");
        free(text);
        text = t2;
    }
    *out = text;
    return GC_OK;
}
