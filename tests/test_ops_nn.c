/*
 * test_ops_nn.c — unit tests of the nn op families (Conv, ConvTranspose, pools, Gemm, MatMul,
 * Einsum) on hand-built nodes: hand-computed small cases, comparisons with naive loops written
 * here independently of the kernels, and shape/attribute errors with their messages.
 */
#include "check.h"
#include "ops/op.h"

#include <stdarg.h>
#include <stdlib.h>

/* ---- a tiny harness: one node, inputs borrowed from the test, outputs allocated here ---- */

typedef struct nn_case {
    anvil__graph *g;
    int32_t node;
    int n_in, n_out;
    anvil__tensor in[8], out[2];
    anvil__tensor *inp[8], *outp[2];
} nn_case;

static void case_init(nn_case *c, const char *op, int n_in, int n_out) {
    memset(c, 0, sizeof *c);
    c->g = anvil__graph_new(NULL);
    c->g->opset = 22;
    c->n_in = n_in;
    c->n_out = n_out;
    int32_t ins[8], outs[2];
    char name[16];
    for (int i = 0; i < n_in; i++) {
        snprintf(name, sizeof name, "i%d", i);
        CHECK_OK(anvil__graph_add_value(c->g, name, &ins[i]));
        c->inp[i] = &c->in[i];
    }
    for (int i = 0; i < n_out; i++) {
        snprintf(name, sizeof name, "o%d", i);
        CHECK_OK(anvil__graph_add_value(c->g, name, &outs[i]));
        c->outp[i] = &c->out[i];
    }
    CHECK_OK(anvil__graph_add_node(c->g, "n", op, "", ins, n_in, outs, n_out, &c->node));
    c->g->nodes[c->node].op = anvil__op_find(op, "");
    CHECK(c->g->nodes[c->node].op >= 0);
}

static anvil__attr *add_attr(nn_case *c, const char *name) {
    anvil__attr *a = NULL;
    CHECK_OK(anvil__node_add_attr(c->g, c->node, name, &a));
    return a;
}

static void attr_ints(nn_case *c, const char *name, int n, ...) {
    anvil__attr *a = add_attr(c, name);
    a->kind = ANVIL_ATTR_INTS;
    a->n = (size_t)n;
    a->ints = anvil__malloc_array((size_t)(n ? n : 1), sizeof *a->ints);
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        a->ints[i] = va_arg(ap, int);
    va_end(ap);
}

static void attr_int(nn_case *c, const char *name, int64_t v) {
    anvil__attr *a = add_attr(c, name);
    a->kind = ANVIL_ATTR_INT;
    a->i = v;
}

static void attr_float(nn_case *c, const char *name, double v) {
    anvil__attr *a = add_attr(c, name);
    a->kind = ANVIL_ATTR_FLOAT;
    a->f = v;
}

static void attr_str(nn_case *c, const char *name, const char *s) {
    anvil__attr *a = add_attr(c, name);
    a->kind = ANVIL_ATTR_STRING;
    a->s = anvil__strdup(s);
    a->s_len = strlen(s);
}

/* Input i borrows `data` of the given dtype and shape (dims as a -1 terminated list). */
static void set_input(nn_case *c, int i, anvil_dtype dt, const void *data, ...) {
    anvil__tensor *t = &c->in[i];
    va_list ap;
    va_start(ap, data);
    int32_t rank = 0;
    for (int v; (v = va_arg(ap, int)) >= 0;)
        t->dims[rank++] = v;
    va_end(ap);
    t->dtype = dt;
    t->rank = rank;
    t->data = (void *)data;
    t->bytes = (size_t)anvil_shape_numel(rank, t->dims) * anvil_dtype_size(dt);
}

/* validate + infer + allocate + run, like the interpreter. */
static anvil_status run_case(nn_case *c) {
    const anvil__node *node = &c->g->nodes[c->node];
    anvil_status s = anvil__op_validate_node(node, c->g->opset);
    if (s != ANVIL_OK) return s;
    const anvil__op_def *def = anvil__op_get(node->op);
    anvil__op_ctx ctx = {node, c->g->opset, c->n_in, c->inp, c->n_out, c->outp, NULL, NULL};
    s = def->infer(&ctx);
    for (int o = 0; s == ANVIL_OK && o < c->n_out; o++)
        s = anvil__tensor_alloc(&c->out[o]);
    if (s == ANVIL_OK) s = def->run(&ctx);
    return s;
}

static void case_free(nn_case *c) {
    for (int o = 0; o < c->n_out; o++)
        anvil__free(c->out[o].data);
    anvil__graph_destroy(c->g);
}

static void check_dims(const anvil__tensor *t, int rank, ...) {
    CHECK_EQ(t->rank, rank);
    va_list ap;
    va_start(ap, rank);
    for (int d = 0; d < rank && d < t->rank; d++)
        CHECK_EQ(t->dims[d], va_arg(ap, int));
    va_end(ap);
}

static void fill(float *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (float)((seed >> 16) % 2001) / 1000.0f - 1.0f;
    }
}

static void check_close(const float *got, const float *want, size_t n) {
    int bad = 0;
    for (size_t i = 0; i < n && bad < 5; i++) {
        if (fabsf(got[i] - want[i]) > 1e-4f + 1e-4f * fabsf(want[i])) {
            fprintf(stderr, "  element %zu: got %g, want %g\n", i, got[i], want[i]);
            bad++;
        }
    }
    CHECK_EQ(bad, 0);
}

