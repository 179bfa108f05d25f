/* image.c: one JPEG file to w x h x c bytes (see data.h).
 *
 * Pipeline: read the file, check its magic, let libjpeg-turbo decode it at the
 * smallest DCT scale (1/8 .. 8/8) that still covers the target, convert each
 * scanline to the channels asked for, resize it horizontally as it arrives,
 * then resize vertically. Only one scanline of the decoded image is ever held
 * in bytes; the rest is the horizontally resized rows, so a 60-megapixel photo
 * cut down to 64x64 costs a few megabytes, not hundreds.
 *
 * libjpeg reports errors by calling error_exit, which must not return: ours
 * longjmps back to image_load. Its warnings ("Premature end of JPEG file",
 * "Corrupt JPEG data: ...") mean it has invented pixels, so they longjmp too
 * and the image counts as unreadable rather than being trained on as grey. */
#include "data.h"

#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

/* Refuse decodes above this many pixels (after DCT scaling): the time alone
 * would be minutes, and the target of a trainer is never that large. */
#define MAX_DECODE_PIXELS 200000000.0
/* libjpeg's own memory cap: a progressive JPEG keeps every DCT coefficient of
 * the full-size image (about 2 bytes per pixel and component), whatever the
 * output scale. Above this it fails with "Backing store not supported". */
#define MAX_DECODER_MEMORY (1L << 30)

/* ------------------------------------------------------------------------- */
/* Resizing: one axis at a time, as a list of taps per output index.          */

/* Output index i reads src[first[i] .. first[i]+count[i]) with weights
 * weight[i*taps ..]. */
typedef struct {
    int taps;
    int *first, *count;
    float *weight;
} Taps;

static void taps_free(Taps *t) {
    free(t->first);
    free(t->count);
    free(t->weight);
    t->first = t->count = NULL, t->weight = NULL;
}

/* Shrinking: area averaging. Output i covers source span [i*s, (i+1)*s) with
 * s = src/dst; each source pixel j weighs its overlap with that span. In units
 * of 1/dst the span is [i*src, (i+1)*src) and pixel j is [j*dst, (j+1)*dst),
 * so the overlaps are exact integers and the weights exactly overlap/src.
 * Enlarging (or equal size): bilinear between the two nearest source pixel
 * centres, clamped at the borders (equal size gives weight 1 on one pixel). */
static int taps_make(Taps *t, int src, int dst) {
    t->taps = dst < src ? src / dst + 2 : 2;
    t->first = malloc(sizeof(int) * (size_t)dst);
    t->count = malloc(sizeof(int) * (size_t)dst);
    t->weight = calloc((size_t)dst * (size_t)t->taps, sizeof(float));
    if (!t->first || !t->count || !t->weight) return taps_free(t), -1;
    for (int i = 0; i < dst; i++) {
        float *w = t->weight + (size_t)i * (size_t)t->taps;
        if (dst < src) {
            long long lo = (long long)i * src, hi = lo + src;
            int j0 = (int)(lo / dst), j1 = (int)((hi + dst - 1) / dst); /* [j0, j1) */
            t->first[i] = j0, t->count[i] = j1 - j0;
            for (int j = j0; j < j1; j++) {
                long long a = (long long)j * dst, b = a + dst;
                long long overlap = (b < hi ? b : hi) - (a > lo ? a : lo);
                w[j - j0] = (float)((double)overlap / src);
            }
        } else {
            double x = (i + 0.5) * src / dst - 0.5;
            if (x < 0) x = 0;
            int j0 = (int)x;
            if (j0 >= src - 1) {
                t->first[i] = src - 1, t->count[i] = 1, w[0] = 1;
            } else {
                t->first[i] = j0, t->count[i] = 2;
                w[0] = (float)(1 - (x - j0)), w[1] = (float)(x - j0);
            }
        }
    }
    return 0;
}

