/* test_report.c: the front end on good nets. The shipped nets' figures (the
 * issue's numbers, checked in the Net structures and in the printed table,
 * CSV and JSON), and each language feature's effect on shapes, parameters,
 * receptive fields and flags. Run from the repository root. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "frontend.h"
#include "json.h"

/* Compiles a shipped net; it must pass every check without a message. */
static FeResult compile_file(const char *path) {
    char *text = fe_slurp(path);
    FeResult r = fe_compile(path, text);
    free(text); /* the Net keeps no pointer into the text */
    if (r.failed) fail_msg("%s failed in pass %d:\n%s", path, r.failed, r.diag);
    if (r.diag[0]) fail_msg("%s: unexpected messages:\n%s", path, r.diag);
    return r;
}

/* Compiles a small net that must be accepted. */
static FeResult compile_ok(const char *text) {
    FeResult r = fe_compile("t.net", text);
    if (r.failed) fail_msg("rejected:\n%s\n%s", text, r.diag);
    return r;
}

static void expect_shape(const Layer *l, long w, long h, long c) {
    if (l->out.w != w || l->out.h != h || l->out.c != c)
        fail_msg("%s: %ldx%ldx%ld, expected %ldx%ldx%ld", l->name, l->out.w, l->out.h, l->out.c, w, h, c);
}

static void expect_rf(const Layer *l, double size, double stride) {
    if (l->rf != size || l->rf_stride != stride)
        fail_msg("%s: receptive field %.17g/%.17g, expected %.17g/%.17g", l->name, l->rf, l->rf_stride, size, stride);
}

/* ---- the printed table --------------------------------------------------------- */

/* One row of the table, split at runs of two or more spaces. */
typedef struct {
    char cell[10][64];
    int n;
} Row;

static int split_row(const char *line, Row *row) {
    row->n = 0;
    const char *p = line;
    while (*p == ' ') p++;
    while (*p && row->n < 10) {
        const char *end = p;
        while (*end && !(end[0] == ' ' && end[1] == ' ')) end++;
        int len = (int)(end - p) < 63 ? (int)(end - p) : 63;
        memcpy(row->cell[row->n], p, (size_t)len);
        row->cell[row->n++][len] = 0;
        p = end;
        while (*p == ' ') p++;
    }
    return row->n;
}

/* The row of the table whose first cell is `name` (fails if none). */
static Row table_row(const char *table, const char *name) {
    Row row;
    const char *line = table;
    while (line && *line) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        char buf[512];
        if (len >= sizeof buf) len = sizeof buf - 1;
        memcpy(buf, line, len);
        buf[len] = 0;
        if (strncmp(buf, "  ", 2) == 0 && split_row(buf, &row) > 0 && strcmp(row.cell[0], name) == 0) return row;
        line = nl ? nl + 1 : NULL;
    }
    fail_msg("no row '%s' in the table:\n%s", name, table);
    return row;
}

/* name, type, data, depth, rf, params, FLOPs, memory[, notes] */
static void expect_row(const char *table, const char *name, const char *data, const char *depth, const char *rf,
                       const char *params) {
    Row r = table_row(table, name);
    if (r.n < 8) fail_msg("row '%s' has %d cells:\n%s", name, r.n, table);
    if (strcmp(r.cell[2], data) || strcmp(r.cell[3], depth) || strcmp(r.cell[4], rf) || strcmp(r.cell[5], params))
        fail_msg("row %s: data %s depth %s rf %s params %s; expected %s %s %s %s", name, r.cell[2], r.cell[3], r.cell[4],
                 r.cell[5], data, depth, rf, params);
}

/* The total row: "total  N layers  params  FLOPs  memory" */
static void expect_total(const char *table, const char *layers, const char *params) {
    Row r = table_row(table, "total");
    if (r.n != 5 || strcmp(r.cell[1], layers) || strcmp(r.cell[2], params))
        fail_msg("total row: %d cells, '%s', '%s'; expected '%s', '%s'", r.n, r.cell[1], r.n > 2 ? r.cell[2] : "", layers,
                 params);
}

/* ---- CSV --------------------------------------------------------------------------- */

/* Splits one CSV record (quoted fields may hold commas and "" quotes). */
static int csv_fields(const char *line, char f[][128], int max) {
    int n = 0;
    const char *p = line;
    while (n < max) {
        int len = 0;
        if (*p == '"') {
            for (p++; *p && !(*p == '"' && p[1] != '"'); p++) {
                if (*p == '"') p++;
                if (len < 127) f[n][len++] = *p;
            }
            if (*p == '"') p++;
        } else {
            for (; *p && *p != ',' && *p != '\n'; p++)
                if (len < 127) f[n][len++] = *p;
        }
        f[n++][len] = 0;
        if (*p != ',') break;
        p++;
    }
    return n;
}

/* The CSV record of layer `name`, checked against the header's columns. */
static void expect_csv(const char *csv, const char *name, const char *w, const char *h, const char *c, const char *rf_size,
                       const char *rf_stride, const char *params) {
    static const char *const header = "layer,kind,desc,inputs,width,height,depth,rf_size,rf_stride,params,flops,act_floats,frozen,load\n";
    if (strncmp(csv, header, strlen(header)) != 0) fail_msg("CSV header:\n%s", csv);
    for (const char *line = csv; line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        char f[16][128];
        int n = csv_fields(line, f, 16);
        if (n < 1 || strcmp(f[0], name) != 0) continue;
        if (n != 14) fail_msg("CSV row %s has %d fields", name, n);
        if (strcmp(f[4], w) || strcmp(f[5], h) || strcmp(f[6], c) || strcmp(f[7], rf_size) || strcmp(f[8], rf_stride) ||
            strcmp(f[9], params))
            fail_msg("CSV row %s: %s x %s x %s rf %s/%s params %s", name, f[4], f[5], f[6], f[7], f[8], f[9]);
        return;
    }
    fail_msg("no CSV row '%s'", name);
}

/* ---- JSON -------------------------------------------------------------------------- */

static int64_t json_int(const Json *obj, const char *key) {
    const Json *v = json_get(obj, key);
    int64_t x;
    if (!v || json_int64(v, &x) != JSON_INT_OK) fail_msg("JSON: '%s' is not an integer", key);
    return x;
}

static void json_ints(const Json *obj, const char *key, int64_t *out, int n) {
    const Json *v = json_get(obj, key);
    if (!v || v->type != JSON_ARRAY || v->n != n) fail_msg("JSON: '%s' is not an array of %d", key, n);
    for (int i = 0; i < n; i++)
        if (json_int64(&v->items[i], &out[i]) != JSON_INT_OK) fail_msg("JSON: '%s'[%d] is not an integer", key, i);
}

