/* deploy_calib.c: the int8 net's calibration and its report (netc --deploy
 * --quantize int8 [--calibrate N] [--quantize-report]; see deploy_quant.c).
 *
 * Calibration runs the float net on training images through the trainer's
 * own preprocessing, without augmentation, and records the range of every
 * layer's output: the outputs the int8 code has, after batch norm folding
 * and with the relus applied where the int8 net applies them. netc writes
 * that float net as deploy does (with --weights-file, and a tap after every
 * layer), builds it with deploy/calibrate.c into a program in a folder of
 * its own, and feeds it the images, decoded and resized by the trainer's
 * dataset code exactly as `train` caches them; the program's predict then
 * crops, converts and normalises as the trainer's `test` does.
 *
 * Which images: N of the training set (--calibrate, default 500), the same
 * share of each class (N / classes, the remainder to the first classes),
 * drawn by a seeded shuffle per class (the run's seed, from the weights'
 * settings). A run trained with val_split keeps its validation images out
 * of calibration (they are not training images): the report measures on
 * them, else on training images calibration did not use. The test set is
 * never read. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "data.h"
#include "deploy_int.h"
#include "kind.h"
#include "pool.h"
#include "rng.h"
#include "util.h"

/* ---- the images --------------------------------------------------------------------------- */

/* The training images (less a validation split), and the validation images if the run had one. */
static int load_training(Deploy *d, Dataset *train, Dataset *val) {
    const Net *net = d->net;
    Error e;
    char **classes = d->classes;
    if (dataset_load(train, d->cfg.data, "train", d->resize_w, d->resize_h, (int)net->input.c, classes, d->n_classes, 0, &e) < 0 ||
        dataset_split(train, val, d->cfg.val_split, d->cfg.val_fold, d->cfg.seed, &e) < 0) {
        fprintf(stderr, "netc: --quantize int8 calibrates on the training images the net was trained on, in %s/train: %s\n",
                d->cfg.data, e.msg);
        if (!strstr(e.msg, "HINT"))
            fprintf(stderr, "  HINT: run netc where the trainer ran (its data setting is \"%s\"), with the same images\n", d->cfg.data);
        return -1;
    }
    return 0;
}

/* Per class, the seeded order calibration draws images in (the first of each class's are used). */
static int *class_order(const Dataset *ds, int k, uint64_t seed, int *n) {
    int *m = pool_alloc(sizeof(int) * (size_t)(ds->n ? ds->n : 1));
    *n = 0;
    for (int i = 0; i < ds->n; i++)
        if (ds->labels[i] == k) m[(*n)++] = i;
    Rng rng = rng_for(seed, (uint64_t)k, 0xCA11B8A7Eull);
    for (int j = 0; j + 1 < *n; j++) {
        int pick = j + (int)rng_below(&rng, (uint32_t)(*n - j)), t = m[j];
        m[j] = m[pick], m[pick] = t;
    }
    return m;
}

/* Writes images i of ds (n of them) as calibrate.c reads them. */
static int write_images(const char *path, const Dataset *ds, const int *idx, int n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    char magic[16] = "netc-images 1";
    int32_t head[4] = {n, ds->w, ds->h, ds->c};
    size_t size = (size_t)ds->w * (size_t)ds->h * (size_t)ds->c;
    fwrite(magic, 1, 16, f), fwrite(head, 4, 4, f);
    for (int i = 0; i < n; i++) {
        int32_t label = ds->labels[idx[i]];
        fwrite(&label, 4, 1, f), fwrite(ds->pixels + (size_t)idx[i] * size, 1, size, f);
    }
    return ferror(f) | fclose(f) ? -1 : 0;
}

