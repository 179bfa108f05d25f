/* preprocess.c: resize, crop, channels and normalisation (see preprocess.h).
 *
 * C99 and nothing else, so that netc can copy it into a deployed net: keep it
 * free of the runtime's helpers, of allocation and of GNU C. */
#include "preprocess.h"

#include <stddef.h>

PP_API const char *pp_strerror(int err) {
    switch (err) {
    case PP_OK: return "no error";
    case PP_EARG: return "no image: no pixels, or a width or height below 1";
    case PP_ECHANNELS: return "an image has 1 (gray), 3 (RGB) or 4 (RGBA) channels";
    case PP_ESMALL: return "the image is under half the size the net resizes to: enlarging it would invent most of its pixels";
    case PP_ELARGE: return "the image is over 65,535 pixels on a side";
    default: return "unknown error";
    }
}

PP_API int pp_crop_origin(int size, int in) { return (size - in) / 2; }

PP_API int pp_check(int w, int h, int c, int rw, int rh) {
    if (w < 1 || h < 1) return PP_EARG;
    if (c != 1 && c != 3 && c != 4) return PP_ECHANNELS;
    if (w > PP_MAX_SIDE || h > PP_MAX_SIDE) return PP_ELARGE;
    if (2L * w < rw || 2L * h < rh) return PP_ESMALL;
    return PP_OK;
}

/* One axis of the resize, from src pixels to dst. Output i reads source
 * pixels [first, first + count) with integer weights that add up to
 * span_den(src, dst), so a weighted sum divided by it is exact.
 *   Shrinking: output i covers [i * src, (i + 1) * src) in units of 1/dst of
 *   a source pixel, pixel j covers [j * dst, (j + 1) * dst); j's weight is
 *   their overlap (the weights add up to src).
 *   Enlarging or equal: output i's centre falls on source position
 *   x = (i + 1/2) * src / dst - 1/2, clamped at 0; its two neighbours get
 *   1 - frac(x) and frac(x), in units of 1/(2 dst): 2 dst x = (2i + 1) src - dst.
 *   Past the last pixel's centre, that pixel alone. */
typedef struct {
    int first, count;
    int shrink;
    uint32_t w[2];    /* enlarging: the weights */
    int64_t lo, hi;   /* shrinking: the output's span, in 1/dst units */
} Span;

static uint32_t span_den(int src, int dst) { return dst < src ? (uint32_t)src : 2u * (uint32_t)dst; }

static Span span_of(int src, int dst, int i) {
    Span s;
    s.shrink = dst < src;
    if (s.shrink) {
        s.lo = (int64_t)i * src, s.hi = s.lo + src;
        s.first = (int)(s.lo / dst);
        s.count = (int)((s.hi + dst - 1) / dst) - s.first;
        s.w[0] = s.w[1] = 0;
        return s;
    }
    int64_t d2 = 2 * (int64_t)dst, x2 = (2 * (int64_t)i + 1) * src - dst;
    if (x2 < 0) x2 = 0;
    int j0 = (int)(x2 / d2);
    s.lo = s.hi = 0;
    if (j0 >= src - 1) {
        s.first = src - 1, s.count = 1;
        s.w[0] = (uint32_t)d2, s.w[1] = 0;
    } else {
        uint32_t frac = (uint32_t)(x2 - j0 * d2);
        s.first = j0, s.count = 2;
        s.w[0] = (uint32_t)d2 - frac, s.w[1] = frac;
    }
    return s;
}

/* The weight of source pixel first + k in output span s. */
static uint32_t span_weight(const Span *s, int dst, int k) {
    if (!s->shrink) return s->w[k];
    int64_t a = (int64_t)(s->first + k) * dst, b = a + dst;
    return (uint32_t)((b < s->hi ? b : s->hi) - (a > s->lo ? a : s->lo));
}

/* Channel ch (of rc) of the pixel at p (of c channels), converted as step 1 says. */
static uint32_t pixel(const uint8_t *p, int c, int rc, int ch) {
    if (c == 1) return p[0];
    if (rc == 1) return pp_luma(p[0], p[1], p[2]);
    return p[ch];
}

PP_API void pp_resize(const uint8_t *src, int w, int h, int c, uint8_t *dst, int rw, int rh, int rc, int x0, int y0, int cw,
               int ch) {
    uint64_t den = (uint64_t)span_den(w, rw) * span_den(h, rh);
    for (int y = 0; y < ch; y++) {
        Span sy = span_of(h, rh, y0 + y);
        for (int x = 0; x < cw; x++) {
            Span sx = span_of(w, rw, x0 + x);
            for (int k = 0; k < rc; k++) {
                uint64_t sum = 0;
                for (int j = 0; j < sy.count; j++) {
                    const uint8_t *row = src + ((size_t)(sy.first + j) * (size_t)w + (size_t)sx.first) * (size_t)c;
                    uint64_t rowsum = 0; /* at most 255 * 2 * 65535 per row: no overflow */
                    for (int i = 0; i < sx.count; i++) rowsum += (uint64_t)span_weight(&sx, rw, i) * pixel(row + (size_t)i * (size_t)c, c, rc, k);
                    sum += rowsum * span_weight(&sy, rh, j);
                }
                dst[((size_t)y * (size_t)cw + (size_t)x) * (size_t)rc + (size_t)k] = (uint8_t)((sum + den / 2) / den);
            }
        }
    }
}

PP_API void pp_table(float table[3][256], float range, const float mean[3], const float std[3]) {
    for (int k = 0; k < 3; k++)
        for (int b = 0; b < 256; b++) table[k][b] = (float)(((double)b * range / 255.0 - mean[k]) / std[k]);
}

PP_API void pp_input(const uint8_t *win, int w, int h, long row_bytes, int rc, int in_c, int order, const float table[3][256],
              int mirror, float *out, long plane_stride) {
    for (int k = 0; k < in_c; k++) {
        /* which cached channel input channel k reads; -1: the luma of all three */
        int from = rc == 1 ? 0 : in_c == 1 || order == PP_GRAY ? -1 : order == PP_BGR ? 2 - k : k;
        float *plane = out + k * plane_stride;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                const uint8_t *p = win + (size_t)y * (size_t)row_bytes + (size_t)(mirror ? w - 1 - x : x) * (size_t)rc;
                plane[(long)y * w + x] = table[k][from < 0 ? pp_luma(p[0], p[1], p[2]) : p[from]];
            }
    }
}
