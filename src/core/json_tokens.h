/*
 * json_tokens.h — strict JSON as a flat token array, for readers of large untrusted headers
 * (safetensors) where a DOM costs more than the rest of the read: one allocation for all
 * tokens, strings and numbers decoded only when asked. jsmn tokenizes; this layer adds what
 * jsmn leaves out so that only RFC 8259 JSON is accepted (separators, number and literal
 * grammar, control characters, key/value pairing, nesting depth).
 *
 * Tokens are numbered in document order: a container is followed by its children, an object's
 * children alternating key, value. anvil__json_next skips a token with everything inside it.
 */
#ifndef ANVIL_CORE_JSON_TOKENS_H
#define ANVIL_CORE_JSON_TOKENS_H

#include "core/core.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum anvil__json_type {
    ANVIL_JSON_OBJECT,
    ANVIL_JSON_ARRAY,
    ANVIL_JSON_STRING,
    ANVIL_JSON_NUMBER,
    ANVIL_JSON_LITERAL /* true, false, null */
} anvil__json_type;

typedef struct anvil__json anvil__json;

/* Tokenizes and checks text[0, len) (need not be NUL-terminated; a NUL byte is an error): one
 * JSON object, then only whitespace. More than max_tokens tokens is LIMIT_EXCEEDED (at most
 * max_tokens * 20 bytes are allocated); containers nested deeper than 64 are PARSE_ERROR.
 * Errors name the byte offset. The text must outlive *out. */
anvil_status anvil__json_parse(const char *text, size_t len, size_t max_tokens,
                               anvil__json **out);
void anvil__json_free(anvil__json *j);

/* Token 0 is the root object. */
anvil__json_type anvil__json_type_of(const anvil__json *j, int i);
/* Children of a container (an object's key/value pairs count once). */
int anvil__json_size(const anvil__json *j, int i);
/* The token after token i and everything inside it. */
int anvil__json_next(const anvil__json *j, int i);
/* Byte offset of token i in the text (for messages). */
size_t anvil__json_offset(const anvil__json *j, int i);

/* String token i equals `lit` once unescaped. */
bool anvil__json_string_is(const anvil__json *j, int i, const char *lit);
/* String token i unescaped (UTF-8) into a new NUL-terminated string from anvil__malloc.
 * PARSE_ERROR if it holds a NUL character (\u0000) or a lone surrogate. */
anvil_status anvil__json_strdup(const anvil__json *j, int i, char **out);
/* String token i unescaped into buf of cap bytes, NUL-terminated; false if it does not fit or
 * does not decode (as strdup). */
bool anvil__json_string_copy(const anvil__json *j, int i, char *buf, size_t cap);

/* Number token i: *is_uint and *u when it is written as digits only (without sign, fraction or
 * exponent) of value below 1.8e19 (a larger one is left to *d); *d always (its value as a
 * double, read in the C locale). */
void anvil__json_number(const anvil__json *j, int i, double *d, bool *is_uint, uint64_t *u);

#endif /* ANVIL_CORE_JSON_TOKENS_H */
