/*
 * refit_sources.h — finding and validating a refit's source weights (refit_sources.c) and
 * verifying a staged weight set (refit_verify.c); refit.c orchestrates.
 */
#ifndef ANVIL_REFIT_SOURCES_H
#define ANVIL_REFIT_SOURCES_H

#include "engine/engine_internal.h"

/* A bounded list of offending names for one error message. */
typedef struct anvil__name_list {
    char text[1536];
    size_t len;
    int count;
} anvil__name_list;
/* Appends 'name' (and detail, may be NULL); past the buffer, counts and ends with "...". */
void anvil__name_list_add(anvil__name_list *l, const char *name, const char *detail);

/* Checks a refit source's kind and that it carries what its kind needs. */
anvil_status anvil__refit_check_source(const anvil_refit_source *src);

/* The engine's source weights found in one refit source, in weights->inputs order. */
typedef struct anvil__refit_sources {
    anvil__tensor *t;   /* borrowed from the source, or computed through the name map */
    void **computed;    /* per source: data to free (name-map results), else NULL */
    /* per source: a name-map result left as a view of its checkpoint tensor (base NULL when
     * not; t then holds its dtype and shape, and data that must not be read) */
    anvil__tensor_view *views;
    int32_t n;
    size_t n_mapped;
} anvil__refit_sources;

/* Finds every source weight of the engine in `src` (by name, else through `map`), validating
 * dtype, shape, byte count and (check_finite) values. Any problem fails with one error naming
 * every offending weight (and the source's unused tensors when some are missing). With
 * allow_views, name-map results the engine only packs are left as views of their checkpoint
 * tensors (packing reads them in place); otherwise every source is a dense tensor. */
anvil_status anvil__refit_gather(const anvil_engine *e, const anvil_refit_source *src,
                                 const anvil_name_map *map, bool check_finite, bool allow_views,
                                 anvil__refit_sources *out);
void anvil__refit_sources_free(anvil__refit_sources *s);

/* Runs the engine on `set` and the reference interpreter on the engine's run graph with the
 * set's sources unpacked, on the verify inputs of `o`. *worst receives the largest relative
 * error over the outputs (max |engine - reference| / max |reference|) and *worst_output its
 * output index. Errors: the inputs' (they do not fit the engine) and OUT_OF_MEMORY. */
anvil_status anvil__refit_verify(const anvil_engine *e, const anvil__weight_set *set,
                                 const anvil__refit_sources *sources,
                                 const anvil_refit_options *o, double *worst,
                                 int32_t *worst_output);

#endif /* ANVIL_REFIT_SOURCES_H */
