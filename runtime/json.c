/* json.c: a strict JSON parser into an arena, and a string buffer (see json.h). */
#include "json.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- arena: every node and string of one document, freed at once ----------- */

typedef struct Block {
    struct Block *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} Block;

typedef struct {
    Block *head;
} Arena;

#define ARENA_BLOCK ((size_t)64 << 10)

static void *arena_alloc(Arena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    Block *b = a->head;
    if (!b || b->cap - b->used < n) {
        /* Big requests get a block of their own so small ones keep filling the current one. */
        size_t cap = n > ARENA_BLOCK / 4 ? n : ARENA_BLOCK;
        Block *nb = xmalloc(sizeof *nb + cap);
        nb->used = 0, nb->cap = cap;
        if (b && cap == n) {
            nb->next = b->next, b->next = nb;
        } else {
            nb->next = b, a->head = nb;
        }
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += n;
    return p;
}

static void arena_free(Arena *a) {
    for (Block *b = a->head, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(a);
}

/* ---- UTF-8 -------------------------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at s (1..4), or 0 if it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t left) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t n;
    unsigned min, cp;
    if (c >= 0xC2 && c <= 0xDF) n = 2, min = 0x80, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) n = 3, min = 0x800, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) n = 4, min = 0x10000, cp = c & 0x07;
    else return 0;
    if (left < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

int json_utf8_valid(const char *s, size_t len) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_seq(u + i, len - i);
        if (!n) return 0;
        i += n;
    }
    return 1;
}

static size_t utf8_encode(unsigned cp, char *out) {
    if (cp < 0x80) return out[0] = (char)cp, 1;
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6), out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12), out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18), out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F)), out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- parser ------------------------------------------------------------------- */

typedef struct {
    const unsigned char *s;
    size_t len, pos;
    int depth, max_depth;
    size_t nvalues, max_values;
    Arena *arena;
    Json *stack;          /* children of the arrays/objects being parsed, innermost last */
    size_t sp, stack_cap;
    JsonBuf scratch;      /* a string being decoded */
    Error *e;
    size_t err_at;
} Parser;

static int fail(Parser *p, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(Parser *p, size_t at, const char *fmt, ...) {
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    size_t line = 1, col = 1;
    for (size_t i = 0; i < at && i < p->len; i++) {
        if (p->s[i] == '\n') line++, col = 1;
        else col++;
    }
    p->err_at = at;
    if (line == 1) return errorf(p->e, "at byte %zu: %s", at, what); /* one-line text: the column says nothing more */
    return errorf(p->e, "at byte %zu (line %zu, column %zu): %s", at, line, col, what);
}

/* "'x'", "byte 0x07" or "the end of the text", for "found ..." in messages. */
static const char *found(const Parser *p, size_t at, char buf[16]) {
    if (at >= p->len) return "the end of the text";
    unsigned c = p->s[at];
    if (c >= 0x20 && c < 0x7F) snprintf(buf, 16, "'%c'", c);
    else snprintf(buf, 16, "byte 0x%02X", c);
    return buf;
}

static void skip_ws(Parser *p) {
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static int hex4(Parser *p, size_t at, unsigned *out) {
    if (p->len - at < 4) return fail(p, at, "\\u needs 4 hex digits, found the end of the text");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p->s[at + (size_t)i], d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else {
            char b[16];
            return fail(p, at + (size_t)i, "\\u needs 4 hex digits, found %s", found(p, at + (size_t)i, b));
        }
        v = v << 4 | d;
    }
    *out = v;
    return 0;
}

/* After "\u" at p->pos: decodes one code point (a surrogate pair counts as one). */
static int parse_u_escape(Parser *p, unsigned *cp) {
    size_t start = p->pos - 2;
    unsigned hi, lo;
    if (hex4(p, p->pos, &hi) < 0) return -1;
    p->pos += 4;
    if (hi >= 0xDC00 && hi <= 0xDFFF) return fail(p, start, "\\u%04X is a lone low surrogate; UTF-16 pairs start with \\uD800-\\uDBFF", hi);
    if (hi < 0xD800 || hi > 0xDBFF) return *cp = hi, 0;
    if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
        return fail(p, start, "\\u%04X is a high surrogate without the \\uDC00-\\uDFFF that must follow it", hi);
    if (hex4(p, p->pos + 2, &lo) < 0) return -1;
    if (lo < 0xDC00 || lo > 0xDFFF)
        return fail(p, p->pos, "\\u%04X after the high surrogate \\u%04X is not a low surrogate (\\uDC00-\\uDFFF)", lo, hi);
    p->pos += 6;
    *cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
    return 0;
}

/* A string at p->pos ('"'), decoded into the arena. */
static int parse_string(Parser *p, const char **out, size_t *out_len) {
    size_t start = p->pos++;
    JsonBuf *b = &p->scratch;
    b->len = 0;
    for (;;) {
        if (p->pos >= p->len) return fail(p, start, "string starting here is never closed with '\"'");
        unsigned char c = p->s[p->pos];
        if (c == '"') break;
        if (c < 0x20) return fail(p, p->pos, "control character 0x%02X inside a string; write it as \\u%04X", c, c);
        if (c == '\\') {
            if (p->pos + 1 >= p->len) return fail(p, p->pos, "string ends inside an escape sequence");
            unsigned char esc = p->s[p->pos + 1];
            const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
            const char *hit = esc ? strchr(from, esc) : NULL;
            p->pos += 2;
            if (hit) {
                jbuf_add(b, to + (hit - from), 1);
            } else if (esc == 'u') {
                unsigned cp = 0;
                char u8[4];
                if (parse_u_escape(p, &cp) < 0) return -1;
                jbuf_add(b, u8, utf8_encode(cp, u8));
            } else if (esc > 0x20 && esc < 0x7F) {
                return fail(p, p->pos - 2, "unknown escape \\%c in a string; valid ones are "
                            "\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX", esc);
            } else {
                return fail(p, p->pos - 2, "byte 0x%02X after '\\' in a string is not an escape", esc);
            }
            continue;
        }
        size_t n = utf8_seq(p->s + p->pos, p->len - p->pos);
        if (!n) return fail(p, p->pos, "byte 0x%02X inside a string is not valid UTF-8", c);
        jbuf_add(b, (const char *)p->s + p->pos, n);
        p->pos += n;
    }
    p->pos++; /* closing quote */
    char *s = arena_alloc(p->arena, b->len + 1);
    if (b->len) memcpy(s, b->data, b->len);
    s[b->len] = 0;
    *out = s, *out_len = b->len;
    return 0;
}

static int is_digit(const Parser *p, size_t at) {
    return at < p->len && p->s[at] >= '0' && p->s[at] <= '9';
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int parse_number(Parser *p, Json *v) {
    size_t start = p->pos, i = p->pos;
    char b[16];
    if (i < p->len && p->s[i] == '-') i++;
    if (!is_digit(p, i)) return fail(p, i, "expected a digit in a number, found %s", found(p, i, b));
    if (p->s[i] == '0' && is_digit(p, i + 1)) return fail(p, start, "numbers cannot have leading zeros");
    while (is_digit(p, i)) i++;
    if (i < p->len && p->s[i] == '.') {
        if (!is_digit(p, ++i)) return fail(p, i, "expected a digit after the decimal point, found %s", found(p, i, b));
        while (is_digit(p, i)) i++;
    }
    if (i < p->len && (p->s[i] == 'e' || p->s[i] == 'E')) {
        i++;
        if (i < p->len && (p->s[i] == '+' || p->s[i] == '-')) i++;
        if (!is_digit(p, i)) return fail(p, i, "expected a digit in the exponent, found %s", found(p, i, b));
        while (is_digit(p, i)) i++;
    }
    size_t n = i - start;
    char *text = arena_alloc(p->arena, n + 1);
    memcpy(text, p->s + start, n);
    text[n] = 0;
    v->type = JSON_NUMBER;
    v->str = text, v->len = n;
    v->number = strtod(text, NULL); /* the runtime never calls setlocale, so '.' is the point */
    p->pos = i;
    return 0;
}

static int parse_literal(Parser *p, Json *v) {
    static const struct { const char *word; JsonType type; int boolean; } lits[] = {
        {"true", JSON_BOOL, 1}, {"false", JSON_BOOL, 0}, {"null", JSON_NULL, 0},
    };
    for (int k = 0; k < 3; k++) {
        size_t n = strlen(lits[k].word);
        if (p->s[p->pos] != (unsigned char)lits[k].word[0]) continue;
        if (p->len - p->pos < n || memcmp(p->s + p->pos, lits[k].word, n) != 0)
            return fail(p, p->pos, "expected '%s'", lits[k].word);
        v->type = lits[k].type, v->boolean = lits[k].boolean;
        p->pos += n;
        return 0;
    }
    char b[16];
    return fail(p, p->pos, "expected a value (object, array, string, number, true, false or null), found %s",
                found(p, p->pos, b));
}

static void push(Parser *p, const Json *v) {
    if (p->sp == p->stack_cap) {
        p->stack_cap = p->stack_cap ? 2 * p->stack_cap : 64;
        p->stack = xrealloc(p->stack, p->stack_cap * sizeof *p->stack);
    }
    p->stack[p->sp++] = *v;
}

/* Moves the children pushed since `base` into the arena as v's items. */
static void pop_items(Parser *p, size_t base, Json *v) {
    size_t n = p->sp - base;
    v->n = (int)n; /* n <= max_values, which json_parse keeps below INT_MAX */
    if (n) {
        v->items = arena_alloc(p->arena, n * sizeof *v->items);
        memcpy(v->items, p->stack + base, n * sizeof *v->items);
    }
    p->sp = base;
}

static int parse_value(Parser *p, Json *v);

/* '[' ws ( value ws ( ',' ws value ws )* )? ']' */
static int parse_array(Parser *p, Json *v) {
    size_t base = p->sp;
    char b[16];
    v->type = JSON_ARRAY;
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == ']') return p->pos++, pop_items(p, base, v), 0;
    for (;;) {
        Json item;
        if (parse_value(p, &item) < 0) return -1;
        push(p, &item);
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            skip_ws(p);
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == ']') break;
        return fail(p, p->pos, "expected ',' or ']' after an array element, found %s", found(p, p->pos, b));
    }
    p->pos++;
    pop_items(p, base, v);
    return 0;
}

/* '{' ws ( string ws ':' ws value ws ( ',' ws string ws ':' ws value ws )* )? '}' */
static int parse_object(Parser *p, Json *v) {
    size_t base = p->sp;
    char b[16];
    v->type = JSON_OBJECT;
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == '}') return p->pos++, pop_items(p, base, v), 0;
    for (;;) {
        if (p->pos >= p->len || p->s[p->pos] != '"')
            return fail(p, p->pos, "expected a \"key\" in an object, found %s", found(p, p->pos, b));
        const char *key;
        size_t key_len;
        if (parse_string(p, &key, &key_len) < 0) return -1;
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != ':')
            return fail(p, p->pos, "expected ':' after the key \"%.60s\", found %s", key, found(p, p->pos, b));
        p->pos++;
        skip_ws(p);
        Json item;
        if (parse_value(p, &item) < 0) return -1;
        item.key = key, item.key_len = key_len;
        push(p, &item);
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            skip_ws(p);
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == '}') break;
        return fail(p, p->pos, "expected ',' or '}' after the member \"%.60s\", found %s", key, found(p, p->pos, b));
    }
    p->pos++;
    pop_items(p, base, v);
    return 0;
}

