/* test_report_html.c: report.html, checked for structure and for numbers.
 *
 * Trains tests/report/tiny.net for a few epochs on a generated data set (see
 * report/harness.h), then reads <out>/report.html as a program would:
 *   - the whole page is well-formed XML (a small checker below: tags nest,
 *     attributes are quoted, every & starts a known entity), so every inline
 *     SVG is too; no scripts, no http(s) references, every image inline;
 *   - every section is there, every setting, the shape report;
 *   - the epoch table holds the numbers of metrics.csv, the headline top-1 is
 *     the last epoch's, each plot has one point per epoch for train and test
 *     placed in the order of the values;
 *   - the confusion matrix sums to the test set and its diagonal gives the
 *     test top-1 of metrics.csv; per-class accuracies average to mean/class;
 *   - the filter grids are valid PNGs of the right size that changed with
 *     training; the misclassified images are JPEGs that decode;
 *   - a report before any epoch, and with evaluation only at the end.
 * And the encoders themselves: base64 vectors, PNG and JPEG round trips. */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "report/harness.h"
#include "report/xml.h"

#include <cmocka.h>
#include <jpeglib.h>

#include "config.h"

#define EPOCHS 4
#define N_TRAIN 6
#define N_TEST 3

static char *page;      /* report.html of the main run */
static double rows[64][METRIC_COLS];
static int n_rows;

static void xml_checker_catches_mistakes(void **state) {
    (void)state;
    Xml x;
    static const char *const good[] = {"<a/>", "<!DOCTYPE html>\n<a b=\"1\" c='2'><b>x &amp; &#183; &#x41;</b></a>",
                                       "<svg><g><text>1 &lt; 2</text></g><!-- c --></svg>"};
    static const char *const bad[] = {"<a><b></a></b>", "<a b=1/>", "<a>x & y</a>", "<a><b></a>", "<a b=\"<\"/>",
                                      "<a/><b/>",       "<a b=\"1\" b=\"2\"/>", "<a>&nbsp;</a>", "<a"};
    for (int i = 0; i < 3; i++) {
        int n = xml_check(&x, good[i], strlen(good[i]));
        if (n < 0) print_error("good[%d]: %s\n", i, x.err);
        assert_true(n > 0);
    }
    for (int i = 0; i < 9; i++) {
        if (xml_check(&x, bad[i], strlen(bad[i])) >= 0) print_error("bad[%d] '%s' passed\n", i, bad[i]);
        assert_true(xml_check(&x, bad[i], strlen(bad[i])) < 0);
    }
}

/* ---- helpers --------------------------------------------------------------------------- */

static char *html_escape(const char *s) {
    size_t cap = strlen(s) * 6 + 1, k = 0;
    char *o = malloc(cap);
    for (; *s; s++) {
        const char *r = *s == '&' ? "&amp;" : *s == '<' ? "&lt;" : *s == '>' ? "&gt;" : *s == '"' ? "&quot;" : *s == '\'' ? "&#39;" : NULL;
        if (r) k += (size_t)sprintf(o + k, "%s", r);
        else o[k++] = *s;
    }
    o[k] = 0;
    return o;
}

/* The element starting at the first occurrence of `open` through its `close`. */
static char *element(const char *s, const char *open, const char *close) {
    const char *a = strstr(s, open);
    if (!a) return NULL;
    const char *b = strstr(a, close);
    return b ? strndup(a, (size_t)(b - a) + strlen(close)) : NULL;
}

/* Text of each <td>...</td> in a row, up to max; returns the count. */
static int cells(const char *row, char out[][64], int max) {
    int n = 0;
    for (const char *p = row; n < max && (p = strstr(p, "<td"));) {
        p = strchr(p, '>') + 1;
        const char *end = strstr(p, "</td>");
        snprintf(out[n++], 64, "%.*s", (int)(end - p), p);
        p = end;
    }
    return n;
}

