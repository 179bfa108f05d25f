/* safetensors.c: reading (validate everything, then map) and atomic writing of
 * safetensors files (see safetensors.h). */
#define _GNU_SOURCE
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"

/* The reference implementation refuses headers above 100 MB; so do we, so a
 * hostile length cannot make us parse (or allocate) gigabytes. */
#define ST_MAX_HEADER ((uint64_t)100000000)

#define HINT_DAMAGED "the file is damaged or was not written as safetensors; re-export it"
#define HINT_TRUNCATED "the file was cut short (an interrupted download or copy?); fetch or export it again"

static const struct {
    const char *name;
    int size;
} dtypes[] = {
    {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4}, {"I16", 2}, {"I8", 1},
    {"U8", 1}, {"BOOL", 1}, {"U64", 8}, {"U32", 4}, {"U16", 2}, {"F8_E4M3", 1}, {"F8_E5M2", 1},
};
#define DTYPE_LIST "F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL U64 U32 U16 F8_E4M3 F8_E5M2"

int st_dtype_size(const char *dtype) {
    for (int i = 0; i < ARRAY_LEN(dtypes); i++)
        if (strcmp(dtypes[i].name, dtype) == 0) return dtypes[i].size;
    return 0;
}

void st_shape_str(const int64_t *shape, int ndim, char *buf, size_t len) {
    if (!len) return;
    size_t at = 0;
    buf[0] = 0;
    for (int i = -1; i <= ndim && at < len; i++) {
        int w = i < 0 ? snprintf(buf + at, len - at, "[")
              : i == ndim ? snprintf(buf + at, len - at, "]")
              : snprintf(buf + at, len - at, "%s%" PRId64, i ? ", " : "", shape[i]);
        if (w < 0) break;
        at += (size_t)w;
    }
}

/* Element count of a shape, or -1 if it is not a shape or the count does not
 * fit in int64. A zero anywhere makes it 0, however large the other sizes. */
static int64_t shape_numel(const int64_t *shape, int ndim) {
    if (ndim < 0 || ndim > ST_MAX_DIMS) return -1;
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0) return -1;
    for (int i = 0; i < ndim; i++)
        if (shape[i] == 0) return 0;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (n > INT64_MAX / shape[i]) return -1;
        n *= shape[i];
    }
    return n;
}

int64_t st_numel(const StTensor *t) {
    return shape_numel(t->shape, t->ndim);
}

static uint64_t le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* ---- opening: map the file --------------------------------------------------- */

/* Maps (or, if mmap is refused, reads) the whole file into f->map. */
static int load_file(StFile *f, Error *e) {
    int fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        errorf(e, "%s: cannot open: %s", f->path, strerror(err));
        if (err == ENOENT && f->path[0] != '/')
            error_hint(e, "the path is relative to the folder you run in; check it, or give an absolute path");
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return errorf(e, "%s: not a regular file", f->path);
    }
    size_t size = (size_t)st.st_size;
    if (size < 8) {
        close(fd);
        errorf(e, "%s: is %zu bytes, too short for a safetensors file (it starts with an 8-byte header length)",
               f->path, size);
        return error_hint(e, HINT_TRUNCATED);
    }
    /* Read-only and private: the file cannot be changed through us. (If another
     * process truncates it while mapped, reads fault; that is the mmap bargain.) */
    void *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m != MAP_FAILED) {
        close(fd);
        f->map = m, f->map_len = size;
        return 0;
    }
    uint8_t *buf = malloc(size);
    if (!buf) {
        close(fd);
        return errorf(e, "%s: cannot map or allocate its %zu bytes", f->path, size);
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            int err = r < 0 ? errno : 0;
            close(fd);
            free(buf);
            return errorf(e, "%s: read failed after %zu of %zu bytes: %s", f->path, got, size,
                          err ? strerror(err) : "the file shrank while being read");
        }
        got += (size_t)r;
    }
    close(fd);
    f->map = buf, f->map_len = size, f->owned = 1;
    return 0;
}

