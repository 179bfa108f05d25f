/* test_json.c: the strict JSON parser and the string buffer (runtime/json.c). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json.h"

#define assert_contains(hay, needle)                                                    \
    do {                                                                                \
        if (!strstr((hay), (needle))) fail_msg("expected \"%s\" in: %s", (needle), (hay)); \
    } while (0)

static Json *parse_ok(JsonDoc *doc, const char *text) {
    Error e = {{0}};
    if (json_parse(doc, text, strlen(text), NULL, &e) != 0) fail_msg("parse of %s failed: %s", text, e.msg);
    return doc->root;
}

static void test_values_and_offsets(void **state) {
    (void)state;
    JsonDoc doc;
    const Json *r = parse_ok(&doc, " {\"a\": [1, -2.5e1, true, false, null], \"b\": {\"c\": \"x\"}, \"a\": 7}");
    assert_int_equal(r->type, JSON_OBJECT);
    assert_int_equal(r->n, 3);
    assert_int_equal(r->offset, 1);
    const Json *a = json_get(r, "a"); /* the first of two "a" members */
    assert_non_null(a);
    assert_int_equal(a->type, JSON_ARRAY);
    assert_int_equal(a->offset, 7);
    assert_int_equal(a->n, 5);
    assert_int_equal(a->items[0].type, JSON_NUMBER);
    assert_string_equal(a->items[0].str, "1");
    assert_int_equal(a->items[1].offset, 11);
    assert_true(a->items[1].number == -25.0);
    assert_string_equal(a->items[1].str, "-2.5e1");
    assert_int_equal(a->items[2].type, JSON_BOOL);
    assert_int_equal(a->items[2].boolean, 1);
    assert_int_equal(a->items[3].boolean, 0);
    assert_int_equal(a->items[4].type, JSON_NULL);
    const Json *c = json_get(json_get(r, "b"), "c");
    assert_non_null(c);
    assert_string_equal(c->str, "x");
    assert_int_equal(c->len, 1);
    assert_null(json_get(r, "zz"));
    assert_null(json_get(a, "a")); /* not an object */
    assert_string_equal(json_type_name(a), "an array");
    json_free(&doc);
    json_free(&doc); /* twice is harmless */
}

