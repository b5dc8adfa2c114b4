// Loader for Hugging Face tokenizer.json (+ tokenizer_config.json and
// chat_template.jinja). Supported subset: model BPE over a ByteLevel
// pre-tokenizer; normalizer null / NFC / Sequence of NFC; pre_tokenizer tree of
// Sequence, Split (Regex or String pattern, Isolated or Removed, no invert),
// Digits and ByteLevel (last); decoder null / ByteLevel. Anything else is
// GC_ERR_UNSUPPORTED naming the field, so a tokenizer is never silently
// approximated.
#define _GNU_SOURCE
#include "core/error.h"
#include "core/file.h"
#include "tokenizer/tokenizer.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_PRETOK_DEPTH 16
// Real pre-tokenizer regexes are a few hundred bytes; this bounds compile time.
#define MAX_PATTERN 4096

static const char *type_of(const cJSON *o) {
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(o, "type");
    return cJSON_IsString(ty) ? ty->valuestring : NULL;
}

// Optional boolean field; absent or null gives `dflt`.
static gc_status get_bool(const cJSON *o, const char *key, bool dflt, bool *out, const char *src, const char *where) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) {
        *out = dflt;
        return GC_OK;
    }
    if (!cJSON_IsBool(v)) return gc_fail(GC_ERR_FORMAT, "%s: %s.%s: expected a boolean", src, where, key);
    *out = cJSON_IsTrue(v);
    return GC_OK;
}

static bool get_int(const cJSON *v, int64_t *out) {
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!(d >= -9.0e15 && d <= 9.0e15) || floor(d) != d) return false;
    *out = (int64_t)d;
    return true;
}

static gc_status parse_normalizer(const cJSON *n, const char *src, const char *where, bool *nfc, int depth) {
    if (!n || cJSON_IsNull(n)) return GC_OK;
    const char *ty = type_of(n);
    if (!cJSON_IsObject(n) || !ty) return gc_fail(GC_ERR_FORMAT, "%s: %s: expected an object with a \"type\"", src, where);
    if (strcmp(ty, "NFC") == 0) {
        *nfc = true;
        return GC_OK;
    }
    if (strcmp(ty, "Sequence") == 0 && depth < MAX_PRETOK_DEPTH) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(n, "normalizers");
        if (!cJSON_IsArray(list)) return gc_fail(GC_ERR_FORMAT, "%s: %s.normalizers: expected an array", src, where);
        int i = 0;
        for (const cJSON *c = list->child; c; c = c->next, i++) {
            char sub[160];
            snprintf(sub, sizeof sub, "%s.normalizers[%d]", where, i);
            GC_TRY(parse_normalizer(c, src, sub, nfc, depth + 1));
        }
        return GC_OK;
    }
    return gc_fail(GC_ERR_UNSUPPORTED, "%s: %s.type = \"%s\" is not supported (only NFC)", src, where, ty);
}

