/*
 * test_backend_cpu.c — the CPU backend (oneDNN + ref) against the reference kernels: for
 * hand-built nodes with random inputs, every tactic the backend lists is created, fed through
 * its wanted layouts (reorders from plain, weight packing), run, and its output reordered back
 * to plain and compared with the reference op followed by post-ops computed here. Also layouts
 * (round trips, bad blobs), the registry, and a rough speed print of two MobileNetV2 layers.
 */
#include "check.h"
#include "backend/backend.h"
#include "passes/passes.h"

#include <stdarg.h>
#include <time.h>

#define MAX_IN 8

typedef struct tcase {
    anvil__graph *g;
    int32_t node;
    int n_in, n_out, n_own;
    anvil__tensor in[MAX_IN];
    bool weight[MAX_IN];
    anvil__tensor out[2]; /* reference results */
} tcase;

static const anvil__backend *be;
static int32_t threads = 2;     /* per kernel */
static bool plain_acts = false; /* kernel_desc.plain_activations */

static float rnd(unsigned *seed) {
    *seed = *seed * 1103515245u + 12345u;
    return (float)((*seed >> 16) % 2001) / 1000.0f - 1.0f;
}

static anvil__node *node_of(tcase *c) { return &c->g->nodes[c->node]; }

static void tc_init(tcase *c, const char *op, int n_in, int n_out) {
    memset(c, 0, sizeof *c);
    c->g = anvil__graph_new(NULL);
    c->g->opset = 18;
    c->n_in = c->n_own = n_in;
    c->n_out = n_out;
    int32_t ids[MAX_IN + 2];
    char name[16];
    for (int i = 0; i < n_in + n_out; i++) { /* inputs, then outputs */
        snprintf(name, sizeof name, "v%d", i);
        CHECK_OK(anvil__graph_add_value(c->g, name, &ids[i]));
    }
    CHECK_OK(anvil__graph_add_node(c->g, "n", op, "", ids, n_in, ids + n_in, n_out, &c->node));
    node_of(c)->op = anvil__op_find(op, "");
    CHECK(node_of(c)->op >= 0);
}

static anvil__attr *add_attr(tcase *c, const char *name, anvil__attr_kind kind) {
    anvil__attr *a = NULL;
    CHECK_OK(anvil__node_add_attr(c->g, c->node, name, &a));
    a->kind = kind;
    return a;
}

static void attr_ints(tcase *c, const char *name, int n, ...) {
    anvil__attr *a = add_attr(c, name, ANVIL_ATTR_INTS);
    a->n = (size_t)n;
    a->ints = anvil__malloc_array((size_t)n, sizeof *a->ints);
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        a->ints[i] = va_arg(ap, int);
    va_end(ap);
}

static void attr_int(tcase *c, const char *name, int64_t v) {
    add_attr(c, name, ANVIL_ATTR_INT)->i = v;
}
static void attr_float(tcase *c, const char *name, double v) {
    add_attr(c, name, ANVIL_ATTR_FLOAT)->f = v;
}
static void attr_str(tcase *c, const char *name, const char *s) {
    anvil__attr *a = add_attr(c, name, ANVIL_ATTR_STRING);
    a->s = anvil__strdup(s);
    a->s_len = strlen(s);
}

/* Input i: random f32 data of the given dims (-1 terminated). */
static void tc_input(tcase *c, int i, bool weight, unsigned seed, ...) {
    anvil__tensor *t = &c->in[i];
    va_list ap;
    va_start(ap, seed);
    int32_t rank = 0;
    int64_t dims[ANVIL_MAX_RANK];
    for (int v; (v = va_arg(ap, int)) >= 0;)
        dims[rank++] = v;
    va_end(ap);
    CHECK_OK(anvil__tensor_shape(t, ANVIL_DTYPE_F32, rank, dims));
    CHECK_OK(anvil__tensor_alloc(t));
    float *p = t->data;
    for (int64_t j = 0; j < anvil__tensor_numel(t); j++)
        p[j] = rnd(&seed);
    c->weight[i] = weight;
}

/* Appends a fused op; an Add's operand is input `input` (then not one of the op's own). */
static void tc_post(tcase *c, const char *op, float alpha, float beta, int input) {
    anvil__node *n = node_of(c);
    anvil__post_op *p = &n->post[n->n_post++];
    p->op = strcmp(op, "SiLU") == 0 ? ANVIL__POST_SILU : anvil__op_find(op, "");
    p->alpha = alpha;
    p->beta = beta;
    p->input = input;
    if (input >= 0 && input < c->n_own) c->n_own = input;
}