static uint8_t *base64_decode(const char *s, size_t n, size_t *len) {
    uint8_t *out = malloc(n / 4 * 3 + 3);
    size_t k = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n && s[i] != '='; i++) {
        const char *abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", *p = strchr(abc, s[i]);
        if (!p || !s[i]) return free(out), NULL;
        acc = acc << 6 | (uint32_t)(p - abc), bits += 6;
        if (bits >= 8) out[k++] = (uint8_t)(acc >> (bits - 8)), bits -= 8;
    }
    *len = k;
    return out;
}

/* The bytes of every data:MIME;base64 URI in s, in order. */
static int data_uris(const char *s, const char *mime, uint8_t **out, size_t *lens, int max) {
    int n = 0;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "data:%s;base64,", mime);
    for (const char *p = s; n < max && (p = strstr(p, prefix));) {
        p += strlen(prefix);
        const char *end = strchr(p, '"');
        out[n] = base64_decode(p, (size_t)(end - p), &lens[n]);
        n++;
        p = end;
    }
    return n;
}

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static uint32_t crc32_ref(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return ~c;
}

/* Decodes our PNGs (8-bit gray or RGB, filter 0, stored deflate): checks
 * every CRC, the zlib header and Adler-32. Returns the pixels or NULL. */
static uint8_t *png_decode(const uint8_t *d, size_t n, int *w, int *h, int *c) {
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    if (n < 8 || memcmp(d, sig, 8) != 0) return NULL;
    uint8_t *z = malloc(n);
    size_t zn = 0, i = 8;
    int seen_end = 0;
    *w = *h = *c = 0;
    while (i + 12 <= n) {
        uint32_t len = be32(d + i);
        if (i + 12 + len > n || crc32_ref(d + i + 4, len + 4) != be32(d + i + 8 + len)) return free(z), NULL;
        const uint8_t *body = d + i + 8;
        if (memcmp(d + i + 4, "IHDR", 4) == 0) {
            *w = (int)be32(body), *h = (int)be32(body + 4);
            *c = body[9] == 2 ? 3 : body[9] == 0 ? 1 : 0;
            if (body[8] != 8 || !*c || body[12]) return free(z), NULL;
        } else if (memcmp(d + i + 4, "IDAT", 4) == 0) memcpy(z + zn, body, len), zn += len;
        else if (memcmp(d + i + 4, "IEND", 4) == 0) seen_end = 1;
        i += 12 + len;
    }
    if (!seen_end || !*w || zn < 6 || ((z[0] << 8) | z[1]) % 31 != 0 || (z[0] & 15) != 8) return free(z), NULL;
    size_t row = (size_t)*w * (size_t)*c + 1, raw_n = row * (size_t)*h, k = 0, j = 2;
    uint8_t *raw = malloc(raw_n + 1);
    for (int final = 0; !final;) {
        if (j + 5 > zn) return free(z), free(raw), NULL;
        final = z[j] & 1;
        if ((z[j] >> 1) & 3) return free(z), free(raw), NULL; /* only stored blocks */
        size_t len = (size_t)(z[j + 1] | z[j + 2] << 8), nlen = (size_t)(z[j + 3] | z[j + 4] << 8);
        if ((len ^ 0xFFFF) != nlen || k + len > raw_n || j + 5 + len > zn) return free(z), free(raw), NULL;
        memcpy(raw + k, z + j + 5, len), k += len, j += 5 + len;
    }
    uint32_t a = 1, b = 0;
    for (size_t q = 0; q < k; q++) a = (a + raw[q]) % 65521, b = (b + a) % 65521;
    if (k != raw_n || j + 4 != zn || be32(z + j) != (b << 16 | a)) return free(z), free(raw), NULL;
    uint8_t *px = malloc(raw_n);
    for (int y = 0; y < *h; y++) {
        if (raw[y * row] != 0) return free(z), free(raw), free(px), NULL;
        memcpy(px + (size_t)y * (row - 1), raw + y * row + 1, row - 1);
    }
    free(z), free(raw);
    return px;
}

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
} JErr;
static void jerr_exit(j_common_ptr ci) { longjmp(((JErr *)ci->err)->jump, 1); }

