/* test_data.c: the data path, from JPEG files to the input batch.
 *
 * JPEG fixtures are written at run time with libjpeg's compressor into a fresh
 * temporary folder: solid colours and 8x8-block patterns at quality 100, whose
 * decoded values are known (a constant 8x8 block is only a DC coefficient, so
 * it survives the DCT exactly), and broken files of every kind a data set
 * meets. batch_fill is checked on hand-made caches, where every expected value
 * can be computed independently. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>
#include <png.h>

#include "data.h"
#include "preprocess.h"

static char g_dir[256]; /* the fixture folder of this run */

/* ------------------------------------------------------------------------- */
/* Fixtures                                                                    */

static char *path_in(const char *rel) {
    static char buf[8][512];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 512, "%s/%s", g_dir, rel);
    return p;
}

/* mkdir -p of the folder part of path */
static void make_parent(const char *path) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", path);
    char *slash = strrchr(buf, '/');
    *slash = 0;
    Error e;
    assert_int_equal(make_dirs(buf, &e), 0);
}

static void write_bytes(const char *path, const void *data, size_t n) {
    make_parent(path);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static unsigned char *slurp(const char *path, size_t *n) {
    Error e;
    unsigned char *b = (unsigned char *)read_file(path, n, &e);
    assert_non_null(b);
    return b;
}

typedef struct {
    J_COLOR_SPACE in;    /* colour space of the pixels given */
    J_COLOR_SPACE store; /* colour space in the file (JCS_UNKNOWN: libjpeg's default) */
    int progressive;
    int no_adobe;        /* CMYK without the Adobe marker (so not inverted) */
} JpegOpts;

/* Writes w x h pixels (comps bytes each) as a quality-100 JPEG without chroma
 * subsampling, so constant 8x8 blocks decode exactly. */
static void write_jpeg(const char *rel, int w, int h, int comps, const uint8_t *px, JpegOpts o) {
    const char *path = path_in(rel);
    make_parent(path);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)w, c.image_height = (JDIMENSION)h;
    c.input_components = comps, c.in_color_space = o.in;
    jpeg_set_defaults(&c);
    if (o.store != JCS_UNKNOWN) jpeg_set_colorspace(&c, o.store);
    jpeg_set_quality(&c, 100, TRUE);
    for (int i = 0; i < c.num_components; i++) c.comp_info[i].h_samp_factor = c.comp_info[i].v_samp_factor = 1;
    if (o.progressive) jpeg_simple_progression(&c);
    if (o.no_adobe) c.write_Adobe_marker = FALSE;
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(px + (size_t)c.next_scanline * (size_t)w * (size_t)comps);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    fclose(f);
}

static uint8_t *solid(int w, int h, int comps, const uint8_t *color) {
    uint8_t *p = malloc((size_t)w * h * comps);
    for (int i = 0; i < w * h; i++) memcpy(p + i * comps, color, (size_t)comps);
    return p;
}

static void write_solid(const char *rel, int w, int h, int comps, const uint8_t *color, JpegOpts o) {
    uint8_t *p = solid(w, h, comps, color);
    write_jpeg(rel, w, h, comps, p, o);
    free(p);
}

static const JpegOpts GRAY = {JCS_GRAYSCALE, JCS_UNKNOWN, 0, 0};
static const JpegOpts RGB = {JCS_RGB, JCS_UNKNOWN, 0, 0};

/* Gray image of 8x8 blocks, block (bx, by) of value val(bx, by). */
static uint8_t block_value(int bx, int by) { return (uint8_t)(20 + 50 * bx + 13 * by); }

static void write_blocks(const char *rel, int bw, int bh) {
    int w = 8 * bw, h = 8 * bh;
    uint8_t *p = malloc((size_t)w * h);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) p[y * w + x] = block_value(x / 8, y / 8);
    write_jpeg(rel, w, h, 1, p, GRAY);
    free(p);
}

/* Offset of the first SOFn marker's height field. */
static size_t sof_dims(const unsigned char *b, size_t n) {
    for (size_t i = 2; i + 9 < n; i++)
        if (b[i] == 0xFF && (b[i + 1] == 0xC0 || b[i + 1] == 0xC2)) return i + 5;
    fail_msg("no SOF marker");
    return 0;
}