static const Json *json_layer(const Json *root, const char *name) {
    const Json *layers = json_get(root, "layers");
    if (!layers || layers->type != JSON_ARRAY) fail_msg("JSON: no layers array");
    for (int i = 0; i < layers->n; i++) {
        const Json *name_v = json_get(&layers->items[i], "name");
        if (name_v && name_v->type == JSON_STRING && strcmp(name_v->str, name) == 0) return &layers->items[i];
    }
    fail_msg("JSON: no layer '%s'", name);
    return NULL;
}

static void expect_json_layer(const Json *root, const char *name, long w, long h, long c, long rf, long rf_stride,
                              int64_t params) {
    const Json *l = json_layer(root, name);
    int64_t size[3], rfv[2];
    json_ints(l, "size", size, 3);
    json_ints(l, "rf", rfv, 2);
    if (size[0] != w || size[1] != h || size[2] != c || rfv[0] != rf || rfv[1] != rf_stride || json_int(l, "params") != params)
        fail_msg("JSON layer %s: size [%lld, %lld, %lld] rf [%lld, %lld] params %lld", name, (long long)size[0],
                 (long long)size[1], (long long)size[2], (long long)rfv[0], (long long)rfv[1], (long long)json_int(l, "params"));
}

/* Parses a JSON report; it must be valid, and describe the same net. */
static void parse_json_report(const Net *net, JsonDoc *doc) {
    char *text = fe_report(net, REPORT_JSON);
    Error e;
    if (json_parse(doc, text, strlen(text), NULL, &e) < 0) fail_msg("JSON report does not parse: %s\n%s", e.msg, text);
    free(text);
    const Json *name = json_get(doc->root, "net");
    assert_non_null(name);
    assert_string_equal(name->str, net->name);
    assert_int_equal(json_get(doc->root, "layers")->n, net->n);
    assert_int_equal(json_int(doc->root, "classes"), net->classes);
    assert_int_equal(json_int(json_get(doc->root, "total"), "params"), net->total_params);
}

/* ---- SimpleNet -------------------------------------------------------------------- */

static void test_simplenet(void **state) {
    (void)state;
    FeResult r = compile_file("nets/simplenet.net");
    const Net *net = &r.net;
    assert_string_equal(net->name, "simplenet");
    assert_int_equal(net->n, 6); /* input, conv1, pool1, relu1, fc, loss */
    expect_shape(fe_layer(net, "conv1"), 56, 56, 10);
    expect_shape(fe_layer(net, "pool1"), 8, 8, 10);
    /* fc sees the whole 8x8x10 map and outputs 1x1x15 */
    const Layer *fc = fe_layer(net, "fc");
    expect_shape(&net->layers[fc->in[0]], 8, 8, 10);
    expect_shape(fc, 1, 1, 15);
    assert_int_equal(CONV(fc)->kw, 8);
    expect_rf(fe_layer(net, "conv1"), 9, 1);
    expect_rf(fe_layer(net, "pool1"), 15, 7);
    expect_rf(fe_layer(net, "relu1"), 15, 7);
    expect_rf(fc, 64, 7);
    /* 9*9*1*10 + 10 = 820; 8*8*10*15 + 15 = 9,615 */
    assert_int_equal(fe_layer(net, "conv1")->params, 820);
    assert_int_equal(fc->params, 9615);
    assert_int_equal(net->total_params, 10435);
    assert_int_equal(net->classes, 15);
    /* a multiply-add is 2 FLOPs: 2 * 81 * 56*56*10, 2 * 640 * 15 */
    assert_true(fe_layer(net, "conv1")->flops == 2.0 * 81 * 56 * 56 * 10);
    assert_true(fc->flops == 2.0 * 640 * 15);

    char *table = fe_report(net, REPORT_TABLE);
    assert_non_null(strstr(table, "simplenet (nets/simplenet.net): input 64x64x1, 15 classes\n"));
    expect_row(table, "conv1", "56x56", "10", "9/1", "820");
    expect_row(table, "pool1", "8x8", "10", "15/7", "0");
    expect_row(table, "relu1", "8x8", "10", "15/7", "0");
    expect_row(table, "fc", "1x1", "15", "64/7", "9,615");
    expect_total(table, "5 layers", "10,435");
    assert_non_null(strstr(table, "\n  parameters 10,435 (40.8 KB as float32)\n"));
    Row conv1 = table_row(table, "conv1");
    assert_string_equal(conv1.cell[1], "conv 9x9 -> 10");
    assert_string_equal(conv1.cell[6], "5.08 M");
    free(table);

    char *csv = fe_report(net, REPORT_CSV);
    expect_csv(csv, "conv1", "56", "56", "10", "9", "1", "820");
    expect_csv(csv, "pool1", "8", "8", "10", "15", "7", "0");
    expect_csv(csv, "fc", "1", "1", "15", "64", "7", "9615");
    assert_non_null(strstr(csv, "\nfc,conv,\"conv 8x8 -> 15\",relu1,1,1,15,64,7,9615,19200,15,0,\n"));
    free(csv);

    JsonDoc doc;
    parse_json_report(net, &doc);
    expect_json_layer(doc.root, "conv1", 56, 56, 10, 9, 1, 820);
    expect_json_layer(doc.root, "pool1", 8, 8, 10, 15, 7, 0);
    expect_json_layer(doc.root, "fc", 1, 1, 15, 64, 7, 9615);
    const Json *fcj = json_layer(doc.root, "fc");
    int64_t kernel[2];
    json_ints(fcj, "kernel", kernel, 2);
    assert_int_equal(kernel[0], 8);
    assert_string_equal(json_get(fcj, "kind")->str, "conv");
    const Json *inputs = json_get(fcj, "inputs");
    assert_int_equal(inputs->type, JSON_ARRAY);
    assert_int_equal(inputs->n, 1);
    assert_string_equal(inputs->items[0].str, "relu1");
    assert_int_equal(json_int(json_get(doc.root, "total"), "params"), 10435);
    json_free(&doc);
    fe_done(&r);
}

/* ---- AlexNet-FT ----------------------------------------------------------------------- */

