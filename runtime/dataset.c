/* dataset.c: a folder of class folders of images, decoded into memory (see data.h).
 *
 * Layout: root/split/<class>/<file>.jpg (or .jpeg, .png). The file list is built serially and
 * sorted, the images are decoded in parallel into their own slots, and the
 * failures are then removed and warned about in list order, so the result and
 * the warnings are the same for any thread count. */
#include "data.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "preprocess.h"
#include "rng.h"

/* A growable list of strings. */
typedef struct {
    char **s;
    int n, cap;
} Names;

static void names_add(Names *l, const char *s) {
    if (l->n == l->cap) l->s = xrealloc(l->s, sizeof(char *) * (size_t)(l->cap = l->cap ? 2 * l->cap : 16));
    l->s[l->n++] = xstrdup(s);
}

static void names_free(Names *l) {
    for (int i = 0; i < l->n; i++) free(l->s[i]);
    free(l->s);
    *l = (Names){0};
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int names_find(char *const *s, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(s[i], name) == 0) return i;
    return -1;
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_image_name(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot && (strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0 || strcasecmp(dot, ".png") == 0);
}

static char *join(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *s = xmalloc(n);
    snprintf(s, n, "%s/%s", a, b);
    return s;
}

enum { LIST_DIRS, LIST_IMAGES };

/* The visible entries of dir, sorted by strcmp: its sub-folders, or its files
 * with an image extension (symbolic links followed). With LIST_IMAGES and
 * `others`, every other visible entry goes there, also sorted. */
static int list_dir(const char *dir, int what, Names *out, Names *others, Error *e) {
    DIR *d = opendir(dir);
    if (!d) return errorf(e, "%s: cannot read folder: %s", dir, strerror(errno));
    *out = (Names){0};
    if (others) *others = (Names){0};
    for (struct dirent *de; (de = readdir(d));) {
        if (de->d_name[0] == '.') continue; /* hidden, and . and .. */
        char *path = join(dir, de->d_name);
        struct stat st;
        int ok = stat(path, &st) == 0;
        if ((what == LIST_DIRS && ok && S_ISDIR(st.st_mode)) ||
            (what == LIST_IMAGES && ok && S_ISREG(st.st_mode) && is_image_name(de->d_name)))
            names_add(out, de->d_name);
        else if (others)
            names_add(others, de->d_name);
        free(path);
    }
    closedir(d);
    if (out->n) qsort(out->s, (size_t)out->n, sizeof(char *), cmp_str);
    if (others && others->n) qsort(others->s, (size_t)others->n, sizeof(char *), cmp_str);
    return 0;
}

/* "a, b, c" of the names of `have` not in `want` (at most 1000 bytes). */
static void list_missing(char *const *have, int nhave, char *const *want, int nwant, char *buf, size_t len) {
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < nhave && used < len; i++)
        if (names_find(want, nwant, have[i]) < 0)
            used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "", have[i]);
}

/* Root and split exist, and say what they should hold when they do not. */
static int check_folders(const char *root, const char *dir, const char *split, Error *e) {
    if (!is_dir(root)) {
        struct stat st;
        if (stat(root, &st) == 0) errorf(e, "data folder '%s' is not a folder", root);
        else errorf(e, "data folder '%s' not found", root);
        return error_hint(e, "it should contain train/ and test/, each with one sub-folder of .jpg or .png images per class;\n"
                             "  run data/get_15scene.sh to fill data/15scene with the 15-scene set, or set `data` to your own folder");
    }
    if (!is_dir(dir)) {
        errorf(e, "data folder '%s' has no %s/ folder ('%s' not found)", root, split, dir);
        return error_hint(e, "'%s' should contain train/ and test/, each with one sub-folder of .jpg or .png images per class", root);
    }
    return 0;
}

/* The class folders of dir, checked against `classes` when given (then the
 * names become those, in the given order). found[i] is the label of folder i. */
