#include "format/safetensors.h"
#include "core/error.h"
#include "core/file.h"
#include "core/json.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// A tensor view plus the index of the file it came from.
typedef struct st_entry {
    gc_tensor t;
    int file;
} st_entry;

struct gc_weights {
    gc_mapped_file *maps;  // n_files mappings (none for open_memory)
    char **file_names;     // n_files owned names for messages
    int n_files;
    st_entry *entries;     // sorted by name once loading is done
    int64_t n, cap;
};

// Names as they appear in headers; only these three are loaded.
static const struct { const char *name; gc_dtype dt; size_t size; } k_dtypes[] = {
    {"F32", GC_DT_F32, 4}, {"F16", GC_DT_F16, 2}, {"BF16", GC_DT_BF16, 2},
};
// Valid safetensors dtypes we do not load (GC_ERR_UNSUPPORTED, not FORMAT).
static const char *const k_other_dtypes[] = {
    "BOOL", "U8", "I8", "I16", "U16", "I32", "U32", "I64", "U64", "F64",
    "F8_E5M2", "F8_E4M3", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2", "C64",
};

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *r = malloc(n);
    if (r) memcpy(r, s, n);
    return r;
}

static uint64_t read_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static gc_status add_file(gc_weights *w, const char *name, int *index) {
    char **names = realloc(w->file_names, (size_t)(w->n_files + 1) * sizeof *names);
    if (!names) return gc_fail(GC_ERR_OOM, "%s: out of memory", name);
    w->file_names = names;
    gc_mapped_file *maps = realloc(w->maps, (size_t)(w->n_files + 1) * sizeof *maps);
    if (!maps) return gc_fail(GC_ERR_OOM, "%s: out of memory", name);
    w->maps = maps;
    memset(&w->maps[w->n_files], 0, sizeof w->maps[0]);
    w->file_names[w->n_files] = dup_str(name);
    if (!w->file_names[w->n_files]) return gc_fail(GC_ERR_OOM, "%s: out of memory", name);
    *index = w->n_files++;
    return GC_OK;
}

static gc_status push_entry(gc_weights *w, const char *file, const st_entry *e) {
    if (w->n == w->cap) {
        int64_t cap = w->cap ? w->cap * 2 : 64;
        st_entry *ne = realloc(w->entries, (size_t)cap * sizeof *ne);
        if (!ne) return gc_fail(GC_ERR_OOM, "%s: out of memory for %lld tensors", file, (long long)cap);
        w->entries = ne;
        w->cap = cap;
    }
    w->entries[w->n++] = *e;
    return GC_OK;
}

static gc_status parse_dtype(const char *where, const char *s, gc_dtype *dt, size_t *esize) {
    for (size_t i = 0; i < sizeof k_dtypes / sizeof k_dtypes[0]; i++)
        if (strcmp(s, k_dtypes[i].name) == 0) { *dt = k_dtypes[i].dt; *esize = k_dtypes[i].size; return GC_OK; }
    for (size_t i = 0; i < sizeof k_other_dtypes / sizeof k_other_dtypes[0]; i++)
        if (strcmp(s, k_other_dtypes[i]) == 0)
            return gc_fail(GC_ERR_UNSUPPORTED, "%s: field \"dtype\": %s is not supported (F32, F16, BF16)", where, s);
    return gc_fail(GC_ERR_FORMAT, "%s: field \"dtype\": unknown dtype \"%s\"", where, s);
}