static void test_alexnet(void **state) {
    (void)state;
    FeResult r = compile_file("nets/alexnet_ft.net");
    const Net *net = &r.net;
    expect_shape(fe_layer(net, "conv1"), 55, 55, 64);
    expect_shape(fe_layer(net, "pool1"), 27, 27, 64);
    expect_shape(fe_layer(net, "pool2"), 13, 13, 192);
    expect_shape(fe_layer(net, "pool5"), 6, 6, 256);
    expect_rf(fe_layer(net, "conv1"), 11, 4);
    expect_rf(fe_layer(net, "pool1"), 19, 8);
    expect_rf(fe_layer(net, "conv2"), 51, 8);
    expect_rf(fe_layer(net, "pool5"), 195, 32);
    /* conv1 64*3*121+64 = 23,296; conv2 192*64*25+192 = 307,392;
     * conv3 384*192*9+384 = 663,936; conv4 256*384*9+256 = 884,992;
     * conv5 256*256*9+256 = 590,080; fc6 4096*9216+4096 = 37,752,832;
     * fc7 4096*4096+4096 = 16,781,312; fc8 15*4096+15 = 61,455 */
    static const struct {
        const char *name;
        int64_t params;
    } p[] = {{"conv1", 23296},   {"conv2", 307392},     {"conv3", 663936},     {"conv4", 884992},
             {"conv5", 590080},  {"fc6", 37752832},     {"fc7", 16781312},     {"fc8", 61455}};
    int64_t sum = 0;
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) {
        assert_int_equal(fe_layer(net, p[i].name)->params, p[i].params);
        sum += p[i].params;
    }
    assert_int_equal(sum, 57065295);
    assert_int_equal(net->total_params, 57065295);
    /* loads by name, fc8 is new and learns 10x faster */
    assert_string_equal(fe_layer(net, "conv1")->load, "features.0");
    assert_string_equal(fe_layer(net, "fc6")->load, "classifier.1");
    assert_null(fe_layer(net, "fc8")->load);
    assert_true(fe_layer(net, "fc8")->lr_mult == 10.0f);
    assert_int_equal(fe_layer(net, "fc8")->init.kind, INIT_PYTORCH);

    char *table = fe_report(net, REPORT_TABLE);
    expect_row(table, "pool5", "6x6", "256", "195/32", "0");
    expect_row(table, "conv1", "55x55", "64", "11/4", "23,296");
    expect_row(table, "fc6", "1x1", "4096", "355/32", "37,752,832");
    expect_total(table, "21 layers", "57,065,295");
    Row fc8 = table_row(table, "fc8");
    assert_string_equal(fc8.cell[8], "lr x10");
    Row conv1 = table_row(table, "conv1");
    assert_string_equal(conv1.cell[8], "loads features.0");
    free(table);

    char *csv = fe_report(net, REPORT_CSV);
    expect_csv(csv, "pool5", "6", "6", "256", "195", "32", "0");
    expect_csv(csv, "fc6", "1", "1", "4096", "355", "32", "37752832");
    free(csv);

    JsonDoc doc;
    parse_json_report(net, &doc);
    expect_json_layer(doc.root, "pool5", 6, 6, 256, 195, 32, 0);
    assert_int_equal(json_int(json_get(doc.root, "total"), "params"), 57065295);
    assert_string_equal(json_get(json_layer(doc.root, "fc6"), "load")->str, "classifier.1");
    json_free(&doc);
    fe_done(&r);
}

/* ---- ResNet-18 --------------------------------------------------------------------------- */

/* torchvision's resnet18 written with blocks: 11,689,512 parameters (as
 * torchvision counts them), 1.82 G multiply-adds per image, and the
 * receptive field of layer4's last output, 435 pixels at stride 32. The
 * blocks' `in` is the instance's input: the identity of layer1_0.sum is the
 * max pool, the projection of layer2_0 reads layer1_1's output. */
static int64_t basic_params(int64_t c) { return 2 * (c * c * 9 + 2 * c); }
static int64_t down_params(int64_t in, int64_t c) { return c * in * 9 + 2 * c + c * c * 9 + 2 * c + c * in + 2 * c; }

static void test_resnet18(void **state) {
    (void)state;
    FeResult r = compile_file("tests/torchvision/resnet18.net");
    const Net *net = &r.net;
    int64_t params = 64 * 3 * 49 + 2 * 64 + 2 * basic_params(64) + down_params(64, 128) + basic_params(128) +
                     down_params(128, 256) + basic_params(256) + down_params(256, 512) + basic_params(512) + 512 * 1000 + 1000;
    assert_int_equal(params, 11689512);
    assert_int_equal(net->total_params, params);
    assert_int_equal(net->classes, 1000);
    expect_shape(fe_layer(net, "maxpool"), 56, 56, 64);
    expect_shape(fe_layer(net, "layer2_0.proj"), 28, 28, 128);
    expect_shape(fe_layer(net, "layer4_1.relu2"), 7, 7, 512);
    expect_rf(fe_layer(net, "layer4_1.relu2"), 435, 32);
    const Layer *sum = fe_layer(net, "layer1_0.sum");
    assert_int_equal(sum->in[1], layer_index(net, "maxpool"));
    assert_int_equal(fe_layer(net, "layer2_0.proj")->in[0], layer_index(net, "layer1_1.relu2"));
    assert_int_equal(fe_layer(net, "layer2_0.sum")->in[1], layer_index(net, "layer2_0.projbn"));
    assert_string_equal(fe_layer(net, "layer2_0.proj")->load, "layer2.0.downsample.0");
    assert_string_equal(fe_layer(net, "layer2_0.projbn")->load, "layer2.0.downsample.1");
    assert_string_equal(fe_layer(net, "layer3_1.bn2")->load, "layer3.1.bn2");

    char *table = fe_report(net, REPORT_TABLE);
    expect_row(table, "conv1", "112x112", "64", "7/2", "9,408");
    expect_row(table, "layer4_1.conv2", "7x7", "512", "435/32", "2,359,296");
    expect_row(table, "fc", "1x1", "1000", "627/32", "513,000");
    expect_total(table, "69 layers", "11,689,512");
    assert_string_equal(table_row(table, "total").cell[3], "3.64 G");
    free(table);
    JsonDoc doc;
    parse_json_report(net, &doc);
    assert_int_equal(json_int(json_get(doc.root, "total"), "params"), 11689512);
    assert_int_equal(json_int(json_get(doc.root, "total"), "buffers"), 9600);
    json_free(&doc);
    fe_done(&r);
}

/* ---- SqueezeNet-FT -------------------------------------------------------------------- */

/* A fire module on `in` channels: squeeze 1x1, expand 1x1 and 3x3, all with bias. */
static int64_t fire_params(int64_t in, int64_t s, int64_t e1, int64_t e3) {
    return (s * in + s) + (e1 * s + e1) + (e3 * s * 9 + e3);
}

