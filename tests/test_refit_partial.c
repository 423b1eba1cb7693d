/* Tests the refit features around the core: partial refit (only slots whose sources changed
 * are rebuilt, the rest shared; the result equals a full rebuild), save after refit then load
 * (same slots, source hashes kept so the loaded engine refits partially), verify (passes within
 * tolerance; beyond it rolls back naming the output, or recompiles with fallback_compile), the
 * query of the names a source lacks, and missing-weight errors that list the source's unused
 * tensors. */
#include "check.h"
#include "refit_helpers.h"

#include <unistd.h>

static const char *k_model = "mobilenet_v2";

static anvil_refit_report refit_tensors(anvil_engine *e, const anvil_tensor *t, size_t n) {
    anvil_refit_source src = {ANVIL_REFIT_FROM_TENSORS, NULL, NULL, t, n};
    return refit_in_place(e, &src);
}

static size_t slot_bytes_of(const anvil_engine *e) {
    anvil_engine_info info;
    CHECK_OK(anvil_engine_get_info(e, &info));
    return info.weight_bytes;
}

static void test_partial(const anvil_model *m1, const anvil_model *m2) {
    anvil_engine *e = compile(m1);
    size_t n = 0, n2 = 0;
    anvil_tensor *t1 = sources_of(e, m1, &n), *t2 = sources_of(e, m2, &n2);
    if (!e || !t1 || !t2) goto done;
    size_t total = slot_bytes_of(e);

    /* The same weights again: nothing changes, every slot is shared. */
    anvil__weight_set *before = anvil__weights_acquire(e);
    anvil_refit_report r = refit_tensors(e, t1, n);
    CHECK_EQ(r.sources_changed, 0);
    CHECK_EQ(r.slots_rebuilt, 0);
    CHECK_EQ(r.bytes_packed, 0);
    CHECK_EQ(r.bytes_total, total);
    anvil__weight_set *after = anvil__weights_acquire(e);
    for (int32_t i = 0; before && after && i < after->n_slots; i++)
        CHECK(before->slots[i] == after->slots[i]);
    anvil__weights_release(e, before);
    anvil__weights_release(e, after);

    /* One conv weight from v2: one source changed, a small part of the bytes rebuilt. */
    size_t k = n;
    for (size_t i = 0; i < n; i++)
        if (t1[i].rank == 4 && t1[i].bytes >= 65536 && (k == n || t1[i].bytes < t1[k].bytes))
            k = i;
    CHECK(k < n);
    if (k == n) goto done;
    anvil_tensor saved = t1[k];
    t1[k] = t2[k];
    r = refit_tensors(e, t1, n);
    CHECK_EQ(r.sources_changed, 1);
    CHECK(r.slots_rebuilt >= 1 && r.slots_rebuilt <= 2);
    CHECK(r.bytes_packed >= t1[k].bytes && r.bytes_packed < total / 4);
    printf("partial: 1 of %zu sources changed, %zu slot(s), %zu of %zu bytes rebuilt\n", n,
           r.slots_rebuilt, r.bytes_packed, total);

    /* The partially refitted engine equals a full rebuild from the same sources: a stripped
     * copy loaded from a file knows no hashes, so its refit rebuilds every slot. */
    anvil_engine *full = stripped_copy(e);
    if (full) {
        r = refit_tensors(full, t1, n);
        CHECK_EQ(r.sources_changed, n);
        CHECK_EQ(r.bytes_packed, total);
        check_same_slots(e, full);
    }
    anvil_engine_destroy(full);

    /* Everything from v1: the other sources kept their content. */
    t1[k] = saved;
    r = refit_tensors(e, t1, n);
    CHECK_EQ(r.sources_changed, 1);
    /* Everything from v2: every source changed, all bytes rebuilt. */
    r = refit_tensors(e, t2, n);
    CHECK_EQ(r.sources_changed, n);
    CHECK_EQ(r.bytes_packed, total);
    /* Double buffering: the replaced weights' memory is kept for the next refit, which
     * writes into it (the spare shrinks), until anvil_engine_trim frees it. */
    anvil_engine_info info;
    CHECK_OK(anvil_engine_get_info(e, &info));
    CHECK(info.spare_bytes >= total);
    size_t spare = info.spare_bytes;
    r = refit_tensors(e, t1, n);
    CHECK_EQ(r.bytes_packed, total);
    CHECK_OK(anvil_engine_get_info(e, &info));
    CHECK_EQ(info.spare_bytes, spare); /* took one set's worth, gave one back */
    anvil_engine *fresh1 = compile(m1); /* reused memory holds v2's bytes: all overwritten */
    if (fresh1) check_same_slots(e, fresh1);
    anvil_engine_destroy(fresh1);
    anvil_engine_trim(e);
    CHECK_OK(anvil_engine_get_info(e, &info));
    CHECK_EQ(info.spare_bytes, 0);
    /* A partial refit takes memory for what changed only: the spare is the replaced slot. */
    t1[k] = t2[k];
    r = refit_tensors(e, t1, n);
    CHECK_EQ(r.sources_changed, 1);
    CHECK_OK(anvil_engine_get_info(e, &info));
    CHECK(info.spare_bytes > 0 && info.spare_bytes <= r.bytes_packed);
    t1[k] = saved;
    refit_tensors(e, t1, n);
    r = refit_tensors(e, t2, n); /* and refits still work from fresh memory */
    CHECK_EQ(r.bytes_packed, total);
    anvil_engine *fresh2 = compile(m2);
    if (fresh2) check_same_slots(e, fresh2);
    anvil_engine_destroy(fresh2);
done:
    free(t1);
    free(t2);
    anvil_engine_destroy(e);
}