static uint8_t *jpeg_decode(const uint8_t *d, size_t n, int *w, int *h, int *c) {
    struct jpeg_decompress_struct ci;
    JErr err;
    uint8_t *volatile px = NULL;
    ci.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = jerr_exit;
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&ci);
        free(px);
        return NULL;
    }
    jpeg_create_decompress(&ci);
    jpeg_mem_src(&ci, d, (unsigned long)n);
    jpeg_read_header(&ci, TRUE);
    jpeg_start_decompress(&ci);
    *w = (int)ci.output_width, *h = (int)ci.output_height, *c = ci.output_components;
    px = malloc((size_t)*w * (size_t)*h * (size_t)*c);
    while (ci.output_scanline < ci.output_height) {
        JSAMPROW r = px + (size_t)ci.output_scanline * (size_t)*w * (size_t)*c;
        jpeg_read_scanlines(&ci, &r, 1);
    }
    jpeg_finish_decompress(&ci);
    jpeg_destroy_decompress(&ci);
    return px;
}

/* ---- the encoders --------------------------------------------------------------------------- */

static void base64_known_vectors(void **state) {
    (void)state;
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char *b = base64_encode((const uint8_t *)in[i], strlen(in[i]));
        assert_string_equal(b, out[i]);
        free(b);
    }
    uint8_t all[256];
    for (int i = 0; i < 256; i++) all[i] = (uint8_t)i;
    char *b = base64_encode(all, 256);
    size_t n;
    uint8_t *back = base64_decode(b, strlen(b), &n);
    assert_int_equal(n, 256);
    assert_memory_equal(back, all, 256);
    free(b), free(back);
}

static void png_round_trip(void **state) {
    (void)state;
    /* gray and RGB; one image larger than a stored block (65535 bytes) */
    static const int sizes[][3] = {{1, 1, 1}, {7, 3, 3}, {300, 120, 3}, {13, 11, 1}};
    for (int t = 0; t < 4; t++) {
        int w = sizes[t][0], h = sizes[t][1], c = sizes[t][2];
        uint8_t *px = malloc((size_t)w * h * c);
        for (int i = 0; i < w * h * c; i++) px[i] = (uint8_t)(i * 37 + t);
        size_t len;
        uint8_t *png = png_encode(px, w, h, c, &len);
        int dw, dh, dc;
        uint8_t *back = png_decode(png, len, &dw, &dh, &dc);
        assert_non_null(back);
        assert_int_equal(dw, w), assert_int_equal(dh, h), assert_int_equal(dc, c);
        assert_memory_equal(back, px, (size_t)w * h * c);
        free(px), free(png), free(back);
    }
}

static void jpeg_round_trip(void **state) {
    (void)state;
    for (int c = 1; c <= 3; c += 2) {
        int w = 40, h = 24;
        uint8_t *px = malloc((size_t)w * h * c);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int k = 0; k < c; k++) px[(y * w + x) * c + k] = (uint8_t)(40 + 3 * x + 2 * y + 20 * k);
        size_t len;
        uint8_t *jpg = jpeg_encode(px, w, h, c, 90, &len);
        assert_non_null(jpg);
        int dw, dh, dc;
        uint8_t *back = jpeg_decode(jpg, len, &dw, &dh, &dc);
        assert_non_null(back);
        assert_int_equal(dw, w), assert_int_equal(dh, h), assert_int_equal(dc, c);
        double err = 0;
        for (int i = 0; i < w * h * c; i++) err += fabs((double)back[i] - px[i]);
        err /= w * h * c;
        print_message("jpeg %d channel(s): %zu bytes, mean error %.2f\n", c, len, err);
        assert_true(err < 3);
        free(px), free(jpg), free(back);
    }
}

/* ---- the report of a real run ------------------------------------------------------------------- */