static void test_squeezenet(void **state) {
    (void)state;
    FeResult r = compile_file("nets/squeezenet_ft.net");
    const Net *net = &r.net;
    /* ceil-mode pooling: 111 -> 55 -> 27 -> 13 */
    expect_shape(fe_layer(net, "conv1"), 111, 111, 96);
    expect_shape(fe_layer(net, "pool1"), 55, 55, 96);
    expect_shape(fe_layer(net, "pool4"), 27, 27, 256);
    expect_shape(fe_layer(net, "pool8"), 13, 13, 512);
    assert_true(POOL(fe_layer(net, "pool1"))->ceil);
    expect_shape(fe_layer(net, "fire2.concat"), 55, 55, 128);
    expect_shape(fe_layer(net, "fire9.concat"), 13, 13, 512);
    expect_shape(fe_layer(net, "pool10"), 1, 1, 512); /* global average pooling */
    expect_shape(fe_layer(net, "fc10"), 1, 1, 15);
    assert_true(POOL(fe_layer(net, "pool10"))->global);
    assert_int_equal(POOL(fe_layer(net, "pool10"))->kw, 13);

    int64_t expect = 96 * 3 * 49 + 96 /* conv1 */ + fire_params(96, 16, 64, 64) + fire_params(128, 16, 64, 64) +
                     fire_params(128, 32, 128, 128) + fire_params(256, 32, 128, 128) + fire_params(256, 48, 192, 192) +
                     fire_params(384, 48, 192, 192) + fire_params(384, 64, 256, 256) + fire_params(512, 64, 256, 256) +
                     (15 * 512 + 15) /* fc10 */;
    assert_int_equal(expect, 743119);
    assert_int_equal(net->total_params, 743119);
    assert_int_equal(fe_layer(net, "fire2.squeeze")->params, 16 * 96 + 16);

    /* blocks: names, "from", and load prefixes per instance */
    const Layer *e3 = fe_layer(net, "fire2.expand3x3");
    assert_int_equal(e3->in[0], layer_index(net, "fire2.squeeze_relu"));
    assert_int_equal(fe_layer(net, "fire2.concat")->n_in, 2);
    assert_int_equal(fe_layer(net, "fire2.concat")->in[1], layer_index(net, "fire2.expand3x3_relu"));
    assert_string_equal(fe_layer(net, "fire2.squeeze")->load, "features.3.squeeze");
    assert_string_equal(fe_layer(net, "fire9.expand3x3")->load, "features.12.expand3x3");
    assert_null(fe_layer(net, "fire2.squeeze_relu")->load); /* nothing to load */
    assert_null(fe_layer(net, "fc10")->load);
    assert_true(fe_layer(net, "fc10")->frozen);       /* fitted by init_head probe, then held */
    assert_true(fe_layer(net, "fire7.expand3x3")->frozen); /* freeze through fire7 */
    assert_false(fe_layer(net, "fire8.squeeze")->frozen);
    /* a block instance's name means its last layer */
    assert_int_equal(fe_layer(net, "fire3.squeeze")->in[0], layer_index(net, "fire2.concat"));

    char *table = fe_report(net, REPORT_TABLE);
    expect_row(table, "pool1", "55x55", "96", "11/4", "0");
    expect_row(table, "pool8", "13x13", "512", "123/16", "0");
    expect_total(table, "65 layers", "743,119");
    Row sq = table_row(table, "fire2.squeeze");
    assert_string_equal(sq.cell[8], "frozen, loads features.3.squeeze");
    Row x3 = table_row(table, "fire2.expand3x3");
    assert_string_equal(x3.cell[1], "conv 3x3 -> 64 pad 1 <- fire2.squeeze_relu");
    free(table);

    char *csv = fe_report(net, REPORT_CSV);
    expect_csv(csv, "pool8", "13", "13", "512", "123", "16", "0");
    assert_non_null(strstr(csv, "\nfire2.concat,concat,\"concat expand1x1_relu expand3x3_relu\",fire2.expand1x1_relu fire2.expand3x3_relu,"));
    free(csv);

    JsonDoc doc;
    parse_json_report(net, &doc);
    expect_json_layer(doc.root, "pool8", 13, 13, 512, 123, 16, 0);
    const Json *p1 = json_layer(doc.root, "pool1");
    assert_int_equal(json_get(p1, "ceil")->boolean, 1);
    assert_int_equal(json_int(json_get(doc.root, "total"), "params"), 743119);
    json_free(&doc);
    fe_done(&r);
}

/* ---- DeeperNet ---------------------------------------------------------------------- */

static void test_deepernet(void **state) {
    (void)state;
    FeResult r = compile_file("nets/deepernet.net");
    const Net *net = &r.net;
    /* Weights, by hand (3x3 convs without bias, batch norm has scale and shift):
     *   c1 9*1*32 = 288        c2 9*32*32 = 9,216      c3 9*32*64 = 18,432
     *   c4 9*64*64 = 36,864    c5 9*64*128 = 73,728    c6 9*128*128 = 147,456
     *   c7 9*128*256 = 294,912 c8 9*256*256 = 589,824  -> convs 1,170,720
     *   bn 2*(32+32+64+64+128+128+256+256) = 1,920
     *   fc 256*15 + 15 = 3,855
     *   total 1,170,720 + 1,920 + 3,855 = 1,176,495 (+ 1,920 running statistics) */
    assert_int_equal(fe_layer(net, "c1.conv")->params, 288);
    assert_int_equal(fe_layer(net, "c8.conv")->params, 589824);
    assert_int_equal(fe_layer(net, "c8.bn")->params, 512);
    assert_int_equal(fe_layer(net, "fc")->params, 3855);
    assert_int_equal(net->total_params, 1176495);
    assert_int_equal(net->total_buffers, 1920);
    assert_false(CONV(fe_layer(net, "c1.conv"))->bias);
    expect_shape(fe_layer(net, "c2.relu"), 64, 64, 32);
    expect_shape(fe_layer(net, "p3"), 8, 8, 128);
    expect_shape(fe_layer(net, "gap"), 1, 1, 256);
    expect_shape(fe_layer(net, "fc"), 1, 1, 15);
    /* 3/1 5/1 | 6/2 10/2 14/2 | 16/4 24/4 32/4 | 36/8 52/8 68/8 | global: 68 + 7*8 */
    expect_rf(fe_layer(net, "c2.conv"), 5, 1);
    expect_rf(fe_layer(net, "p1"), 6, 2);
    expect_rf(fe_layer(net, "c8.relu"), 68, 8);
    expect_rf(fe_layer(net, "gap"), 124, 8);
    char *json = fe_report(net, REPORT_JSON); /* dropout keeps its spec to itself */
    assert_non_null(strstr(json, "\"name\": \"drop\", \"kind\": \"dropout\", \"desc\": \"dropout 0.3\""));
    assert_non_null(strstr(json, ", \"p\": 0.300000012}"));
    free(json);
    assert_string_equal(net_setting(net, "schedule"), "onecycle");
    assert_string_equal(net_setting(net, "resize"), "72x72");

    char *table = fe_report(net, REPORT_TABLE);
    expect_row(table, "c1.conv", "64x64", "32", "3/1", "288");
    expect_row(table, "gap", "1x1", "256", "124/8", "0");
    expect_total(table, "31 layers", "1,176,495");
    assert_non_null(strstr(table, "\n  parameters 1,176,495 (4.49 MB as float32), plus 1,920 batch norm statistics\n"));
    free(table);
    JsonDoc doc;
    parse_json_report(net, &doc);
    assert_int_equal(json_int(json_get(doc.root, "total"), "buffers"), 1920);
    expect_json_layer(doc.root, "c5.bn", 16, 16, 128, 24, 4, 256);
    json_free(&doc);
    fe_done(&r);
}

/* ---- the recipes make run trains (docs/recipes.md) ------------------------------------- */

/* DeeperNet-128: DeeperNet whose first conv has stride 2 on a 128x128 input,
 * so from c1 on every size, weight and FLOP is DeeperNet's; only the
 * receptive fields double. SqueezeNet-MS: SqueezeNet-FT whose classifier
 * reads fire7's and fire8's pooled features beside fire9's. */
