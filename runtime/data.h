/* data.h: images from disk to the network's input batch.
 *
 * A data set is decoded once (libjpeg-turbo), resized to the cache size and
 * kept in memory as 8-bit pixels; every epoch cuts its input batches from that
 * cache, with augmentation and normalisation applied on the fly. */
#ifndef NETC_DATA_H
#define NETC_DATA_H

#include <stdint.h>

#include "config.h"
#include "util.h"

typedef struct {
    int n;             /* images loaded */
    int w, h, c;       /* cached size and channels: 1 (gray) or 3 (RGB order) */
    uint8_t *pixels;   /* n * h * w * c bytes, image-major, then row, column, channel */
    int *labels;       /* n class indices */
    char **paths;      /* n file paths, as found */
    int n_classes;
    char **class_names; /* sorted folder names */
    int n_skipped;     /* files not loaded: not images, or not decodable (each named on stderr) */
} Dataset;

/* Loads every image of root/split/<class>/ (sorted by class, then file name).
 * classes == NULL: the classes are the sub-folders found (the training split).
 * classes != NULL: the test split must use exactly these class names; a class
 * folder missing or extra is an error that says which. Images are the files
 * named .jpg, .jpeg or .png (any case); every other entry of a class folder
 * (a text file, a GIF, a sub-folder) is skipped with a warning naming it, as
 * is every image that cannot be decoded, with why. Hidden entries (.name)
 * are not looked at. An empty class is an error.
 * Decoding runs on `threads` threads (0: all cores); the result does not
 * depend on the thread count. */
int dataset_load(Dataset *ds, const char *root, const char *split, int w, int h, int c,
                 char *const *classes, int n_classes, int threads, Error *e);
void dataset_free(Dataset *ds);

/* Holds out a validation set: moves m = round(fraction * n) images of each
 * class of ds (at least one, and never all) into val, keeping the rest in ds.
 * Which images is decided by the seed alone (a shuffle per class: places
 * [fold m, (fold + 1) m) of it), so a run and its resumption, or two recipes
 * with the same seed, hold out the same images, and folds 0, 1, ... of one
 * seed are disjoint: k-fold cross-validation. Both parts keep ds's order. A
 * class with a single image, or too few for that fold, is an error naming
 * it. fraction 0 leaves val empty. */
int dataset_split(Dataset *ds, Dataset *val, float fraction, int fold, uint64_t seed, Error *e);

/* Decodes one image file (JPEG: grayscale, RGB or CMYK, baseline or
 * progressive; PNG: any colour type and depth, alpha dropped) and resizes it
 * to w x h with c channels into dst (h*w*c bytes). The format is told by the
 * file's first bytes, not its name. */
int image_load(const char *path, int w, int h, int c, uint8_t *dst, Error *e);
/* The errors of image_load (and so the warnings of dataset_load) are one line,
 * "<path>: <reason>": "empty file (0 bytes)", "is a GIF, not a JPEG",
 * "truncated JPEG (libjpeg: ...)", "corrupt JPEG (libjpeg: ...)",
 * "truncated PNG (libpng: ...)", "corrupt PNG (libpng: ...)", why the
 * image is too large, or that it is under half of w or h on a side (see
 * preprocess.h). libjpeg warnings count as errors: the pixels they leave
 * are invented. */

/* The resize image_load uses (preprocess.h's pp_resize), on bytes in memory
 * (sw x sh x c to dw x dh), per axis: area averaging with exact fractional
 * weights when shrinking, bilinear between pixel centres when enlarging;
 * integer arithmetic, rounded to the nearest byte. Returns 0. */
int image_resize(const uint8_t *src, int sw, int sh, int c, uint8_t *dst, int dw, int dh);

/* Gray from RGB (ITU-R BT.601 weights), for a 3-channel cache fed to a
 * 1-channel input; batch_fill and dataset_stats agree on it. */
static inline float data_luma(float r, float g, float b) { return 0.299f * r + 0.587f * g + 0.114f * b; }

/* Per-channel mean and standard deviation of the data set's pixels, as the
 * network sees them (after channel order and range, before mean/std):
 * what `normalize auto` uses, computed from the training images only. */
void dataset_stats(const Dataset *ds, const Config *cfg, int in_c, float mean[3], float std[3]);

/* Fills dst, laid out [in_c][cap][in_h][in_w] (channel-major with room for
 * cap images, as the generated code wants), from images idx[0..n) of ds.
 *   augment = 1: the jitter cfg asks for (crop position, flip, scale, shift,
 *     rotation, brightness, contrast), drawn from rng_for(seed, epoch, idx[i])
 *     so the result does not depend on threads or batch order.
 *   augment = 0: the center crop; flip = 1 mirrors every image (for TTA; with
 *     augment = 1 it mirrors on top of the random flip).
 * Then: channel order (gray/rgb/bgr), value range 0..cfg->range, minus mean,
 * divided by std (per channel).
 *
 * Details. The input window is cut from the cached image: centred (integer
 * offset (W - in_w) / 2), or at a uniform integer position for crop random.
 * translate shifts it by a whole number of pixels, uniform in +-translate.
 * scale MIN MAX picks a region whose area is a uniform fraction of the cached
 * image, with the input's aspect ratio, resampled to the input size; rotate
 * turns the window about its centre. Outside the cached image the border
 * pixels repeat. Crop, flip and shift alone copy bytes, so with no scale or
 * rotation every value is exactly byte * (range / 255), before mean and std.
 * Brightness adds a uniform +-brightness*range; contrast scales around the
 * window's mean (all channels) by 1 +- contrast; then values are kept in
 * 0..range. A 3-channel cache fed to 1 channel (or channels = gray) is
 * converted with data_luma; a 1-channel cache fed to 3 is replicated. */
void batch_fill(float *dst, int in_c, int in_h, int in_w, int cap, const Dataset *ds, const int *idx, int n,
                const Config *cfg, const float mean[3], const float std[3], int augment, int flip,
                uint64_t seed, int epoch);

#endif