// One header entry -> view. data/dsize: the byte buffer after the header.
static gc_status parse_tensor(const char *where, const cJSON *o, const uint8_t *data, uint64_t dsize,
                              st_entry *e) {
    if (!cJSON_IsObject(o))
        return gc_fail(GC_ERR_FORMAT, "%s: expected an object, got %s", where, gc_json_type_name(o));
    const char *dts = NULL;
    size_t esize = 0;
    GC_TRY(gc_json_req_string(where, o, "dtype", &dts));
    GC_TRY(parse_dtype(where, dts, &e->t.dtype, &esize));

    const cJSON *shape = NULL;
    GC_TRY(gc_json_req_array(where, o, "shape", &shape));
    int rank = cJSON_GetArraySize(shape);
    if (rank > GC_MAX_DIMS)
        return gc_fail(GC_ERR_UNSUPPORTED, "%s: field \"shape\": rank %d is above %d", where, rank, GC_MAX_DIMS);
    e->t.ndim = rank;
    // Element count, kept below 2^62 / esize so byte counts cannot overflow.
    uint64_t numel = 1;
    int k = 0;
    for (const cJSON *d = shape->child; d; d = d->next, k++) {
        char field[32];
        snprintf(field, sizeof field, "shape[%d]", k);
        int64_t v;
        GC_TRY(gc_json_to_int(where, field, d, 0, GC_JSON_MAX_INT, &v));
        e->t.shape[k] = v;
        if (v != 0 && numel > (UINT64_C(1) << 62) / esize / (uint64_t)v)
            return gc_fail(GC_ERR_FORMAT, "%s: field \"shape\": element count overflows", where);
        numel *= (uint64_t)v;
    }

    const cJSON *offs = NULL;
    GC_TRY(gc_json_req_array(where, o, "data_offsets", &offs));
    if (cJSON_GetArraySize(offs) != 2)
        return gc_fail(GC_ERR_FORMAT, "%s: field \"data_offsets\": expected [begin, end], got %d entries", where,
                       cJSON_GetArraySize(offs));
    int64_t b, end;
    GC_TRY(gc_json_to_int(where, "data_offsets[0]", offs->child, 0, GC_JSON_MAX_INT, &b));
    GC_TRY(gc_json_to_int(where, "data_offsets[1]", offs->child->next, 0, GC_JSON_MAX_INT, &end));
    if (b > end)
        return gc_fail(GC_ERR_FORMAT, "%s: field \"data_offsets\": begin %lld is after end %lld", where,
                       (long long)b, (long long)end);
    if ((uint64_t)end > dsize)
        return gc_fail(GC_ERR_FORMAT, "%s: field \"data_offsets\": end %lld is past the %llu data bytes", where,
                       (long long)end, (unsigned long long)dsize);
    uint64_t want = numel * esize;
    if ((uint64_t)(end - b) != want)
        return gc_fail(GC_ERR_FORMAT,
                       "%s: field \"data_offsets\": %lld bytes, but shape and dtype %s need %llu", where,
                       (long long)(end - b), dts, (unsigned long long)want);
    e->t.data = data + b;
    e->t.nbytes = (size_t)want;
    return GC_OK;
}

// Parses one safetensors buffer and appends its tensors (file index `file`).
static gc_status parse_buffer(gc_weights *w, int file, const uint8_t *buf, size_t size) {
    const char *name = w->file_names[file];
    if (size < 8)
        return gc_fail(GC_ERR_FORMAT, "%s: %zu bytes, too short for the 8-byte header length", name, size);
    uint64_t hlen = read_le64(buf);
    if (hlen < 2) return gc_fail(GC_ERR_FORMAT, "%s: header length %llu is below 2", name, (unsigned long long)hlen);
    if (hlen > GC_ST_MAX_HEADER)
        return gc_fail(GC_ERR_FORMAT, "%s: header length %llu is above the %u byte cap", name,
                       (unsigned long long)hlen, GC_ST_MAX_HEADER);
    if (hlen > size - 8)
        return gc_fail(GC_ERR_FORMAT, "%s: header length %llu runs past the end of the %zu-byte file", name,
                       (unsigned long long)hlen, size);
    const char *text = (const char *)buf + 8;
    if (text[0] != '{') return gc_fail(GC_ERR_FORMAT, "%s: header does not start with '{'", name);
    cJSON *root = NULL;
    char hpath[1100];
    snprintf(hpath, sizeof hpath, "%s: header", name);
    GC_TRY(gc_json_parse(text, (size_t)hlen, hpath, &root));
    gc_status s = GC_OK;
    if (!cJSON_IsObject(root)) {
        s = gc_fail(GC_ERR_FORMAT, "%s: header is %s, not a JSON object", name, gc_json_type_name(root));
        goto done;
    }
    const uint8_t *data = buf + 8 + hlen;
    uint64_t dsize = size - 8 - hlen;
    for (const cJSON *o = root->child; o; o = o->next) {
        const char *tname = o->string ? o->string : "";
        if (strcmp(tname, "__metadata__") == 0) {
            if (!cJSON_IsObject(o) && !cJSON_IsNull(o)) {
                s = gc_fail(GC_ERR_FORMAT, "%s: field \"__metadata__\": expected an object, got %s", name,
                            gc_json_type_name(o));
                goto done;
            }
            continue;
        }
        char where[1100];
        snprintf(where, sizeof where, "%s: tensor \"%s\"", name, tname);
        st_entry e;
        memset(&e, 0, sizeof e);
        e.file = file;
        s = parse_tensor(where, o, data, dsize, &e);
        if (s != GC_OK) goto done;
        char *owned = dup_str(tname);
        if (!owned) { s = gc_fail(GC_ERR_OOM, "%s: out of memory", name); goto done; }
        e.t.name = owned;
        s = push_entry(w, name, &e);
        if (s != GC_OK) { free(owned); goto done; }
    }
done:
    cJSON_Delete(root);
    return s;
}

