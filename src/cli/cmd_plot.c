// gcache plot --log TRAIN_LOG.jsonl --out curves.svg [--png curves.png]
// The curves are drawn by tools/plot_training.py (matplotlib); this command
// runs it from the source tree the binary was built from, with the project's
// Python (.cache/venv, where `make plot-deps` installs matplotlib).
#include "cli/cli.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef GC_SOURCE_DIR
#error "GC_SOURCE_DIR (the source tree, for tools/) is set by CMakeLists.txt"
#endif

int cmd_plot(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--help") == 0) {
        printf("usage: gcache plot --log TRAIN_LOG.jsonl --out curves.svg [--png curves.png]\n\n"
               "Draws the training curves of a `gcache run --method gcache --topology Learned` run\n"
               "(its OUT/train_log.jsonl): utility and baseline, the loss, the spatial edge\n"
               "probabilities (one curve per agent pair: i->j and j->i are equal), and the layer gates\n"
               "(their mean and the band from the lowest to the highest layer).\n"
               "Runs %s/tools/plot_training.py with %s/.cache/venv/bin/python\n"
               "(matplotlib; `make plot-deps` installs it), or python3 when there is no venv.\n\n"
               "example: gcache plot --log runs/gc/train_log.jsonl --out runs/gc/curves.svg --png runs/gc/curves.png\n",
               GC_SOURCE_DIR, GC_SOURCE_DIR);
        return 0;
    }
    const char *venv = GC_SOURCE_DIR "/.cache/venv/bin/python";
    char *args[64];
    if (argc > 60) return cli_usage_error("plot", "too many arguments");
    int k = 0;
    args[k++] = (char *)(access(venv, X_OK) == 0 ? venv : "python3");
    args[k++] = (char *)GC_SOURCE_DIR "/tools/plot_training.py";
    for (int i = 1; i < argc; i++) args[k++] = argv[i];
    args[k] = NULL;
    if (access(args[1], R_OK) != 0) {
        fprintf(stderr, "gcache plot: file not found: %s (the source tree this binary was built from)\n", args[1]);
        return 1;
    }
    return cli_run_tool(args) ? 0 : 1;
}