static int setup(void **state) {
    (void)state;
    harness_init(N_TRAIN, N_TEST);
    const char *args[] = {"train", "--data", fmt("%s/data", tmp_root), "--out", fmt("%s/run", tmp_root), "--epochs",
                          fmt("%d", EPOCHS), "--val_split", "0.34", "--threads", "1", NULL};
    int rc = run_trainer(fmt("%s/train", tmp_root), args);
    if (rc != 0) {
        fprintf(stderr, "training failed (%d); see %s/train.err\n", rc, tmp_root);
        return -1;
    }
    page = slurp(fmt("%s/run/report.html", tmp_root), NULL);
    n_rows = read_metrics(fmt("%s/run/metrics.csv", tmp_root), rows, 64);
    return page && n_rows == EPOCHS ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    free(page);
    harness_cleanup();
    return 0;
}

static void check_page_basics(const char *html) {
    Xml x;
    int n = xml_check(&x, html, strlen(html));
    if (n < 0) print_error("report.html is not well-formed: %s\n", x.err);
    assert_true(n > 100);
    assert_null(strstr(html, "http://"));
    assert_null(strstr(html, "https://"));
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "url("));
    assert_null(strstr(html, "@import"));
    /* every image inline */
    for (const char *p = html; (p = strstr(p, " src=\"")); p += 6) assert_int_equal(strncmp(p + 6, "data:image/", 11), 0);
}

static void report_is_well_formed_and_self_contained(void **state) {
    (void)state;
    check_page_basics(page);
    assert_int_equal(strncmp(page, "<!DOCTYPE html>", 15), 0);
    assert_non_null(strstr(page, "<meta charset=\"utf-8\"/>"));
}

static void report_has_every_section(void **state) {
    (void)state;
    static const char *const ids[] = {"curves", "epochs", "filters", "confusion", "mistakes", "speed", "network", "settings"};
    for (int i = 0; i < 8; i++) {
        char id[64];
        snprintf(id, sizeof id, "<section id=\"%s\">", ids[i]);
        if (!strstr(page, id)) print_error("no section %s\n", ids[i]);
        assert_non_null(strstr(page, id));
        snprintf(id, sizeof id, "href=\"#%s\"", ids[i]);
        assert_non_null(strstr(page, id));
    }
    assert_non_null(strstr(page, "<h1>tiny</h1>"));
    /* the shape report, escaped */
    char *report = html_escape(netc_tiny.report);
    assert_non_null(strstr(page, report));
    free(report);
    /* every setting, with the values of the run */
    for (int i = 0; i < config_nkeys; i++) {
        const char *th = fmt("<th class=\"l\">%s</th>", config_keys[i].key);
        if (!strstr(page, th)) print_error("setting %s missing\n", config_keys[i].key);
        assert_non_null(strstr(page, th));
    }
    assert_non_null(strstr(page, fmt("<tr class=\"set\"><th class=\"l\">epochs</th><td class=\"l\">%d</td>", EPOCHS)));
    assert_non_null(strstr(page, "<th class=\"l\">normalize</th><td class=\"l\">auto</td>"));
    assert_non_null(strstr(page, "(from the training images)"));
    assert_non_null(strstr(page, "netc version</th><td class=\"l\">" NETC_VERSION));
    assert_non_null(strstr(page, fmt("/train</code>: %d images, 15 classes", N_TRAIN * N_CLASSES)));
    /* val_split 0.34 of 6 images a class: 2 held out, 4 trained on */
    assert_non_null(strstr(page, fmt("%d of them held out, %d trained on (val_split 0.34 of each class, val_fold 0, chosen by seed 1",
                                     2 * N_CLASSES, 4 * N_CLASSES)));
    assert_non_null(strstr(page, fmt("/test</code>: %d images", N_TEST * N_CLASSES)));
    assert_non_null(strstr(page, "1 (OpenMP; OpenBLAS runs inside it)"));
    /* time per epoch and images per second */
    char *speed = element(page, "<section id=\"speed\">", "</section>");
    assert_non_null(speed);
    assert_int_equal(count_of(speed, "<svg class=\"plot\""), 2);
    assert_non_null(strstr(speed, "s per epoch"));
    assert_non_null(strstr(speed, "images per second"));
    free(speed);
}