static int cmp_entry(const void *a, const void *b) {
    return strcmp(((const st_entry *)a)->t.name, ((const st_entry *)b)->t.name);
}

static gc_status sort_and_check(gc_weights *w) {
    if (w->n > 1) qsort(w->entries, (size_t)w->n, sizeof *w->entries, cmp_entry);
    for (int64_t i = 1; i < w->n; i++) {
        const st_entry *a = &w->entries[i - 1], *b = &w->entries[i];
        if (strcmp(a->t.name, b->t.name) == 0) {
            if (a->file == b->file)
                return gc_fail(GC_ERR_FORMAT, "%s: tensor \"%s\" appears twice", w->file_names[a->file], a->t.name);
            return gc_fail(GC_ERR_FORMAT, "tensor \"%s\" appears in both %s and %s", a->t.name,
                           w->file_names[a->file], w->file_names[b->file]);
        }
    }
    return GC_OK;
}

static const st_entry *find_entry(const gc_weights *w, const char *name) {
    int64_t lo = 0, hi = w->n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(w->entries[mid].t.name, name);
        if (c == 0) return &w->entries[mid];
        if (c < 0) lo = mid + 1; else hi = mid;
    }
    return NULL;
}

static gc_weights *weights_new(void) { return calloc(1, sizeof(gc_weights)); }

void gc_weights_free(gc_weights *w) {
    if (!w) return;
    for (int64_t i = 0; i < w->n; i++) free((void *)w->entries[i].t.name);
    free(w->entries);
    for (int i = 0; i < w->n_files; i++) {
        gc_file_unmap(&w->maps[i]);
        free(w->file_names[i]);
    }
    free(w->maps);
    free(w->file_names);
    free(w);
}

gc_status gc_weights_open_memory(const void *data, size_t size, const char *name, gc_weights **out) {
    *out = NULL;
    if (!name) name = "<memory>";
    if (!data && size) return gc_fail(GC_ERR_INVALID_ARG, "%s: NULL buffer", name);
    gc_weights *w = weights_new();
    if (!w) return gc_fail(GC_ERR_OOM, "%s: out of memory", name);
    int file;
    gc_status s = add_file(w, name, &file);
    if (s == GC_OK) s = parse_buffer(w, file, data, size);
    if (s == GC_OK) s = sort_and_check(w);
    if (s != GC_OK) { gc_weights_free(w); return s; }
    *out = w;
    return GC_OK;
}

// Maps path and parses it as file number *index.
static gc_status load_file(gc_weights *w, const char *path, int *index) {
    GC_TRY(add_file(w, path, index));
    GC_TRY(gc_file_map(path, &w->maps[*index]));
    return parse_buffer(w, *index, w->maps[*index].data, w->maps[*index].size);
}

static bool bad_shard_name(const char *s) {
    return s[0] == 0 || strchr(s, '/') || strchr(s, '\\') || strstr(s, "..");
}

// The shard names of an index, each once, in order of first appearance.
typedef struct shard_list {
    const char **names;  // point into the index's cJSON tree
    int *file;           // file index once loaded
    int n;
} shard_list;