/* ---- Conv ---------------------------------------------------------------------------- */

typedef struct conv2d_cfg {
    int n, c, h, w, m, kh, kw, group, sh, sw, dh, dw, pt, pl, pb, pr;
} conv2d_cfg;

static int conv_out(int in, int k, int s, int d, int p0, int p1) {
    return (in + p0 + p1 - ((k - 1) * d + 1)) / s + 1;
}

/* Naive direct 2-D convolution: the definition, loop by loop. */
static void conv2d_naive(const conv2d_cfg *q, const float *x, const float *w, const float *b,
                         float *y) {
    int oh = conv_out(q->h, q->kh, q->sh, q->dh, q->pt, q->pb);
    int ow = conv_out(q->w, q->kw, q->sw, q->dw, q->pl, q->pr);
    int cg = q->c / q->group, mg = q->m / q->group;
    for (int n = 0; n < q->n; n++)
        for (int m = 0; m < q->m; m++)
            for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++) {
                    double acc = b ? b[m] : 0.0;
                    int g = m / mg;
                    for (int cc = 0; cc < cg; cc++)
                        for (int a = 0; a < q->kh; a++)
                            for (int e = 0; e < q->kw; e++) {
                                int ih = i * q->sh - q->pt + a * q->dh;
                                int iw = j * q->sw - q->pl + e * q->dw;
                                if (ih < 0 || ih >= q->h || iw < 0 || iw >= q->w) continue;
                                int ci = g * cg + cc;
                                acc += x[((n * q->c + ci) * q->h + ih) * q->w + iw] *
                                       w[((m * cg + cc) * q->kh + a) * q->kw + e];
                            }
                    y[((n * q->m + m) * oh + i) * ow + j] = (float)acc;
                }
}

static void conv2d_compare(const conv2d_cfg *q, bool bias) {
    int cg = q->c / q->group;
    size_t nx = (size_t)(q->n * q->c * q->h * q->w), nw = (size_t)(q->m * cg * q->kh * q->kw);
    int oh = conv_out(q->h, q->kh, q->sh, q->dh, q->pt, q->pb);
    int ow = conv_out(q->w, q->kw, q->sw, q->dw, q->pl, q->pr);
    size_t ny = (size_t)(q->n * q->m * oh * ow);
    float *x = malloc(nx * 4), *w = malloc(nw * 4), *b = malloc((size_t)q->m * 4),
          *want = malloc(ny * 4);
    fill(x, nx, 1);
    fill(w, nw, 2);
    fill(b, (size_t)q->m, 3);
    conv2d_naive(q, x, w, bias ? b : NULL, want);
    nn_case c;
    case_init(&c, "Conv", bias ? 3 : 2, 1);
    set_input(&c, 0, ANVIL_DTYPE_F32, x, q->n, q->c, q->h, q->w, -1);
    set_input(&c, 1, ANVIL_DTYPE_F32, w, q->m, cg, q->kh, q->kw, -1);
    if (bias) set_input(&c, 2, ANVIL_DTYPE_F32, b, q->m, -1);
    attr_ints(&c, "strides", 2, q->sh, q->sw);
    attr_ints(&c, "dilations", 2, q->dh, q->dw);
    attr_ints(&c, "pads", 4, q->pt, q->pl, q->pb, q->pr);
    attr_int(&c, "group", q->group);
    CHECK_OK(run_case(&c));
    check_dims(&c.out[0], 4, q->n, q->m, oh, ow);
    if (c.out[0].data) check_close(c.out[0].data, want, ny);
    case_free(&c);
    free(x);
    free(w);
    free(b);
    free(want);
}

