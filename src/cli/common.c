#include "cli/cli.h"
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

int cli_opt_str(int argc, char **argv, int *i, const char *name, const char **out) {
    size_t nl = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, nl) != 0) return 0;
    if (a[nl] == '=') { *out = a + nl + 1; return 1; }
    if (a[nl] != 0) return 0;
    if (*i + 1 >= argc) { fprintf(stderr, "gcache: option %s needs a value\n", name); return -1; }
    *out = argv[++*i];
    return 1;
}

int cli_opt_int(int argc, char **argv, int *i, const char *name, long long lo, long long hi, long long *out) {
    const char *v;
    int r = cli_opt_str(argc, argv, i, name, &v);
    if (r <= 0) return r;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "gcache: option %s expects an integer in [%lld, %lld], got '%s'\n", name, lo, hi, v);
        return -1;
    }
    *out = x;
    return 1;
}

int cli_opt_float(int argc, char **argv, int *i, const char *name, double lo, double hi, double *out) {
    const char *v;
    int r = cli_opt_str(argc, argv, i, name, &v);
    if (r <= 0) return r;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(x) || x < lo || x > hi) {
        fprintf(stderr, "gcache: option %s expects a number in [%g, %g], got '%s'\n", name, lo, hi, v);
        return -1;
    }
    *out = x;
    return 1;
}

int cli_opt_flag(char **argv, int *i, const char *name, bool *out) {
    if (strcmp(argv[*i], name) != 0) return 0;
    *out = true;
    return 1;
}

int cli_error(const char *cmd, gc_status s) {
    fprintf(stderr, "gcache %s: %s (%s)\n", cmd, gc_last_error(), gc_status_name(s));
    return 1;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "gcache %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(see 'gcache %s --help')\n", cmd);
    va_end(ap);
    return 2;
}

int cli_open(const char *cmd, const char *path, gc_model **m, gc_engine **e) {
    gc_status s = gc_model_load(path, m);
    if (s != GC_OK) return cli_error(cmd, s);
    s = gc_engine_new(*m, NULL, e);
    if (s != GC_OK) { gc_model_free(*m); return cli_error(cmd, s); }
    return 0;
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

bool cli_run_tool(char *const argv[]) {
    pid_t pid = fork();
    if (pid == 0) {
        execvp(argv[0], argv);
        _exit(127);
    }
    int st = 0;
    return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}