/* A full rebuild of e's weights from t: a stripped copy (no hashes), refitted. */
static anvil_engine *rebuilt_from(const anvil_engine *e, const anvil_tensor *t, size_t n) {
    anvil_engine *full = stripped_copy(e);
    if (full) refit_tensors(full, t, n);
    return full;
}

/* Refits e to t1 with source k taken from t2, checks one source changed and the slots equal a
 * full rebuild, then refits back; returns the bytes the first refit packed. */
static size_t refit_one_changed(anvil_engine *e, anvil_tensor *t1, const anvil_tensor *t2,
                                size_t n, size_t k) {
    anvil_tensor saved = t1[k];
    t1[k] = t2[k];
    anvil_refit_report r = refit_tensors(e, t1, n);
    CHECK_EQ(r.sources_changed, 1);
    anvil_engine *full = rebuilt_from(e, t1, n);
    if (full) check_same_slots(e, full);
    anvil_engine_destroy(full);
    t1[k] = saved;
    anvil_refit_report back = refit_tensors(e, t1, n);
    CHECK_EQ(back.sources_changed, 1);
    return r.bytes_packed;
}

/* Folded BatchNorms (the conv weight packed with the BatchNorm's scales, and hashed by its
 * pack job): for the largest convs, a new weight or a new gamma repacks the weight, a new
 * running mean (which only shifts the bias) does not; each refit equals a full rebuild. The
 * model lists each conv weight followed by its BatchNorm's weight, bias, mean and variance. */
static void test_partial_folded(const anvil_model *m1, const anvil_model *m2) {
    anvil_engine *e = compile(m1);
    size_t n = 0, n2 = 0;
    anvil_tensor *t1 = sources_of(e, m1, &n), *t2 = sources_of(e, m2, &n2);
    if (!e || !t1 || !t2 || n != n2) goto done;
    for (int round = 0; round < 2; round++) {
        size_t k = n; /* the largest conv weight, then the second largest */
        for (size_t i = 0; i + 4 < n; i++)
            if (t1[i].rank == 4 && (k == n || t1[i].bytes > t1[k].bytes) &&
                (round == 0 || t1[i].bytes < t1[n].bytes))
                k = i;
        CHECK(k < n);
        if (k == n) break;
        for (size_t j = k + 1; j <= k + 4; j++)
            CHECK(t1[j].rank == 1 && t1[j].dims[0] == t1[k].dims[0]);
        CHECK(refit_one_changed(e, t1, t2, n, k) >= t1[k].bytes);     /* weight */
        CHECK(refit_one_changed(e, t1, t2, n, k + 1) >= t1[k].bytes); /* gamma */
        CHECK(refit_one_changed(e, t1, t2, n, k + 3) < t1[k].bytes);  /* running mean */
        t1[n] = t1[k]; /* the bound for the next round (t1 has a spare entry) */
    }
    anvil_refit_report r = refit_tensors(e, t1, n);
    CHECK_EQ(r.sources_changed, 0);
    CHECK_EQ(r.bytes_packed, 0);
done:
    free(t1);
    free(t2);
    anvil_engine_destroy(e);
}

