/* util.c: errors, allocation, files (see util.h). */
#define _GNU_SOURCE
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int errorf(Error *e, const char *fmt, ...) {
    if (!e) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int error_hint(Error *e, const char *fmt, ...) {
    if (!e) return -1;
    size_t n = strlen(e->msg);
    if (n + 12 >= sizeof e->msg) return -1;
    n += (size_t)snprintf(e->msg + n, sizeof e->msg - n, "\n  HINT: ");
    va_list ap;
    va_start(ap, fmt);
    if (n < sizeof e->msg) vsnprintf(e->msg + n, sizeof e->msg - n, fmt, ap);
    va_end(ap);
    return -1;
}

static void out_of_memory(size_t n) {
    fprintf(stderr, "netc: out of memory allocating %zu bytes\n"
                    "  HINT: use a smaller --batch, or a machine with more memory\n", n);
    exit(1);
}

void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) out_of_memory(n);
    return p;
}

void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) out_of_memory(n * size);
    return p;
}

void *xrealloc(void *p, size_t n) {
    p = realloc(p, n ? n : 1);
    if (!p) out_of_memory(n);
    return p;
}

char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

/* Arrays of 4 MB or more (a model's activations, gradients, scratch) go in
 * 2 MB pages where the kernel allows (Linux's transparent huge pages, asked
 * for with madvise): a conv's channels lie a channel's images apart, so its
 * transforms touch many 4 KB pages at once, and with huge pages they miss
 * the TLB far less; smaller ones are aligned to a cache line. */
float *xalloc_floats(size_t n) {
    const size_t huge = (size_t)2 << 20;
    size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63, align = 64;
    if (n > SIZE_MAX / sizeof(float) / 2) out_of_memory(n * sizeof(float));
    if (bytes >= 2 * huge) bytes = (bytes + huge - 1) & ~(huge - 1), align = huge;
    void *p = NULL;
    if (posix_memalign(&p, align, bytes ? bytes : 64) != 0) out_of_memory(n * sizeof(float));
#ifdef MADV_HUGEPAGE
    if (align == huge) (void)madvise(p, bytes, MADV_HUGEPAGE); /* a hint: where it fails, 4 KB pages as before */
#endif
    memset(p, 0, bytes);
    return p;
}

char *read_file(const char *path, size_t *len, Error *e) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        errorf(e, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (n + 1 >= cap) buf = xrealloc(buf, cap *= 2);
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        errorf(e, "%s: read error", path);
        return NULL;
    }
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

int write_file_atomic(const char *path, const void *data, size_t len, Error *e) {
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof tmp)
        return errorf(e, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return errorf(e, "%s: cannot create: %s", tmp, strerror(errno));
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            int err = errno;
            close(fd);
            unlink(tmp);
            errorf(e, "%s: write failed: %s", path, strerror(err));
            return error_hint(e, "is the disk full? the previous %s is untouched", path);
        }
        p += w, left -= (size_t)w;
    }
    if (fsync(fd) < 0 || close(fd) < 0) {
        int err = errno;
        unlink(tmp);
        return errorf(e, "%s: cannot flush: %s", path, strerror(err));
    }
    if (rename(tmp, path) < 0) {
        int err = errno;
        unlink(tmp);
        return errorf(e, "%s: cannot rename into place: %s", path, strerror(err));
    }
    return 0;
}

int make_dirs(const char *path, Error *e) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return errorf(e, "%s: path too long", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (mkdir(buf, 0755) < 0 && errno != EEXIST) return errorf(e, "%s: cannot create folder: %s", buf, strerror(errno));
            *p = c;
            if (!c) break;
        }
    }
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) return errorf(e, "%s: not a folder", path);
    return 0;
}

double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int edit_distance(const char *a, const char *b) {
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 80 || lb > 80) return 99;
    int d[81][81];
    for (int i = 0; i <= la; i++) d[i][0] = i;
    for (int j = 0; j <= lb; j++) d[0][j] = j;
    for (int i = 1; i <= la; i++)
        for (int j = 1; j <= lb; j++) {
            int c = d[i - 1][j - 1] + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            if (d[i - 1][j] + 1 < c) c = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < c) c = d[i][j - 1] + 1;
            d[i][j] = c;
        }
    return d[la][lb];
}