/* A copy of a good JPEG whose header claims w x h. */
static void write_claiming(const char *rel, const char *good, unsigned w, unsigned h) {
    size_t n;
    unsigned char *b = slurp(path_in(good), &n);
    size_t at = sof_dims(b, n);
    b[at] = (unsigned char)(h >> 8), b[at + 1] = (unsigned char)h;
    b[at + 2] = (unsigned char)(w >> 8), b[at + 3] = (unsigned char)w;
    write_bytes(path_in(rel), b, n);
    free(b);
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/netc_test_data_XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

/* NETC_KEEP_FIXTURES=1 keeps the folder, to look at the files by hand */
static int teardown(void **state) {
    (void)state;
    if (getenv("NETC_KEEP_FIXTURES")) return fprintf(stderr, "fixtures kept in %s\n", g_dir), 0;
    return nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Runs dataset_load with stderr captured into *warnings (caller frees). */
static int load_capturing(Dataset *ds, const char *root, const char *split, int w, int h, int c, char *const *classes,
                          int n_classes, int threads, Error *e, char **warnings) {
    char *log = path_in("stderr.log");
    fflush(stderr);
    int saved = dup(2), fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
    int rc = dataset_load(ds, root, split, w, h, c, classes, n_classes, threads, e);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    size_t n;
    *warnings = (char *)slurp(log, &n);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* Decoding                                                                    */

static void assert_all_near(const uint8_t *p, int n, int c, const uint8_t *want, int tol) {
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++)
            if (abs(p[i * c + ch] - want[ch]) > tol)
                fail_msg("pixel %d channel %d: %d, want %d +- %d", i, ch, p[i * c + ch], want[ch], tol);
}

static void test_gray_solid(void **state) {
    (void)state;
    const uint8_t g = 77, g3[3] = {77, 77, 77};
    write_solid("gray.jpg", 16, 16, 1, &g, GRAY);
    uint8_t out[16 * 16 * 3];
    Error e;
    assert_int_equal(image_load(path_in("gray.jpg"), 16, 16, 1, out, &e), 0);
    assert_all_near(out, 256, 1, &g, 2);
    assert_int_equal(image_load(path_in("gray.jpg"), 16, 16, 3, out, &e), 0); /* gray replicated */
    assert_all_near(out, 256, 3, g3, 2);
    for (int i = 0; i < 256; i++) assert_true(out[3 * i] == out[3 * i + 1] && out[3 * i] == out[3 * i + 2]);
}

static void test_rgb_solid(void **state) {
    (void)state;
    const uint8_t col[3] = {200, 30, 90};
    uint8_t out[40 * 24 * 3], y = (uint8_t)lrint(0.299 * 200 + 0.587 * 30 + 0.114 * 90);
    Error e;
    write_solid("rgb.jpg", 40, 24, 3, col, RGB);                                             /* stored as YCbCr */
    write_solid("rgb_p.jpg", 40, 24, 3, col, (JpegOpts){JCS_RGB, JCS_UNKNOWN, 1, 0});        /* progressive */
    write_solid("rgb_raw.jpg", 40, 24, 3, col, (JpegOpts){JCS_RGB, JCS_RGB, 0, 0});          /* stored as RGB */
    const char *files[] = {"rgb.jpg", "rgb_p.jpg", "rgb_raw.jpg"};
    for (int f = 0; f < 3; f++) {
        assert_int_equal(image_load(path_in(files[f]), 40, 24, 3, out, &e), 0);
        assert_all_near(out, 40 * 24, 3, col, 2);
        assert_int_equal(image_load(path_in(files[f]), 40, 24, 1, out, &e), 0);
        assert_all_near(out, 40 * 24, 1, &y, 2);
    }
}

/* Adobe CMYK stores 255 - ink; r = c*k/255 on the stored values. Plain CMYK
 * stores ink. Both encode RGB (100, 50, 25) here; YCCK is Adobe's transform of it. */
static void test_cmyk(void **state) {
    (void)state;
    const uint8_t inverted[4] = {200, 100, 50, 128}, ink[4] = {55, 155, 205, 127};
    const uint8_t want[3] = {100, 50, 25}, y = (uint8_t)lrint(0.299 * 100 + 0.587 * 50 + 0.114 * 25);
    write_solid("cmyk.jpg", 16, 16, 4, inverted, (JpegOpts){JCS_CMYK, JCS_UNKNOWN, 0, 0});
    write_solid("ycck.jpg", 16, 16, 4, inverted, (JpegOpts){JCS_CMYK, JCS_YCCK, 0, 0});
    write_solid("cmyk_p.jpg", 16, 16, 4, inverted, (JpegOpts){JCS_CMYK, JCS_UNKNOWN, 1, 0});
    write_solid("cmyk_plain.jpg", 16, 16, 4, ink, (JpegOpts){JCS_CMYK, JCS_UNKNOWN, 0, 1});
    const char *files[] = {"cmyk.jpg", "ycck.jpg", "cmyk_p.jpg", "cmyk_plain.jpg"};
    uint8_t out[16 * 16 * 3];
    Error e;
    for (int f = 0; f < 4; f++) {
        if (image_load(path_in(files[f]), 16, 16, 3, out, &e) < 0) fail_msg("%s", e.msg);
        assert_all_near(out, 256, 3, want, 2);
        assert_int_equal(image_load(path_in(files[f]), 8, 8, 1, out, &e), 0);
        assert_all_near(out, 64, 1, &y, 2);
    }
}

/* 32x32 of 8x8 blocks at 4x4: the DCT decodes at 1/8, one pixel per block. */
static void test_dct_scaled_blocks(void **state) {
    (void)state;
    write_blocks("blocks.jpg", 4, 4);
    uint8_t out[16];
    Error e;
    assert_int_equal(image_load(path_in("blocks.jpg"), 4, 4, 1, out, &e), 0);
    for (int by = 0; by < 4; by++)
        for (int bx = 0; bx < 4; bx++) assert_in_range(out[by * 4 + bx], block_value(bx, by) - 1, block_value(bx, by) + 1);
    /* 3x3: blocks (4 per side at 1/8) area-averaged with weights 3/4 1/4 | 1/2 1/2 | 1/4 3/4 */
    static const double wt[3][4] = {{.75, .25, 0, 0}, {0, .5, .5, 0}, {0, 0, .25, .75}};
    assert_int_equal(image_load(path_in("blocks.jpg"), 3, 3, 1, out, &e), 0);
    for (int oy = 0; oy < 3; oy++)
        for (int ox = 0; ox < 3; ox++) {
            double want = 0;
            for (int by = 0; by < 4; by++)
                for (int bx = 0; bx < 4; bx++) want += wt[oy][by] * wt[ox][bx] * block_value(bx, by);
            assert_true(fabs(out[oy * 3 + ox] - want) <= 1.5);
        }
    /* 64x16 for 8x8: the scale must cover the height too (4/8, not 1/8 and a blurry enlargement) */
    write_blocks("wide.jpg", 8, 2);
    uint8_t wide[64];
    assert_int_equal(image_load(path_in("wide.jpg"), 8, 8, 1, wide, &e), 0);
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 8; x++)
            assert_in_range(wide[y * 8 + x], block_value(x, y / 4) - 1, block_value(x, y / 4) + 1);
}

/* 16x8, left block 0 and right block 200, doubled: bilinear across the edge. */
static void test_enlarge_bilinear(void **state) {
    (void)state;
    uint8_t px[16 * 8];
    for (int i = 0; i < 16 * 8; i++) px[i] = i % 16 < 8 ? 0 : 200;
    write_jpeg("edge.jpg", 16, 8, 1, px, GRAY);
    uint8_t out[32 * 16];
    Error e;
    assert_int_equal(image_load(path_in("edge.jpg"), 32, 16, 1, out, &e), 0);
    /* output x samples source (x + 0.5)/2 - 0.5: x=15 -> 7.25 (1/4 of the way to 200), x=16 -> 7.75 */
    static const int want[32] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 50,
                                 150, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200};
    for (int y = 0; y < 16; y++)
        for (int x = 0; x < 32; x++)
            if (abs(out[y * 32 + x] - want[x]) > 2) fail_msg("(%d,%d): %d, want %d +- 2", x, y, out[y * 32 + x], want[x]);
}

/* image_resize on bytes, against hand-computed and brute-force area averages. */
static void test_resize_exact(void **state) {
    (void)state;
    const uint8_t row[6] = {0, 30, 60, 90, 120, 150};
    uint8_t out[6];
    /* 6 -> 4: each output covers 1.5 pixels: (0 + 30/2)/1.5 = 10, (30/2 + 60)/1.5 = 50, ... */
    assert_int_equal(image_resize(row, 6, 1, 1, out, 4, 1), 0);
    assert_memory_equal(out, ((uint8_t[]){10, 50, 100, 140}), 4);
    const uint8_t two[2] = {0, 100};
    assert_int_equal(image_resize(two, 2, 1, 1, out, 4, 1), 0); /* 2 -> 4: bilinear at -0.25 0.25 0.75 1.25 */
    assert_memory_equal(out, ((uint8_t[]){0, 25, 75, 100}), 4);
    assert_int_equal(image_resize(row, 1, 6, 1, out, 1, 4), 0); /* the same along columns */
    assert_memory_equal(out, ((uint8_t[]){10, 50, 100, 140}), 4);
    assert_int_equal(image_resize(row, 6, 1, 1, out, 6, 1), 0); /* same size: a copy */
    assert_memory_equal(out, row, 6);

    /* 2-D, 3 channels, 13x7 -> 5x3: brute force over the overlap areas */
    enum { SW = 13, SH = 7, DW = 5, DH = 3 };
    uint8_t src[SH * SW * 3], dst[DH * DW * 3];
    for (int i = 0; i < SH * SW * 3; i++) src[i] = (uint8_t)((i * 97 + 13) % 251);
    assert_int_equal(image_resize(src, SW, SH, 3, dst, DW, DH), 0);
    double sx = (double)SW / DW, sy = (double)SH / DH;
    for (int oy = 0; oy < DH; oy++)
        for (int ox = 0; ox < DW; ox++)
            for (int ch = 0; ch < 3; ch++) {
                double acc = 0;
                for (int y = 0; y < SH; y++)
                    for (int x = 0; x < SW; x++) {
                        double ax = fmin(x + 1, (ox + 1) * sx) - fmax(x, ox * sx);
                        double ay = fmin(y + 1, (oy + 1) * sy) - fmax(y, oy * sy);
                        if (ax > 0 && ay > 0) acc += ax * ay * src[(y * SW + x) * 3 + ch];
                    }
                double want = acc / (sx * sy);
                int got = dst[(oy * DW + ox) * 3 + ch];
                if (fabs(got - want) > 0.5 + 1e-3) fail_msg("(%d,%d,%d): %d, want %.3f", ox, oy, ch, got, want);
            }
}

/* Each kind of broken file, and the reason given for it. */
static void expect_failure(const char *rel, const char *reason) {
    uint8_t out[64 * 64 * 3];
    Error e;
    e.msg[0] = 0;
    const char *path = path_in(rel);
    assert_int_equal(image_load(path, 64, 64, 3, out, &e), -1);
    if (strncmp(e.msg, path, strlen(path)) != 0 || !strstr(e.msg, reason))
        fail_msg("%s: got \"%s\", want the path and \"%s\"", rel, e.msg, reason);
    assert_null(strchr(e.msg, '\n')); /* one line: it becomes a warning */
}