static void test_conv_hand(void) {
    /* 5x5 input 0..24, 3x3 ones, pad 1: each output sums the in-bounds 3x3 neighbourhood. */
    float x[25], w[9];
    for (int i = 0; i < 25; i++)
        x[i] = (float)i;
    for (int i = 0; i < 9; i++)
        w[i] = 1.0f;
    nn_case c;
    case_init(&c, "Conv", 2, 1);
    set_input(&c, 0, ANVIL_DTYPE_F32, x, 1, 1, 5, 5, -1);
    set_input(&c, 1, ANVIL_DTYPE_F32, w, 1, 1, 3, 3, -1);
    attr_ints(&c, "pads", 4, 1, 1, 1, 1);
    CHECK_OK(run_case(&c));
    check_dims(&c.out[0], 4, 1, 1, 5, 5);
    const float *y = c.out[0].data;
    if (y) {
        CHECK_NEAR(y[0], 0 + 1 + 5 + 6, 0);                            /* corner */
        CHECK_NEAR(y[12], 6 + 7 + 8 + 11 + 12 + 13 + 16 + 17 + 18, 0); /* centre */
        CHECK_NEAR(y[24], 18 + 19 + 23 + 24, 0);
        CHECK_NEAR(y[2], 1 + 2 + 3 + 6 + 7 + 8, 0); /* top edge */
    }
    case_free(&c);

    /* Stride 2 without padding: 2x2 output of 3x3 window sums at (0,0),(0,2),(2,0),(2,2). */
    case_init(&c, "Conv", 2, 1);
    set_input(&c, 0, ANVIL_DTYPE_F32, x, 1, 1, 5, 5, -1);
    set_input(&c, 1, ANVIL_DTYPE_F32, w, 1, 1, 3, 3, -1);
    attr_ints(&c, "strides", 2, 2, 2);
    CHECK_OK(run_case(&c));
    check_dims(&c.out[0], 4, 1, 1, 2, 2);
    if ((y = c.out[0].data)) {
        CHECK_NEAR(y[0], 54, 0);  /* 0+1+2+5+6+7+10+11+12 */
        CHECK_NEAR(y[1], 72, 0);  /* shifted right by 2: +2 per element */
        CHECK_NEAR(y[2], 144, 0); /* shifted down by 2: +10 per element */
        CHECK_NEAR(y[3], 162, 0);
    }
    case_free(&c);

    /* Depthwise (group = C = 2) with bias: channel 0 doubles, channel 1 negates, 1x1 kernel. */
    float xd[8] = {1, 2, 3, 4, 5, 6, 7, 8}, wd[2] = {2, -1}, bd[2] = {0.5f, 10};
    case_init(&c, "Conv", 3, 1);
    set_input(&c, 0, ANVIL_DTYPE_F32, xd, 1, 2, 2, 2, -1);
    set_input(&c, 1, ANVIL_DTYPE_F32, wd, 2, 1, 1, 1, -1);
    set_input(&c, 2, ANVIL_DTYPE_F32, bd, 2, -1);
    attr_int(&c, "group", 2);
    CHECK_OK(run_case(&c));
    if ((y = c.out[0].data)) {
        CHECK_NEAR(y[0], 2.5, 1e-6);
        CHECK_NEAR(y[3], 8.5, 1e-6);
        CHECK_NEAR(y[4], 5, 1e-6);
        CHECK_NEAR(y[7], 2, 1e-6);
    }
    case_free(&c);

    /* 1-D: [1,2,3,4] * [1,-1] → differences, with SAME_UPPER keeping length 4. */
    float x1[4] = {1, 2, 4, 8}, w1[2] = {1, -1};
    case_init(&c, "Conv", 2, 1);
    set_input(&c, 0, ANVIL_DTYPE_F32, x1, 1, 1, 4, -1);
    set_input(&c, 1, ANVIL_DTYPE_F32, w1, 1, 1, 2, -1);
    attr_str(&c, "auto_pad", "SAME_UPPER");
    CHECK_OK(run_case(&c));
    check_dims(&c.out[0], 3, 1, 1, 4);
    if ((y = c.out[0].data)) {
        CHECK_NEAR(y[0], -1, 0);
        CHECK_NEAR(y[2], -4, 0);
        CHECK_NEAR(y[3], 8, 0); /* pad at the end (upper) */
    }
    case_free(&c);
}

