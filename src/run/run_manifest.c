// OUT/run.json: what produced the results in OUT — method, task, dataset and
// model (path, size and an FNV-1a fingerprint), the API model, and the
// settings that change a question's result. Written when a run starts; a
// --resume into OUT compares it with the new run and refuses to mix records
// of different runs. summary.json carries a copy.
//
// Fingerprints are cheap identity checks, not security: a dataset is hashed
// whole (a few MB at most), a model file by its size and first MiB (the GGUF
// header and metadata, or the safetensors header), a model folder by its
// config.json and the names and sizes of its files.
#define _GNU_SOURCE
#include "run/run_internal.h"
#include "core/error.h"
#include "core/file.h"
#include "core/hash.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MODEL_HEAD_BYTES ((size_t)1 << 20)

// Size and FNV-1a of the first `limit` bytes of a regular file (limit 0: all).
static bool file_print(const char *path, size_t limit, uint64_t *bytes, uint64_t *fnv) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) { close(fd); return false; }
    *bytes = (uint64_t)st.st_size;
    uint64_t h = GC_FNV_INIT;
    char buf[65536];
    size_t left = limit ? limit : (size_t)-1;
    while (left > 0) {
        ssize_t r = read(fd, buf, left < sizeof buf ? left : sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        h = gc_fnv1a(h, buf, (size_t)r);
        left -= (size_t)r;
    }
    close(fd);
    *fnv = h;
    return true;
}

static int by_name(const struct dirent **a, const struct dirent **b) { return strcmp((*a)->d_name, (*b)->d_name); }

// A model folder: config.json's bytes, then each file's name and size in name order.
static bool dir_print(const char *dir, uint64_t *bytes, uint64_t *fnv) {
    struct dirent **list = NULL;
    int n = scandir(dir, &list, NULL, by_name);
    if (n < 0) return false;
    uint64_t h = GC_FNV_INIT, total = 0, cb, cf;
    char *cfg = gc_path_join(dir, "config.json");
    if (cfg && file_print(cfg, 0, &cb, &cf)) h = gc_fnv1a(h, &cf, sizeof cf);
    free(cfg);
    for (int i = 0; i < n; i++) {
        char *p = list[i]->d_name[0] != '.' ? gc_path_join(dir, list[i]->d_name) : NULL;
        struct stat st;
        if (p && stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
            uint64_t sz = (uint64_t)st.st_size;
            h = gc_fnv1a(h, list[i]->d_name, strlen(list[i]->d_name) + 1);
            h = gc_fnv1a(h, &sz, sizeof sz);
            total += sz;
        }
        free(p);
        free(list[i]);
    }
    free(list);
    *bytes = total;
    *fnv = h;
    return true;
}

static cJSON *file_json(const char *path, bool model) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "path", path);
    uint64_t bytes = 0, fnv = 0;
    struct stat st;
    bool is_dir = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
    bool ok = is_dir ? dir_print(path, &bytes, &fnv) : file_print(path, model ? MODEL_HEAD_BYTES : 0, &bytes, &fnv);
    if (ok) {
        char hex[24];
        snprintf(hex, sizeof hex, "%016" PRIx64, fnv);
        cJSON_AddNumberToObject(o, "bytes", (double)bytes);
        cJSON_AddStringToObject(o, "fnv1a", hex);
    }
    return o;
}

static bool is(const gc_run_params *o, const char *method) { return strcmp(o->method, method) == 0; }

// The options that change what a question's record says, for this method.
static cJSON *settings_json(const gc_run_params *o) {
    cJSON *s = cJSON_CreateObject();
#define NUM(k, v) cJSON_AddNumberToObject(s, k, (double)(v))
#define STR(k, v) cJSON_AddStringToObject(s, k, (v) ? (v) : "default")
#define BOOL(k, v) cJSON_AddBoolToObject(s, k, v)
    NUM("seed", o->seed);
    NUM("max_tokens", o->max_tokens);
    NUM("temperature", o->temperature);
    NUM("top_p", o->top_p);
    NUM("top_k", o->top_k);
    BOOL("think", o->think);
    STR("gen_mode", run_gen_mode_name(o->gen_mode));
    if (o->prompts) cJSON_AddItemToObject(s, "prompts", file_json(o->prompts, false));
    else STR("prompts", "embedded");
    const bool graph = is(o, "gcache");
    if (is(o, "textmas") || is(o, "latentmas")) STR("mode", o->mode);
    if (is(o, "textmas") || is(o, "latentmas") || graph) STR("pass", o->pass);
    if (is(o, "textmas") || graph) NUM("agent_max_tokens", o->agent_max_tokens);
    if (is(o, "latentmas") || (graph && !o->text_mode)) {
        NUM("latent_steps", o->latent_steps);
        BOOL("realign", o->realign);
    }
    if (graph) {
        STR("topology", o->topology);
        NUM("agents", o->agents);
        NUM("rounds", o->rounds);
        BOOL("text_mode", o->text_mode);
        if (!o->text_mode) STR("fuse", o->fuse);
        // Recorded when forced only, so that folders of runs before the option resume.
        if (o->gates != GC_RUN_GATES_LEARNED) STR("gates", o->gates == GC_RUN_GATES_ON ? "on" : "off");
        BOOL("score_answer", o->score_answer || strcmp(o->reward, "likelihood") == 0);
        if (strcmp(o->topology, "Learned") == 0) {
            // The training questions (offset … offset + iters·batch) shape the policy.
            NUM("offset", o->offset);
            NUM("train_iters", o->train_iters);
            NUM("batch_size", o->batch_size);
            NUM("lr", o->lr);
            NUM("edge_temperature", o->edge_temperature);
            BOOL("baseline", o->baseline);
            STR("reward", o->reward);
            STR("eval_policy", o->eval_policy);
        }
    }
#undef NUM
#undef STR
#undef BOOL
    return s;
}