static void test_bad_files(void **state) {
    (void)state;
    static const uint8_t grey[3] = {128, 128, 128};
    write_solid("good.jpg", 64, 64, 3, grey, RGB);
    size_t n;
    unsigned char *good = slurp(path_in("good.jpg"), &n);
    write_bytes(path_in("empty.jpg"), "", 0);
    write_bytes(path_in("head.jpg"), good, n / 2);
    write_bytes(path_in("tail.jpg"), good + n / 2, n - n / 2);
    write_bytes(path_in("soi_only.jpg"), good, 2);
    static const uint8_t png[16] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
    write_bytes(path_in("png.jpg"), png, sizeof png);
    uint8_t noise[1000];
    for (int i = 0; i < 1000; i++) noise[i] = (uint8_t)((i * 7919 + 17) % 256);
    write_bytes(path_in("noise.jpg"), noise, sizeof noise);
    free(good);

    expect_failure("empty.jpg", "empty file");
    expect_failure("head.jpg", "truncated JPEG (libjpeg: Premature end of JPEG file)");
    expect_failure("tail.jpg", "is not a JPEG");
    expect_failure("soi_only.jpg", "truncated JPEG");
    expect_failure("png.jpg", "truncated PNG (libpng: "); /* told by its bytes, whatever its name */
    expect_failure("noise.jpg", "is not a JPEG (it starts with 0x11 0x00");
    expect_failure("no_such_file.jpg", "cannot open");
}

/* ------------------------------------------------------------------------- */
/* PNG                                                                         */

/* PNG's chunk checksum (CRC-32, as zlib's crc32). */
static uint32_t crc32_of(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

/* Writes w x h pixels with libpng: `type` a PNG colour type, samples given
 * as 8-bit values (stored at `depth` bits: 16 repeats the byte, below 8
 * keeps the high bits), an optional palette of 4 colours for palette images. */
static void write_png(const char *rel, int w, int h, int type, int depth, int interlace, const uint8_t *px,
                      const uint8_t palette[4][3]) {
    const char *path = path_in(rel);
    make_parent(path);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    assert_false(setjmp(png_jmpbuf(png)));
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, type, interlace, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (type == PNG_COLOR_TYPE_PALETTE) {
        png_color pal[4];
        for (int i = 0; i < 4; i++) pal[i] = (png_color){palette[i][0], palette[i][1], palette[i][2]};
        png_set_PLTE(png, info, pal, 4);
    }
    png_write_info(png, info);
    if (depth < 8) png_set_packing(png);
    int ch = png_get_channels(png, info);
    size_t row_bytes = (size_t)w * ch * (depth == 16 ? 2 : 1);
    uint8_t *rows = malloc(row_bytes * h);
    png_bytep *ptrs = malloc(sizeof(png_bytep) * h);
    for (int y = 0; y < h; y++) {
        ptrs[y] = rows + y * row_bytes;
        for (int i = 0; i < w * ch; i++) {
            uint8_t v = px[(size_t)y * w * ch + i];
            if (depth == 16) ptrs[y][2 * i] = v, ptrs[y][2 * i + 1] = v;
            else ptrs[y][i] = depth < 8 && type != PNG_COLOR_TYPE_PALETTE ? (uint8_t)(v >> (8 - depth)) : v;
        }
    }
    png_write_image(png, ptrs);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
    free(rows), free(ptrs);
}

/* Every colour type and depth decodes to the pixels written: gray and RGB,
 * 8 and 16 bits, palette, 2-bit gray, alpha dropped (the colour under it
 * kept), interlaced; to gray by libjpeg's luma, gray replicated to RGB. */
static void test_png_variants(void **state) {
    (void)state;
    enum { W = 13, H = 7 };
    uint8_t rgb[W * H * 3], rgba[W * H * 4], gray[W * H], ga[W * H * 2], idx[W * H], two[W * H];
    static const uint8_t pal[4][3] = {{0, 0, 0}, {250, 10, 40}, {20, 200, 90}, {255, 255, 255}};
    for (int i = 0; i < W * H; i++) {
        for (int c = 0; c < 3; c++) rgb[3 * i + c] = rgba[4 * i + c] = (uint8_t)(i * (7 + 30 * c) + 11 * c);
        rgba[4 * i + 3] = (uint8_t)(i * 13); /* any alpha: it is dropped */
        gray[i] = ga[2 * i] = (uint8_t)(i * 5);
        ga[2 * i + 1] = (uint8_t)(255 - i);
        idx[i] = (uint8_t)(i % 4);
        two[i] = (uint8_t)((i % 4) * 85); /* 0, 85, 170, 255: exact in 2 bits */
    }
    write_png("p/rgb8.png", W, H, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE, rgb, NULL);
    write_png("p/rgb16.png", W, H, PNG_COLOR_TYPE_RGB, 16, PNG_INTERLACE_NONE, rgb, NULL);
    write_png("p/rgba.png", W, H, PNG_COLOR_TYPE_RGB_ALPHA, 8, PNG_INTERLACE_NONE, rgba, NULL);
    write_png("p/adam7.png", W, H, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_ADAM7, rgb, NULL);
    write_png("p/gray.png", W, H, PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, gray, NULL);
    write_png("p/gray_alpha16.png", W, H, PNG_COLOR_TYPE_GRAY_ALPHA, 16, PNG_INTERLACE_NONE, ga, NULL);
    write_png("p/gray2.png", W, H, PNG_COLOR_TYPE_GRAY, 2, PNG_INTERLACE_NONE, two, NULL);
    write_png("p/palette.png", W, H, PNG_COLOR_TYPE_PALETTE, 8, PNG_INTERLACE_NONE, idx, pal);
    uint8_t out[W * H * 3];
    Error e;
    static const char *const colour[] = {"p/rgb8.png", "p/rgb16.png", "p/rgba.png", "p/adam7.png"};
    for (int f = 0; f < 4; f++) { /* at their own size: no resize, so exact */
        if (image_load(path_in(colour[f]), W, H, 3, out, &e) < 0) fail_msg("%s", e.msg);
        assert_memory_equal(out, rgb, sizeof rgb);
        assert_int_equal(image_load(path_in(colour[f]), W, H, 1, out, &e), 0);
        for (int i = 0; i < W * H; i++) assert_int_equal(out[i], pp_luma(rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]));
    }
    static const char *const grays[] = {"p/gray.png", "p/gray_alpha16.png"};
    for (int f = 0; f < 2; f++) {
        assert_int_equal(image_load(path_in(grays[f]), W, H, 1, out, &e), 0);
        assert_memory_equal(out, gray, sizeof gray);
        assert_int_equal(image_load(path_in(grays[f]), W, H, 3, out, &e), 0);
        for (int i = 0; i < W * H; i++) assert_true(out[3 * i] == gray[i] && out[3 * i + 1] == gray[i] && out[3 * i + 2] == gray[i]);
    }
    assert_int_equal(image_load(path_in("p/gray2.png"), W, H, 1, out, &e), 0);
    assert_memory_equal(out, two, sizeof two);
    assert_int_equal(image_load(path_in("p/palette.png"), W, H, 3, out, &e), 0);
    for (int i = 0; i < W * H; i++) assert_memory_equal(out + 3 * i, pal[i % 4], 3);
    /* resized as a JPEG would be: the same bytes as the same pixels resized in memory */
    uint8_t small[5 * 3 * 3], want[5 * 3 * 3];
    assert_int_equal(image_load(path_in("p/rgb8.png"), 5, 3, 3, small, &e), 0);
    image_resize(rgb, W, H, 3, want, 5, 3);
    assert_memory_equal(small, want, sizeof want);

    /* broken ones: a flipped bit in the image data, the end cut off, a size it will not allocate */
    size_t n;
    unsigned char *good = slurp(path_in("p/rgb8.png"), &n);
    unsigned char *bad = malloc(n);
    memcpy(bad, good, n);
    bad[n - 20] ^= 0x10; /* inside IDAT: its CRC no longer matches */
    write_bytes(path_in("p/crc.png"), bad, n);
    write_bytes(path_in("p/cut.png"), good, n - 30);
    memcpy(bad, good, n);
    bad[18] = 20000 >> 8, bad[19] = 20000 & 255, bad[22] = 20000 >> 8, bad[23] = 20000 & 255; /* IHDR: 20000 x 20000 */
    uint32_t crc = crc32_of(bad + 12, 17);                                                     /* "IHDR" and its 13 bytes */
    bad[29] = (uint8_t)(crc >> 24), bad[30] = (uint8_t)(crc >> 16), bad[31] = (uint8_t)(crc >> 8), bad[32] = (uint8_t)crc;
    write_bytes(path_in("p/huge.png"), bad, n);
    free(good), free(bad);
    expect_failure("p/crc.png", "corrupt PNG (libpng: ");
    expect_failure("p/cut.png", "truncated PNG (libpng: ");
    expect_failure("p/huge.png", "PNG of 20000x20000 pixels is over the 64 megapixels netc decodes; shrink it");
}