static gc_status parse_pretok(const cJSON *p, const char *src, const char *where, gc_pretok *out, int depth) {
    const char *ty = type_of(p);
    if (!cJSON_IsObject(p) || !ty) return gc_fail(GC_ERR_FORMAT, "%s: %s: expected an object with a \"type\"", src, where);
    if (strcmp(ty, "Sequence") == 0) {
        if (depth >= MAX_PRETOK_DEPTH) return gc_fail(GC_ERR_UNSUPPORTED, "%s: %s: nested too deeply", src, where);
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(p, "pretokenizers");
        if (!cJSON_IsArray(list)) return gc_fail(GC_ERR_FORMAT, "%s: %s.pretokenizers: expected an array", src, where);
        int i = 0;
        for (const cJSON *c = list->child; c; c = c->next, i++) {
            char sub[160];
            snprintf(sub, sizeof sub, "%s.pretokenizers[%d]", where, i);
            GC_TRY(parse_pretok(c, src, sub, out, depth + 1));
        }
        return GC_OK;
    }
    if (gc_pretok_has_bytelevel(out))
        return gc_fail(GC_ERR_UNSUPPORTED, "%s: %s: a %s step after ByteLevel is not supported", src, where, ty);
    if (strcmp(ty, "Split") == 0) {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(p, "pattern");
        const cJSON *re = cJSON_GetObjectItemCaseSensitive(pat, "Regex");
        const cJSON *lit = cJSON_GetObjectItemCaseSensitive(pat, "String");
        const cJSON *pv = cJSON_IsString(re) ? re : lit;
        if (!cJSON_IsString(pv) || !pv->valuestring[0])
            return gc_fail(GC_ERR_FORMAT, "%s: %s.pattern: expected {\"Regex\": ...} or {\"String\": ...}", src, where);
        if (strlen(pv->valuestring) > MAX_PATTERN)
            return gc_fail(GC_ERR_UNSUPPORTED, "%s: %s.pattern: longer than %d bytes", src, where, MAX_PATTERN);
        const cJSON *beh = cJSON_GetObjectItemCaseSensitive(p, "behavior");
        gc_split_behavior b;
        if (cJSON_IsString(beh) && strcmp(beh->valuestring, "Isolated") == 0) b = GC_SPLIT_ISOLATED;
        else if (cJSON_IsString(beh) && strcmp(beh->valuestring, "Removed") == 0) b = GC_SPLIT_REMOVED;
        else
            return gc_fail(GC_ERR_UNSUPPORTED, "%s: %s.behavior = \"%s\" is not supported (Isolated, Removed)", src, where,
                           cJSON_IsString(beh) ? beh->valuestring : "?");
        bool invert;
        GC_TRY(get_bool(p, "invert", false, &invert, src, where));
        if (invert) return gc_fail(GC_ERR_UNSUPPORTED, "%s: %s.invert = true is not supported", src, where);
        char what[200];
        snprintf(what, sizeof what, "%s: %s.pattern", src, where);
        return gc_pretok_add_split(out, pv->valuestring, strlen(pv->valuestring), pv == lit, b, what);
    }
    if (strcmp(ty, "Digits") == 0) {
        bool individual;
        GC_TRY(get_bool(p, "individual_digits", false, &individual, src, where));
        return gc_pretok_add_digits(out, individual);
    }
    if (strcmp(ty, "ByteLevel") == 0) {
        bool prefix, use_regex;
        GC_TRY(get_bool(p, "add_prefix_space", true, &prefix, src, where));
        GC_TRY(get_bool(p, "use_regex", true, &use_regex, src, where));
        return gc_pretok_add_bytelevel(out, prefix, use_regex);
    }
    return gc_fail(GC_ERR_UNSUPPORTED, "%s: %s.type = \"%s\" is not supported", src, where, ty);
}

// Checks the model's options that change ids and that we do not implement.
static gc_status check_model_options(const cJSON *model, const char *src, gc_tokenizer *t) {
    const cJSON *drop = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    if (drop && !cJSON_IsNull(drop) && !(cJSON_IsNumber(drop) && drop->valuedouble == 0.0))
        return gc_fail(GC_ERR_UNSUPPORTED, "%s: model.dropout: BPE dropout is not supported", src);
    static const char *const affixes[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(model, affixes[i]);
        if (a && !cJSON_IsNull(a) && !(cJSON_IsString(a) && !a->valuestring[0]))
            return gc_fail(GC_ERR_UNSUPPORTED, "%s: model.%s: only null or \"\" is supported", src, affixes[i]);
    }
    bool byte_fallback;
    GC_TRY(get_bool(model, "byte_fallback", false, &byte_fallback, src, "model"));
    if (byte_fallback) return gc_fail(GC_ERR_UNSUPPORTED, "%s: model.byte_fallback = true is not supported", src);
    GC_TRY(get_bool(model, "fuse_unk", false, &t->fuse_unk, src, "model"));
    GC_TRY(get_bool(model, "ignore_merges", false, &t->ignore_merges, src, "model"));
    return GC_OK;
}

