/* util.h: errors, allocation and small helpers shared by netc and its trainers.
 *
 * Errors are values, not exits: a function that can fail on bad input takes an
 * Error *, fills it with one message ("what went wrong" + a HINT line where the
 * fix is obvious) and returns -1. Only main() decides to print and exit. */
#ifndef NETC_UTIL_H
#define NETC_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    char msg[2048];
} Error;

/* Sets e->msg (printf-style) and returns -1, so callers can `return errorf(...)`. */
int errorf(Error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends "\n  HINT: ..." to e->msg; returns -1. */
int error_hint(Error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Allocation that cannot fail silently: on out-of-memory it prints what was
 * asked for and exits(1); there is nothing better to do. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* 64-byte aligned, zeroed; free with free(). */
float *xalloc_floats(size_t n);

/* Reads a whole file into memory (NUL-terminated). Returns NULL and fills e. */
char *read_file(const char *path, size_t *len, Error *e);

/* Writes len bytes to path atomically: path.tmp, fsync, rename. Never leaves a
 * half-written file at path. */
int write_file_atomic(const char *path, const void *data, size_t len, Error *e);

/* mkdir -p */
int make_dirs(const char *path, Error *e);

double now_seconds(void);

/* Levenshtein distance, ignoring case (99 for strings over 80 characters):
 * what every "did you mean" suggestion is ranked by. */
int edit_distance(const char *a, const char *b);

#define ARRAY_LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))

#endif