/* Headers that claim huge sizes: refused by size or memory, or decoded at a
 * reduced DCT scale until the data runs out. Never a crash, never gigabytes. */
static void test_huge_headers(void **state) {
    (void)state;
    static const uint8_t grey[3] = {128, 128, 128};
    write_solid("small.jpg", 16, 16, 3, grey, RGB);
    write_solid("small_p.jpg", 16, 16, 3, grey, (JpegOpts){JCS_RGB, JCS_UNKNOWN, 1, 0});
    /* a SOF holds 16-bit sizes, so 65535 is the largest a header can claim */
    write_claiming("huge.jpg", "small.jpg", 65535, 65535);
    expect_failure("huge.jpg", "image is 65535x65535 pixels; libjpeg decodes at most 65500 pixels on a side");
    /* progressive keeps all coefficients at full size: 60000^2 * 3 * 2 bytes */
    write_claiming("huge_p.jpg", "small_p.jpg", 60000, 60000);
    expect_failure("huge_p.jpg", "progressive JPEG of 60000x60000 pixels needs more than 1024 MB to decode");
    /* baseline decodes at 1/8 (7500x7500) and finds its data missing */
    write_claiming("huge_b.jpg", "small.jpg", 60000, 60000);
    expect_failure("huge_b.jpg", "corrupt JPEG");
    /* too large for the target even at the best DCT scale: 20000 at 7/8 for 16000 */
    write_claiming("big.jpg", "small.jpg", 20000, 20000);
    uint8_t *dst = malloc((size_t)16000 * 16000);
    Error e;
    assert_int_equal(image_load(path_in("big.jpg"), 16000, 16000, 1, dst, &e), -1);
    assert_non_null(strstr(e.msg, "image is 20000x20000 pixels; decoding it for 16000x16000 means 306 megapixels, above the 200 limit"));
    free(dst);
}

/* ------------------------------------------------------------------------- */
/* Data sets                                                                   */

/* root/split with classes a (3 images), b (2 good, 2 bad, a README) and
 * c (1 image), plus hidden entries to ignore. Images are solid gray 10*k. */
static void make_set(const char *root, const char *split, const char *const *classes, int nc) {
    char rel[256];
    for (int k = 0; k < nc; k++) {
        int count = classes[k][0] == 'a' ? 3 : classes[k][0] == 'b' ? 2 : 1;
        for (int i = 0; i < count; i++) {
            uint8_t g = (uint8_t)(10 * (k * 4 + i + 1));
            /* mixed-case extensions, and names whose strcmp order is not creation order */
            static const char *names[] = {"z1.jpg", "B2.JPG", "a3.jpeg"};
            snprintf(rel, sizeof rel, "%s/%s/%s/%s", root, split, classes[k], names[i]);
            write_solid(rel, 12, 10, 1, &g, GRAY);
        }
        if (classes[k][0] == 'b') {
            snprintf(rel, sizeof rel, "%s/%s/%s/README.txt", root, split, classes[k]);
            write_bytes(path_in(rel), "not an image\n", 13);
            snprintf(rel, sizeof rel, "%s/%s/%s/broken.jpg", root, split, classes[k]);
            write_bytes(path_in(rel), "", 0);
            snprintf(rel, sizeof rel, "%s/%s/%s/picture.jpg", root, split, classes[k]);
            write_bytes(path_in(rel), "\x89PNG\r\n\x1a\n....", 12);
        }
    }
    snprintf(rel, sizeof rel, "%s/%s/.hidden/x.jpg", root, split);
    uint8_t g = 1;
    write_solid(rel, 8, 8, 1, &g, GRAY);
    snprintf(rel, sizeof rel, "%s/%s/a/.x.jpg", root, split);
    write_solid(rel, 8, 8, 1, &g, GRAY);
    snprintf(rel, sizeof rel, "%s/%s/notes.txt", root, split);
    write_bytes(path_in(rel), "x", 1);
}

static void test_dataset_load(void **state) {
    (void)state;
    static const char *const abc[] = {"a", "b", "c"};
    make_set("set", "train", abc, 3);
    Dataset ds;
    Error e;
    char *warn;
    int rc = load_capturing(&ds, path_in("set"), "train", 6, 5, 1, NULL, 0, 2, &e, &warn);
    if (rc < 0) fail_msg("%s", e.msg);
    assert_int_equal(ds.n, 6);
    assert_int_equal(ds.n_skipped, 3); /* README.txt, broken.jpg, picture.jpg */
    assert_int_equal(ds.n_classes, 3);
    assert_int_equal(ds.w * 10 + ds.h, 65);
    assert_int_equal(ds.c, 1);
    for (int k = 0; k < 3; k++) assert_string_equal(ds.class_names[k], abc[k]);
    /* class, then file name by strcmp (bytes, so upper case first): B2.JPG < a3.jpeg < z1.jpg */
    static const char *order[] = {"a/B2.JPG", "a/a3.jpeg", "a/z1.jpg", "b/B2.JPG", "b/z1.jpg", "c/z1.jpg"};
    static const int labels[] = {0, 0, 0, 1, 1, 2}, gray[] = {20, 30, 10, 60, 50, 90};
    for (int i = 0; i < 6; i++) {
        char want[512];
        snprintf(want, sizeof want, "%s/train/%s", path_in("set"), order[i]);
        assert_string_equal(ds.paths[i], want);
        assert_int_equal(ds.labels[i], labels[i]);
        for (int p = 0; p < 30; p++) assert_in_range(ds.pixels[i * 30 + p], gray[i] - 2, gray[i] + 2);
    }
    char want[2048];
    snprintf(want, sizeof want,
             "netc: warning: %s/train/b/README.txt: not an image (only .jpg, .jpeg and .png files are read); skipped\n"
             "netc: warning: %s/train/b/broken.jpg: empty file (0 bytes); skipped\n"
             "netc: warning: %s/train/b/picture.jpg: truncated PNG (libpng: the file ends in the middle of the image); skipped\n",
             path_in("set"), path_in("set"), path_in("set"));
    assert_string_equal(warn, want);
    free(warn);

    /* the same bytes on 1 thread, and as image_load gives them */
    Dataset one;
    rc = load_capturing(&one, path_in("set"), "train", 6, 5, 1, NULL, 0, 1, &e, &warn);
    assert_int_equal(rc, 0);
    assert_memory_equal(one.pixels, ds.pixels, 6 * 30);
    uint8_t img[30];
    for (int i = 0; i < 6; i++) {
        assert_int_equal(image_load(ds.paths[i], 6, 5, 1, img, &e), 0);
        assert_memory_equal(img, ds.pixels + i * 30, 30);
    }
    free(warn);
    dataset_free(&one);
    dataset_free(&ds);
}

