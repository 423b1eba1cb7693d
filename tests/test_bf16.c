/*
 * test_bf16.c — the CPU backend's opt-in bf16 compute at kernel level: Conv and MatMul/Gemm
 * kernels created with precision BF16 pack their weights as bf16 (half the bytes, replayed
 * bit-exactly), take and give f32 activations, and match the f32 reference op within a bf16
 * tolerance (2e-2 of max|ref|); a kernel re-created from the packed layouts (a reload) gives
 * the same results. Skipped (77) when the CPU has no avx512_bf16.
 */
#include "check.h"
#include "backend/backend.h"

#include <stdarg.h>

#define MAX_IN 4

typedef struct tcase {
    anvil__graph *g;
    int32_t node;
    int n_in;
    anvil__tensor in[MAX_IN];
    bool weight[MAX_IN];
    anvil__tensor out; /* reference result */
} tcase;

static const anvil__backend *be;

static float rnd(unsigned *seed) {
    *seed = *seed * 1103515245u + 12345u;
    return (float)((*seed >> 16) % 2001) / 1000.0f - 1.0f;
}

static anvil__node *node_of(tcase *c) { return &c->g->nodes[c->node]; }

static void tc_init(tcase *c, const char *op, int n_in) {
    memset(c, 0, sizeof *c);
    c->g = anvil__graph_new(NULL);
    c->g->opset = 18;
    c->n_in = n_in;
    int32_t ids[MAX_IN + 1];
    char name[16];
    for (int i = 0; i <= n_in; i++) {
        snprintf(name, sizeof name, "v%d", i);
        CHECK_OK(anvil__graph_add_value(c->g, name, &ids[i]));
    }
    CHECK_OK(anvil__graph_add_node(c->g, "n", op, "", ids, n_in, ids + n_in, 1, &c->node));
    node_of(c)->op = anvil__op_find(op, "");
}

static void attr_ints(tcase *c, const char *name, int n, ...) {
    anvil__attr *a = NULL;
    CHECK_OK(anvil__node_add_attr(c->g, c->node, name, &a));
    a->kind = ANVIL_ATTR_INTS;
    a->n = (size_t)n;
    a->ints = anvil__malloc_array((size_t)n, sizeof *a->ints);
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        a->ints[i] = va_arg(ap, int);
    va_end(ap);
}

