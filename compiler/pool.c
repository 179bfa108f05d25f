/* pool.c: a linked list of blocks (see pool.h). */
#include "pool.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct Block {
    struct Block *next;
    max_align_t data[];
} Block;

static Block *blocks;

void *pool_alloc(size_t n) {
    Block *b = calloc(1, sizeof(Block) + n);
    if (!b) {
        fprintf(stderr, "netc: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    b->next = blocks;
    blocks = b;
    return b->data;
}

void *pool_grow(void *old, size_t old_n, size_t new_n) {
    void *p = pool_alloc(new_n);
    if (old) memcpy(p, old, old_n < new_n ? old_n : new_n);
    return p; /* the old block is freed with the pool */
}

char *pool_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    return memcpy(pool_alloc(n), s, n);
}

char *pool_printf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = pool_alloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

void pool_free_all(void) {
    while (blocks) {
        Block *next = blocks->next;
        free(blocks);
        blocks = next;
    }
}
