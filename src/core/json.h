// Helpers over cJSON for every JSON reader in the project (config.json,
// safetensors headers, tokenizer.json, ...). They turn parse failures and
// bad fields into gc_status errors whose message names the file and field:
//     <path>: invalid JSON at line 3, column 7 (near "...")
//     <path>: field "hidden_size": expected a positive integer ...
//
// Conventions:
//  - `path` is only used in messages; callers may pass a longer context such
//    as `model.safetensors: tensor "w"`.
//  - A key whose value is JSON null counts as absent (HF configs write
//    "rope_scaling": null for "not set").
//  - Lookups are case-sensitive (cJSON_GetObjectItem is not).
//  - Integers are JSON numbers with no fractional part and magnitude below
//    2^53, so that the value read is the integer written.
#ifndef GC_CORE_JSON_H
#define GC_CORE_JSON_H
#include "gcache/gcache.h"
#include <cjson/cJSON.h>

// Largest integer magnitude accepted: 2^53 - 1 (every integer up to it is
// exact in a double; 2^53 + 1 would silently read as 2^53).
#define GC_JSON_MAX_INT 9007199254740991LL

// Parses `len` bytes (need not be NUL-terminated). Trailing whitespace is
// allowed, anything else after the value, or a raw NUL byte, is an error.
// On failure the message gives the line and column of the failure.
// Free the result with cJSON_Delete.
gc_status gc_json_parse(const char *text, size_t len, const char *path, cJSON **out);
// Reads the file at `path` and parses it.
gc_status gc_json_parse_file(const char *path, cJSON **out);

// Member `key` of `obj`; NULL if obj is not an object, the key is absent or
// its value is null.
const cJSON *gc_json_get(const cJSON *obj, const char *key);
// "object", "array", "string", "number", "bool", "null" (for messages).
const char *gc_json_type_name(const cJSON *v);

// ---- value conversions: `field` names the value (e.g. "eos_token_id[2]") ----
// v may be NULL (reported as missing).
gc_status gc_json_to_int(const char *path, const char *field, const cJSON *v,
                         int64_t min, int64_t max, int64_t *out);
// Any finite number (integers included), inclusive range.
gc_status gc_json_to_double(const char *path, const char *field, const cJSON *v,
                            double min, double max, double *out);
gc_status gc_json_to_bool(const char *path, const char *field, const cJSON *v, bool *out);
// *out points into the cJSON tree (valid while the tree lives).
gc_status gc_json_to_string(const char *path, const char *field, const cJSON *v, const char **out);
// An integer or an array of integers, each in [min, max], stored in
// out[0..*n). More than `cap` values is GC_ERR_UNSUPPORTED.
gc_status gc_json_to_int_list(const char *path, const char *field, const cJSON *v,
                              int64_t min, int64_t max, int64_t *out, int cap, int *n);

// ---- object members. req_*: absent/null is an error. opt_*: absent/null
// gives `def` (or NULL / 0 entries); present but invalid is an error. ----
gc_status gc_json_req_int(const char *path, const cJSON *obj, const char *key,
                          int64_t min, int64_t max, int64_t *out);
gc_status gc_json_opt_int(const char *path, const cJSON *obj, const char *key,
                          int64_t min, int64_t max, int64_t def, int64_t *out);
gc_status gc_json_req_double(const char *path, const cJSON *obj, const char *key,
                             double min, double max, double *out);
gc_status gc_json_opt_double(const char *path, const cJSON *obj, const char *key,
                             double min, double max, double def, double *out);
gc_status gc_json_req_bool(const char *path, const cJSON *obj, const char *key, bool *out);
gc_status gc_json_opt_bool(const char *path, const cJSON *obj, const char *key, bool def, bool *out);
gc_status gc_json_req_string(const char *path, const cJSON *obj, const char *key, const char **out);
gc_status gc_json_opt_string(const char *path, const cJSON *obj, const char *key,
                             const char *def, const char **out);
// Absent/null leaves *n = 0.
gc_status gc_json_opt_int_list(const char *path, const cJSON *obj, const char *key,
                               int64_t min, int64_t max, int64_t *out, int cap, int *n);
// Objects and arrays: *out points into the tree; opt_* gives NULL if absent/null.
gc_status gc_json_req_object(const char *path, const cJSON *obj, const char *key, const cJSON **out);
gc_status gc_json_opt_object(const char *path, const cJSON *obj, const char *key, const cJSON **out);
gc_status gc_json_req_array(const char *path, const cJSON *obj, const char *key, const cJSON **out);

#endif