static int find_classes(const char *dir, const char *split, char *const *classes, int n_classes, Names *found, Error *e) {
    if (list_dir(dir, LIST_DIRS, found, NULL, e) < 0) return -1;
    if (found->n == 0) {
        Names images;
        int loose = list_dir(dir, LIST_IMAGES, &images, NULL, NULL) == 0 ? images.n : 0;
        if (loose) names_free(&images);
        errorf(e, "'%s' has no class folders", dir);
        if (loose)
            return error_hint(e, "its %d image%s must be in one sub-folder per class, e.g. %s/forest/*.jpg", loose,
                              loose == 1 ? "" : "s", dir);
        return error_hint(e, "it should hold one sub-folder of .jpg or .png images per class, e.g. %s/forest/*.jpg", dir);
    }
    if (!classes) return 0;
    char missing[1000], extra[1000];
    list_missing(classes, n_classes, found->s, found->n, missing, sizeof missing);
    list_missing(found->s, found->n, classes, n_classes, extra, sizeof extra);
    if (!missing[0] && !extra[0]) return 0;
    names_free(found);
    errorf(e, "'%s': its classes differ from training's: missing in %s: %s; extra in %s: %s", dir, split,
           missing[0] ? missing : "none", split, extra[0] ? extra : "none");
    return error_hint(e, "%s/ needs one folder per training class (%d), with the same names", split, n_classes);
}

typedef struct {
    char *path;
    const char *name; /* file name, inside path */
    int label;
} Entry;