/* One row of sw pixels (c bytes each) to dw pixels of floats. */
static void resize_row(const uint8_t *src, float *dst, int c, const Taps *tx, int dw) {
    for (int i = 0; i < dw; i++) {
        const float *w = tx->weight + (size_t)i * (size_t)tx->taps;
        const uint8_t *s = src + (size_t)tx->first[i] * (size_t)c;
        for (int ch = 0; ch < c; ch++) {
            float acc = 0;
            for (int k = 0; k < tx->count[i]; k++) acc += w[k] * s[k * c + ch];
            dst[i * c + ch] = acc;
        }
    }
}

static uint8_t to_u8(float v) {
    if (!(v > 0)) return 0;
    if (v >= 255) return 255;
    return (uint8_t)(v + 0.5f);
}

/* Rows already resized horizontally (sh rows of dw*c floats) to dh rows. */
static void resize_columns(const float *rows, uint8_t *dst, int dw, int c, const Taps *ty, int dh) {
    size_t stride = (size_t)dw * (size_t)c;
    for (int i = 0; i < dh; i++) {
        const float *w = ty->weight + (size_t)i * (size_t)ty->taps;
        for (size_t x = 0; x < stride; x++) {
            float acc = 0;
            for (int k = 0; k < ty->count[i]; k++) acc += w[k] * rows[(size_t)(ty->first[i] + k) * stride + x];
            dst[(size_t)i * stride + x] = to_u8(acc);
        }
    }
}

int image_resize(const uint8_t *src, int sw, int sh, int c, uint8_t *dst, int dw, int dh) {
    Taps tx, ty;
    if (taps_make(&tx, sw, dw) < 0) return -1;
    if (taps_make(&ty, sh, dh) < 0) return taps_free(&tx), -1;
    float *rows = malloc(sizeof(float) * (size_t)sh * (size_t)dw * (size_t)c);
    if (rows) {
        for (int y = 0; y < sh; y++)
            resize_row(src + (size_t)y * (size_t)sw * (size_t)c, rows + (size_t)y * (size_t)dw * (size_t)c, c, &tx, dw);
        resize_columns(rows, dst, dw, c, &ty, dh);
    }
    free(rows);
    taps_free(&tx);
    taps_free(&ty);
    return rows ? 0 : -1;
}

/* ------------------------------------------------------------------------- */
/* libjpeg error handling.                                                     */

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char text[JMSG_LENGTH_MAX];
} ErrorMgr;

static void on_error(j_common_ptr cinfo) {
    ErrorMgr *m = (ErrorMgr *)cinfo->err;
    m->pub.format_message(cinfo, m->text);
    longjmp(m->jump, 1);
}

/* level < 0 is a warning: corrupt or missing data that libjpeg papered over.
 * An unknown JFIF version is the one warning about metadata, not pixels.
 * level >= 0 is tracing: stay silent. */
static void on_message(j_common_ptr cinfo, int level) {
    if (level >= 0 || cinfo->err->msg_code == JWRN_JFIF_MAJOR) return;
    on_error(cinfo);
}

/* The reason a decode failed, for "<path>: <reason>". */
static void describe_failure(struct jpeg_decompress_struct *d, const ErrorMgr *m, char *out, size_t n) {
    switch (m->pub.msg_code) {
    case JWRN_JPEG_EOF:
    case JERR_INPUT_EOF:
        snprintf(out, n, "truncated JPEG (libjpeg: %s)", m->text);
        break;
    case JERR_IMAGE_TOO_BIG:
        snprintf(out, n, "image is %ux%u pixels; libjpeg decodes at most %ld pixels on a side",
                 d->image_width, d->image_height, (long)JPEG_MAX_DIMENSION);
        break;
    case JERR_NO_BACKING_STORE:
    case JERR_OUT_OF_MEMORY:
        snprintf(out, n, "%s JPEG of %ux%u pixels needs more than %ld MB to decode; re-encode it smaller",
                 d->progressive_mode ? "progressive" : "a", d->image_width, d->image_height,
                 MAX_DECODER_MEMORY >> 20);
        break;
    default:
        snprintf(out, n, "corrupt JPEG (libjpeg: %s)", m->text);
    }
}

