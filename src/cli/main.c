// gcache — command-line entry point.
#include "cli/cli.h"
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "gcache %d.%d.%d — graph-guided KV-cache communication between LLM agents\n\n"
            "usage: gcache <command> [options]   (gcache <command> --help for details)\n\n"
            "commands:\n"
            "  run       evaluate a method (single, textmas, latentmas, gcache, api) on a task file\n"
            "  generate  generate text from a prompt (streams, ends with tokens/s)\n"
            "  chat      interactive chat in the terminal\n"
            "  info      describe a model (HF folder or GGUF file)\n"
            "  trace     run a conformance trace program, print JSON\n"
            "  bench     measure prefill and decode speed\n"
            "  plot      draw training curves (SVG, PNG) from a training log\n"
            "  graph     draw the learned topology (Graphviz) of a training run\n"
            "  serve     serve a model on an OpenAI-compatible HTTP API\n",
            GC_VERSION_MAJOR, GC_VERSION_MINOR, GC_VERSION_PATCH);
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("gcache %d.%d.%d\n", GC_VERSION_MAJOR, GC_VERSION_MINOR, GC_VERSION_PATCH);
        return 0;
    }
    struct { const char *name; int (*fn)(int, char **); } cmds[] = {
        {"run", cmd_run}, {"generate", cmd_generate}, {"chat", cmd_chat}, {"info", cmd_info},
        {"trace", cmd_trace}, {"bench", cmd_bench}, {"plot", cmd_plot}, {"graph", cmd_graph},
        {"serve", cmd_serve},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
        if (strcmp(argv[1], cmds[i].name) == 0) return cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "gcache: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
