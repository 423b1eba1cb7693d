/*
 * cli_runner.h — runs the built `anvil` tool for the CLI tests and keeps what it printed.
 * OMP_WAIT_POLICY=passive keeps multi-threaded runs fast on an oversubscribed test machine.
 */
#ifndef ANVIL_CLI_RUNNER_H
#define ANVIL_CLI_RUNNER_H

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

#endif /* ANVIL_CLI_RUNNER_H */