static gc_status load_vocab(gc_tokenizer *t, const cJSON *vocab) {
    for (const cJSON *v = vocab->child; v; v = v->next) {
        char field[96];
        snprintf(field, sizeof field, "model.vocab[\"%.40s\"]", v->string ? v->string : "");
        int64_t id;
        if (!get_int(v, &id)) return gc_fail(GC_ERR_FORMAT, "%s: %s: expected an integer id", t->src, field);
        GC_TRY(gc_tok_set_model_token(t, id, v->string, strlen(v->string), field));
    }
    return GC_OK;
}

static gc_status load_added(gc_tokenizer *t, const cJSON *added) {
    int i = 0;
    for (const cJSON *a = added ? added->child : NULL; a; a = a->next, i++) {
        char field[64];
        snprintf(field, sizeof field, "added_tokens[%d]", i);
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(a, "content");
        int64_t id;
        if (!cJSON_IsObject(a) || !cJSON_IsString(content))
            return gc_fail(GC_ERR_FORMAT, "%s: %s: expected an object with a string \"content\"", t->src, field);
        if (!get_int(cJSON_GetObjectItemCaseSensitive(a, "id"), &id))
            return gc_fail(GC_ERR_FORMAT, "%s: %s.id: expected an integer", t->src, field);
        bool special, lstrip, rstrip, single, normalized;
        GC_TRY(get_bool(a, "special", false, &special, t->src, field));
        GC_TRY(get_bool(a, "lstrip", false, &lstrip, t->src, field));
        GC_TRY(get_bool(a, "rstrip", false, &rstrip, t->src, field));
        GC_TRY(get_bool(a, "single_word", false, &single, t->src, field));
        GC_TRY(get_bool(a, "normalized", !special, &normalized, t->src, field));
        uint8_t flags = (uint8_t)((special ? GC_TOK_SPECIAL : 0) | (lstrip ? GC_TOK_LSTRIP : 0) |
                                  (rstrip ? GC_TOK_RSTRIP : 0) | (single ? GC_TOK_SINGLE_WORD : 0) |
                                  (normalized ? GC_TOK_NORMALIZED : 0));
        GC_TRY(gc_tok_set_added(t, id, content->valuestring, strlen(content->valuestring), flags, field));
    }
    return GC_OK;
}

static gc_status load_merges(gc_tokenizer *t, const cJSON *merges) {
    int32_t rank = 0;
    for (const cJSON *m = merges->child; m; m = m->next, rank++) {
        char field[64];
        snprintf(field, sizeof field, "model.merges[%d]", rank);
        if (cJSON_IsString(m)) {
            const char *s = m->valuestring, *sp = strchr(s, ' ');
            if (!sp || sp == s || !sp[1] || strchr(sp + 1, ' '))
                return gc_fail(GC_ERR_FORMAT, "%s: %s: expected \"a b\"", t->src, field);
            GC_TRY(gc_tok_add_merge(t, s, (size_t)(sp - s), sp + 1, strlen(sp + 1), rank, field));
        } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(m->child) &&
                   cJSON_IsString(m->child->next)) {
            const char *a = m->child->valuestring, *b = m->child->next->valuestring;
            GC_TRY(gc_tok_add_merge(t, a, strlen(a), b, strlen(b), rank, field));
        } else {
            return gc_fail(GC_ERR_FORMAT, "%s: %s: expected \"a b\" or [\"a\", \"b\"]", t->src, field);
        }
    }
    return GC_OK;
}