cJSON *run_manifest_new(const gc_run *r) {
    const gc_run_params *o = &r->p;
    cJSON *m = cJSON_CreateObject();
    if (!m) return NULL;
    cJSON_AddStringToObject(m, "method", o->method);
    cJSON_AddStringToObject(m, "task", o->task);
    if (o->dataset) cJSON_AddItemToObject(m, "dataset", file_json(o->dataset, false));
    else cJSON_AddNullToObject(m, "dataset");
    if (o->model) cJSON_AddItemToObject(m, "model", file_json(o->model, true));
    else cJSON_AddNullToObject(m, "model");
    if (r->api) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddStringToObject(a, "base_url", r->api_set.base_url);
        cJSON_AddStringToObject(a, "model", r->api_set.model);
        cJSON_AddItemToObject(m, "api", a);
    }
    cJSON_AddItemToObject(m, "settings", settings_json(o));
    // For the reader only (not compared): how it ran.
    cJSON *info = cJSON_CreateObject();
    cJSON_AddStringToObject(info, "device", gc_device_name((gc_device)o->engine.device));
    if (o->engine.device == GC_DEVICE_CPU) cJSON_AddStringToObject(info, "cpu_path", o->engine.exact ? "exact" : "fast");
    // gcache run --cuda-batch-invariant (the CUDA backend's switch; the CPU ignores it)
    if (o->engine.cuda.batch_invariant) cJSON_AddTrueToObject(info, "cuda_batch_invariant");
    cJSON_AddStringToObject(info, "kv", gc_kv_dtype_name(r->e ? gc_engine_kv_dtype(r->e) : (gc_kv_dtype)o->engine.kv_dtype));
    cJSON_AddNumberToObject(info, "batch", (double)o->batch);
    cJSON_AddNumberToObject(info, "prefill_rows", (double)r->sp.prefill_rows);
    cJSON_AddNumberToObject(info, "threads", r->e ? (double)gc_engine_n_threads(r->e) : 0.0);
    cJSON_AddItemToObject(m, "info", info);
    return m;
}

gc_status run_manifest_write(const char *out_dir, const cJSON *m) {
    char *path = gc_path_join(out_dir, RUN_MANIFEST);
    char *text = cJSON_Print(m);
    gc_status s = (!path || !text) ? gc_fail(GC_ERR_OOM, "out of memory") : GC_OK;
    if (s == GC_OK) {
        size_t n = strlen(text);
        char *t2 = realloc(text, n + 2);
        if (!t2) s = gc_fail(GC_ERR_OOM, "out of memory");
        else {
            text = t2;
            text[n] = '\n';
            s = gc_file_write_atomic(path, text, n + 1);
        }
    }
    free(text);
    free(path);
    return s;
}

// A value as short text for a message ("0.6", "\"cpu\"", or a file's path and size).
static void show(const cJSON *v, char *buf, size_t cap) {
    if (!v) { snprintf(buf, cap, "(not set)"); return; }
    const cJSON *path = cJSON_GetObjectItemCaseSensitive(v, "path");
    if (cJSON_IsString(path)) {
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(v, "bytes");
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(v, "fnv1a");
        snprintf(buf, cap, "%s (%.0f bytes, fnv1a %s)", path->valuestring, cJSON_IsNumber(b) ? b->valuedouble : -1.0,
                 cJSON_IsString(f) ? f->valuestring : "?");
        return;
    }
    char *t = cJSON_PrintUnformatted(v);
    snprintf(buf, cap, "%s", t ? t : "?");
    free(t);
}

// A file entry is the same file when size and fingerprint agree (the path may differ).
static bool same(const cJSON *a, const cJSON *b) {
    if (!a || !b) return a == b;
    if (cJSON_IsObject(a) && cJSON_IsObject(b) && cJSON_GetObjectItemCaseSensitive(a, "path")) {
        const cJSON *fa = cJSON_GetObjectItemCaseSensitive(a, "fnv1a"), *fb = cJSON_GetObjectItemCaseSensitive(b, "fnv1a");
        const cJSON *ba = cJSON_GetObjectItemCaseSensitive(a, "bytes"), *bb = cJSON_GetObjectItemCaseSensitive(b, "bytes");
        return fa && fb && ba && bb && cJSON_Compare(fa, fb, true) && cJSON_Compare(ba, bb, true);
    }
    return cJSON_Compare(a, b, true);
}

