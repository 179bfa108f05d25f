/* pngread.h: a PNG file's bytes to pixels, with libpng.
 *
 * The PNG half of image_load (image.c; jpeg.h is the JPEG half). Every PNG
 * colour type and bit depth is read: palettes are expanded, 16-bit samples
 * cut to 8, interlacing undone, and an alpha channel dropped (the colour
 * under it kept, as PIL's convert("RGB") does). Gray images are replicated to
 * RGB; colour to gray goes through pp_luma, as libjpeg's conversion does. */
#ifndef NETC_PNGREAD_H
#define NETC_PNGREAD_H

#include <stddef.h>

#include "jpeg.h"

/* Does the file start with PNG's signature? */
int is_png(const unsigned char *bytes, size_t len);

/* Decodes to c channels (1: gray, 3: RGB) at full size into out (full_w,
 * full_h = w, h). Returns 0, or -1 with the reason in why ("truncated PNG
 * (libpng: ...)", "corrupt PNG (libpng: ...)", or a size it refuses). */
int decode_png(const unsigned char *bytes, size_t len, int c, JpegImage *out, char *why, size_t why_len);

#endif
