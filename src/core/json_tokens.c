/*
 * json_tokens.c — strict JSON over jsmn's tokens (see json_tokens.h). jsmn, even in strict
 * mode, accepts some text that is not JSON ("[1 2]", "[,1]", "tru", control characters in
 * strings), so every token and every gap between tokens is checked here once, after which the
 * readers can trust the token tree.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strtod_l */
#endif
#include "core/json_tokens.h"

#define JSMN_STATIC
#define JSMN_STRICT
/* Without parent links jsmn finds a ',' or '}''s container by scanning back over every token:
 * quadratic in the entries of a header. */
#define JSMN_PARENT_LINKS
#include <jsmn.h>

#include <limits.h>
#include <locale.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_DEPTH = 64 };

struct anvil__json {
    const char *text;
    size_t len;
    const char *what; /* "header": the subject of messages */
    jsmntok_t *tok;
    int n;
};

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Where a token's text begins and ends (jsmn leaves a string's quotes out). */
static size_t tok_begin(const jsmntok_t *t) {
    return (size_t)(t->type == JSMN_STRING ? t->start - 1 : t->start);
}
static size_t tok_end(const jsmntok_t *t) {
    return (size_t)(t->type == JSMN_STRING ? t->end + 1 : t->end);
}

static anvil_status invalid(const anvil__json *j, const char *why, size_t at) {
    return anvil__error(ANVIL_STATUS_PARSE_ERROR, "%s is not valid JSON (%s near byte %zu)",
                        j->what, why, at);
}

/* text[from, to) is whitespace around exactly one `sep`, or whitespace only when sep is 0. */
static bool gap(const char *s, size_t from, size_t to, char sep) {
    while (from < to && is_ws(s[from])) from++;
    if (sep) {
        if (from >= to || s[from] != sep) return false;
        from++;
        while (from < to && is_ws(s[from])) from++;
    }
    return from == to;
}

/* RFC 8259 number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool is_number(const char *s, size_t n) {
    size_t i = 0;
    if (i < n && s[i] == '-') i++;
    if (i < n && s[i] == '0') {
        i++;
    } else {
        if (!(i < n && is_digit(s[i]))) return false;
        while (i < n && is_digit(s[i])) i++;
    }
    if (i < n && s[i] == '.') {
        if (!(++i < n && is_digit(s[i]))) return false;
        while (i < n && is_digit(s[i])) i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        if (++i < n && (s[i] == '+' || s[i] == '-')) i++;
        if (!(i < n && is_digit(s[i]))) return false;
        while (i < n && is_digit(s[i])) i++;
    }
    return i == n;
}

static bool is_literal(const char *s, size_t n) {
    return (n == 4 && (memcmp(s, "true", 4) == 0 || memcmp(s, "null", 4) == 0)) ||
           (n == 5 && memcmp(s, "false", 5) == 0);
}

/* Raw control characters are not allowed in JSON strings (escapes jsmn has checked). Eight
 * bytes at a time: a byte below 0x20 sets its high bit in (x - 0x20..) & ~x. */
static bool clean_string(const char *s, size_t n) {
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x;
        memcpy(&x, s + i, 8);
        if ((x - 0x20 * ones) & ~x & highs) return false;
    }
    for (; i < n; i++)
        if ((unsigned char)s[i] < 0x20) return false;
    return true;
}

static anvil_status check_value(const anvil__json *j, int i, int depth, int *next);

