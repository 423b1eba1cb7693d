/*
 * einsum.c — Einsum: parses the equation (explicit "->" or implicit output, "..." ellipsis
 * broadcast, repeated labels for diagonals, spaces ignored) and evaluates it as one plain
 * loop over every label combination, summing products. f32 accumulates in double; integer
 * dtypes are exact (wrapping). Clarity over speed: no contraction-order planning.
 */
#include "ops/op.h"

#include <string.h>

#define EIN_LETTERS 52 /* a-z then A-Z; ellipsis dims use label ids from 52 up */
#define EIN_MAX_LABELS (EIN_LETTERS + ANVIL_MAX_RANK)
/* The loop visits every label combination; refuse equations that would run for hours. */
#define EIN_MAX_STEPS ((int64_t)1 << 36)

typedef struct ein_term {
    int32_t n_letters;
    int8_t letters[ANVIL_MAX_RANK + 1];
    int32_t ell_pos; /* index in letters where "..." stands; -1 without ellipsis */
    int32_t rank;    /* after expanding the ellipsis */
    int8_t labels[ANVIL_MAX_RANK];
} ein_term;

typedef struct ein_eq {
    int32_t n_in;
    ein_term terms[ANVIL_MAX_RANK]; /* one per input */
    bool has_out;
    ein_term out;
    int32_t ell_rank;
    int64_t size[EIN_MAX_LABELS]; /* -1 unknown; -2 label unused */
} ein_eq;

static int letter_id(char ch) {
    if (ch >= 'a' && ch <= 'z') return ch - 'a';
    if (ch >= 'A' && ch <= 'Z') return 26 + (ch - 'A');
    return -1;
}

static char label_char(int id) {
    return id < 26 ? (char)('a' + id) : id < EIN_LETTERS ? (char)('A' + id - 26) : '.';
}

/* Parses one term from [s, e) (spaces skipped). */
static anvil_status parse_term(const anvil__node *node, const char *s, const char *e, ein_term *t) {
    memset(t, 0, sizeof *t);
    t->ell_pos = -1;
    for (const char *p = s; p < e; p++) {
        if (*p == ' ') continue;
        if (*p == '.') {
            if (t->ell_pos >= 0 || e - p < 3 || p[1] != '.' || p[2] != '.')
                return anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                                         "equation: misplaced '.' (one '...' per term)");
            t->ell_pos = t->n_letters;
            p += 2;
            continue;
        }
        int id = letter_id(*p);
        if (id < 0)
            return anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                                     "equation: unexpected character '%c'", *p);
        if (t->n_letters >= ANVIL_MAX_RANK)
            return anvil__node_error(node, ANVIL_STATUS_LIMIT_EXCEEDED,
                                     "equation: a term has more than %d labels", ANVIL_MAX_RANK);
        t->letters[t->n_letters++] = (int8_t)id;
    }
    return ANVIL_OK;
}

/* Expands a term's ellipsis into `ell_dims` labels right-aligned among ell_rank. */
static void expand(ein_term *t, int32_t ell_dims, int32_t ell_rank) {
    int32_t r = 0;
    for (int32_t i = 0; i <= t->n_letters; i++) {
        if (i == t->ell_pos)
            for (int32_t j = 0; j < ell_dims; j++)
                t->labels[r++] = (int8_t)(EIN_LETTERS + ell_rank - ell_dims + j);
        if (i < t->n_letters) t->labels[r++] = t->letters[i];
    }
    t->rank = r;
}

/* Records the size of every label of input term t (shape dims), checking agreement. */
static anvil_status label_sizes(const anvil__node *node, ein_eq *q, int32_t ti,
                                const anvil__tensor *x) {
    const ein_term *t = &q->terms[ti];
    for (int32_t d = 0; d < t->rank; d++) {
        int l = t->labels[d];
        int64_t v = x->dims[d], cur = q->size[l];
        bool ell = l >= EIN_LETTERS; /* ellipsis dims broadcast (size 1 stretches) */
        if (cur == -2 || (cur < 0 && v >= 0) || (ell && cur == 1 && v != 1)) {
            q->size[l] = v;
        } else if (!(v == cur || v < 0 || (ell && v == 1))) {
            return anvil__node_error(node, ANVIL_STATUS_SHAPE_MISMATCH,
                                     "input %d dim %d: size %lld disagrees with %lld for the same "
                                     "label",
                                     (int)ti, (int)d, (long long)v, (long long)cur);
        }
    }
    return ANVIL_OK;
}

