/*
 * cli.h — shared declarations of the `anvil` command-line tool: the command table entry, exit
 * codes, and small helpers (error printing, name sanitizing, formatting). The tool uses only the
 * public anvil.h; nothing here is part of the library.
 */
#ifndef ANVIL_CLI_H
#define ANVIL_CLI_H

#include "anvil.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#if defined(__GNUC__)
#define CLI_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CLI_PRINTF(f, a)
#endif

/* Exit codes, documented in every --help. */
enum {
    CLI_EXIT_OK = 0,    /* success */
    CLI_EXIT_ERROR = 1, /* runtime or library error */
    CLI_EXIT_USAGE = 2, /* bad or missing arguments */
};

/* One command. main.c holds the table; a new command (compile, bench, refit, map) is one more
 * entry plus its cmd_<name>.c. */
typedef struct cli_command {
    const char *name;
    const char *summary; /* one line for the command list */
    const char *help;    /* usage, description, options and examples (EXIT CODES are added) */
    /* argv[0] is the command name; --help is handled before this is called. */
    int (*main)(int argc, char **argv);
} cli_command;

/* Commands (cmd_<name>.c). */
extern const char cli_inspect_help[];
int cli_inspect_main(int argc, char **argv);
extern const char cli_run_help[];
int cli_run_main(int argc, char **argv);

/* The EXIT CODES section appended to every help text. */
extern const char cli_exit_codes_help[];

/* Prints "anvil: <status text>: <anvil_last_error()>" to stderr; returns CLI_EXIT_ERROR. */
int cli_library_error(anvil_status status);
/* Prints "anvil: <message>" to stderr; returns CLI_EXIT_ERROR (a failure that is not the
 * library's, e.g. creating a folder). */
int cli_error(const char *fmt, ...) CLI_PRINTF(1, 2);
/* Prints "anvil <command>: <message>" and a hint to run `anvil help <command>` to stderr;
 * returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *command, const char *fmt, ...) CLI_PRINTF(2, 3);
/* Usage error for getopt_long's answer c ('?' unknown option, ':' missing argument). */
int cli_bad_option(const char *command, int c, char **argv);

/* Writes `name` as a file name stem into out (size > 1): every byte outside [A-Za-z0-9._-]
 * becomes '_', "" becomes "_", and it is cut to size - 1 bytes. Returns out. */
char *cli_sanitize_name(const char *name, char *out, size_t size);
/* "[1, 3, 224, 224]"; symbolic dims by name ("batch"), unknown ones as "?", unknown rank as
 * "[...]", rank 0 as "[]". Returns out. */
char *cli_format_shape(int32_t rank, const int64_t *dims, const char *const *dim_names,
                       char *out, size_t size);
/* "14,019,488". Returns out. */
char *cli_format_count(uint64_t value, char *out, size_t size);
/* "13.4 MiB" (B, KiB, MiB, GiB, TiB). Returns out. */
char *cli_format_bytes(uint64_t bytes, char *out, size_t size);
/* mkdir -p: creates the folder and its missing parents. Returns 0, or -1 with errno set. */
int cli_make_dirs(const char *path);

#endif /* ANVIL_CLI_H */
