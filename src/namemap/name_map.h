/*
 * name_map.h — internals of the public anvil_name_map (name maps: how each ONNX initializer is
 * computed from checkpoint tensors). The first part is the contract with refit and the engine
 * file code; the second is shared by the files of src/namemap only.
 */
#ifndef ANVIL_NAMEMAP_NAME_MAP_H
#define ANVIL_NAMEMAP_NAME_MAP_H

#include "core/core.h"
#include "ir/ir.h"

#include <stdbool.h>

/* ---- Contract with refit and the engine file code ------------------------------------------ */

/* Looks up a checkpoint tensor by name; false if absent. */
typedef bool (*anvil__lookup_fn)(void *user, const char *name, anvil__tensor *out);

/* Computes the ONNX initializer of entry e from checkpoint tensors (found with lookup). out->data
 * is allocated with anvil__malloc (caller frees). Checks every source: present (NOT_FOUND naming
 * each missing source and the ONNX name), float dtype (DTYPE_MISMATCH otherwise; identity and
 * transpose accept any dtype; the sources of a fold share one dtype), shapes consistent
 * (SHAPE_MISMATCH: BN vectors length = W's dim `axis`, perm valid for the rank), bytes ==
 * shape*dtype size. f32 is computed in float in exactly the order of the formulas in anvil.h
 * (s = gamma / sqrtf(var + (float)eps); W*s; beta + (b-mean)*s) so that the result is
 * bit-identical to PyTorch's export folding; f16/bf16 through float, f64 in double. */
anvil_status anvil__name_map_compute(const anvil_map_entry *e, anvil__lookup_fn lookup, void *user,
                                     anvil__tensor *out);
/* The same result as a view of one checkpoint tensor, for packing it without writing it out:
 * identity and transpose (strides into the source, any dtype) and the weight of an f32 conv
 * BatchNorm fold along axis 0 without a perm (the source times scale[i_0], computed exactly as
 * compute does). After the same checks as compute, *shape gets the result's dtype, shape and
 * bytes (data: the source's), and *view its view (view->scale from anvil__malloc, caller
 * frees). UNSUPPORTED for other kinds, axes and dtypes: compute those. */
anvil_status anvil__name_map_view(const anvil_map_entry *e, anvil__lookup_fn lookup, void *user,
                                  anvil__tensor *shape, anvil__tensor_view *view);
/* JSON text of the map (the same format as anvil_name_map_save), for engine files; *text from
 * anvil__malloc, NUL-terminated, *len bytes without the NUL. */
anvil_status anvil__name_map_to_json(const anvil_name_map *map, char **text, size_t *len);
anvil_status anvil__name_map_clone(const anvil_name_map *map, anvil_name_map **out);

/* ---- Shared by the files of src/namemap ------------------------------------------------ */

/* Bounds on what a map may hold (maps come from untrusted files). */
#define ANVIL_NAME_MAP_MAX_ENTRIES ((size_t)1 << 20)
#define ANVIL_NAME_MAP_MAX_NAME 4096 /* bytes of one tensor name */

/* A tie group (anvil_name_map_tie): names owned. */
typedef struct anvil__tie_group {
    char **names;
    size_t count;
} anvil__tie_group;

struct anvil_name_map {
    anvil_map_entry *entries; /* strings owned (onnx and each source, "" included) */
    size_t count, cap;
    char **unmatched; /* owned */
    size_t n_unmatched, cap_unmatched;
    anvil__tie_group *ties; /* owned */
    size_t n_ties, cap_ties, n_tie_names; /* n_tie_names: over all groups */
    anvil__name_map index; /* onnx name → entry index (keys borrowed from entries) */
    anvil__name_map unmatched_index;
};

/* The number of sources each kind takes; -1 for an invalid kind. */
int32_t anvil__map_kind_sources(anvil_map_kind kind);
/* "identity", "transpose", "conv_bn_fold_weight", "conv_bn_fold_bias"; NULL if invalid. */
const char *anvil__map_kind_name(anvil_map_kind kind);
/* Kind named `name`; false if none. */
bool anvil__map_kind_parse(const char *name, anvil_map_kind *out);

anvil_name_map *anvil__name_map_new(void);
/* Checks e (kind, source count, names, perm, eps) and appends a copy. Returns `invalid` with a
 * message "<where>: field '<field>': ..." when e is invalid or its onnx name is already in the
 * map (or in its unmatched list); LIMIT_EXCEEDED past ANVIL_NAME_MAP_MAX_ENTRIES. */
anvil_status anvil__name_map_add(anvil_name_map *map, const anvil_map_entry *e, const char *where,
                                 anvil_status invalid);
/* Appends a copy of `name` to the unmatched list; `invalid` when it is empty, too long, or
 * already in the map. */
anvil_status anvil__name_map_add_unmatched(anvil_name_map *map, const char *name,
                                           const char *where, anvil_status invalid);

/* Appends a copy of a tie group; `invalid` when it has fewer than 2 names, an invalid or
 * repeated name; LIMIT_EXCEEDED past ANVIL_NAME_MAP_MAX_ENTRIES names over all groups. */
anvil_status anvil__name_map_add_tie(anvil_name_map *map, const char *const *names, size_t count,
                                     const char *where, anvil_status invalid);

/* ---- Matching (map_build.c, map_build_bn.c) ----------------------------------------------- */

/* A checkpoint tensor (name and data borrowed from the safetensors object). */
typedef struct anvil__nm_ckpt {
    const char *name;
    anvil__tensor t;
    int64_t numel;
    uint64_t hash; /* XXH3 of the bytes */
} anvil__nm_ckpt;

/* State of one anvil_name_map_build. */
typedef struct anvil__nm_build {
    const anvil__graph *g;
    double tol;               /* options.tolerance */
    anvil__nm_ckpt *ck;       /* checkpoint order */
    size_t n_ck;
    anvil__name_map ck_index; /* name → index in ck */
    anvil_map_entry *found;   /* per initializer; n_sources == 0: no match yet (sources
                                 borrowed from ck names, or "") */
    bool *same_name;          /* per initializer: identity under its own name */
} anvil__nm_build;

/* anvil__lookup_fn over the checkpoint; user is the anvil__nm_build. */
bool anvil__nm_lookup(void *user, const char *name, anvil__tensor *out);
/* Finds BatchNorm folds for the weights (and biases) of Conv and Gemm nodes whose weight has no
 * match yet; fills b->found. */
anvil_status anvil__nm_match_folds(anvil__nm_build *b);

#endif /* ANVIL_NAMEMAP_NAME_MAP_H */