static void test_conv_naive(void) {
    /* n c h w m kh kw group sh sw dh dw pt pl pb pr */
    conv2d_cfg cases[] = {
        {1, 3, 9, 11, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},  /* plain 3x3 same */
        {2, 4, 8, 7, 6, 3, 2, 2, 2, 1, 1, 1, 0, 1, 2, 0},   /* groups, stride, asymmetric pads */
        {1, 6, 10, 10, 6, 3, 3, 6, 2, 2, 1, 1, 1, 1, 1, 1}, /* depthwise stride 2 */
        {1, 8, 6, 5, 16, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},  /* pointwise (no im2col) */
        {1, 2, 12, 12, 3, 3, 3, 1, 1, 2, 2, 3, 2, 0, 1, 3}, /* dilations */
        {1, 5, 4, 4, 4, 1, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0},   /* strided 1x1 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        conv2d_compare(&cases[i], i % 2 == 0);
        conv2d_compare(&cases[i], i % 2 == 1);
    }
    /* Large enough to need several im2col tiles. */
    conv2d_cfg big = {1, 64, 40, 40, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    conv2d_compare(&big, true);
}

static void test_conv_errors(void) {
    float x[3 * 16] = {0}, w[4 * 2 * 9] = {0};
    nn_case c;
    case_init(&c, "Conv", 2, 1);
    set_input(&c, 0, ANVIL_DTYPE_F32, x, 1, 3, 4, 4, -1);
    set_input(&c, 1, ANVIL_DTYPE_F32, w, 4, 2, 3, 3, -1);
    CHECK_STATUS(run_case(&c), ANVIL_STATUS_SHAPE_MISMATCH);
    CHECK_CONTAINS(anvil_last_error(), "3 channels");
    CHECK_CONTAINS(anvil_last_error(), "expects 2");
    case_free(&c);

    /* Window larger than the padded input. */
    case_init(&c, "Conv", 2, 1);
    set_input(&c, 0, ANVIL_DTYPE_F32, x, 1, 2, 2, 2, -1);
    set_input(&c, 1, ANVIL_DTYPE_F32, w, 4, 2, 3, 3, -1);
    CHECK_STATUS(run_case(&c), ANVIL_STATUS_SHAPE_MISMATCH);
    CHECK_CONTAINS(anvil_last_error(), "larger than the padded input");
    case_free(&c);

    /* kernel_shape disagreeing with the weight; bad auto_pad; zero stride. */
    case_init(&c, "Conv", 2, 1);
    set_input(&c, 0, ANVIL_DTYPE_F32, x, 1, 2, 4, 4, -1);
    set_input(&c, 1, ANVIL_DTYPE_F32, w, 4, 2, 3, 3, -1);
    attr_ints(&c, "kernel_shape", 2, 2, 2);
    CHECK_STATUS(run_case(&c), ANVIL_STATUS_SHAPE_MISMATCH);
    case_free(&c);
    case_init(&c, "Conv", 2, 1);
    attr_str(&c, "auto_pad", "SAME");
    CHECK_STATUS(anvil__op_validate_node(&c.g->nodes[c.node], 22), ANVIL_STATUS_INVALID_GRAPH);
    case_free(&c);
    case_init(&c, "Conv", 2, 1);
    attr_ints(&c, "strides", 2, 1, 0);
    CHECK_STATUS(anvil__op_validate_node(&c.g->nodes[c.node], 22), ANVIL_STATUS_INVALID_GRAPH);
    case_free(&c);

    /* Static inference with an unknown input shape keeps unknown dims. */
    case_init(&c, "Conv", 2, 1);
    set_input(&c, 0, ANVIL_DTYPE_F32, NULL, 1, 2, 4, 4, -1);
    set_input(&c, 1, ANVIL_DTYPE_F32, NULL, 4, 2, 3, 3, -1);
    c.in[0].dims[0] = -1;
    c.in[0].dims[3] = -1;
    anvil__op_ctx ctx = {&c.g->nodes[c.node], 22, 2, c.inp, 1, c.outp, NULL, NULL};
    CHECK_OK(anvil__op_get(c.g->nodes[c.node].op)->infer(&ctx));
    check_dims(&c.out[0], 4, -1, 4, 2, -1);
    c.in[0].rank = -1;
    CHECK_OK(anvil__op_get(c.g->nodes[c.node].op)->infer(&ctx));
    check_dims(&c.out[0], 4, -1, 4, -1, -1);
    case_free(&c);
}

/* ---- ConvTranspose ---------------------------------------------------------------------- */

static void test_conv_transpose(void) {
    /* Naive scatter definition on a grouped, strided, padded 2-D case. */
    enum { N = 1, C = 4, H = 3, W = 4, MG = 3, G = 2, K = 3, S = 2, P = 1, OP = 1 };
    int oh = (H - 1) * S + K + OP - 2 * P, ow = (W - 1) * S + K + OP - 2 * P;
    float x[N * C * H * W], w[C * MG * K * K], b[MG * G];
    fill(x, sizeof x / 4, 5);
    fill(w, sizeof w / 4, 6);
    fill(b, sizeof b / 4, 7);
    float *want = calloc((size_t)(N * MG * G * oh * ow), 4);
    for (int m = 0; m < MG * G; m++)
        for (int i = 0; i < oh * ow; i++)
            want[m * oh * ow + i] = b[m];
    for (int c = 0; c < C; c++)
        for (int ih = 0; ih < H; ih++)
            for (int iw = 0; iw < W; iw++)
                for (int mm = 0; mm < MG; mm++)
                    for (int a = 0; a < K; a++)
                        for (int e = 0; e < K; e++) {
                            int y0 = ih * S - P + a, x0 = iw * S - P + e;
                            if (y0 < 0 || y0 >= oh || x0 < 0 || x0 >= ow) continue;
                            int m = (c / (C / G)) * MG + mm;
                            want[(m * oh + y0) * ow + x0] +=
                                x[(c * H + ih) * W + iw] * w[((c * MG + mm) * K + a) * K + e];
                        }
    nn_case q;
    case_init(&q, "ConvTranspose", 3, 1);
    set_input(&q, 0, ANVIL_DTYPE_F32, x, N, C, H, W, -1);
    set_input(&q, 1, ANVIL_DTYPE_F32, w, C, MG, K, K, -1);
    set_input(&q, 2, ANVIL_DTYPE_F32, b, MG * G, -1);
    attr_int(&q, "group", G);
    attr_ints(&q, "strides", 2, S, S);
    attr_ints(&q, "pads", 4, P, P, P, P);
    attr_ints(&q, "output_padding", 2, OP, OP);
    CHECK_OK(run_case(&q));
    check_dims(&q.out[0], 4, N, MG * G, oh, ow);
    if (q.out[0].data) check_close(q.out[0].data, want, (size_t)(MG * G * oh * ow));
    case_free(&q);

    /* output_shape larger than natural: pads come out negative and the extra is at the end. */
    float x1[3] = {1, 2, 3}, w1[2] = {1, 10};
    case_init(&q, "ConvTranspose", 2, 1);
    set_input(&q, 0, ANVIL_DTYPE_F32, x1, 1, 1, 3, -1);
    set_input(&q, 1, ANVIL_DTYPE_F32, w1, 1, 1, 2, -1);
    attr_ints(&q, "output_shape", 1, 5);
    CHECK_OK(run_case(&q));
    check_dims(&q.out[0], 3, 1, 1, 5);
    const float *y = q.out[0].data;
    if (y) {
        CHECK_NEAR(y[0], 1, 0);
        CHECK_NEAR(y[1], 12, 0);
        CHECK_NEAR(y[2], 23, 0);
        CHECK_NEAR(y[3], 30, 0);
        CHECK_NEAR(y[4], 0, 0);
    }
    case_free(&q);

    /* Channel mismatch names both numbers. */
    case_init(&q, "ConvTranspose", 2, 1);
    set_input(&q, 0, ANVIL_DTYPE_F32, x, 1, 4, 3, 4, -1);
    set_input(&q, 1, ANVIL_DTYPE_F32, w, 3, 2, 2, 2, -1);
    CHECK_STATUS(run_case(&q), ANVIL_STATUS_SHAPE_MISMATCH);
    CHECK_CONTAINS(anvil_last_error(), "4 channels");
    CHECK_CONTAINS(anvil_last_error(), "has 3");
    case_free(&q);
    free(want);
}

/* ---- pools ------------------------------------------------------------------------------ */

static void test_pools(void) {
    float x[16];
    for (int i = 0; i < 16; i++)
        x[i] = (float)((i * 7) % 16); /* 0 7 14 5 12 3 10 1 8 15 ... */
    nn_case c;
    /* MaxPool 2x2 stride 2 with Indices, row- and column-major. */
    for (int order = 0; order < 2; order++) {
        case_init(&c, "MaxPool", 1, 2);
        set_input(&c, 0, ANVIL_DTYPE_F32, x, 1, 1, 4, 4, -1);
        attr_ints(&c, "kernel_shape", 2, 2, 2);
        attr_ints(&c, "strides", 2, 2, 2);
        attr_int(&c, "storage_order", order);
        CHECK_OK(run_case(&c));
        check_dims(&c.out[0], 4, 1, 1, 2, 2);
        check_dims(&c.out[1], 4, 1, 1, 2, 2);
        const float *y = c.out[0].data;
        const int64_t *ind = c.out[1].data;
        if (y && ind) {
            /* top-left window {0,7,12,3}: max 12 at (1,0) */
            CHECK_NEAR(y[0], 12, 0);
            CHECK_EQ(ind[0], order ? 1 : 4);
            /* top-right window {14,5,10,1}: 14 at (0,2) */
            CHECK_NEAR(y[1], 14, 0);
            CHECK_EQ(ind[1], order ? 8 : 2);
            /* bottom-right window x[10],x[11],x[14],x[15] = {6,13,2,9}: 13 at (2,3) */
            CHECK_NEAR(y[3], 13, 0);
            CHECK_EQ(ind[3], order ? 14 : 11);
        }
        case_free(&c);
    }

    /* AveragePool 3x3 pad 1: corner averages 4 values, or 9 with count_include_pad. */
    for (int inc = 0; inc < 2; inc++) {
        case_init(&c, "AveragePool", 1, 1);
        set_input(&c, 0, ANVIL_DTYPE_F32, x, 1, 1, 4, 4, -1);
        attr_ints(&c, "kernel_shape", 2, 3, 3);
        attr_ints(&c, "pads", 4, 1, 1, 1, 1);
        attr_int(&c, "count_include_pad", inc);
        CHECK_OK(run_case(&c));
        check_dims(&c.out[0], 4, 1, 1, 4, 4);
        if (c.out[0].data)
            CHECK_NEAR(((float *)c.out[0].data)[0], (0 + 7 + 12 + 3) / (inc ? 9.0 : 4.0), 1e-6);
        case_free(&c);
    }

    /* ceil_mode: 5 wide, kernel 2, stride 2 → 3 outputs, last window holds one element. */
    case_init(&c, "AveragePool", 1, 1);
    set_input(&c, 0, ANVIL_DTYPE_F32, x, 1, 1, 1, 5, -1);
    attr_ints(&c, "kernel_shape", 2, 1, 2);
    attr_ints(&c, "strides", 2, 1, 2);
    attr_int(&c, "ceil_mode", 1);
    CHECK_OK(run_case(&c));
    check_dims(&c.out[0], 4, 1, 1, 1, 3);
    if (c.out[0].data) CHECK_NEAR(((float *)c.out[0].data)[2], 12, 0);
    case_free(&c);

    /* ceil_mode: a window starting in the right padding is dropped. */
    case_init(&c, "MaxPool", 1, 1);
    set_input(&c, 0, ANVIL_DTYPE_F32, x, 1, 1, 2, 2, -1);
    attr_ints(&c, "kernel_shape", 2, 1, 1);
    attr_ints(&c, "strides", 2, 2, 2);
    attr_int(&c, "ceil_mode", 1);
    CHECK_OK(run_case(&c));
    check_dims(&c.out[0], 4, 1, 1, 1, 1);
    case_free(&c);

    /* MaxPool on u8 and f16 keeps the dtype and copies elements. */
    uint8_t u[6] = {3, 250, 7, 9, 1, 200};
    case_init(&c, "MaxPool", 1, 1);
    set_input(&c, 0, ANVIL_DTYPE_U8, u, 1, 2, 3, -1);
    attr_ints(&c, "kernel_shape", 1, 2);
    CHECK_OK(run_case(&c));
    CHECK_EQ(c.out[0].dtype, ANVIL_DTYPE_U8);
    check_dims(&c.out[0], 3, 1, 2, 2);
    if (c.out[0].data) {
        const uint8_t *y = c.out[0].data;
        CHECK_EQ(y[0], 250);
        CHECK_EQ(y[1], 250);
        CHECK_EQ(y[2], 9);
        CHECK_EQ(y[3], 200);
    }
    case_free(&c);
    uint16_t h[4] = {anvil__f32_to_f16(-1.5f), anvil__f32_to_f16(-0.25f), anvil__f32_to_f16(-3.0f),
                     anvil__f32_to_f16(2.0f)};
    case_init(&c, "MaxPool", 1, 1);
    set_input(&c, 0, ANVIL_DTYPE_F16, h, 1, 1, 4, -1);
    attr_ints(&c, "kernel_shape", 1, 3);
    CHECK_OK(run_case(&c));
    CHECK_EQ(c.out[0].dtype, ANVIL_DTYPE_F16);
    if (c.out[0].data) {
        CHECK_NEAR(anvil__f16_to_f32(((uint16_t *)c.out[0].data)[0]), -0.25, 0);
        CHECK_NEAR(anvil__f16_to_f32(((uint16_t *)c.out[0].data)[1]), 2.0, 0);
    }
    case_free(&c);

    /* Global pools over 3-D spatial. */
    float g[2 * 8];
    for (int i = 0; i < 16; i++)
        g[i] = (float)i;
    for (int max = 0; max < 2; max++) {
        case_init(&c, max ? "GlobalMaxPool" : "GlobalAveragePool", 1, 1);
        set_input(&c, 0, ANVIL_DTYPE_F32, g, 1, 2, 2, 2, 2, -1);
        CHECK_OK(run_case(&c));
        check_dims(&c.out[0], 5, 1, 2, 1, 1, 1);
        if (c.out[0].data) {
            CHECK_NEAR(((float *)c.out[0].data)[0], max ? 7 : 3.5, 1e-6);
            CHECK_NEAR(((float *)c.out[0].data)[1], max ? 15 : 11.5, 1e-6);
        }
        case_free(&c);
    }

    /* Missing kernel_shape is an invalid graph. */
    case_init(&c, "MaxPool", 1, 1);
    CHECK_STATUS(anvil__op_validate_node(&c.g->nodes[c.node], 22), ANVIL_STATUS_INVALID_GRAPH);
    CHECK_CONTAINS(anvil_last_error(), "kernel_shape");
    case_free(&c);
}

/* ---- MatMul / Gemm ---------------------------------------------------------------------- */

static void test_matmul(void) {
    /* A [2,1,2,3] x B [3,3,2] → [2,3,2,2], checked against a naive broadcast loop. */
    float a[2 * 2 * 3], b[3 * 3 * 2];
    fill(a, 12, 11);
    fill(b, 18, 12);
    nn_case c;
    case_init(&c, "MatMul", 2, 1);
    set_input(&c, 0, ANVIL_DTYPE_F32, a, 2, 1, 2, 3, -1);
    set_input(&c, 1, ANVIL_DTYPE_F32, b, 3, 3, 2, -1);
    CHECK_OK(run_case(&c));
    check_dims(&c.out[0], 4, 2, 3, 2, 2);
    if (c.out[0].data) {
        float want[24];
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++)
                for (int r = 0; r < 2; r++)
                    for (int s = 0; s < 2; s++) {
                        float acc = 0;
                        for (int k = 0; k < 3; k++)
                            acc += a[(i * 2 + r) * 3 + k] * b[(j * 3 + k) * 2 + s];
                        want[((i * 3 + j) * 2 + r) * 2 + s] = acc;
                    }
        check_close(c.out[0].data, want, 24);
    }
    case_free(&c);

    /* 1-D A: [3] x [2,3,2] → [2,2]; 1-D both → scalar. */
    float v[3] = {1, 2, 3};
    case_init(&c, "MatMul", 2, 1);
    set_input(&c, 0, ANVIL_DTYPE_F32, v, 3, -1);
    set_input(&c, 1, ANVIL_DTYPE_F32, b, 2, 3, 2, -1);
    CHECK_OK(run_case(&c));
    check_dims(&c.out[0], 2, 2, 2);
    if (c.out[0].data) CHECK_NEAR(((float *)c.out[0].data)[3], b[7] + 2 * b[9] + 3 * b[11], 1e-5);
    case_free(&c);
    case_init(&c, "MatMul", 2, 1);
    set_input(&c, 0, ANVIL_DTYPE_F32, v, 3, -1);
    set_input(&c, 1, ANVIL_DTYPE_F32, v, 3, -1);
    CHECK_OK(run_case(&c));
    CHECK_EQ(c.out[0].rank, 0);
    if (c.out[0].data) CHECK_NEAR(((float *)c.out[0].data)[0], 14, 0);
    case_free(&c);

    /* Integer MatMul is exact: [[1,2],[3,4]] x [[5],[6]]. */
    int64_t ia[4] = {1, 2, 3, 4}, ib[2] = {5, 6};
    case_init(&c, "MatMul", 2, 1);
    set_input(&c, 0, ANVIL_DTYPE_I64, ia, 2, 2, -1);
    set_input(&c, 1, ANVIL_DTYPE_I64, ib, 2, 1, -1);
    CHECK_OK(run_case(&c));
    if (c.out[0].data) {
        CHECK_EQ(((int64_t *)c.out[0].data)[0], 17);
        CHECK_EQ(((int64_t *)c.out[0].data)[1], 39);
    }
    case_free(&c);

    /* Inner dims differ; batch dims that do not broadcast. */
    case_init(&c, "MatMul", 2, 1);
    set_input(&c, 0, ANVIL_DTYPE_F32, a, 2, 3, -1);
    set_input(&c, 1, ANVIL_DTYPE_F32, b, 2, 3, -1);
    CHECK_STATUS(run_case(&c), ANVIL_STATUS_SHAPE_MISMATCH);
    CHECK_CONTAINS(anvil_last_error(), "3 vs 2");
    case_free(&c);
    case_init(&c, "MatMul", 2, 1);
    set_input(&c, 0, ANVIL_DTYPE_F32, a, 2, 2, 3, -1);
    set_input(&c, 1, ANVIL_DTYPE_F32, b, 3, 3, 2, -1);
    CHECK_STATUS(run_case(&c), ANVIL_STATUS_SHAPE_MISMATCH);
    case_free(&c);

    /* A larger product that crosses the GEMM's row and column blocks. */
    enum { M = 37, K = 150, NN = 530 };
    float *ba = malloc(M * K * 4), *bb = malloc(K * NN * 4), *want = malloc(M * NN * 4);
    fill(ba, M * K, 21);
    fill(bb, K * NN, 22);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < NN; j++) {
            double acc = 0;
            for (int k = 0; k < K; k++)
                acc += (double)ba[i * K + k] * bb[k * NN + j];
            want[i * NN + j] = (float)acc;
        }
    case_init(&c, "MatMul", 2, 1);
    set_input(&c, 0, ANVIL_DTYPE_F32, ba, 1, M, K, -1);
    set_input(&c, 1, ANVIL_DTYPE_F32, bb, K, NN, -1);
    CHECK_OK(run_case(&c));
    if (c.out[0].data) check_close(c.out[0].data, want, M * NN);
    case_free(&c);
    free(ba);
    free(bb);
    free(want);
}