/* Parses the equation and, when every input rank is known, resolves labels and sizes.
 * Returns *known = false when some input rank is unknown. */
static anvil_status ein_parse(const anvil__op_ctx *ctx, ein_eq *q, bool *known) {
    const anvil__node *node = ctx->node;
    const char *eq = anvil__attr_string(node, "equation", NULL);
    if (!eq)
        return anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                                 "missing required attribute 'equation'");
    if (ctx->n_inputs > ANVIL_MAX_RANK)
        return anvil__node_error(node, ANVIL_STATUS_LIMIT_EXCEEDED, "more than %d inputs",
                                 ANVIL_MAX_RANK);
    memset(q, 0, sizeof *q);
    const char *arrow = strstr(eq, "->"), *end = arrow ? arrow : eq + strlen(eq);
    const char *s = eq;
    for (;;) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *te = comma ? comma : end;
        if (q->n_in >= ctx->n_inputs)
            return anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                                     "equation '%s' has more terms than the %d inputs", eq,
                                     (int)ctx->n_inputs);
        anvil_status st = parse_term(node, s, te, &q->terms[q->n_in++]);
        if (st != ANVIL_OK) return st;
        if (!comma) break;
        s = comma + 1;
    }
    if (q->n_in != ctx->n_inputs)
        return anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                                 "equation '%s' has %d input terms for %d inputs", eq, (int)q->n_in,
                                 (int)ctx->n_inputs);
    q->has_out = arrow != NULL;
    if (arrow) {
        anvil_status st = parse_term(node, arrow + 2, arrow + 2 + strlen(arrow + 2), &q->out);
        if (st != ANVIL_OK) return st;
    }
    *known = true;
    for (int32_t i = 0; i < q->n_in; i++) {
        const ein_term *t = &q->terms[i];
        const anvil__tensor *x = ctx->inputs[i];
        if (!x || x->rank < 0) {
            *known = false;
            continue;
        }
        int32_t ell = x->rank - t->n_letters;
        if (ell < 0 || (t->ell_pos < 0 && ell != 0))
            return anvil__node_error(node, ANVIL_STATUS_SHAPE_MISMATCH,
                                     "input %d has rank %d but its equation term has %d labels%s",
                                     (int)i, (int)x->rank, (int)t->n_letters,
                                     t->ell_pos >= 0 ? " and '...'" : "");
        if (ell > q->ell_rank) q->ell_rank = ell;
    }
    if (!*known) return ANVIL_OK;
    for (int l = 0; l < EIN_MAX_LABELS; l++)
        q->size[l] = -2;
    for (int32_t i = 0; i < q->n_in; i++) {
        expand(&q->terms[i], ctx->inputs[i]->rank - q->terms[i].n_letters, q->ell_rank);
        anvil_status st = label_sizes(node, q, i, ctx->inputs[i]);
        if (st != ANVIL_OK) return st;
    }
    return ANVIL_OK;
}

/* Output labels: explicit (validated) or implicit (ellipsis dims, then letters used once, in
 * ASCII order as numpy does). */