static gc_status load_sharded(gc_weights *w, const char *dir, const char *index_path) {
    cJSON *root = NULL;
    GC_TRY(gc_json_parse_file(index_path, &root));
    shard_list shards = {0};
    gc_status s = GC_OK;
    const cJSON *map = NULL;
    if (!cJSON_IsObject(root)) {
        s = gc_fail(GC_ERR_FORMAT, "%s: expected a JSON object at top level, got %s", index_path,
                    gc_json_type_name(root));
        goto done;
    }
    s = gc_json_req_object(index_path, root, "weight_map", &map);
    if (s != GC_OK) goto done;
    int n_map = cJSON_GetArraySize(map);
    if (n_map == 0) { s = gc_fail(GC_ERR_FORMAT, "%s: field \"weight_map\": empty", index_path); goto done; }
    shards.names = calloc((size_t)n_map, sizeof *shards.names);
    shards.file = calloc((size_t)n_map, sizeof *shards.file);
    if (!shards.names || !shards.file) { s = gc_fail(GC_ERR_OOM, "%s: out of memory", index_path); goto done; }

    for (const cJSON *m = map->child; m; m = m->next) {
        char field[1100];
        snprintf(field, sizeof field, "weight_map.%s", m->string ? m->string : "");
        const char *shard = NULL;
        s = gc_json_to_string(index_path, field, m, &shard);
        if (s != GC_OK) goto done;
        if (bad_shard_name(shard)) {
            s = gc_fail(GC_ERR_FORMAT, "%s: field \"%s\": shard name \"%s\" is not a plain file name", index_path,
                        field, shard);
            goto done;
        }
        int j = 0;
        while (j < shards.n && strcmp(shards.names[j], shard) != 0) j++;
        if (j == shards.n) shards.names[shards.n++] = shard;
    }
    for (int j = 0; j < shards.n; j++) {
        char *p = gc_path_join(dir, shards.names[j]);
        if (!p) { s = gc_fail(GC_ERR_OOM, "%s: out of memory", index_path); goto done; }
        if (!gc_file_exists(p)) {
            s = gc_fail(GC_ERR_IO, "%s: shard \"%s\" named in weight_map does not exist (%s)", index_path,
                        shards.names[j], p);
            free(p);
            goto done;
        }
        s = load_file(w, p, &shards.file[j]);
        free(p);
        if (s != GC_OK) goto done;
    }
    s = sort_and_check(w);
    if (s != GC_OK) goto done;
    for (const cJSON *m = map->child; m; m = m->next) {
        int j = 0;
        while (strcmp(shards.names[j], m->valuestring) != 0) j++;
        const st_entry *e = find_entry(w, m->string);
        if (!e || e->file != shards.file[j]) {
            s = gc_fail(GC_ERR_FORMAT, "%s: tensor \"%s\" is listed in weight_map for %s but is missing from it%s%s",
                        index_path, m->string, w->file_names[shards.file[j]], e ? "; it is in " : "",
                        e ? w->file_names[e->file] : "");
            goto done;
        }
    }
done:
    free(shards.names);
    free(shards.file);
    cJSON_Delete(root);
    return s;
}

gc_status gc_weights_open_hf(const char *dir, gc_weights **out) {
    *out = NULL;
    char *single = gc_path_join(dir, "model.safetensors");
    char *index = gc_path_join(dir, "model.safetensors.index.json");
    gc_weights *w = weights_new();
    gc_status s = GC_OK;
    if (!single || !index || !w) {
        s = gc_fail(GC_ERR_OOM, "%s: out of memory", dir);
    } else if (gc_file_exists(single)) {
        int file;
        s = load_file(w, single, &file);
        if (s == GC_OK) s = sort_and_check(w);
    } else if (gc_file_exists(index)) {
        s = load_sharded(w, dir, index);
    } else {
        s = gc_fail(GC_ERR_IO, "%s: neither model.safetensors nor model.safetensors.index.json exists", dir);
    }
    free(single);
    free(index);
    if (s != GC_OK) { gc_weights_free(w); return s; }
    *out = w;
    return GC_OK;
}

int64_t gc_weights_count(const gc_weights *w) { return w ? w->n : 0; }

const gc_tensor *gc_weights_at(const gc_weights *w, int64_t i) {
    if (!w || i < 0 || i >= w->n) return NULL;
    return &w->entries[i].t;
}

const gc_tensor *gc_weights_find(const gc_weights *w, const char *name) {
    if (!w || !name) return NULL;
    const st_entry *e = find_entry(w, name);
    return e ? &e->t : NULL;
}

const char *gc_weights_file_of(const gc_weights *w, const gc_tensor *t) {
    if (!w || !t || w->n == 0) return NULL;
    // t is the first member of an entry; compare addresses as integers since
    // a foreign t does not point into the array.
    uintptr_t p = (uintptr_t)t, lo = (uintptr_t)w->entries, hi = (uintptr_t)(w->entries + w->n);
    if (p < lo || p >= hi || (p - lo) % sizeof(st_entry) != 0) return NULL;
    return w->file_names[w->entries[(p - lo) / sizeof(st_entry)].file];
}