/* The calibration images (images.bin) and the report's (report.bin), in d->work. */
static int pick_images(Deploy *d) {
    Dataset train, val;
    if (load_training(d, &train, &val) < 0) return -1;
    int want = d->o->calibrate > 0 ? d->o->calibrate : 500, C = train.n_classes, n_cal = 0, n_rep = 0;
    int rep_want = d->o->report_images > 0 ? d->o->report_images : 500;
    int *cal = pool_alloc(sizeof(int) * (size_t)(train.n + 1)), *rep = pool_alloc(sizeof(int) * (size_t)(train.n + 1));
    for (int k = 0; k < C; k++) {
        int n, take = (int)((int64_t)want * (k + 1) / C - (int64_t)want * k / C);
        int *order = class_order(&train, k, d->cfg.seed, &n);
        if (take > n) take = n;
        for (int j = 0; j < n; j++) {
            if (j < take) cal[n_cal++] = order[j];
            else if (j - take < (int)((int64_t)rep_want * (k + 1) / C - (int64_t)rep_want * k / C)) rep[n_rep++] = order[j];
        }
    }
    int rc = write_images(pool_printf("%s/images.bin", d->work), &train, cal, n_cal);
    d->n_calibrated = n_cal;
    if (rc == 0 && val.n) { /* the report on the validation images */
        int *all = pool_alloc(sizeof(int) * (size_t)val.n);
        for (int i = 0; i < val.n; i++) all[i] = i;
        rc = write_images(pool_printf("%s/report.bin", d->work), &val, all, val.n);
        d->report_what = pool_printf("the %d validation images (val_split %g)", val.n, (double)d->cfg.val_split);
    } else if (rc == 0) {
        rc = write_images(pool_printf("%s/report.bin", d->work), &train, rep, n_rep);
        d->report_what = pool_printf("%d training images calibration did not use", n_rep);
    }
    if (rc < 0) fprintf(stderr, "netc: cannot write images into %s: %s\n", d->work, strerror(errno));
    if (!d->o->quiet)
        printf("calibrating %s on %d training images of %s/train (%s of each class, seed %llu)%s\n", d->net->name, n_cal, d->cfg.data,
               want % C ? pool_printf("%d to %d", want / C, want / C + 1) : pool_printf("%d", want / C), (unsigned long long)d->cfg.seed,
               val.n ? pool_printf(", not the %d held out for validation", val.n) : "");
    dataset_free(&train), dataset_free(&val);
    return rc;
}

/* ---- the programs ------------------------------------------------------------------------- */

/* s in single quotes, for the shell */
static const char *quote(const char *s) {
    char *out = pool_alloc(strlen(s) * 4 + 3), *o = out;
    *o++ = '\'';
    for (; *s; s++) {
        if (*s == '\'') memcpy(o, "'\\''", 4), o += 4;
        else *o++ = *s;
    }
    *o++ = '\'';
    return out;
}

static int run(const char *cmd, const char *what) {
    int rc = system(cmd);
    if (rc == 0) return 0;
    fprintf(stderr, "netc: %s failed (exit %d): %s\n  HINT: this is a bug in netc; please report it with the .net file\n", what,
            rc == -1 ? -1 : WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc), cmd);
    return -1;
}

/* Writes the net (float, or the int8 one) with its taps into work/<sub>/; the -D flags that
 * compile it under prefix p (f_ or q_) and tell calibrate.c its sizes, in *flags. */
static int write_tapped(Deploy *d, const char *sub, const char *p, const char **flags) {
    DeployOptions o = *d->o;
    const DeployOptions *keep = d->o;
    o.out_dir = pool_printf("%s/%s", d->work, sub), o.weights_file = true, o.quiet = true;
    d->o = &o, d->taps = true;
    int rc = deploy_write(d);
    d->o = keep, d->taps = false;
    if (rc < 0) return -1;
    const char *n = d->net->name, *P = p[0] == 'f' ? "F" : "Q";
    int64_t at = d->act_bytes + DEPLOY_THREADS * d->scratch_bytes + d->image_bytes;
    *flags = pool_printf("-D%s_forward=%sforward -D%s_predict=%spredict -D%s_strerror=%sstrerror -D%s_class_name=%sclass_name "
                         "-D%s_check_weights=%scheck_weights -Dnetc_tap=%stap -D%s_ARENA_BYTES=%lld -D%s_WEIGHTS_AT=%lld "
                         "-D%s_WEIGHTS='\"%s/%s.weights\"'",
                         n, p, n, p, n, p, n, p, n, p, p, P, (long long)(at + d->weight_floats * 4 + 64), P, (long long)at, P,
                         o.out_dir, n);
    return 0;
}

