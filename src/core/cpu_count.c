// The default thread count: CPUs this process may run on.
#define _GNU_SOURCE   // sched_getaffinity, CPU_COUNT
#include "core/threads.h"
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// CPUs allowed by a quota/period pair (rounded up), or 0 for no limit.
static int quota_cpus(long long quota, long long period) {
    if (quota <= 0 || period <= 0) return 0;
    long long n = (quota + period - 1) / period;
    return n > GC_POOL_MAX_THREADS ? GC_POOL_MAX_THREADS : (int)n;
}

// cgroup v2: "<quota> <period>" or "max <period>" in <dir>/cpu.max.
static int v2_limit(const char *dir) {
    char path[4200];
    snprintf(path, sizeof path, "%s/cpu.max", dir);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char q[32] = "";
    long long period = 0;
    int got = fscanf(f, "%31s %lld", q, &period);
    fclose(f);
    if (got != 2 || strcmp(q, "max") == 0) return 0;
    return quota_cpus(atoll(q), period);
}

// cgroup v1: cpu.cfs_quota_us (-1: none) and cpu.cfs_period_us in dir.
static int v1_limit(const char *dir) {
    char path[4200];
    long long quota = -1, period = 0;
    snprintf(path, sizeof path, "%s/cpu.cfs_quota_us", dir);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    if (fscanf(f, "%lld", &quota) != 1) quota = -1;
    fclose(f);
    snprintf(path, sizeof path, "%s/cpu.cfs_period_us", dir);
    if (!(f = fopen(path, "r"))) return 0;
    if (fscanf(f, "%lld", &period) != 1) period = 0;
    fclose(f);
    return quota_cpus(quota, period);
}

// The smallest limit of the cgroup at rel (under root + mount) and its ancestors.
static int walk_limit(const char *root_dir, const char *mount, const char *rel, int (*limit)(const char *)) {
    char dir[4200];
    int best = 0;
    snprintf(dir, sizeof dir, "%s%s%s", root_dir, mount, strcmp(rel, "/") == 0 ? "" : rel);
    size_t root = strlen(root_dir) + strlen(mount);
    for (;;) {
        int n = limit(dir);
        if (n > 0 && (best == 0 || n < best)) best = n;
        char *slash = strrchr(dir, '/');
        if (!slash || (size_t)(slash - dir) < root) break;
        *slash = '\0';
    }
    return best;
}

int gc_cgroup_cpu_limit(const char *root) {
    char path[4200];
    snprintf(path, sizeof path, "%s/proc/self/cgroup", root);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[4096];
    int best = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        // "<id>:<controllers>:<path>"
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2) continue;
        *c2 = '\0';
        const char *ctrl = c1 + 1, *rel = c2 + 1;
        if (rel[0] != '/') continue;
        int n = 0;
        if (ctrl[0] == '\0') {
            n = walk_limit(root, "/sys/fs/cgroup", rel, v2_limit);
        } else {
            char list[256];
            snprintf(list, sizeof list, ",%s,", ctrl);
            if (strstr(list, ",cpu,")) {
                n = walk_limit(root, "/sys/fs/cgroup/cpu", rel, v1_limit);
                if (n == 0) n = walk_limit(root, "/sys/fs/cgroup/cpu,cpuacct", rel, v1_limit);
            }
        }
        if (n > 0 && (best == 0 || n < best)) best = n;
    }
    fclose(f);
    return best;
}

int gc_threads_default(void) {
    int n = 1;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
    else n = (int)sysconf(_SC_NPROCESSORS_ONLN);   // more CPUs than cpu_set_t holds
    int q = gc_cgroup_cpu_limit("");
    if (q > 0 && q < n) n = q;
    if (n < 1) n = 1;
    return n > GC_POOL_MAX_THREADS ? GC_POOL_MAX_THREADS : n;
}
