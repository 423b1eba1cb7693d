/*
 * map_json.c — name map files: {"format": "anvil-name-map", "version": 1 to 3,
 * "initializers": [...], "unmatched": [...], "tied": [[...], ...]} read with cJSON, every
 * field of the untrusted text checked (types, counts, lengths, unknown and duplicate fields),
 * and written back in the same format. Not here: what the entries mean (map.c checks them,
 * map_compute.c applies them).
 */
#include "namemap/name_map.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NM_FORMAT "anvil-name-map"
/* Version 2 added "perm" and "axis" on conv_bn_fold_weight entries, version 3 "tied"; a map is
 * written with the oldest version that holds it, so older readers still take what they can. */
#define NM_VERSION 3
/* cJSON spends ~64 bytes per JSON value: the text and its value count are bounded before
 * parsing (a real map needs ~10 values per entry). */
#define NM_MAX_TEXT ((size_t)256 << 20)
#define NM_MAX_VALUES ((size_t)1 << 23)

/* Names in messages are cut to this many bytes. */
#define NM_MSG_NAME 200

static anvil_status parse_error_at(const char *where, const char *field, const char *what) {
    return anvil__error(ANVIL_STATUS_PARSE_ERROR, "%s: field '%s': %s", where, field, what);
}

/* Counts separators outside strings: an upper bound of the values cJSON would allocate. */
static anvil_status check_json_size(const char *text, size_t n) {
    if (n > NM_MAX_TEXT)
        return anvil__error(ANVIL_STATUS_LIMIT_EXCEEDED,
                            "name map: %zu bytes of JSON, more than the limit of %zu", n,
                            NM_MAX_TEXT);
    size_t values = 1;
    bool in_string = false;
    for (size_t i = 0; i < n; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\') i++;
            else if (c == '"') in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == ',' || c == '[' || c == '{') {
            values++;
        }
    }
    if (values > NM_MAX_VALUES)
        return anvil__error(ANVIL_STATUS_LIMIT_EXCEEDED,
                            "name map: about %zu JSON values, more than the limit of %zu", values,
                            NM_MAX_VALUES);
    return ANVIL_OK;
}

/* The known fields of an object, each found at most once; any other field is an error. */
typedef struct nm_fields {
    const char *const *names;
    const cJSON *found[8];
    int n;
} nm_fields;

static anvil_status collect_fields(const cJSON *obj, nm_fields *f, const char *where) {
    memset(f->found, 0, sizeof f->found);
    for (const cJSON *c = obj->child; c; c = c->next) {
        int k = 0;
        while (k < f->n && strcmp(c->string, f->names[k]) != 0) k++;
        char field[NM_MSG_NAME + 8];
        snprintf(field, sizeof field, "%.*s", NM_MSG_NAME, c->string);
        if (k == f->n) return parse_error_at(where, field, "unknown field");
        if (f->found[k]) return parse_error_at(where, field, "appears twice");
        f->found[k] = c;
    }
    return ANVIL_OK;
}

static anvil_status get_string(const cJSON *item, const char *where, const char *field,
                               const char **out) {
    if (!item) return parse_error_at(where, field, "missing");
    if (!cJSON_IsString(item) || !item->valuestring)
        return parse_error_at(where, field, "not a string");
    *out = item->valuestring;
    return ANVIL_OK;
}

/* An array of at most `max` elements; *n gets its size. */
static anvil_status get_array(const cJSON *item, const char *where, const char *field, int max,
                              int *n) {
    if (!item) return parse_error_at(where, field, "missing");
    if (!cJSON_IsArray(item)) return parse_error_at(where, field, "not an array");
    int count = 0;
    for (const cJSON *c = item->child; c; c = c->next) {
        if (++count > max) {
            char what[64];
            snprintf(what, sizeof what, "more than %d elements", max);
            return parse_error_at(where, field, what);
        }
    }
    *n = count;
    return ANVIL_OK;
}

static anvil_status parse_sources(const cJSON *item, const char *where, anvil_map_entry *e) {
    int n = 0;
    anvil_status s = get_array(item, where, "sources", 5, &n);
    if (s != ANVIL_OK) return s;
    int i = 0;
    for (const cJSON *c = item->child; c; c = c->next, i++) {
        char field[32];
        snprintf(field, sizeof field, "sources[%d]", i);
        if ((s = get_string(c, where, field, &e->sources[i])) != ANVIL_OK) return s;
    }
    e->n_sources = n;
    return ANVIL_OK;
}