static const char *cc_of(const Deploy *d) {
    return d->o->cc ? d->o->cc : getenv("CC") && getenv("CC")[0] ? getenv("CC") : "cc";
}

/* Compiles a tapped net (work/<sub>/<net>.c) with its flags into work/<sub>/<net>.o: each net
 * on its own, as the float and the int8 nets' functions are renamed by their flags. */
static int build_net(Deploy *d, const char *sub, const char *flags) {
    const char *w = quote(d->work), *n = d->net->name;
    char *u = pool_strdup(n);
    for (char *c = u; *c; c++) *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 'a' + 'A' : *c);
    return run(pool_printf("%s -O2 -march=native -std=gnu99 -fopenmp -w -D%s_THREADS=%d %s -c %s/%s/%s.c -o %s/%s/%s.o", cc_of(d), u,
                           DEPLOY_THREADS, flags, w, sub, n, w, sub, n),
               "building the tapped net");
}

/* Links calibrate.c (with extra flags) and the nets' objects into exe. */
static int build(Deploy *d, const char *exe, const char *extra, const char *objects) {
    return run(pool_printf("%s -O2 -march=native -std=gnu99 -fopenmp -w -DLAYERS=%d -DCLASSES=%d %s %s/calibrate.c %s -o %s -lm", cc_of(d),
                           d->net->n, d->net->classes, extra, quote(d->work), objects, quote(exe)),
               "building the calibration program");
}

/* ---- calibration ----------------------------------------------------------------------------- */

static int read_stats(Deploy *d, const char *path) {
    Error e;
    char *text = read_file(path, NULL, &e);
    if (!text) {
        fprintf(stderr, "netc: %s\n", e.msg);
        return -1;
    }
    d->stats = pool_alloc(sizeof(DeployStats) * (size_t)d->net->n);
    char *p = text;
    int images, correct;
    if (sscanf(p, "images %d top1 %d", &images, &correct) != 2) goto bad;
    d->calib_top1 = images ? 100.0 * correct / images : 0;
    while ((p = strstr(p, "\nlayer "))) {
        int l, used;
        DeployStats s;
        if (sscanf(p, "\nlayer %d %lf %lf %lf %lf %lf%n", &l, &s.count, &s.min, &s.max, &s.lo, &s.width, &used) != 6 || l < 0 ||
            l >= d->net->n)
            goto bad;
        p += used;
        s.hist = pool_alloc(sizeof(double) * DEPLOY_BINS);
        for (int b = 0; b < DEPLOY_BINS; b++) s.hist[b] = strtod(p, &p);
        d->stats[l] = s;
    }
    free(text);
    return 0;
bad:
    free(text);
    fprintf(stderr, "netc: %s: not what the calibration program writes\n", path);
    return -1;
}

