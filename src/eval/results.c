// DIR/results.jsonl: one line per finished question, appended with a single
// write() and fsync'ed, so that a kill loses at most the line in flight;
// that line, left without its '\n', is cut off when the file is resumed.
#define _GNU_SOURCE
#include "gcache/eval.h"
#include "core/error.h"
#include "core/file.h"
#include "core/json.h"
#include "eval/results_internal.h"
#include "eval/strset.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct gc_results {
    char *path;
    int fd;
    gc_strset done;
    char note[512];
};

static gc_status mkdir_p(const char *dir) {
    char *p = strdup(dir);
    if (!p) return gc_fail(GC_ERR_OOM, "out of memory");
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s) continue;
        char c = *s;
        *s = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            gc_status st = gc_fail(GC_ERR_IO, "%s: cannot create directory: %s", p, strerror(errno));
            free(p);
            return st;
        }
        if (!c) break;
        *s = c;
    }
    free(p);
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) return gc_fail(GC_ERR_IO, "%s: not a directory", dir);
    return GC_OK;
}

static gc_status read_fd(int fd, const char *path, char **out, size_t *len) {
    struct stat st;
    if (fstat(fd, &st) != 0) return gc_fail(GC_ERR_IO, "%s: stat: %s", path, strerror(errno));
    size_t n = (size_t)st.st_size, got = 0;
    char *buf = malloc(n + 1);
    if (!buf) return gc_fail(GC_ERR_OOM, "%s: out of memory (%zu bytes)", path, n);
    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, (off_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) { free(buf); return gc_fail(GC_ERR_IO, "%s: read error", path); }
        got += (size_t)r;
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return GC_OK;
}

// Parses one line; *id points into *obj. ctx is "<file>:<line>".
static gc_status parse_line(const char *ctx, const char *s, size_t n, cJSON **obj, const char **id) {
    GC_TRY(gc_json_parse(s, n, ctx, obj));
    gc_status st = GC_OK;
    if (!cJSON_IsObject(*obj)) st = gc_fail(GC_ERR_FORMAT, "%s: expected a JSON object", ctx);
    else st = gc_json_req_string(ctx, *obj, "id", id);
    if (st != GC_OK) { cJSON_Delete(*obj); *obj = NULL; }
    return st;
}

gc_status gc_results_each_line(const char *path, const char *d, size_t len, gc_results_line_fn fn, void *user,
                               size_t *tail_at, int64_t *tail_line) {
    size_t pos = 0;
    int64_t line = 1;
    for (; pos < len; line++) {
        const char *nl = memchr(d + pos, '\n', len - pos);
        if (!nl) break;
        size_t e = (size_t)(nl - d);
        size_t a = pos;
        while (a < e && (d[a] == ' ' || d[a] == '\t' || d[a] == '\r')) a++;
        if (a < e) {
            char ctx[600];
            snprintf(ctx, sizeof ctx, "%s:%lld", path, (long long)line);
            cJSON *obj;
            const char *id;
            GC_TRY(parse_line(ctx, d + pos, e - pos, &obj, &id));
            gc_status st = fn(user, obj, id);
            cJSON_Delete(obj);
            GC_TRY(st);
        }
        pos = e + 1;
    }
    *tail_at = pos;
    *tail_line = line;
    return GC_OK;
}

static gc_status add_done(void *user, const cJSON *obj, const char *id) {
    gc_results *r = user;
    return gc_strset_add(&r->done, id) < 0 ? gc_fail(GC_ERR_OOM, "out of memory") : GC_OK;
}

static bool write_all(int fd, const char *s, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        s += w;
        n -= (size_t)w;
    }
    return true;
}

// RESUME: collects finished ids; a torn last line is truncated away, a
// complete object that only lacks its '\n' gets one.
static gc_status resume(gc_results *r) {
    char *d = NULL;
    size_t len = 0, tail = 0;
    int64_t tail_line = 0;
    GC_TRY(read_fd(r->fd, r->path, &d, &len));
    gc_status st = gc_results_each_line(r->path, d, len, add_done, r, &tail, &tail_line);
    if (st == GC_OK && tail < len) {
        size_t a = tail;
        while (a < len && (d[a] == ' ' || d[a] == '\t' || d[a] == '\r')) a++;
        cJSON *obj = NULL;
        const char *id;
        char ctx[600];
        snprintf(ctx, sizeof ctx, "%s:%lld", r->path, (long long)tail_line);
        if (a < len && parse_line(ctx, d + tail, len - tail, &obj, &id) == GC_OK) {
            if (gc_strset_add(&r->done, id) < 0) st = gc_fail(GC_ERR_OOM, "out of memory");
            else if (pwrite(r->fd, "\n", 1, (off_t)len) != 1 || fsync(r->fd) != 0)
                st = gc_fail(GC_ERR_IO, "%s: cannot complete the last line: %s", r->path, strerror(errno));
            else
                snprintf(r->note, sizeof r->note, "%s:%lld: last line lacked its newline; completed", r->path,
                         (long long)tail_line);
            cJSON_Delete(obj);
        } else {
            gc_clear_error();
            if (ftruncate(r->fd, (off_t)tail) != 0 || fsync(r->fd) != 0)
                st = gc_fail(GC_ERR_IO, "%s: cannot truncate the torn last line: %s", r->path, strerror(errno));
            else
                snprintf(r->note, sizeof r->note, "%s:%lld: dropped %zu bytes of a torn last line", r->path,
                         (long long)tail_line, len - tail);
        }
    }
    free(d);
    return st;
}

