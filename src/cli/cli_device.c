#include "cli/cli_device.h"
#include "cli/cli.h"
#include <string.h>

int cli_default_device(void) { return gc_engine_cuda_available() ? GC_DEVICE_CUDA : GC_DEVICE_CPU; }

int cli_opt_device(int argc, char **argv, int *i, int *device) {
    const char *v;
    int r = cli_opt_str(argc, argv, i, "--device", &v);
    if (r <= 0) return r;
    if (strcmp(v, "cuda") == 0) *device = GC_DEVICE_CUDA;
    else if (strcmp(v, "cpu") == 0) *device = GC_DEVICE_CPU;
    else {
        fprintf(stderr, "gcache: option --device expects cuda or cpu, got '%s'\n", v);
        return -1;
    }
    return 1;
}

int cli_opt_threads(int argc, char **argv, int *i, int *threads) {
    long long v;
    int r = cli_opt_int(argc, argv, i, "--threads", 0, 256, &v);
    if (r > 0) *threads = (int)v;
    return r;
}

int cli_open_on(const char *cmd, const char *path, int device, int n_threads, bool exact, gc_model **m, gc_engine **e) {
    gc_status s = gc_model_load(path, m);
    if (s != GC_OK) return cli_error(cmd, s);
    gc_engine_params p = gc_engine_default_params();
    p.device = device;
    p.n_threads = n_threads;
    p.exact = exact;
    s = gc_engine_new(*m, &p, e);
    if (s != GC_OK) { gc_model_free(*m); return cli_error(cmd, s); }
    return 0;
}
