/* pool.h: every allocation of one compilation, freed at once.
 *
 * The compiler builds trees and tables that all live until it exits; a pool
 * makes "free everything" one call (the fuzzer compiles millions of inputs in
 * one process, and must see no leaks). */
#ifndef NETC_POOL_H
#define NETC_POOL_H

#include <stddef.h>

void *pool_alloc(size_t n);                 /* zeroed; exits on out-of-memory */
void *pool_grow(void *old, size_t old_n, size_t new_n); /* copy into a bigger block */
char *pool_strdup(const char *s);
char *pool_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void pool_free_all(void);

/* Appends to a pool-allocated growable array: PUSH(v, n, cap, x) */
#define POOL_PUSH(v, n, cap, x)                                                     \
    do {                                                                            \
        if ((n) == (cap)) {                                                         \
            int newcap_ = (cap) ? 2 * (cap) : 8;                                    \
            (v) = pool_grow((v), sizeof(*(v)) * (size_t)(cap), sizeof(*(v)) * (size_t)newcap_); \
            (cap) = newcap_;                                                        \
        }                                                                           \
        (v)[(n)++] = (x);                                                           \
    } while (0)

#endif