/* ------------------------------------------------------------------------- */
/* Checks before libjpeg sees the bytes: say what the file is, not just "bad". */

static int check_magic(const char *path, const unsigned char *b, size_t len, Error *e) {
    static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (len == 0) return errorf(e, "%s: empty file (0 bytes)", path);
    if (len >= 2 && b[0] == 0xFF && b[1] == 0xD8) return 0;
    if (len >= 8 && memcmp(b, png, 8) == 0) return errorf(e, "%s: is a PNG, not a JPEG", path);
    if (len >= 6 && (memcmp(b, "GIF87a", 6) == 0 || memcmp(b, "GIF89a", 6) == 0))
        return errorf(e, "%s: is a GIF, not a JPEG", path);
    if (len >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0)
        return errorf(e, "%s: is a WebP, not a JPEG", path);
    if (len >= 2 && b[0] == 'B' && b[1] == 'M') return errorf(e, "%s: is a BMP, not a JPEG", path);
    return errorf(e, "%s: is not a JPEG (it starts with 0x%02x 0x%02x; a JPEG starts with 0xff 0xd8)", path, b[0],
                  len > 1 ? b[1] : 0);
}

/* Smallest DCT scale num/8 whose output covers w x h (8/8 when the image is
 * smaller than the target: enlarging is left to the bilinear resize). */
static void choose_scale(struct jpeg_decompress_struct *d, int w, int h) {
    d->scale_denom = 8;
    for (unsigned num = 1; num <= 8; num++) {
        d->scale_num = num;
        jpeg_calc_output_dimensions(d);
        if (d->output_width >= (unsigned)w && d->output_height >= (unsigned)h) return;
    }
}

/* ------------------------------------------------------------------------- */
/* Colour: one decoded scanline to c channels.                                */

static uint8_t luma(int r, int g, int b) {
    /* ITU-R BT.601, as libjpeg's own RGB-to-grayscale conversion */
    return (uint8_t)((19595 * r + 38470 * g + 7471 * b + 32768) >> 16);
}

/* CMYK to RGB. Adobe (Photoshop) writes CMYK inverted, 255 = no ink, and marks
 * such files with an Adobe APP14 segment; plain CMYK has 255 = full ink. */
static void cmyk_row(const uint8_t *in, uint8_t *out, int n, int c, int inverted) {
    for (int i = 0; i < n; i++, in += 4) {
        int cy = in[0], m = in[1], y = in[2], k = in[3];
        if (!inverted) cy = 255 - cy, m = 255 - m, y = 255 - y, k = 255 - k;
        int r = (cy * k + 127) / 255, g = (m * k + 127) / 255, b = (y * k + 127) / 255;
        if (c == 1) out[i] = luma(r, g, b);
        else out[3 * i] = (uint8_t)r, out[3 * i + 1] = (uint8_t)g, out[3 * i + 2] = (uint8_t)b;
    }
}

/* Picks libjpeg's output colour space for c channels; *cmyk when we convert. */
static int set_color_space(struct jpeg_decompress_struct *d, int c, int *cmyk, char *why, size_t n) {
    *cmyk = 0;
    switch (d->jpeg_color_space) {
    case JCS_GRAYSCALE:
    case JCS_YCbCr:
    case JCS_RGB:
        /* libjpeg converts among these itself: Y for gray, gray replicated for RGB */
        d->out_color_space = c == 1 ? JCS_GRAYSCALE : JCS_RGB;
        return 0;
    case JCS_CMYK:
    case JCS_YCCK:
        d->out_color_space = JCS_CMYK;
        *cmyk = 1;
        return 0;
    default:
        snprintf(why, n, "has %d colour components in an unknown colour space; only grayscale, RGB/YCbCr and CMYK are supported",
                 d->num_components);
        return -1;
    }
}

