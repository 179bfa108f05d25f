/* image.c: one image file to w x h x c bytes (see data.h).
 *
 * Two steps, each in a file of its own that netc also copies into deployed
 * nets, so a deployed predict sees the bytes the trainer sees: decode
 * (jpeg.c: libjpeg-turbo at the smallest DCT scale that still covers the
 * target, converted to gray or RGB), then resize (preprocess.c: exact
 * integer area averaging or bilinear). A 60-megapixel photo cut down to 64x64
 * is decoded at 1/8 scale, about a megapixel. PNG files (told by their
 * signature, whatever their name) are decoded whole by pngread.c. */
#include "data.h"

#include <stdlib.h>

#include "jpeg.h"
#include "pngread.h"
#include "preprocess.h"

int image_resize(const uint8_t *src, int sw, int sh, int c, uint8_t *dst, int dw, int dh) {
    pp_resize(src, sw, sh, c, dst, dw, dh, c, 0, 0, dw, dh);
    return 0;
}

int image_load(const char *path, int w, int h, int c, uint8_t *dst, Error *e) {
    if (w < 1 || h < 1 || (c != 1 && c != 3)) return errorf(e, "%s: bad target size %dx%dx%d", path, w, h, c);
    size_t len = 0;
    unsigned char *file = (unsigned char *)read_file(path, &len, e);
    if (!file) return -1;
    char why[512];
    JpegImage img;
    int rc = is_png(file, len) ? decode_png(file, len, c, &img, why, sizeof why)
                               : decode_jpeg(file, len, w, h, c, &img, why, sizeof why);
    free(file);
    if (rc < 0) return errorf(e, "%s: %s", path, why);
    rc = pp_check(img.w, img.h, img.c, w, h);
    if (rc == PP_OK) pp_resize(img.pixels, img.w, img.h, img.c, dst, w, h, c, 0, 0, w, h);
    else if (rc == PP_ESMALL)
        errorf(e, "%s: image is %dx%d, under half the %dx%d the net resizes to: enlarging it would invent most of its pixels",
               path, img.full_w, img.full_h, w, h);
    else errorf(e, "%s: %s", path, pp_strerror(rc));
    free(img.pixels);
    return rc == PP_OK ? 0 : -1;
}
