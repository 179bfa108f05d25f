/* pngread.c: PNG bytes to pixels with libpng (see pngread.h).
 *
 * libpng reports errors by calling our error function, which must not
 * return: it longjmps back to decode_png. Warnings (a bad colour profile, an
 * unknown chunk) are about metadata, never pixels: ignored. */
#include "pngread.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "preprocess.h"

/* PNG has no reduced-scale decode: the whole image is held in memory, 3
 * bytes a pixel. Larger files are refused with a message rather than
 * allocated (in parallel, on every decoding thread). */
#define PNG_MAX_PIXELS 64000000.0

static const unsigned char signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

int is_png(const unsigned char *bytes, size_t len) { return len >= 8 && memcmp(bytes, signature, 8) == 0; }

typedef struct {
    const unsigned char *bytes;
    size_t len, at;
    int truncated;
    char text[200];
    /* on the heap side of the longjmp: freed on every path */
    uint8_t *pixels;
    png_bytep *rows;
} Source;

static void on_error(png_structp png, png_const_charp msg) {
    Source *s = png_get_error_ptr(png);
    snprintf(s->text, sizeof s->text, "%s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

static void read_bytes(png_structp png, png_bytep out, png_size_t n) {
    Source *s = png_get_io_ptr(png);
    if (n > s->len - s->at) {
        s->truncated = 1;
        png_error(png, "the file ends in the middle of the image");
    }
    memcpy(out, s->bytes + s->at, n);
    s->at += n;
}

int decode_png(const unsigned char *bytes, size_t len, int c, JpegImage *out, char *why, size_t why_len) {
    memset(out, 0, sizeof *out);
    if (!is_png(bytes, len)) return snprintf(why, why_len, "is not a PNG"), -1;
    Source *s = calloc(1, sizeof *s);
    png_structp png = s ? png_create_read_struct(PNG_LIBPNG_VER_STRING, s, on_error, on_warning) : NULL;
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        if (png) png_destroy_read_struct(&png, NULL, NULL);
        free(s);
        return snprintf(why, why_len, "out of memory starting libpng"), -1;
    }
    s->bytes = bytes, s->len = len;
    int rc = -1;
    if (setjmp(png_jmpbuf(png))) {
        snprintf(why, why_len, "%s PNG (libpng: %s)", s->truncated ? "truncated" : "corrupt", s->text);
        goto done;
    }
    png_set_read_fn(png, s, read_bytes);
    png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX); /* the size is judged below, in words */
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if ((double)w * h > PNG_MAX_PIXELS) {
        snprintf(why, why_len, "PNG of %ux%u pixels is over the %.0f megapixels netc decodes; shrink it", (unsigned)w,
                 (unsigned)h, PNG_MAX_PIXELS / 1e6);
        goto done;
    }
    int type = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16) png_set_strip_16(png); /* the high byte, as PIL does */
    png_set_strip_alpha(png);
    int gray = !(type & PNG_COLOR_MASK_COLOR) && type != PNG_COLOR_TYPE_PALETTE;
    if (gray && c == 3) png_set_gray_to_rgb(png), gray = 0;
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int got = gray ? 1 : 3;
    if ((int)png_get_rowbytes(png, info) != (int)w * got) {
        snprintf(why, why_len, "PNG with an unexpected layout after conversion (%d bytes a row for %u pixels)",
                 (int)png_get_rowbytes(png, info), (unsigned)w);
        goto done;
    }
    s->pixels = malloc((size_t)w * h * 3);
    s->rows = malloc(sizeof(png_bytep) * h);
    if (!s->pixels || !s->rows) {
        snprintf(why, why_len, "out of memory decoding a PNG of %ux%u pixels", (unsigned)w, (unsigned)h);
        goto done;
    }
    for (png_uint_32 y = 0; y < h; y++) s->rows[y] = s->pixels + (size_t)y * w * (size_t)got;
    png_read_image(png, s->rows);
    png_read_end(png, NULL);
    if (got == 3 && c == 1) /* colour to gray as libjpeg does it, in place: each pixel's gray is written before any later read */
        for (size_t i = 0; i < (size_t)w * h; i++) s->pixels[i] = pp_luma(s->pixels[3 * i], s->pixels[3 * i + 1], s->pixels[3 * i + 2]);
    *out = (JpegImage){.pixels = s->pixels, .w = (int)w, .h = (int)h, .c = c, .full_w = (int)w, .full_h = (int)h};
    s->pixels = NULL;
    rc = 0;
done:
    png_destroy_read_struct(&png, &info, NULL);
    free(s->pixels), free(s->rows), free(s);
    return rc;
}