static anvil_status ein_output(const anvil__node *node, ein_eq *q) {
    ein_term *o = &q->out;
    if (q->has_out) {
        int32_t ell = o->ell_pos >= 0 ? q->ell_rank : 0;
        if (o->n_letters + ell > ANVIL_MAX_RANK)
            return anvil__node_error(node, ANVIL_STATUS_LIMIT_EXCEEDED, "output rank over %d",
                                     ANVIL_MAX_RANK);
        expand(o, ell, q->ell_rank);
        for (int32_t i = 0; i < o->rank; i++) {
            for (int32_t j = 0; j < i; j++)
                if (o->labels[j] == o->labels[i])
                    return anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                                             "equation: output label repeated");
            if (q->size[o->labels[i]] == -2)
                return anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                                         "equation: output label '%c' is in no input",
                                         label_char(o->labels[i]));
        }
        return ANVIL_OK;
    }
    int count[EIN_LETTERS] = {0};
    for (int32_t i = 0; i < q->n_in; i++)
        for (int32_t j = 0; j < q->terms[i].n_letters; j++)
            count[q->terms[i].letters[j]]++;
    memset(o, 0, sizeof *o);
    for (int32_t j = 0; j < q->ell_rank; j++)
        o->labels[o->rank++] = (int8_t)(EIN_LETTERS + j);
    for (int ascii = 'A'; ascii <= 'z'; ascii++) {
        int id = letter_id((char)ascii);
        if (id >= 0 && count[id] == 1) {
            if (o->rank >= ANVIL_MAX_RANK)
                return anvil__node_error(node, ANVIL_STATUS_LIMIT_EXCEEDED, "output rank over %d",
                                         ANVIL_MAX_RANK);
            o->labels[o->rank++] = (int8_t)id;
        }
    }
    return ANVIL_OK;
}

anvil_status anvil__op_einsum_validate(const anvil__node *node, int64_t opset) {
    return anvil__attr_require(node, "equation", ANVIL_ATTR_STRING);
}

static anvil_status ein_dtype(const anvil__op_ctx *ctx, anvil_dtype *out) {
    anvil_dtype dt = ANVIL_DTYPE_UNDEFINED;
    for (int32_t i = 0; i < ctx->n_inputs; i++) {
        const anvil__tensor *x = ctx->inputs[i];
        if (!x)
            return anvil__node_error(ctx->node, ANVIL_STATUS_INVALID_GRAPH, "input %d is omitted",
                                     (int)i);
        if (x->dtype == ANVIL_DTYPE_BOOL)
            return anvil__node_error(ctx->node, ANVIL_STATUS_UNSUPPORTED,
                                     "dtype bool is not supported");
        if (dt != ANVIL_DTYPE_UNDEFINED && x->dtype != ANVIL_DTYPE_UNDEFINED && x->dtype != dt)
            return anvil__node_error(ctx->node, ANVIL_STATUS_DTYPE_MISMATCH,
                                     "input %d is %s, input 0 is %s", (int)i,
                                     anvil_dtype_name(x->dtype), anvil_dtype_name(dt));
        if (dt == ANVIL_DTYPE_UNDEFINED) dt = x->dtype;
    }
    *out = dt;
    return ANVIL_OK;
}

anvil_status anvil__op_einsum_infer(anvil__op_ctx *ctx) {
    anvil_dtype dt;
    ein_eq q;
    bool known;
    anvil_status s = ein_dtype(ctx, &dt);
    if (s == ANVIL_OK) s = ein_parse(ctx, &q, &known);
    if (s != ANVIL_OK) return s;
    int64_t dims[ANVIL_MAX_RANK];
    if (!known) {
        if (!q.has_out || q.out.ell_pos >= 0) return anvil__set_output(ctx, 0, dt, -1, NULL);
        for (int32_t i = 0; i < q.out.n_letters; i++)
            dims[i] = -1;
        return anvil__set_output(ctx, 0, dt, q.out.n_letters, dims);
    }
    s = ein_output(ctx->node, &q);
    if (s != ANVIL_OK) return s;
    for (int32_t i = 0; i < q.out.rank; i++)
        dims[i] = q.size[q.out.labels[i]];
    return anvil__set_output(ctx, 0, dt, q.out.rank, dims);
}

/* The evaluation loop's state: labels in loop order (output labels first), per-input strides
 * per loop label, current indices and per-input offsets. */
typedef struct ein_loop {
    int32_t n_labels, n_out, n_in;
    int64_t size[EIN_MAX_LABELS];
    int64_t idx[EIN_MAX_LABELS];
    int64_t stride[ANVIL_MAX_RANK][EIN_MAX_LABELS];
    size_t off[ANVIL_MAX_RANK];
} ein_loop;

/* Advances the odometer over loop labels [from, to), keeping offsets in step. */
static bool ein_step(ein_loop *L, int32_t from, int32_t to) {
    for (int32_t l = to - 1; l >= from; l--) {
        if (++L->idx[l] < L->size[l]) {
            for (int32_t t = 0; t < L->n_in; t++)
                L->off[t] += (size_t)L->stride[t][l];
            return true;
        }
        for (int32_t t = 0; t < L->n_in; t++)
            L->off[t] -= (size_t)((L->size[l] - 1) * L->stride[t][l]);
        L->idx[l] = 0;
    }
    return false;
}

