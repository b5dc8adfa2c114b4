// Request ids, seeds and the per-request log line of `gcache serve`.
#include "api/server_internal.h"
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

double srv_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

uint64_t srv_fresh_seed(void) {
    uint64_t x = 0;
    if (getrandom(&x, sizeof x, 0) != (ssize_t)sizeof x) {
        // No entropy source: the clock's nanoseconds, mixed (splitmix64's finaliser).
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        x = (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec;
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
        x ^= x >> 31;
    }
    return x;
}

// "chatcmpl-" + the server's random nonce + a counter: unique per server
// start, and ordered within one.
void srv_new_id(gc_server *S, char *id) {
    pthread_mutex_lock(&S->mu);
    const unsigned long long k = ++S->next_id;
    pthread_mutex_unlock(&S->mu);
    snprintf(id, 48, "chatcmpl-%08x%06llx", (unsigned)S->id_nonce, k);
}

static const char *finish_name(int f) {
    return f < 0 ? "-" : f == GC_FINISH_LENGTH ? "length" : "stop";
}

void srv_log_job(gc_server *S, const srv_job *j) {
    if (!S->o.log) return;
    char fin[96] = "";
    size_t w = 0;
    for (int c = 0; c < j->n && w + 8 < sizeof fin; c++)
        w += (size_t)snprintf(fin + w, sizeof fin - w, "%s%s", c ? "," : "", finish_name(j->ch[c].finish));
    char status[32];
    if (j->client_gone) snprintf(status, sizeof status, "cancelled(client-closed)");
    else snprintf(status, sizeof status, "%u", j->err_status ? j->err_status : 200u);
    const double queue = (j->t_start > 0 ? j->t_start : j->t_done) - j->t_queued;
    // One fprintf: stdio locks the stream, so lines from threads do not interleave.
    fprintf(S->o.log,
            "gcache serve: %s %s model=%s prompt=%lld completion=%lld n=%d stream=%d seed=%llu queue=%.3fs "
            "total=%.3fs finish=%s%s%s\n",
            j->id, status, j->question ? "graph" : "local", (long long)j->usage_prompt, (long long)j->usage_completion,
            j->n, j->stream ? 1 : 0, (unsigned long long)j->sampling.seed, queue, j->t_done - j->t_queued, fin,
            j->err_status ? " error: " : "", j->err_status ? j->err_msg : "");
    fflush(S->o.log);
}
