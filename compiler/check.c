/* check.c: the net against the world it will meet: the class count of the
 * data folder, and the tensors of the pretrained file. Both are checked at
 * compile time only when the folder or file exists; the trainer checks again
 * when it loads them. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kind.h"
#include "net.h"
#include "pool.h"
#include "safetensors.h"

/* Sub-folders of dir, or -1 if dir cannot be read. */
static int count_class_dirs(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        struct stat st;
        if (stat(pool_printf("%s/%s", dir, e->d_name), &st) == 0 && S_ISDIR(st.st_mode)) n++;
    }
    closedir(d);
    return n;
}

static Loc setting_loc(const Net *net, const char *key) {
    for (int i = 0; i < net->n_settings; i++)
        if (strcmp(net->settings[i].key, key) == 0) return net->settings[i].loc;
    return (Loc){net->file, 0, 0, 0};
}

int check_data(Net *net) {
    const char *data = net_setting(net, "data");
    if (!data) data = "data/15scene";
    const char *train = pool_printf("%s/train", data);
    int n = count_class_dirs(train);
    if (n <= 0 || n == net->classes) return 0;
    const Layer *loss = &net->layers[net->n - 1];
    const Layer *cls = &net->layers[loss->in[0]];
    while (!(cls->n_tensors && cls->tensors[0].role == ROLE_WEIGHT) && cls->n_in > 0) /* the conv or linear layer */
        cls = &net->layers[cls->in[0]];
    diag_error(cls->loc, pool_printf("make %s output %d (-> %d), one per class folder", cls->name, n, n),
               "%s: the classifier outputs %d classes, but %s has %d class folders", cls->name, net->classes, train, n);
    return -1;
}

/* The file's shape may add or drop trailing 1s (a linear layer stored as a
 * 1x1 conv, say); the element order is the same, so that is a fit. */
static bool same_shape(const int64_t *a, int na, const int64_t *b, int nb) {
    while (na > 1 && a[na - 1] == 1) na--;
    while (nb > 1 && b[nb - 1] == 1) nb--;
    if (na != nb) return false;
    for (int i = 0; i < na; i++)
        if (a[i] != b[i]) return false;
    return true;
}

/* For a weight of the wrong shape: the layer the file's tensor would fit. */
static const char *mismatch_hint(const Layer *l, const Tensor *want, const StTensor *got) {
    const char *fix = "change the layer to match the file, or drop \"load\" to train it from scratch";
    const char *fits = strcmp(want->suffix, "weight") == 0 && l->kind->fits ? l->kind->fits(l, got->shape, got->ndim) : NULL;
    return fits ? pool_printf("%s; %s", fits, fix) : fix;
}

/* For a tensor the file lacks: the nearest name it has, or the first few. */
static const char *missing_hint(const StFile *f, const char *name) {
    const char *best = NULL;
    int bestd = 4;
    for (int i = 0; i < f->n; i++) {
        int d = edit_distance(name, f->tensors[i].name);
        if (d < bestd) bestd = d, best = f->tensors[i].name;
    }
    if (best) return pool_printf("did you mean '%s'? (check the load prefix)", best);
    char *names = pool_strdup("");
    for (int i = 0; i < f->n && i < 6; i++) names = pool_printf("%s%s%s", names, i ? ", " : "", f->tensors[i].name);
    return pool_printf("the file holds %d tensors: %s%s", f->n, names, f->n > 6 ? ", ..." : "");
}

int check_pretrained(Net *net) {
    const char *path = net_setting(net, "pretrained");
    bool any_load = false;
    for (int i = 0; i < net->n; i++) any_load |= net->layers[i].load != NULL;
    if (!path) {
        for (int i = 0; i < net->n; i++)
            if (net->layers[i].load) {
                diag_error(net->layers[i].load_loc, "name the file: pretrained \"weights/file.safetensors\"",
                           "%s: loads %s, but the net names no pretrained file", net->layers[i].name, net->layers[i].load);
                return -1;
            }
        return 0;
    }
    if (!any_load) {
        diag_warning(setting_loc(net, "pretrained"), "add \"load NAME\" to the layers that should start from it",
                     "pretrained file given, but no layer loads from it");
        return 0;
    }
    struct stat st;
    if (stat(path, &st) != 0) return 0; /* checked when the trainer loads it */
    StFile f;
    Error e;
    if (st_open(&f, path, &e) < 0) {
        char *hint = strstr(e.msg, "\n  HINT: "); /* the runtime's message carries its own hint */
        if (hint) *hint = 0, hint += 9;
        diag_error(setting_loc(net, "pretrained"), hint, "%s", e.msg);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < net->n && rc == 0; i++) {
        const Layer *l = &net->layers[i];
        if (!l->load) continue;
        for (int t = 0; t < l->n_tensors && rc == 0; t++) {
            const Tensor *ex = &l->tensors[t];
            const char *name = pool_printf("%s.%s", l->load, ex->suffix);
            const StTensor *st_t = st_find(&f, name);
            char want[128], got[128];
            int64_t shape[4];
            for (int d = 0; d < ex->ndim; d++) shape[d] = ex->shape[d];
            st_shape_str(shape, ex->ndim, want, sizeof want);
            if (!st_t) {
                diag_error(l->load_loc, missing_hint(&f, name), "%s: %s has no tensor '%s' (expected %s)", l->name, path, name, want);
                rc = -1;
            } else if (!same_shape(st_t->shape, st_t->ndim, shape, ex->ndim)) {
                st_shape_str(st_t->shape, st_t->ndim, got, sizeof got);
                diag_error(l->loc, mismatch_hint(l, ex, st_t), "%s: pretrained tensor '%s' is %s, but the layer needs %s",
                           l->name, name, got, want);
                rc = -1;
            }
        }
    }
    st_close(&f);
    return rc;
}