/* Save after refit, load: the same slots and outputs; the hashes travel with the file, so
 * refitting the loaded engine with what it already holds rebuilds nothing. */
static void test_save_after_refit(const anvil_model *m1, const anvil_model *m2,
                                  const anvil_tensor_list *in) {
    anvil_engine *e = compile(m1), *loaded = NULL;
    size_t n = 0;
    anvil_tensor *t2 = sources_of(e, m2, &n);
    if (!e || !t2) goto done;
    refit_tensors(e, t2, n);
    loaded = saved_and_loaded(e, false);
    if (!loaded) goto done;
    check_same_slots(e, loaded);
    anvil_tensor_list *a = run(e, in), *b = run(loaded, in);
    CHECK(same_outputs(a, b));
    anvil_tensor_list_destroy(a);
    anvil_tensor_list_destroy(b);
    anvil_refit_report r = refit_tensors(loaded, t2, n);
    CHECK_EQ(r.sources_changed, 0);
    CHECK_EQ(r.bytes_packed, 0);
    /* and a second refit after load, to v1, really changes it */
    size_t n1 = 0;
    anvil_tensor *t1 = sources_of(e, m1, &n1);
    if (t1) r = refit_tensors(loaded, t1, n1);
    CHECK_EQ(r.sources_changed, n);
    anvil_engine *fresh = compile(m1);
    if (fresh) check_same_slots(fresh, loaded);
    anvil_engine_destroy(fresh);
    free(t1);
done:
    free(t2);
    anvil_engine_destroy(loaded);
    anvil_engine_destroy(e);
}

static void test_verify(const anvil_model *m1, const anvil_model *m2,
                        const anvil_tensor_list *in, const anvil_tensor_list *want2) {
    anvil_engine *e = compile(m1);
    if (!e) return;
    anvil_tensor_list *o1 = run(e, in);
    anvil_refit_source src = {ANVIL_REFIT_FROM_MODEL, m2, NULL, NULL, 0};
    anvil_refit_options o = anvil_refit_options_default();
    o.verify_inputs = anvil_tensor_list_get(in, 0);
    o.n_verify_inputs = 1;
    anvil_refit_report r;
    anvil_engine *out = NULL;

    /* Beyond a tolerance no float kernel meets: rolled back, the output named. */
    o.verify_tolerance = 1e-12;
    for (int in_place = 0; in_place < 2; in_place++) {
        o.in_place = in_place;
        CHECK_STATUS(anvil_engine_refit(e, &src, &o, &out, &r), ANVIL_STATUS_OUT_OF_RANGE);
        CHECK_CONTAINS(anvil_last_error(), "'output'");
        CHECK_CONTAINS(anvil_last_error(), "rolled back");
        CHECK(out == NULL);
        anvil_tensor_list *o_now = run(e, in);
        CHECK(same_outputs(o_now, o1));
        anvil_tensor_list_destroy(o_now);
    }
    /* The same with fallback_compile: a fresh engine compiled from the source model. */
    o.fallback_compile = 1;
    o.in_place = 1;
    CHECK_OK(anvil_engine_refit(e, &src, &o, &out, &r));
    CHECK(out != NULL && out != e);
    CHECK_EQ(r.recompiled, 1);
    if (out) {
        anvil_tensor_list *got = run(out, in);
        check_near_ref(got, want2);
        anvil_tensor_list_destroy(got);
        anvil_engine_destroy(out);
    }
    anvil_tensor_list *o_now = run(e, in);
    CHECK(same_outputs(o_now, o1));
    anvil_tensor_list_destroy(o_now);

    /* Within the default tolerance: refitted, the error reported. */
    o = anvil_refit_options_default();
    o.verify_inputs = anvil_tensor_list_get(in, 0);
    o.n_verify_inputs = 1;
    o.in_place = 1;
    CHECK_OK(anvil_engine_refit(e, &src, &o, &out, &r));
    CHECK(out == e);
    CHECK_EQ(r.recompiled, 0);
    CHECK(r.verify_error <= 1e-4);
    printf("verify: worst relative error %.3g\n", r.verify_error);
    anvil_tensor_list *got = run(e, in);
    check_near_ref(got, want2);
    anvil_tensor_list_destroy(got);
    /* A verify input that does not fit the engine fails cleanly, nothing changed. */
    anvil_tensor bad = *anvil_tensor_list_get(in, 0);
    bad.dims[1] = 4;
    o.verify_inputs = &bad;
    CHECK_STATUS(anvil_engine_refit(e, &src, &o, &out, &r), ANVIL_STATUS_SHAPE_MISMATCH);
    anvil_tensor_list_destroy(o1);
    anvil_engine_destroy(e);
}