static void table_equals_metrics_csv(void **state) {
    (void)state;
    char *table = element(page, "<table class=\"epochs\">", "</table>");
    assert_non_null(table);
    char *body = between(table, "<tbody>", "</tbody>");
    assert_non_null(body);
    /* decimals shown per column of metrics.csv */
    static const int decimals[METRIC_COLS] = {0, -1, 4, 2, 2, 4, 2, 2, 4, 2, 2, 2, 1, 0};
    int r = 0;
    for (const char *p = body; (p = strstr(p, "<tr")); r++) {
        const char *end = strstr(p, "</tr>");
        char *row = strndup(p, (size_t)(end - p));
        char c[16][64];
        int n = cells(row, c, 16);
        assert_int_equal(n, METRIC_COLS);
        assert_true(r < n_rows);
        for (int k = 0; k < METRIC_COLS; k++) {
            double want = rows[r][k], got = strtod(c[k], NULL);
            double tol = decimals[k] < 0 ? fabs(want) * 1e-4 : 0.5 * pow(10, -decimals[k]) + 1e-9;
            if (fabs(got - want) > tol) print_error("epoch %d, column %d: table '%s', metrics.csv %.6f\n", r + 1, k, c[k], want);
            assert_true(fabs(got - want) <= tol);
        }
        free(row);
        p = end;
    }
    assert_int_equal(r, n_rows);
    /* the headline is the last epoch's test top-1, and the page title says it too */
    const double *last = rows[n_rows - 1];
    assert_non_null(strstr(page, fmt("<div class=\"kpi main\"><div class=\"v\">%.2f%%</div>", last[COL_TEST_TOP1])));
    assert_non_null(strstr(page, fmt("<title>tiny &#8212; %.1f%% test top-1", last[COL_TEST_TOP1])));
    assert_non_null(strstr(page, fmt("<div class=\"v\">%.2f%%</div><div class=\"l\">test top-5</div>", last[COL_TEST_TOP5])));
    /* best.ckpt's epoch: the first with the best validation top-1, highlighted, and its figure in the headline */
    int best = 0;
    for (int i = 1; i < n_rows; i++)
        if (rows[i][COL_VAL_TOP1] > rows[best][COL_VAL_TOP1]) best = i;
    assert_non_null(strstr(page, fmt("<div class=\"kpi val\"><div class=\"v\">%.2f%%</div><div class=\"l\">best validation top-1, "
                                     "epoch %d (best.ckpt)</div>", rows[best][COL_VAL_TOP1], best + 1)));
    assert_int_equal(count_of(body, "<tr class=\"best\">"), 1);
    assert_non_null(strstr(body, fmt("<tr class=\"best\"><td>%d</td>", best + 1)));
    /* the run has ended: the page no longer reloads itself */
    assert_null(strstr(page, "http-equiv=\"refresh\""));
    free(table), free(body);
}

/* Points of a polyline as (x, y) pairs; returns their number. */
static int polyline(const char *svg, const char *series, double *xy, int max) {
    const char *g = strstr(svg, fmt("data-series=\"%s\"", series));
    if (!g) return -1;
    const char *p = strstr(g, "points=\"");
    if (!p) return -1;
    p += 8;
    int n = 0;
    while (*p != '"' && n < max) {
        char *end;
        xy[2 * n] = strtod(p, &end);
        if (*end != ',') return -1;
        xy[2 * n + 1] = strtod(end + 1, &end);
        n++;
        p = end;
        while (*p == ' ') p++;
    }
    return n;
}