static void test_recipes(void **state) {
    (void)state;
    FeResult r = compile_file("nets/deepernet128.net");
    const Net *net = &r.net;
    expect_shape(fe_layer(net, "input"), 128, 128, 1);
    expect_shape(fe_layer(net, "c1.conv"), 64, 64, 32);
    assert_int_equal(CONV(fe_layer(net, "c1.conv"))->sh, 2);
    expect_shape(fe_layer(net, "p3"), 8, 8, 128);
    assert_int_equal(net->total_params, 1176495); /* DeeperNet's, layer for layer */
    /* 3/2 7/2 | 9/4 17/4 25/4 | 29/8 45/8 61/8 | 69/16 101/16 133/16 | global: 133 + 7*16 */
    expect_rf(fe_layer(net, "c2.conv"), 7, 2);
    expect_rf(fe_layer(net, "p1"), 9, 4);
    expect_rf(fe_layer(net, "c8.relu"), 133, 16);
    expect_rf(fe_layer(net, "gap"), 245, 16);
    assert_string_equal(net_setting(net, "resize"), "144x144");
    char *table = fe_report(net, REPORT_TABLE);
    expect_row(table, "c1.conv", "64x64", "32", "3/2", "288");
    expect_total(table, "31 layers", "1,176,495");
    free(table);
    fe_done(&r);

    r = compile_file("nets/squeezenet_ms.net");
    net = &r.net;
    const Layer *p7 = fe_layer(net, "pool7g"), *p8 = fe_layer(net, "pool8g");
    assert_int_equal(p7->in[0], layer_index(net, "fire7.concat"));
    assert_int_equal(p8->in[0], layer_index(net, "fire8.concat")); /* before pool8: 27x27 */
    assert_int_equal(POOL(p7)->kw, 27);
    assert_int_equal(POOL(p8)->kw, 27);
    expect_rf(p7, 299, 8);
    expect_shape(fe_layer(net, "feat"), 1, 1, 384 + 512 + 512);
    assert_int_equal(fe_layer(net, "feat")->in[0], layer_index(net, "pool7g"));
    assert_int_equal(fe_layer(net, "feat")->in[1], layer_index(net, "pool8g"));
    assert_int_equal(fe_layer(net, "feat")->in[2], layer_index(net, "pool10"));
    assert_int_equal(fe_layer(net, "fc10")->params, 15 * 1408 + 15);
    assert_int_equal(net->total_params, 743119 + 15 * (384 + 512)); /* SqueezeNet-FT's and fc10's new inputs */
    assert_false(fe_layer(net, "fc10")->frozen); /* fine-tuned with fire8 and fire9 (docs/recipes.md) */
    assert_true(fe_layer(net, "fire7.expand3x3")->frozen);
    assert_false(fe_layer(net, "fire8.squeeze")->frozen);
    assert_string_equal(net_setting(net, "init_head"), "probe");
    assert_string_equal(net_setting(net, "probe_fit"), "lda");
    fe_done(&r);
}

/* ---- language features ----------------------------------------------------------------- */

/* PyTorch's pooling sizes: floor, ceil, and ceil when the last window would
 * start in the right padding (it is dropped). */
static void test_pool_sizes(void **state) {
    (void)state;
    FeResult r = compile_ok("input 8x8x1\n"
                            "a: maxpool 3x3 stride 2\n"             /* floor((8-3)/2)+1 = 3 */
                            "b: maxpool 3x3 stride 2 ceil from input\n" /* ceil(5/2)+1 = 4 */
                            "c: avgpool 2x2 stride 2 pad 1 ceil from input\n" /* ceil(8/2)+1 = 5, kept: 8 < 8+1 */
                            "d: maxpool 2 from input\n"             /* a plain number is a square window */
                            "e: avgpool global from input\n"
                            "f: conv 1x1 -> 15 from e\n"
                            "loss: softmax\n");
    expect_shape(fe_layer(&r.net, "a"), 3, 3, 1);
    expect_shape(fe_layer(&r.net, "b"), 4, 4, 1);
    expect_shape(fe_layer(&r.net, "c"), 5, 5, 1);
    expect_shape(fe_layer(&r.net, "d"), 4, 4, 1);
    expect_shape(fe_layer(&r.net, "e"), 1, 1, 1);
    expect_rf(fe_layer(&r.net, "a"), 3, 2);
    expect_rf(fe_layer(&r.net, "e"), 8, 1);
    fe_done(&r);

    /* 5 wide, window 2, stride 2, pad 1, ceil: 4 windows by the formula, but the
     * 4th would start at 6 >= 5 + 1, inside the padding: PyTorch gives 3 */
    r = compile_ok("input 5x5x1\np: maxpool 2x2 stride 2 pad 1 ceil\nfc: linear -> 15\nloss: softmax\n");
    expect_shape(fe_layer(&r.net, "p"), 3, 3, 1);
    fe_done(&r);
}

static void test_conv_options(void **state) {
    (void)state;
    FeResult r = compile_ok("input 10x8x3\n"
                            "a: conv 3x1 -> 4 stride 2x1 pad 1x0\n" /* w (10+2-3)/2+1 = 5, h (8-1)/1+1 = 8 */
                            "b: conv 3x3 -> 8 groups 2 pad 1\n"      /* 8 * (4/2) * 9 + 8 = 152 */
                            "c: conv 1x1 -> 8 groups 8 bias off\n"   /* depthwise: 8 * 1 = 8 */
                            "d: conv 5 -> 2 stride 3 init xavier bias_init constant 0.1\n" /* 5x5 */
                            "gap: avgpool global\n"
                            "fc: fc -> 15 init uniform 0.5\n"
                            "loss: softmax\n");
    const Layer *a = fe_layer(&r.net, "a");
    assert_int_equal(CONV(a)->kw, 3);
    assert_int_equal(CONV(a)->kh, 1);
    assert_int_equal(CONV(a)->sw, 2);
    assert_int_equal(CONV(a)->sh, 1);
    assert_int_equal(CONV(a)->pw, 1);
    assert_int_equal(CONV(a)->ph, 0);
    expect_shape(a, 5, 8, 4);
    assert_int_equal(a->params, 4 * 3 * 3 * 1 + 4);
    expect_rf(a, 3, 2); /* the receptive field follows the larger side */
    const Layer *b = fe_layer(&r.net, "b");
    assert_int_equal(CONV(b)->groups, 2);
    expect_shape(b, 5, 8, 8);
    assert_int_equal(b->params, 152);
    assert_int_equal(fe_layer(&r.net, "c")->params, 8);
    const Layer *d = fe_layer(&r.net, "d");
    assert_int_equal(CONV(d)->kw, 5);
    assert_int_equal(CONV(d)->kh, 5);
    expect_shape(d, 1, 2, 2); /* w (5-5)/3+1 = 1, h (8-5)/3+1 = 2 */
    assert_int_equal(d->init.kind, INIT_XAVIER);
    assert_int_equal(d->bias_init.kind, INIT_CONSTANT);
    assert_true(d->bias_init.arg == 0.1f);
    const Layer *fc = fe_layer(&r.net, "fc");
    assert_ptr_equal(fc->kind, &kind_linear);
    assert_int_equal(fc->init.kind, INIT_UNIFORM);
    assert_int_equal(fc->params, 2 * 15 + 15);
    fe_done(&r);
}

