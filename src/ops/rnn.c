/*
 * rnn.c — GRU and LSTM (ONNX opsets 1–22): directions forward/reverse/bidirectional,
 * sequence_lens, initial states, LSTM peepholes and input_forget, GRU linear_before_reset,
 * the activations/activation_alpha/activation_beta attributes, clip and layout 0/1.
 * The kernels are plain f32 loops with double dot products (the op is F32_COMPUTE).
 */
#include "ops/op.h"

#include <math.h>
#include <string.h>
#include <strings.h>

/* ---- activations ---- */

typedef enum act_kind {
    ACT_RELU,
    ACT_TANH,
    ACT_SIGMOID,
    ACT_AFFINE,
    ACT_LEAKY_RELU,
    ACT_THRESHOLDED_RELU,
    ACT_SCALED_TANH,
    ACT_HARD_SIGMOID,
    ACT_ELU,
    ACT_SOFTSIGN,
    ACT_SOFTPLUS,
    ACT_KIND_COUNT
} act_kind;

/* Name, whether it takes alpha / beta, and the defaults used when the attribute lists run
 * out (the standalone ops' defaults: LeakyRelu 0.01, HardSigmoid 0.2/0.5, Elu 1, ...). */
static const struct {
    const char *name;
    bool uses_alpha, uses_beta;
    float alpha, beta;
} act_info[ACT_KIND_COUNT] = {
    [ACT_RELU] = {"Relu", false, false, 0, 0},
    [ACT_TANH] = {"Tanh", false, false, 0, 0},
    [ACT_SIGMOID] = {"Sigmoid", false, false, 0, 0},
    [ACT_AFFINE] = {"Affine", true, true, 1.0f, 0.0f},
    [ACT_LEAKY_RELU] = {"LeakyRelu", true, false, 0.01f, 0},
    [ACT_THRESHOLDED_RELU] = {"ThresholdedRelu", true, false, 1.0f, 0},
    [ACT_SCALED_TANH] = {"ScaledTanh", true, true, 1.0f, 1.0f},
    [ACT_HARD_SIGMOID] = {"HardSigmoid", true, true, 0.2f, 0.5f},
    [ACT_ELU] = {"Elu", true, false, 1.0f, 0},
    [ACT_SOFTSIGN] = {"Softsign", false, false, 0, 0},
    [ACT_SOFTPLUS] = {"Softplus", false, false, 0, 0},
};

typedef struct rnn_act {
    act_kind kind;
    float alpha, beta;
} rnn_act;

static inline float act_apply(const rnn_act *a, float x) {
    switch (a->kind) {
    case ACT_RELU:
        return x > 0 ? x : 0;
    case ACT_TANH:
        return tanhf(x);
    case ACT_SIGMOID:
        return x >= 0 ? 1.0f / (1.0f + expf(-x)) : expf(x) / (1.0f + expf(x));
    case ACT_AFFINE:
        return a->alpha * x + a->beta;
    case ACT_LEAKY_RELU:
        return x >= 0 ? x : a->alpha * x;
    case ACT_THRESHOLDED_RELU:
        return x >= a->alpha ? x : 0;
    case ACT_SCALED_TANH:
        return a->alpha * tanhf(a->beta * x);
    case ACT_HARD_SIGMOID:
        return fminf(fmaxf(a->alpha * x + a->beta, 0.0f), 1.0f);
    case ACT_ELU:
        return x >= 0 ? x : a->alpha * (expf(x) - 1.0f);
    case ACT_SOFTSIGN:
        return x / (1.0f + fabsf(x));
    default:
        return x > 0 ? x + log1pf(expf(-x)) : log1pf(expf(x)); /* Softplus */
    }
}

static int act_find(const char *name) {
    for (int k = 0; k < ACT_KIND_COUNT; k++)
        if (strcasecmp(name, act_info[k].name) == 0) return k;
    return -1;
}

/* ---- configuration shared by infer and run ---- */

enum { MAX_ACTS = 3 };

typedef struct rnn_cfg {
    bool lstm;
    int32_t gates;                     /* 3 (GRU) or 4 (LSTM) */
    int32_t n_acts;                    /* per direction: 2 (GRU) or 3 (LSTM) */
    int32_t num_dir;                   /* 1 or 2 */
    bool reverse;                      /* direction == "reverse" (single direction) */
    int64_t layout;                    /* 0: seq-major, 1: batch-major */
    int64_t seq, batch, input, hidden; /* -1 when unknown (static inference) */
    float clip;                        /* <= 0: no clipping */
    bool linear_before_reset, input_forget;
    rnn_act acts[2][MAX_ACTS];
} rnn_cfg;

