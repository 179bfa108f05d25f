/* safetensors.h: reading and writing the safetensors format
 * (8-byte little-endian header length, a JSON header, raw little-endian data).
 *
 * Every file from outside is hostile until checked: st_open validates the
 * whole header (JSON syntax, dtypes, shapes, offsets inside the file, no
 * overlaps, sizes matching shapes) before anything is read, and reading never
 * goes outside the file. Writing is atomic: a temporary file, then rename. */
#ifndef NETC_SAFETENSORS_H
#define NETC_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define ST_MAX_DIMS 8

typedef struct {
    char *name;
    char dtype[8];           /* "F32", "F16", "BF16", "F64", "I64", "I32", "U8", ... */
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    uint64_t begin, end;     /* byte offsets into the data section */
} StTensor;

typedef struct {
    char *path;
    uint8_t *data;           /* the data section (file mapped or read) */
    size_t data_len;
    void *map;               /* whole-file mapping */
    size_t map_len;
    int owned;               /* 1: map is a malloc'd copy (mmap was refused), freed not unmapped */
    StTensor *tensors;       /* in header order */
    int n;
    char **meta;             /* __metadata__ as key, value, key, value ... */
    int n_meta;
} StFile;

/* Validates the whole header, then keeps the file mapped until st_close. On
 * failure f is left zeroed (st_close on it is harmless) and e names the file,
 * the tensor and the fault. */
int st_open(StFile *f, const char *path, Error *e);
void st_close(StFile *f);
const StTensor *st_find(const StFile *f, const char *name);
const char *st_meta(const StFile *f, const char *key);
/* Element count (1 for a scalar); -1 if the shape is invalid or the count does
 * not fit in int64 (never for a tensor from st_open, which checks both). */
int64_t st_numel(const StTensor *t);
/* Bytes per element of a safetensors dtype ("F32" -> 4), 0 if unknown. */
int st_dtype_size(const char *dtype);
/* "[64, 3, 11, 11]" */
void st_shape_str(const int64_t *shape, int ndim, char *buf, size_t len);

/* Copies tensor t into dst as float32, converting from F32, F16, BF16 or F64.
 * `count` must equal its element count; anything else is an error naming the tensor. */
int st_read_f32(const StFile *f, const StTensor *t, float *dst, size_t count, Error *e);
/* Raw bytes of t; the caller checks the dtype. */
const void *st_bytes(const StFile *f, const StTensor *t);

typedef struct {
    const char *name;
    const char *dtype;       /* "F32", "I64", "U8", ... */
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const void *data;
    size_t nbytes;           /* must match dtype size * element count */
} StWrite;

/* Writes tensors (and optional metadata strings, {key, value, ..., NULL}) to
 * path atomically, laid out as the reference writer does: data ordered by
 * element size (largest first) then name, header in that order after
 * "__metadata__", padded with spaces to 8 bytes. Bad arguments (sizes that do
 * not match, duplicate names, unknown dtypes) are errors; path is untouched. */
int st_write(const char *path, const StWrite *t, int n, const char *const *meta, Error *e);

#endif