static anvil_status parse_perm(const cJSON *item, const char *where, anvil_map_entry *e) {
    int n = 0;
    anvil_status s = get_array(item, where, "perm", ANVIL_MAX_RANK, &n);
    if (s != ANVIL_OK) return s;
    int i = 0;
    for (const cJSON *c = item->child; c; c = c->next, i++) {
        char what[96];
        double d = c->valuedouble;
        if (!cJSON_IsNumber(c) || !(d >= 0 && d < ANVIL_MAX_RANK) || d != floor(d)) {
            snprintf(what, sizeof what, "element %d is not an axis (an integer 0 to %d)", i,
                     ANVIL_MAX_RANK - 1);
            return parse_error_at(where, "perm", what);
        }
        e->perm[i] = (int32_t)d;
    }
    e->rank = n;
    if (n == 0) return parse_error_at(where, "perm", "empty");
    return ANVIL_OK;
}

static anvil_status parse_eps(const cJSON *item, const char *where, anvil_map_entry *e) {
    if (!item) return parse_error_at(where, "eps", "missing");
    if (!cJSON_IsNumber(item)) return parse_error_at(where, "eps", "not a number");
    if (!(isfinite(item->valuedouble) && item->valuedouble >= 0))
        return parse_error_at(where, "eps", "not a finite number >= 0");
    e->eps = item->valuedouble;
    return ANVIL_OK;
}

static const char *const k_entry_fields[] = {"onnx", "kind", "sources", "perm", "eps", "axis"};
enum { F_ONNX, F_KIND, F_SOURCES, F_PERM, F_EPS, F_AXIS };

static anvil_status parse_axis(const cJSON *item, const char *where, anvil_map_entry *e) {
    double d = cJSON_IsNumber(item) ? item->valuedouble : -1;
    if (!(d >= 0 && d < ANVIL_MAX_RANK) || d != floor(d)) {
        char what[64];
        snprintf(what, sizeof what, "not an axis (an integer 0 to %d)", ANVIL_MAX_RANK - 1);
        return parse_error_at(where, "axis", what);
    }
    e->axis = (int32_t)d;
    return ANVIL_OK;
}

/* Fields that depend on the kind: perm for transpose (optional for a fold weight), eps for the
 * folds, axis (optional) for a fold weight. */
static anvil_status parse_kind_fields(const nm_fields *f, const char *where,
                                      anvil_map_entry *e) {
    anvil_status s = ANVIL_OK;
    const char *kind = anvil__map_kind_name(e->kind);
    char what[96];
    bool fold_weight = e->kind == ANVIL_MAP_CONV_BN_FOLD_WEIGHT;
    if (e->kind == ANVIL_MAP_TRANSPOSE || (fold_weight && f->found[F_PERM])) {
        s = parse_perm(f->found[F_PERM], where, e);
    } else if (f->found[F_PERM]) {
        snprintf(what, sizeof what, "not allowed for kind %s", kind);
        return parse_error_at(where, "perm", what);
    }
    bool fold = e->kind == ANVIL_MAP_CONV_BN_FOLD_WEIGHT || e->kind == ANVIL_MAP_CONV_BN_FOLD_BIAS;
    if (s == ANVIL_OK && fold) {
        s = parse_eps(f->found[F_EPS], where, e);
    } else if (s == ANVIL_OK && f->found[F_EPS]) {
        snprintf(what, sizeof what, "not allowed for kind %s", kind);
        return parse_error_at(where, "eps", what);
    }
    if (s == ANVIL_OK && f->found[F_AXIS]) {
        if (!fold_weight) {
            snprintf(what, sizeof what, "not allowed for kind %s", kind);
            return parse_error_at(where, "axis", what);
        }
        s = parse_axis(f->found[F_AXIS], where, e);
    }
    return s;
}