static anvil_status parse_direction(const anvil__node *n, rnn_cfg *c) {
    const char *dir = anvil__attr_string(n, "direction", "forward");
    c->num_dir = 1;
    c->reverse = false;
    if (strcmp(dir, "bidirectional") == 0)
        c->num_dir = 2;
    else if (strcmp(dir, "reverse") == 0)
        c->reverse = true;
    else if (strcmp(dir, "forward") != 0)
        return anvil__node_error(n, ANVIL_STATUS_INVALID_GRAPH,
                                 "direction must be forward, reverse or bidirectional, got '%s'",
                                 dir);
    return ANVIL_OK;
}

/* Activations: the attribute lists per_dir names per direction (a single set is accepted for
 * bidirectional and used for both); alphas and betas are consumed in order by the activations
 * that take them, falling back to defaults when the lists run out. */
static anvil_status parse_activations(const anvil__node *n, rnn_cfg *c) {
    static const act_kind defaults[MAX_ACTS] = {ACT_SIGMOID, ACT_TANH, ACT_TANH};
    const anvil__attr *a = anvil__node_attr(n, "activations");
    size_t n_alpha, n_beta, ia = 0, ib = 0;
    const float *alpha = anvil__attr_floats(n, "activation_alpha", &n_alpha);
    const float *beta = anvil__attr_floats(n, "activation_beta", &n_beta);
    size_t count = a ? a->n : 0;
    if (count != 0 && count != (size_t)c->n_acts && count != (size_t)(c->n_acts * c->num_dir))
        return anvil__node_error(n, ANVIL_STATUS_INVALID_GRAPH,
                                 "expected %d activations (%d per direction), got %zu",
                                 (int)(c->n_acts * c->num_dir), (int)c->n_acts, count);
    for (int32_t d = 0; d < c->num_dir; d++) {
        for (int32_t k = 0; k < c->n_acts; k++) {
            size_t idx = (size_t)(d * c->n_acts + k);
            rnn_act *act = &c->acts[d][k];
            if (count == 0) {
                act->kind = defaults[k];
            } else {
                if (idx >= count) { /* one set given for both directions */
                    *act = c->acts[0][k];
                    continue;
                }
                int kind = act_find(a->strings[idx]);
                if (kind < 0)
                    return anvil__node_error(n, ANVIL_STATUS_UNSUPPORTED,
                                             "activation '%s' is not supported", a->strings[idx]);
                act->kind = (act_kind)kind;
            }
            act->alpha = act_info[act->kind].alpha;
            act->beta = act_info[act->kind].beta;
            if (act_info[act->kind].uses_alpha && ia < n_alpha) act->alpha = alpha[ia++];
            if (act_info[act->kind].uses_beta && ib < n_beta) act->beta = beta[ib++];
        }
    }
    return ANVIL_OK;
}

static anvil_status parse_attrs(const anvil__node *n, rnn_cfg *c) {
    memset(c, 0, sizeof *c);
    c->lstm = n->op == ANVIL_OP_LSTM;
    c->gates = c->lstm ? 4 : 3;
    c->n_acts = c->lstm ? 3 : 2;
    anvil_status s = parse_direction(n, c);
    if (s != ANVIL_OK || (s = parse_activations(n, c)) != ANVIL_OK) return s;
    c->layout = anvil__attr_int(n, "layout", 0);
    if (c->layout != 0 && c->layout != 1)
        return anvil__node_error(n, ANVIL_STATUS_INVALID_GRAPH, "layout must be 0 or 1, got %lld",
                                 (long long)c->layout);
    const anvil__attr *clip = anvil__node_attr(n, "clip");
    c->clip = clip ? (float)anvil__attr_float(n, "clip", 0) : 0.0f;
    if (clip && !(c->clip > 0))
        return anvil__node_error(n, ANVIL_STATUS_OUT_OF_RANGE, "clip must be positive, got %g",
                                 (double)c->clip);
    c->linear_before_reset = anvil__attr_int(n, "linear_before_reset", 0) != 0;
    c->input_forget = anvil__attr_int(n, "input_forget", 0) != 0;
    c->hidden = anvil__attr_int(n, "hidden_size", -1);
    if (anvil__node_attr(n, "hidden_size") && c->hidden < 1)
        return anvil__node_error(n, ANVIL_STATUS_OUT_OF_RANGE, "hidden_size must be >= 1, got %lld",
                                 (long long)c->hidden);
    return ANVIL_OK;
}