/* A value at p->pos (whitespace already skipped). */
static int parse_value(Parser *p, Json *v) {
    memset(v, 0, sizeof *v);
    v->offset = p->pos;
    if (++p->nvalues > p->max_values)
        return fail(p, p->pos, "more than %zu values; the text is too large to be what it claims", p->max_values);
    if (p->pos >= p->len) return fail(p, p->pos, "expected a value, found the end of the text");
    unsigned char c = p->s[p->pos];
    if (c == '{' || c == '[') {
        if (++p->depth > p->max_depth) return fail(p, p->pos, "nesting deeper than %d levels", p->max_depth);
        int rc = c == '{' ? parse_object(p, v) : parse_array(p, v);
        p->depth--;
        return rc;
    }
    if (c == '"') {
        v->type = JSON_STRING;
        return parse_string(p, &v->str, &v->len);
    }
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number(p, v);
    return parse_literal(p, v);
}

int json_parse(JsonDoc *doc, const char *text, size_t len, const JsonOptions *opt, Error *e) {
    memset(doc, 0, sizeof *doc);
    JsonOptions o = opt ? *opt : (JsonOptions){0};
    if (o.max_depth <= 0) o.max_depth = JSON_DEFAULT_DEPTH;
    if (o.max_depth > 1000) o.max_depth = 1000;       /* recursion: keep the C stack safe */
    if (o.max_bytes == 0) o.max_bytes = JSON_DEFAULT_BYTES;
    if (o.max_values == 0) o.max_values = JSON_DEFAULT_VALUES;
    if (o.max_values > (size_t)1 << 30) o.max_values = (size_t)1 << 30; /* Json.n is an int */
    Parser p = {.s = (const unsigned char *)text, .len = len, .max_depth = o.max_depth,
                .max_values = o.max_values, .e = e};
    if (len > o.max_bytes) {
        p.len = 0;
        fail(&p, 0, "the text is %zu bytes, more than the %zu-byte limit", len, o.max_bytes);
        doc->error_offset = 0;
        return -1;
    }
    p.arena = xcalloc(1, sizeof(Arena));
    Json *root = arena_alloc(p.arena, sizeof *root);
    int rc;
    skip_ws(&p);
    if (p.pos >= p.len) {
        rc = fail(&p, p.pos, "expected a JSON value, found %s", len ? "only white space" : "nothing (the text is empty)");
    } else {
        rc = parse_value(&p, root);
        skip_ws(&p);
        char b[16];
        if (rc == 0 && p.pos < p.len)
            rc = fail(&p, p.pos, "unexpected %s after the end of the JSON value", found(&p, p.pos, b));
    }
    free(p.stack);
    jbuf_free(&p.scratch);
    if (rc < 0) {
        arena_free(p.arena);
        doc->error_offset = p.err_at;
        return -1;
    }
    doc->root = root;
    doc->arena = p.arena;
    return 0;
}