typedef struct diff { FILE *fp; int n; } diff;

static void compare(diff *d, const char *name, const cJSON *was, const cJSON *now) {
    if (same(was, now)) return;
    char a[512], b[512];
    show(was, a, sizeof a);
    show(now, b, sizeof b);
    fprintf(d->fp, "  %-22s %s there, %s now\n", name, a, b);
    d->n++;
}

// Every key of either object (a run.json edited into another shape differs as a whole).
static void compare_objects(diff *d, const char *prefix, const cJSON *was, const cJSON *now) {
    char key[128];
    if (!cJSON_IsObject(was) || !cJSON_IsObject(now)) {
        snprintf(key, sizeof key, "%ssettings", prefix);
        compare(d, key, was, now);
        return;
    }
    for (const cJSON *k = was ? was->child : NULL; k; k = k->next) {
        snprintf(key, sizeof key, "%s%s", prefix, k->string);
        compare(d, key, k, cJSON_GetObjectItemCaseSensitive(now, k->string));
    }
    for (const cJSON *k = now ? now->child : NULL; k; k = k->next) {
        if (cJSON_GetObjectItemCaseSensitive(was, k->string)) continue;
        snprintf(key, sizeof key, "%s%s", prefix, k->string);
        compare(d, key, NULL, k);
    }
}

// A folder with results but no run.json: the records' own "method" fields
// are all there is to check.
static gc_status check_records(const gc_run *run, const char *out_dir, const char *method) {
    char *path = gc_path_join(out_dir, "results.jsonl");
    char *text = NULL;
    size_t len = 0;
    gc_status s = GC_OK;
    if (path && gc_file_read_all(path, &text, &len) == GC_OK && len > 0) {
        char other[64] = "";
        for (char *save = NULL, *ln = strtok_r(text, "\n", &save); ln && !*other; ln = strtok_r(NULL, "\n", &save)) {
            cJSON *r = cJSON_Parse(ln);
            const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "method");
            if (cJSON_IsString(m) && strcmp(m->valuestring, method) != 0) snprintf(other, sizeof other, "%s", m->valuestring);
            cJSON_Delete(r);
        }
        if (*other)
            s = gc_fail(GC_ERR_INVALID_ARG, "%s holds results of --method %s; resuming with --method %s would mix them "
                                            "(use another --out)", out_dir, other, method);
        else
            run_note(run, "warning: %s has results but no %s; only their method could be checked", out_dir, RUN_MANIFEST);
    }
    if (s == GC_OK) gc_clear_error();
    free(text);
    free(path);
    return s;
}

gc_status run_manifest_check(const gc_run *run, const char *out_dir, const cJSON *now) {
    char *path = gc_path_join(out_dir, RUN_MANIFEST);
    if (!path) return gc_fail(GC_ERR_OOM, "out of memory");
    if (!gc_file_exists(path)) {
        free(path);
        return check_records(run, out_dir, cJSON_GetObjectItemCaseSensitive(now, "method")->valuestring);
    }
    char *text = NULL;
    size_t len = 0;
    cJSON *was = NULL;
    gc_status s = gc_file_read_all(path, &text, &len);
    if (s == GC_OK) was = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(was)) {
        s = gc_fail(s != GC_OK ? s : GC_ERR_FORMAT, "%s: %s; cannot tell which run wrote %s (remove it to resume anyway)",
                    path, s != GC_OK ? gc_last_error() : "not a JSON object", out_dir);
        cJSON_Delete(was);
        free(path);
        return s;
    }
    char *buf = NULL;
    size_t blen = 0;
    diff d = {open_memstream(&buf, &blen), 0};
    if (!d.fp) { cJSON_Delete(was); free(path); return gc_fail(GC_ERR_OOM, "out of memory"); }
    static const char *const top[] = {"method", "task", "dataset", "model", "api"};
    for (size_t i = 0; i < sizeof top / sizeof *top; i++)
        compare(&d, top[i], cJSON_GetObjectItemCaseSensitive(was, top[i]), cJSON_GetObjectItemCaseSensitive(now, top[i]));
    compare_objects(&d, "", cJSON_GetObjectItemCaseSensitive(was, "settings"), cJSON_GetObjectItemCaseSensitive(now, "settings"));
    fclose(d.fp);
    s = GC_OK;
    if (d.n)
        s = gc_fail(GC_ERR_INVALID_ARG, "%s was written by a different run (%s); --resume would mix its results with "
                                        "this run's. What differs:\n%sUse another --out, or resume with the options "
                                        "recorded in %s.", out_dir, path, buf, path);
    free(buf);
    cJSON_Delete(was);
    free(path);
    return s;
}