int deploy_calibrate(Deploy *d) {
    char tmpl[] = "/tmp/netc-calibrate-XXXXXX";
    const char *tmp = getenv("TMPDIR"), *dir = tmp && *tmp ? pool_printf("%s/netc-calibrate-XXXXXX", tmp) : tmpl;
    char *w = pool_strdup(dir);
    if (!mkdtemp(w)) {
        fprintf(stderr, "netc: cannot make a folder for the calibration (%s): %s\n", dir, strerror(errno));
        return -1;
    }
    d->work = w;
    double t0 = now_seconds();
    const char *flags;
    Error e;
    if (pick_images(d) < 0 || write_tapped(d, "float", "f_", &flags) < 0) return -1;
    d->float_weight_bytes = deploy_weight_bytes(d);
    d->float_arena_bytes = d->act_bytes + d->scratch_bytes + d->image_bytes;
    d->float_flags = flags;
    if (write_file_atomic(pool_printf("%s/calibrate.c", w), embed_calibrate_c, strlen(embed_calibrate_c), &e) < 0) {
        fprintf(stderr, "netc: %s\n", e.msg);
        return -1;
    }
    const char *exe = pool_printf("%s/calibrate", w), *stats = pool_printf("%s/stats.txt", w);
    if (build_net(d, "float", flags) < 0 || build(d, exe, flags, pool_printf("%s/float/%s.o", quote(w), d->net->name)) < 0 ||
        run(pool_printf("%s calibrate %s %s", quote(exe), quote(pool_printf("%s/images.bin", w)), quote(stats)), "calibration") < 0 ||
        read_stats(d, stats) < 0)
        return -1;
    if (!d->o->quiet)
        printf("calibrated in %.1f s: the float net's top-1 on those images %.2f%%; ranges by %s\n", now_seconds() - t0,
               d->calib_top1, d->o->calibration ? d->o->calibration : DEPLOY_CALIBRATION);
    return 0;
}

void deploy_quant_cleanup(Deploy *d) {
    if (!d->work) return;
    if (getenv("NETC_KEEP_CALIBRATION")) {
        fprintf(stderr, "netc: the calibration's files are in %s (NETC_KEEP_CALIBRATION)\n", d->work);
        return;
    }
    run(pool_printf("rm -rf %s", quote(d->work)), "removing the calibration's folder");
    d->work = NULL;
}

/* ---- the report -------------------------------------------------------------------------------- */

int deploy_quant_report(Deploy *d) {
    const Net *net = d->net;
    const char *qflags, *w = d->work, *out = pool_printf("%s/report.txt", w), *exe = pool_printf("%s/report", w);
    if (write_tapped(d, "int8", "q_", &qflags) < 0) return -1;
    if (build_net(d, "int8", qflags) < 0 || build(d, exe, pool_printf("-DREPORT %s %s", d->float_flags, qflags),
              pool_printf("%s/float/%s.o %s/int8/%s.o", quote(w), net->name, quote(w), net->name)) < 0 ||
        run(pool_printf("%s report %s %s", quote(exe), quote(pool_printf("%s/report.bin", w)), quote(out)), "the report") < 0)
        return -1;
    Error e;
    char *text = read_file(out, NULL, &e), *p = text;
    int images, fc, qc, agree;
    double dp;
    if (!text || sscanf(text, "images %d float %d int8 %d agree %d dp %lf", &images, &fc, &qc, &agree, &dp) != 5) {
        fprintf(stderr, "netc: %s: not what the report program writes\n", out);
        free(text);
        return -1;
    }
    printf("\nint8 against float, layer by layer, on %s:\n", d->report_what);
    printf("  %-22s %-6s %-24s %10s %9s %12s\n", "layer", "runs", "output", "rel. error", "SQNR", "largest");
    while ((p = strstr(p, "\nlayer "))) {
        int l, used;
        double err2, ref2, maxe;
        if (sscanf(p, "\nlayer %d %lf %lf %lf%n", &l, &err2, &ref2, &maxe, &used) != 4 || l < 0 || l >= net->n) break;
        p += used;
        const DeployLayer *dl = &d->dl[l];
        const char *o = dl->bytes ? pool_printf("x %.4g - %d", (double)dl->qscale, dl->qzp) : "floats";
        printf("  %-22s %-6s %-24s %9.3f%% %6.1f dB %12.4g\n", l ? net->layers[l].name : "input", l == 0 ? "" : dl->q ? "int8" : "float", o,
               ref2 > 0 ? 100 * sqrt(err2 / ref2) : 0.0, err2 > 0 ? 10 * log10(ref2 / err2) : INFINITY, maxe);
    }
    printf("  top-1: float %.2f%%, int8 %.2f%% (%d and %d of %d); the same class on %.2f%%; largest probability difference %.4f\n",
           100.0 * fc / images, 100.0 * qc / images, fc, qc, images, 100.0 * agree / images, dp);
    free(text);
    return 0;
}
