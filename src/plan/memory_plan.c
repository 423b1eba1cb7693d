/*
 * memory_plan.c — places arena buffers by liveness: buffers sorted by size (largest first),
 * each put at the lowest 64-byte aligned offset that does not overlap, in address and in time,
 * a buffer already placed. Simple, deterministic, and close to optimal for chain-like graphs.
 */
#include "plan/plan.h"


#define ARENA_ALIGN 64

static size_t align_up(size_t x) { return (x + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1); }

/* Orders buffer ids by size, largest first (ties by id: deterministic). Insertion sort: a
 * plan has hundreds of buffers, and qsort would need shared state for its comparator. */
static void sort_by_size(const anvil__buf *bufs, int32_t *ids, int32_t n) {
    for (int32_t i = 1; i < n; i++) {
        int32_t id = ids[i], j = i - 1;
        while (j >= 0 && (bufs[ids[j]].bytes < bufs[id].bytes ||
                          (bufs[ids[j]].bytes == bufs[id].bytes && ids[j] > id))) {
            ids[j + 1] = ids[j];
            j--;
        }
        ids[j + 1] = id;
    }
}

static bool overlaps_in_time(const anvil__buf *a, const anvil__buf *b) {
    return !(a->last < b->first || b->last < a->first);
}

anvil_status anvil__memory_plan(anvil__plan *p) {
    int32_t n = 0;
    int32_t *order = anvil__malloc_array((size_t)(p->n_bufs + 1), sizeof *order);
    if (!order) return ANVIL_STATUS_OUT_OF_MEMORY;
    p->activation_bytes = 0;
    for (int32_t i = 0; i < p->n_bufs; i++) {
        if (p->bufs[i].kind != ANVIL_BUF_ARENA || p->bufs[i].alias_of >= 0) continue;
        if (p->bufs[i].first < 0) p->bufs[i].first = 0;
        if (p->bufs[i].last < p->bufs[i].first) p->bufs[i].last = p->bufs[i].first;
        p->activation_bytes += p->bufs[i].bytes;
        order[n++] = i;
    }
    sort_by_size(p->bufs, order, n);
    size_t arena = 0;
    for (int32_t k = 0; k < n; k++) {
        anvil__buf *b = &p->bufs[order[k]];
        size_t offset = 0;
        /* Retry from the end of any conflicting placed buffer until no conflict remains. */
        for (bool moved = true; moved;) {
            moved = false;
            for (int32_t j = 0; j < k; j++) {
                const anvil__buf *o = &p->bufs[order[j]];
                if (!overlaps_in_time(b, o)) continue;
                if (offset < o->offset + align_up(o->bytes) && o->offset < offset + align_up(b->bytes)) {
                    offset = o->offset + align_up(o->bytes);
                    moved = true;
                }
            }
        }
        b->offset = offset;
        if (offset + align_up(b->bytes) > arena) arena = offset + align_up(b->bytes);
    }
    for (int32_t i = 0; i < p->n_bufs; i++) /* views share their base's memory */
        if (p->bufs[i].alias_of >= 0) p->bufs[i].offset = p->bufs[p->bufs[i].alias_of].offset;
    p->arena_bytes = arena;
    anvil__free(order);
    return ANVIL_OK;
}
