/* preprocess.h: an image's bytes to a net's input, as evaluation sees it.
 *
 * The one definition of what test and predict do to an image after decoding
 * it: the trainer runs it (image.c resizes with it, batch.c's evaluation
 * path crops and normalises with it), and netc copies this header and
 * preprocess.c into every deployed net (netc --deploy), so a deployed net and
 * its trainer cannot drift apart. Plain C99 with <stdint.h> only: no
 * allocation, no globals, no libm. The resize is integer arithmetic, so its
 * bytes do not depend on the compiler, its flags or the CPU; the normalisation
 * is a table of 256 floats per channel, computed once.
 *
 * The steps, for an image of w x h pixels with c channels:
 *   1. channels: 1 (gray), 3 (RGB) or 4 (RGBA, alpha ignored) to the cache's
 *      1 or 3: gray from RGB by BT.601 luma in libjpeg's fixed point (as
 *      libjpeg converts an RGB JPEG to gray), gray replicated to RGB;
 *   2. resize to rw x rh (the trainer's `resize`, the size it caches images
 *      at), each axis on its own: area averaging with exact fractional
 *      weights when shrinking, bilinear between pixel centres (borders
 *      clamped) when enlarging or keeping the size; the weighted sum rounded
 *      to the nearest byte, halves up;
 *   3. the centre crop of the input's size, at ((rw - in_w) / 2, (rh - in_h) / 2);
 *      mirrored for the flip of test-time augmentation;
 *   4. channel order (gray, rgb, bgr), then value = (byte * range / 255 - mean) / std
 *      per channel, looked up in the table.
 * Images whose width or height is under half the resize size are refused:
 * enlarging them would invent most of the pixels the net sees. */
#ifndef NETC_PREPROCESS_H
#define NETC_PREPROCESS_H

#include <stdint.h>

/* How the functions below are declared: external here; netc --deploy makes
 * them static in a deployed net (several nets can then share a program). */
#ifndef PP_API
#define PP_API
#endif

/* The largest side accepted (JPEG's own limit is 65,500). */
#define PP_MAX_SIDE 65535

/* Channel order of the net's input (the trainer's `channels` setting). */
enum { PP_GRAY, PP_RGB, PP_BGR };

/* Errors: 0 is success, these are negative. */
enum { PP_OK = 0, PP_EARG = -1, PP_ECHANNELS = -2, PP_ESMALL = -3, PP_ELARGE = -4 };

/* Why pp_check refused an image, in words (for PP_E*). */
PP_API const char *pp_strerror(int err);

/* Whether a w x h image with c channels can be resized to rw x rh: 0, or
 * PP_EARG (w or h below 1), PP_ECHANNELS (c not 1, 3 or 4), PP_ESMALL (a side
 * under half of rw or rh), PP_ELARGE (a side over PP_MAX_SIDE). */
PP_API int pp_check(int w, int h, int c, int rw, int rh);

/* The BT.601 luma of an RGB pixel, libjpeg's rgb_gray_convert to the bit. */
static inline uint8_t pp_luma(int r, int g, int b) {
    return (uint8_t)((19595 * r + 38470 * g + 7471 * b + 32768) >> 16);
}

/* Top-left corner of the centre crop of `in` pixels out of `size`. (A function,
 * not static inline: deploy's predict.c copies this header without using it,
 * and clang warns of an unused static function in a .c file.) */
PP_API int pp_crop_origin(int size, int in);

/* Resizes src (w x h pixels of c channels, rows of w * c bytes) to rw x rh
 * pixels of rc channels (1 or 3) and writes the window of cw x ch pixels
 * at (x0, y0) of that, rows of cw * rc bytes, into dst. The window lies inside
 * rw x rh; the image passed pp_check. Needs no scratch: every output byte is
 * its own weighted sum over the source pixels under it. */
PP_API void pp_resize(const uint8_t *src, int w, int h, int c, uint8_t *dst, int rw, int rh, int rc, int x0, int y0, int cw,
               int ch);

/* table[k][b]: the value of byte b in input channel k,
 * (b * range / 255 - mean[k]) / std[k] in double, rounded to float once. */
PP_API void pp_table(float table[3][256], float range, const float mean[3], const float std[3]);

/* A window of w x h cached pixels (rc channels, a row every row_bytes bytes)
 * to the net's input: in_c planes of h x w floats, plane k at
 * out + k * plane_stride, in the given channel order (gray from RGB by
 * pp_luma), mirrored left to right if mirror, each byte looked up in table. */
PP_API void pp_input(const uint8_t *win, int w, int h, long row_bytes, int rc, int in_c, int order, const float table[3][256],
              int mirror, float *out, long plane_stride);

#endif