/* Children of container i, each preceded by the right separator; *next after the last. */
static anvil_status check_children(const anvil__json *j, int i, int depth, int *next) {
    const jsmntok_t *t = &j->tok[i];
    bool object = t->type == JSMN_OBJECT;
    size_t pos = (size_t)t->start + 1;
    int k = i + 1;
    for (int c = 0; c < t->size; c++) {
        if (k >= j->n) return invalid(j, "unexpected end", j->len);
        if (!gap(j->text, pos, tok_begin(&j->tok[k]), c ? ',' : 0))
            return invalid(j, c ? "',' expected" : "unexpected text", pos);
        if (object) {
            const jsmntok_t *key = &j->tok[k];
            if (key->type != JSMN_STRING || key->size != 1 || k + 1 >= j->n)
                return invalid(j, "a key and its value expected", tok_begin(key));
            if (!clean_string(j->text + key->start, (size_t)(key->end - key->start)))
                return invalid(j, "control character in a string", tok_begin(key));
            pos = tok_end(key);
            if (!gap(j->text, pos, tok_begin(&j->tok[++k]), ':'))
                return invalid(j, "':' expected", pos);
        }
        int value = k;
        anvil_status s = check_value(j, value, depth + 1, &k);
        if (s != ANVIL_OK) return s;
        pos = tok_end(&j->tok[value]);
    }
    size_t close = (size_t)t->end - 1;
    if (!gap(j->text, pos, close, 0) || j->text[close] != (object ? '}' : ']'))
        return invalid(j, object ? "',' or '}' expected" : "',' or ']' expected", pos);
    *next = k;
    return ANVIL_OK;
}

static anvil_status check_value(const anvil__json *j, int i, int depth, int *next) {
    if (i >= j->n) return invalid(j, "unexpected end", j->len);
    const jsmntok_t *t = &j->tok[i];
    const char *s = j->text + t->start;
    size_t n = (size_t)(t->end - t->start);
    switch (t->type) {
    case JSMN_OBJECT:
    case JSMN_ARRAY:
        if (depth >= MAX_DEPTH)
            return anvil__error(ANVIL_STATUS_PARSE_ERROR, "%s nests deeper than %d levels",
                                j->what, MAX_DEPTH);
        return check_children(j, i, depth, next);
    case JSMN_STRING:
        if (t->size != 0) return invalid(j, "',' expected", tok_end(t));
        if (!clean_string(s, n)) return invalid(j, "control character in a string", t->start);
        break;
    case JSMN_PRIMITIVE:
        if (t->size != 0 || !(is_number(s, n) || is_literal(s, n)))
            return invalid(j, "not a number, true, false or null", (size_t)t->start);
        break;
    default:
        return invalid(j, "unexpected text", (size_t)t->start);
    }
    *next = i + 1;
    return ANVIL_OK;
}

/* Bytes after the root value: writers pad with spaces; anything else is corruption. */
static anvil_status check_trailing(const anvil__json *j, size_t at) {
    while (at < j->len && is_ws(j->text[at])) at++;
    if (at == j->len) return ANVIL_OK;
    return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                        "%s has unexpected byte 0x%02x at offset %zu after the JSON", j->what,
                        (unsigned)(unsigned char)j->text[at], at);
}

/* jsmn takes a token array and, when it runs out, can go on with a larger one: start from a
 * guess (real JSON has several bytes per token) and double up to max_tokens. */
static anvil_status tokenize(anvil__json *j, size_t max_tokens) {
    size_t cap = j->len / 8 + 64;
    if (cap > max_tokens) cap = max_tokens;
    jsmn_parser p;
    jsmn_init(&p);
    int r;
    for (;;) {
        jsmntok_t *grown = anvil__realloc(j->tok, cap * sizeof *j->tok);
        if (!grown) return ANVIL_STATUS_OUT_OF_MEMORY;
        j->tok = grown;
        r = jsmn_parse(&p, j->text, j->len, j->tok, (unsigned)cap);
        if (r != JSMN_ERROR_NOMEM) break;
        if (cap == max_tokens)
            return anvil__error(ANVIL_STATUS_LIMIT_EXCEEDED,
                                "%s holds more JSON values than the limit of %zu", j->what,
                                max_tokens);
        cap = cap > max_tokens / 2 ? max_tokens : 2 * cap;
    }
    if (r >= 0) {
        j->n = r;
        return r ? ANVIL_OK : invalid(j, "no value", 0);
    }
    /* a closed root followed by text jsmn could not take: corruption after the JSON */
    if (p.toknext > 0 && j->tok[0].end >= 0 && j->tok[0].type != JSMN_PRIMITIVE)
        return check_trailing(j, tok_end(&j->tok[0]));
    return invalid(j, r == JSMN_ERROR_PART ? "unexpected end" : "unexpected text", p.pos);
}