static gc_status load_root(const cJSON *root, const char *src, gc_tokenizer **out) {
    if (!cJSON_IsObject(root)) return gc_fail(GC_ERR_FORMAT, "%s: expected a JSON object", src);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(model)) return gc_fail(GC_ERR_FORMAT, "%s: model: missing or not an object", src);
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(model, "type");
    if (ty && !(cJSON_IsString(ty) && strcmp(ty->valuestring, "BPE") == 0))
        return gc_fail(GC_ERR_UNSUPPORTED, "%s: model.type = \"%s\" is not supported (only BPE)", src,
                       cJSON_IsString(ty) ? ty->valuestring : "?");
    if (!cJSON_IsObject(vocab)) return gc_fail(GC_ERR_FORMAT, "%s: model.vocab: missing or not an object", src);
    if (!cJSON_IsArray(merges)) return gc_fail(GC_ERR_FORMAT, "%s: model.merges: missing or not an array", src);
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (added && !cJSON_IsNull(added) && !cJSON_IsArray(added))
        return gc_fail(GC_ERR_FORMAT, "%s: added_tokens: expected an array", src);
    if (!cJSON_IsArray(added)) added = NULL;

    int64_t cap = (int64_t)cJSON_GetArraySize(vocab) + (added ? cJSON_GetArraySize(added) : 0);
    gc_tokenizer *t;
    GC_TRY(gc_tok_new(src, cap, (size_t)cJSON_GetArraySize(merges), &t));
    gc_status s = check_model_options(model, src, t);
    if (s == GC_OK) s = parse_normalizer(cJSON_GetObjectItemCaseSensitive(root, "normalizer"), src, "normalizer", &t->nfc, 0);
    if (s == GC_OK) {
        const cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
        if (!(t->pre = gc_pretok_new())) s = gc_fail(GC_ERR_OOM, "out of memory loading %s", src);
        else if (!pre || cJSON_IsNull(pre))
            s = gc_fail(GC_ERR_UNSUPPORTED, "%s: pre_tokenizer: null; only byte-level BPE (a ByteLevel pre-tokenizer) is supported", src);
        else s = parse_pretok(pre, src, "pre_tokenizer", t->pre, 0);
        if (s == GC_OK && !gc_pretok_has_bytelevel(t->pre))
            s = gc_fail(GC_ERR_UNSUPPORTED, "%s: pre_tokenizer: no ByteLevel step; only byte-level BPE is supported", src);
    }
    if (s == GC_OK) {
        const cJSON *dec = cJSON_GetObjectItemCaseSensitive(root, "decoder");
        const char *dt = type_of(dec);
        if (dec && !cJSON_IsNull(dec) && !(dt && strcmp(dt, "ByteLevel") == 0))
            s = gc_fail(GC_ERR_UNSUPPORTED, "%s: decoder.type = \"%s\" is not supported (only ByteLevel)", src, dt ? dt : "?");
    }
    if (s == GC_OK) s = load_vocab(t, vocab);
    if (s == GC_OK) s = load_added(t, added);
    if (s == GC_OK) s = load_merges(t, merges);
    if (s == GC_OK) {
        const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
        if (cJSON_IsString(unk)) {
            t->unk_id = gc_tok_strmap_get(&t->vocab, unk->valuestring, strlen(unk->valuestring));
            if (t->unk_id < 0) s = gc_fail(GC_ERR_FORMAT, "%s: model.unk_token \"%.40s\" is not in the vocab", src, unk->valuestring);
        } else if (unk && !cJSON_IsNull(unk)) {
            s = gc_fail(GC_ERR_FORMAT, "%s: model.unk_token: expected a string or null", src);
        }
    }
    if (s == GC_OK) s = gc_tok_finish(t);
    if (s != GC_OK) {
        gc_tokenizer_free(t);
        return s;
    }
    *out = t;
    return GC_OK;
}

static gc_status parse_json(const char *json, size_t len, const char *src, cJSON **out) {
    const char *end = NULL;
    *out = cJSON_ParseWithLengthOpts(json, len, &end, false);
    if (!*out) {
        size_t at = end && end >= json && end <= json + len ? (size_t)(end - json) : 0;
        return gc_fail(GC_ERR_FORMAT, "%s: malformed JSON near byte %zu", src, at);
    }
    return GC_OK;
}

gc_status gc_tokenizer_load_json(const char *json, size_t len, const char *path, gc_tokenizer **out) {
    *out = NULL;
    const char *src = path ? path : "<memory>";
    if (!json) return gc_fail(GC_ERR_INVALID_ARG, "%s: json is NULL", src);
    cJSON *root;
    GC_TRY(parse_json(json, len, src, &root));
    gc_status s = load_root(root, src, out);
    cJSON_Delete(root);
    return s;
}