static void test_freeze_and_rates(void **state) {
    (void)state;
    static const char *const body = "block pair(n) {\n"
                                    "  conv: conv 3x3 -> n pad 1 lr_mult 3\n"
                                    "  bn:   bn\n"
                                    "  relu: relu\n"
                                    "}\n"
                                    "input 16x16x1\n"
                                    "p1: pair(4) lr_mult 2\n"
                                    "p2: pair(8) frozen\n"
                                    "c3: conv 3x3 -> 8 pad 1 frozen\n"
                                    "c4: conv 3x3 -> 8 pad 1\n"
                                    "gap: avgpool global\n"
                                    "fc: linear -> 15 lr_mult 0.5\n"
                                    "loss: softmax\n";
    FeResult r = compile_ok(body);
    const Net *net = &r.net;
    /* lr_mult multiplies down from the block use */
    assert_true(fe_layer(net, "p1.conv")->lr_mult == 6.0f);
    assert_true(fe_layer(net, "p1.bn")->lr_mult == 2.0f);
    assert_true(fe_layer(net, "p2.conv")->lr_mult == 3.0f);
    assert_true(fe_layer(net, "fc")->lr_mult == 0.5f);
    /* frozen on a block use freezes every layer in it */
    assert_false(fe_layer(net, "p1.conv")->frozen);
    assert_true(fe_layer(net, "p2.conv")->frozen);
    assert_true(fe_layer(net, "p2.bn")->frozen);
    assert_true(fe_layer(net, "c3")->frozen);
    assert_false(fe_layer(net, "c4")->frozen);
    /* backward must still reach c4 and fc, not the frozen layers with nothing trainable below */
    assert_true(fe_layer(net, "c4")->needs_grad);
    assert_true(fe_layer(net, "p1.conv")->needs_grad);
    fe_done(&r);

    /* freeze through X: every layer up to X; freeze a b: those (a block name: all of it) */
    char *text = malloc(strlen(body) + 64);
    sprintf(text, "%sfreeze through p2\n", body);
    r = compile_ok(text);
    for (int i = 1; i < r.net.n; i++) {
        const Layer *l = &r.net.layers[i];
        bool want = i <= layer_index(&r.net, "p2.relu") || strcmp(l->name, "c3") == 0;
        if (l->frozen != want) fail_msg("freeze through p2: %s frozen=%d", l->name, l->frozen);
    }
    fe_done(&r);
    sprintf(text, "%sfreeze p1 c4\n", body);
    r = compile_ok(text);
    assert_true(fe_layer(&r.net, "p1.conv")->frozen);
    assert_true(fe_layer(&r.net, "p1.bn")->frozen);
    assert_true(fe_layer(&r.net, "c4")->frozen);
    assert_false(fe_layer(&r.net, "fc")->frozen);
    char *table = fe_report(&r.net, REPORT_TABLE);
    Row c4 = table_row(table, "c4");
    assert_string_equal(c4.cell[8], "frozen");
    Row p1 = table_row(table, "p1.conv");
    assert_string_equal(p1.cell[8], "frozen, lr x6");
    free(table);
    fe_done(&r);
    free(text);
}

/* Block instances: nested blocks, parameters passed down, load prefixes joined,
 * "from" to a layer and to a block instance (its last layer), add. */
static void test_blocks(void **state) {
    (void)state;
    FeResult r = compile_ok("block unit(n) {\n"
                            "  conv: conv 3x3 -> n pad 1\n"
                            "  relu: relu\n"
                            "}\n"
                            "block res(n) {\n"
                            "  a: unit(n)\n"
                            "  b: unit(n) load second\n"
                            "  sum: add a.conv b\n"
                            "}\n"
                            "pretrained \"/nonexistent/w.safetensors\"\n"
                            "input 8x8x3\n"
                            "r1: res(4) load layer1\n"
                            "r2: res(4) from r1\n"
                            "side: conv 1x1 -> 4 from input\n"
                            "j: concat r2 side\n"
                            "gap: avgpool global\n"
                            "fc: linear -> 15\n"
                            "loss: softmax\n");
    const Net *net = &r.net;
    assert_string_equal(r.diag, "");
    assert_string_equal(fe_layer(net, "r1.a.conv")->load, "layer1.a.conv");
    assert_string_equal(fe_layer(net, "r1.b.conv")->load, "layer1.second.conv");
    assert_null(fe_layer(net, "r2.a.conv")->load);
    assert_string_equal(fe_layer(net, "r2.b.conv")->load, "second.conv");
    assert_string_equal(fe_layer(net, "r1.a.conv")->block, "r1.a");
    const Layer *sum = fe_layer(net, "r1.sum");
    assert_int_equal(sum->n_in, 2);
    assert_int_equal(sum->in[0], layer_index(net, "r1.a.conv"));
    assert_int_equal(sum->in[1], layer_index(net, "r1.b.relu"));
    expect_shape(sum, 8, 8, 4);
    assert_int_equal(fe_layer(net, "r2.a.conv")->in[0], layer_index(net, "r1.sum"));
    assert_int_equal(fe_layer(net, "side")->in[0], 0);
    expect_shape(fe_layer(net, "j"), 8, 8, 8);
    /* the receptive field of a join is its widest input's: four 3x3 convs on r2's path */
    expect_rf(fe_layer(net, "j"), 1 + 4 * 2, 1);
    fe_done(&r);
}

/* `in` inside a block: the layer its instance reads (the layer above, or
 * its `from`), so a residual unit with its projection is one block; in a
 * block used inside a block, the inner instance's input. */
