/* jpeg.c: JPEG bytes to pixels with libjpeg(-turbo) (see jpeg.h).
 *
 * libjpeg reports errors by calling error_exit, which must not return: ours
 * longjmps back to decode_jpeg. Its warnings longjmp too (see jpeg.h).
 * C99, libjpeg and the C library only: netc copies this file into deployed
 * nets' predict.c. */
#include "jpeg.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "preprocess.h"

/* Refuse decodes above this many pixels (after DCT scaling): the time alone
 * would be minutes, and no net's input is ever that large. */
#define JPEG_MAX_DECODE_PIXELS 200000000.0
/* libjpeg's own memory cap: a progressive JPEG keeps every DCT coefficient of
 * the full-size image (about 2 bytes per pixel and component), whatever the
 * output scale. Above this it fails with "Backing store not supported". */
#define JPEG_MAX_MEMORY (1L << 30)

int sniff_jpeg(const unsigned char *b, size_t len, char *why, size_t n) {
    static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (len >= 2 && b[0] == 0xFF && b[1] == 0xD8) return 0;
    if (len == 0) snprintf(why, n, "empty file (0 bytes)");
    else if (len >= 8 && memcmp(b, png, 8) == 0) snprintf(why, n, "is a PNG, not a JPEG");
    else if (len >= 6 && (memcmp(b, "GIF87a", 6) == 0 || memcmp(b, "GIF89a", 6) == 0)) snprintf(why, n, "is a GIF, not a JPEG");
    else if (len >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0) snprintf(why, n, "is a WebP, not a JPEG");
    else if (len >= 2 && b[0] == 'B' && b[1] == 'M') snprintf(why, n, "is a BMP, not a JPEG");
    else
        snprintf(why, n, "is not a JPEG (it starts with 0x%02x 0x%02x; a JPEG starts with 0xff 0xd8)", b[0], len > 1 ? b[1] : 0);
    return -1;
}

/* ------------------------------------------------------------------------- */
/* libjpeg error handling.                                                     */

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char text[JMSG_LENGTH_MAX];
} JpegErrors;

static void jpeg_on_error(j_common_ptr cinfo) {
    JpegErrors *m = (JpegErrors *)cinfo->err;
    m->pub.format_message(cinfo, m->text);
    longjmp(m->jump, 1);
}

/* level < 0 is a warning: corrupt or missing data that libjpeg papered over.
 * An unknown JFIF version is the one warning about metadata, not pixels.
 * level >= 0 is tracing: stay silent. */
static void jpeg_on_message(j_common_ptr cinfo, int level) {
    if (level >= 0 || cinfo->err->msg_code == JWRN_JFIF_MAJOR) return;
    jpeg_on_error(cinfo);
}

/* The reason a decode failed. */
static void jpeg_failure(struct jpeg_decompress_struct *d, const JpegErrors *m, char *out, size_t n) {
    switch (m->pub.msg_code) {
    case JWRN_JPEG_EOF:
    case JERR_INPUT_EOF:
        snprintf(out, n, "truncated JPEG (libjpeg: %s)", m->text);
        break;
    case JERR_IMAGE_TOO_BIG:
        snprintf(out, n, "image is %ux%u pixels; libjpeg decodes at most %ld pixels on a side", d->image_width,
                 d->image_height, (long)JPEG_MAX_DIMENSION);
        break;
    case JERR_NO_BACKING_STORE:
    case JERR_OUT_OF_MEMORY:
        snprintf(out, n, "%s JPEG of %ux%u pixels needs more than %ld MB to decode; re-encode it smaller",
                 d->progressive_mode ? "progressive" : "a", d->image_width, d->image_height, JPEG_MAX_MEMORY >> 20);
        break;
    default:
        snprintf(out, n, "corrupt JPEG (libjpeg: %s)", m->text);
    }
}

/* Smallest DCT scale num/8 whose output covers w x h (8/8 when the image is
 * smaller than that: enlarging is left to the resize). */
static void jpeg_scale_for(struct jpeg_decompress_struct *d, int w, int h) {
    unsigned num;
    d->scale_denom = 8;
    for (num = 1; num <= 8; num++) {
        d->scale_num = num;
        jpeg_calc_output_dimensions(d);
        if (d->output_width >= (unsigned)w && d->output_height >= (unsigned)h) return;
    }
}

/* ------------------------------------------------------------------------- */
/* Colour.                                                                     */