/* ------------------------------------------------------------------------- */

/* Everything image_load allocates, so one place frees it on any path. */
typedef struct {
    unsigned char *file;
    uint8_t *line, *conv;
    float *rows;
    Taps tx, ty;
} Buffers;

static void buffers_free(Buffers *b) {
    free(b->file);
    free(b->line);
    free(b->conv);
    free(b->rows);
    taps_free(&b->tx);
    taps_free(&b->ty);
    free(b);
}

/* Decodes the scanlines, each converted and resized horizontally into b->rows. */
static void decode_rows(struct jpeg_decompress_struct *d, Buffers *b, int c, int cmyk, int w) {
    int ow = (int)d->output_width;
    while (d->output_scanline < d->output_height) {
        int y = (int)d->output_scanline;
        JSAMPROW row = b->line;
        jpeg_read_scanlines(d, &row, 1);
        const uint8_t *px = b->line;
        if (cmyk) {
            cmyk_row(b->line, b->conv, ow, c, d->saw_Adobe_marker);
            px = b->conv;
        }
        resize_row(px, b->rows + (size_t)y * (size_t)w * (size_t)c, c, &b->tx, w);
    }
}

int image_load(const char *path, int w, int h, int c, uint8_t *dst, Error *e) {
    if (w < 1 || h < 1 || (c != 1 && c != 3)) return errorf(e, "%s: bad target size %dx%dx%d", path, w, h, c);
    /* On the heap, not in a local: a local changed between setjmp and longjmp
     * would be indeterminate after the jump, and the buffers must be freed. */
    Buffers *b = xcalloc(1, sizeof *b);
    size_t len = 0;
    b->file = (unsigned char *)read_file(path, &len, e);
    if (!b->file || check_magic(path, b->file, len, e) < 0) return buffers_free(b), -1;

    struct jpeg_decompress_struct d;
    ErrorMgr em;
    char why[512] = "";
    d.err = jpeg_std_error(&em.pub);
    em.pub.error_exit = on_error;
    em.pub.emit_message = on_message;
    jpeg_create_decompress(&d);
    if (setjmp(em.jump)) {
        describe_failure(&d, &em, why, sizeof why);
        goto fail;
    }
    d.mem->max_memory_to_use = MAX_DECODER_MEMORY;
    jpeg_mem_src(&d, b->file, (unsigned long)len);
    jpeg_read_header(&d, TRUE);

    int cmyk;
    if (set_color_space(&d, c, &cmyk, why, sizeof why) < 0) goto fail;
    choose_scale(&d, w, h);
    double pixels = (double)d.output_width * d.output_height;
    if (pixels > MAX_DECODE_PIXELS) {
        snprintf(why, sizeof why, "image is %ux%u pixels; decoding it for %dx%d means %.0f megapixels, above the %.0f limit",
                 d.image_width, d.image_height, w, h, pixels / 1e6, MAX_DECODE_PIXELS / 1e6);
        goto fail;
    }
    jpeg_start_decompress(&d);

    size_t ow = d.output_width, oh = d.output_height;
    b->line = malloc(ow * (size_t)d.output_components);
    b->conv = malloc(ow * (size_t)c);
    b->rows = malloc(sizeof(float) * oh * (size_t)w * (size_t)c);
    if (!b->line || !b->conv || !b->rows || taps_make(&b->tx, (int)ow, w) < 0 || taps_make(&b->ty, (int)oh, h) < 0) {
        snprintf(why, sizeof why, "out of memory decoding %ux%u pixels", d.image_width, d.image_height);
        goto fail;
    }
    decode_rows(&d, b, c, cmyk, w);
    jpeg_finish_decompress(&d);
    jpeg_destroy_decompress(&d);
    resize_columns(b->rows, dst, w, c, &b->ty, h);
    buffers_free(b);
    return 0;

fail:
    jpeg_destroy_decompress(&d);
    buffers_free(b);
    return errorf(e, "%s: %s", path, why);
}