static void test_block_input(void **state) {
    (void)state;
    FeResult r = compile_ok("block down(c, s) {\n"
                            "  conv1: conv 3x3 -> c stride s pad 1 bias off\n"
                            "  bn1:   bn\n"
                            "  relu1: relu\n"
                            "  conv2: conv 3x3 -> c pad 1 bias off\n"
                            "  bn2:   bn\n"
                            "  ds:    conv 1x1 -> c stride s bias off from in\n"
                            "  dsbn:  bn\n"
                            "  sum:   add bn2 dsbn\n"
                            "  relu2: relu\n"
                            "}\n"
                            "block wrap(c) {\n"
                            "  pre: conv 1x1 -> c\n"
                            "  inner: down(c, 1)\n"
                            "  back: add inner in\n"
                            "}\n"
                            "input 8x8x3\n"
                            "stem: conv 3x3 -> 4 pad 1\n"
                            "b1: down(8, 2)\n"
                            "b2: down(8, 2) from stem\n"
                            "w: wrap(8) from b1\n"
                            "j: add w b2\n"
                            "gap: avgpool global\n"
                            "fc: linear -> 15\n"
                            "loss: softmax\n");
    const Net *net = &r.net;
    assert_string_equal(r.diag, "");
    int stem = layer_index(net, "stem");
    assert_int_equal(fe_layer(net, "b1.conv1")->in[0], stem);       /* the layer above the instance */
    assert_int_equal(fe_layer(net, "b1.ds")->in[0], stem);          /* from in */
    expect_shape(fe_layer(net, "b1.ds"), 4, 4, 8);
    expect_shape(fe_layer(net, "b1.sum"), 4, 4, 8);
    assert_int_equal(fe_layer(net, "b2.conv1")->in[0], stem);       /* the instance's from */
    assert_int_equal(fe_layer(net, "b2.ds")->in[0], stem);
    assert_int_equal(fe_layer(net, "w.pre")->in[0], layer_index(net, "b1.relu2"));
    assert_int_equal(fe_layer(net, "w.inner.ds")->in[0], layer_index(net, "w.pre")); /* the inner instance's input */
    const Layer *back = fe_layer(net, "w.back");
    assert_int_equal(back->in[0], layer_index(net, "w.inner.relu2"));
    assert_int_equal(back->in[1], layer_index(net, "b1.relu2"));    /* the outer instance's input */
    fe_done(&r);
}

/* lrn, leaky relu and global max pooling: their figures. FLOPs per value:
 * lrn 2 * size + 4 (the window's squares and sum, scale, power, product),
 * leaky relu 2 (a compare and a multiply), global max pool one compare per
 * input value. None has parameters; lrn and relu keep the receptive field,
 * a global pool sees its whole input. */
static void test_new_kinds(void **state) {
    (void)state;
    FeResult r = compile_ok("input 8x8x3\n"
                            "c: conv 3x3 -> 4 pad 1\n"
                            "n: lrn 5 alpha 0.001 beta 0.75 k 2\n"
                            "r: relu slope 0.1\n"
                            "g: maxpool global\n"
                            "fc: linear -> 15\n"
                            "loss: softmax\n");
    const Net *net = &r.net;
    const Layer *n = fe_layer(net, "n"), *rl = fe_layer(net, "r"), *g = fe_layer(net, "g");
    expect_shape(n, 8, 8, 4);
    expect_rf(n, 3, 1);
    assert_int_equal(n->params, 0);
    assert_true(n->flops == 8 * 8 * 4 * (2 * 5 + 4));
    assert_true(rl->flops == 8 * 8 * 4 * 2);
    assert_true(RELU(rl)->slope == 0.1f);
    expect_shape(g, 1, 1, 4);
    expect_rf(g, 3 + 7, 1);
    assert_true(g->flops == 8 * 8 * 4);
    assert_true(POOL(g)->global);
    assert_int_equal(net->total_params, 3 * 9 * 4 + 4 + 4 * 15 + 15);
    char *table = fe_report(net, REPORT_TABLE);
    static const char *const rows[][6] = {{"n", "8x8", "4", "3/1", "0", "3.58 K"}, /* 3,584 */
                                          {"r", "8x8", "4", "3/1", "0", "512"},
                                          {"g", "1x1", "4", "10/1", "0", "256"}};
    for (int i = 0; i < 3; i++) {
        expect_row(table, rows[i][0], rows[i][1], rows[i][2], rows[i][3], rows[i][4]);
        assert_string_equal(table_row(table, rows[i][0]).cell[6], rows[i][5]);
    }
    free(table);
    char *json = fe_report(net, REPORT_JSON);
    assert_non_null(strstr(json, "\"kind\": \"lrn\", \"desc\": \"lrn 5 alpha 0.001 beta 0.75 k 2\""));
    assert_non_null(strstr(json, ", \"window\": 5, \"alpha\": 0.00100000005, \"beta\": 0.75, \"k\": 2}"));
    assert_non_null(strstr(json, ", \"slope\": 0.100000001}"));
    assert_non_null(strstr(json, "\"kind\": \"maxpool\", \"desc\": \"maxpool global\""));
    free(json);
    fe_done(&r);
}

/* resize: shapes, FLOPs, and receptive fields in fractions of an input pixel,
 * as the table (two decimals), CSV and JSON (ten digits) print them. */
static void test_resize(void **state) {
    (void)state;
    FeResult r = compile_ok("input 16x16x3\n"
                            "c: conv 3x3 -> 4 stride 2\n" /* 7x7, rf 3/2 */
                            "up: resize 14x14\n"         /* rf 3 + 2, stride 2 * 7/14 */
                            "down: resize 5x5 from c\n"  /* stride 2 * 7/5 */
                            "keep: resize 7x7 from c\n"  /* a copy: the field as it was */
                            "odd: resize 9x4 from c\n"   /* stride 2 * 7/9 (by the width) */
                            "c2: conv 3x3 -> 4\n"         /* rf 5 + 2 * 14/9 */
                            "fa: linear -> 15 from up\n"
                            "fb: linear -> 15 from down\n"
                            "fc: linear -> 15 from keep\n"
                            "fd: linear -> 15 from c2\n"
                            "sum: add fa fb fc fd\n"
                            "loss: softmax\n");
    const Net *net = &r.net;
    const Layer *up = fe_layer(net, "up"), *down = fe_layer(net, "down"), *keep = fe_layer(net, "keep"),
                *odd = fe_layer(net, "odd"), *c2 = fe_layer(net, "c2");
    expect_shape(up, 14, 14, 4);
    expect_shape(down, 5, 5, 4);
    expect_shape(odd, 9, 4, 4);
    expect_shape(c2, 7, 2, 4);
    expect_rf(up, 5, 1);
    expect_rf(down, 5, 2.8);
    expect_rf(keep, 3, 2);
    expect_rf(odd, 5, 2.0 * 7 / 9);
    expect_rf(c2, 5 + 2 * (2.0 * 7 / 9), 2.0 * 7 / 9);
    assert_true(up->flops == 14 * 14 * 4 * 9);
    assert_int_equal(up->params, 0);
    char *table = fe_report(net, REPORT_TABLE);
    expect_row(table, "up", "14x14", "4", "5/1", "0");
    expect_row(table, "down", "5x5", "4", "5/2.8", "0");
    expect_row(table, "keep", "7x7", "4", "3/2", "0");
    expect_row(table, "odd", "9x4", "4", "5/1.56", "0");
    expect_row(table, "c2", "7x2", "4", "8.11/1.56", "148");
    assert_string_equal(table_row(table, "up").cell[6], "7.06 K"); /* 7,056 */
    free(table);
    char *csv = fe_report(net, REPORT_CSV);
    expect_csv(csv, "down", "5", "5", "4", "5", "2.8", "0");
    expect_csv(csv, "c2", "7", "2", "4", "8.111111111", "1.555555556", "148");
    free(csv);
    char *json = fe_report(net, REPORT_JSON);
    assert_non_null(strstr(json, "\"kind\": \"resize\", \"desc\": \"resize 9x4\", \"inputs\": [\"c\"], \"size\": [9, 4, 4], "
                                 "\"rf\": [5, 1.555555556], \"params\": 0, \"flops\": 1296"));
    assert_non_null(strstr(json, ", \"mode\": \"bilinear\", \"align_corners\": false}"));
    free(json);
    fe_done(&r);
}