/* The 8-byte length and where the header and data lie. */
static int check_lengths(StFile *f, Error *e) {
    const uint8_t *base = f->map;
    uint64_t n = le64(base);
    size_t after = f->map_len - 8;
    if (n > ST_MAX_HEADER) {
        errorf(e, "%s: the header length says %" PRIu64 " bytes of JSON, more than the %" PRIu64
                  " a safetensors header may have", f->path, n, ST_MAX_HEADER);
        if (memcmp(base, "PK\3\4", 4) == 0 || base[0] == 0x80)
            return error_hint(e, "this looks like a PyTorch .pth checkpoint, not safetensors; convert it with "
                                 "python3 tools/pth2safetensors.py %s", f->path);
        return error_hint(e, HINT_DAMAGED);
    }
    if (n > after) {
        errorf(e, "%s is truncated: the header length says %" PRIu64 " bytes of JSON follow, the file has only %zu after the length",
               f->path, n, after);
        return error_hint(e, HINT_TRUNCATED);
    }
    f->data = (uint8_t *)base + 8 + n;
    f->data_len = after - (size_t)n;
    return 0;
}

/* ---- opening: the header ------------------------------------------------------ */

typedef struct {
    StFile *f;
    Error *e;
    const char *name; /* the tensor being checked, for messages */
} Ctx;