static anvil_status rnn_validate(const anvil__node *node) {
    static const struct {
        const char *name;
        anvil__attr_kind kind;
    } attrs[] = {{"direction", ANVIL_ATTR_STRING},
                 {"hidden_size", ANVIL_ATTR_INT},
                 {"layout", ANVIL_ATTR_INT},
                 {"clip", ANVIL_ATTR_FLOAT},
                 {"activations", ANVIL_ATTR_STRINGS},
                 {"activation_alpha", ANVIL_ATTR_FLOATS},
                 {"activation_beta", ANVIL_ATTR_FLOATS},
                 {"linear_before_reset", ANVIL_ATTR_INT},
                 {"input_forget", ANVIL_ATTR_INT}};
    for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++) {
        anvil_status s = anvil__attr_expect(node, attrs[i].name, attrs[i].kind);
        if (s != ANVIL_OK) return s;
    }
    rnn_cfg c;
    return parse_attrs(node, &c);
}

anvil_status anvil__op_gru_validate(const anvil__node *node, int64_t opset) {
    return rnn_validate(node);
}

anvil_status anvil__op_lstm_validate(const anvil__node *node, int64_t opset) {
    return rnn_validate(node);
}

/* Input indices. */
enum { IN_X, IN_W, IN_R, IN_B, IN_SEQ_LENS, IN_INIT_H, IN_INIT_C, IN_P };

static const anvil__tensor *input_at(const anvil__op_ctx *ctx, int32_t i) {
    return i < ctx->n_inputs ? ctx->inputs[i] : NULL;
}

/* Resolves a dimension that several tensors state: *v takes the first known value; a
 * different known value is a mismatch. */
static anvil_status unify(const anvil__node *n, int64_t *v, int64_t got, const char *what,
                          const char *input) {
    if (got < 0) return ANVIL_OK;
    if (*v < 0) {
        *v = got;
        return ANVIL_OK;
    }
    if (*v == got) return ANVIL_OK;
    return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH, "input %s: %s is %lld, expected %lld",
                             input, what, (long long)got, (long long)*v);
}

static anvil_status need_rank(const anvil__node *n, const anvil__tensor *t, int32_t rank,
                              const char *input) {
    if (t->rank < 0 || t->rank == rank) return ANVIL_OK;
    return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH, "input %s must have rank %d, got %d",
                             input, (int)rank, (int)t->rank);
}

/* Checks an optional [num_dir, batch, hidden] state (or [batch, num_dir, hidden] for layout 1). */
static anvil_status check_state(const anvil__node *n, rnn_cfg *c, const anvil__tensor *t,
                                const char *name) {
    if (!t) return ANVIL_OK;
    anvil_status s = need_rank(n, t, 3, name);
    if (s != ANVIL_OK || t->rank < 0) return s;
    int64_t nd = c->num_dir;
    int32_t bd = c->layout ? 0 : 1;
    if ((s = unify(n, &nd, t->dims[c->layout ? 1 : 0], "num_directions", name)) != ANVIL_OK ||
        (s = unify(n, &c->batch, t->dims[bd], "batch size", name)) != ANVIL_OK)
        return s;
    return unify(n, &c->hidden, t->dims[2], "hidden size", name);
}

/* Checks an optional [num_dir, width] input (B or P). */
static anvil_status check_vec(const anvil__node *n, const rnn_cfg *c, const anvil__tensor *t,
                              int64_t width, const char *name) {
    if (!t) return ANVIL_OK;
    int64_t nd = c->num_dir;
    anvil_status s = need_rank(n, t, 2, name);
    if (s != ANVIL_OK || t->rank < 0) return s;
    if ((s = unify(n, &nd, t->dims[0], "num_directions", name)) != ANVIL_OK) return s;
    return unify(n, &width, t->dims[1], "width", name);
}

