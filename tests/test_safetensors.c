/* test_safetensors.c: reading, writing and rejecting safetensors files
 * (runtime/safetensors.c). Every malformed file is built at run time in a
 * mkdtemp folder; each rejection must name the file, the tensor and the fault. */
#define _GNU_SOURCE
#include <dirent.h>
#include <ftw.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "safetensors.h"

#define SQUEEZENET "../shared/weights/squeezenet1_0/squeezenet1_0.safetensors"

static char tmpdir[64];

/* tmpdir/name; four rotating buffers so a few can be live at once. */
static const char *tpath(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

static uint8_t *slurp(const char *path, size_t *n) {
    Error e;
    uint8_t *p = (uint8_t *)read_file(path, n, &e);
    if (!p) fail_msg("%s", e.msg);
    return p;
}

/* A safetensors file from a raw header text, its length field (hlen, or the
 * text's length when hlen is UINT64_MAX) and data_len bytes of data. */
static void write_raw(const char *path, const char *header, uint64_t hlen, size_t data_len) {
    size_t h = strlen(header), n = 8 + h + data_len;
    uint8_t *buf = malloc(n);
    if (hlen == UINT64_MAX) hlen = h;
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(hlen >> (8 * i));
    memcpy(buf + 8, header, h);
    for (size_t i = 0; i < data_len; i++) buf[8 + h + i] = (uint8_t)(i * 7 + 1);
    write_bytes(path, buf, n);
    free(buf);
}

static int is_zeroed(const StFile *f) {
    StFile z;
    memset(&z, 0, sizeof z);
    return memcmp(f, &z, sizeof z) == 0;
}

/* st_open(path) must fail, leave f empty, and say all of the NULL-terminated
 * substrings (and the path). */
static void expect_open_fail(const char *what, const char *path, ...) {
    StFile f;
    Error e = {{0}};
    if (st_open(&f, path, &e) == 0) {
        st_close(&f);
        fail_msg("%s: st_open accepted it", what);
    }
    if (!is_zeroed(&f)) fail_msg("%s: StFile not cleared after failure", what);
    if (!strstr(e.msg, path)) fail_msg("%s: message does not name %s: %s", what, path, e.msg);
    va_list ap;
    va_start(ap, path);
    for (const char *s; (s = va_arg(ap, const char *)) != NULL;)
        if (!strstr(e.msg, s)) fail_msg("%s: expected \"%s\" in: %s", what, s, e.msg);
    va_end(ap);
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static int setup(void **state) {
    (void)state;
    strcpy(tmpdir, "/tmp/netc_test_st_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Names in tmpdir containing ".tmp.": leftovers of an atomic write. */
static int count_temp_files(void) {
    DIR *d = opendir(tmpdir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *de; (de = readdir(d)) != NULL;) n += strstr(de->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

/* ---- round trip ----------------------------------------------------------------- */

static float conv_w[12];
static int64_t labels[4] = {-1, 0, 7, (int64_t)1 << 40};
static uint8_t mask[3] = {0, 1, 255};
static float scalar = 3.25f;

static int make_sample(const char *path, Error *e) {
    for (int i = 0; i < 12; i++) conv_w[i] = 0.5f * (float)i - 1.0f;
    StWrite w[] = {
        {"conv.weight", "F32", 4, {2, 3, 1, 2}, conv_w, sizeof conv_w},
        {"labels", "I64", 1, {4}, labels, sizeof labels},
        {"mask", "U8", 1, {3}, mask, sizeof mask},
        {"scalar", "F32", 0, {0}, &scalar, 4},
        {"empty", "F32", 2, {0, 5}, NULL, 0},
    };
    const char *meta[] = {"format", "pt", "note", "quote \" slash \\ e\xcc\x81 \n end", NULL};
    return st_write(path, w, ARRAY_LEN(w), meta, e);
}

static void test_round_trip(void **state) {
    (void)state;
    const char *path = tpath("round.safetensors");
    Error e = {{0}};
    assert_int_equal(make_sample(path, &e), 0);
    StFile f;
    if (st_open(&f, path, &e) != 0) fail_msg("%s", e.msg);
    assert_int_equal(f.n, 5);
    /* header order is the reference's: larger elements first, then by name */
    const char *order[] = {"labels", "conv.weight", "empty", "scalar", "mask"};
    uint64_t at = 0;
    for (int i = 0; i < 5; i++) {
        assert_string_equal(f.tensors[i].name, order[i]);
        assert_true(f.tensors[i].begin == at); /* contiguous from 0 */
        assert_true(f.tensors[i].begin % (uint64_t)st_dtype_size(f.tensors[i].dtype) == 0);
        at = f.tensors[i].end;
    }
    assert_true(at == f.data_len);
    assert_true((f.data - (uint8_t *)f.map) % 8 == 0); /* header padded to 8 */

    const StTensor *t = st_find(&f, "conv.weight");
    assert_non_null(t);
    assert_string_equal(t->dtype, "F32");
    char shape[64];
    st_shape_str(t->shape, t->ndim, shape, sizeof shape);
    assert_string_equal(shape, "[2, 3, 1, 2]");
    assert_int_equal(st_numel(t), 12);
    float got[12];
    assert_int_equal(st_read_f32(&f, t, got, 12, &e), 0);
    assert_memory_equal(got, conv_w, sizeof conv_w);

    t = st_find(&f, "labels");
    assert_string_equal(t->dtype, "I64");
    assert_memory_equal(st_bytes(&f, t), labels, sizeof labels);
    t = st_find(&f, "mask");
    assert_string_equal(t->dtype, "U8");
    assert_memory_equal(st_bytes(&f, t), mask, sizeof mask);
    t = st_find(&f, "scalar");
    assert_int_equal(t->ndim, 0);
    st_shape_str(t->shape, t->ndim, shape, sizeof shape);
    assert_string_equal(shape, "[]");
    assert_int_equal(st_read_f32(&f, t, got, 1, &e), 0);
    assert_true(got[0] == 3.25f);
    t = st_find(&f, "empty");
    assert_int_equal(st_numel(t), 0);
    assert_int_equal(st_read_f32(&f, t, got, 0, &e), 0);
    assert_null(st_find(&f, "nope"));

    assert_int_equal(f.n_meta, 2);
    assert_string_equal(st_meta(&f, "format"), "pt");
    assert_string_equal(st_meta(&f, "note"), "quote \" slash \\ e\xcc\x81 \n end");
    assert_null(st_meta(&f, "nope"));
    st_close(&f);
    st_close(&f); /* twice is harmless */
    assert_int_equal(count_temp_files(), 0);
}

/* Byte for byte what the reference serializer writes for the same tensor. */
static void test_exact_layout(void **state) {
    (void)state;
    const char *path = tpath("layout.safetensors");
    float x[2] = {1.0f, -2.0f};
    StWrite w = {"x", "F32", 1, {2}, x, sizeof x};
    const char *meta[] = {"a", "b", NULL};
    Error e = {{0}};
    assert_int_equal(st_write(path, &w, 1, meta, &e), 0);
    const char header[] = "{\"__metadata__\":{\"a\":\"b\"},\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    size_t hl = sizeof header - 1, padded = (hl + 7) / 8 * 8, n;
    uint8_t *got = slurp(path, &n);
    assert_int_equal(n, 8 + padded + 8);
    assert_int_equal(got[0], padded);
    assert_memory_equal(got + 1, "\0\0\0\0\0\0\0", 7);
    assert_memory_equal(got + 8, header, hl);
    for (size_t i = hl; i < padded; i++) assert_int_equal(got[8 + i], ' ');
    assert_memory_equal(got + 8 + padded, "\x00\x00\x80\x3f\x00\x00\x00\xc0", 8);
    free(got);
}

/* ---- conversion to float32 --------------------------------------------------- */

static uint32_t f32_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

static void check_converted(const char *dtype, const void *raw, size_t nbytes, const uint32_t *want, int n) {
    const char *path = tpath("conv.safetensors");
    StWrite w = {"t", dtype, 1, {n}, raw, nbytes};
    Error e = {{0}};
    StFile f;
    assert_int_equal(st_write(path, &w, 1, NULL, &e), 0);
    assert_int_equal(st_open(&f, path, &e), 0);
    float got[16];
    if (st_read_f32(&f, &f.tensors[0], got, (size_t)n, &e) != 0) fail_msg("%s", e.msg);
    for (int i = 0; i < n; i++)
        if (f32_bits(got[i]) != want[i]) fail_msg("%s element %d: got 0x%08X, want 0x%08X", dtype, i, f32_bits(got[i]), want[i]);
    st_close(&f);
}

static void test_convert_known_bits(void **state) {
    (void)state;
    /* F16: 1, -2, 65504, 2^-24 (smallest subnormal), largest subnormal, -0,
     * +inf, -inf, NaN, 2^-14 (smallest normal), 0.333251953125 */
    const uint16_t h[] = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x03FF, 0x8000, 0x7C00, 0xFC00, 0x7E00, 0x0400, 0x3555};
    const uint32_t hw[] = {0x3F800000, 0xC0000000, 0x477FE000, 0x33800000, 0x387FC000, 0x80000000,
                           0x7F800000, 0xFF800000, 0x7FC00000, 0x38800000, 0x3EAAA000};
    check_converted("F16", h, sizeof h, hw, ARRAY_LEN(h));
    /* BF16: 1, -123.5, +inf, NaN, the smallest subnormal, -0 */
    const uint16_t b[] = {0x3F80, 0xC2F7, 0x7F80, 0x7FC0, 0x0001, 0x8000};
    const uint32_t bw[] = {0x3F800000, 0xC2F70000, 0x7F800000, 0x7FC00000, 0x00010000, 0x80000000};
    check_converted("BF16", b, sizeof b, bw, ARRAY_LEN(b));
    /* F64: 1, -2.5, 1e300 and -1e300 (beyond float: inf), 1e-50 (below: 0), pi (rounded), NaN */
    const double d[] = {1.0, -2.5, 1e300, -1e300, 1e-50, 3.141592653589793, NAN};
    const uint32_t dw[] = {0x3F800000, 0xC0200000, 0x7F800000, 0xFF800000, 0x00000000, 0x40490FDB, 0x7FC00000};
    check_converted("F64", d, sizeof d, dw, ARRAY_LEN(d));
    /* F32 is copied bit for bit, NaN payloads and subnormals included */
    const uint32_t f[] = {0x00000001, 0x7FA00001, 0xFF800000, 0x3F800000};
    check_converted("F32", f, sizeof f, f, ARRAY_LEN(f));
}

/* Every one of the 65,536 halves against the compiler's own conversion. */
static void test_f16_exhaustive(void **state) {
    (void)state;
#ifdef __FLT16_MAX__
    static uint16_t all[65536];
    static float got[65536];
    for (int i = 0; i < 65536; i++) all[i] = (uint16_t)i;
    const char *path = tpath("f16.safetensors");
    StWrite w = {"h", "F16", 1, {65536}, all, sizeof all};
    Error e = {{0}};
    StFile f;
    assert_int_equal(st_write(path, &w, 1, NULL, &e), 0);
    assert_int_equal(st_open(&f, path, &e), 0);
    assert_int_equal(st_read_f32(&f, &f.tensors[0], got, 65536, &e), 0);
    for (int i = 0; i < 65536; i++) {
        _Float16 x;
        memcpy(&x, &all[i], 2);
        float want = (float)x;
        if (isnan(want) ? !isnan(got[i]) : f32_bits(got[i]) != f32_bits(want))
            fail_msg("F16 0x%04X: got %a, want %a", i, got[i], want);
    }
    st_close(&f);
#else
    skip();
#endif
}

static void test_read_errors(void **state) {
    (void)state;
    const char *path = tpath("readerr.safetensors");
    Error e = {{0}};
    StFile f;
    assert_int_equal(make_sample(path, &e), 0);
    assert_int_equal(st_open(&f, path, &e), 0);
    float buf[16];
    assert_int_equal(st_read_f32(&f, st_find(&f, "labels"), buf, 4, &e), -1);
    assert_non_null(strstr(e.msg, "tensor 'labels' is I64 [4]; only F32, F16, BF16 and F64 can be read as float32"));
    assert_non_null(strstr(e.msg, path));
    assert_int_equal(st_read_f32(&f, st_find(&f, "mask"), buf, 3, &e), -1);
    assert_non_null(strstr(e.msg, "'mask' is U8 [3]"));
    assert_int_equal(st_read_f32(&f, st_find(&f, "conv.weight"), buf, 11, &e), -1);
    assert_non_null(strstr(e.msg, "tensor 'conv.weight' is F32 [2, 3, 1, 2] with 12 elements, but the network expects 11 here"));
    assert_non_null(strstr(e.msg, "HINT"));
    /* a tensor description that does not come from this file cannot read outside it */
    StTensor fake = *st_find(&f, "conv.weight");
    fake.begin += 1u << 20, fake.end += 1u << 20;
    assert_int_equal(st_read_f32(&f, &fake, buf, 12, &e), -1);
    assert_non_null(strstr(e.msg, "does not lie inside"));
    st_close(&f);
}

/* ---- malformed headers ---------------------------------------------------------- */

typedef struct {
    const char *what, *header;
    size_t data_len;
    const char *say[3];
} BadHeader;

#define T(dtype, shape, offsets) "{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":" offsets "}"

static const BadHeader bad_headers[] = {
    {"not JSON", "hello world", 0, {"the header is not valid JSON", "at byte 0", "HINT"}},
    {"JSON but not an object", "[1, 2]", 0, {"the header is an array, expected an object"}},
    {"trailing text", "{}  }", 0, {"not valid JSON", "after the end"}},
    {"outside the data", "{\"w\":" T("F32", "[2]", "[1000,1008]") "}", 8,
     {"is truncated: the header promises 1008 bytes of data, the file has 8", "tensor 'w' needs bytes 1000 to 1008", "HINT"}},
    {"overlap", "{\"a\":" T("F32", "[4]", "[0,16]") ",\"b\":" T("F32", "[4]", "[8,24]") "}", 24,
     {"tensors 'a' (bytes 0 to 16) and 'b' (bytes 8 to 24) overlap"}},
    {"overlap inside", "{\"c\":" T("F32", "[2]", "[40,48]") ",\"b\":" T("F32", "[2]", "[8,16]") ",\"a\":" T("F32", "[8]", "[0,32]") "}",
     48, {"tensors 'a' (bytes 0 to 32) and 'b' (bytes 8 to 16) overlap"}},
    {"same bytes twice", "{\"a\":" T("F32", "[2]", "[0,8]") ",\"b\":" T("F32", "[2]", "[0,8]") "}", 8, {"'a'", "'b'", "overlap"}},
    {"wrong byte count", "{\"features.0.weight\":" T("F32", "[64, 3, 11, 11]", "[0, 100]") "}", 100,
     {"tensor 'features.0.weight': data_offsets [0, 100] hold 100 bytes, but F32 [64, 3, 11, 11] needs 92928",
      "HINT: the file is damaged or was not written as safetensors; re-export it"}},
    {"unknown dtype", "{\"w\":" T("F33", "[2]", "[0,8]") "}", 8, {"tensor 'w': unknown dtype 'F33' (expected one of F64 F32 F16 BF16"}},
    {"lower-case dtype", "{\"w\":" T("f32", "[2]", "[0,8]") "}", 8, {"tensor 'w': unknown dtype 'f32'"}},
    {"long dtype", "{\"w\":" T("FLOAT32_WIDE", "[2]", "[0,8]") "}", 8, {"tensor 'w': unknown dtype 'FLOAT32_WIDE'"}},
    {"numeric dtype", "{\"w\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
     {"tensor 'w': dtype is a number, expected a string such as \"F32\""}},
    {"negative dim", "{\"w\":" T("F32", "[2,-3]", "[0,8]") "}", 8, {"tensor 'w': shape[1] is -3; sizes cannot be negative"}},
    {"dims overflow", "{\"w\":" T("F32", "[4294967296,4294967296]", "[0,4]") "}", 4,
     {"tensor 'w': F32 [4294967296, 4294967296] has too many elements to count in 64 bits"}},
    {"bytes overflow", "{\"w\":" T("F32", "[4611686018427387904]", "[0,4]") "}", 4, {"tensor 'w'", "too many elements"}},
    {"overflow then zero", "{\"w\":" T("F32", "[4294967296,4294967296,0]", "[0,0]") "}", 0, {NULL}},
    {"dim beyond int64", "{\"w\":" T("F32", "[99999999999999999999]", "[0,4]") "}", 4,
     {"tensor 'w': shape[0] is 99999999999999999999, too large for a size"}},
    {"fractional dim", "{\"w\":" T("F32", "[2.5]", "[0,8]") "}", 8, {"tensor 'w': shape[0] is 2.5, expected a non-negative integer"}},
    {"exponent dim", "{\"w\":" T("F32", "[2e0]", "[0,8]") "}", 8, {"shape[0] is 2e0, expected a non-negative integer"}},
    {"string dim", "{\"w\":" T("F32", "[\"2\"]", "[0,8]") "}", 8, {"tensor 'w': shape[0] is a string"}},
    {"nine dims", "{\"w\":" T("F32", "[1,1,1,1,1,1,1,1,1]", "[0,4]") "}", 4, {"tensor 'w': shape has 9 dimensions; netc reads at most 8"}},
    {"shape not array", "{\"w\":" T("F32", "2", "[0,8]") "}", 8, {"tensor 'w': shape is a number, expected an array"}},
    {"duplicate name", "{\"w\":" T("F32", "[1]", "[0,4]") ",\"w\":" T("F32", "[1]", "[4,8]") "}", 8,
     {"tensor 'w' appears twice in the header"}},
    {"metadata number", "{\"__metadata__\":{\"format\":\"pt\",\"epoch\":3},\"w\":" T("F32", "[1]", "[0,4]") "}", 4,
     {"__metadata__ value for 'epoch' is a number; safetensors metadata values must be strings"}},
    {"metadata nested", "{\"__metadata__\":{\"k\":{}}}", 0, {"__metadata__ value for 'k' is an object"}},
    {"metadata array", "{\"__metadata__\":[\"a\"]}", 0, {"__metadata__ is an array, expected an object of strings"}},
    {"metadata twice", "{\"__metadata__\":{},\"__metadata__\":{}}", 0, {"__metadata__ appears twice"}},
    {"metadata key twice", "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, {"__metadata__ key 'k' appears twice"}},
    {"unknown field", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"offsets\":[0,4]}}", 4,
     {"tensor 'w': unknown field 'offsets' (expected exactly dtype, shape and data_offsets)"}},
    {"extra field", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"extra\":1}}", 4, {"tensor 'w': unknown field 'extra'"}},
    {"missing field", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, {"tensor 'w': missing field 'data_offsets'"}},
    {"field twice", "{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
     {"tensor 'w': field 'dtype' appears twice"}},
    {"end before begin", "{\"w\":" T("F32", "[2]", "[8,0]") "}", 8, {"tensor 'w': data_offsets [8, 0] end before they begin"}},
    {"three offsets", "{\"w\":" T("F32", "[2]", "[0,8,8]") "}", 8, {"tensor 'w': data_offsets is an array too long, expected [begin, end]"}},
    {"offsets not array", "{\"w\":" T("F32", "[2]", "8") "}", 8, {"tensor 'w': data_offsets is a number, expected [begin, end]"}},
    {"negative offset", "{\"w\":" T("F32", "[2]", "[-8,0]") "}", 8, {"tensor 'w': data_offsets[0] is -8, expected a non-negative integer"}},
    {"offset 2^64", "{\"w\":" T("F32", "[2]", "[0,18446744073709551616]") "}", 8, {"tensor 'w': data_offsets[1] is 18446744073709551616"}},
    {"tensor not object", "{\"w\":5}", 0, {"tensor 'w': is a number, expected an object"}},
    {"NUL in name", "{\"a\\u0000b\":" T("F32", "[1]", "[0,4]") "}", 4, {"tensor 'a", "contains \\u0000"}},
    {"bad escape in name", "{\"a\\qb\":" T("F32", "[1]", "[0,4]") "}", 4, {"not valid JSON", "unknown escape \\q"}},
};

static void test_malformed_headers(void **state) {
    (void)state;
    for (int i = 0; i < ARRAY_LEN(bad_headers); i++) {
        const BadHeader *b = &bad_headers[i];
        const char *path = tpath("bad.safetensors");
        write_raw(path, b->header, UINT64_MAX, b->data_len);
        if (!b->say[0]) { /* a case that must be accepted */
            StFile f;
            Error e;
            if (st_open(&f, path, &e) != 0) fail_msg("%s: %s", b->what, e.msg);
            st_close(&f);
            continue;
        }
        expect_open_fail(b->what, path, b->say[0], b->say[1] ? b->say[1] : "", b->say[2] ? b->say[2] : "", NULL);
    }
}

static void test_deep_nesting(void **state) {
    (void)state;
    char header[4096] = "{\"w\":{\"dtype\":";
    size_t n = strlen(header);
    for (int i = 0; i < 1000; i++) header[n++] = '[';
    header[n] = 0;
    write_raw(tpath("deep.safetensors"), header, UINT64_MAX, 0);
    expect_open_fail("deep nesting", tpath("deep.safetensors"), "not valid JSON", "nesting deeper than 64 levels", NULL);
}

/* Accepted although not what st_write produces: any order, holes, empty tensors,
 * white space, a null __metadata__ (the reference accepts all of them). */
static void test_lenient_but_valid(void **state) {
    (void)state;
    const char *path = tpath("odd.safetensors");
    write_raw(path, " { \"__metadata__\" : null , \"z\":" T("F32", "[2]", "[16,24]") ",\n\"e\":" T("F32", "[0]", "[4,4]")
                    ", \"a\":" T("BF16", "[2, 2]", "[0,8]") " }  ", UINT64_MAX, 32);
    StFile f;
    Error e;
    if (st_open(&f, path, &e) != 0) fail_msg("%s", e.msg);
    assert_int_equal(f.n, 3);
    assert_int_equal(f.n_meta, 0);
    assert_string_equal(f.tensors[0].name, "z");
    assert_true(st_find(&f, "a")->end == 8);
    assert_int_equal(f.data_len, 32);
    st_close(&f);
}

/* ---- truncation and a lying length ------------------------------------------------ */

static void test_truncated(void **state) {
    (void)state;
    const char *full = tpath("full.safetensors"), *cut = tpath("cut.safetensors");
    Error e;
    assert_int_equal(make_sample(full, &e), 0);
    size_t len;
    uint8_t *bytes = slurp(full, &len);
    size_t hlen = bytes[0] | (size_t)bytes[1] << 8, data = len - 8 - hlen;
    assert_true(data == 12 * 4 + 4 * 8 + 3 + 4);
    const size_t cuts[] = {0, 3, 7, 8, 9, 8 + hlen / 2, 8 + hlen - 1, 8 + hlen, 8 + hlen + 1, len - 1};
    for (int i = 0; i < ARRAY_LEN(cuts); i++) {
        size_t k = cuts[i];
        char want[256], what[64];
        write_bytes(cut, bytes, k);
        snprintf(what, sizeof what, "cut at %zu of %zu", k, len);
        if (k < 8) {
            snprintf(want, sizeof want, "is %zu bytes, too short for a safetensors file", k);
        } else if (k < 8 + hlen) {
            snprintf(want, sizeof want, "is truncated: the header length says %zu bytes of JSON follow, the file has only %zu after the length",
                     hlen, k - 8);
        } else {
            /* "mask" (U8) comes last in the data, so it is the tensor cut off */
            snprintf(want, sizeof want, "is truncated: the header promises %zu bytes of data, the file has %zu "
                     "(tensor 'mask' needs bytes %zu to %zu)", data, k - 8 - hlen, data - 3, data);
        }
        expect_open_fail(what, cut, want, "HINT", NULL);
    }
    free(bytes);
}

static void set_len(uint8_t *bytes, uint64_t v) {
    for (int i = 0; i < 8; i++) bytes[i] = (uint8_t)(v >> (8 * i));
}

static void test_header_length_lies(void **state) {
    (void)state;
    const char *full = tpath("full.safetensors"), *lie = tpath("lie.safetensors");
    Error e;
    assert_int_equal(make_sample(full, &e), 0);
    size_t len;
    uint8_t *bytes = slurp(full, &len);
    uint64_t hlen = bytes[0] | (uint64_t)bytes[1] << 8;
    set_len(bytes, (uint64_t)1 << 40);
    write_bytes(lie, bytes, len);
    expect_open_fail("2^40", lie, "the header length says 1099511627776 bytes of JSON, more than the 100000000", NULL);
    set_len(bytes, UINT64_MAX);
    write_bytes(lie, bytes, len);
    expect_open_fail("2^64-1", lie, "says 18446744073709551615 bytes of JSON", NULL);
    set_len(bytes, hlen - 9);
    write_bytes(lie, bytes, len);
    expect_open_fail("too short", lie, "the header is not valid JSON", NULL);
    set_len(bytes, hlen + 8);
    write_bytes(lie, bytes, len);
    expect_open_fail("too long", lie, "the header is not valid JSON", "after the end of the JSON value", NULL);
    set_len(bytes, len);
    write_bytes(lie, bytes, len);
    char want[128];
    snprintf(want, sizeof want, "the header length says %zu bytes of JSON follow, the file has only %zu after", len, len - 8);
    expect_open_fail("past the end", lie, want, NULL);
    free(bytes);
    /* a PyTorch zip checkpoint gets pointed at the converter */
    uint8_t zip[64] = "PK\3\4\x14\0\0\0\x08\0";
    write_bytes(lie, zip, sizeof zip);
    expect_open_fail("zip", lie, "more than the 100000000", "tools/pth2safetensors.py", NULL);
}

static void test_open_errors(void **state) {
    (void)state;
    expect_open_fail("missing", tpath("nothing-here.safetensors"), "cannot open: No such file or directory", NULL);
    expect_open_fail("folder", tmpdir, "not a regular file", NULL);
    write_bytes(tpath("empty.safetensors"), "", 0);
    expect_open_fail("empty", tpath("empty.safetensors"), "is 0 bytes, too short", NULL);
}

/* ---- fuzz: random damage never crashes and never reads outside the file ------------ */

static uint64_t rng = 0x9E3779B97F4A7C15u;
static uint64_t next_rand(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}

/* What an accepted file must satisfy; reading every tensor lets ASan/valgrind see overruns. */
static void check_accepted(const StFile *f) {
    assert_true(f->data >= (const uint8_t *)f->map + 8);
    assert_true(f->data + f->data_len == (const uint8_t *)f->map + f->map_len);
    for (int i = 0; i < f->n; i++) {
        const StTensor *t = &f->tensors[i];
        assert_true(t->begin <= t->end && t->end <= f->data_len);
        assert_true(t->end - t->begin == (uint64_t)st_numel(t) * (uint64_t)st_dtype_size(t->dtype));
        size_t n = (size_t)st_numel(t);
        float *buf = malloc(n * sizeof *buf + 1);
        Error e;
        int rc = st_read_f32(f, t, buf, n, &e);
        int is_float = !strcmp(t->dtype, "F32") || !strcmp(t->dtype, "F16") || !strcmp(t->dtype, "BF16") || !strcmp(t->dtype, "F64");
        assert_int_equal(rc, is_float ? 0 : -1);
        const uint8_t *p = st_bytes(f, t);
        unsigned sum = 0;
        for (uint64_t k = 0; k < t->end - t->begin; k++) sum += p[k];
        (void)sum;
        free(buf);
    }
}

static void test_fuzz(void **state) {
    (void)state;
    const char *full = tpath("full.safetensors"), *fz = tpath("fuzz.safetensors");
    Error e;
    assert_int_equal(make_sample(full, &e), 0);
    size_t len;
    uint8_t *orig = slurp(full, &len), *bytes = malloc(len);
    size_t hend = 8 + (orig[0] | (size_t)orig[1] << 8);
    static const char syntax[] = "{}[],:\"0123456789-+.eE\\u \x00\xff";
    int ok = 0, failed = 0;
    for (int it = 0; it < 2000; it++) {
        memcpy(bytes, orig, len);
        size_t n = len;
        int op = (int)(next_rand() % 4), flips = 1 + (int)(next_rand() % 4);
        for (int k = 0; op != 2 && k < flips; k++) {
            size_t at = op == 1 ? next_rand() % len : next_rand() % hend; /* mostly the header: that is where the parsing is */
            if (op == 3) bytes[at] = (uint8_t)syntax[next_rand() % (sizeof syntax - 1)];
            else bytes[at] ^= (uint8_t)(1u << (next_rand() % 8));
        }
        if (op == 2 || next_rand() % 8 == 0) n = next_rand() % (len + 1);
        write_bytes(fz, bytes, n);
        StFile f;
        memset(&f, 0xAB, sizeof f);
        e.msg[0] = 0;
        if (st_open(&f, fz, &e) == 0) {
            check_accepted(&f);
            st_close(&f);
            ok++;
        } else {
            assert_true(is_zeroed(&f));
            if (strncmp(e.msg, fz, strlen(fz)) != 0) fail_msg("iteration %d: message does not start with the path: %s", it, e.msg);
            failed++;
        }
    }
    print_message("fuzz: %d damaged files accepted (damage in the data or harmless), %d rejected\n", ok, failed);
    assert_true(ok >= 50 && failed >= 1500); /* both paths well exercised */
    free(orig), free(bytes);
}

/* ---- writing ------------------------------------------------------------------------- */

static void test_write_missing_folder(void **state) {
    (void)state;
    float x = 1;
    StWrite w = {"x", "F32", 1, {1}, &x, 4};
    Error e = {{0}};
    const char *path = tpath("no/such/folder/w.safetensors");
    assert_int_equal(st_write(path, &w, 1, NULL, &e), -1);
    assert_non_null(strstr(e.msg, path));
    assert_non_null(strstr(e.msg, "cannot create it: No such file or directory"));
    assert_non_null(strstr(e.msg, "the folder '"));
    assert_non_null(strstr(e.msg, "/no/such/folder' does not exist; create it first"));
    assert_int_equal(access(tpath("no"), F_OK), -1);
    assert_int_equal(count_temp_files(), 0);
    /* a folder in the way of the file: the rename fails, and the temp file goes */
    mkdir(tpath("adir"), 0755);
    write_bytes(tpath("adir/keep"), "k", 1);
    assert_int_equal(st_write(tpath("adir"), &w, 1, NULL, &e), -1);
    assert_non_null(strstr(e.msg, "writing failed"));
    assert_int_equal(count_temp_files(), 0);
}

/* A bad request is an error and the file already there stays as it was. */
static void test_write_rejects_keeps_old(void **state) {
    (void)state;
    const char *path = tpath("keep.safetensors");
    Error e = {{0}};
    assert_int_equal(make_sample(path, &e), 0);
    float x[4] = {0};
    const StWrite bad[][2] = {
        {{"x", "F32", 2, {2, 2}, x, 12}},
        {{"x", "F32", 1, {4}, x, 16}, {"x", "F32", 1, {4}, x, 16}},
        {{"x", "F31", 1, {4}, x, 16}},
        {{"__metadata__", "F32", 1, {4}, x, 16}},
        {{"x", "F32", 1, {-4}, x, 16}},
        {{"x", "F32", 9, {1, 1, 1, 1, 1, 1, 1, 1}, x, 4}},
        {{"x\xff", "F32", 1, {4}, x, 16}},
        {{"x", "F32", 1, {4}, NULL, 16}},
        {{"x", "F32", 2, {INT64_MAX, 2}, x, 16}},
    };
    const int nbad[] = {1, 2, 1, 1, 1, 1, 1, 1, 1};
    const char *say[] = {"tensor 'x': 12 bytes given, but F32 [2, 2] needs 16", "tensor 'x' is given twice",
                         "tensor 'x': unknown dtype 'F31'", "'__metadata__' is reserved",
                         "tensor 'x' has a negative size", "tensor 'x' has 9 dimensions; 0 to 8 are allowed",
                         "tensor 0: its name is not UTF-8", "tensor 'x' has no data",
                         "tensor 'x': F32 [9223372036854775807, 2] has too many elements to count in 64 bits"};
    for (int i = 0; i < ARRAY_LEN(bad); i++) {
        assert_int_equal(st_write(path, bad[i], nbad[i], NULL, &e), -1);
        if (!strstr(e.msg, say[i]) || !strstr(e.msg, path)) fail_msg("case %d: expected \"%s\" in: %s", i, say[i], e.msg);
    }
    const StWrite good = {"x", "F32", 1, {4}, x, 16};
    const char *odd_meta[] = {"k", NULL};
    assert_int_equal(st_write(path, &good, 1, odd_meta, &e), -1);
    assert_non_null(strstr(e.msg, "metadata key 'k' has no value"));
    const char *dup_meta[] = {"k", "1", "k", "2", NULL};
    assert_int_equal(st_write(path, &good, 1, dup_meta, &e), -1);
    assert_non_null(strstr(e.msg, "metadata key 'k' is given twice"));
    StFile f;
    assert_int_equal(st_open(&f, path, &e), 0);
    assert_int_equal(f.n, 5); /* still the sample */
    st_close(&f);
    /* and a good write replaces it whole */
    assert_int_equal(st_write(path, &good, 1, NULL, &e), 0);
    assert_int_equal(st_open(&f, path, &e), 0);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.n_meta, 0);
    st_close(&f);
    assert_int_equal(count_temp_files(), 0);
}

/* ---- the real pretrained file ---------------------------------------------------- */

static void test_pretrained_squeezenet(void **state) {
    (void)state;
    if (access(SQUEEZENET, R_OK) != 0) {
        print_message("%s not found; skipped\n", SQUEEZENET);
        skip();
    }
    StFile f;
    Error e;
    if (st_open(&f, SQUEEZENET, &e) != 0) fail_msg("%s", e.msg);
    assert_int_equal(f.n, 52); /* 26 weight + bias pairs */
    const StTensor *t = st_find(&f, "features.0.weight");
    assert_non_null(t);
    char shape[64];
    st_shape_str(t->shape, t->ndim, shape, sizeof shape);
    assert_string_equal(shape, "[96, 3, 7, 7]");
    t = st_find(&f, "classifier.1.weight");
    assert_non_null(t);
    st_shape_str(t->shape, t->ndim, shape, sizeof shape);
    assert_string_equal(shape, "[1000, 512, 1, 1]");
    assert_string_equal(t->dtype, "F32");
    assert_string_equal(st_meta(&f, "model"), "squeezenet1_0");
    float *w = malloc(512000 * sizeof *w);
    assert_int_equal(st_read_f32(&f, t, w, 512000, &e), 0);
    /* reference figures from Python's json + struct reading the same file */
    double sum = 0, amax = 0;
    for (int i = 0; i < 512000; i++) {
        assert_true(isfinite(w[i]));
        sum += w[i];
        amax = fmax(amax, fabs(w[i]));
    }
    assert_true(w[1] == -0.03567560762166977f);
    assert_float_equal(amax, 0.4999186396598816, 1e-9);
    assert_float_equal(sum, -1765.9888464754913, 1e-3);
    free(w);
    st_close(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_exact_layout),
        cmocka_unit_test(test_convert_known_bits),
        cmocka_unit_test(test_f16_exhaustive),
        cmocka_unit_test(test_read_errors),
        cmocka_unit_test(test_malformed_headers),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_lenient_but_valid),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_header_length_lies),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_fuzz),
        cmocka_unit_test(test_write_missing_folder),
        cmocka_unit_test(test_write_rejects_keeps_old),
        cmocka_unit_test(test_pretrained_squeezenet),
    };
    return cmocka_run_group_tests_name("safetensors", tests, setup, teardown);
}