/* PNG and JPEG side by side in a class folder; whatever else is there (a GIF,
 * a sub-folder) is named on stderr and counted as skipped. */
static void test_dataset_png_and_skipped(void **state) {
    (void)state;
    static const uint8_t g = 60, px[4 * 4] = {90, 90, 90, 90, 90, 90, 90, 90, 90, 90, 90, 90, 90, 90, 90, 90};
    write_solid("set8/train/a/1.jpg", 4, 4, 1, &g, GRAY);
    write_png("set8/train/a/2.png", 4, 4, PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, px, NULL);
    write_bytes(path_in("set8/train/a/anim.gif"), "GIF89a....", 10);
    write_solid("set8/train/a/more/3.jpg", 4, 4, 1, &g, GRAY);
    write_png("set8/train/b/1.PNG", 4, 4, PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, px, NULL);
    Dataset ds;
    Error e;
    char *warn;
    if (load_capturing(&ds, path_in("set8"), "train", 4, 4, 1, NULL, 0, 1, &e, &warn) < 0) fail_msg("%s", e.msg);
    assert_int_equal(ds.n, 3);
    assert_int_equal(ds.n_skipped, 2);
    assert_int_equal(ds.labels[1], 0), assert_int_equal(ds.labels[2], 1);
    assert_int_equal(ds.pixels[16], 90), assert_int_equal(ds.pixels[32 + 15], 90); /* the PNGs, exactly */
    char want[2048];
    snprintf(want, sizeof want,
             "netc: warning: %s/train/a/anim.gif: not an image (only .jpg, .jpeg and .png files are read); skipped\n"
             "netc: warning: %s/train/a/more: is a folder (images in sub-folders of a class folder are not read); skipped\n",
             path_in("set8"), path_in("set8"));
    assert_string_equal(warn, want);
    free(warn);
    dataset_free(&ds);
}

static void test_dataset_test_split(void **state) {
    (void)state;
    static const char *const abc[] = {"a", "b", "c"}, *const cab[] = {"c", "a", "b"};
    make_set("set2", "test", abc, 3);
    Dataset ds;
    Error e;
    char *warn;
    /* the given class order decides the labels and the image order */
    int rc = load_capturing(&ds, path_in("set2"), "test", 4, 4, 3, (char *const *)cab, 3, 0, &e, &warn);
    if (rc < 0) fail_msg("%s", e.msg);
    free(warn);
    assert_int_equal(ds.n, 6);
    assert_int_equal(ds.c, 3);
    for (int k = 0; k < 3; k++) assert_string_equal(ds.class_names[k], cab[k]);
    static const int labels[] = {0, 1, 1, 1, 2, 2};
    for (int i = 0; i < 6; i++) assert_int_equal(ds.labels[i], labels[i]);
    assert_non_null(strstr(ds.paths[0], "/test/c/z1.jpg"));
    assert_non_null(strstr(ds.paths[1], "/test/a/B2.JPG"));
    dataset_free(&ds);
}

static void test_dataset_class_mismatch(void **state) {
    (void)state;
    static const char *const abde[] = {"a", "b", "d", "e"}, *const abc[] = {"a", "b", "c"};
    make_set("set3", "test", abde, 4);
    Dataset ds;
    Error e;
    assert_int_equal(dataset_load(&ds, path_in("set3"), "test", 4, 4, 1, (char *const *)abc, 3, 0, &e), -1);
    char want[1024];
    snprintf(want, sizeof want,
             "'%s/test': its classes differ from training's: missing in test: c; extra in test: d, e\n"
             "  HINT: test/ needs one folder per training class (3), with the same names",
             path_in("set3"));
    assert_string_equal(e.msg, want);
    assert_null(ds.pixels);
}

static void test_dataset_errors(void **state) {
    (void)state;
    Dataset ds;
    Error e;
    char want[1024], *warn;
    /* root missing */
    assert_int_equal(dataset_load(&ds, path_in("nowhere"), "train", 4, 4, 1, NULL, 0, 0, &e), -1);
    snprintf(want, sizeof want, "data folder '%s' not found\n  HINT: it should contain train/ and test/", path_in("nowhere"));
    assert_memory_equal(e.msg, want, strlen(want));
    assert_non_null(strstr(e.msg, "run data/get_15scene.sh to fill data/15scene"));
    /* split missing */
    static const char *const a[] = {"a"};
    make_set("set4", "train", a, 1);
    assert_int_equal(dataset_load(&ds, path_in("set4"), "test", 4, 4, 1, NULL, 0, 0, &e), -1);
    snprintf(want, sizeof want, "data folder '%s' has no test/ folder ('%s/test' not found)", path_in("set4"), path_in("set4"));
    assert_memory_equal(e.msg, want, strlen(want));
    /* no class folders, images loose in the split */
    static const uint8_t g = 9;
    write_solid("set5/train/x.jpg", 8, 8, 1, &g, GRAY);
    assert_int_equal(dataset_load(&ds, path_in("set5"), "train", 4, 4, 1, NULL, 0, 0, &e), -1);
    snprintf(want, sizeof want, "'%s/train' has no class folders\n  HINT: its 1 image must be in one sub-folder per class",
             path_in("set5"));
    assert_memory_equal(e.msg, want, strlen(want));
    /* a class with no images, and one with only unreadable ones */
    write_solid("set6/train/a/1.jpg", 8, 8, 1, &g, GRAY);
    make_parent(path_in("set6/train/empty/README"));
    write_bytes(path_in("set6/train/empty/README"), "x", 1);
    assert_int_equal(dataset_load(&ds, path_in("set6"), "train", 4, 4, 1, NULL, 0, 0, &e), -1);
    snprintf(want, sizeof want, "class 'empty' (%s/train/empty) has no readable images\n"
                                "  HINT: put its .jpg, .jpeg or .png images in it, or remove the folder", path_in("set6"));
    assert_string_equal(e.msg, want);
    write_bytes(path_in("set7/train/a/1.jpg"), "", 0);
    write_solid("set7/train/b/1.jpg", 8, 8, 1, &g, GRAY);
    assert_int_equal(load_capturing(&ds, path_in("set7"), "train", 4, 4, 1, NULL, 0, 0, &e, &warn), -1);
    snprintf(want, sizeof want, "class 'a' (%s/train/a) has no readable images\n"
                                "  HINT: none of its 1 image could be decoded (see the warnings above)", path_in("set7"));
    assert_string_equal(e.msg, want);
    assert_non_null(strstr(warn, "/train/a/1.jpg: empty file (0 bytes); skipped"));
    free(warn);
}

/* ------------------------------------------------------------------------- */
/* Batches                                                                     */

/* A hand-made cache: n images w x h x c with distinct, position-dependent bytes. */
static Dataset fake_set(int n, int w, int h, int c) {
    Dataset ds = {.n = n, .w = w, .h = h, .c = c};
    ds.pixels = malloc((size_t)n * w * h * c);
    for (size_t i = 0; i < (size_t)n * w * h * c; i++) ds.pixels[i] = (uint8_t)((i * 37 + i / 7) % 256);
    ds.labels = calloc((size_t)n, sizeof(int));
    return ds;
}

static void free_fake(Dataset *ds) {
    free(ds->pixels);
    free(ds->labels);
}

static uint8_t px_at(const Dataset *ds, int i, int x, int y, int ch) {
    return ds->pixels[(((size_t)i * ds->h + y) * ds->w + x) * ds->c + ch];
}

static const float ZERO[3] = {0, 0, 0}, ONE[3] = {1, 1, 1};