/* CMYK to RGB (or gray). Adobe (Photoshop) writes CMYK inverted, 255 = no
 * ink, and marks such files with an Adobe APP14 segment; plain CMYK has
 * 255 = full ink. */
static void jpeg_cmyk_row(const uint8_t *in, uint8_t *out, int n, int c, int inverted) {
    int i;
    for (i = 0; i < n; i++, in += 4) {
        int cy = in[0], m = in[1], y = in[2], k = in[3];
        int r, g, b;
        if (!inverted) cy = 255 - cy, m = 255 - m, y = 255 - y, k = 255 - k;
        r = (cy * k + 127) / 255, g = (m * k + 127) / 255, b = (y * k + 127) / 255;
        if (c == 1) out[i] = pp_luma(r, g, b);
        else out[3 * i] = (uint8_t)r, out[3 * i + 1] = (uint8_t)g, out[3 * i + 2] = (uint8_t)b;
    }
}

/* Picks libjpeg's output colour space for c channels; *cmyk when we convert. */
static int jpeg_color_space_for(struct jpeg_decompress_struct *d, int c, int *cmyk, char *why, size_t n) {
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

/* What a decode allocates, on the heap so that it survives the longjmp (a
 * local changed between setjmp and longjmp is indeterminate after it). */
typedef struct {
    uint8_t *pixels, *line;
} JpegBuffers;

int decode_jpeg(const unsigned char *bytes, size_t len, int w, int h, int c, JpegImage *out, char *why, size_t why_len) {
    struct jpeg_decompress_struct d;
    JpegErrors em;
    JpegBuffers *b;
    int cmyk;
    size_t ow, oh;
    double pixels;

    memset(out, 0, sizeof *out);
    if (w < 1 || h < 1 || (c != 1 && c != 3)) {
        snprintf(why, why_len, "bad target size %dx%dx%d", w, h, c);
        return -1;
    }
    if (sniff_jpeg(bytes, len, why, why_len) < 0) return -1;
    b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(why, why_len, "out of memory");
        return -1;
    }
    d.err = jpeg_std_error(&em.pub);
    em.pub.error_exit = jpeg_on_error;
    em.pub.emit_message = jpeg_on_message;
    jpeg_create_decompress(&d);
    if (setjmp(em.jump)) {
        jpeg_failure(&d, &em, why, why_len);
        goto fail;
    }
    d.mem->max_memory_to_use = JPEG_MAX_MEMORY;
    jpeg_mem_src(&d, bytes, (unsigned long)len);
    jpeg_read_header(&d, TRUE);

    if (jpeg_color_space_for(&d, c, &cmyk, why, why_len) < 0) goto fail;
    jpeg_scale_for(&d, w, h);
    pixels = (double)d.output_width * d.output_height;
    if (pixels > JPEG_MAX_DECODE_PIXELS) {
        snprintf(why, why_len, "image is %ux%u pixels; decoding it for %dx%d means %.0f megapixels, above the %.0f limit",
                 d.image_width, d.image_height, w, h, pixels / 1e6, JPEG_MAX_DECODE_PIXELS / 1e6);
        goto fail;
    }
    jpeg_start_decompress(&d);

    ow = d.output_width, oh = d.output_height;
    b->pixels = malloc(ow * oh * (size_t)c);
    b->line = malloc(ow * (size_t)d.output_components);
    if (!b->pixels || !b->line) {
        snprintf(why, why_len, "out of memory decoding %ux%u pixels", d.image_width, d.image_height);
        goto fail;
    }
    while (d.output_scanline < d.output_height) {
        uint8_t *dst = b->pixels + (size_t)d.output_scanline * ow * (size_t)c;
        JSAMPROW row = cmyk ? b->line : dst;
        jpeg_read_scanlines(&d, &row, 1);
        if (cmyk) jpeg_cmyk_row(b->line, dst, (int)ow, c, d.saw_Adobe_marker);
    }
    jpeg_finish_decompress(&d);
    out->pixels = b->pixels, out->w = (int)ow, out->h = (int)oh, out->c = c;
    out->full_w = (int)d.image_width, out->full_h = (int)d.image_height;
    jpeg_destroy_decompress(&d);
    free(b->line);
    free(b);
    return 0;

fail:
    jpeg_destroy_decompress(&d);
    free(b->pixels);
    free(b->line);
    free(b);
    return -1;
}