static void test_gemm(void) {
    /* A^T with A stored 2x3, B^T with B stored 2x2, alpha 2, beta 0.5, C a row vector. */
    float a[6] = {1, 2, 3, 4, 5, 6}, b[4] = {1, 0, 1, 1}, cv[2] = {10, 20};
    nn_case c;
    case_init(&c, "Gemm", 3, 1);
    set_input(&c, 0, ANVIL_DTYPE_F32, a, 2, 3, -1);
    set_input(&c, 1, ANVIL_DTYPE_F32, b, 2, 2, -1);
    set_input(&c, 2, ANVIL_DTYPE_F32, cv, 2, -1);
    attr_int(&c, "transA", 1);
    attr_int(&c, "transB", 1);
    attr_float(&c, "alpha", 2.0);
    attr_float(&c, "beta", 0.5);
    CHECK_OK(run_case(&c));
    check_dims(&c.out[0], 2, 3, 2);
    /* A^T = [[1,4],[2,5],[3,6]], B^T = [[1,1],[0,1]] → A^T B^T = [[1,5],[2,7],[3,9]] */
    const float *y = c.out[0].data;
    if (y) {
        CHECK_NEAR(y[0], 2 * 1 + 5, 1e-6);
        CHECK_NEAR(y[1], 2 * 5 + 10, 1e-6);
        CHECK_NEAR(y[4], 2 * 3 + 5, 1e-6);
        CHECK_NEAR(y[5], 2 * 9 + 10, 1e-6);
    }
    case_free(&c);

    /* Every transA/transB combination, few and many rows, C as a column [M,1], vs naive. */
    enum { K = 11, NN = 13 };
    for (int cfg = 0; cfg < 8; cfg++) {
        int ta = cfg & 1, tb = (cfg >> 1) & 1, m = cfg & 4 ? 9 : 2;
        float A[9 * K], B[K * NN], C[9], want[9 * NN];
        fill(A, (size_t)(m * K), 31);
        fill(B, K * NN, 32);
        fill(C, (size_t)m, 33);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < NN; j++) {
                double acc = 0;
                for (int p = 0; p < K; p++)
                    acc += (double)A[ta ? p * m + i : i * K + p] * B[tb ? j * K + p : p * NN + j];
                want[i * NN + j] = (float)(1.5 * acc - 2.0 * C[i]);
            }
        case_init(&c, "Gemm", 3, 1);
        if (ta)
            set_input(&c, 0, ANVIL_DTYPE_F32, A, K, m, -1);
        else
            set_input(&c, 0, ANVIL_DTYPE_F32, A, m, K, -1);
        if (tb)
            set_input(&c, 1, ANVIL_DTYPE_F32, B, NN, K, -1);
        else
            set_input(&c, 1, ANVIL_DTYPE_F32, B, K, NN, -1);
        set_input(&c, 2, ANVIL_DTYPE_F32, C, m, 1, -1);
        attr_int(&c, "transA", ta);
        attr_int(&c, "transB", tb);
        attr_float(&c, "alpha", 1.5);
        attr_float(&c, "beta", -2.0);
        CHECK_OK(run_case(&c));
        check_dims(&c.out[0], 2, m, NN);
        if (c.out[0].data) check_close(c.out[0].data, want, (size_t)(m * NN));
        case_free(&c);
    }

    /* C that does not broadcast to M x N. */
    float c3[3] = {0};
    case_init(&c, "Gemm", 3, 1);
    set_input(&c, 0, ANVIL_DTYPE_F32, a, 2, 3, -1);
    set_input(&c, 1, ANVIL_DTYPE_F32, a, 3, 2, -1);
    set_input(&c, 2, ANVIL_DTYPE_F32, c3, 3, -1);
    CHECK_STATUS(run_case(&c), ANVIL_STATUS_SHAPE_MISMATCH);
    case_free(&c);
}

