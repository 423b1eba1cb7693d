/*
 * npy_compare.c — compares two f32 .npy files for `make demo`: same shape, and
 * max |a-b| <= tol * max|b|. Prints the max error; exit 0 when within tolerance, 1 otherwise.
 * Usage: npy_compare A.npy B.npy TOL
 */
#include "anvil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: npy_compare A.npy B.npy TOL\n");
        return 2;
    }
    anvil_tensor_list *a = NULL, *b = NULL;
    if (anvil_npy_read(argv[1], &a) != ANVIL_OK || anvil_npy_read(argv[2], &b) != ANVIL_OK) {
        fprintf(stderr, "npy_compare: %s\n", anvil_last_error());
        return 1;
    }
    const anvil_tensor *x = anvil_tensor_list_get(a, 0), *y = anvil_tensor_list_get(b, 0);
    if (x->dtype != ANVIL_DTYPE_F32 || y->dtype != ANVIL_DTYPE_F32 || x->bytes != y->bytes) {
        fprintf(stderr, "npy_compare: need two f32 arrays of one shape\n");
        return 1;
    }
    double err = 0, scale = 0;
    for (size_t i = 0; i < x->bytes / 4; i++) {
        err = fmax(err, fabs((double)((float *)x->data)[i] - ((float *)y->data)[i]));
        scale = fmax(scale, fabs(((float *)y->data)[i]));
    }
    double tol = atof(argv[3]) * scale;
    printf("   max |a-b| = %.3g (tolerance %.3g): %s\n", err, tol, err <= tol ? "match" : "MISMATCH");
    anvil_tensor_list_destroy(a);
    anvil_tensor_list_destroy(b);
    return err <= tol ? 0 : 1;
}
