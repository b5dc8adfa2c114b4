// gcache plot --log TRAIN_LOG.jsonl --out curves.svg [--png curves.png]
#include "cli/cli.h"
#include "cli/svg_plot.h"
#include "core/file.h"
#include "core/json.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SERIES 160

typedef struct curves {
    int n, cap, n_edges, n_gates, n_agents;
    double *util, *loss, *base;
    double *edge[MAX_SERIES];
    double *gate[MAX_SERIES];
} curves;

static int grow(curves *c) {
    if (c->n < c->cap) return 0;
    int cap = c->cap ? c->cap * 2 : 64;
    double **all[3 + 2 * MAX_SERIES];
    int k = 0;
    all[k++] = &c->util; all[k++] = &c->loss; all[k++] = &c->base;
    for (int i = 0; i < MAX_SERIES; i++) { all[k++] = &c->edge[i]; all[k++] = &c->gate[i]; }
    for (int i = 0; i < k; i++) {
        double *p = realloc(*all[i], (size_t)cap * sizeof(double));
        if (!p) return -1;
        for (int j = c->cap; j < cap; j++) p[j] = NAN;
        *all[i] = p;
    }
    c->cap = cap;
    return 0;
}

static double num(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static int read_log(const char *path, curves *c) {
    char *text;
    size_t len;
    gc_status s = gc_file_read_all(path, &text, &len);
    if (s != GC_OK) return cli_error("plot", s);
    int line = 0, rc = 0;
    for (char *save = NULL, *ln = strtok_r(text, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save)) {
        line++;
        cJSON *o;
        if (gc_json_parse(ln, strlen(ln), path, &o) != GC_OK) {
            fprintf(stderr, "gcache plot: %s:%d: not JSON, skipped (%s)\n", path, line, gc_last_error());
            continue;
        }
        if (grow(c)) { rc = 1; cJSON_Delete(o); break; }
        int i = c->n++;
        c->util[i] = num(o, "utility");
        c->loss[i] = num(o, "loss");
        c->base[i] = num(o, "baseline");
        const cJSON *ep = cJSON_GetObjectItemCaseSensitive(o, "edge_probs");
        int na = cJSON_GetArraySize(ep), e = 0;
        if (na > c->n_agents) c->n_agents = na;
        for (int a = 0; a < na; a++) {
            const cJSON *row = cJSON_GetArrayItem(ep, a);
            for (int b = 0; b < cJSON_GetArraySize(row); b++)
                if (a != b && e < MAX_SERIES) c->edge[e++][i] = cJSON_GetArrayItem(row, b)->valuedouble;
        }
        if (e > c->n_edges) c->n_edges = e;
        const cJSON *gp = cJSON_GetObjectItemCaseSensitive(o, "gate_probs");
        int ng = cJSON_GetArraySize(gp);
        for (int g = 0; g < ng && g < MAX_SERIES; g++) c->gate[g][i] = cJSON_GetArrayItem(gp, g)->valuedouble;
        if (ng > c->n_gates) c->n_gates = ng < MAX_SERIES ? ng : MAX_SERIES;
        cJSON_Delete(o);
    }
    free(text);
    if (!rc && c->n == 0) {
        fprintf(stderr, "gcache plot: %s: no training records\n", path);
        rc = 1;
    }
    return rc;
}

int cmd_plot(int argc, char **argv) {
    const char *log = NULL, *out = NULL, *png = NULL;
    for (int i = 1; i < argc; i++) {
        int r;
        if (strcmp(argv[i], "--help") == 0) {
            printf("usage: gcache plot --log TRAIN_LOG.jsonl --out curves.svg [--png curves.png]\n\n"
                   "Draws the training curves of a `gcache run --method gcache` training log: utility,\n"
                   "baseline and loss; every spatial edge probability; every layer-gate probability.\n"
                   "--png also renders a PNG (needs rsvg-convert from Debian's librsvg2-bin).\n\n"
                   "example: gcache plot --log runs/gsm8k/train_log.jsonl --out runs/gsm8k/curves.svg\n");
            return 0;
        }
        if ((r = cli_opt_str(argc, argv, &i, "--log", &log)) < 0) return 2;
        if (r) continue;
        if ((r = cli_opt_str(argc, argv, &i, "--out", &out)) < 0) return 2;
        if (r) continue;
        if ((r = cli_opt_str(argc, argv, &i, "--png", &png)) < 0) return 2;
        if (r) continue;
        return cli_usage_error("plot", "unknown option '%s'", argv[i]);
    }
    if (!log || !out) return cli_usage_error("plot", "--log and --out are required");
    curves c;
    memset(&c, 0, sizeof c);
    int rc = read_log(log, &c);
    FILE *f = rc ? NULL : fopen(out, "w");
    if (!rc && !f) { fprintf(stderr, "gcache plot: cannot write %s\n", out); rc = 1; }
    if (!rc) {
        svg_begin(f, 900, 820);
        svg_series top[] = {{"utility (batch mean)", c.util}, {"baseline", c.base}, {"loss", c.loss}};
        svg_panel(f, 0, 0, 900, 260, "utility and loss", top, 3, c.n, 0, 0);
        svg_series es[MAX_SERIES];
        char labels[MAX_SERIES][32];
        int e = 0;
        for (int a = 0; a < c.n_agents; a++)
            for (int b = 0; b < c.n_agents; b++)
                if (a != b && e < c.n_edges) {
                    snprintf(labels[e], sizeof labels[e], "%d->%d", a, b);
                    es[e] = (svg_series){labels[e], c.edge[e]};
                    e++;
                }
        svg_panel(f, 0, 270, 900, 270, "spatial edge probabilities", es, c.n_edges, c.n, 0, 1);
        svg_series gs[MAX_SERIES];
        char gl[MAX_SERIES][32];
        for (int g = 0; g < c.n_gates; g++) {
            snprintf(gl[g], sizeof gl[g], "layer %d", g);
            gs[g] = (svg_series){gl[g], c.gate[g]};
        }
        svg_panel(f, 0, 550, 900, 270, "layer gate probabilities", gs, c.n_gates, c.n, 0, 1);
        svg_end(f);
        if (fclose(f) != 0) { fprintf(stderr, "gcache plot: write error on %s\n", out); rc = 1; }
        else fprintf(stderr, "gcache plot: wrote %s (%d iterations)\n", out, c.n);
    }
    if (!rc && png) {
        char *conv[] = {"rsvg-convert", "-o", (char *)png, (char *)out, NULL};
        if (!cli_run_tool(conv)) {
            fprintf(stderr, "gcache plot: could not render %s (is rsvg-convert installed? apt-get install librsvg2-bin)\n", png);
            rc = 1;
        }
    }
    free(c.util); free(c.loss); free(c.base);
    for (int i = 0; i < MAX_SERIES; i++) { free(c.edge[i]); free(c.gate[i]); }
    return rc;
}