// "bos_token": "<s>" or {"content": "<s>", ...}.
static int32_t config_token(const gc_tokenizer *t, const cJSON *cfg, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (cJSON_IsObject(v)) v = cJSON_GetObjectItemCaseSensitive(v, "content");
    return cJSON_IsString(v) ? gc_tokenizer_find(t, v->valuestring) : -1;
}

static gc_status load_config(gc_tokenizer *t, const char *path) {
    char *buf;
    size_t len;
    GC_TRY(gc_file_read_all(path, &buf, &len));
    cJSON *cfg;
    gc_status s = parse_json(buf, len, path, &cfg);
    free(buf);
    GC_TRY(s);
    if (!cJSON_IsObject(cfg)) {
        cJSON_Delete(cfg);
        return gc_fail(GC_ERR_FORMAT, "%s: expected a JSON object", path);
    }
    t->bos = config_token(t, cfg, "bos_token");
    t->eos = config_token(t, cfg, "eos_token");
    // chat_template: a string, or a list of {"name", "template"} (use "default").
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(cfg, "chat_template");
    const char *tmpl = NULL;
    if (cJSON_IsString(ct)) {
        tmpl = ct->valuestring;
    } else if (cJSON_IsArray(ct)) {
        for (const cJSON *e = ct->child; e; e = e->next) {
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
            const cJSON *tx = cJSON_GetObjectItemCaseSensitive(e, "template");
            if (!cJSON_IsString(tx)) continue;
            if (!tmpl || (cJSON_IsString(name) && strcmp(name->valuestring, "default") == 0)) tmpl = tx->valuestring;
        }
    } else if (ct && !cJSON_IsNull(ct)) {
        s = gc_fail(GC_ERR_FORMAT, "%s: chat_template: expected a string or a list of templates", path);
    }
    if (s == GC_OK && tmpl && !(t->chat_template = strdup(tmpl))) s = gc_fail(GC_ERR_OOM, "out of memory reading %s", path);
    cJSON_Delete(cfg);
    return s;
}

static bool is_regular_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

gc_status gc_tokenizer_load_hf(const char *dir, gc_tokenizer **out) {
    *out = NULL;
    if (!dir) return gc_fail(GC_ERR_INVALID_ARG, "gc_tokenizer_load_hf: dir is NULL");
    // A path to tokenizer.json itself is accepted too; its directory then
    // holds the config files.
    char *tok_path, *base;
    if (is_regular_file(dir)) {
        tok_path = strdup(dir);
        base = strdup(dir);
        if (base) {
            char *slash = strrchr(base, '/');
            if (slash) *slash = 0;
            else strcpy(base, ".");
        }
    } else {
        tok_path = gc_path_join(dir, "tokenizer.json");
        base = strdup(dir);
    }
    char *cfg_path = base ? gc_path_join(base, "tokenizer_config.json") : NULL;
    char *jinja_path = base ? gc_path_join(base, "chat_template.jinja") : NULL;
    char *buf = NULL;
    size_t len = 0;
    gc_tokenizer *t = NULL;
    gc_status s = GC_OK;
    if (!tok_path || !base || !cfg_path || !jinja_path) s = gc_fail(GC_ERR_OOM, "out of memory");
    if (s == GC_OK) s = gc_file_read_all(tok_path, &buf, &len);
    if (s == GC_OK) s = gc_tokenizer_load_json(buf, len, tok_path, &t);
    if (s == GC_OK && gc_file_exists(cfg_path)) s = load_config(t, cfg_path);
    if (s == GC_OK && gc_file_exists(jinja_path)) {
        char *j;
        size_t jl;
        s = gc_file_read_all(jinja_path, &j, &jl);
        if (s == GC_OK) {
            free(t->chat_template);
            t->chat_template = j;
        }
    }
    free(buf);
    free(tok_path);
    free(base);
    free(cfg_path);
    free(jinja_path);
    if (s != GC_OK) {
        gc_tokenizer_free(t);
        return s;
    }
    *out = t;
    return GC_OK;
}