gc_status gc_results_open(const char *dir, gc_results_mode mode, gc_results **out) {
    *out = NULL;
    GC_TRY(mkdir_p(dir));
    gc_results *r = calloc(1, sizeof *r);
    if (!r) return gc_fail(GC_ERR_OOM, "out of memory");
    r->fd = -1;
    r->path = gc_path_join(dir, "results.jsonl");
    gc_status st = GC_OK;
    if (!r->path) { st = gc_fail(GC_ERR_OOM, "out of memory"); goto fail; }
    r->fd = open(r->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (r->fd < 0) { st = gc_fail(GC_ERR_IO, "%s: cannot open: %s", r->path, strerror(errno)); goto fail; }
    if (flock(r->fd, LOCK_EX | LOCK_NB) != 0) {
        st = gc_fail(GC_ERR_IO, "%s: %s", r->path,
                     errno == EWOULDBLOCK ? "another run is writing this file" : strerror(errno));
        goto fail;
    }
    struct stat sb;
    if (fstat(r->fd, &sb) != 0) { st = gc_fail(GC_ERR_IO, "%s: stat: %s", r->path, strerror(errno)); goto fail; }
    if (mode == GC_RESULTS_NEW && sb.st_size > 0) {
        st = gc_fail(GC_ERR_IO, "%s: already holds %lld bytes of results (resume or overwrite?)", r->path,
                     (long long)sb.st_size);
        goto fail;
    }
    if (mode == GC_RESULTS_OVERWRITE && ftruncate(r->fd, 0) != 0) {
        st = gc_fail(GC_ERR_IO, "%s: truncate: %s", r->path, strerror(errno));
        goto fail;
    }
    if (mode == GC_RESULTS_RESUME && (st = resume(r)) != GC_OK) goto fail;
    int fl = fcntl(r->fd, F_GETFL);
    if (fl < 0 || fcntl(r->fd, F_SETFL, fl | O_APPEND) != 0) {
        st = gc_fail(GC_ERR_IO, "%s: fcntl: %s", r->path, strerror(errno));
        goto fail;
    }
    *out = r;
    return GC_OK;
fail:
    gc_results_close(r);
    return st;
}

bool gc_results_done(const gc_results *r, const char *id) { return r && id && gc_strset_has(&r->done, id); }
size_t gc_results_done_count(const gc_results *r) { return r ? r->done.n : 0; }
const char *gc_results_note(const gc_results *r) { return r ? r->note : ""; }

gc_status gc_results_append(gc_results *r, const cJSON *line) {
    const cJSON *id = cJSON_IsObject(line) ? cJSON_GetObjectItemCaseSensitive(line, "id") : NULL;
    if (!cJSON_IsString(id) || !id->valuestring)
        return gc_fail(GC_ERR_INVALID_ARG, "%s: a results line needs a string \"id\"", r->path);
    char *text = cJSON_PrintUnformatted(line);
    if (!text) return gc_fail(GC_ERR_OOM, "%s: out of memory", r->path);
    size_t n = strlen(text);
    char *buf = realloc(text, n + 2);
    if (!buf) { free(text); return gc_fail(GC_ERR_OOM, "%s: out of memory", r->path); }
    buf[n] = '\n';
    buf[n + 1] = 0;
    struct stat sb;
    off_t before = fstat(r->fd, &sb) == 0 ? sb.st_size : -1;
    gc_status st = GC_OK;
    if (!write_all(r->fd, buf, n + 1) || fsync(r->fd) != 0) {
        st = gc_fail(GC_ERR_IO, "%s: write failed: %s", r->path, strerror(errno));
        if (before >= 0 && ftruncate(r->fd, before) != 0) {}  // keep the file whole if we can
    } else if (gc_strset_add(&r->done, id->valuestring) < 0) {
        st = gc_fail(GC_ERR_OOM, "out of memory");
    }
    free(buf);
    return st;
}

void gc_results_close(gc_results *r) {
    if (!r) return;
    if (r->fd >= 0) close(r->fd);  // releases the lock
    gc_strset_free(&r->done);
    free(r->path);
    free(r);
}