static void test_batch_center_exact(void **state) {
    (void)state;
    Dataset ds = fake_set(3, 9, 8, 3);
    Config cfg;
    config_defaults(&cfg);
    int idx[2] = {2, 0};
    float out[3 * 2 * 5 * 4], flipped[3 * 2 * 5 * 4];
    batch_fill(out, 3, 5, 4, 2, &ds, idx, 2, &cfg, ZERO, ONE, 0, 0, 1, 0);
    batch_fill(flipped, 3, 5, 4, 2, &ds, idx, 2, &cfg, ZERO, ONE, 0, 1, 1, 0);
    /* centre of 9x8 for 4x5: offset (2, 1); layout [ch][cap][y][x], here cap = n = 2 */
    for (int ch = 0; ch < 3; ch++)
        for (int i = 0; i < 2; i++)
            for (int y = 0; y < 5; y++)
                for (int x = 0; x < 4; x++) {
                    size_t at = (((size_t)ch * 2 + i) * 5 + y) * 4 + x;
                    assert_true(out[at] == (float)(px_at(&ds, idx[i], 2 + x, 1 + y, ch) / 255.0));
                    assert_true(flipped[at] == out[at - x + 3 - x]);
                }
    /* bgr reverses the channels; range 255 with mean and std per channel, in double, rounded once */
    assert_int_equal(config_set(&cfg, "channels", "bgr", NULL), 0);
    assert_int_equal(config_set(&cfg, "range", "255", NULL), 0);
    const float mean[3] = {100, 50, 10}, std[3] = {2, 4, 0.5f};
    batch_fill(out, 3, 5, 4, 2, &ds, idx, 2, &cfg, mean, std, 0, 0, 1, 0);
    for (int ch = 0; ch < 3; ch++)
        for (int i = 0; i < 2; i++)
            for (int y = 0; y < 5; y++)
                for (int x = 0; x < 4; x++) {
                    float v = px_at(&ds, idx[i], 2 + x, 1 + y, 2 - ch);
                    assert_true(out[(((size_t)ch * 2 + i) * 5 + y) * 4 + x] == (float)((v - (double)mean[ch]) / std[ch]));
                }
    /* one gray channel from the RGB cache: BT.601 luma rounded to a byte, as libjpeg's */
    batch_fill(out, 1, 5, 4, 2, &ds, idx, 2, &cfg, mean, std, 0, 0, 1, 0);
    for (int i = 0; i < 2; i++)
        for (int y = 0; y < 5; y++)
            for (int x = 0; x < 4; x++) {
                double l = floor(0.299 * px_at(&ds, idx[i], 2 + x, 1 + y, 0) + 0.587 * px_at(&ds, idx[i], 2 + x, 1 + y, 1) +
                                 0.114 * px_at(&ds, idx[i], 2 + x, 1 + y, 2) + 0.5);
                assert_float_equal(out[((size_t)i * 5 + y) * 4 + x], (l - 100) / 2, 1e-6);
            }
    free_fake(&ds);
}

/* Offset (ox, oy) and mirror for which image i's window matches out exactly; -1 if none. */
static int find_window(const Dataset *ds, int i, const float *out, int in_w, int in_h, int *ox, int *oy, int *mirror) {
    for (*mirror = 0; *mirror < 2; ++*mirror)
        for (*oy = 0; *oy <= ds->h - in_h; ++*oy)
            for (*ox = 0; *ox <= ds->w - in_w; ++*ox) {
                int ok = 1;
                for (int y = 0; y < in_h && ok; y++)
                    for (int x = 0; x < in_w && ok; x++)
                        ok = out[y * in_w + x] == px_at(ds, i, *ox + (*mirror ? in_w - 1 - x : x), *oy + y, 0);
                if (ok) return 0;
            }
    return -1;
}

static void test_batch_random_crop_flip(void **state) {
    (void)state;
    Dataset ds = fake_set(1, 7, 6, 1);
    Config cfg;
    config_defaults(&cfg);
    assert_int_equal(config_set(&cfg, "range", "255", NULL), 0);
    assert_int_equal(config_set(&cfg, "crop", "random", NULL), 0);
    assert_int_equal(config_set(&cfg, "flip", "on", NULL), 0);
    int seen[2][3][4] = {{{0}}}, idx = 0;
    float out[4 * 4];
    for (int epoch = 0; epoch < 400; epoch++) {
        batch_fill(out, 1, 4, 4, 1, &ds, &idx, 1, &cfg, ZERO, ONE, 1, 0, 7, epoch);
        int ox = 0, oy = 0, m = 0;
        if (find_window(&ds, 0, out, 4, 4, &ox, &oy, &m) < 0) fail_msg("epoch %d: not an exact window of the cache", epoch);
        seen[m][oy][ox]++;
    }
    /* every position and both mirrorings occur, none much more than its share (400/24 ~ 17) */
    for (int m = 0; m < 2; m++)
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 4; x++) assert_in_range(seen[m][y][x], 4, 40);
    free_fake(&ds);
}

/* Shifts only: still an exact copy, of the window moved by at most 2 and clamped. */
static void test_batch_translate(void **state) {
    (void)state;
    Dataset ds = fake_set(1, 6, 6, 1);
    Config cfg;
    config_defaults(&cfg);
    assert_int_equal(config_set(&cfg, "range", "255", NULL), 0);
    assert_int_equal(config_set(&cfg, "translate", "2", NULL), 0);
    int idx = 0, hits[5][5] = {{0}};
    float out[4 * 4];
    for (int epoch = 0; epoch < 300; epoch++) {
        batch_fill(out, 1, 4, 4, 1, &ds, &idx, 1, &cfg, ZERO, ONE, 1, 0, 3, epoch);
        int found = 0;
        for (int dy = -2; dy <= 2 && !found; dy++)
            for (int dx = -2; dx <= 2 && !found; dx++) {
                int ok = 1;
                for (int y = 0; y < 4 && ok; y++)
                    for (int x = 0; x < 4 && ok; x++) {
                        int sx = 1 + dx + x, sy = 1 + dy + y;
                        sx = sx < 0 ? 0 : sx > 5 ? 5 : sx, sy = sy < 0 ? 0 : sy > 5 ? 5 : sy;
                        ok = out[y * 4 + x] == px_at(&ds, 0, sx, sy, 0);
                    }
                if (ok) found = 1, hits[dy + 2][dx + 2]++;
            }
        assert_true(found);
    }
    assert_true(hits[0][0] > 0 && hits[4][4] > 0 && hits[2][2] > 0);
    free_fake(&ds);
}

/* The affine path at scale 1/4 of an 8x8 cache for a 4x4 input is the centre
 * crop sampled at whole pixels: the same values as the copy. */
static void test_batch_affine_identity(void **state) {
    (void)state;
    Dataset ds = fake_set(2, 8, 8, 3);
    Config cfg;
    config_defaults(&cfg);
    float a[3 * 2 * 16], b[3 * 2 * 16];
    int idx[2] = {0, 1};
    batch_fill(a, 3, 4, 4, 2, &ds, idx, 2, &cfg, ZERO, ONE, 0, 1, 5, 0); /* plain centre crop, mirrored */
    assert_int_equal(config_set(&cfg, "scale", "0.25 0.25", NULL), 0);
    batch_fill(b, 3, 4, 4, 2, &ds, idx, 2, &cfg, ZERO, ONE, 1, 1, 5, 0); /* scale jitter, forced mirror */
    for (int i = 0; i < 3 * 2 * 16; i++) assert_float_equal(a[i], b[i], 1e-6);
    free_fake(&ds);
}