static anvil_status parse_entry(anvil_name_map *map, const cJSON *item, size_t index) {
    char where[NM_MSG_NAME + 64];
    snprintf(where, sizeof where, "name map: initializers[%zu]", index);
    if (!cJSON_IsObject(item))
        return anvil__error(ANVIL_STATUS_PARSE_ERROR, "%s: not an object", where);
    nm_fields f = {k_entry_fields, {NULL}, 6};
    anvil_map_entry e;
    memset(&e, 0, sizeof e);
    const cJSON *onnx = cJSON_GetObjectItemCaseSensitive(item, "onnx");
    if (cJSON_IsString(onnx) && onnx->valuestring) /* named in every later message */
        snprintf(where, sizeof where, "name map: initializers[%zu] ('%.*s')", index, NM_MSG_NAME,
                 onnx->valuestring);
    anvil_status s = collect_fields(item, &f, where);
    if (s == ANVIL_OK) s = get_string(f.found[F_ONNX], where, "onnx", &e.onnx);
    if (s != ANVIL_OK) return s;
    const char *kind = NULL;
    if ((s = get_string(f.found[F_KIND], where, "kind", &kind)) != ANVIL_OK) return s;
    if (!anvil__map_kind_parse(kind, &e.kind)) {
        char what[NM_MSG_NAME + 160];
        snprintf(what, sizeof what, "unknown kind '%.*s' (expected identity, transpose, "
                 "conv_bn_fold_weight or conv_bn_fold_bias)", NM_MSG_NAME, kind);
        return parse_error_at(where, "kind", what);
    }
    s = parse_sources(f.found[F_SOURCES], where, &e);
    if (s == ANVIL_OK) s = parse_kind_fields(&f, where, &e);
    if (s == ANVIL_OK) s = anvil__name_map_add(map, &e, where, ANVIL_STATUS_PARSE_ERROR);
    return s;
}

static anvil_status parse_entries(anvil_name_map *map, const cJSON *item) {
    int n = 0;
    anvil_status s = get_array(item, "name map", "initializers",
                               (int)ANVIL_NAME_MAP_MAX_ENTRIES, &n);
    size_t i = 0;
    for (const cJSON *c = s == ANVIL_OK ? item->child : NULL; c && s == ANVIL_OK; c = c->next)
        s = parse_entry(map, c, i++);
    return s;
}

static anvil_status parse_unmatched(anvil_name_map *map, const cJSON *item) {
    int n = 0;
    anvil_status s = get_array(item, "name map", "unmatched", (int)ANVIL_NAME_MAP_MAX_ENTRIES, &n);
    int i = 0;
    for (const cJSON *c = s == ANVIL_OK ? item->child : NULL; c && s == ANVIL_OK; c = c->next) {
        char where[64];
        const char *name = NULL;
        snprintf(where, sizeof where, "name map: unmatched[%d]", i++);
        s = get_string(c, where, "unmatched", &name);
        if (s == ANVIL_OK)
            s = anvil__name_map_add_unmatched(map, name, where, ANVIL_STATUS_PARSE_ERROR);
    }
    return s;
}

/* "tied": an array of groups, each an array of names (map.c checks them). */
static anvil_status parse_tied(anvil_name_map *map, const cJSON *item) {
    int n = 0;
    anvil_status s = get_array(item, "name map", "tied", (int)ANVIL_NAME_MAP_MAX_ENTRIES, &n);
    int i = 0;
    for (const cJSON *g = s == ANVIL_OK ? item->child : NULL; g && s == ANVIL_OK; g = g->next) {
        char where[64];
        snprintf(where, sizeof where, "name map: tied[%d]", i++);
        int count = 0;
        s = get_array(g, where, "tied", (int)ANVIL_NAME_MAP_MAX_ENTRIES, &count);
        const char **names = s == ANVIL_OK ? anvil__calloc((size_t)count + 1, sizeof *names)
                                           : NULL;
        if (s == ANVIL_OK && !names) s = ANVIL_STATUS_OUT_OF_MEMORY;
        int k = 0;
        for (const cJSON *c = names ? g->child : NULL; c && s == ANVIL_OK; c = c->next, k++) {
            char field[32];
            snprintf(field, sizeof field, "tied[%d]", k);
            s = get_string(c, where, field, &names[k]);
        }
        if (s == ANVIL_OK)
            s = anvil__name_map_add_tie(map, names, (size_t)count, where, ANVIL_STATUS_PARSE_ERROR);
        anvil__free(names);
    }
    return s;
}

static const char *const k_top_fields[] = {"format", "version", "initializers", "unmatched",
                                           "tied"};