anvil_status anvil__json_parse(const char *text, size_t len, size_t max_tokens,
                               anvil__json **out) {
    *out = NULL;
    if (len > INT_MAX / 2)
        return anvil__error(ANVIL_STATUS_LIMIT_EXCEEDED, "JSON text of %zu bytes is too long", len);
    anvil__json *j = anvil__calloc(1, sizeof *j);
    if (!j) return ANVIL_STATUS_OUT_OF_MEMORY;
    j->text = text;
    j->len = len;
    j->what = "header";
    int next = 0;
    anvil_status s = tokenize(j, max_tokens);
    if (s == ANVIL_OK && !gap(text, 0, tok_begin(&j->tok[0]), 0))
        s = invalid(j, "unexpected text", 0);
    if (s == ANVIL_OK) s = check_value(j, 0, 0, &next);
    if (s == ANVIL_OK) s = check_trailing(j, tok_end(&j->tok[0]));
    if (s == ANVIL_OK && next != j->n) s = invalid(j, "unexpected text", tok_end(&j->tok[0]));
    if (s == ANVIL_OK && j->tok[0].type != JSMN_OBJECT)
        s = anvil__error(ANVIL_STATUS_PARSE_ERROR, "%s is not a JSON object", j->what);
    if (s != ANVIL_OK) {
        anvil__json_free(j);
        return s;
    }
    *out = j;
    return ANVIL_OK;
}

void anvil__json_free(anvil__json *j) {
    if (!j) return;
    anvil__free(j->tok);
    anvil__free(j);
}

anvil__json_type anvil__json_type_of(const anvil__json *j, int i) {
    switch (j->tok[i].type) {
    case JSMN_OBJECT: return ANVIL_JSON_OBJECT;
    case JSMN_ARRAY: return ANVIL_JSON_ARRAY;
    case JSMN_STRING: return ANVIL_JSON_STRING;
    default: return is_literal(j->text + j->tok[i].start, (size_t)(j->tok[i].end - j->tok[i].start))
                        ? ANVIL_JSON_LITERAL
                        : ANVIL_JSON_NUMBER;
    }
}

int anvil__json_size(const anvil__json *j, int i) {
    return j->tok[i].type == JSMN_STRING ? 0 : j->tok[i].size;
}

/* Every token counts its direct children (a key counts its value), so a subtree ends when the
 * children still owed reach zero. */
int anvil__json_next(const anvil__json *j, int i) {
    int owed = 1;
    while (owed > 0 && i < j->n) owed += j->tok[i++].size - 1;
    return i;
}

size_t anvil__json_offset(const anvil__json *j, int i) { return tok_begin(&j->tok[i]); }

static int hex4(const char *s) {
    int v = 0;
    for (int k = 0; k < 4; k++) {
        char c = s[k];
        int d = is_digit(c) ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                      : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

/* The code point of the escape \u at s[i] (i at the 'u'), a surrogate pair as one; *i moves to
 * its last byte. -1 for a lone surrogate or bad hex. */
static long code_point(const char *s, size_t n, size_t *i) {
    if (*i + 4 >= n) return -1; /* four hex digits after the 'u' */
    int hi = hex4(s + *i + 1);
    *i += 4;
    if (hi < 0 || (hi >= 0xDC00 && hi <= 0xDFFF)) return -1;
    if (hi < 0xD800 || hi > 0xDBFF) return hi;
    if (*i + 6 >= n || s[*i + 1] != '\\' || s[*i + 2] != 'u') return -1;
    int lo = hex4(s + *i + 3);
    if (lo < 0xDC00 || lo > 0xDFFF) return -1;
    *i += 6;
    return 0x10000 + ((long)(hi - 0xD800) << 10) + (lo - 0xDC00);
}

/* Unescapes s[0, n) into out (NULL: only measures); *len gets the byte count. False for a NUL
 * character, a lone surrogate or a bad escape. */
static bool unescape(const char *s, size_t n, char *out, size_t *len) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c != '\\') {
            if (out) out[o] = c;
            o++;
            continue;
        }
        if (++i >= n) return false;
        long cp;
        switch (s[i]) {
        case '"': case '\\': case '/': cp = s[i]; break;
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case 'u': cp = code_point(s, n, &i); break;
        default: return false;
        }
        if (cp <= 0) return false; /* NUL would cut a C string short */
        unsigned char b[4];
        int k = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
        if (k == 1) b[0] = (unsigned char)cp;
        if (k == 2) b[0] = (unsigned char)(0xC0 | (cp >> 6));
        if (k == 3) b[0] = (unsigned char)(0xE0 | (cp >> 12));
        if (k == 4) b[0] = (unsigned char)(0xF0 | (cp >> 18));
        for (int m = 1; m < k; m++) b[m] = (unsigned char)(0x80 | ((cp >> (6 * (k - 1 - m))) & 0x3F));
        if (out) memcpy(out + o, b, (size_t)k);
        o += (size_t)k;
    }
    *len = o;
    return true;
}