/* Rotation and scaling of a constant image stay constant: borders clamp, no black corners. */
static void test_batch_geometry_constant(void **state) {
    (void)state;
    Dataset ds = fake_set(1, 10, 10, 1);
    memset(ds.pixels, 200, 100);
    Config cfg;
    config_defaults(&cfg);
    assert_int_equal(config_set(&cfg, "rotate", "45", NULL), 0);
    assert_int_equal(config_set(&cfg, "scale", "0.3 1", NULL), 0);
    assert_int_equal(config_set(&cfg, "translate", "3", NULL), 0);
    assert_int_equal(config_set(&cfg, "range", "255", NULL), 0);
    float out[8 * 8];
    int idx = 0;
    for (int epoch = 0; epoch < 50; epoch++) {
        batch_fill(out, 1, 8, 8, 1, &ds, &idx, 1, &cfg, ZERO, ONE, 1, 0, 11, epoch);
        for (int k = 0; k < 64; k++) assert_float_equal(out[k], 200, 1e-3);
    }
    free_fake(&ds);
}

static void test_batch_photometric(void **state) {
    (void)state;
    Dataset ds = fake_set(1, 4, 4, 1);
    for (int k = 0; k < 16; k++) ds.pixels[k] = (uint8_t)(100 + 4 * k);
    Config cfg;
    config_defaults(&cfg);
    assert_int_equal(config_set(&cfg, "range", "255", NULL), 0);
    assert_int_equal(config_set(&cfg, "brightness", "0.1", NULL), 0);
    float out[16];
    int idx = 0, up = 0, down = 0;
    for (int epoch = 0; epoch < 100; epoch++) {
        batch_fill(out, 1, 4, 4, 1, &ds, &idx, 1, &cfg, ZERO, ONE, 1, 0, 2, epoch);
        float d = out[0] - ds.pixels[0]; /* one shift for every pixel, within +-0.1*255 */
        assert_true(fabsf(d) <= 25.5f + 1e-3f);
        for (int k = 0; k < 16; k++) assert_float_equal(out[k] - ds.pixels[k], d, 1e-3);
        up += d > 5, down += d < -5;
    }
    assert_true(up > 20 && down > 20);
    assert_int_equal(config_set(&cfg, "brightness", "0", NULL), 0);
    assert_int_equal(config_set(&cfg, "contrast", "0.5", NULL), 0);
    for (int epoch = 0; epoch < 100; epoch++) {
        batch_fill(out, 1, 4, 4, 1, &ds, &idx, 1, &cfg, ZERO, ONE, 1, 0, 2, epoch);
        /* scaled around the mean (130) by one factor in [0.5, 1.5] */
        float f = (out[15] - out[0]) / (ds.pixels[15] - ds.pixels[0]);
        assert_true(f >= 0.5f - 1e-4f && f <= 1.5f + 1e-4f);
        for (int k = 0; k < 16; k++) assert_float_equal(out[k], 130 + f * (ds.pixels[k] - 130), 1e-3);
    }
    free_fake(&ds);
}

/* Same seed, same floats; any thread count; another seed differs. */
static void test_batch_determinism(void **state) {
    (void)state;
    Dataset ds = fake_set(16, 20, 18, 3);
    Config cfg;
    config_defaults(&cfg);
    const char *kv[] = {"crop", "random", "flip", "on", "scale", "0.5 1", "translate", "2", "rotate", "10",
                        "brightness", "0.2", "contrast", "0.2", NULL};
    Error e;
    assert_int_equal(config_apply(&cfg, kv, &e), 0);
    int idx[16];
    for (int i = 0; i < 16; i++) idx[i] = (i * 5) % 16;
    size_t n = 3 * 16 * 16 * 16;
    float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float)), *c = malloc(n * sizeof(float));
    const float mean[3] = {0.5f, 0.4f, 0.3f}, std[3] = {0.2f, 0.25f, 0.3f};
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    batch_fill(a, 3, 16, 16, 16, &ds, idx, 16, &cfg, mean, std, 1, 0, 42, 3);
    omp_set_num_threads(2);
    batch_fill(b, 3, 16, 16, 16, &ds, idx, 16, &cfg, mean, std, 1, 0, 42, 3);
    assert_memory_equal(a, b, n * sizeof(float));
    /* an image's jitter depends on its index, not on its place in the batch */
    int one = idx[7];
    batch_fill(c, 3, 16, 16, 1, &ds, &one, 1, &cfg, mean, std, 1, 0, 42, 3);
    for (int ch = 0; ch < 3; ch++) assert_memory_equal(c + ch * 256, a + (ch * 16 + 7) * 256, 256 * sizeof(float));
    batch_fill(c, 3, 16, 16, 16, &ds, idx, 16, &cfg, mean, std, 1, 0, 43, 3);
    assert_memory_not_equal(a, c, n * sizeof(float));
    batch_fill(c, 3, 16, 16, 16, &ds, idx, 16, &cfg, mean, std, 1, 0, 42, 4);
    assert_memory_not_equal(a, c, n * sizeof(float));
    omp_set_num_threads(saved);
    free(a), free(b), free(c);
    free_fake(&ds);
}

static void test_dataset_stats(void **state) {
    (void)state;
    Dataset ds = fake_set(5, 7, 3, 3);
    Config cfg;
    config_defaults(&cfg);
    float mean[3], std[3];
    for (int mode = 0; mode < 3; mode++) {
        int in_c = mode == 2 ? 1 : 3;
        if (mode == 1) assert_int_equal(config_set(&cfg, "channels", "bgr", NULL), 0);
        if (mode == 2) assert_int_equal(config_set(&cfg, "range", "255", NULL), 0);
        dataset_stats(&ds, &cfg, in_c, mean, std);
        for (int ch = 0; ch < in_c; ch++) {
            double s = 0, q = 0, cnt = 5 * 7 * 3;
            for (int i = 0; i < 5; i++)
                for (int y = 0; y < 3; y++)
                    for (int x = 0; x < 7; x++) {
                        double v = in_c == 1 ? floor(0.299 * px_at(&ds, i, x, y, 0) + 0.587 * px_at(&ds, i, x, y, 1) +
                                                         0.114 * px_at(&ds, i, x, y, 2) + 0.5) /* a byte, as libjpeg's */
                                             : px_at(&ds, i, x, y, mode == 1 ? 2 - ch : ch);
                        v *= cfg.range / 255.0;
                        s += v, q += v * v;
                    }
            double m = s / cnt, sd = sqrt(q / cnt - m * m);
            assert_float_equal(mean[ch], m, 1e-4 * cfg.range);
            assert_float_equal(std[ch], sd, 1e-4 * cfg.range);
            assert_true(sd > 0.1 * cfg.range); /* the fixture is not degenerate */
        }
    }
    /* a constant channel gets std 1, not 0 */
    memset(ds.pixels, 7, 5 * 7 * 3 * 3);
    dataset_stats(&ds, &cfg, 3, mean, std);
    assert_float_equal(mean[1], 7, 1e-4);
    assert_true(std[1] == 1);
    free_fake(&ds);
}

/* ------------------------------------------------------------------------- */
/* The validation split                                                        */

/* Classes a, b, c of counts[k] images each, in label order; image i's pixels
 * are all i and its path "img<i>", so either part says where each came from. */
static Dataset labelled_set(const int *counts, int nc) {
    Dataset ds = {.w = 2, .h = 2, .c = 1, .n_classes = nc};
    for (int k = 0; k < nc; k++) ds.n += counts[k];
    ds.pixels = xmalloc((size_t)ds.n * 4);
    ds.labels = xmalloc(sizeof(int) * (size_t)ds.n);
    ds.paths = xmalloc(sizeof(char *) * (size_t)ds.n);
    ds.class_names = xmalloc(sizeof(char *) * (size_t)nc);
    for (int k = 0, i = 0; k < nc; k++) {
        ds.class_names[k] = xstrdup((const char *[]){"a", "b", "c"}[k]);
        for (int j = 0; j < counts[k]; j++, i++) {
            memset(ds.pixels + 4 * i, i, 4);
            ds.labels[i] = k;
            char name[32];
            snprintf(name, sizeof name, "img%d", i);
            ds.paths[i] = xstrdup(name);
        }
    }
    return ds;
}