static anvil_status parse_root(anvil_name_map *map, const cJSON *root) {
    if (!cJSON_IsObject(root))
        return anvil__error(ANVIL_STATUS_PARSE_ERROR, "name map: not a JSON object");
    nm_fields f = {k_top_fields, {NULL}, 5};
    const char *format = NULL;
    anvil_status s = collect_fields(root, &f, "name map");
    if (s == ANVIL_OK) s = get_string(f.found[0], "name map", "format", &format);
    if (s != ANVIL_OK) return s;
    if (strcmp(format, NM_FORMAT) != 0)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                            "name map: field 'format': '%.*s', expected '" NM_FORMAT "'",
                            NM_MSG_NAME, format);
    const cJSON *v = f.found[1];
    if (!v) return parse_error_at("name map", "version", "missing");
    if (!cJSON_IsNumber(v)) return parse_error_at("name map", "version", "not a number");
    if (!(v->valuedouble >= 1 && v->valuedouble <= NM_VERSION) ||
        v->valuedouble != floor(v->valuedouble))
        return anvil__error(ANVIL_STATUS_PARSE_ERROR, "name map: field 'version': %g, this anvil "
                            "reads versions 1 to %d", v->valuedouble, NM_VERSION);
    s = parse_entries(map, f.found[2]);
    if (s == ANVIL_OK && f.found[3]) s = parse_unmatched(map, f.found[3]);
    if (s == ANVIL_OK && f.found[4]) s = parse_tied(map, f.found[4]);
    return s;
}

/* text is NUL-terminated, n bytes before the NUL. */
static anvil_status parse_text(const char *text, size_t n, anvil_name_map **out) {
    anvil_status s = check_json_size(text, n);
    if (s != ANVIL_OK) return s;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 0);
    if (!root)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR, "name map: not valid JSON (error near "
                            "byte %td)", end ? end - text : (ptrdiff_t)0);
    size_t at = (size_t)(end - text);
    while (at < n && (text[at] == ' ' || text[at] == '\n' || text[at] == '\t' || text[at] == '\r'))
        at++;
    anvil_name_map *map = NULL;
    if (at < n)
        s = anvil__error(ANVIL_STATUS_PARSE_ERROR,
                         "name map: unexpected byte 0x%02x at offset %zu after the JSON",
                         (unsigned)(uint8_t)text[at], at);
    else if (!(map = anvil__name_map_new()))
        s = ANVIL_STATUS_OUT_OF_MEMORY;
    else
        s = parse_root(map, root);
    cJSON_Delete(root);
    if (s != ANVIL_OK) {
        anvil_name_map_destroy(map);
        return s;
    }
    *out = map;
    return ANVIL_OK;
}

anvil_status anvil_name_map_load_memory(const void *data, size_t size, anvil_name_map **out) {
    if (!out || (!data && size))
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "name_map_load_memory: NULL argument");
    *out = NULL;
    if (size > NM_MAX_TEXT) return check_json_size(data, size);
    /* cJSON needs a NUL-terminated string; the copy also keeps it inside `size` bytes. */
    char *text = anvil__malloc(size + 1);
    if (!text) return ANVIL_STATUS_OUT_OF_MEMORY;
    if (size) memcpy(text, data, size);
    text[size] = '\0';
    if (strlen(text) != size) {
        size_t at = strlen(text);
        anvil__free(text);
        return anvil__error(ANVIL_STATUS_PARSE_ERROR, "name map: NUL byte at offset %zu", at);
    }
    anvil_status s = parse_text(text, size, out);
    anvil__free(text);
    return s;
}

anvil_status anvil_name_map_load(const char *path, anvil_name_map **out) {
    if (!path || !out)
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "name_map_load: NULL argument");
    *out = NULL;
    anvil__mapping m;
    anvil_status s = anvil__map_file(path, &m);
    if (s != ANVIL_OK) return s;
    s = anvil_name_map_load_memory(m.data, m.size, out);
    anvil__unmap(&m);
    if (s != ANVIL_OK) return anvil__error_prefix(s, "while loading '%s'", path);
    return ANVIL_OK;
}

/* ---- writing ------------------------------------------------------------------------------ */

/* Shortest of %.15g/%.16g/%.17g that reads back as exactly d (cJSON's own printing only
 * promises a relative 1e-16). */
static cJSON *exact_number(double d) {
    char buf[40];
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, d);
        if (strtod(buf, NULL) == d) break;
    }
    return cJSON_CreateRaw(buf);
}

/* Adds item (freed on failure; NULL counts as a failure) under a constant key, or to an array
 * when key is NULL. */
static bool add(cJSON *to, const char *key, cJSON *item) {
    if (!item) return false;
    bool ok = key ? cJSON_AddItemToObjectCS(to, key, item) : cJSON_AddItemToArray(to, item);
    if (!ok) cJSON_Delete(item);
    return ok;
}

static cJSON *perm_json(const anvil_map_entry *e) {
    cJSON *perm = cJSON_CreateArray();
    for (int32_t i = 0; perm && i < e->rank; i++) {
        if (!add(perm, NULL, cJSON_CreateNumber(e->perm[i]))) {
            cJSON_Delete(perm);
            return NULL;
        }
    }
    return perm;
}

