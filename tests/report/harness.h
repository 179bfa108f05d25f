/* harness.h: what the report, resume and predict tests share.
 *
 * The tests link tests/report/tiny.net's generated code (without its main)
 * and run the trainer the way a user does, through netc_main, in a forked
 * child whose stdout and stderr go to files: so a test can stop it with
 * SIGTERM or SIGKILL half-way, and a crash fails the test instead of killing
 * it. The data is generated: 15 classes of small JPEGs with stripes whose
 * colour, period and direction depend on the class (learnable in a few
 * epochs), some class folders named with characters HTML and JSON must
 * escape.
 *
 * The parent never runs OpenMP code itself (only its children train), so
 * forking stays safe. */
#ifndef NETC_TEST_HARNESS_H
#define NETC_TEST_HARNESS_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "imgenc.h"
#include "netc.h"
#include "safetensors.h"
#include "util.h"

extern const NetcNet netc_tiny;

/* Each test program uses some of these. */
#define HARNESS_FN static __attribute__((unused))

#define N_CLASSES 15
static const char *const class_dirs[N_CLASSES] = {
    "bedroom", "coast",  "forest", "highway", "industrial",       "kitchen & dining", "<living>", "mountain",
    "office",  "open country", "store", "street", "say \"hi\"", "tall'building", "zebra crossing",
};

static char tmp_root[256];

/* Formats into a static ring of 16 buffers (tests build many paths): copy a
 * result that must outlive 15 more calls. */
HARNESS_FN const char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
HARNESS_FN const char *fmt(const char *f, ...) {
    static char ring[16][1024];
    static int next;
    char *b = ring[next++ % 16];
    va_list ap;
    va_start(ap, f);
    vsnprintf(b, 1024, f, ap);
    va_end(ap);
    return b;
}

HARNESS_FN unsigned lcg(unsigned *s) { return *s = *s * 1664525u + 1013904223u, *s >> 8; }

