/* weights_meta.h: what a weights file or checkpoint says besides its
 * tensors: the settings it was trained with, the normalisation its images
 * got and the class names. The trainer's test and predict read them, and so
 * does netc --deploy, through these same functions. */
#ifndef NETC_WEIGHTS_META_H
#define NETC_WEIGHTS_META_H

#include "config.h"
#include "util.h"

/* The settings a checkpoint or weights file was trained with, applied to c. */
int checkpoint_apply_settings(Config *c, const char *path, Error *e);
/* The normalisation (mean, std; returns 1, or 0 if the file has none and
 * leaves them) and the class names (*classes, *n_classes; the caller frees
 * each and the list). -1 if the file cannot be read. */
int weights_meta(const char *path, float mean[3], float std[3], char ***classes, int *n_classes, Error *e);

#endif
