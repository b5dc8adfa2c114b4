// gcache graph --checkpoint DIR --out FILE.svg|.png [--min-prob P]
// Draws the learned edge probabilities (last training iteration, mean over
// its batch) with Graphviz: one node per agent (role), edge width ∝ p.
#include "cli/cli.h"
#include "core/file.h"
#include "core/json.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// Last well-formed line of a JSONL file, parsed.
static cJSON *last_record(const char *path) {
    char *text;
    size_t len;
    if (gc_file_read_all(path, &text, &len) != GC_OK) return NULL;
    cJSON *best = NULL;
    for (char *save = NULL, *ln = strtok_r(text, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save)) {
        cJSON *o = cJSON_Parse(ln);
        if (o && cJSON_GetObjectItemCaseSensitive(o, "edge_probs")) { cJSON_Delete(best); best = o; }
        else cJSON_Delete(o);
    }
    free(text);
    return best;
}

int cmd_graph(int argc, char **argv) {
    const char *dir = NULL, *out = NULL;
    double min_p = 0.05;
    for (int i = 1; i < argc; i++) {
        int r;
        if (strcmp(argv[i], "--help") == 0) {
            printf("usage: gcache graph --checkpoint DIR --out FILE.svg|FILE.png [--min-prob P]\n\n"
                   "Draws the learned communication topology of a `gcache run --method gcache` run:\n"
                   "agents as nodes (with their roles), spatial edges with width and label = their\n"
                   "probability at the last training iteration; edges below P (default 0.05) are omitted.\n"
                   "Needs Graphviz's `dot` (Debian package graphviz).\n\n"
                   "example: gcache graph --checkpoint runs/gsm8k --out runs/gsm8k/topology.svg\n");
            return 0;
        }
        if ((r = cli_opt_str(argc, argv, &i, "--checkpoint", &dir)) < 0) return 2;
        if (r) continue;
        if ((r = cli_opt_str(argc, argv, &i, "--out", &out)) < 0) return 2;
        if (r) continue;
        if ((r = cli_opt_float(argc, argv, &i, "--min-prob", 0, 1, &min_p)) < 0) return 2;
        if (r) continue;
        return cli_usage_error("graph", "unknown option '%s'", argv[i]);
    }
    if (!dir || !out) return cli_usage_error("graph", "--checkpoint and --out are required");
    char *logp = gc_path_join(dir, "train_log.jsonl");
    if (logp && !gc_file_exists(logp)) {
        fprintf(stderr, "gcache graph: file not found: %s (a `gcache run --method gcache --topology Learned` run "
                        "writes it into its --out or --checkpoint folder)\n", logp);
        free(logp);
        return 1;
    }
    cJSON *rec = logp ? last_record(logp) : NULL;
    if (!rec) {
        fprintf(stderr, "gcache graph: %s: no training record with edge probabilities\n", logp ? logp : dir);
        free(logp);
        return 1;
    }
    const cJSON *ep = cJSON_GetObjectItemCaseSensitive(rec, "edge_probs");
    const cJSON *roles = cJSON_GetObjectItemCaseSensitive(rec, "roles");
    int n = cJSON_GetArraySize(ep);
    char dotpath[] = "/tmp/gcache-graph-XXXXXX";
    int fd = mkstemp(dotpath);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) { fprintf(stderr, "gcache graph: cannot create a temporary file\n"); cJSON_Delete(rec); free(logp); return 1; }
    fprintf(f, "digraph topology {\n  rankdir=LR; node [shape=box, style=rounded, fontname=\"sans-serif\"];\n"
               "  edge [fontname=\"sans-serif\", fontsize=10];\n  label=\"learned edge probabilities (iteration %d)\";\n",
            cJSON_GetObjectItemCaseSensitive(rec, "iter") ? cJSON_GetObjectItemCaseSensitive(rec, "iter")->valueint : -1);
    for (int i = 0; i < n; i++) {
        const cJSON *r = cJSON_GetArrayItem(roles, i);
        fprintf(f, "  a%d [label=\"%d: %s\"];\n", i, i, cJSON_IsString(r) ? r->valuestring : "agent");
    }
    for (int i = 0; i < n; i++) {
        const cJSON *row = cJSON_GetArrayItem(ep, i);
        for (int j = 0; j < n; j++) {
            double p = cJSON_GetArrayItem(row, j) ? cJSON_GetArrayItem(row, j)->valuedouble : 0;
            if (i == j || p < min_p) continue;
            fprintf(f, "  a%d -> a%d [label=\"%.2f\", penwidth=%.2f, color=\"#1f77b4%02x\"];\n", i, j, p, 0.5 + 4 * p,
                    (int)(55 + 200 * p));
        }
    }
    fputs("}\n", f);
    fclose(f);
    cJSON_Delete(rec);
    free(logp);
    const char *ext = strrchr(out, '.');
    const char *fmt = ext && strcmp(ext, ".png") == 0 ? "-Tpng" : "-Tsvg";
    char *dot[] = {"dot", (char *)fmt, "-o", (char *)out, dotpath, NULL};
    int rc = 0;
    if (!cli_run_tool(dot)) {
        fprintf(stderr, "gcache graph: Graphviz `dot` failed (apt-get install graphviz)\n");
        rc = 1;
    } else {
        fprintf(stderr, "gcache graph: wrote %s\n", out);
    }
    unlink(dotpath);
    return rc;
}
