/* imgenc.h: small images to bytes a browser shows: PNG, JPEG, base64.
 *
 * For report.html, which carries its images inline as data: URIs so that it
 * is one self-contained file. PNG is lossless (filter grids, drawn pixel for
 * pixel); JPEG is small (photographs). Pixels are row-major, c = 1 (gray) or
 * 3 (RGB) bytes per pixel. Results are malloc'd; free them. */
#ifndef NETC_IMGENC_H
#define NETC_IMGENC_H

#include <stddef.h>
#include <stdint.h>

/* A PNG (8-bit gray or RGB, no interlace) with stored deflate blocks: no
 * compression, so no zlib; sizes are small enough not to matter. */
uint8_t *png_encode(const uint8_t *pixels, int w, int h, int c, size_t *len);

/* A baseline JPEG at `quality` (1..100) through libjpeg-turbo. NULL on failure. */
uint8_t *jpeg_encode(const uint8_t *pixels, int w, int h, int c, int quality, size_t *len);

/* Standard base64 (RFC 4648, with padding), NUL-terminated. */
char *base64_encode(const uint8_t *data, size_t len);

#endif