void json_free(JsonDoc *doc) {
    if (doc->arena) arena_free(doc->arena);
    doc->arena = NULL;
    doc->root = NULL;
}

/* ---- access ------------------------------------------------------------------- */

const Json *json_get(const Json *obj, const char *key) {
    if (!obj || obj->type != JSON_OBJECT) return NULL;
    size_t n = strlen(key);
    for (int i = 0; i < obj->n; i++)
        if (obj->items[i].key_len == n && memcmp(obj->items[i].key, key, n) == 0) return &obj->items[i];
    return NULL;
}

const char *json_type_name(const Json *v) {
    switch (v->type) {
    case JSON_NULL: return "null";
    case JSON_BOOL: return v->boolean ? "true" : "false";
    case JSON_NUMBER: return "a number";
    case JSON_STRING: return "a string";
    case JSON_ARRAY: return "an array";
    case JSON_OBJECT: return "an object";
    }
    return "?";
}

/* Sign and magnitude of a number written as an integer. */
static JsonIntStatus int_text(const Json *v, int *neg, uint64_t *mag) {
    if (!v || v->type != JSON_NUMBER) return JSON_INT_NOT_NUMBER;
    if (strpbrk(v->str, ".eE")) return JSON_INT_NOT_INTEGER;
    const char *s = v->str;
    *neg = *s == '-';
    s += *neg;
    uint64_t m = 0;
    for (; *s; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (m > (UINT64_MAX - d) / 10) return JSON_INT_TOO_LARGE;
        m = m * 10 + d;
    }
    *mag = m;
    return JSON_INT_OK;
}