static int cmp_entry(const void *a, const void *b) {
    const Entry *x = a, *y = b;
    if (x->label != y->label) return x->label < y->label ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Names on stderr each entry of a class folder that is not an image. */
static void warn_not_images(const char *cdir, const Names *others) {
    for (int i = 0; i < others->n; i++) {
        char *path = join(cdir, others->s[i]);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            fprintf(stderr, "netc: warning: %s: is a folder (images in sub-folders of a class folder are not read); skipped\n", path);
        else if (stat(path, &st) != 0)
            fprintf(stderr, "netc: warning: %s: cannot be read (%s); skipped\n", path, strerror(errno));
        else
            fprintf(stderr, "netc: warning: %s: not an image (only .jpg, .jpeg and .png files are read); skipped\n", path);
        free(path);
    }
}

/* Every image of every class folder, sorted by label then file name; the
 * other entries are named on stderr and counted in *skipped. */
static int list_images(const char *dir, const Names *found, char *const *names, int n_classes, Entry **out, int *n,
                       int *skipped, Error *e) {
    Entry *list = NULL;
    int cap = 0;
    *n = 0;
    for (int k = 0; k < found->n; k++) {
        char *cdir = join(dir, found->s[k]);
        Names files, others;
        int rc = list_dir(cdir, LIST_IMAGES, &files, &others, e);
        if (rc == 0) warn_not_images(cdir, &others), *skipped += others.n, names_free(&others);
        free(cdir);
        if (rc < 0) {
            for (int i = 0; i < *n; i++) free(list[i].path);
            free(list);
            return -1;
        }
        int label = names ? names_find(names, n_classes, found->s[k]) : k;
        for (int i = 0; i < files.n; i++) {
            if (*n == cap) list = xrealloc(list, sizeof(Entry) * (size_t)(cap = cap ? 2 * cap : 1024));
            char *sub = join(found->s[k], files.s[i]);
            list[*n].path = join(dir, sub);
            list[*n].name = list[*n].path + strlen(list[*n].path) - strlen(files.s[i]);
            list[*n].label = label;
            (*n)++;
            free(sub);
        }
        names_free(&files);
    }
    if (*n) qsort(list, (size_t)*n, sizeof(Entry), cmp_entry);
    *out = list;
    return 0;
}

/* Decodes list[i] into slot i of pixels; why[i] is NULL or the failure. */
static void decode_all(const Entry *list, int n, int w, int h, int c, uint8_t *pixels, char **why, int threads) {
    size_t size = (size_t)w * (size_t)h * (size_t)c;
    int nt = threads > 0 ? threads : omp_get_max_threads();
#pragma omp parallel for num_threads(nt) schedule(dynamic, 8)
    for (int i = 0; i < n; i++) {
        Error err;
        why[i] = image_load(list[i].path, w, h, c, pixels + (size_t)i * size, &err) < 0 ? xstrdup(err.msg) : NULL;
    }
}

/* Drops the failed images (warning about each, in order) and fills ds. */
static void keep_decoded(Dataset *ds, Entry *list, int n, char **why) {
    size_t size = (size_t)ds->w * (size_t)ds->h * (size_t)ds->c;
    ds->labels = xmalloc(sizeof(int) * (size_t)(n ? n : 1));
    ds->paths = xmalloc(sizeof(char *) * (size_t)(n ? n : 1));
    int kept = 0;
    for (int i = 0; i < n; i++) {
        if (why[i]) {
            fprintf(stderr, "netc: warning: %s; skipped\n", why[i]);
            free(why[i]);
            free(list[i].path);
            ds->n_skipped++;
            continue;
        }
        if (kept != i) memmove(ds->pixels + (size_t)kept * size, ds->pixels + (size_t)i * size, size);
        ds->labels[kept] = list[i].label;
        ds->paths[kept] = list[i].path;
        kept++;
    }
    ds->n = kept;
}

/* Every class has at least one image; otherwise name the first that has none. */
static int check_nonempty(const Dataset *ds, const char *dir, const Entry *list, int n, Error *e) {
    int *count = xcalloc((size_t)ds->n_classes, sizeof(int));
    for (int i = 0; i < ds->n; i++) count[ds->labels[i]]++;
    int empty = -1;
    for (int k = 0; k < ds->n_classes && empty < 0; k++)
        if (count[k] == 0) empty = k;
    free(count);
    if (empty < 0) return 0;
    int tried = 0;
    for (int i = 0; i < n; i++) tried += list[i].label == empty;
    const char *name = ds->class_names[empty];
    errorf(e, "class '%s' (%s/%s) has no readable images", name, dir, name);
    if (tried)
        return error_hint(e, "none of its %d image%s could be decoded (see the warnings above)", tried, tried == 1 ? "" : "s");
    return error_hint(e, "put its .jpg, .jpeg or .png images in it, or remove the folder");
}

int dataset_load(Dataset *ds, const char *root, const char *split, int w, int h, int c,
                 char *const *classes, int n_classes, int threads, Error *e) {
    *ds = (Dataset){0};
    if (w < 1 || h < 1 || (c != 1 && c != 3))
        return errorf(e, "internal: dataset_load at %dx%dx%d (sizes >= 1, 1 or 3 channels)", w, h, c);
    char *dir = join(root, split);
    Names found = {0};
    if (check_folders(root, dir, split, e) < 0 || find_classes(dir, split, classes, n_classes, &found, e) < 0) {
        free(dir);
        return -1;
    }
    int n;
    Entry *list;
    if (list_images(dir, &found, classes, n_classes, &list, &n, &ds->n_skipped, e) < 0) {
        names_free(&found);
        free(dir);
        return -1;
    }
    ds->w = w, ds->h = h, ds->c = c;
    ds->n_classes = found.n;
    ds->class_names = xmalloc(sizeof(char *) * (size_t)found.n);
    for (int k = 0; k < found.n; k++) ds->class_names[k] = xstrdup(classes ? classes[k] : found.s[k]);
    names_free(&found);

    char **why = xcalloc((size_t)(n ? n : 1), sizeof(char *));
    ds->pixels = xmalloc((size_t)(n ? n : 1) * (size_t)w * (size_t)h * (size_t)c);
    decode_all(list, n, w, h, c, ds->pixels, why, threads);
    keep_decoded(ds, list, n, why);
    int rc = check_nonempty(ds, dir, list, n, e);
    free(why);
    free(list);
    free(dir);
    if (rc < 0) dataset_free(ds);
    return rc;
}

void dataset_free(Dataset *ds) {
    for (int i = 0; i < ds->n; i++) free(ds->paths[i]);
    for (int k = 0; k < ds->n_classes; k++) free(ds->class_names[k]);
    free(ds->paths);
    free(ds->class_names);
    free(ds->labels);
    free(ds->pixels);
    *ds = (Dataset){0};
}

/* How many images of a class of n to hold out: round(fraction * n), at least
 * one, at most n - 1. */
static int held_out(int n, float fraction) {
    int m = (int)lround(fraction * n);
    return m < 1 ? 1 : m > n - 1 ? n - 1 : m;
}

int dataset_split(Dataset *ds, Dataset *val, float fraction, int fold, uint64_t seed, Error *e) {
    *val = (Dataset){.w = ds->w, .h = ds->h, .c = ds->c};
    if (fraction <= 0) return 0;
    int *count = xcalloc((size_t)ds->n_classes, sizeof(int));
    for (int i = 0; i < ds->n; i++) count[ds->labels[i]]++;
    for (int k = 0; k < ds->n_classes; k++) {
        if (count[k] < 2) {
            errorf(e, "class '%s' has %d training image%s: none can be held out for validation", ds->class_names[k], count[k],
                   count[k] == 1 ? "" : "s");
            free(count);
            return error_hint(e, "give every class at least 2 images, or train without a validation set (val_split 0)");
        }
        int m = held_out(count[k], fraction), folds = count[k] / m; /* disjoint sets of m that fit */
        if (fold >= folds) {
            errorf(e, "val_fold %d: class '%s' has %d training images, %d disjoint validation sets of %d (val_fold 0 to %d)", fold,
                   ds->class_names[k], count[k], folds, m, folds - 1);
            free(count);
            return error_hint(e, "k-fold cross-validation with val_split %g runs val_fold 0 to %d", fraction, folds - 1);
        }
    }
    /* mark the held-out images: per class, places [fold m, (fold + 1) m) of a seeded shuffle of its
     * images, so folds 0, 1, ... of one seed are disjoint (k-fold cross-validation) */
    char *out = xcalloc((size_t)ds->n, 1);
    int *members = xmalloc(sizeof(int) * (size_t)ds->n);
    for (int k = 0; k < ds->n_classes; k++) {
        int n = 0;
        for (int i = 0; i < ds->n; i++)
            if (ds->labels[i] == k) members[n++] = i;
        Rng rng = rng_for(seed, (uint64_t)k, 0x5A11D47Aull);
        int m = held_out(n, fraction);
        for (int j = 0; j < (fold + 1) * m; j++) { /* a partial Fisher-Yates shuffle: members[0..(fold+1) m) are drawn */
            int pick = j + (int)rng_below(&rng, (uint32_t)(n - j));
            int t = members[j];
            members[j] = members[pick], members[pick] = t;
            if (j >= fold * m) out[members[j]] = 1;
        }
        val->n += m;
    }
    free(members), free(count);

    size_t size = (size_t)ds->w * (size_t)ds->h * (size_t)ds->c;
    val->pixels = xmalloc(size * (size_t)val->n);
    val->labels = xmalloc(sizeof(int) * (size_t)val->n);
    val->paths = xmalloc(sizeof(char *) * (size_t)val->n);
    val->n_classes = ds->n_classes;
    val->class_names = xmalloc(sizeof(char *) * (size_t)ds->n_classes);
    for (int k = 0; k < ds->n_classes; k++) val->class_names[k] = xstrdup(ds->class_names[k]);
    int kept = 0, moved = 0;
    for (int i = 0; i < ds->n; i++) {
        const uint8_t *px = ds->pixels + (size_t)i * size;
        if (out[i]) {
            memcpy(val->pixels + (size_t)moved * size, px, size);
            val->labels[moved] = ds->labels[i], val->paths[moved] = ds->paths[i];
            moved++;
        } else {
            if (kept != i) memmove(ds->pixels + (size_t)kept * size, px, size);
            ds->labels[kept] = ds->labels[i], ds->paths[kept] = ds->paths[i];
            kept++;
        }
    }
    ds->n = kept;
    ds->pixels = xrealloc(ds->pixels, size * (size_t)kept);
    free(out);
    return 0;
}

/* Byte-valued sums of image i for each output channel: channel order and
 * gray conversion as evaluation applies them (preprocess.c's pp_input). */
static void image_sums(const Dataset *ds, int i, int in_c, int order, double sum[3], double sq[3]) {
    size_t np = (size_t)ds->w * (size_t)ds->h;
    const uint8_t *p = ds->pixels + (size_t)i * np * (size_t)ds->c;
    for (int ch = 0; ch < 3; ch++) sum[ch] = sq[ch] = 0;
    for (size_t k = 0; k < np; k++, p += ds->c) {
        for (int ch = 0; ch < in_c; ch++) {
            float v;
            if (ds->c == 1) v = p[0];
            else if (in_c == 1 || order == CH_GRAY) v = pp_luma(p[0], p[1], p[2]);
            else v = p[order == CH_BGR ? 2 - ch : ch];
            sum[ch] += v, sq[ch] += (double)v * v;
        }
    }
}

void dataset_stats(const Dataset *ds, const Config *cfg, int in_c, float mean[3], float std[3]) {
    double *sums = xcalloc((size_t)(ds->n ? ds->n : 1) * 6, sizeof(double));
    /* per-image partial sums, added up in image order: the same floats for any thread count */
#pragma omp parallel for schedule(static)
    for (int i = 0; i < ds->n; i++) image_sums(ds, i, in_c, cfg->channels, sums + 6 * i, sums + 6 * i + 3);
    double k = cfg->range / 255.0, count = (double)ds->n * ds->w * ds->h;
    for (int ch = 0; ch < 3; ch++) {
        double s = 0, q = 0;
        for (int i = 0; i < ds->n; i++) s += sums[6 * i + ch], q += sums[6 * i + 3 + ch];
        double m = count > 0 ? s / count : 0, var = count > 0 ? q / count - m * m : 0;
        mean[ch] = ch < in_c ? (float)(m * k) : 0;
        /* a constant channel gets std 1, so normalising never divides by zero */
        std[ch] = ch < in_c && var * k * k > 1e-12 ? (float)(sqrt(var) * k) : 1;
    }
    free(sums);
}