static void ein_setup(const anvil__op_ctx *ctx, const ein_eq *q, ein_loop *L) {
    memset(L, 0, sizeof *L);
    L->n_in = q->n_in;
    int8_t order[EIN_MAX_LABELS];
    bool used[EIN_MAX_LABELS] = {false};
    for (int32_t i = 0; i < q->out.rank; i++) {
        order[L->n_labels++] = q->out.labels[i];
        used[q->out.labels[i]] = true;
    }
    L->n_out = L->n_labels;
    for (int l = 0; l < EIN_MAX_LABELS; l++)
        if (q->size[l] != -2 && !used[l]) order[L->n_labels++] = (int8_t)l;
    for (int32_t k = 0; k < L->n_labels; k++)
        L->size[k] = q->size[order[k]];
    for (int32_t t = 0; t < q->n_in; t++) {
        const anvil__tensor *x = ctx->inputs[t];
        int64_t st[ANVIL_MAX_RANK];
        anvil__strides(x->rank, x->dims, st);
        for (int32_t d = 0; d < x->rank; d++) {
            if (x->dims[d] == 1) continue; /* broadcast (or size-1) dims never move */
            for (int32_t k = 0; k < L->n_labels; k++)
                if (order[k] == q->terms[t].labels[d]) L->stride[t][k] += st[d];
        }
    }
}

anvil_status anvil__op_einsum_run(anvil__op_ctx *ctx) {
    anvil_dtype dt;
    ein_eq q;
    bool known;
    anvil_status s = ein_dtype(ctx, &dt);
    if (s == ANVIL_OK) s = ein_parse(ctx, &q, &known);
    if (s == ANVIL_OK) s = ein_output(ctx->node, &q);
    if (s != ANVIL_OK) return s;
    if (dt != ANVIL_DTYPE_F32 && !anvil__dtype_is_int(dt))
        return anvil__node_error(ctx->node, ANVIL_STATUS_UNSUPPORTED,
                                 "dtype %s is not supported at run time", anvil_dtype_name(dt));
    ein_loop *L = anvil__malloc(sizeof *L);
    if (!L) return ANVIL_STATUS_OUT_OF_MEMORY;
    ein_setup(ctx, &q, L);
    anvil__tensor *y = ctx->outputs[0];
    int64_t steps = 1;
    bool empty = false;
    for (int32_t k = 0; k < L->n_labels; k++) {
        empty |= L->size[k] == 0;
        if (!anvil__mul_i64(steps, L->size[k] > 0 ? L->size[k] : 1, &steps) ||
            steps > EIN_MAX_STEPS) {
            anvil__free(L);
            return anvil__node_error(ctx->node, ANVIL_STATUS_LIMIT_EXCEEDED,
                                     "equation needs more than %lld multiply-adds in this "
                                     "reference kernel",
                                     (long long)EIN_MAX_STEPS);
        }
    }
    if (empty) { /* outputs stay zero (a sum over nothing) */
        anvil__free(L);
        return ANVIL_OK;
    }
    size_t o = 0;
    do {
        double acc = 0.0;
        uint64_t iacc = 0;
        do {
            if (dt == ANVIL_DTYPE_F32) {
                double prod = 1.0;
                for (int32_t t = 0; t < L->n_in; t++)
                    prod *= ((const float *)ctx->inputs[t]->data)[L->off[t]];
                acc += prod;
            } else {
                uint64_t prod = 1;
                for (int32_t t = 0; t < L->n_in; t++)
                    prod *= (uint64_t)anvil__load_i64(dt, ctx->inputs[t]->data, L->off[t]);
                iacc += prod;
            }
        } while (ein_step(L, L->n_out, L->n_labels));
        if (dt == ANVIL_DTYPE_F32)
            ((float *)y->data)[o] = (float)acc;
        else
            anvil__store_i64(dt, y->data, o, (int64_t)iacc);
        o++;
    } while (ein_step(L, 0, L->n_out));
    anvil__free(L);
    return ANVIL_OK;
}