static int tensor_error(Ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int tensor_error(Ctx *c, const char *fmt, ...) {
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    errorf(c->e, "%s: tensor '%.200s': %s", c->f->path, c->name, what);
    return error_hint(c->e, HINT_DAMAGED);
}

static int parse_dtype(Ctx *c, const Json *v, StTensor *t) {
    if (v->type != JSON_STRING)
        return tensor_error(c, "dtype is %s, expected a string such as \"F32\"", json_type_name(v));
    if (v->len >= sizeof t->dtype || strlen(v->str) != v->len || !st_dtype_size(v->str))
        return tensor_error(c, "unknown dtype '%.40s' (expected one of " DTYPE_LIST ")", v->str);
    memcpy(t->dtype, v->str, v->len + 1);
    return 0;
}

static int parse_shape(Ctx *c, const Json *v, StTensor *t) {
    if (v->type != JSON_ARRAY)
        return tensor_error(c, "shape is %s, expected an array of sizes such as [64, 3, 11, 11]", json_type_name(v));
    if (v->n > ST_MAX_DIMS)
        return tensor_error(c, "shape has %d dimensions; netc reads at most %d", v->n, ST_MAX_DIMS);
    for (int i = 0; i < v->n; i++) {
        const Json *d = &v->items[i];
        switch (json_int64(d, &t->shape[i])) {
        case JSON_INT_OK:
            if (t->shape[i] >= 0) break;
            return tensor_error(c, "shape[%d] is %s; sizes cannot be negative", i, d->str);
        case JSON_INT_NOT_NUMBER:
            return tensor_error(c, "shape[%d] is %s, expected a non-negative integer", i, json_type_name(d));
        case JSON_INT_NOT_INTEGER:
            return tensor_error(c, "shape[%d] is %.40s, expected a non-negative integer", i, d->str);
        default:
            return tensor_error(c, "shape[%d] is %.40s, too large for a size", i, d->str);
        }
    }
    t->ndim = v->n;
    return 0;
}

static int parse_offsets(Ctx *c, const Json *v, StTensor *t) {
    if (v->type != JSON_ARRAY || v->n != 2)
        return tensor_error(c, "data_offsets is %s%s, expected [begin, end]", json_type_name(v),
                            v->type == JSON_ARRAY ? (v->n < 2 ? " too short" : " too long") : "");
    uint64_t o[2];
    for (int i = 0; i < 2; i++) {
        const Json *d = &v->items[i];
        JsonIntStatus st = json_uint64(d, &o[i]);
        if (st != JSON_INT_OK)
            return tensor_error(c, "data_offsets[%d] is %.40s, expected a non-negative integer below 2^64", i,
                                d->type == JSON_NUMBER ? d->str : json_type_name(d));
    }
    if (o[0] > o[1])
        return tensor_error(c, "data_offsets [%" PRIu64 ", %" PRIu64 "] end before they begin", o[0], o[1]);
    t->begin = o[0], t->end = o[1];
    return 0;
}

/* end - begin must be exactly what dtype and shape need. */
static int check_size(Ctx *c, const StTensor *t) {
    char shape[256];
    st_shape_str(t->shape, t->ndim, shape, sizeof shape);
    int64_t numel = shape_numel(t->shape, t->ndim);
    uint64_t size = (uint64_t)st_dtype_size(t->dtype);
    if (numel < 0 || (uint64_t)numel > UINT64_MAX / size)
        return tensor_error(c, "%s %s has too many elements to count in 64 bits", t->dtype, shape);
    uint64_t need = (uint64_t)numel * size, have = t->end - t->begin;
    if (have != need)
        return tensor_error(c, "data_offsets [%" PRIu64 ", %" PRIu64 "] hold %" PRIu64 " bytes, but %s %s needs %" PRIu64,
                            t->begin, t->end, have, t->dtype, shape, need);
    return 0;
}

/* One "name": {"dtype": ..., "shape": [...], "data_offsets": [b, e]} member. */
static int parse_tensor(Ctx *c, const Json *m, StTensor *t) {
    if (m->type != JSON_OBJECT)
        return tensor_error(c, "is %s, expected an object {\"dtype\", \"shape\", \"data_offsets\"}", json_type_name(m));
    static const char *const fields[3] = {"dtype", "shape", "data_offsets"};
    const Json *got[3] = {NULL, NULL, NULL};
    for (int i = 0; i < m->n; i++) {
        const Json *fld = &m->items[i];
        int k = 0;
        while (k < 3 && strcmp(fld->key, fields[k]) != 0) k++;
        if (k == 3 || strlen(fld->key) != fld->key_len)
            return tensor_error(c, "unknown field '%.40s' (expected exactly dtype, shape and data_offsets)", fld->key);
        if (got[k]) return tensor_error(c, "field '%s' appears twice", fields[k]);
        got[k] = fld;
    }
    for (int k = 0; k < 3; k++)
        if (!got[k]) return tensor_error(c, "missing field '%s' (expected dtype, shape and data_offsets)", fields[k]);
    if (parse_dtype(c, got[0], t) < 0 || parse_shape(c, got[1], t) < 0 || parse_offsets(c, got[2], t) < 0) return -1;
    return check_size(c, t);
}

/* "__metadata__": {"key": "value", ...} (null means none, as the reference accepts). */
static int parse_meta(StFile *f, const Json *m, Error *e) {
    if (m->type == JSON_NULL) return 0;
    if (m->type != JSON_OBJECT) {
        errorf(e, "%s: __metadata__ is %s, expected an object of strings {\"key\": \"value\"}", f->path, json_type_name(m));
        return error_hint(e, HINT_DAMAGED);
    }
    f->meta = xcalloc((size_t)m->n * 2, sizeof *f->meta);
    for (int i = 0; i < m->n; i++) {
        const Json *v = &m->items[i];
        if (v->type != JSON_STRING || strlen(v->key) != v->key_len || strlen(v->str) != v->len) {
            errorf(e, "%s: __metadata__ value for '%.100s' is %s; safetensors metadata values must be strings "
                      "(without \\u0000)", f->path, v->key, json_type_name(v));
            return error_hint(e, HINT_DAMAGED);
        }
        f->meta[2 * i] = xstrdup(v->key);
        f->meta[2 * i + 1] = xstrdup(v->str);
        f->n_meta++;
    }
    return 0;
}

static int cmp_str_ptr(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The first name that occurs twice in names[0..n) (sorted in place), or NULL. */
static const char *first_duplicate(const char **names, int n) {
    qsort(names, (size_t)n, sizeof *names, cmp_str_ptr);
    for (int i = 1; i < n; i++)
        if (strcmp(names[i - 1], names[i]) == 0) return names[i];
    return NULL;
}

static int check_duplicates(StFile *f, Error *e) {
    int n = f->n > f->n_meta ? f->n : f->n_meta;
    const char **names = xmalloc((size_t)(n ? n : 1) * sizeof *names);
    for (int i = 0; i < f->n; i++) names[i] = f->tensors[i].name;
    const char *dup = first_duplicate(names, f->n);
    if (dup) errorf(e, "%s: tensor '%.200s' appears twice in the header", f->path, dup);
    for (int i = 0; !dup && i < f->n_meta; i++) names[i] = f->meta[2 * i];
    if (!dup && (dup = first_duplicate(names, f->n_meta)) != NULL)
        errorf(e, "%s: __metadata__ key '%.200s' appears twice", f->path, dup);
    free(names);
    return dup ? error_hint(e, HINT_DAMAGED) : 0;
}

/* Every tensor inside the data section; the largest end is what the header promises. */
static int check_inside(StFile *f, Error *e) {
    const StTensor *last = NULL;
    for (int i = 0; i < f->n; i++)
        if (!last || f->tensors[i].end > last->end) last = &f->tensors[i];
    if (!last || last->end <= f->data_len) return 0;
    errorf(e, "%s is truncated: the header promises %" PRIu64 " bytes of data, the file has %zu "
              "(tensor '%.200s' needs bytes %" PRIu64 " to %" PRIu64 ")",
           f->path, last->end, f->data_len, last->name, last->begin, last->end);
    return error_hint(e, HINT_TRUNCATED);
}

static int cmp_begin(const void *a, const void *b) {
    const StTensor *x = *(const StTensor *const *)a, *y = *(const StTensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* No two tensors share a byte (empty tensors occupy none); holes are harmless. */
static int check_overlaps(StFile *f, Error *e) {
    const StTensor **by = xmalloc((size_t)(f->n ? f->n : 1) * sizeof *by);
    int m = 0;
    for (int i = 0; i < f->n; i++)
        if (f->tensors[i].end > f->tensors[i].begin) by[m++] = &f->tensors[i];
    qsort(by, (size_t)m, sizeof *by, cmp_begin);
    const StTensor *reach = NULL; /* the tensor reaching furthest so far */
    int rc = 0;
    for (int i = 0; i < m && rc == 0; i++) {
        if (reach && by[i]->begin < reach->end) {
            errorf(e, "%s: tensors '%.200s' (bytes %" PRIu64 " to %" PRIu64 ") and '%.200s' (bytes %" PRIu64
                      " to %" PRIu64 ") overlap; each tensor needs its own bytes",
                   f->path, reach->name, reach->begin, reach->end, by[i]->name, by[i]->begin, by[i]->end);
            rc = error_hint(e, HINT_DAMAGED);
        }
        if (!reach || by[i]->end > reach->end) reach = by[i];
    }
    free(by);
    return rc;
}

static int parse_header(StFile *f, Error *e) {
    const char *text = (const char *)f->map + 8;
    size_t len = (size_t)(f->data - (const uint8_t *)text);
    JsonDoc doc;
    Error je;
    JsonOptions opt = {.max_depth = JSON_DEFAULT_DEPTH, .max_bytes = ST_MAX_HEADER};
    if (json_parse(&doc, text, len, &opt, &je) < 0) {
        errorf(e, "%s: the header is not valid JSON: %s", f->path, je.msg);
        return error_hint(e, HINT_DAMAGED);
    }
    const Json *root = doc.root;
    int rc = 0, seen_meta = 0;
    if (root->type != JSON_OBJECT) {
        errorf(e, "%s: the header is %s, expected an object {\"tensor name\": {...}, ...}", f->path, json_type_name(root));
        rc = error_hint(e, HINT_DAMAGED);
    } else {
        f->tensors = xcalloc((size_t)root->n + 1, sizeof *f->tensors);
    }
    for (int i = 0; rc == 0 && i < root->n; i++) {
        const Json *m = &root->items[i];
        if (strcmp(m->key, "__metadata__") == 0 && m->key_len == 12) {
            if (seen_meta++) {
                errorf(e, "%s: __metadata__ appears twice", f->path);
                rc = error_hint(e, HINT_DAMAGED);
            } else {
                rc = parse_meta(f, m, e);
            }
            continue;
        }
        Ctx c = {f, e, m->key};
        if (strlen(m->key) != m->key_len) {
            rc = tensor_error(&c, "the name contains \\u0000, which no tensor name may");
            continue;
        }
        StTensor *t = &f->tensors[f->n++];
        t->name = xstrdup(m->key);
        rc = parse_tensor(&c, m, t);
    }
    json_free(&doc);
    if (rc == 0) rc = check_duplicates(f, e);
    if (rc == 0) rc = check_inside(f, e);
    if (rc == 0) rc = check_overlaps(f, e);
    return rc;
}

int st_open(StFile *f, const char *path, Error *e) {
    memset(f, 0, sizeof *f);
    f->path = xstrdup(path);
    if (load_file(f, e) < 0 || check_lengths(f, e) < 0 || parse_header(f, e) < 0) {
        st_close(f);
        return -1;
    }
    return 0;
}

void st_close(StFile *f) {
    for (int i = 0; i < f->n; i++) free(f->tensors[i].name);
    free(f->tensors);
    for (int i = 0; i < 2 * f->n_meta; i++) free(f->meta[i]);
    free(f->meta);
    if (f->map && f->owned) free(f->map);
    else if (f->map) munmap(f->map, f->map_len);
    free(f->path);
    memset(f, 0, sizeof *f);
}

const StTensor *st_find(const StFile *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

const char *st_meta(const StFile *f, const char *key) {
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta[2 * i], key) == 0) return f->meta[2 * i + 1];
    return NULL;
}

const void *st_bytes(const StFile *f, const StTensor *t) {
    return f->data + t->begin;
}

/* ---- reading as float32 ------------------------------------------------------- */

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

static float bits_f32(uint32_t u) {
    float x;
    memcpy(&x, &u, 4);
    return x;
}

/* IEEE half to float: exact for every value, including subnormals, infinities
 * and NaNs (whose payload is kept). */
static float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = h >> 10 & 0x1F, mant = h & 0x3FF;
    if (exp == 0x1F) return bits_f32(sign | 0x7F800000 | mant << 13);
    if (exp != 0) return bits_f32(sign | (exp + 112) << 23 | mant << 13);
    float mag = (float)mant * 0x1p-24f; /* subnormal (or zero): mant * 2^-24 is exact in float */
    return sign ? -mag : mag;
}

static void convert_f32(const uint8_t *src, const char *dtype, float *dst, size_t count) {
    if (strcmp(dtype, "F32") == 0) {
        for (size_t i = 0; i < count; i++) dst[i] = bits_f32(le32(src + 4 * i)); /* compiles to a copy on x86 */
    } else if (strcmp(dtype, "F16") == 0) {
        for (size_t i = 0; i < count; i++) dst[i] = f16_to_f32(le16(src + 2 * i));
    } else if (strcmp(dtype, "BF16") == 0) {
        for (size_t i = 0; i < count; i++) dst[i] = bits_f32((uint32_t)le16(src + 2 * i) << 16);
    } else { /* F64 */
        for (size_t i = 0; i < count; i++) {
            uint64_t u = le64(src + 8 * i);
            double d;
            memcpy(&d, &u, 8);
            dst[i] = (float)d;
        }
    }
}

int st_read_f32(const StFile *f, const StTensor *t, float *dst, size_t count, Error *e) {
    char shape[256];
    st_shape_str(t->shape, t->ndim, shape, sizeof shape);
    int64_t numel = shape_numel(t->shape, t->ndim);
    int size = st_dtype_size(t->dtype);
    if (strcmp(t->dtype, "F32") && strcmp(t->dtype, "F16") && strcmp(t->dtype, "BF16") && strcmp(t->dtype, "F64")) {
        errorf(e, "%s: tensor '%.200s' is %s %s; only F32, F16, BF16 and F64 can be read as float32",
               f->path, t->name, t->dtype, shape);
        return error_hint(e, "this tensor does not hold weights netc can load; export the model's floating-point parameters");
    }
    if (numel < 0 || (uint64_t)numel != count) {
        errorf(e, "%s: tensor '%.200s' is %s %s with %" PRId64 " elements, but the network expects %zu here",
               f->path, t->name, t->dtype, shape, numel, count);
        return error_hint(e, "the layer's sizes in the .net file do not match this weight file; compare them with the shapes above");
    }
    /* A StTensor not from st_open (or altered since) must still not read outside the file. */
    if (t->begin > t->end || t->end > f->data_len || t->end - t->begin != (uint64_t)numel * (uint64_t)size)
        return errorf(e, "%s: tensor '%.200s' does not lie inside this file's data", f->path, t->name);
    convert_f32(f->data + t->begin, t->dtype, dst, count);
    return 0;
}

/* ---- writing ------------------------------------------------------------------- */

/* Checks what the caller passes as carefully as what a file says: a bad
 * StWrite must be an error, never a corrupt file. */
static int check_write_args(const char *path, const StWrite *t, int n, const char *const *meta, Error *e) {
    if (n < 0 || (n > 0 && !t)) return errorf(e, "%s: st_write got %d tensors", path, n);
    for (int i = 0; i < n; i++) {
        const char *name = t[i].name;
        if (!name) return errorf(e, "%s: tensor %d has no name", path, i);
        if (!json_utf8_valid(name, strlen(name))) return errorf(e, "%s: tensor %d: its name is not UTF-8 text", path, i);
        if (strcmp(name, "__metadata__") == 0) return errorf(e, "%s: '__metadata__' is reserved, not a tensor name", path);
        if (!t[i].dtype || !st_dtype_size(t[i].dtype))
            return errorf(e, "%s: tensor '%.200s': unknown dtype '%.40s' (expected one of " DTYPE_LIST ")", path, name,
                          t[i].dtype ? t[i].dtype : "(null)");
        if (t[i].ndim < 0 || t[i].ndim > ST_MAX_DIMS)
            return errorf(e, "%s: tensor '%.200s' has %d dimensions; 0 to %d are allowed", path, name, t[i].ndim, ST_MAX_DIMS);
        for (int d = 0; d < t[i].ndim; d++)
            if (t[i].shape[d] < 0) return errorf(e, "%s: tensor '%.200s' has a negative size in its shape", path, name);
        char shape[256];
        st_shape_str(t[i].shape, t[i].ndim, shape, sizeof shape);
        int64_t numel = shape_numel(t[i].shape, t[i].ndim);
        uint64_t size = (uint64_t)st_dtype_size(t[i].dtype);
        if (numel < 0 || (uint64_t)numel > SIZE_MAX / size)
            return errorf(e, "%s: tensor '%.200s': %s %s has too many elements to count in 64 bits", path, name, t[i].dtype, shape);
        if ((uint64_t)numel * size != t[i].nbytes)
            return errorf(e, "%s: tensor '%.200s': %zu bytes given, but %s %s needs %" PRIu64, path, name, t[i].nbytes,
                          t[i].dtype, shape, (uint64_t)numel * size);
        if (t[i].nbytes && !t[i].data) return errorf(e, "%s: tensor '%.200s' has no data", path, name);
    }
    for (int i = 0; meta && meta[i]; i += 2) {
        if (!meta[i + 1])
            return errorf(e, "%s: metadata key '%.200s' has no value (the list is key, value, ..., NULL)", path, meta[i]);
        if (!json_utf8_valid(meta[i], strlen(meta[i])) || !json_utf8_valid(meta[i + 1], strlen(meta[i + 1])))
            return errorf(e, "%s: metadata '%.200s' is not UTF-8 text", path, meta[i]);
    }
    return 0;
}

static int check_write_duplicates(const char *path, const StWrite *t, int n, const char *const *meta, Error *e) {
    int nm = 0;
    while (meta && meta[2 * nm]) nm++;
    const char **names = xmalloc((size_t)(n > nm ? n : nm) * sizeof *names + 1);
    for (int i = 0; i < n; i++) names[i] = t[i].name;
    const char *dup = first_duplicate(names, n);
    if (dup) errorf(e, "%s: tensor '%.200s' is given twice", path, dup);
    for (int i = 0; !dup && i < nm; i++) names[i] = meta[2 * i];
    if (!dup && (dup = first_duplicate(names, nm)) != NULL) errorf(e, "%s: metadata key '%.200s' is given twice", path, dup);
    free(names);
    return dup ? -1 : 0;
}

/* The reference order: larger elements first, then by name, so that every
 * tensor's data starts at a multiple of its element size (the header is padded
 * to 8) and readers may use it in place. With one dtype it is simply by name. */
static int cmp_write(const void *a, const void *b) {
    const StWrite *x = *(const StWrite *const *)a, *y = *(const StWrite *const *)b;
    int sx = st_dtype_size(x->dtype), sy = st_dtype_size(y->dtype);
    if (sx != sy) return sy - sx;
    return strcmp(x->name, y->name);
}

/* {"__metadata__":{...},"name":{"dtype":..,"shape":[..],"data_offsets":[b,e]},...}
 * padded with spaces to a multiple of 8 bytes. */
static void build_header(JsonBuf *h, const StWrite *const *order, int n, const char *const *meta) {
    jbuf_puts(h, "{");
    if (meta && meta[0]) {
        jbuf_puts(h, "\"__metadata__\":{");
        for (int i = 0; meta[i]; i += 2) {
            if (i) jbuf_puts(h, ",");
            jbuf_string(h, meta[i], strlen(meta[i]));
            jbuf_puts(h, ":");
            jbuf_string(h, meta[i + 1], strlen(meta[i + 1]));
        }
        jbuf_puts(h, "}");
    }
    uint64_t at = 0;
    for (int i = 0; i < n; i++) {
        const StWrite *t = order[i];
        if (i || (meta && meta[0])) jbuf_puts(h, ",");
        jbuf_string(h, t->name, strlen(t->name));
        jbuf_printf(h, ":{\"dtype\":\"%s\",\"shape\":[", t->dtype);
        for (int d = 0; d < t->ndim; d++) jbuf_printf(h, "%s%" PRId64, d ? "," : "", t->shape[d]);
        jbuf_printf(h, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", at, at + t->nbytes);
        at += t->nbytes;
    }
    jbuf_puts(h, "}");
    while (h->len % 8) jbuf_puts(h, " ");
}

static int write_all(int fd, const void *data, size_t len) {
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len > ((size_t)1 << 30) ? (size_t)1 << 30 : len);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        p += w, len -= (size_t)w;
    }
    return 0;
}

/* The folder part of path ("." if none), for messages and the directory fsync. */
static void dir_of(const char *path, char *buf, size_t len) {
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(buf, len, ".");
    else if (slash == path) snprintf(buf, len, "/");
    else snprintf(buf, len, "%.*s", (int)(slash - path), path);
}

/* Streams the file into path.tmp.PID beside path, fsyncs it, renames it over
 * path and fsyncs the folder: path is either the old file or the whole new
 * one, never a part. Streaming avoids a second in-memory copy of the weights. */
static int write_stream(const char *path, const JsonBuf *h, const StWrite *const *order, int n, Error *e) {
    char tmp[4200], dir[4200];
    dir_of(path, dir, sizeof dir);
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof tmp)
        return errorf(e, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        int err = errno;
        errorf(e, "%s: cannot create it: %s", path, strerror(err));
        if (err == ENOENT) return error_hint(e, "the folder '%s' does not exist; create it first (mkdir -p %s)", dir, dir);
        return error_hint(e, "check that the folder '%s' exists and is writable", dir);
    }
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)h->len >> (8 * i));
    int rc = write_all(fd, len8, 8);
    if (rc == 0) rc = write_all(fd, h->data, h->len);
    for (int i = 0; rc == 0 && i < n; i++) rc = write_all(fd, order[i]->data, order[i]->nbytes);
    if (rc == 0) rc = fsync(fd);
    int err = errno;
    if (close(fd) < 0 && rc == 0) rc = -1, err = errno;
    if (rc == 0 && rename(tmp, path) < 0) rc = -1, err = errno;
    if (rc < 0) {
        unlink(tmp);
        errorf(e, "%s: writing failed: %s", path, strerror(err));
        return error_hint(e, "is the disk full? any previous %s is untouched", path);
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) { /* makes the rename itself durable; harmless if refused */
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

int st_write(const char *path, const StWrite *t, int n, const char *const *meta, Error *e) {
    if (check_write_args(path, t, n, meta, e) < 0 || check_write_duplicates(path, t, n, meta, e) < 0) return -1;
    const StWrite **order = xmalloc((size_t)(n ? n : 1) * sizeof *order);
    for (int i = 0; i < n; i++) order[i] = &t[i];
    qsort(order, (size_t)n, sizeof *order, cmp_write);
    JsonBuf h = {0};
    build_header(&h, order, n, meta);
    int rc = 0;
    if (h.len > ST_MAX_HEADER)
        rc = errorf(e, "%s: the header would be %zu bytes, more than the %" PRIu64 " readers accept", path, h.len, ST_MAX_HEADER);
    else
        rc = write_stream(path, &h, order, n, e);
    jbuf_free(&h);
    free(order);
    return rc;
}