JsonIntStatus json_uint64(const Json *v, uint64_t *out) {
    int neg;
    uint64_t m;
    JsonIntStatus st = int_text(v, &neg, &m);
    if (st == JSON_INT_TOO_LARGE && v->str[0] == '-') return JSON_INT_NEGATIVE;
    if (st != JSON_INT_OK) return st;
    if (neg && m != 0) return JSON_INT_NEGATIVE;
    *out = m;
    return JSON_INT_OK;
}

JsonIntStatus json_int64(const Json *v, int64_t *out) {
    int neg;
    uint64_t m;
    JsonIntStatus st = int_text(v, &neg, &m);
    if (st != JSON_INT_OK) return st;
    if (neg) {
        if (m > (uint64_t)INT64_MAX + 1) return JSON_INT_TOO_LARGE;
        *out = m == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)m;
    } else {
        if (m > (uint64_t)INT64_MAX) return JSON_INT_TOO_LARGE;
        *out = (int64_t)m;
    }
    return JSON_INT_OK;
}

/* ---- writing ------------------------------------------------------------------ */

void jbuf_add(JsonBuf *b, const char *s, size_t n) {
    if (b->cap - b->len <= n) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap - b->len <= n) cap *= 2;
        b->data = xrealloc(b->data, cap);
        b->cap = cap;
    }
    if (n) memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = 0;
}

void jbuf_puts(JsonBuf *b, const char *s) { jbuf_add(b, s, strlen(s)); }

void jbuf_printf(JsonBuf *b, const char *fmt, ...) {
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof small) {
        jbuf_add(b, small, (size_t)n);
        return;
    }
    char *big = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    jbuf_add(b, big, (size_t)n);
    free(big);
}

void jbuf_string(JsonBuf *b, const char *s, size_t len) {
    const unsigned char *u = (const unsigned char *)s;
    jbuf_add(b, "\"", 1);
    for (size_t i = 0; i < len;) {
        unsigned c = u[i];
        const char *esc = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n" : c == '\r' ? "\\r"
                        : c == '\t' ? "\\t" : c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;
        if (esc) {
            jbuf_puts(b, esc), i++;
        } else if (c < 0x20 || c == 0x7F) {
            jbuf_printf(b, "\\u%04x", c), i++;
        } else {
            size_t n = utf8_seq(u + i, len - i);
            if (n) jbuf_add(b, s + i, n), i += n;
            else jbuf_puts(b, "\xEF\xBF\xBD"), i++; /* U+FFFD: keep the output valid JSON */
        }
    }
    jbuf_add(b, "\"", 1);
}

void jbuf_number(JsonBuf *b, double x) {
    if (x != x || x - x != 0) jbuf_puts(b, "null");
    else jbuf_printf(b, "%.17g", x);
}

void jbuf_free(JsonBuf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