bool anvil__json_string_copy(const anvil__json *j, int i, char *buf, size_t cap) {
    const jsmntok_t *t = &j->tok[i];
    const char *s = j->text + t->start;
    size_t n = (size_t)(t->end - t->start), len = 0;
    if (t->type != JSMN_STRING || !unescape(s, n, NULL, &len) || len >= cap) return false;
    unescape(s, n, buf, &len);
    buf[len] = '\0';
    return true;
}

bool anvil__json_string_is(const anvil__json *j, int i, const char *lit) {
    const jsmntok_t *t = &j->tok[i];
    const char *s = j->text + t->start;
    size_t n = (size_t)(t->end - t->start), want = strlen(lit);
    if (t->type != JSMN_STRING) return false;
    if (!memchr(s, '\\', n)) return n == want && memcmp(s, lit, n) == 0; /* the common case */
    char buf[64];
    return want < sizeof buf && anvil__json_string_copy(j, i, buf, sizeof buf) &&
           strcmp(buf, lit) == 0;
}

anvil_status anvil__json_strdup(const anvil__json *j, int i, char **out) {
    const jsmntok_t *t = &j->tok[i];
    const char *s = j->text + t->start;
    size_t n = (size_t)(t->end - t->start), len = n;
    *out = NULL;
    bool plain = !memchr(s, '\\', n);
    if (!plain && !unescape(s, n, NULL, &len))
        return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                            "string at byte %zu of the %s holds a NUL character or a lone "
                            "surrogate", tok_begin(t), j->what);
    char *d = anvil__malloc(len + 1);
    if (!d) return ANVIL_STATUS_OUT_OF_MEMORY;
    if (plain)
        memcpy(d, s, n);
    else
        unescape(s, n, d, &len);
    d[len] = '\0';
    *out = d;
    return ANVIL_OK;
}

#ifdef __GLIBC__
static locale_t c_locale;
static void make_c_locale(void) { c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0); }
#endif

/* strtod of the number s[0, n) in the C locale: JSON's decimal point is '.' whatever the
 * program's locale. Without strtod_l, a copy with the locale's decimal point is read (as cJSON
 * does); the number is followed by a delimiter in the text, so strtod stops at its end. */
static double c_strtod(const char *s, size_t n) {
#ifdef __GLIBC__
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, make_c_locale);
    if (c_locale) return strtod_l(s, NULL, c_locale);
#endif
    char buf[64];
    const char *point = localeconv()->decimal_point;
    if (n >= sizeof buf || !point || !point[0] || point[1]) return strtod(s, NULL);
    for (size_t k = 0; k < n; k++) buf[k] = s[k] == '.' ? point[0] : s[k];
    buf[n] = '\0';
    return strtod(buf, NULL);
}

void anvil__json_number(const anvil__json *j, int i, double *d, bool *is_uint, uint64_t *u) {
    const jsmntok_t *t = &j->tok[i];
    const char *s = j->text + t->start;
    size_t n = (size_t)(t->end - t->start);
    uint64_t v = 0;
    bool digits = n > 0;
    for (size_t k = 0; k < n && digits; k++) {
        digits = is_digit(s[k]) && v <= (UINT64_MAX - 9) / 10;
        v = v * 10 + (uint64_t)(s[k] - '0');
    }
    *is_uint = digits;
    *u = digits ? v : 0;
    *d = digits ? (double)v : c_strtod(s, n);
}
