/* weights_meta.c: what a weights file or checkpoint says besides its tensors
 * (see weights_meta.h). */
#define _GNU_SOURCE
#include "weights_meta.h"

#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

/* Restores the run's settings from the checkpoint's "config" text. */
static int apply_config_text(Config *c, const char *text, Error *e) {
    char *copy = xstrdup(text);
    int rc = 0;
    char *save = NULL; /* strtok_r: config_set below tokenises lists with its own strtok_r */
    for (char *line = strtok_r(copy, "\n", &save); line && rc == 0; line = strtok_r(NULL, "\n", &save)) {
        char *sp = strchr(line, ' ');
        if (!sp) continue;
        *sp = 0;
        char *value = sp + 1;
        while (*value == ' ') value++;
        if (strcmp(line, "out") == 0) continue; /* where, not what (threads stay: results depend on them) */
        if (!*value && (strcmp(line, "pretrained") == 0 || strcmp(line, "data") == 0)) {
            if (strcmp(line, "pretrained") == 0) c->pretrained[0] = 0;
            continue;
        }
        rc = config_set(c, line, value, e);
    }
    free(copy);
    return rc;
}

int checkpoint_apply_settings(Config *c, const char *path, Error *e) {
    StFile f;
    if (st_open(&f, path, e) < 0) return -1;
    const char *cfg = st_meta(&f, "config");
    int rc = cfg ? apply_config_text(c, cfg, e) : 0;
    st_close(&f);
    return rc;
}

int weights_meta(const char *path, float mean[3], float std[3], char ***classes, int *n_classes, Error *e) {
    StFile f;
    if (st_open(&f, path, e) < 0) return -1;
    const char *norm = st_meta(&f, "norm"), *cls = st_meta(&f, "classes");
    if (norm) sscanf(norm, "%a %a %a %a %a %a", &mean[0], &mean[1], &mean[2], &std[0], &std[1], &std[2]);
    *n_classes = 0;
    *classes = NULL;
    if (cls && *cls) {
        char *copy = xstrdup(cls);
        int cap = 16;
        *classes = xmalloc(sizeof(char *) * (size_t)cap);
        char *save = NULL;
        for (char *t = strtok_r(copy, "\n", &save); t; t = strtok_r(NULL, "\n", &save)) {
            if (*n_classes == cap) *classes = xrealloc(*classes, sizeof(char *) * (size_t)(cap *= 2));
            (*classes)[(*n_classes)++] = xstrdup(t);
        }
        free(copy);
    }
    st_close(&f);
    return norm ? 1 : 0;
}