static void plots_show_every_epoch_in_order(void **state) {
    (void)state;
    static const char *const metrics[] = {"loss", "top1", "top5"};
    static const char *const series[] = {"train", "validation", "test"};
    static const int first_col[] = {COL_TRAIN_LOSS, COL_VAL_LOSS, COL_TEST_LOSS}; /* then top-1, top-5 */
    for (int m = 0; m < 3; m++) {
        char *svg = element(page, fmt("<svg class=\"plot\" data-metric=\"%s\"", metrics[m]), "</svg>");
        assert_non_null(svg);
        assert_true(count_of(svg, "class=\"tick\"") >= 6); /* x and y ticks */
        assert_non_null(strstr(svg, ">epoch</text>"));
        assert_non_null(strstr(svg, "<g class=\"legend train\">"));
        assert_non_null(strstr(svg, "<g class=\"legend val\">"));
        assert_non_null(strstr(svg, "<g class=\"legend test\">"));
        for (int s = 0; s < 3; s++) {
            double xy[2 * 64];
            int n = polyline(svg, series[s], xy, 64);
            assert_int_equal(n, n_rows);
            int col = first_col[s] + m;
            for (int i = 0; i < n; i++) {
                /* inside the plot area, epochs left to right */
                assert_true(xy[2 * i] > 0 && xy[2 * i] < 370 && xy[2 * i + 1] >= 30 && xy[2 * i + 1] <= 240 - 42 + 0.1);
                if (i) assert_true(xy[2 * i] > xy[2 * i - 2]);
                /* a larger value is drawn higher (smaller y) */
                for (int j = 0; j < i; j++) {
                    double dv = rows[i][col] - rows[j][col], dy = xy[2 * i + 1] - xy[2 * j + 1];
                    if (fabs(dv) > 1e-3 * fmax(1, fabs(rows[i][col]))) assert_true(dv * dy < 0);
                }
            }
        }
        /* one marker per point, with its value */
        assert_int_equal(count_of(svg, "</title></circle>"), 3 * n_rows);
        free(svg);
    }
}

static void confusion_matrix_matches_test_metrics(void **state) {
    (void)state;
    char *svg = element(page, "<svg class=\"confusion\"", "</svg>");
    assert_non_null(svg);
    assert_int_equal(count_of(svg, "class=\"clabel row\""), N_CLASSES);
    assert_int_equal(count_of(svg, "class=\"clabel col\""), N_CLASSES);
    for (int k = 0; k < N_CLASSES; k++) {
        char *name = html_escape(class_dirs[k]);
        assert_non_null(strstr(svg, fmt(">%s</text>", name)));
        free(name);
    }
    /* cells: "<title>true A, predicted B: C of N (P%)</title>", row by row */
    long total = 0, diag = 0;
    int cellsn = 0;
    for (const char *p = svg; (p = strstr(p, "<title>true "));) {
        const char *colon = strstr(p, ": ");
        long c, n;
        assert_int_equal(sscanf(colon, ": %ld of %ld", &c, &n), 2);
        int t = cellsn / N_CLASSES, q = cellsn % N_CLASSES;
        total += c;
        if (t == q) diag += c;
        cellsn++;
        p = colon;
    }
    assert_int_equal(cellsn, N_CLASSES * N_CLASSES);
    assert_int_equal(total, N_TEST * N_CLASSES);
    double top1 = 100.0 * diag / total;
    assert_true(fabs(top1 - rows[n_rows - 1][COL_TEST_TOP1]) < 1e-3);
    free(svg);

    /* per-class accuracy: one row per class, averaging to mean/class */
    char *table = element(page, "<table class=\"perclass\">", "</table>");
    assert_non_null(table);
    char *body = between(table, "<tbody>", "</tbody>");
    int n = 0;
    double sum = 0;
    long images = 0;
    for (const char *p = body; (p = strstr(p, "<tr>")); p++, n++) {
        char c[8][64], *row = strndup(p, (size_t)(strstr(p, "</tr>") - p));
        assert_int_equal(cells(row, c, 8), 5); /* class, top-1, bar, "correct / images", most confused with */
        free(row);
        images += atol(strchr(c[3], '/') + 1);
        sum += strtod(c[1], NULL);
    }
    assert_int_equal(n, N_CLASSES);
    assert_int_equal(images, N_TEST * N_CLASSES);
    assert_true(fabs(sum / N_CLASSES - rows[n_rows - 1][COL_TEST_MEAN]) < 0.05 + 1e-9);
    free(table), free(body);
}