/* Checks B, P, the initial states and sequence_lens against the sizes found so far. */
static anvil_status check_optional(const anvil__op_ctx *ctx, rnn_cfg *c) {
    const anvil__node *n = ctx->node;
    int64_t h = c->hidden;
    anvil_status s;
    if ((s = check_vec(n, c, input_at(ctx, IN_B), h >= 0 ? 2 * c->gates * h : -1, "B")) !=
            ANVIL_OK ||
        (s = check_vec(n, c, c->lstm ? input_at(ctx, IN_P) : NULL, h >= 0 ? 3 * h : -1, "P")) !=
            ANVIL_OK ||
        (s = check_state(n, c, input_at(ctx, IN_INIT_H), "initial_h")) != ANVIL_OK ||
        (s = check_state(n, c, c->lstm ? input_at(ctx, IN_INIT_C) : NULL, "initial_c")) != ANVIL_OK)
        return s;
    const anvil__tensor *sl = input_at(ctx, IN_SEQ_LENS);
    if (!sl) return ANVIL_OK;
    if (sl->dtype != ANVIL_DTYPE_I32 && sl->dtype != ANVIL_DTYPE_I64)
        return anvil__node_error(n, ANVIL_STATUS_DTYPE_MISMATCH,
                                 "sequence_lens must be i32 or i64, got %s",
                                 anvil_dtype_name(sl->dtype));
    if ((s = need_rank(n, sl, 1, "sequence_lens")) != ANVIL_OK || sl->rank != 1) return s;
    return unify(n, &c->batch, sl->dims[0], "length", "sequence_lens");
}

/* Reads attributes and checks every input's dtype and shape, filling the sizes (-1 where
 * unknown statically). */
static anvil_status rnn_setup(const anvil__op_ctx *ctx, rnn_cfg *c) {
    const anvil__node *n = ctx->node;
    anvil_status s = parse_attrs(n, c);
    if (s != ANVIL_OK) return s;
    const anvil__tensor *x = ctx->inputs[IN_X], *w = input_at(ctx, IN_W), *r = input_at(ctx, IN_R);
    if (!x || !w || !r)
        return anvil__node_error(n, ANVIL_STATUS_INVALID_GRAPH, "inputs X, W and R are required");
    static const char *names[] = {"X",         "W",         "R", "B", "sequence_lens",
                                  "initial_h", "initial_c", "P"};
    for (int32_t i = 0; i < ctx->n_inputs && i <= IN_P; i++) {
        const anvil__tensor *t = ctx->inputs[i];
        if (t && i != IN_SEQ_LENS && !anvil__dtype_is_float(t->dtype))
            return anvil__node_error(n, ANVIL_STATUS_DTYPE_MISMATCH,
                                     "input %s must be a float tensor, got %s", names[i],
                                     anvil_dtype_name(t->dtype));
    }
    c->seq = c->batch = c->input = -1;
    int64_t nd = c->num_dir, gh = -1;
    if ((s = need_rank(n, x, 3, "X")) != ANVIL_OK || (s = need_rank(n, w, 3, "W")) != ANVIL_OK ||
        (s = need_rank(n, r, 3, "R")) != ANVIL_OK)
        return s;
    if (x->rank == 3) {
        c->seq = x->dims[c->layout ? 1 : 0];
        c->batch = x->dims[c->layout ? 0 : 1];
        c->input = x->dims[2];
    }
    if (r->rank == 3 && ((s = unify(n, &nd, r->dims[0], "num_directions", "R")) != ANVIL_OK ||
                         (s = unify(n, &c->hidden, r->dims[2], "hidden size", "R")) != ANVIL_OK))
        return s;
    gh = c->hidden >= 0 ? c->hidden * c->gates : -1;
    if (r->rank == 3 && (s = unify(n, &gh, r->dims[1], "gate rows", "R")) != ANVIL_OK) return s;
    if (w->rank == 3 && ((s = unify(n, &nd, w->dims[0], "num_directions", "W")) != ANVIL_OK ||
                         (s = unify(n, &gh, w->dims[1], "gate rows", "W")) != ANVIL_OK ||
                         (s = unify(n, &c->input, w->dims[2], "input size", "W")) != ANVIL_OK))
        return s;
    if (gh >= 0 && gh % c->gates != 0)
        return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH,
                                 "input W: %lld gate rows are not a multiple of %d gates",
                                 (long long)gh, (int)c->gates);
    if (c->hidden < 0 && gh >= 0) c->hidden = gh / c->gates;
    if (c->hidden == 0)
        return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH, "hidden size is 0");
    return check_optional(ctx, c);
}