/* Reference: the op's kernel on its own inputs, then the post-ops written out here. */
static void tc_reference(tcase *c) {
    anvil__node *n = node_of(c);
    const anvil__op_def *def = anvil__op_get(n->op);
    anvil__tensor *inp[MAX_IN], *outp[2];
    for (int i = 0; i < c->n_in; i++)
        inp[i] = c->in[i].data ? &c->in[i] : NULL;
    for (int o = 0; o < c->n_out; o++)
        outp[o] = &c->out[o];
    if (c->n_own == c->n_in) CHECK_OK(anvil__op_validate_node(n, c->g->opset));
    anvil__op_ctx ctx = {n, c->g->opset, c->n_own, inp, c->n_out, outp, NULL, NULL};
    CHECK_OK(def->infer(&ctx));
    for (int o = 0; o < c->n_out; o++)
        CHECK_OK(anvil__tensor_alloc(&c->out[o]));
    CHECK_OK(def->run(&ctx));
    float *y = c->out[0].data;
    int64_t count = anvil__tensor_numel(&c->out[0]);
    for (int32_t p = 0; p < n->n_post; p++) {
        const anvil__post_op *po = &n->post[p];
        const anvil__tensor *r = po->input >= 0 ? &c->in[po->input] : NULL;
        int64_t rc = r ? anvil__tensor_numel(r) : 0;
        for (int64_t i = 0; i < count; i++) {
            if (po->op == ANVIL_OP_Relu) y[i] = y[i] < 0 ? 0 : y[i];
            if (po->op == ANVIL_OP_Clip)
                y[i] = y[i] < po->alpha ? po->alpha : y[i] > po->beta ? po->beta : y[i];
            if (po->op == ANVIL_OP_Add) y[i] += ((float *)r->data)[i % rc]; /* same or [.., N] */
            if (po->op == ANVIL_OP_Sigmoid) y[i] = 1.0f / (1.0f + expf(-y[i]));
            if (po->op == ANVIL__POST_SILU) y[i] = y[i] / (1.0f + expf(-y[i]));
            if (po->op == ANVIL_OP_HardSigmoid)
                y[i] = fmaxf(0.0f, fminf(1.0f, po->alpha * y[i] + po->beta));
            if (po->op == ANVIL_OP_Gelu) y[i] = 0.5f * y[i] * (1.0f + erff(y[i] / sqrtf(2.0f)));
        }
    }
}

static void tc_free(tcase *c) {
    for (int i = 0; i < c->n_in; i++)
        anvil__free(c->in[i].data);
    for (int o = 0; o < c->n_out; o++)
        anvil__free(c->out[o].data);
    anvil__graph_destroy(c->g);
}

static size_t layout_bytes(const anvil__layout *l, const anvil__tensor *t) {
    return l->kind == ANVIL_LAYOUT_PLAIN ? t->bytes : l->bytes;
}