static void test_missing_query(const anvil_model *m1) {
    anvil_engine *e = compile(m1);
    size_t n = 0;
    anvil_tensor *t = sources_of(e, m1, &n);
    if (!e || !t || n < 4) goto done;
    anvil_refit_source src = {ANVIL_REFIT_FROM_TENSORS, NULL, NULL, t, n};
    anvil_string_list *missing = NULL;
    CHECK_OK(anvil_engine_refit_missing(e, &src, NULL, &missing));
    CHECK_EQ(anvil_string_list_count(missing), 0);
    anvil_string_list_destroy(missing);

    /* Drop two, rename a third: three missing, the renamed one listed as unused. */
    const char *gone1 = t[0].name, *gone2 = t[n - 1].name, *renamed = t[1].name;
    t[0] = t[n - 2];
    t[1].name = "model.renamed.weight";
    src.n_tensors = n - 2;
    CHECK_OK(anvil_engine_refit_missing(e, &src, NULL, &missing));
    CHECK_EQ(anvil_string_list_count(missing), 3);
    int seen = 0;
    for (size_t i = 0; i < anvil_string_list_count(missing); i++) {
        const char *s = anvil_string_list_get(missing, i);
        seen += strcmp(s, gone1) == 0 || strcmp(s, gone2) == 0 || strcmp(s, renamed) == 0;
    }
    CHECK_EQ(seen, 3);
    CHECK(anvil_string_list_get(missing, 3) == NULL);
    anvil_string_list_destroy(missing);
    anvil_engine *out = NULL;
    CHECK_STATUS(anvil_engine_refit(e, &src, NULL, &out, NULL), ANVIL_STATUS_NOT_FOUND);
    CHECK_CONTAINS(anvil_last_error(), "3 source weight(s) missing");
    CHECK_CONTAINS(anvil_last_error(), gone1);
    CHECK_CONTAINS(anvil_last_error(), "does not use: 'model.renamed.weight'");
    CHECK_STATUS(anvil_engine_refit_missing(e, NULL, NULL, &missing),
                 ANVIL_STATUS_INVALID_ARGUMENT);
done:
    free(t);
    anvil_engine_destroy(e);
}

int main(void) {
    char probe[1024];
    snprintf(probe, sizeof probe, "%s/models/%s/v2.onnx", ANVIL_SHARED_DIR, k_model);
    if (access(probe, R_OK) != 0) {
        printf("skipping: %s not found\n", probe);
        return 77;
    }
    anvil_model *m1 = load(k_model, "v1.onnx"), *m2 = load(k_model, "v2.onnx");
    anvil_tensor_list *in = read_npy(k_model, "input_0.npy");
    anvil_tensor_list *want2 = read_npy(k_model, "v2.output_0.npy");
    if (m1 && m2 && in && want2) {
        test_partial(m1, m2);
        test_save_after_refit(m1, m2, in);
        test_verify(m1, m2, in, want2);
        test_missing_query(m1);
    }
    anvil_model *b1 = load("mobilenet_v2_bn", "v1.onnx"), *b2 = load("mobilenet_v2_bn", "v2.onnx");
    if (b1 && b2) test_partial_folded(b1, b2);
    anvil_model_destroy(b1);
    anvil_model_destroy(b2);
    anvil_tensor_list_destroy(in);
    anvil_tensor_list_destroy(want2);
    anvil_model_destroy(m1);
    anvil_model_destroy(m2);
    return check_exit();
}
