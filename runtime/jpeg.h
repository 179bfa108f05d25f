/* jpeg.h: a JPEG file's bytes to pixels, at the scale a net's resize wants.
 *
 * The decoding half of image_load (image.c), on its own so that netc can copy
 * it into a deployed net's predict.c (netc --deploy): the trainer and the
 * deployed predict then decode every JPEG with the same libjpeg calls and
 * hand preprocess.c the same bytes. C99, libjpeg and the C library only.
 *
 * libjpeg decodes at the smallest DCT scale (1/8 .. 8/8) whose output still
 * covers the size asked for, converting to gray or RGB on the way (CMYK and
 * YCCK as well: Adobe's inverted CMYK too). Its errors end the decode; so do
 * its warnings ("Premature end of JPEG file", "Corrupt JPEG data: ..."),
 * which mean it has invented pixels. */
#ifndef NETC_JPEG_H
#define NETC_JPEG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t *pixels; /* h rows of w * c bytes; free() it */
    int w, h, c;
    int full_w, full_h; /* the image's size before the DCT scale */
} JpegImage;

/* 0 if the bytes start as a JPEG does; otherwise -1, and why says what they
 * are instead ("is a PNG, not a JPEG", "empty file (0 bytes)", ...). */
int sniff_jpeg(const unsigned char *bytes, size_t len, char *why, size_t why_len);

/* Decodes to c channels (1: gray, 3: RGB) at the smallest DCT scale whose
 * output covers w x h (the full size if the image is smaller). Returns 0, or
 * -1 with the reason in why (no file name: the caller adds it). */
int decode_jpeg(const unsigned char *bytes, size_t len, int w, int h, int c, JpegImage *out, char *why, size_t why_len);

#endif