static void filter_grids_are_pngs_that_changed(void **state) {
    (void)state;
    char *sec = element(page, "<section id=\"filters\">", "</section>");
    assert_non_null(sec);
    uint8_t *png[4];
    size_t len[4];
    assert_int_equal(data_uris(sec, "image/png", png, len, 4), 2);
    int w[2], h[2], c[2];
    uint8_t *px[2];
    for (int i = 0; i < 2; i++) {
        px[i] = png_decode(png[i], len[i], &w[i], &h[i], &c[i]);
        assert_non_null(px[i]);
        assert_int_equal(c[i], 3); /* colour input: colour filters */
    }
    /* c1: 6 filters of 5x5 in a grid of 3 columns and 2 rows, 1-pixel gaps */
    assert_int_equal(w[0], 3 * 6 + 1);
    assert_int_equal(h[0], 2 * 6 + 1);
    assert_int_equal(w[1], w[0]);
    /* shown enlarged by a whole factor */
    int zw, zh;
    const char *img = strstr(sec, "<img class=\"filters\"");
    assert_int_equal(sscanf(img, "<img class=\"filters\" width=\"%d\" height=\"%d\"", &zw, &zh), 2);
    assert_true(zw % w[0] == 0 && zw / w[0] == zh / h[0] && zw / w[0] >= 4);
    assert_memory_not_equal(px[0], px[1], (size_t)w[0] * h[0] * 3);
    assert_non_null(strstr(sec, "moved by"));
    for (int i = 0; i < 2; i++) free(png[i]), free(px[i]);
    free(sec);
}

static void mistakes_are_inline_jpegs(void **state) {
    (void)state;
    char *sec = element(page, "<section id=\"mistakes\">", "</section>");
    assert_non_null(sec);
    int shown = count_of(sec, "<figure class=\"mistake\">");
    /* as many as there are mistakes, up to 12 */
    long wrong = N_TEST * N_CLASSES - lround(rows[n_rows - 1][COL_TEST_TOP1] * N_TEST * N_CLASSES / 100);
    assert_int_equal(shown, wrong < 12 ? wrong : 12);
    uint8_t *jpg[16];
    size_t len[16];
    assert_int_equal(data_uris(sec, "image/jpeg", jpg, len, 16), shown);
    for (int i = 0; i < shown; i++) {
        int w, h, c;
        uint8_t *px = jpeg_decode(jpg[i], len[i], &w, &h, &c);
        assert_non_null(px);
        assert_int_equal(w, 20), assert_int_equal(h, 20), assert_int_equal(c, 3); /* the 20x20 cache */
        free(px), free(jpg[i]);
    }
    /* true and predicted labels differ, and the confidence is a percentage */
    for (const char *p = sec; (p = strstr(p, "<div class=\"truth\"><span>true</span>"));) {
        char *t = between(p, "<span>true</span>", "</div>"), *q = between(p, "<span>predicted</span>", " <b>");
        assert_non_null(t), assert_non_null(q);
        assert_string_not_equal(t, q);
        const char *b = strstr(p, " <b>");
        int pct = -1;
        assert_int_equal(sscanf(b, " <b>%d%%</b>", &pct), 1);
        assert_true(pct >= 0 && pct <= 100);
        free(t), free(q);
        p++;
    }
    free(sec);
}

static void report_before_any_epoch(void **state) {
    (void)state;
    const char *out = fmt("%s/run0", tmp_root);
    const char *args[] = {"train", "--data", fmt("%s/data", tmp_root), "--out", out, "--epochs", "0", "--threads", "1", NULL};
    assert_int_equal(run_trainer(fmt("%s/train0", tmp_root), args), 0);
    char *html = slurp(fmt("%s/report.html", out), NULL);
    assert_non_null(html);
    check_page_basics(html);
    assert_non_null(strstr(html, "test top-1: not evaluated yet"));
    assert_non_null(strstr(html, "No epoch has finished yet."));
    assert_non_null(strstr(html, "The test set has not been evaluated yet."));
    assert_non_null(strstr(html, "now (no epoch yet)"));
    assert_int_equal(count_of(html, "<img class=\"filters\""), 2);
    free(html);
}