static void test_string_escapes(void **state) {
    (void)state;
    JsonDoc doc;
    const Json *r = parse_ok(&doc, "[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\", \"\\u00e9\\u20AC\\ud83d\\ude00\", \"a\\u0000b\", \"h\xc3\xa9\"]");
    assert_string_equal(r->items[0].str, "\"\\/\b\f\n\r\t");
    assert_string_equal(r->items[1].str, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    assert_int_equal(r->items[2].len, 3);
    assert_memory_equal(r->items[2].str, "a\0b", 4);
    assert_string_equal(r->items[3].str, "h\xc3\xa9");
    json_free(&doc);
    /* a key holding \u0000 keeps its real length, so it cannot pose as a shorter key */
    r = parse_ok(&doc, "{\"ab\\u0000c\": 1}");
    assert_int_equal(r->items[0].key_len, 4);
    assert_null(json_get(r, "ab"));
    json_free(&doc);
}

typedef struct {
    const char *text;
    size_t offset;
    const char *msg;
} Bad;

static void test_rejects_with_offset(void **state) {
    (void)state;
    static const Bad bad[] = {
        {"", 0, "nothing (the text is empty)"},
        {"  \n", 3, "only white space"},
        {"[1,]", 3, "expected a value (object, array"},
        {"{\"a\":1,}", 7, "expected a \"key\" in an object, found '}'"},
        {"{\"a\" 1}", 5, "expected ':' after the key \"a\", found '1'"},
        {"{\"a\":1 \"b\":2}", 7, "expected ',' or '}' after the member \"a\""},
        {"[1 2]", 3, "expected ',' or ']' after an array element, found '2'"},
        {"[1,2", 4, "found the end of the text"},
        {"01", 0, "leading zeros"},
        {"1.", 2, "after the decimal point"},
        {".5", 0, "expected a value"},
        {"1e+", 3, "in the exponent"},
        {"-", 1, "expected a digit"},
        {"+1", 0, "expected a value"},
        {"tru", 0, "expected 'true'"},
        {"nulL", 0, "expected 'null'"},
        {"NaN", 0, "expected a value"},
        {"'a'", 0, "found '''"},
        {"// c\n1", 0, "expected a value"},
        {"\xef\xbb\xbf{}", 0, "found byte 0xEF"},
        {"\"abc", 0, "never closed"},
        {"\"a\x01\"", 2, "control character 0x01"},
        {"\"\\x\"", 1, "unknown escape \\x"},
        {"\"\\u12G4\"", 5, "4 hex digits, found 'G'"},
        {"\"\\u12", 3, "4 hex digits, found the end"},
        {"\"\\ud800\"", 1, "without the \\uDC00-\\uDFFF"},
        {"\"\\ud800\\u0041\"", 7, "is not a low surrogate"},
        {"\"\\udc00\"", 1, "lone low surrogate"},
        {"\"\xff\"", 1, "byte 0xFF inside a string is not valid UTF-8"},
        {"\"\xc0\xaf\"", 1, "not valid UTF-8"},          /* overlong '/' */
        {"\"\xed\xa0\x80\"", 1, "not valid UTF-8"},      /* an encoded surrogate */
        {"\"\xf4\x90\x80\x80\"", 1, "not valid UTF-8"},  /* above U+10FFFF */
        {"\"\xe2\x82\"", 1, "not valid UTF-8"},          /* cut short */
        {"[1] x", 4, "unexpected 'x' after the end of the JSON value"},
        {"{\"a\":1}}", 7, "after the end"},
        {"[1,\n  x]", 6, "line 2, column 3"},
    };
    for (int i = 0; i < ARRAY_LEN(bad); i++) {
        JsonDoc doc;
        Error e = {{0}};
        int rc = json_parse(&doc, bad[i].text, strlen(bad[i].text), NULL, &e);
        if (rc != -1) fail_msg("case %d (%s) parsed", i, bad[i].text);
        assert_null(doc.root);
        if (doc.error_offset != bad[i].offset)
            fail_msg("case %d (%s): offset %zu, expected %zu: %s", i, bad[i].text, doc.error_offset, bad[i].offset, e.msg);
        assert_contains(e.msg, bad[i].msg);
        char at[64], at_line[64]; /* "at byte 3:" or, past line 1, "at byte 6 (line 2, ..." */
        snprintf(at, sizeof at, "at byte %zu:", bad[i].offset);
        snprintf(at_line, sizeof at_line, "at byte %zu (line ", bad[i].offset);
        if (!strstr(e.msg, at) && !strstr(e.msg, at_line)) fail_msg("case %d: offset not in: %s", i, e.msg);
        json_free(&doc);
    }
}

/* The text need not be NUL-terminated: only len bytes are looked at. */
static void test_length_bounded(void **state) {
    (void)state;
    JsonDoc doc;
    Error e = {{0}};
    assert_int_equal(json_parse(&doc, "[12]garbage", 4, NULL, &e), 0);
    assert_string_equal(doc.root->items[0].str, "12");
    json_free(&doc);
    assert_int_equal(json_parse(&doc, "[12]", 3, NULL, &e), -1);
    assert_contains(e.msg, "at byte 3");
}

static char *nested(int depth) {
    char *s = malloc(2 * (size_t)depth + 1);
    memset(s, '[', (size_t)depth);
    memset(s + depth, ']', (size_t)depth);
    s[2 * depth] = 0;
    return s;
}

static void test_limits(void **state) {
    (void)state;
    JsonDoc doc;
    Error e = {{0}};
    char *ok = nested(64), *deep = nested(65), *huge = nested(200000);
    assert_int_equal(json_parse(&doc, ok, strlen(ok), NULL, &e), 0);
    json_free(&doc);
    assert_int_equal(json_parse(&doc, deep, strlen(deep), NULL, &e), -1);
    assert_contains(e.msg, "nesting deeper than 64 levels");
    assert_int_equal(doc.error_offset, 64);
    assert_int_equal(json_parse(&doc, huge, strlen(huge), NULL, &e), -1); /* no stack overflow */
    assert_contains(e.msg, "nesting deeper than 64");
    JsonOptions o = {.max_depth = 3};
    assert_int_equal(json_parse(&doc, "[[[[]]]]", 8, &o, &e), -1);
    assert_contains(e.msg, "deeper than 3");
    o = (JsonOptions){.max_bytes = 4};
    assert_int_equal(json_parse(&doc, "[1,2]", 5, &o, &e), -1);
    assert_contains(e.msg, "the text is 5 bytes, more than the 4-byte limit");
    o = (JsonOptions){.max_values = 3};
    assert_int_equal(json_parse(&doc, "[1,2]", 5, &o, &e), 0);
    json_free(&doc);
    assert_int_equal(json_parse(&doc, "[1,2,3]", 7, &o, &e), -1);
    assert_contains(e.msg, "more than 3 values");
    free(ok), free(deep), free(huge);
}

static void test_integers(void **state) {
    (void)state;
    JsonDoc doc;
    const Json *r = parse_ok(&doc, "[18446744073709551615, 18446744073709551616, -1, 1.0, 1e3, -0,"
                                   " -9223372036854775808, 9223372036854775808, 9223372036854775807, \"7\","
                                   " -99999999999999999999]");
    const Json *v = r->items;
    uint64_t u = 0;
    int64_t s = 0;
    assert_int_equal(json_uint64(&v[0], &u), JSON_INT_OK);
    assert_true(u == UINT64_MAX);
    assert_int_equal(json_uint64(&v[1], &u), JSON_INT_TOO_LARGE);
    assert_int_equal(json_uint64(&v[2], &u), JSON_INT_NEGATIVE);
    assert_int_equal(json_uint64(&v[3], &u), JSON_INT_NOT_INTEGER);
    assert_int_equal(json_uint64(&v[4], &u), JSON_INT_NOT_INTEGER);
    assert_int_equal(json_uint64(&v[5], &u), JSON_INT_OK);
    assert_true(u == 0);
    assert_int_equal(json_int64(&v[6], &s), JSON_INT_OK);
    assert_true(s == INT64_MIN);
    assert_int_equal(json_int64(&v[7], &s), JSON_INT_TOO_LARGE);
    assert_int_equal(json_int64(&v[8], &s), JSON_INT_OK);
    assert_true(s == INT64_MAX);
    assert_int_equal(json_int64(&v[9], &s), JSON_INT_NOT_NUMBER);
    assert_int_equal(json_int64(&v[2], &s), JSON_INT_OK);
    assert_true(s == -1);
    assert_int_equal(json_uint64(&v[10], &u), JSON_INT_NEGATIVE);
    json_free(&doc);
    r = parse_ok(&doc, "[-12.5e-1, 1e400, 0.1]");
    assert_true(r->items[0].number == -1.25);
    assert_true(isinf(r->items[1].number));
    assert_true(r->items[2].number == 0.1);
    json_free(&doc);
}

static void test_writer(void **state) {
    (void)state;
    JsonBuf b = {0};
    const char s[] = "a\"b\\c\n\t\x01\x7f\xc3\xa9\xff/";
    jbuf_string(&b, s, sizeof s - 1);
    assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\\t\\u0001\\u007f\xc3\xa9\xef\xbf\xbd/\"");
    jbuf_free(&b);
    /* every valid string survives a round trip, including \0 and all of ASCII */
    char all[200];
    size_t n = 0;
    for (int c = 0; c < 128; c++) all[n++] = (char)c;
    memcpy(all + n, "\xe2\x82\xac\xf0\x9f\x98\x80", 7);
    n += 7;
    jbuf_string(&b, all, n);
    JsonDoc doc;
    Error e = {{0}};
    assert_int_equal(json_parse(&doc, b.data, b.len, NULL, &e), 0);
    assert_int_equal(doc.root->len, n);
    assert_memory_equal(doc.root->str, all, n);
    json_free(&doc);
    jbuf_free(&b);
    jbuf_number(&b, 0.1);
    jbuf_puts(&b, " ");
    jbuf_number(&b, NAN);
    jbuf_puts(&b, " ");
    jbuf_number(&b, -INFINITY);
    jbuf_printf(&b, " %d%s", 42, "!");
    assert_string_equal(b.data, "0.10000000000000001 null null 42!");
    jbuf_free(&b);
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    jbuf_printf(&b, "<%s>", big); /* longer than jbuf_printf's stack buffer */
    assert_int_equal(b.len, 1001);
    assert_int_equal(b.data[1000], '>');
    jbuf_free(&b);
}

static void test_utf8_valid(void **state) {
    (void)state;
    assert_true(json_utf8_valid("", 0));
    assert_true(json_utf8_valid("plain", 5));
    assert_true(json_utf8_valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf", 13));
    assert_false(json_utf8_valid("\x80", 1));
    assert_false(json_utf8_valid("\xc3", 1));
    assert_false(json_utf8_valid("\xe0\x80\xaf", 3));
    assert_false(json_utf8_valid("\xed\xbf\xbf", 3));
    assert_false(json_utf8_valid("\xf5\x80\x80\x80", 4));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_and_offsets),
        cmocka_unit_test(test_string_escapes),
        cmocka_unit_test(test_rejects_with_offset),
        cmocka_unit_test(test_length_bounded),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_writer),
        cmocka_unit_test(test_utf8_valid),
    };
    return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