static anvil_status rnn_infer(anvil__op_ctx *ctx) {
    rnn_cfg c;
    anvil_status s = rnn_setup(ctx, &c);
    if (s != ANVIL_OK) return s;
    anvil_dtype dt = ctx->inputs[IN_X]->dtype;
    int64_t nd = c.num_dir;
    int64_t y0[4] = {c.seq, nd, c.batch, c.hidden}, y1[4] = {c.batch, c.seq, nd, c.hidden};
    int64_t h0[3] = {nd, c.batch, c.hidden}, h1[3] = {c.batch, nd, c.hidden};
    if ((s = anvil__set_output(ctx, 0, dt, 4, c.layout ? y1 : y0)) != ANVIL_OK) return s;
    for (int32_t o = 1; o < ctx->n_outputs; o++)
        if ((s = anvil__set_output(ctx, o, dt, 3, c.layout ? h1 : h0)) != ANVIL_OK) return s;
    return ANVIL_OK;
}

anvil_status anvil__op_gru_infer(anvil__op_ctx *ctx) { return rnn_infer(ctx); }
anvil_status anvil__op_lstm_infer(anvil__op_ctx *ctx) { return rnn_infer(ctx); }

/* ---- kernels ---- */

/* Everything one direction's recurrence reads and writes, as f32 views. */
typedef struct rnn_run {
    const rnn_cfg *c;
    int32_t d;                      /* direction index */
    bool reverse;                   /* this direction runs backwards in time */
    const float *x, *w, *r, *b, *p; /* w, r, b, p already offset to direction d; b, p may be NULL */
    const float *init_h, *init_c;   /* full tensors (may be NULL) */
    const int64_t *lens;
    float *y, *y_h, *y_c;          /* outputs (may be NULL) */
    float *h, *cell, *gates, *tmp; /* workspace: batch×H, batch×H, G×H, H */
} rnn_run;

static inline float clipf(const rnn_cfg *c, float v) {
    if (c->clip <= 0) return v;
    return v > c->clip ? c->clip : v < -c->clip ? -c->clip : v;
}

/* out[j] = bias[j] (+ bias2[j]) + sum_k m[j][k] * v[k] for j < rows. */
static void matvec(const float *m, const float *v, int64_t rows, int64_t cols, const float *bias,
                   const float *bias2, float *out) {
    for (int64_t j = 0; j < rows; j++) {
        const float *row = m + j * cols;
        double acc = (bias ? bias[j] : 0) + (bias2 ? bias2[j] : 0);
        for (int64_t k = 0; k < cols; k++)
            acc += (double)row[k] * v[k];
        out[j] = (float)acc;
    }
}

/* Element offsets of state (direction d, batch b) and of Y(t, d, b) in either layout. */
static size_t state_off(const rnn_cfg *c, int32_t d, int64_t b) {
    return (size_t)((c->layout ? b * c->num_dir + d : d * c->batch + b) * c->hidden);
}

static size_t y_off(const rnn_cfg *c, int64_t t, int32_t d, int64_t b) {
    int64_t i = c->layout ? (b * c->seq + t) * c->num_dir + d : (t * c->num_dir + d) * c->batch + b;
    return (size_t)(i * c->hidden);
}

static const float *x_at(const rnn_run *rr, int64_t t, int64_t b) {
    const rnn_cfg *c = rr->c;
    int64_t i = c->layout ? b * c->seq + t : t * c->batch + b;
    return rr->x + i * c->input;
}

