/* file_bytes.h — reading a whole file into memory, for tests that feed images to the
 * *_memory readers or damage files on purpose. Header-only. */
#ifndef ANVIL_TEST_FILE_BYTES_H
#define ANVIL_TEST_FILE_BYTES_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* The file's bytes (malloc'd, free() them) and *size; NULL if it cannot be read. */
static inline uint8_t *read_all(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    *size = 0;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    if (p) *size = (size_t)n;
    return p;
}

#endif /* ANVIL_TEST_FILE_BYTES_H */
