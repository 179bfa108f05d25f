/* imgenc.c: PNG, JPEG and base64 encoders (see imgenc.h). */
#include "imgenc.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "util.h"

/* ---- PNG ------------------------------------------------------------------------ */

static uint32_t crc_table[256];

static void crc_init(void) {
    if (crc_table[1]) return;
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[n] = c;
    }
}

static uint32_t crc32_of(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

static uint8_t *put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
    return p + 4;
}

/* One chunk: length, type, data, CRC of type and data. */
static uint8_t *chunk(uint8_t *p, const char *type, const uint8_t *data, size_t n) {
    p = put32(p, (uint32_t)n);
    uint8_t *start = p;
    memcpy(p, type, 4);
    if (n) memcpy(p + 4, data, n);
    p += 4 + n;
    return put32(p, crc32_of(start, n + 4));
}

uint8_t *png_encode(const uint8_t *pixels, int w, int h, int c, size_t *len) {
    crc_init();
    size_t row = (size_t)w * (size_t)c + 1, raw_len = row * (size_t)h; /* each row: filter byte 0, then pixels */
    size_t blocks = raw_len / 65535 + 1;
    size_t z_len = 2 + raw_len + 5 * blocks + 4; /* zlib header, stored blocks, Adler-32 */
    uint8_t *z = xmalloc(z_len), *q = z;
    *q++ = 0x78, *q++ = 0x01; /* deflate, 32K window, no dictionary, fastest */
    uint32_t a = 1, b = 0;
    size_t done = 0;
    for (size_t k = 0; k < blocks; k++) {
        size_t n = raw_len - done < 65535 ? raw_len - done : 65535;
        *q++ = k + 1 == blocks; /* BFINAL, BTYPE 00: stored */
        *q++ = (uint8_t)n, *q++ = (uint8_t)(n >> 8), *q++ = (uint8_t)~n, *q++ = (uint8_t)(~n >> 8);
        for (size_t i = 0; i < n; i++, done++) {
            size_t y = done / row, x = done % row;
            uint8_t v = x == 0 ? 0 : pixels[y * (row - 1) + x - 1];
            *q++ = v;
            a = (a + v) % 65521, b = (b + a) % 65521;
        }
    }
    q = put32(q, b << 16 | a);

    uint8_t ihdr[13];
    put32(ihdr, (uint32_t)w), put32(ihdr + 4, (uint32_t)h);
    ihdr[8] = 8, ihdr[9] = c == 3 ? 2 : 0, ihdr[10] = ihdr[11] = ihdr[12] = 0;
    size_t total = 8 + (12 + 13) + (12 + z_len) + 12;
    uint8_t *out = xmalloc(total), *p = out;
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    memcpy(p, sig, 8), p += 8;
    p = chunk(p, "IHDR", ihdr, 13);
    p = chunk(p, "IDAT", z, z_len);
    p = chunk(p, "IEND", NULL, 0);
    free(z);
    *len = (size_t)(p - out);
    return out;
}

/* ---- JPEG ------------------------------------------------------------------------ */

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
} JpegErr;

static void jpeg_fail(j_common_ptr cinfo) { longjmp(((JpegErr *)cinfo->err)->jump, 1); }

uint8_t *jpeg_encode(const uint8_t *pixels, int w, int h, int c, int quality, size_t *len) {
    struct jpeg_compress_struct ci;
    JpegErr err;
    unsigned char *volatile buf = NULL; /* libjpeg grows it; volatile across longjmp */
    unsigned long size = 0;
    ci.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = jpeg_fail;
    if (setjmp(err.jump)) {
        jpeg_destroy_compress(&ci);
        free(buf);
        return NULL;
    }
    jpeg_create_compress(&ci);
    jpeg_mem_dest(&ci, (unsigned char **)&buf, &size);
    ci.image_width = (JDIMENSION)w, ci.image_height = (JDIMENSION)h;
    ci.input_components = c;
    ci.in_color_space = c == 3 ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, quality, TRUE);
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < ci.image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)ci.next_scanline * (size_t)w * (size_t)c);
        jpeg_write_scanlines(&ci, &row, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    *len = size;
    return buf;
}

/* ---- base64 ------------------------------------------------------------------------ */

char *base64_encode(const uint8_t *d, size_t n) {
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = xmalloc((n + 2) / 3 * 4 + 1), *p = out;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];
        *p++ = abc[v >> 18], *p++ = abc[(v >> 12) & 63], *p++ = abc[(v >> 6) & 63], *p++ = abc[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0);
        *p++ = abc[v >> 18], *p++ = abc[(v >> 12) & 63];
        *p++ = i + 1 < n ? abc[(v >> 6) & 63] : '=';
        *p++ = '=';
    }
    *p = 0;
    return out;
}