/* flatten, dropout default, batch norm eps, settings kept for the runtime. */
static void test_misc_layers(void **state) {
    (void)state;
    FeResult r = compile_ok("net tiny_1\n"
                            "input 4x4x3\n"
                            "bn: batchnorm eps 0.001\n"
                            "flat: flatten\n"
                            "drop: dropout\n"
                            "fc: linear -> 15 bias off\n"
                            "loss: softmax\n"
                            "train { epochs 3; lr 1e-3 }\n"
                            "preprocess {\n  mean 0.5 0.5 0.5 \\\n       # continued\n}\n"
                            "augment { flip on }\n");
    const Net *net = &r.net;
    assert_string_equal(net->name, "tiny_1");
    expect_shape(fe_layer(net, "flat"), 1, 1, 48);
    char *json = fe_report(net, REPORT_JSON);
    assert_non_null(strstr(json, ", \"p\": 0.5}"));
    free(json);
    assert_true(BATCHNORM(fe_layer(net, "bn"))->eps == 0.001f);
    assert_int_equal(fe_layer(net, "bn")->params, 6);
    assert_int_equal(fe_layer(net, "fc")->params, 48 * 15);
    assert_string_equal(net_setting(net, "epochs"), "3");
    assert_string_equal(net_setting(net, "lr"), "1e-3");
    assert_string_equal(net_setting(net, "mean"), "0.5 0.5 0.5");
    assert_string_equal(net_setting(net, "flip"), "on");
    assert_null(net_setting(net, "momentum"));
    fe_done(&r);

    /* a UTF-8 byte order mark, CRLF line ends and tabs are all fine */
    r = compile_ok("\xef\xbb\xbfinput 4x4x1\r\n\tfc:\tlinear -> 15 \\\r\n  bias off\r\nloss: softmax\r\n");
    assert_int_equal(fe_layer(&r.net, "fc")->params, 16 * 15);
    fe_done(&r);

    /* no "net" line: the name comes from the file name */
    r = fe_compile("some-dir/9lives.net", "input 4x4x1\nfc: linear -> 15\nloss: softmax\n");
    assert_int_equal(r.failed, 0);
    assert_string_equal(r.net.name, "net_9lives");
    fe_done(&r);
}

/* Warnings do not stop compilation, but are printed. */
static void test_warnings(void **state) {
    (void)state;
    FeResult r = compile_ok("input 8x8x1\n"
                            "a: conv 3x3 -> 4\n"
                            "b: conv 3x3 -> 4 from input\n"
                            "gap: avgpool global\n"
                            "fc: linear -> 15\n"
                            "loss: softmax\n");
    assert_string_equal(r.diag, "t.net:2:1: warning: a: its output is never used\n"
                                "    2 | a: conv 3x3 -> 4\n"
                                "      | ^\n"
                                "  HINT: read it with \"from\", or remove it\n");
    fe_done(&r);

    /* a setting given twice: the later wins, with a warning */
    r = compile_ok("input 8x8x1\nfc: linear -> 15\nloss: softmax\ntrain {\n  lr 0.1\n  epochs 2\n  lr 0.2\n}\n");
    assert_string_equal(net_setting(&r.net, "lr"), "0.2");
    assert_string_equal(r.diag, "t.net:7:3: warning: 'lr' is set twice; 0.2 replaces 0.1\n"
                                "    7 |   lr 0.2\n"
                                "      |   ^~\n"
                                "  HINT: the first is on line 5; keep one\n");
    fe_done(&r);
}

/* -d ast and -d net: every statement and every layer is printed. */
static void test_dumps(void **state) {
    (void)state;
    FeResult r = compile_file("nets/squeezenet_ft.net");
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    dump_net(&r.net, f);
    fclose(f);
    assert_non_null(strstr(buf, "# net squeezenet_ft: 66 layers, input 227x227x3\n"));
    for (int i = 0; i < r.net.n; i++) {
        char want[128];
        snprintf(want, sizeof want, "\n%3d %-20s %-9s <-", i, r.net.layers[i].name, r.net.layers[i].kind->name);
        if (!strstr(buf, want)) fail_msg("dump_net lacks layer %d (%s):\n%s", i, r.net.layers[i].name, buf);
    }
    assert_non_null(strstr(buf, " fire2.expand3x3      conv      <- fire2.squeeze_relu  out 55x55x64 frozen load=features.3.expand3x3\n"));
    free(buf);

    buf = NULL;
    f = open_memstream(&buf, &len);
    ast_dump(&r.ast, f);
    fclose(f);
    assert_non_null(strstr(buf, "# ast of nets/squeezenet_ft.net\n"));
    assert_non_null(strstr(buf, "\n25:7 block fire ( name:s name:e1 name:e3 )\n"));
    assert_non_null(strstr(buf, "\n  26:3 layer squeeze op=conv size:1x1 arrow:-> name:s\n"));
    assert_non_null(strstr(buf, "\n38:1 use fire2 op=fire ( num:16 comma:, num:64 comma:, num:64 ) name:load name:features.3\n"));
    assert_non_null(strstr(buf, "\n67:1 section preprocess\n  68:3 setting resize size:227x227\n"));
    free(buf);
    fe_done(&r);
}

/* Compiling the same text twice gives the same net: no state leaks between runs. */
static void test_repeatable(void **state) {
    (void)state;
    char *first = NULL;
    for (int k = 0; k < 3; k++) {
        FeResult r = compile_file("nets/deepernet.net");
        char *json = fe_report(&r.net, REPORT_JSON);
        if (!first) first = json;
        else {
            assert_string_equal(json, first);
            free(json);
        }
        fe_done(&r);
    }
    free(first);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simplenet),    cmocka_unit_test(test_alexnet),      cmocka_unit_test(test_resnet18),      cmocka_unit_test(test_squeezenet),
        cmocka_unit_test(test_deepernet),    cmocka_unit_test(test_recipes),      cmocka_unit_test(test_pool_sizes),   cmocka_unit_test(test_conv_options),
        cmocka_unit_test(test_freeze_and_rates), cmocka_unit_test(test_blocks), cmocka_unit_test(test_block_input), cmocka_unit_test(test_new_kinds), cmocka_unit_test(test_resize),   cmocka_unit_test(test_misc_layers),
        cmocka_unit_test(test_warnings),     cmocka_unit_test(test_dumps),        cmocka_unit_test(test_repeatable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