static void report_with_evaluation_only_at_the_end(void **state) {
    (void)state;
    const char *out = fmt("%s/run_e0", tmp_root);
    const char *args[] = {"train", "--data", fmt("%s/data", tmp_root), "--out", out, "--epochs", "3", "--eval_every", "0",
                          "--threads", "1", NULL};
    assert_int_equal(run_trainer(fmt("%s/train_e0", tmp_root), args), 0);
    char *html = slurp(fmt("%s/report.html", out), NULL);
    assert_non_null(html);
    check_page_basics(html);
    char *svg = element(html, "<svg class=\"plot\" data-metric=\"top1\"", "</svg>");
    double xy[2 * 8];
    assert_int_equal(polyline(svg, "train", xy, 8), 3);
    assert_int_equal(polyline(svg, "test", xy, 8), 1);
    /* the empty test cells of epochs 1 and 2 stay empty in the table */
    assert_int_equal(count_of(html, "<td></td><td></td><td></td><td></td>"), 2);
    free(svg), free(html);
}

/* While a run trains, its report reloads itself (a meta refresh, no script);
 * once it stops, the last write has no refresh. */
static void report_reloads_while_training(void **state) {
    (void)state;
    const char *out = fmt("%s/run_live", tmp_root);
    char csv[600];
    snprintf(csv, sizeof csv, "%s/metrics.csv", out);
    const char *args[] = {"train", "--data", fmt("%s/data", tmp_root), "--out", out, "--epochs", "1000", "--threads", "1", NULL};
    pid_t pid = start_trainer(fmt("%s/train_live", tmp_root), args);
    while (metrics_rows(csv) < 1 && waitpid(pid, NULL, WNOHANG) == 0) nap(1);
    char *html = slurp(fmt("%s/report.html", out), NULL);
    kill(pid, SIGTERM);
    assert_int_equal(wait_trainer(pid), 130);
    assert_non_null(html);
    check_page_basics(html);
    assert_non_null(strstr(html, "<meta http-equiv=\"refresh\" content=\"10\"/>"));
    assert_non_null(strstr(html, " of 1000 &#183; run folder"));
    free(html);
    html = slurp(fmt("%s/report.html", out), NULL);
    assert_non_null(html);
    assert_null(strstr(html, "http-equiv=\"refresh\""));
    assert_non_null(strstr(html, "&#183; stopped in epoch "));
    free(html);
}

int main(void) {
    const struct CMUnitTest encoders[] = {
        cmocka_unit_test(xml_checker_catches_mistakes),
        cmocka_unit_test(base64_known_vectors),
        cmocka_unit_test(png_round_trip),
        cmocka_unit_test(jpeg_round_trip),
    };
    const struct CMUnitTest report[] = {
        cmocka_unit_test(report_is_well_formed_and_self_contained),
        cmocka_unit_test(report_has_every_section),
        cmocka_unit_test(table_equals_metrics_csv),
        cmocka_unit_test(plots_show_every_epoch_in_order),
        cmocka_unit_test(confusion_matrix_matches_test_metrics),
        cmocka_unit_test(filter_grids_are_pngs_that_changed),
        cmocka_unit_test(mistakes_are_inline_jpegs),
        cmocka_unit_test(report_before_any_epoch),
        cmocka_unit_test(report_with_evaluation_only_at_the_end),
        cmocka_unit_test(report_reloads_while_training),
    };
    alarm(300); /* a hung trainer fails the test instead of stalling CI */
    int failed = cmocka_run_group_tests_name("encoders", encoders, NULL, NULL);
    failed += cmocka_run_group_tests_name("report.html", report, setup, teardown);
    return failed ? 1 : 0;
}