static cJSON *entry_json(const anvil_map_entry *e) {
    cJSON *o = cJSON_CreateObject();
    cJSON *src = cJSON_CreateArray();
    bool ok = o && add(o, "onnx", cJSON_CreateStringReference(e->onnx)) &&
              add(o, "kind", cJSON_CreateStringReference(anvil__map_kind_name(e->kind)));
    for (int32_t i = 0; ok && src && i < e->n_sources; i++)
        ok = add(src, NULL, cJSON_CreateStringReference(e->sources[i]));
    if (ok) {
        ok = add(o, "sources", src);
    } else {
        cJSON_Delete(src);
    }
    if (ok && e->rank > 0) ok = add(o, "perm", perm_json(e));
    if (ok && (e->kind == ANVIL_MAP_CONV_BN_FOLD_WEIGHT || e->kind == ANVIL_MAP_CONV_BN_FOLD_BIAS))
        ok = add(o, "eps", exact_number(e->eps));
    if (ok && e->axis != 0) ok = add(o, "axis", cJSON_CreateNumber(e->axis));
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* The oldest version that holds the map (see NM_VERSION). */
static int map_version(const anvil_name_map *map) {
    if (map->n_ties) return 3;
    for (size_t i = 0; i < map->count; i++) {
        const anvil_map_entry *e = &map->entries[i];
        if (e->kind == ANVIL_MAP_CONV_BN_FOLD_WEIGHT && (e->rank || e->axis)) return 2;
    }
    return 1;
}

static cJSON *ties_json(const anvil_name_map *map) {
    cJSON *ties = cJSON_CreateArray();
    for (size_t i = 0; ties && i < map->n_ties; i++) {
        cJSON *group = cJSON_CreateArray();
        bool ok = add(ties, NULL, group);
        for (size_t k = 0; ok && k < map->ties[i].count; k++)
            ok = add(group, NULL, cJSON_CreateStringReference(map->ties[i].names[k]));
        if (!ok) {
            cJSON_Delete(ties);
            return NULL;
        }
    }
    return ties;
}

static cJSON *map_json(const anvil_name_map *map) {
    cJSON *root = cJSON_CreateObject();
    cJSON *entries = cJSON_CreateArray(), *unmatched = cJSON_CreateArray();
    bool ok = root && entries && unmatched &&
              add(root, "format", cJSON_CreateStringReference(NM_FORMAT)) &&
              add(root, "version", cJSON_CreateNumber(map_version(map)));
    for (size_t i = 0; ok && i < map->count; i++)
        ok = add(entries, NULL, entry_json(&map->entries[i]));
    for (size_t i = 0; ok && i < map->n_unmatched; i++)
        ok = add(unmatched, NULL, cJSON_CreateStringReference(map->unmatched[i]));
    /* add() frees what it fails to add, so each array is freed exactly once. */
    if (ok) ok = add(root, "initializers", entries);
    else cJSON_Delete(entries);
    if (ok) ok = add(root, "unmatched", unmatched);
    else cJSON_Delete(unmatched);
    if (ok && map->n_ties) ok = add(root, "tied", ties_json(map));
    if (!ok) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

anvil_status anvil__name_map_to_json(const anvil_name_map *map, char **text, size_t *len) {
    if (!map || !text)
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "name_map_to_json: NULL argument");
    *text = NULL;
    if (len) *len = 0;
    cJSON *root = map_json(map);
    char *printed = root ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!printed)
        return anvil__error(ANVIL_STATUS_OUT_OF_MEMORY, "name map: out of memory writing JSON");
    size_t n = strlen(printed);
    char *copy = anvil__malloc(n + 2);
    if (copy) {
        memcpy(copy, printed, n);
        copy[n++] = '\n';
        copy[n] = '\0';
    }
    cJSON_free(printed);
    if (!copy) return ANVIL_STATUS_OUT_OF_MEMORY;
    *text = copy;
    if (len) *len = n;
    return ANVIL_OK;
}

anvil_status anvil_name_map_save(const anvil_name_map *map, const char *path) {
    if (!map || !path)
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "name_map_save: NULL argument");
    char *text = NULL;
    size_t len = 0;
    anvil_status s = anvil__name_map_to_json(map, &text, &len);
    if (s != ANVIL_OK) return s;
    const void *parts[1] = {text};
    s = anvil__write_file_atomic(path, parts, &len, 1);
    anvil__free(text);
    return s;
}
