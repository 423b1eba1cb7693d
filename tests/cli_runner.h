/*
 * cli_runner.h — runs the built `anvil` tool for the CLI tests and keeps what it printed.
 * OMP_WAIT_POLICY=passive keeps multi-threaded runs fast on an oversubscribed test machine.
 */
#ifndef ANVIL_CLI_RUNNER_H
#define ANVIL_CLI_RUNNER_H

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/wait.h>

#ifndef ANVIL_CLI_PATH
#define ANVIL_CLI_PATH "build/anvil"
#endif

static char out_buf[1 << 17];

/* Runs `anvil <args>` through the shell; keeps stdout (or stderr when want_stderr) in out_buf
 * and returns the exit code (-1 when it did not exit normally). */
static int run_cli(const char *args, bool want_stderr) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "OMP_WAIT_POLICY=passive '%s' %s %s", ANVIL_CLI_PATH, args,
             want_stderr ? "2>&1 >/dev/null" : "2>/dev/null");
    out_buf[0] = '\0';
    FILE *p = popen(cmd, "r");
    if (!p) {
        fprintf(stderr, "popen(%s) failed\n", cmd);
        return -1;
    }
    size_t len = 0, n;
    while ((n = fread(out_buf + len, 1, sizeof out_buf - 1 - len, p)) > 0) len += n;
    out_buf[len] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Output 0 of the .npy at `path` (an output the tool wrote) against output 0 of the reference
 * .npy: f32, same rank and size, max |a-b| <= 1e-4 * max |ref|. The caller includes check.h
 * and anvil.h first. */
static inline void check_npy_near(const char *path, const char *reference) {
    anvil_tensor_list *got = NULL, *ref = NULL;
    CHECK_OK(anvil_npy_read(path, &got));
    CHECK_OK(anvil_npy_read(reference, &ref));
    const anvil_tensor *a = got ? anvil_tensor_list_get(got, 0) : NULL;
    const anvil_tensor *b = ref ? anvil_tensor_list_get(ref, 0) : NULL;
    CHECK(a && b && a->dtype == ANVIL_DTYPE_F32 && a->bytes == b->bytes && a->bytes > 0);
    CHECK(a && b && a->rank == b->rank);
    if (a && b && a->dtype == ANVIL_DTYPE_F32 && a->bytes == b->bytes) {
        const float *x = a->data, *y = b->data;
        double max_err = 0, max_ref = 0;
        for (size_t i = 0; i < a->bytes / 4; i++) {
            double e = fabs((double)x[i] - (double)y[i]);
            if (!(e <= max_err)) max_err = e;
            if (fabs((double)y[i]) > max_ref) max_ref = fabs((double)y[i]);
        }
        CHECK(max_ref > 0);
        if (!(max_err <= 1e-4 * max_ref))
            fprintf(stderr, "%s vs %s: max error %g, max |ref| %g\n", path, reference, max_err,
                    max_ref);
        CHECK(max_err <= 1e-4 * max_ref);
    }
    anvil_tensor_list_destroy(got);
    anvil_tensor_list_destroy(ref);
}

#endif /* ANVIL_CLI_RUNNER_H */