/* The two parts hold every image once, in order, pixels and labels with them;
 * returns a bit mask of the held-out images. */
static uint64_t check_parts(const Dataset *train, const Dataset *val, int n, const int *counts, const int *want_val) {
    uint64_t held = 0;
    const Dataset *part[2] = {train, val};
    for (int p = 0; p < 2; p++) {
        int last = -1, per_class[3] = {0, 0, 0};
        for (int i = 0; i < part[p]->n; i++) {
            int id = atoi(part[p]->paths[i] + 3);
            assert_true(id > last); /* the original order */
            last = id;
            assert_int_equal(part[p]->pixels[4 * i], id);
            assert_int_equal(part[p]->pixels[4 * i + 3], id);
            int k = id < counts[0] ? 0 : id < counts[0] + counts[1] ? 1 : 2;
            assert_int_equal(part[p]->labels[i], k);
            per_class[k]++;
            if (p) held |= 1ull << id;
        }
        for (int k = 0; k < 3; k++) assert_int_equal(per_class[k], p ? want_val[k] : counts[k] - want_val[k]);
    }
    assert_int_equal(train->n + val->n, n);
    assert_int_equal(val->n_classes, 3);
    assert_string_equal(val->class_names[2], "c");
    return held;
}

static void test_dataset_split(void **state) {
    (void)state;
    static const int counts[3] = {10, 5, 2};
    Error e;
    /* 20%: round(2), round(1), and at least one of c's two */
    static const int want20[3] = {2, 1, 1}, want50[3] = {5, 3, 1};
    Dataset ds = labelled_set(counts, 3), val;
    assert_int_equal(dataset_split(&ds, &val, 0.2f, 0, 7, &e), 0);
    uint64_t held = check_parts(&ds, &val, 17, counts, want20);
    dataset_free(&ds), dataset_free(&val);
    /* the same seed holds out the same images; other seeds others */
    ds = labelled_set(counts, 3);
    assert_int_equal(dataset_split(&ds, &val, 0.2f, 0, 7, &e), 0);
    assert_true(check_parts(&ds, &val, 17, counts, want20) == held);
    dataset_free(&ds), dataset_free(&val);
    int differ = 0;
    for (uint64_t seed = 8; seed < 12; seed++) {
        ds = labelled_set(counts, 3);
        assert_int_equal(dataset_split(&ds, &val, 0.2f, 0, seed, &e), 0);
        differ += check_parts(&ds, &val, 17, counts, want20) != held;
        dataset_free(&ds), dataset_free(&val);
    }
    assert_true(differ >= 3);
    /* half (b: 2.5 rounds up), and c still keeps one to train on */
    ds = labelled_set(counts, 3);
    assert_int_equal(dataset_split(&ds, &val, 0.5f, 0, 7, &e), 0);
    check_parts(&ds, &val, 17, counts, want50);
    dataset_free(&ds), dataset_free(&val);
    /* no split: nothing moves */
    ds = labelled_set(counts, 3);
    assert_int_equal(dataset_split(&ds, &val, 0, 0, 7, &e), 0);
    assert_int_equal(ds.n, 17), assert_int_equal(val.n, 0);
    dataset_free(&ds), dataset_free(&val);
    /* a class of one image cannot give one away */
    static const int one[3] = {4, 1, 3};
    ds = labelled_set(one, 3);
    assert_int_equal(dataset_split(&ds, &val, 0.25f, 0, 7, &e), -1);
    print_message("%s\n", e.msg);
    assert_non_null(strstr(e.msg, "class 'b' has 1 training image: none can be held out for validation"));
    assert_non_null(strstr(e.msg, "HINT: give every class at least 2 images, or train without a validation set (val_split 0)"));
    assert_int_equal(ds.n, 8); /* untouched */
    dataset_free(&ds), dataset_free(&val);
    /* k-fold: folds 0..4 of 20% (a: 2 of 10 each; b: 1 of 5 each) are disjoint and cover a and b */
    static const int two[3] = {10, 5, 2};
    uint64_t all = 0;
    for (int fold = 0; fold < 5; fold++) {
        ds = labelled_set(two, 3);
        if (fold < 2) {
            assert_int_equal(dataset_split(&ds, &val, 0.2f, fold, 7, &e), 0);
            uint64_t h = check_parts(&ds, &val, 17, two, want20);
            assert_true((h & all) == 0);
            all |= h;
        } else { /* c has 2 images, so 2 folds of 1 */
            assert_int_equal(dataset_split(&ds, &val, 0.2f, fold, 7, &e), -1);
            assert_non_null(strstr(e.msg, "class 'c' has 2 training images, 2 disjoint validation sets of 1 (val_fold 0 to 1)"));
        }
        dataset_free(&ds), dataset_free(&val);
    }
    static const int big[3] = {10, 5, 5}, want_big[3] = {2, 1, 1};
    all = 0;
    for (int fold = 0; fold < 5; fold++) {
        ds = labelled_set(big, 3);
        assert_int_equal(dataset_split(&ds, &val, 0.2f, fold, 7, &e), 0);
        uint64_t h = check_parts(&ds, &val, 20, big, want_big);
        assert_true((h & all) == 0); /* disjoint */
        all |= h;
        dataset_free(&ds), dataset_free(&val);
    }
    assert_true(all == (1ull << 20) - 1); /* and together every image */
}

/* ------------------------------------------------------------------------- */

static void test_15scene_train(void **state) {
    (void)state;
    const char *root = "../shared/data/15scene";
    struct stat st;
    if (stat(root, &st) != 0) {
        print_message("%s not found (run from the repo root with ../shared present); skipped\n", root);
        skip();
    }
    Dataset ds;
    Error e;
    double t = now_seconds();
    if (dataset_load(&ds, root, "train", 64, 64, 1, NULL, 0, 0, &e) < 0) fail_msg("%s", e.msg);
    print_message("15-scene train at 64x64x1: %d images in %.2f s\n", ds.n, now_seconds() - t);
    assert_int_equal(ds.n, 1500);
    assert_int_equal(ds.n_classes, 15);
    assert_int_equal(ds.n_skipped, 0);
    assert_string_equal(ds.class_names[0], "bedroom");
    assert_string_equal(ds.class_names[14], "tallbuilding");
    for (int i = 0; i < ds.n; i++) assert_int_equal(ds.labels[i], i / 100);
    dataset_free(&ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gray_solid),
        cmocka_unit_test(test_rgb_solid),
        cmocka_unit_test(test_cmyk),
        cmocka_unit_test(test_dct_scaled_blocks),
        cmocka_unit_test(test_enlarge_bilinear),
        cmocka_unit_test(test_resize_exact),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_png_variants),
        cmocka_unit_test(test_huge_headers),
        cmocka_unit_test(test_dataset_load),
        cmocka_unit_test(test_dataset_test_split),
        cmocka_unit_test(test_dataset_png_and_skipped),
        cmocka_unit_test(test_dataset_class_mismatch),
        cmocka_unit_test(test_dataset_errors),
        cmocka_unit_test(test_dataset_split),
        cmocka_unit_test(test_batch_center_exact),
        cmocka_unit_test(test_batch_random_crop_flip),
        cmocka_unit_test(test_batch_translate),
        cmocka_unit_test(test_batch_affine_identity),
        cmocka_unit_test(test_batch_geometry_constant),
        cmocka_unit_test(test_batch_photometric),
        cmocka_unit_test(test_batch_determinism),
        cmocka_unit_test(test_dataset_stats),
        cmocka_unit_test(test_15scene_train),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
