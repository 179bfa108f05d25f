/* frontend.h: helpers for the front-end tests (test_report.c, test_errors.c).
 *
 * fe_compile() runs the passes as compile() in compiler/main.c does (parse,
 * elaborate, shapes, data and pretrained checks) on a text held in memory,
 * and returns what the diagnostics printed. Everything it builds lives in
 * the compiler's pool: call fe_done() before the next compilation. */
#ifndef NETC_TEST_FRONTEND_H
#define NETC_TEST_FRONTEND_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ast.h"
#include "kind.h"
#include "net.h"
#include "pool.h"
#include "report.h"
#include "util.h"

typedef enum { FE_PARSE = 1, FE_ELAB, FE_SHAPE, FE_DATA, FE_PRETRAINED } FePass;

typedef struct {
    int failed;  /* 0, or the FePass that reported the error */
    char *diag;  /* everything diag printed (errors and warnings); malloc'd */
    Ast ast;
    Net net;     /* valid up to the pass that failed */
} FeResult;

/* Compiles text[0..len) as if read from `file`. */
static inline FeResult fe_compile_n(const char *file, const char *text, size_t len) {
    FeResult r;
    memset(&r, 0, sizeof r);
    size_t diag_len = 0;
    FILE *saved = diag_out;
    diag_out = open_memstream(&r.diag, &diag_len);
    if (parse_net(file, text, len, &r.ast) < 0) r.failed = FE_PARSE;
    else if (elab_net(&r.ast, &r.net) < 0) r.failed = FE_ELAB;
    else if (shape_net(&r.net) < 0) r.failed = FE_SHAPE;
    else if (check_data(&r.net) < 0) r.failed = FE_DATA;
    else if (check_pretrained(&r.net) < 0) r.failed = FE_PRETRAINED;
    fclose(diag_out);
    diag_out = saved;
    return r;
}

static inline FeResult fe_compile(const char *file, const char *text) { return fe_compile_n(file, text, strlen(text)); }

/* Frees the pool (the Net and Ast) and the captured messages. */
static inline void fe_done(FeResult *r) {
    free(r->diag);
    r->diag = NULL;
    pool_free_all();
}

/* The report in `fmt`, as text (malloc'd). */
static inline char *fe_report(const Net *net, ReportFormat fmt) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    report_net(net, fmt, f);
    fclose(f);
    return buf;
}

/* The contents of a file (malloc'd, NUL-terminated); fails the test if unreadable. */
static inline char *fe_slurp(const char *path) {
    Error e;
    size_t len;
    char *text = read_file(path, &len, &e);
    if (!text) fail_msg("%s", e.msg);
    return text;
}

static inline const Layer *fe_layer(const Net *net, const char *name) {
    int i = layer_index(net, name);
    if (i < 0) fail_msg("no layer '%s' in %s", name, net->file);
    return &net->layers[i];
}

static inline void fe_write(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) fail_msg("cannot write %s", path);
}

static inline int fe_rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static inline void fe_rm_tree(const char *dir) { nftw(dir, fe_rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

#endif