/* ---- Einsum ----------------------------------------------------------------------------- */

static void einsum1(const char *eq, const float *x, int rank, const int *dims, int out_rank,
                    const int *out_dims, const float *want, size_t n) {
    nn_case c;
    case_init(&c, "Einsum", 1, 1);
    set_input(&c, 0, ANVIL_DTYPE_F32, x, -1);
    c.in[0].rank = rank;
    for (int d = 0; d < rank; d++)
        c.in[0].dims[d] = dims[d];
    attr_str(&c, "equation", eq);
    CHECK_OK(run_case(&c));
    CHECK_EQ(c.out[0].rank, out_rank);
    for (int d = 0; d < out_rank && d < c.out[0].rank; d++)
        CHECK_EQ(c.out[0].dims[d], out_dims[d]);
    if (c.out[0].data) check_close(c.out[0].data, want, n);
    case_free(&c);
}

static void test_einsum(void) {
    float m[6] = {1, 2, 3, 4, 5, 6}; /* 2x3 */
    float sq[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    einsum1("ij->ji", m, 2, (int[]){2, 3}, 2, (int[]){3, 2}, (float[]){1, 4, 2, 5, 3, 6}, 6);
    einsum1("ij -> i", m, 2, (int[]){2, 3}, 1, (int[]){2}, (float[]){6, 15}, 2);
    einsum1("ii->i", sq, 2, (int[]){3, 3}, 1, (int[]){3}, (float[]){1, 5, 9}, 3);
    einsum1("ii", sq, 2, (int[]){3, 3}, 0, NULL, (float[]){15}, 1); /* implicit trace */
    einsum1("ji", m, 2, (int[]){2, 3}, 2, (int[]){3, 2}, (float[]){1, 4, 2, 5, 3, 6},
            6); /* sorted */
    einsum1("...ij->...ji", m, 3, (int[]){1, 2, 3}, 3, (int[]){1, 3, 2},
            (float[]){1, 4, 2, 5, 3, 6}, 6);
    einsum1("i...->...", m, 2, (int[]){2, 3}, 1, (int[]){3}, (float[]){5, 7, 9}, 3);

    /* Two inputs: implicit matmul "ij,jk" and broadcasting ellipsis. */
    nn_case c;
    float b[6] = {1, 0, 0, 1, 1, 1}; /* 3x2 */
    case_init(&c, "Einsum", 2, 1);
    set_input(&c, 0, ANVIL_DTYPE_F32, m, 2, 3, -1);
    set_input(&c, 1, ANVIL_DTYPE_F32, b, 3, 2, -1);
    attr_str(&c, "equation", "ij,jk");
    CHECK_OK(run_case(&c));
    check_dims(&c.out[0], 2, 2, 2);
    if (c.out[0].data) check_close(c.out[0].data, (float[]){4, 5, 10, 11}, 4);
    case_free(&c);
    float v[3] = {1, 10, 100};
    case_init(&c, "Einsum", 2, 1);
    set_input(&c, 0, ANVIL_DTYPE_F32, m, 2, 3, -1);
    set_input(&c, 1, ANVIL_DTYPE_F32, v, 1, 3, -1);
    attr_str(&c, "equation", "...j,...j->...");
    CHECK_OK(run_case(&c));
    check_dims(&c.out[0], 1, 2);
    if (c.out[0].data) check_close(c.out[0].data, (float[]){321, 654}, 2);
    case_free(&c);

    /* Errors: wrong term count, rank mismatch, size mismatch, bad character, unknown label. */
    const char *bad[] = {"ij,jk->ik", "ijk->i", "ij->k", "i$->i", "ij->ii"};
    anvil_status want[] = {ANVIL_STATUS_INVALID_GRAPH, ANVIL_STATUS_SHAPE_MISMATCH,
                           ANVIL_STATUS_INVALID_GRAPH, ANVIL_STATUS_INVALID_GRAPH,
                           ANVIL_STATUS_INVALID_GRAPH};
    for (int i = 0; i < 5; i++) {
        case_init(&c, "Einsum", 1, 1);
        set_input(&c, 0, ANVIL_DTYPE_F32, m, 2, 3, -1);
        attr_str(&c, "equation", bad[i]);
        CHECK_STATUS(run_case(&c), want[i]);
        case_free(&c);
    }
    case_init(&c, "Einsum", 2, 1);
    set_input(&c, 0, ANVIL_DTYPE_F32, m, 2, 3, -1);
    set_input(&c, 1, ANVIL_DTYPE_F32, m, 2, 3, -1);
    attr_str(&c, "equation", "ij,jk->ik");
    CHECK_STATUS(run_case(&c), ANVIL_STATUS_SHAPE_MISMATCH);
    CHECK_CONTAINS(anvil_last_error(), "disagrees");
    case_free(&c);
}

int main(void) {
    test_conv_hand();
    test_conv_naive();
    test_conv_errors();
    test_conv_transpose();
    test_pools();
    test_matmul();
    test_gemm();
    test_einsum();
    return check_exit();
}