/* One W x W RGB image of class k, variant i. */
HARNESS_FN void class_image(uint8_t *px, int W, int k, int i) {
    unsigned s = (unsigned)(k * 7919 + i * 104729 + 1);
    int period = 2 + k % 4, dir = k % 3, phase = (int)(lcg(&s) % 8);
    int base[3] = {40 + (k * 53) % 180, 40 + (k * 97) % 180, 40 + (k * 31) % 180};
    for (int y = 0; y < W; y++)
        for (int x = 0; x < W; x++) {
            int t = dir == 0 ? y : dir == 1 ? x : x + y;
            int on = ((t + phase) / period) % 2;
            for (int c = 0; c < 3; c++) {
                int v = base[c] + (on ? 60 : -30) + (int)(lcg(&s) % 31) - 15;
                px[(y * W + x) * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
}

HARNESS_FN void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n) {
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
        exit(1);
    }
    fclose(f);
}

/* <root>/{train,test}/<class>/img_NN.jpg */
HARNESS_FN void make_dataset(const char *root_arg, int n_train, int n_test) {
    uint8_t px[24 * 24 * 3];
    char root[512]; /* fmt's buffers are reused */
    snprintf(root, sizeof root, "%s", root_arg);
    Error e;
    for (int split = 0; split < 2; split++)
        for (int k = 0; k < N_CLASSES; k++) {
            char dir[1024];
            snprintf(dir, sizeof dir, "%s/%s/%s", root, split ? "test" : "train", class_dirs[k]);
            if (make_dirs(dir, &e) < 0) {
                fprintf(stderr, "%s\n", e.msg);
                exit(1);
            }
            int n = split ? n_test : n_train;
            for (int i = 0; i < n; i++) {
                class_image(px, 24, k, i + split * 1000);
                size_t len;
                uint8_t *jpg = jpeg_encode(px, 24, 24, 3, 92, &len);
                write_bytes(fmt("%s/img_%02d.jpg", dir, i), jpg, len);
                free(jpg);
            }
        }
}

/* A fresh folder for this test program, with the data set in <tmp>/data. */
HARNESS_FN void harness_init(int n_train, int n_test) {
    snprintf(tmp_root, sizeof tmp_root, "/tmp/netc_test_XXXXXX");
    if (!mkdtemp(tmp_root)) {
        perror("mkdtemp");
        exit(1);
    }
    make_dataset(fmt("%s/data", tmp_root), n_train, n_test);
}

HARNESS_FN void harness_cleanup(void) {
    if (!tmp_root[0] || getenv("NETC_KEEP_TEST_FILES")) return;
    if (system(fmt("rm -rf '%s'", tmp_root)) != 0) fprintf(stderr, "could not remove %s\n", tmp_root);
}

/* Starts `tiny ARGS...` (NULL-terminated) in a child; its stdout and stderr go
 * to <log>.out and <log>.err. Returns the child's pid. */
HARNESS_FN pid_t start_trainer(const char *log, const char *const *args) {
    fflush(stdout), fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(1);
    }
    if (pid == 0) {
        int out = open(fmt("%s.out", log), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = open(fmt("%s.err", log), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (out < 0 || err < 0) _exit(99);
        dup2(out, 1), dup2(err, 2);
        char *argv[64];
        int argc = 0;
        argv[argc++] = "tiny";
        for (int i = 0; args[i] && argc < 63; i++) argv[argc++] = (char *)args[i];
        argv[argc] = NULL;
        int rc = netc_main(argc, argv, &netc_tiny);
        fflush(stdout), fflush(stderr);
        _exit(rc);
    }
    return pid;
}

/* Exit code of the child, or 128 + signal. */
HARNESS_FN int wait_trainer(pid_t pid) {
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

HARNESS_FN int run_trainer(const char *log, const char *const *args) { return wait_trainer(start_trainer(log, args)); }

HARNESS_FN char *slurp(const char *path, size_t *len) {
    Error e;
    char *s = read_file(path, len, &e);
    if (!s) fprintf(stderr, "%s\n", e.msg);
    return s;
}

/* "epoch batch" of a checkpoint's position meta: 0, or -1 with the reason on stderr. */
HARNESS_FN int checkpoint_position(const char *ckpt, int *epoch, int *batch) {
    StFile f;
    Error e;
    if (st_open(&f, ckpt, &e) < 0) {
        fprintf(stderr, "%s\n", e.msg);
        return -1;
    }
    const char *pos = st_meta(&f, "position");
    int ok = pos && sscanf(pos, "%d %d", epoch, batch) == 2;
    if (!ok) fprintf(stderr, "%s: no \"epoch batch\" position in its metadata (%s)\n", ckpt, pos ? pos : "none");
    st_close(&f);
    return ok ? 0 : -1;
}

/* metrics.csv: up to max rows of 14 numbers (NAN for an empty field):
 * epoch, lr, train loss/top-1/top-5, val loss/top-1/top-5, test loss/top-1/top-5/mean per class, seconds, images/s */
#define METRIC_COLS 14
enum { COL_TRAIN_LOSS = 2, COL_VAL_LOSS = 5, COL_VAL_TOP1 = 6, COL_TEST_LOSS = 8, COL_TEST_TOP1 = 9, COL_TEST_TOP5 = 10, COL_TEST_MEAN = 11 };
HARNESS_FN int read_metrics(const char *path, double rows[][METRIC_COLS], int max) {
    char *text = slurp(path, NULL);
    if (!text) return -1;
    int n = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "epoch,", 6) == 0 || n == max) continue;
        char *p = line;
        for (int c = 0; c < METRIC_COLS; c++) {
            char *comma = strchr(p, ',');
            if (comma) *comma = 0;
            rows[n][c] = *p ? strtod(p, NULL) : NAN;
            p = comma ? comma + 1 : p + strlen(p);
        }
        n++;
    }
    free(text);
    return n;
}

/* Number of data rows in a metrics.csv (0 if it does not exist yet). */
HARNESS_FN int metrics_rows(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int n = 0, c, last = '\n';
    while ((c = fgetc(f)) != EOF) n += c == '\n', last = c;
    fclose(f);
    (void)last;
    return n > 0 ? n - 1 : 0;
}