/* One LSTM step for batch row b: gates i, o, f, c (iofc); peepholes i, o, f. */
static void lstm_step(const rnn_run *rr, int64_t t, int64_t b) {
    const rnn_cfg *c = rr->c;
    int64_t H = c->hidden, G = 4 * H;
    float *h = rr->h + b * H, *cell = rr->cell + b * H, *g = rr->gates;
    const rnn_act *f = &c->acts[rr->d][0], *gact = &c->acts[rr->d][1], *hact = &c->acts[rr->d][2];
    matvec(rr->w, x_at(rr, t, b), G, c->input, rr->b, rr->b ? rr->b + G : NULL, g);
    matvec(rr->r, h, G, H, NULL, NULL, rr->tmp);
    for (int64_t j = 0; j < G; j++)
        g[j] += rr->tmp[j];
    const float *pi = rr->p, *po = rr->p ? rr->p + H : NULL, *pf = rr->p ? rr->p + 2 * H : NULL;
    for (int64_t k = 0; k < H; k++) {
        float c_prev = cell[k];
        float it = act_apply(f, clipf(c, g[k] + (pi ? pi[k] * c_prev : 0)));
        float ft = c->input_forget
                       ? 1.0f - it
                       : act_apply(f, clipf(c, g[2 * H + k] + (pf ? pf[k] * c_prev : 0)));
        float ct = act_apply(gact, clipf(c, g[3 * H + k]));
        float c_new = ft * c_prev + it * ct;
        float ot = act_apply(f, clipf(c, g[H + k] + (po ? po[k] * c_new : 0)));
        cell[k] = c_new;
        h[k] = ot * act_apply(hact, clipf(c, c_new));
    }
}

/* One GRU step for batch row b: gates z, r, h (zrh). */
static void gru_step(const rnn_run *rr, int64_t t, int64_t b) {
    const rnn_cfg *c = rr->c;
    int64_t H = c->hidden, G = 3 * H;
    float *h = rr->h + b * H, *g = rr->gates, *rh = rr->tmp;
    const rnn_act *f = &c->acts[rr->d][0], *gact = &c->acts[rr->d][1];
    const float *rb = rr->b ? rr->b + G : NULL;
    matvec(rr->w, x_at(rr, t, b), G, c->input, rr->b, NULL, g);
    /* z and r: add R·h + Rb. */
    matvec(rr->r, h, 2 * H, H, rb, NULL, rh);
    for (int64_t k = 0; k < 2 * H; k++)
        g[k] = act_apply(f, clipf(c, g[k] + rh[k]));
    const float *rz = g, *rr_gate = g + H;
    const float *r_h = rr->r + 2 * H * H; /* rows of Rh */
    const float *rbh = rb ? rb + 2 * H : NULL;
    if (c->linear_before_reset) {
        matvec(r_h, h, H, H, rbh, NULL, rh);
        for (int64_t k = 0; k < H; k++)
            rh[k] *= rr_gate[k];
    } else {
        /* rh (the workspace) is 3H long: keep r ⊙ h in its upper part. */
        float *rhp = rh + H;
        for (int64_t k = 0; k < H; k++)
            rhp[k] = rr_gate[k] * h[k];
        matvec(r_h, rhp, H, H, rbh, NULL, rh);
    }
    for (int64_t k = 0; k < H; k++) {
        float ht = act_apply(gact, clipf(c, g[2 * H + k] + rh[k]));
        h[k] = (1.0f - rz[k]) * ht + rz[k] * h[k];
    }
}

/* Runs one direction over every batch row; padded steps (t >= sequence_lens[b]) keep Y zero,
 * and a row with length 0 reports a zero final state. */
static void run_direction(rnn_run *rr) {
    const rnn_cfg *c = rr->c;
    int64_t H = c->hidden;
    for (int64_t b = 0; b < c->batch; b++) {
        size_t so = state_off(c, rr->d, b);
        for (int64_t k = 0; k < H; k++) {
            rr->h[b * H + k] = rr->init_h ? rr->init_h[so + (size_t)k] : 0.0f;
            if (c->lstm) rr->cell[b * H + k] = rr->init_c ? rr->init_c[so + (size_t)k] : 0.0f;
        }
        int64_t len = rr->lens ? rr->lens[b] : c->seq;
        for (int64_t s = 0; s < len; s++) {
            int64_t t = rr->reverse ? len - 1 - s : s;
            if (c->lstm)
                lstm_step(rr, t, b);
            else
                gru_step(rr, t, b);
            if (rr->y) memcpy(rr->y + y_off(c, t, rr->d, b), rr->h + b * H, (size_t)H * 4);
        }
        for (int64_t k = 0; k < H; k++) {
            if (rr->y_h) rr->y_h[so + (size_t)k] = len ? rr->h[b * H + k] : 0.0f;
            if (rr->y_c) rr->y_c[so + (size_t)k] = len ? rr->cell[b * H + k] : 0.0f;
        }
    }
}

static const float *f32_data(const anvil__tensor *t) { return t ? (const float *)t->data : NULL; }

