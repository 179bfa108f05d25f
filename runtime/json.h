/* json.h: a small strict JSON parser (RFC 8259) and a writer's string buffer.
 *
 * Parsing builds a read-only tree in one arena owned by a JsonDoc: every value
 * knows its byte offset in the text, so callers can point at the bad spot.
 * Input is untrusted: nesting depth, input size and the number of values are
 * limited, strings must be valid UTF-8, and no leniencies (trailing commas,
 * comments, NaN, leading zeros, single quotes) are accepted. Numbers keep their
 * source text so integers up to 2^64-1 can be read exactly (a double cannot).
 *
 *   JsonDoc doc;
 *   if (json_parse(&doc, text, len, NULL, &err) < 0) ... err.msg says where;
 *   const Json *v = json_get(doc.root, "shape");
 *   json_free(&doc);
 */
#ifndef NETC_JSON_H
#define NETC_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } JsonType;

typedef struct Json Json;
struct Json {
    JsonType type;
    int n;              /* array, object: number of items */
    size_t offset;      /* byte offset of the value's first character in the text */
    const char *key;    /* object members: the member's name (decoded, NUL-terminated) */
    size_t key_len;     /* its length in bytes; differs from strlen if it holds \u0000 */
    const char *str;    /* string: decoded UTF-8, NUL-terminated; number: its source text */
    size_t len;         /* string: length in bytes (may hold \u0000); number: text length */
    double number;      /* number: its value (+-HUGE_VAL when out of double range) */
    int boolean;        /* bool: 0 or 1 */
    Json *items;        /* array elements or object members, in text order */
};

typedef struct {
    int max_depth;      /* nesting of arrays/objects; 0 means JSON_DEFAULT_DEPTH */
    size_t max_bytes;   /* input size; 0 means JSON_DEFAULT_BYTES */
    size_t max_values;  /* values in the tree; 0 means JSON_DEFAULT_VALUES */
} JsonOptions;

#define JSON_DEFAULT_DEPTH 64
#define JSON_DEFAULT_BYTES ((size_t)100 << 20)
#define JSON_DEFAULT_VALUES ((size_t)1 << 20)

typedef struct {
    Json *root;
    size_t error_offset; /* after a failed parse: the byte offset of the problem */
    void *arena;         /* private */
} JsonDoc;

/* Parses text[0..len) (need not be NUL-terminated). On error returns -1 with
 * e->msg like "at byte 37 (line 2, column 5): expected ',' or '}' after the
 * member "a", found 'x'" (line and column only past the first line); callers
 * prefix the file name. doc is then empty
 * and json_free(doc) is still safe. */
int json_parse(JsonDoc *doc, const char *text, size_t len, const JsonOptions *opt, Error *e);
void json_free(JsonDoc *doc);

/* The first member of obj named key (NULL if none or obj is not an object). */
const Json *json_get(const Json *obj, const char *key);
/* "object", "array", "string", "number", "true"/"false", "null": for messages. */
const char *json_type_name(const Json *v);

typedef enum {
    JSON_INT_OK = 0,
    JSON_INT_NOT_NUMBER,   /* not a number at all */
    JSON_INT_NOT_INTEGER,  /* has a fraction or an exponent: 3.5, 1e3 */
    JSON_INT_NEGATIVE,     /* json_uint64 only */
    JSON_INT_TOO_LARGE,    /* outside the target type's range */
} JsonIntStatus;

/* Exact integer value of a number written as an integer (no '.', no 'e'). */
JsonIntStatus json_uint64(const Json *v, uint64_t *out);
JsonIntStatus json_int64(const Json *v, int64_t *out);

/* 1 if s[0..len) is well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF). */
int json_utf8_valid(const char *s, size_t len);

/* A growable text buffer for writers of JSON (and anything else). Zero-init. */
typedef struct {
    char *data;         /* always NUL-terminated once anything was added */
    size_t len, cap;
} JsonBuf;

void jbuf_add(JsonBuf *b, const char *s, size_t n);
void jbuf_puts(JsonBuf *b, const char *s);
void jbuf_printf(JsonBuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s[0..len) as a quoted JSON string: escapes '"', '\\' and control
 * characters; bytes that are not valid UTF-8 become U+FFFD so the output is
 * always valid JSON (validate first with json_utf8_valid if that must be an error). */
void jbuf_string(JsonBuf *b, const char *s, size_t len);
/* Appends a number that reads back exactly (%.17g); NaN and infinities, which
 * JSON cannot hold, become null. */
void jbuf_number(JsonBuf *b, double x);
void jbuf_free(JsonBuf *b);

#endif