static anvil_status make_kernel(tcase *c, int32_t tactic, const anvil__layout *in_layouts,
                                const anvil__layout *fixed, anvil__kernel **k) {
    anvil__tensor shapes[MAX_IN];
    for (int i = 0; i < c->n_in; i++) {
        shapes[i] = c->in[i];
        if (!c->weight[i]) shapes[i].data = NULL;
    }
    anvil__kernel_desc d = {node_of(c), c->g->opset, tactic,     c->n_in, c->n_out, shapes,
                            c->out,     c->weight,   in_layouts, fixed,   threads,  plain_acts,
                            ANVIL_PRECISION_F32};
    return be->kernel_create(be->ctx, &d, k);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Runs kernel k on the case's inputs (reordered from plain into what k wants); output 0 comes
 * back plain in `result`. With reps > 1, *best gets the fastest run after the first. */
static anvil_status run_kernel(tcase *c, anvil__kernel *k, float *result, int reps, double *best) {
    void *ins[MAX_IN] = {0}, *outs[2] = {0};
    anvil__layout plain = {0}, l;
    anvil_status s = ANVIL_OK;
    for (int i = 0; i < c->n_in && s == ANVIL_OK; i++) {
        if (!c->in[i].data) continue;
        be->kernel_input_layout(be->ctx, k, i, &l);
        ins[i] = be->alloc(be->ctx, layout_bytes(&l, &c->in[i]));
        s = be->reorder(be->ctx, &c->in[i], &plain, c->in[i].data, &l, ins[i]);
    }
    for (int o = 0; o < c->n_out && s == ANVIL_OK; o++) {
        be->kernel_output_layout(be->ctx, k, o, &l);
        outs[o] = be->alloc(be->ctx, layout_bytes(&l, &c->out[o]));
    }
    void *scratch = be->alloc(be->ctx, be->kernel_scratch_bytes(be->ctx, k));
    anvil__exec_args args = {ins, outs, c->in, c->out, scratch};
    for (int r = 0; r < reps && s == ANVIL_OK; r++) {
        double t0 = now();
        s = be->kernel_run(be->ctx, k, &args);
        double t = now() - t0;
        if (best && r > 0 && (r == 1 || t < *best)) *best = t;
    }
    if (s == ANVIL_OK) {
        be->kernel_output_layout(be->ctx, k, 0, &l);
        s = be->reorder(be->ctx, &c->out[0], &l, outs[0], &plain, result);
    }
    for (int i = 0; i < MAX_IN; i++)
        be->free(be->ctx, ins[i]);
    be->free(be->ctx, outs[0]);
    be->free(be->ctx, outs[1]);
    be->free(be->ctx, scratch);
    return s;
}

static bool close_to_ref(const char *what, const tcase *c, const float *got) {
    const float *want = c->out[0].data;
    int64_t n = anvil__tensor_numel(&c->out[0]);
    float maxref = 0, maxerr = 0;
    for (int64_t i = 0; i < n; i++)
        maxref = fmaxf(maxref, fabsf(want[i]));
    int64_t worst = 0;
    for (int64_t i = 0; i < n; i++) {
        float e = fabsf(got[i] - want[i]);
        if (!(e <= maxerr)) worst = i, maxerr = isnan(e) ? INFINITY : e;
    }
    if (maxerr <= 1e-4f * fmaxf(maxref, 1e-3f)) return true;
    fprintf(stderr, "%s: max error %g at %lld (got %g, want %g; max |ref| %g)\n", what, maxerr,
            (long long)worst, got[worst], want[worst], maxref);
    return false;
}

static bool same_layout(const anvil__layout *a, const anvil__layout *b) {
    return a->kind == b->kind && a->size == b->size && memcmp(a->blob, b->blob, a->size) == 0;
}

/* Creates tactic t (weights fixed to `fixed` unless NULL), runs it and compares with the
 * reference; returns the kernel (NULL on failure) for the caller to destroy. */
static anvil__kernel *run_tactic(tcase *c, int32_t t, const anvil__layout *fixed,
                                 const char *label) {
    anvil__layout in_layouts[MAX_IN] = {{0}};
    anvil__kernel *k = NULL;
    anvil_status s = make_kernel(c, t, in_layouts, fixed, &k);
    if (s != ANVIL_OK) fprintf(stderr, "%s: %s\n", label, anvil_last_error());
    CHECK_OK(s);
    float *got = anvil__calloc(1, c->out[0].bytes ? c->out[0].bytes : 1);
    if (k) CHECK_OK(run_kernel(c, k, got, 1, NULL));
    if (k) CHECK(close_to_ref(label, c, got));
    anvil__free(got);
    return k;
}

/* Every listed tactic matches the reference; the first is `first`, the last is ref. Also
 * re-creates the first tactic with its weight layouts fixed, as a reload would. */
static void check_case(const char *what, tcase *c, int first_expected) {
    tc_reference(c);
    int32_t ids[8];
    int32_t n = be->tactics(be->ctx, node_of(c), c->in, c->n_in, ids, 8);
    CHECK(n >= 1);
    if (n < 1) return;
    if (first_expected >= 0 && ids[0] != first_expected)
        fprintf(stderr, "%s: first tactic %s, expected id %d\n", what,
                be->tactic_name(be->ctx, ids[0]), first_expected);
    CHECK(first_expected < 0 || ids[0] == first_expected);
    CHECK_STR_EQ(be->tactic_name(be->ctx, ids[n - 1]), "ref");
    for (int32_t t = 0; t < n; t++) {
        char label[160];
        snprintf(label, sizeof label, "%s [%s]", what, be->tactic_name(be->ctx, ids[t]));
        anvil__kernel *k = run_tactic(c, ids[t], NULL, label);
        if (k && t == 0 && ids[t] != 0) { /* fixed weight layouts give the same kernel */
            anvil__layout fixed[MAX_IN], l;
            for (int i = 0; i < c->n_in; i++)
                be->kernel_input_layout(be->ctx, k, i, &fixed[i]);
            anvil__kernel *k2 = run_tactic(c, ids[t], fixed, label);
            for (int i = 0; k2 && i < c->n_in; i++) {
                be->kernel_input_layout(be->ctx, k2, i, &l);
                CHECK(!c->weight[i] || same_layout(&l, &fixed[i]));
            }
            be->kernel_destroy(be->ctx, k2);
        }
        be->kernel_destroy(be->ctx, k);
    }
}

/* ---- cases ---- */

static void test_conv(void) {
    tcase c;
    tc_init(&c, "Conv", 3, 1); /* 3x3 pad 1 + bias + Relu */
    tc_input(&c, 0, false, 1, 1, 16, 10, 10, -1);
    tc_input(&c, 1, true, 2, 32, 16, 3, 3, -1);
    tc_input(&c, 2, true, 3, 32, -1);
    attr_ints(&c, "pads", 4, 1, 1, 1, 1);
    tc_post(&c, "Relu", 0, 0, -1);
    check_case("conv3x3+relu", &c, 1);
    tc_free(&c);

    tc_init(&c, "Conv", 2, 1); /* stride 2, asymmetric pads, Clip(0, 6) */
    tc_input(&c, 0, false, 4, 2, 8, 11, 9, -1);
    tc_input(&c, 1, true, 5, 24, 8, 3, 3, -1);
    attr_ints(&c, "strides", 2, 2, 2);
    attr_ints(&c, "pads", 4, 0, 1, 1, 1);
    tc_post(&c, "Clip", -INFINITY, 0.3f, -1); /* an absent min bound */
    check_case("conv s2+clip", &c, 1);
    tc_free(&c);

    tc_init(&c, "Conv", 4, 1); /* residual: Add(conv, R) then Relu */
    tc_input(&c, 0, false, 6, 1, 16, 8, 8, -1);
    tc_input(&c, 1, true, 7, 16, 16, 1, 1, -1);
    tc_input(&c, 2, true, 8, 16, -1);
    tc_input(&c, 3, false, 9, 1, 16, 8, 8, -1);
    tc_post(&c, "Add", 0, 0, 3);
    tc_post(&c, "Relu", 0, 0, -1);
    check_case("conv+sum+relu", &c, 1);
    tc_free(&c);

    tc_init(&c, "Conv", 3, 1); /* depthwise */
    tc_input(&c, 0, false, 10, 1, 32, 12, 12, -1);
    tc_input(&c, 1, true, 11, 32, 1, 3, 3, -1);
    tc_input(&c, 2, true, 12, 32, -1);
    attr_int(&c, "group", 32);
    attr_ints(&c, "pads", 4, 1, 1, 1, 1);
    tc_post(&c, "Clip", 0.0f, 0.5f, -1);
    check_case("depthwise", &c, 1);
    tc_free(&c);

    tc_init(&c, "Conv", 2, 1); /* 1-D, dilation 2, SAME_UPPER, groups 2 */
    tc_input(&c, 0, false, 13, 2, 8, 17, -1);
    tc_input(&c, 1, true, 14, 6, 4, 3, -1);
    attr_ints(&c, "dilations", 1, 2);
    attr_int(&c, "group", 2);
    attr_str(&c, "auto_pad", "SAME_UPPER");
    tc_post(&c, "SiLU", 0, 0, -1);
    check_case("conv1d+silu", &c, 1);
    tc_free(&c);

    tc_init(&c, "Conv", 2, 1); /* HardSigmoid (two oneDNN steps) and Gelu as fused ops */
    tc_input(&c, 0, false, 18, 1, 8, 6, 6, -1);
    tc_input(&c, 1, true, 19, 8, 8, 3, 3, -1);
    tc_post(&c, "HardSigmoid", 0.3f, 0.4f, -1);
    tc_post(&c, "Gelu", 0.0f, 0.0f, -1);
    check_case("conv+hardsigmoid+gelu", &c, 1);
    tc_free(&c);

    tc_init(&c, "Conv", 3, 1); /* 3-D */
    tc_input(&c, 0, false, 15, 1, 4, 5, 6, 7, -1);
    tc_input(&c, 1, true, 16, 8, 4, 3, 3, 3, -1);
    tc_input(&c, 2, true, 17, 8, -1);
    attr_ints(&c, "pads", 6, 1, 0, 1, 1, 0, 1);
    check_case("conv3d", &c, 1);
    tc_free(&c);
}

static void test_deconv(void) {
    tcase c;
    tc_init(&c, "ConvTranspose", 3, 1);
    tc_input(&c, 0, false, 20, 1, 8, 5, 6, -1);
    tc_input(&c, 1, true, 21, 8, 3, 3, 3, -1); /* [C, M/g, k, k], group 2 -> M = 6 */
    tc_input(&c, 2, true, 22, 6, -1);
    attr_int(&c, "group", 2);
    attr_ints(&c, "strides", 2, 2, 2);
    attr_ints(&c, "pads", 4, 1, 1, 1, 1);
    attr_ints(&c, "output_padding", 2, 1, 0);
    tc_post(&c, "Relu", 0, 0, -1);
    check_case("deconv", &c, 2);
    tc_free(&c);

    tc_init(&c, "ConvTranspose", 2, 1);
    tc_input(&c, 0, false, 23, 2, 4, 7, -1);
    tc_input(&c, 1, true, 24, 4, 5, 4, -1);
    attr_ints(&c, "strides", 1, 3);
    check_case("deconv1d", &c, 2);
    tc_free(&c);
}

static void test_matmul(void) {
    tcase c;
    tc_init(&c, "MatMul", 3, 1); /* weight + [N] bias as a fused Add + Relu */
    tc_input(&c, 0, false, 30, 2, 3, 5, 8, -1);
    tc_input(&c, 1, true, 31, 8, 6, -1);
    tc_input(&c, 2, true, 32, 6, -1);
    tc_post(&c, "Add", 0, 0, 2);
    tc_post(&c, "Relu", 0, 0, -1);
    check_case("matmul+bias+relu", &c, 3);
    tc_free(&c);

    tc_init(&c, "MatMul", 2, 1); /* broadcast batch, both activations */
    tc_input(&c, 0, false, 33, 2, 1, 4, 8, -1);
    tc_input(&c, 1, false, 34, 3, 8, 5, -1);
    check_case("matmul broadcast", &c, 3);
    tc_free(&c);

    tc_init(&c, "MatMul", 3, 1); /* 1-D A, residual of the output's shape */
    tc_input(&c, 0, false, 35, 7, -1);
    tc_input(&c, 1, true, 36, 2, 7, 3, -1);
    tc_input(&c, 2, false, 37, 2, 3, -1);
    tc_post(&c, "Add", 0, 0, 2);
    check_case("matmul 1-D + sum", &c, 3);
    tc_free(&c);

    tc_init(&c, "Gemm", 3, 1); /* transB, bias C [N], alpha/beta */
    tc_input(&c, 0, false, 40, 4, 9, -1);
    tc_input(&c, 1, true, 41, 5, 9, -1);
    tc_input(&c, 2, true, 42, 5, -1);
    attr_int(&c, "transB", 1);
    attr_float(&c, "alpha", 0.5);
    attr_float(&c, "beta", 2.0);
    check_case("gemm transB bias alpha beta", &c, 4);
    tc_free(&c);

    tc_init(&c, "Gemm", 3, 1); /* transB with bias C [1, N] + Relu (a classifier head) */
    tc_input(&c, 0, false, 43, 2, 64, -1);
    tc_input(&c, 1, true, 44, 10, 64, -1);
    tc_input(&c, 2, true, 45, 1, 10, -1);
    attr_int(&c, "transB", 1);
    tc_post(&c, "Relu", 0, 0, -1);
    check_case("gemm transB bias", &c, 4);
    tc_free(&c);

    tc_init(&c, "Gemm", 3, 1); /* transA, full C, beta */
    tc_input(&c, 0, false, 46, 6, 3, -1);
    tc_input(&c, 1, false, 47, 6, 4, -1);
    tc_input(&c, 2, false, 48, 3, 4, -1);
    attr_int(&c, "transA", 1);
    attr_float(&c, "beta", 0.25);
    check_case("gemm transA full C", &c, 4);
    tc_free(&c);
}

static void pool_case(const char *what, const char *op, bool ceil, bool include, int k, int first) {
    tcase c;
    tc_init(&c, op, 1, 1);
    tc_input(&c, 0, false, 50, 2, 16, 9, 10, -1);
    if (k) {
        attr_ints(&c, "kernel_shape", 2, k, k);
        attr_ints(&c, "strides", 2, 2, 2);
        attr_ints(&c, "pads", 4, 1, 1, 0, 1);
        if (ceil) attr_int(&c, "ceil_mode", 1);
        if (include) attr_int(&c, "count_include_pad", 1);
    }
    check_case(what, &c, first);
    tc_free(&c);
}

static void test_pool_norm(void) {
    pool_case("maxpool ceil", "MaxPool", true, false, 3, 5);
    pool_case("avgpool exclude ceil", "AveragePool", true, false, 3, 5);
    pool_case("avgpool include", "AveragePool", false, true, 3, 5);
    pool_case("avgpool include ceil (ref)", "AveragePool", true, true, 3, 0);
    pool_case("global avg", "GlobalAveragePool", false, false, 0, 5);
    pool_case("global max", "GlobalMaxPool", false, false, 0, 5);

    tcase c;
    tc_init(&c, "Softmax", 1, 1);
    tc_input(&c, 0, false, 60, 2, 3, 17, -1);
    check_case("softmax", &c, 6);
    tc_free(&c);
    tc_init(&c, "LogSoftmax", 1, 1);
    tc_input(&c, 0, false, 61, 2, 3, 17, -1);
    attr_int(&c, "axis", 1); /* not innermost: oneDNN 2.6 has only a reference kernel */
    check_case("logsoftmax axis 1", &c, 0);
    tc_free(&c);
    tc_init(&c, "LogSoftmax", 1, 1);
    tc_input(&c, 0, false, 61, 2, 3, 17, 1, -1);
    attr_int(&c, "axis", 2); /* innermost but for a dim of 1 */
    check_case("logsoftmax axis 2 of 4", &c, 6);
    tc_free(&c);
    tc_init(&c, "Softmax", 1, 1); /* opset 11: axis 1 flattens [1:] */
    tc_input(&c, 0, false, 62, 2, 3, 5, -1);
    c.g->opset = 11;
    check_case("softmax opset 11", &c, 6);
    tc_free(&c);

    tc_init(&c, "LayerNormalization", 3, 1);
    tc_input(&c, 0, false, 63, 2, 5, 32, -1);
    tc_input(&c, 1, true, 64, 32, -1);
    tc_input(&c, 2, true, 65, 32, -1);
    check_case("layernorm", &c, 7);
    tc_free(&c);
    tc_init(&c, "LayerNormalization", 2, 1);
    tc_input(&c, 0, false, 66, 2, 3, 4, -1);
    tc_input(&c, 1, true, 67, 3, 4, -1);
    attr_int(&c, "axis", 1);
    attr_float(&c, "epsilon", 1e-3);
    check_case("layernorm axis 1 no bias", &c, 7);
    tc_free(&c);

    tc_init(&c, "BatchNormalization", 5, 1);
    tc_input(&c, 0, false, 68, 2, 16, 5, 5, -1);
    tc_input(&c, 1, true, 69, 16, -1);
    tc_input(&c, 2, true, 70, 16, -1);
    tc_input(&c, 3, true, 71, 16, -1);
    tc_input(&c, 4, true, 72, 16, -1);
    for (int i = 0; i < 16; i++) /* variance must be positive */
        ((float *)c.in[4].data)[i] = fabsf(((float *)c.in[4].data)[i]) + 0.1f;
    check_case("batchnorm", &c, 8);
    tc_free(&c);
}

static void binary_case(const char *what, const char *op, bool swap) {
    tcase c;
    tc_init(&c, op, 2, 1);
    tc_input(&c, swap ? 1 : 0, false, 80, 2, 16, 4, 5, -1);
    tc_input(&c, swap ? 0 : 1, true, 81, 16, 1, 1, -1);
    if (strcmp(op, "Div") == 0)
        for (int i = 0; i < 16; i++)
            ((float *)c.in[1].data)[i] += 3.0f;
    check_case(what, &c, 9);
    tc_free(&c);
}

static void eltwise_case(const char *op, const char *attr, double v, int first) {
    for (int tiny = 0; tiny < 2; tiny++) { /* 2x3x4x5 in [-4, 4], then a 1-D [3] */
        tcase c;
        tc_init(&c, op, 1, 1);
        tiny ? tc_input(&c, 0, false, 91, 3, -1) : tc_input(&c, 0, false, 90, 2, 3, 4, 5, -1);
        for (int64_t i = 0; i < anvil__tensor_numel(&c.in[0]); i++)
            ((float *)c.in[0].data)[i] *= 4.0f;
        if (attr) attr_float(&c, attr, v);
        check_case(op, &c, first);
        tc_free(&c);
    }
}

static void test_binary_eltwise(void) {
    binary_case("add broadcast", "Add", false);
    binary_case("mul broadcast first", "Mul", true);
    binary_case("sub", "Sub", false);
    binary_case("div", "Div", false);
    tcase c;
    tc_init(&c, "Sub", 2, 1); /* first operand broadcast, not commutative: ref only */
    tc_input(&c, 0, false, 82, 3, 1, -1);
    tc_input(&c, 1, false, 83, 3, 4, -1);
    check_case("sub broadcast first (ref)", &c, 0);
    tc_free(&c);
    tc_init(&c, "Add", 3, 1); /* same shapes, fused residual Add as a binary post-op */
    tc_input(&c, 0, false, 84, 2, 8, 3, 3, -1);
    tc_input(&c, 1, false, 85, 2, 8, 3, 3, -1);
    tc_input(&c, 2, false, 86, 2, 8, 3, 3, -1);
    tc_post(&c, "Add", 0, 0, 2);
    tc_post(&c, "Sigmoid", 0, 0, -1);
    check_case("add+add+sigmoid", &c, 9);
    tc_free(&c);

    static const struct {
        const char *op, *attr;
        double v;
        int first; /* HardSigmoid is two oneDNN steps, Log/Softplus are not accurate: ref */
    } acts[] = {{"Relu", NULL, 0, 10},     {"LeakyRelu", "alpha", 0.2, 10},
                {"Sigmoid", NULL, 0, 10},  {"Tanh", NULL, 0, 10},
                {"Elu", "alpha", 0.7, 10}, {"HardSwish", NULL, 0, 10},
                {"Gelu", NULL, 0, 10},     {"Mish", NULL, 0, 10},
                {"Neg", NULL, 0, 10},      {"HardSigmoid", "alpha", 0.3, 0},
                {"Softplus", NULL, 0, 0},  {"Exp", NULL, 0, 10}};
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
        eltwise_case(acts[i].op, acts[i].attr, acts[i].v, acts[i].first);
}

static void test_ref_only(void) {
    tcase c;
    tc_init(&c, "Transpose", 1, 1); /* no oneDNN tactic: ref alone */
    tc_input(&c, 0, false, 100, 2, 3, 4, -1);
    attr_ints(&c, "perm", 3, 2, 0, 1);
    check_case("transpose", &c, 0);
    tc_free(&c);
    tc_init(&c, "If", 1, 1); /* the planner runs If through the interpreter */
    int32_t n = be->tactics(be->ctx, node_of(&c), c.in, 1, (int32_t[4]){0}, 4);
    CHECK_EQ(n, 0);
    tc_free(&c);
}

/* An f16 Conv + Relu runs through ref (converted to f32 around the kernel, like the
 * interpreter) and matches the f32 reference on the same rounded values. */
static void test_ref_f16(void) {
    tcase c;
    tc_init(&c, "Conv", 2, 1);
    tc_input(&c, 0, false, 140, 1, 4, 6, 6, -1);
    tc_input(&c, 1, true, 141, 5, 4, 3, 3, -1);
    tc_post(&c, "Relu", 0, 0, -1);
    anvil__tensor h[3];
    void *ptr[3];
    for (int i = 0; i < 2; i++) { /* f16 copies; the f32 inputs get the rounded values */
        size_t n = (size_t)anvil__tensor_numel(&c.in[i]);
        h[i] = c.in[i];
        h[i].dtype = ANVIL_DTYPE_F16;
        h[i].bytes = n * 2;
        h[i].data = ptr[i] = anvil__malloc(h[i].bytes);
        anvil__convert(ANVIL_DTYPE_F16, h[i].data, ANVIL_DTYPE_F32, c.in[i].data, n);
        anvil__convert(ANVIL_DTYPE_F32, c.in[i].data, ANVIL_DTYPE_F16, h[i].data, n);
    }
    tc_reference(&c);
    size_t n = (size_t)anvil__tensor_numel(&c.out[0]);
    h[2] = c.out[0]; /* the f16 output */
    h[2].dtype = ANVIL_DTYPE_F16;
    h[2].bytes = n * 2;
    ptr[2] = anvil__malloc(h[2].bytes);
    int32_t ids[4];
    CHECK_EQ(be->tactics(be->ctx, node_of(&c), h, 2, ids, 4), 1);
    CHECK_EQ(ids[0], 0);
    anvil__layout plain[2] = {{0}};
    anvil__kernel_desc d = {node_of(&c), 18, 0, 2, 1, h, &h[2], c.weight, plain, NULL, 1, false,
                            ANVIL_PRECISION_F32};
    anvil__kernel *k = NULL;
    CHECK_OK(be->kernel_create(be->ctx, &d, &k));
    anvil__exec_args args = {ptr, ptr + 2, h, &h[2], NULL};
    if (k) CHECK_OK(be->kernel_run(be->ctx, k, &args));
    for (size_t i = 0; i < n; i++) {
        float want = ((const float *)c.out[0].data)[i];
        CHECK_NEAR(anvil__f16_to_f32(((uint16_t *)ptr[2])[i]), want, 2e-3 * (1 + fabsf(want)));
    }
    be->kernel_destroy(be->ctx, k);
    for (int i = 0; i < 3; i++)
        anvil__free(ptr[i]);
    tc_free(&c);
}

/* With plain_activations (the layout pass off), oneDNN kernels read and write plain
 * activations; weights may still be packed. */
static void test_plain_activations(void) {
    plain_acts = true;
    tcase c;
    tc_init(&c, "Conv", 4, 1);
    tc_input(&c, 0, false, 150, 1, 16, 9, 9, -1);
    tc_input(&c, 1, true, 151, 32, 16, 3, 3, -1);
    tc_input(&c, 2, true, 152, 32, -1);
    tc_input(&c, 3, false, 153, 1, 32, 9, 9, -1);
    attr_ints(&c, "pads", 4, 1, 1, 1, 1);
    tc_post(&c, "Add", 0, 0, 3);
    tc_post(&c, "Relu", 0, 0, -1);
    check_case("plain conv+sum+relu", &c, 1);
    anvil__layout none[MAX_IN] = {{0}}, l = {0};
    anvil__kernel *k = NULL;
    CHECK_OK(make_kernel(&c, 1, none, NULL, &k));
    for (int i = 0; k && i < 5; i++) { /* inputs but the weight, then the output */
        if (i < 4) be->kernel_input_layout(be->ctx, k, i, &l);
        if (i == 4) be->kernel_output_layout(be->ctx, k, 0, &l);
        CHECK(i == 1 || l.kind == ANVIL_LAYOUT_PLAIN);
    }
    be->kernel_destroy(be->ctx, k);
    tc_free(&c);
    pool_case("plain maxpool", "MaxPool", false, false, 3, 5);
    binary_case("plain add", "Add", false);
    plain_acts = false;
}

/* A conv chain: conv2 created with conv1's output layout as its arriving layout wants it as
 * is (no reorder between them). */
static void test_chain_layouts(void) {
    tcase a, b;
    tc_init(&a, "Conv", 2, 1);
    tc_input(&a, 0, false, 110, 1, 32, 14, 14, -1);
    tc_input(&a, 1, true, 111, 32, 32, 3, 3, -1);
    attr_ints(&a, "pads", 4, 1, 1, 1, 1);
    tc_reference(&a);
    tc_init(&b, "Conv", 2, 1);
    tc_input(&b, 0, false, 112, 1, 32, 14, 14, -1); /* a's output shape */
    tc_input(&b, 1, true, 113, 16, 32, 1, 1, -1);
    tc_reference(&b);
    anvil__layout in[MAX_IN] = {{0}}, l1, l2;
    anvil__kernel *ka = NULL, *kb = NULL;
    CHECK_OK(make_kernel(&a, 1, in, NULL, &ka));
    if (ka) {
        be->kernel_output_layout(be->ctx, ka, 0, &l1);
        in[0] = l1;
        CHECK_OK(make_kernel(&b, 1, in, NULL, &kb));
    }
    if (kb) {
        be->kernel_input_layout(be->ctx, kb, 0, &l2);
        CHECK(same_layout(&l1, &l2));
        printf("conv chain: activation layout kind %d (%zu bytes for %zu plain)\n", (int)l1.kind,
               l1.kind ? l1.bytes : a.out[0].bytes, a.out[0].bytes);
        float *got = anvil__malloc(b.out[0].bytes);
        CHECK_OK(run_kernel(&b, kb, got, 1, NULL)); /* the harness reorders plain -> l2 */
        CHECK(close_to_ref("conv chain", &b, got));
        anvil__free(got);
        be->kernel_destroy(be->ctx, kb);
    }
    be->kernel_destroy(be->ctx, ka);
    tc_free(&a);
    tc_free(&b);
}

static void test_layouts(void) {
    tcase c;
    tc_init(&c, "Conv", 2, 1);
    tc_input(&c, 0, false, 120, 1, 16, 8, 8, -1);
    tc_input(&c, 1, true, 121, 32, 16, 3, 3, -1);
    tc_reference(&c);
    anvil__layout none[MAX_IN] = {{0}}, w, plain = {0};
    anvil__kernel *k = NULL;
    CHECK_OK(make_kernel(&c, 1, none, NULL, &k));
    if (!k) return;
    be->kernel_input_layout(be->ctx, k, 1, &w);
    CHECK(w.kind != ANVIL_LAYOUT_PLAIN); /* oneDNN packs conv weights */
    CHECK(w.bytes >= c.in[1].bytes);
    void *packed = be->alloc(be->ctx, w.bytes);
    float *back = anvil__malloc(c.in[1].bytes);
    CHECK_OK(be->reorder(be->ctx, &c.in[1], &plain, c.in[1].data, &w, packed));
    CHECK_OK(be->reorder(be->ctx, &c.in[1], &w, packed, &plain, back));
    CHECK(memcmp(back, c.in[1].data, c.in[1].bytes) == 0);
    anvil__layout bad = w;
    bad.blob[0] ^= 1; /* magic */
    CHECK_STATUS(be->reorder(be->ctx, &c.in[1], &plain, c.in[1].data, &bad, packed),
                 ANVIL_STATUS_PARSE_ERROR);
    bad = w;
    bad.bytes = w.bytes / 2; /* says fewer bytes than the layout covers */
    CHECK_STATUS(be->reorder(be->ctx, &c.in[1], &plain, c.in[1].data, &bad, packed),
                 ANVIL_STATUS_PARSE_ERROR);
    anvil__tensor other = c.in[1];
    other.dims[0] = 16; /* another tensor than the layout describes */
    other.bytes /= 2;
    CHECK(be->reorder(be->ctx, &other, &plain, c.in[1].data, &w, packed) != ANVIL_OK);
    anvil__layout fixed[MAX_IN] = {{0}};
    fixed[1] = w;
    fixed[1].blob[30] ^= 0x5a; /* garbage in the md's padding: refused */
    anvil__kernel *k2 = NULL;
    CHECK_STATUS(make_kernel(&c, 1, none, fixed, &k2), ANVIL_STATUS_PARSE_ERROR);
    CHECK(k2 == NULL);
    fixed[1] = w;
    fixed[1].blob[24 + 8] ^= 0x01; /* dims[0] of the md: another tensor */
    CHECK(make_kernel(&c, 1, none, fixed, &k2) != ANVIL_OK);
    CHECK(k2 == NULL);
    be->free(be->ctx, packed);
    anvil__free(back);
    be->kernel_destroy(be->ctx, k);
    tc_free(&c);
}

/* Best of 5 runs of tactic `tactic` on case c (after a warm-up run). */
static double time_tactic(tcase *c, int32_t tactic) {
    anvil__layout none[MAX_IN] = {{0}};
    anvil__kernel *k = NULL;
    double best = -1;
    float *out = anvil__malloc(c->out[0].bytes);
    CHECK_OK(make_kernel(c, tactic, none, NULL, &k));
    if (k) CHECK_OK(run_kernel(c, k, out, 6, &best));
    be->kernel_destroy(be->ctx, k);
    anvil__free(out);
    return best;
}

/* MobileNetV2-like layers, oneDNN vs ref, at 1 and 2 threads. A sanity check of speed on a
 * shared machine, not a benchmark. */
static void speed_case(const char *what, tcase *c) {
    tc_reference(c);
    double r = time_tactic(c, 0);
    for (threads = 1; threads <= 2; threads++) {
        double d = time_tactic(c, 1);
        printf("speed: %s: onednn %.3f ms (%d thread%s), ref %.3f ms: %.1fx\n", what, d * 1e3,
               (int)threads, threads > 1 ? "s" : "", r * 1e3, r / d);
        CHECK(d > 0 && r > 0);
    }
    threads = 2;
}

static void test_speed(void) {
    tcase c;
    tc_init(&c, "Conv", 2, 1);
    tc_input(&c, 0, false, 130, 1, 96, 56, 56, -1);
    tc_input(&c, 1, true, 131, 24, 96, 1, 1, -1);
    speed_case("1x1 conv 1x96x56x56 -> 24", &c);
    tc_free(&c);
    tc_init(&c, "Conv", 2, 1);
    tc_input(&c, 0, false, 132, 1, 144, 56, 56, -1);
    tc_input(&c, 1, true, 133, 144, 1, 3, 3, -1);
    attr_int(&c, "group", 144);
    attr_ints(&c, "pads", 4, 1, 1, 1, 1);
    speed_case("depthwise 3x3 1x144x56x56", &c);
    tc_free(&c);
}

static void test_registry(void) {
    const anvil__backend *cuda = NULL;
    CHECK_STATUS(anvil__backend_get(ANVIL_BACKEND_CUDA, &cuda), ANVIL_STATUS_UNSUPPORTED);
    CHECK(cuda == NULL);
    CHECK_CONTAINS(anvil_last_error(), "CUDA");
    const anvil__backend *again = NULL;
    CHECK_OK(anvil__backend_get(ANVIL_BACKEND_CPU, &again));
    CHECK(again == be);
    const char *v = be->version(be->ctx);
    CHECK(strncmp(v, "onednn 2.", 9) == 0);
    printf("backend version: %s\n", v);
    CHECK_STR_EQ(be->tactic_name(be->ctx, 1), "onednn:conv");
    CHECK_STR_EQ(be->tactic_name(be->ctx, 999), "unknown");
}

int main(void) {
    CHECK_OK(anvil__backend_get(ANVIL_BACKEND_CPU, &be));
    if (!be) return check_exit();
    test_registry();
    test_conv();
    test_deconv();
    test_matmul();
    test_pool_norm();
    test_binary_eltwise();
    test_ref_only();
    test_ref_f16();
    test_plain_activations();
    test_chain_layouts();
    test_layouts();
    test_speed();
    return check_exit();
}