static void attr_int(tcase *c, const char *name, int64_t v) {
    anvil__attr *a = NULL;
    CHECK_OK(anvil__node_add_attr(c->g, c->node, name, &a));
    a->kind = ANVIL_ATTR_INT;
    a->i = v;
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

/* The op's reference kernel (f32) gives the expected output. */
static void tc_reference(tcase *c) {
    anvil__node *n = node_of(c);
    anvil__tensor *inp[MAX_IN], *outp[1] = {&c->out};
    for (int i = 0; i < c->n_in; i++)
        inp[i] = &c->in[i];
    CHECK_OK(anvil__op_validate_node(n, c->g->opset));
    anvil__op_ctx ctx = {n, c->g->opset, c->n_in, inp, 1, outp, NULL, NULL};
    const anvil__op_def *def = anvil__op_get(n->op);
    CHECK_OK(def->infer(&ctx));
    CHECK_OK(anvil__tensor_alloc(&c->out));
    CHECK_OK(def->run(&ctx));
}

static void tc_free(tcase *c) {
    for (int i = 0; i < c->n_in; i++)
        anvil__free(c->in[i].data);
    anvil__free(c->out.data);
    anvil__graph_destroy(c->g);
}

static anvil_status make_kernel(tcase *c, int32_t tactic, anvil_precision p,
                                const anvil__layout *fixed, anvil__kernel **k) {
    anvil__tensor shapes[MAX_IN];
    anvil__layout in_layouts[MAX_IN] = {{0}};
    for (int i = 0; i < c->n_in; i++) {
        shapes[i] = c->in[i];
        if (!c->weight[i]) shapes[i].data = NULL;
    }
    anvil__kernel_desc d = {node_of(c), c->g->opset, tactic,     c->n_in, 1, shapes, &c->out,
                            c->weight,  in_layouts,  fixed,      2,       false, p};
    return be->kernel_create(be->ctx, &d, k);
}

static size_t layout_bytes(const anvil__layout *l, const anvil__tensor *t) {
    return l->kind == ANVIL_LAYOUT_PLAIN ? t->bytes : l->bytes;
}

/* Runs k on the case's inputs, reordered (packed) from plain into what k wants; the output
 * comes back plain in `result`. Weight packing is done twice and must give the same bytes. */
static void run_kernel(tcase *c, anvil__kernel *k, float *result) {
    void *ins[MAX_IN] = {0}, *out = NULL, *again = NULL;
    anvil__layout plain = {0}, l;
    for (int i = 0; i < c->n_in; i++) {
        be->kernel_input_layout(be->ctx, k, i, &l);
        size_t bytes = layout_bytes(&l, &c->in[i]);
        ins[i] = be->alloc(be->ctx, bytes);
        CHECK_OK(be->reorder(be->ctx, &c->in[i], &plain, c->in[i].data, &l, ins[i]));
        if (!c->weight[i]) continue;
        again = be->alloc(be->ctx, bytes);
        CHECK_OK(be->reorder(be->ctx, &c->in[i], &plain, c->in[i].data, &l, again));
        CHECK(memcmp(ins[i], again, bytes) == 0);
        be->free(be->ctx, again);
    }
    be->kernel_output_layout(be->ctx, k, 0, &l);
    out = be->alloc(be->ctx, layout_bytes(&l, &c->out));
    void *scratch = be->alloc(be->ctx, be->kernel_scratch_bytes(be->ctx, k));
    anvil__exec_args args = {ins, &out, c->in, &c->out, scratch};
    CHECK_OK(be->kernel_run(be->ctx, k, &args));
    CHECK_OK(be->reorder(be->ctx, &c->out, &l, out, &plain, result));
    for (int i = 0; i < MAX_IN; i++)
        be->free(be->ctx, ins[i]);
    be->free(be->ctx, out);
    be->free(be->ctx, scratch);
}

/* max|got - ref| / max|ref|. */
static double rel_error(const tcase *c, const float *got) {
    const float *want = c->out.data;
    double maxref = 0, maxerr = 0;
    for (int64_t i = 0; i < anvil__tensor_numel(&c->out); i++) {
        maxref = fmax(maxref, fabs(want[i]));
        double e = fabs((double)got[i] - want[i]);
        maxerr = isnan(e) ? INFINITY : fmax(maxerr, e);
    }
    return maxerr / fmax(maxref, 1e-6);
}

/* The bf16 kernel: bf16 weight layout, within 2e-2 of max|ref| (and not bit-equal to the f32
 * kernel, which it would be if bf16 were silently ignored); a reload gives equal results. */
static void check_case(const char *what, tcase *c, int32_t tactic) {
    tc_reference(c);
    size_t bytes = c->out.bytes ? c->out.bytes : 1;
    float *got = anvil__calloc(1, bytes), *f32 = anvil__calloc(1, bytes),
          *reload = anvil__calloc(1, bytes);
    anvil__kernel *k = NULL, *kf = NULL, *k2 = NULL;
    CHECK_OK(make_kernel(c, tactic, ANVIL_PRECISION_BF16, NULL, &k));
    CHECK_OK(make_kernel(c, tactic, ANVIL_PRECISION_F32, NULL, &kf));
    if (!k || !kf || !got || !f32 || !reload) goto done;
    anvil__layout wl, fixed[MAX_IN];
    be->kernel_input_layout(be->ctx, k, 1, &wl);
    CHECK(wl.kind != ANVIL_LAYOUT_PLAIN);
    CHECK(wl.bytes < c->in[1].bytes); /* bf16: 2 bytes an element (these shapes pad little) */
    run_kernel(c, k, got);
    run_kernel(c, kf, f32);
    double err = rel_error(c, got), err32 = rel_error(c, f32);
    printf("%-28s bf16 max error %.3g of max|ref| (f32 kernel %.3g), weights %zu -> %zu bytes\n",
           what, err, err32, c->in[1].bytes, wl.bytes);
    CHECK(err <= 2e-2);
    CHECK(err32 <= 1e-4);
    CHECK(memcmp(got, f32, c->out.bytes) != 0);
    for (int i = 0; i < c->n_in; i++)
        be->kernel_input_layout(be->ctx, k, i, &fixed[i]);
    CHECK_OK(make_kernel(c, tactic, ANVIL_PRECISION_F32, fixed, &k2)); /* layouts decide */
    if (k2) {
        anvil__layout l;
        be->kernel_input_layout(be->ctx, k2, 1, &l);
        CHECK(l.size == wl.size && memcmp(l.blob, wl.blob, l.size) == 0);
        run_kernel(c, k2, reload);
        CHECK(memcmp(got, reload, c->out.bytes) == 0);
    }
done:
    be->kernel_destroy(be->ctx, k);
    be->kernel_destroy(be->ctx, kf);
    be->kernel_destroy(be->ctx, k2);
    anvil__free(got);
    anvil__free(f32);
    anvil__free(reload);
}

static void test_conv(void) {
    tcase c;
    tc_init(&c, "Conv", 3); /* 3x3 pad 1 + bias */
    tc_input(&c, 0, false, 1, 1, 32, 14, 14, -1);
    tc_input(&c, 1, true, 2, 64, 32, 3, 3, -1);
    tc_input(&c, 2, true, 3, 64, -1);
    attr_ints(&c, "pads", 4, 1, 1, 1, 1);
    check_case("conv3x3 bf16", &c, 1);
    tc_free(&c);

    tc_init(&c, "Conv", 2); /* grouped 1x1 stride 2 (depthwise convs stay f32) */
    tc_input(&c, 0, false, 4, 1, 64, 15, 15, -1);
    tc_input(&c, 1, true, 5, 64, 32, 1, 1, -1);
    attr_ints(&c, "strides", 2, 2, 2);
    attr_int(&c, "group", 2);
    check_case("conv grouped 1x1 bf16", &c, 1);
    tc_free(&c);
}

static void test_matmul(void) {
    tcase c;
    tc_init(&c, "MatMul", 2); /* batched A, weight B */
    tc_input(&c, 0, false, 30, 2, 16, 64, -1);
    tc_input(&c, 1, true, 31, 64, 96, -1);
    check_case("matmul bf16", &c, 3);
    tc_free(&c);

    tc_init(&c, "Gemm", 3); /* transA and transB, bias C */
    tc_input(&c, 0, false, 40, 48, 8, -1);
    tc_input(&c, 1, true, 41, 64, 48, -1);
    tc_input(&c, 2, true, 42, 64, -1);
    attr_int(&c, "transA", 1);
    attr_int(&c, "transB", 1);
    check_case("gemm transA transB bf16", &c, 4);
    tc_free(&c);
}

int main(void) {
    CHECK_OK(anvil__backend_get(ANVIL_BACKEND_CPU, &be));
    if (!be) return check_exit();
    CHECK(be->supports_precision && be->supports_precision(be->ctx, ANVIL_PRECISION_F32));
    if (!be->supports_precision || !be->supports_precision(be->ctx, ANVIL_PRECISION_BF16)) {
        printf("skipped: this CPU has no avx512_bf16\n");
        return 77;
    }
    test_conv();
    test_matmul();
    return check_exit();
}