/* Are the tensors of two safetensors files the same bytes? Every tensor of a
 * whose name starts with `prefix` ("" for all) must be in b with the same
 * dtype, shape and bytes, and b must hold no other tensor with that prefix.
 * Prints the first difference. */
HARNESS_FN int same_tensors(const char *a, const char *b, const char *prefix) {
    StFile fa, fb;
    Error e;
    if (st_open(&fa, a, &e) < 0) return fprintf(stderr, "%s\n", e.msg), 0;
    if (st_open(&fb, b, &e) < 0) return st_close(&fa), fprintf(stderr, "%s\n", e.msg), 0;
    int ok = 1, na = 0, nb = 0;
    size_t lp = strlen(prefix);
    for (int i = 0; i < fb.n; i++) nb += strncmp(fb.tensors[i].name, prefix, lp) == 0;
    for (int i = 0; i < fa.n && ok; i++) {
        const StTensor *t = &fa.tensors[i];
        if (strncmp(t->name, prefix, lp) != 0) continue;
        na++;
        const StTensor *u = st_find(&fb, t->name);
        if (!u || strcmp(t->dtype, u->dtype) != 0 || t->ndim != u->ndim || t->end - t->begin != u->end - u->begin ||
            memcmp(t->shape, u->shape, sizeof(int64_t) * (size_t)t->ndim) != 0) {
            fprintf(stderr, "tensor %s: missing or a different shape in %s\n", t->name, b);
            ok = 0;
        } else if (memcmp(st_bytes(&fa, t), st_bytes(&fb, u), t->end - t->begin) != 0) {
            const float *x = st_bytes(&fa, t), *y = st_bytes(&fb, u);
            size_t k = 0;
            while (memcmp(x + k, y + k, 4) == 0) k++;
            fprintf(stderr, "tensor %s differs between %s and %s, first at element %zu (%.9g vs %.9g)\n", t->name, a, b, k,
                    (double)x[k], (double)y[k]);
            ok = 0;
        }
    }
    if (ok && na != nb) fprintf(stderr, "%s has %d tensors '%s*', %s has %d\n", a, na, prefix, b, nb), ok = 0;
    if (ok && na == 0) fprintf(stderr, "no tensors '%s*' in %s\n", prefix, a), ok = 0;
    st_close(&fa), st_close(&fb);
    return ok;
}

/* Copies the safetensors file src to dst, every tensor as it is, with the
 * metadata `key` set to `value` (dropped when value is NULL). */
HARNESS_FN void copy_with_meta(const char *src, const char *dst, const char *key, const char *value) {
    StFile f;
    Error e;
    if (st_open(&f, src, &e) < 0) fprintf(stderr, "%s\n", e.msg), exit(1);
    StWrite *w = calloc((size_t)f.n, sizeof *w);
    for (int i = 0; i < f.n; i++) {
        const StTensor *t = &f.tensors[i];
        w[i] = (StWrite){t->name, t->dtype, t->ndim, {0}, st_bytes(&f, t), t->end - t->begin};
        memcpy(w[i].shape, t->shape, sizeof(int64_t) * (size_t)t->ndim);
    }
    const char **meta = calloc((size_t)f.n_meta * 2 + 1, sizeof(char *));
    int m = 0;
    for (int i = 0; i < 2 * f.n_meta; i += 2) {
        int ours = strcmp(f.meta[i], key) == 0;
        if (ours && !value) continue;
        meta[m++] = f.meta[i], meta[m++] = ours ? value : f.meta[i + 1];
    }
    if (st_write(dst, w, f.n, meta, &e) < 0) fprintf(stderr, "%s\n", e.msg), exit(1);
    st_close(&f);
    free(w), free(meta);
}

/* The text between the first `open` at or after `from` and the following `close`
 * (malloc'd), or NULL. */
HARNESS_FN char *between(const char *s, const char *open, const char *close) {
    const char *a = strstr(s, open);
    if (!a) return NULL;
    a += strlen(open);
    const char *b = strstr(a, close);
    if (!b) return NULL;
    return strndup(a, (size_t)(b - a));
}

HARNESS_FN int count_of(const char *s, const char *needle) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* Sleeps ms milliseconds. */
HARNESS_FN void nap(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

#endif