/* sequence_lens as int64, each checked to lie in [0, seq]. NULL when absent. */
static anvil_status read_lens(const anvil__op_ctx *ctx, const rnn_cfg *c, int64_t **out) {
    const anvil__tensor *sl = input_at(ctx, IN_SEQ_LENS);
    *out = NULL;
    if (!sl) return ANVIL_OK;
    int64_t *lens = anvil__malloc_array((size_t)(c->batch ? c->batch : 1), sizeof *lens);
    if (!lens) return ANVIL_STATUS_OUT_OF_MEMORY;
    for (int64_t b = 0; b < c->batch; b++) {
        int64_t len = anvil__load_i64(sl->dtype, sl->data, (size_t)b);
        if (len < 0 || len > c->seq) {
            anvil__free(lens);
            return anvil__node_error(ctx->node, ANVIL_STATUS_OUT_OF_RANGE,
                                     "sequence_lens[%lld] = %lld is outside [0, %lld]",
                                     (long long)b, (long long)len, (long long)c->seq);
        }
        lens[b] = len;
    }
    *out = lens;
    return ANVIL_OK;
}

static anvil_status rnn_run_all(anvil__op_ctx *ctx) {
    rnn_cfg c;
    anvil_status s = rnn_setup(ctx, &c);
    if (s != ANVIL_OK) return s;
    for (int32_t i = 0; i < ctx->n_inputs && i <= IN_P; i++) {
        const anvil__tensor *t = ctx->inputs[i];
        if (t && i != IN_SEQ_LENS && t->dtype != ANVIL_DTYPE_F32)
            return anvil__node_error(ctx->node, ANVIL_STATUS_UNSUPPORTED,
                                     "kernel runs on f32 only, input %d is %s", (int)i,
                                     anvil_dtype_name(t->dtype));
    }
    anvil__tensor *outs[3] = {NULL, NULL, NULL};
    for (int32_t o = 0; o < ctx->n_outputs && o < 3; o++) {
        outs[o] = ctx->outputs[o];
        if (outs[o]) memset(outs[o]->data, 0, outs[o]->bytes);
    }
    if (c.seq == 0 || c.batch == 0) return ANVIL_OK;
    int64_t *lens;
    if ((s = read_lens(ctx, &c, &lens)) != ANVIL_OK) return s;
    int64_t H = c.hidden, G = c.gates * H;
    /* h, cell: batch×H each; gates: G; tmp: G (GRU keeps r ⊙ h there too). */
    size_t ws_n = (size_t)(2 * c.batch * H + 2 * G);
    float *ws = anvil__malloc_array(ws_n, sizeof *ws);
    if (!ws) {
        anvil__free(lens);
        return ANVIL_STATUS_OUT_OF_MEMORY;
    }
    const float *w = f32_data(ctx->inputs[IN_W]), *r = f32_data(ctx->inputs[IN_R]);
    const float *b = f32_data(input_at(ctx, IN_B)), *p = f32_data(input_at(ctx, IN_P));
    for (int32_t d = 0; d < c.num_dir; d++) {
        rnn_run rr = {
            .c = &c,
            .d = d,
            .reverse = c.num_dir == 2 ? d == 1 : c.reverse,
            .x = f32_data(ctx->inputs[IN_X]),
            .w = w + d * G * c.input,
            .r = r + d * G * H,
            .b = b ? b + d * 2 * G : NULL,
            .p = c.lstm && p ? p + d * 3 * H : NULL,
            .init_h = f32_data(input_at(ctx, IN_INIT_H)),
            .init_c = c.lstm ? f32_data(input_at(ctx, IN_INIT_C)) : NULL,
            .lens = lens,
            .y = outs[0] ? (float *)outs[0]->data : NULL,
            .y_h = outs[1] ? (float *)outs[1]->data : NULL,
            .y_c = c.lstm && outs[2] ? (float *)outs[2]->data : NULL,
            .h = ws,
            .cell = ws + c.batch * H,
            .gates = ws + 2 * c.batch * H,
            .tmp = ws + 2 * c.batch * H + G,
        };
        run_direction(&rr);
    }
    anvil__free(ws);
    anvil__free(lens);
    return ANVIL_OK;
}

anvil_status anvil__op_gru_run(anvil__op_ctx *ctx) { return rnn_run_all(ctx); }
anvil_status anvil__op_lstm_run(anvil__op_ctx *ctx) { return rnn_run_all(ctx); }
