/* test_errors.c: every kind of mistake in a .net file gets one clear message,
 * asserted whole: file:line:col, the quoted source line, the caret under the
 * token, and the HINT. Each case is compiled in-process (the passes of
 * compile() in compiler/main.c) and again through bin/netc, which must exit 1
 * with the same message on stderr and nothing on stdout. Run from the
 * repository root; bin/netc is used unless NETC_BIN names another build. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "frontend.h"
#include "safetensors.h"

typedef struct {
    const char *what; /* names the case in failure reports */
    const char *text; /* the .net file; "@D" stands for the test's temporary folder */
    const char *msg;  /* everything printed on stderr, exactly */
} Case;

/* The start and end of a net that is fine, around the line under test. */
#define H "input 32x32x1\n"
#define T "gap: avgpool global\nfc: linear -> 15\nloss: softmax\n"

static char tmpdir[64];

/* s with every "@D" replaced by tmpdir (malloc'd). */
static char *subst(const char *s) {
    size_t n = strlen(s) + 1;
    for (const char *p = s; (p = strstr(p, "@D")); p += 2) n += strlen(tmpdir);
    char *out = malloc(n), *o = out;
    for (const char *p = s; *p;) {
        if (p[0] == '@' && p[1] == 'D') o = stpcpy(o, tmpdir), p += 2;
        else *o++ = *p++;
    }
    *o = 0;
    return out;
}

/* Appends to a malloc'd report of failures. */
static void note(char **log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(char **log, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *add;
    if (vasprintf(&add, fmt, ap) < 0) abort();
    va_end(ap);
    char *joined;
    if (asprintf(&joined, "%s%s", *log ? *log : "", add) < 0) abort();
    free(*log);
    free(add);
    *log = joined;
}

static int count(const char *s, const char *what) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, what)); p += strlen(what)) n++;
    return n;
}

/* Compiles one case in-process: it must fail with exactly c->msg. */
static void check_case(const Case *c, size_t len, char **log) {
    char *text = len ? memcpy(malloc(len), c->text, len) : subst(c->text), *want = subst(c->msg);
    FeResult r = fe_compile_n("t.net", text, len ? len : strlen(text));
    if (!r.failed) note(log, "[%s] was accepted\n", c->what);
    else if (strcmp(r.diag, want) != 0)
        note(log, "[%s] message differs\n--- expected\n%s--- got\n%s---\n", c->what, want, r.diag);
    else if (count(r.diag, "error: ") != 1)
        note(log, "[%s] printed %d errors\n", c->what, count(r.diag, "error: "));
    fe_done(&r);
    free(text);
    free(want);
}

static void check_cases(const Case *cases, size_t n) {
    char *log = NULL;
    for (size_t i = 0; i < n; i++) check_case(&cases[i], 0, &log);
    if (log) {
        fprintf(stderr, "%s", log);
        free(log);
        fail_msg("see the differences above");
    }
}

#define CHECK_CASES(table) check_cases(table, sizeof table / sizeof table[0])

/* ---- the cases: the .net text, then the whole message -------------------------------------- */

static const Case syntax_cases[] = {
    {"unexpected token",
     H "c1: conv 3x3 -> 4 )\n" T,
     "t.net:2:19: error: unexpected ')'; expected a name, a number, a size like 3x3, a string, '->', ',' or end of line\n"
     "    2 | c1: conv 3x3 -> 4 )\n"
     "      |                   ^\n"},
    {"line ends early",
     H "c1: conv(3 -> 4\n" T,
     "t.net:2:16: error: the line ends too early; expected a name, a number, a size like 3x3, a string, '->', ',' or ')'\n"
     "    2 | c1: conv(3 -> 4\n"
     "      |                ^\n"},
    {"block parameter list",
     "block b(n {\n" "}\n",
     "t.net:1:11: error: unexpected '{'; expected ',' or ')'\n"
     "    1 | block b(n {\n"
     "      |           ^\n"
     "  HINT: '{' follows a section's name (train {) or a block's parameters (block cbr(n) {)\n"},
    {"unclosed brace",
     H T "train {\n" "  lr 0.1\n",
     "t.net:6:9: error: the file ends too early; expected a name, end of line, 'block' or '}'\n"
     "    6 |   lr 0.1\n"
     "      |         ^\n"
     "  HINT: the '{' on line 5 is never closed with '}'\n"},
    {"stray brace",
     H "}\n" T,
     "t.net:2:1: error: unexpected '}'; expected a name, end of line or 'block'\n"
     "    2 | }\n"
     "      | ^\n"
     "  HINT: '}' closes a block or section; check the braces above\n"},
    {"brace without a name",
     "{\n" "input 32x32x1\n" T,
     "t.net:1:1: error: unexpected '{'; expected a name, end of line or 'block'\n"
     "    1 | {\n"
     "      | ^\n"
     "  HINT: '{' follows a section's name (train {) or a block's parameters (block cbr(n) {)\n"},
    {"unterminated string",
     H T "train {\n" "  data \"data/15scene\n" "}\n",
     "t.net:6:8: error: this string has no closing quote on its line\n"
     "    6 |   data \"data/15scene\n"
     "      |        ^~~~~~~~~~~~~\n"
     "  HINT: end it with '\"' on the same line\n"},
    {"bad character",
     H "c1: conv 3x3 -> 4 @\n" T,
     "t.net:2:19: error: unexpected character '@'\n"
     "    2 | c1: conv 3x3 -> 4 @\n"
     "      |                   ^\n"
     "  HINT: names are letters, digits, '_' and '.'; '#' starts a comment\n"},
    {"equals sign",
     H T "train {\n" "  lr = 0.1\n" "}\n",
     "t.net:6:6: error: unexpected character '='\n"
     "    6 |   lr = 0.1\n"
     "      |      ^\n"
     "  HINT: write settings as key and value, without '=': lr 0.01\n"},
    {"non-ASCII byte",
     H "c1: conv 3x3 -> 4 \xc3""\xa9""\n" T,
     "t.net:2:19: error: unexpected byte 0xc3\n"
     "    2 | c1: conv 3x3 -> 4 \xc3""\xa9""\n"
     "      |                   ^\n"
     "  HINT: only ASCII is allowed outside strings and comments\n"},
    {"missing colon",
     H "c1 conv 3x3 -> 4\n" T,
     "t.net:2:1: error: 'c1' looks like a layer but has no ':' after its name\n"
     "    2 | c1 conv 3x3 -> 4\n"
     "      | ^~\n"
     "  HINT: a layer is \"name: kind ...\": c1: conv ...\n"},
    {"layer without a name",
     H "conv 3x3 -> 4\n" T,
     "t.net:2:1: error: a conv layer needs a name\n"
     "    2 | conv 3x3 -> 4\n"
     "      | ^~~~\n"
     "  HINT: give it a name: conv1: conv ...\n"},
    {"block as a name",
     H "block: relu\n" T,
     "t.net:2:6: error: unexpected ':'; expected a name\n"
     "    2 | block: relu\n"
     "      |      ^\n"
     "  HINT: 'block' starts a block definition and cannot be used as a name\n"},
    {"two colons",
     H "c1: : conv 3x3 -> 4\n" T,
     "t.net:2:5: error: unexpected ':'; expected a name\n"
     "    2 | c1: : conv 3x3 -> 4\n"
     "      |     ^\n"
     "  HINT: a layer is written \"name: kind arguments\", one per line\n"},
    {"unknown statement",
     "inptu 32x32x1\n" T,
     "t.net:1:1: error: unknown statement 'inptu'\n"
     "    1 | inptu 32x32x1\n"
     "      | ^~~~~\n"
     "  HINT: did you mean 'input'?\n"},
    {"empty file",
     "",
     "t.net: error: no net in this file: it is empty or holds only comments\n"
     "  HINT: a net needs an input, layers and a loss: input 64x64x1, then fc: linear -> 15, then loss: softmax\n"},
    {"only comments",
     "# nothing here\n" "\n" "   # at all\n",
     "t.net: error: no net in this file: it is empty or holds only comments\n"
     "  HINT: a net needs an input, layers and a loss: input 64x64x1, then fc: linear -> 15, then loss: softmax\n"},
    {"number too long",
     H "fc: linear -> 99999999999999999999999999\n" "loss: softmax\n",
     "t.net:2:15: error: fc: the number of outputs must be a whole number from 1 to 1048576, got 99999999999999999999999999\n"
     "    2 | fc: linear -> 99999999999999999999999999\n"
     "      |               ^~~~~~~~~~~~~~~~~~~~~~~~~~\n"},
    {"size too long",
     H "c1: conv 99999999999999999999x3 -> 4\n" T,
     "t.net:2:10: error: c1: the kernel 99999999999999999999x3 is out of range; each side from 1 to 65536\n"
     "    2 | c1: conv 99999999999999999999x3 -> 4\n"
     "      |          ^~~~~~~~~~~~~~~~~~~~~~\n"},
};

static const Case layer_cases[] = {
    {"unknown kind, did you mean",
     H "c1: cnov 3x3 -> 4\n" T,
     "t.net:2:5: error: c1: unknown layer kind 'cnov'\n"
     "    2 | c1: cnov 3x3 -> 4\n"
     "      |     ^~~~\n"
     "  HINT: did you mean 'conv'?\n"},
    {"unknown kind",
     H "c1: frobnicate 3x3\n" T,
     "t.net:2:5: error: c1: unknown layer kind 'frobnicate'\n"
     "    2 | c1: frobnicate 3x3\n"
     "      |     ^~~~~~~~~~\n"
     "  HINT: layer kinds: conv, linear, maxpool, avgpool, relu, dropout, batchnorm, lrn, resize, flatten, concat, add, softmax\n"},
    {"unknown option, did you mean",
     H "c1: conv 3x3 -> 4 strid 2\n" T,
     "t.net:2:19: error: c1: conv has no option 'strid'\n"
     "    2 | c1: conv 3x3 -> 4 strid 2\n"
     "      |                   ^~~~~\n"
     "  HINT: did you mean 'stride'?\n"},
    {"unknown option",
     H "c1: conv 3x3 -> 4 wibble 2\n" T,
     "t.net:2:19: error: c1: conv has no option 'wibble'\n"
     "    2 | c1: conv 3x3 -> 4 wibble 2\n"
     "      |                   ^~~~~~\n"
     "  HINT: options of conv: stride, pad, groups, bias, init, bias_init, load, frozen, lr_mult, from\n"},
    {"stride 0",
     H "c1: conv 3x3 -> 4 stride 0\n" T,
     "t.net:2:26: error: c1: stride must be a whole number from 1 to 65536, got 0\n"
     "    2 | c1: conv 3x3 -> 4 stride 0\n"
     "      |                          ^\n"},
    {"stride 1.5",
     H "c1: conv 3x3 -> 4 stride 1.5\n" T,
     "t.net:2:26: error: c1: stride must be a whole number from 1 to 65536, got 1.5\n"
     "    2 | c1: conv 3x3 -> 4 stride 1.5\n"
     "      |                          ^~~\n"},
    {"stride without a value",
     H "c1: conv 3x3 -> 4 stride\n" T,
     "t.net:2:25: error: c1: stride needs a size here, got nothing\n"
     "    2 | c1: conv 3x3 -> 4 stride\n"
     "      |                         ^\n"
     "  HINT: e.g. stride 2 (both sides) or stride 2x1 (width x height)\n"},
    {"pad -1",
     H "c1: conv 3x3 -> 4 pad -1\n" T,
     "t.net:2:23: error: c1: pad must be a whole number from 0 to 65536, got -1\n"
     "    2 | c1: conv 3x3 -> 4 pad -1\n"
     "      |                       ^~\n"},
    {"groups 0",
     H "c1: conv 3x3 -> 4 groups 0\n" T,
     "t.net:2:26: error: c1: groups must be a whole number from 1 to 1048576, got 0\n"
     "    2 | c1: conv 3x3 -> 4 groups 0\n"
     "      |                          ^\n"},
    {"groups not dividing",
     "input 32x32x3\n" "c1: conv 3x3 -> 4 groups 2\n" T,
     "t.net:2:5: error: c1: 2 groups do not divide its 3 input channels\n"
     "    2 | c1: conv 3x3 -> 4 groups 2\n"
     "      |     ^~~~\n"
     "  HINT: groups must divide both 3 and 4: groups 1\n"},
    {"kernel with three sides",
     H "c1: conv 3x3x3 -> 4\n" T,
     "t.net:2:10: error: c1: the kernel takes two sides, got 3x3x3\n"
     "    2 | c1: conv 3x3x3 -> 4\n"
     "      |          ^~~~~\n"
     "  HINT: write width x height, e.g. 3x3\n"},
    {"no arrow",
     H "c1: conv 3x3\n" T,
     "t.net:2:13: error: c1: expected '->' and the number of outputs, got nothing\n"
     "    2 | c1: conv 3x3\n"
     "      |             ^\n"
     "  HINT: write the outputs after an arrow: conv 3x3 -> 64\n"},
    {"linear without arrow",
     H "fc: linear 15\n" "loss: softmax\n",
     "t.net:2:12: error: fc: expected '->' and the number of outputs, got 15\n"
     "    2 | fc: linear 15\n"
     "      |            ^~\n"
     "  HINT: write the outputs after an arrow: linear -> 4096\n"},
    {"zero outputs",
     H "fc: linear -> 0\n" "loss: softmax\n",
     "t.net:2:15: error: fc: the number of outputs must be a whole number from 1 to 1048576, got 0\n"
     "    2 | fc: linear -> 0\n"
     "      |               ^\n"},
    {"dropout 1.5",
     H "d: dropout 1.5\n" T,
     "t.net:2:12: error: d: the dropout probability must be from 0 to 0.999, got 1.5\n"
     "    2 | d: dropout 1.5\n"
     "      |            ^~~\n"},
    {"bias maybe",
     H "c1: conv 3x3 -> 4 bias maybe\n" T,
     "t.net:2:24: error: c1: bias is on or off, got 'maybe'\n"
     "    2 | c1: conv 3x3 -> 4 bias maybe\n"
     "      |                        ^~~~~\n"},
    {"unknown init",
     H "c1: conv 3x3 -> 4 init he\n" T,
     "t.net:2:24: error: c1: unknown init 'he'; known: kaiming, xavier, pytorch, gaussian STD, uniform A, constant V, zeros\n"
     "    2 | c1: conv 3x3 -> 4 init he\n"
     "      |                        ^~\n"},
    {"init gaussian without std",
     H "c1: conv 3x3 -> 4 init gaussian\n" T,
     "t.net:2:32: error: c1: init gaussian's standard deviation needs a number here, got nothing\n"
     "    2 | c1: conv 3x3 -> 4 init gaussian\n"
     "      |                                ^\n"},
    {"stray number",
     H "r: relu 3\n" T,
     "t.net:2:9: error: r: unexpected number '3'\n"
     "    2 | r: relu 3\n"
     "      |         ^\n"
     "  HINT: options of relu: slope, from\n"},
    {"conv global",
     H "c: conv global -> 4\n" T,
     "t.net:2:9: error: c: only pooling layers take 'global'\n"
     "    2 | c: conv global -> 4\n"
     "      |         ^~~~~~\n"
     "  HINT: global pooling: avgpool global, or maxpool global\n"},
    {"lrn without a size",
     H "n: lrn alpha 0.001\n" T,
     "t.net:2:8: error: n: lrn needs its window size, the number of channels each value is normalised over\n"
     "    2 | n: lrn alpha 0.001\n"
     "      |        ^~~~~\n"
     "  HINT: e.g. lrn 5 (AlexNet's: lrn 5 alpha 0.0001 beta 0.75 k 2)\n"},
    {"lrn size 0",
     H "n: lrn 0\n" T,
     "t.net:2:8: error: n: the window size must be a whole number from 1 to 255, got 0\n"
     "    2 | n: lrn 0\n"
     "      |        ^\n"},
    {"lrn k 0",
     H "n: lrn 5 k 0\n" T,
     "t.net:2:12: error: n: k must be from 1e-09 to 1000000, got 0\n"
     "    2 | n: lrn 5 k 0\n"
     "      |            ^\n"},
    {"resize without a size",
     H "n: resize\n" T,
     "t.net:2:10: error: n: resize needs the size to resize to\n"
     "    2 | n: resize\n"
     "      |          ^\n"
     "  HINT: e.g. resize 291x291 (width x height), or resize 64 for 64x64\n"},
    {"resize to nothing",
     H "n: resize 0x5\n" T,
     "t.net:2:11: error: n: the size 0x5 is out of range; each side from 1 to 65536\n"
     "    2 | n: resize 0x5\n"
     "      |           ^~~\n"},
    {"resize with three sides",
     H "n: resize 4x4x2\n" T,
     "t.net:2:11: error: n: the size takes two sides, got 4x4x2\n"
     "    2 | n: resize 4x4x2\n"
     "      |           ^~~~~\n"
     "  HINT: write width x height, e.g. 3x3\n"},
    {"lrn option misspelt",
     H "n: lrn 5 aplha 0.001\n" T,
     "t.net:2:10: error: n: lrn has no option 'aplha'\n"
     "    2 | n: lrn 5 aplha 0.001\n"
     "      |          ^~~~~\n"
     "  HINT: did you mean 'alpha'?\n"},
    {"relu slope 2",
     H "r: relu slope 2\n" T,
     "t.net:2:15: error: r: slope must be from 0 to 1, got 2\n"
     "    2 | r: relu slope 2\n"
     "      |               ^\n"},
    {"concat of one",
     H "j: concat input\n" T,
     "t.net:2:11: error: j: concat needs at least two inputs\n"
     "    2 | j: concat input\n"
     "      |           ^~~~~\n"
     "  HINT: name the layers to join: concat a b\n"},
    {"concat of 17",
     H "j: concat input input input input input input input input input input input input input input input input input\n" T,
     "t.net:2:107: error: j: at most 16 inputs\n"
     "    2 | ...put input input input input input input input\n"
     "      |                                            ^~~~~\n"
     "  HINT: join in steps: ab: concat a b, then concat ab c ...\n"},
    {"pad more than half the window",
     H "p: maxpool 3x3 pad 2\n" T,
     "t.net:2:4: error: p: pad 2x2 is more than half the 3x3 window\n"
     "    2 | p: maxpool 3x3 pad 2\n"
     "      |    ^~~~~~~\n"
     "  HINT: pad 1 is the most a 3x3 window allows\n"},
    {"dot in a layer name",
     H "c.1: conv 3x3 -> 4\n" T,
     "t.net:2:1: error: 'c.1': a layer name cannot contain '.'\n"
     "    2 | c.1: conv 3x3 -> 4\n"
     "      | ^~~\n"
     "  HINT: use letters, digits and '_'\n"},
    {"load on a layer with no weights",
     H "pretrained \"w.safetensors\"\n" "r: relu load features.1\n" T,
     "t.net:3:9: error: r: a relu layer has no weights, so 'load' does not apply\n"
     "    3 | r: relu load features.1\n"
     "      |         ^~~~\n"
     "  HINT: 'load' applies to layers with weights: conv, linear, batchnorm\n"},
    {"lr_mult on a pooling layer",
     H "p: maxpool 2x2 lr_mult 2\n" T,
     "t.net:2:16: error: p: a maxpool layer has no weights, so 'lr_mult' does not apply\n"
     "    2 | p: maxpool 2x2 lr_mult 2\n"
     "      |                ^~~~~~~\n"
     "  HINT: 'lr_mult' applies to layers with weights: conv, linear, batchnorm\n"},
    {"load without pretrained file",
     H "c1: conv 3x3 -> 4 load features.0\n" T,
     "t.net:2:24: error: c1: loads features.0, but the net names no pretrained file\n"
     "    2 | c1: conv 3x3 -> 4 load features.0\n"
     "      |                        ^~~~~~~~~~\n"
     "  HINT: name the file: pretrained \"weights/file.safetensors\"\n"},
};

static const Case name_cases[] = {
    {"duplicate name",
     H "c1: conv 3x3 -> 4\n" "c1: relu\n" T,
     "t.net:3:1: error: c1: this name is already used\n"
     "    3 | c1: relu\n"
     "      | ^~\n"
     "  HINT: the first 'c1' is on line 2; give this one another name\n"},
    {"undefined input, did you mean",
     H "conv1: conv 3x3 -> 4\n" "r: relu from conv2\n" T,
     "t.net:3:14: error: r: no layer named 'conv2' above this line\n"
     "    3 | r: relu from conv2\n"
     "      |              ^~~~~\n"
     "  HINT: did you mean 'conv1'?\n"},
    {"undefined input",
     H "r: relu from nowhere\n" T,
     "t.net:2:14: error: r: no layer named 'nowhere' above this line\n"
     "    2 | r: relu from nowhere\n"
     "      |              ^~~~~~~\n"},
    {"input defined below",
     H "r: relu from c1\n" "c1: conv 3x3 -> 4\n" T,
     "t.net:2:14: error: r: no layer named 'c1' above this line\n"
     "    2 | r: relu from c1\n"
     "      |              ^~\n"
     "  HINT: 'c1' is defined below, on line 3; only layers above this line can be named here\n"},
    {"layer reads itself",
     H "c1: conv 3x3 -> 4 from c1\n" T,
     "t.net:2:24: error: c1: no layer named 'c1' above this line\n"
     "    2 | c1: conv 3x3 -> 4 from c1\n"
     "      |                        ^~\n"
     "  HINT: a layer cannot read its own output\n"},
    {"from without a name",
     H "c1: conv 3x3 -> 4 from 3\n" T,
     "t.net:2:24: error: c1: from needs the name of the layer to read\n"
     "    2 | c1: conv 3x3 -> 4 from 3\n"
     "      |                        ^\n"},
    {"concat of an unknown layer",
     H "a: conv 1x1 -> 2\n" "j: concat a b\n" T,
     "t.net:3:13: error: j: no layer named 'b' above this line\n"
     "    3 | j: concat a b\n"
     "      |             ^\n"
     "  HINT: did you mean 'a'?\n"},
    {"freeze unknown, did you mean",
     H "conv1: conv 3x3 -> 4\n" T "freeze conv2\n",
     "t.net:6:8: error: freeze: no layer named 'conv2' above this line\n"
     "    6 | freeze conv2\n"
     "      |        ^~~~~\n"
     "  HINT: did you mean 'conv1'?\n"},
    {"freeze before the layer",
     "freeze conv1\n" "input 32x32x1\n" "conv1: conv 3x3 -> 4\n" T,
     "t.net:1:8: error: freeze: no layer named 'conv1' above this line\n"
     "    1 | freeze conv1\n"
     "      |        ^~~~~\n"
     "  HINT: 'conv1' is defined below, on line 3; only layers above this line can be named here\n"},
    {"freeze through nothing",
     H "conv1: conv 3x3 -> 4\n" T "freeze through\n",
     "t.net:6:8: error: freeze through needs exactly one layer name\n"
     "    6 | freeze through\n"
     "      |        ^~~~~~~\n"},
    {"freeze nothing",
     H "conv1: conv 3x3 -> 4\n" T "freeze\n",
     "t.net:6:7: error: freeze needs layer names\n"
     "    6 | freeze\n"
     "      |       ^\n"
     "  HINT: freeze conv1 conv2, or freeze through fire8\n"},
};

static const Case shape_cases[] = {
    {"kernel larger than input",
     "input 8x8x1\n" "c1: conv 9x9 -> 4\n" T,
     "t.net:2:10: error: c1: input 8x8 is smaller than its 9x9 kernel\n"
     "    2 | c1: conv 9x9 -> 4\n"
     "      |          ^~~\n"
     "  HINT: use a kernel of at most 8x8, or pad the input (pad 1)\n"},
    {"window larger than input",
     "input 3x3x1\n" "pool2: maxpool 5x5 stride 2\n" T,
     "t.net:2:16: error: pool2: input 3x3 is smaller than its 5x5 window\n"
     "    2 | pool2: maxpool 5x5 stride 2\n"
     "      |                ^~~\n"
     "  HINT: use a window of at most 3x3, or pad the input (pad 1)\n"},
    {"window larger than padded input",
     "input 8x8x1\n" "c1: conv 3x3 -> 4\n" "pool2: maxpool 9x9 pad 1\n" T,
     "t.net:3:16: error: pool2: input 6x6 (padded 8x8) is smaller than its 9x9 window\n"
     "    3 | pool2: maxpool 9x9 pad 1\n"
     "      |                ^~~\n"
     "  HINT: use a window of at most 8x8, or pad the input (pad 2)\n"},
    {"non-square kernel too wide",
     "input 8x4x1\n" "c1: conv 9x3 -> 4\n" T,
     "t.net:2:10: error: c1: input 8x4 is smaller than its 9x3 kernel\n"
     "    2 | c1: conv 9x3 -> 4\n"
     "      |          ^~~\n"
     "  HINT: use a kernel of at most 8x4, or pad the input (pad 1)\n"},
    {"concat size mismatch",
     H "a: conv 3x3 -> 4\n" "b: conv 1x1 -> 4 from input\n" "j: concat a b\n" T,
     "t.net:4:13: error: j: cannot concat a (30x30x4) and b (32x32x4): their widths and heights do not match\n"
     "    4 | j: concat a b\n"
     "      |             ^\n"
     "  HINT: concat joins along depth; the inputs must have the same width and height (pad the larger kernel: pad 1 for 3x3)\n"},
    {"add depth mismatch",
     H "a: conv 3x3 -> 4 pad 1\n" "b: conv 1x1 -> 8 from input\n" "j: add a b\n" T,
     "t.net:4:10: error: j: cannot add a (32x32x4) and b (32x32x8): their depths differ\n"
     "    4 | j: add a b\n"
     "      |          ^\n"
     "  HINT: add needs inputs of the same size and depth\n"},
    {"classifier not 1x1",
     H "c1: conv 3x3 -> 4\n" "fc: conv 3x3 -> 15\n" "loss: softmax\n",
     "t.net:3:1: error: loss: the classifier must end at 1x1xN, but fc outputs 28x28x15\n"
     "    3 | fc: conv 3x3 -> 15\n"
     "      | ^~\n"
     "  HINT: give fc a 30x30 kernel (its input is 30x30), or put \"avgpool global\" before the loss\n"},
    {"classifier not 1x1 behind relu",
     H "c1: conv 3x3 -> 4 pad 1\n" "fc: conv 3x3 -> 15 pad 1\n" "r: relu\n" "loss: softmax\n",
     "t.net:4:1: error: loss: the classifier must end at 1x1xN, but r outputs 32x32x15\n"
     "    4 | r: relu\n"
     "      | ^\n"
     "  HINT: give fc a 32x32 kernel and no pad (its input is 32x32), or put \"avgpool global\" before the loss\n"},
    {"classifier not 1x1 after pooling",
     H "c1: conv 3x3 -> 15\n" "p: maxpool 2x2\n" "loss: softmax\n",
     "t.net:3:1: error: loss: the classifier must end at 1x1xN, but p outputs 15x15x15\n"
     "    3 | p: maxpool 2x2\n"
     "      | ^\n"
     "  HINT: reduce the data to 1x1 before the loss: avgpool global, or a linear layer\n"},
    {"huge input",
     "input 100000x100000x1\n" T,
     "t.net:1:7: error: input 100000x100000x1 is too large to train\n"
     "    1 | input 100000x100000x1\n"
     "      |       ^~~~~~~~~~~~~~~\n"
     "  HINT: each side from 1 to 8192 pixels\n"},
    {"empty input side",
     "input 0x32x1\n" T,
     "t.net:1:7: error: input 0x32x1 is too small to train\n"
     "    1 | input 0x32x1\n"
     "      |       ^~~~~~\n"
     "  HINT: each side from 1 to 8192 pixels\n"},
    {"2^40 parameters",
     "input 1024x1024x1\n" "fc: linear -> 1048576\n" "loss: softmax\n",
     "t.net:2:5: error: fc: parameter count 1,099,512,676,352 is more than netc can hold (at most 2,147,483,647 floats per layer)\n"
     "    2 | fc: linear -> 1048576\n"
     "      |     ^~~~~~\n"
     "  HINT: make the layer smaller: fewer channels, a smaller kernel or input\n"},
    {"activations too large",
     "input 8192x8192x3\n" "c1: conv 1x1 -> 64\n" T,
     "t.net:2:5: error: c1: output 8192x8192x64 is more than netc can hold (at most 2,147,483,647 floats per image)\n"
     "    2 | c1: conv 1x1 -> 64\n"
     "      |     ^~~~\n"
     "  HINT: make the layer smaller: fewer channels, a smaller kernel or input\n"},
    {"net parameters too many",
     "input 1024x1024x1\n" "fc1: linear -> 1200\n" "fc2: linear -> 1000000\n" "loss: softmax\n",
     "t.net:3:6: error: fc2: with this layer the net has 2,459,292,400 parameters, more than netc can hold (at most 2,147,483,647)\n"
     "    3 | fc2: linear -> 1000000\n"
     "      |      ^~~~~~\n"
     "  HINT: make the net smaller: fewer channels, or smaller inputs to its largest layers\n"},
};

static const Case block_cases[] = {
    {"unknown block",
     H "b1: fire(1, 2)\n" T,
     "t.net:2:5: error: b1: no block named 'fire'\n"
     "    2 | b1: fire(1, 2)\n"
     "      |     ^~~~\n"
     "  HINT: define it: block fire(params) { layers }\n"},
    {"unknown block, did you mean",
     "block fire(s) {\n" "  c: conv 1x1 -> s\n" "}\n" "input 32x32x1\n" "b1: fier(4)\n" T,
     "t.net:5:5: error: b1: no block named 'fier'\n"
     "    5 | b1: fier(4)\n"
     "      |     ^~~~\n"
     "  HINT: did you mean 'fire'?\n"},
    {"wrong argument count",
     "block cbr(n) {\n" "  conv: conv 3x3 -> n pad 1\n" "  relu: relu\n" "}\n" "input 32x32x1\n" "b1: cbr(1, 2)\n" T,
     "t.net:6:5: error: b1: block cbr needs 1 argument, got 2\n"
     "    6 | b1: cbr(1, 2)\n"
     "      |     ^~~\n"
     "  HINT: cbr takes (n), defined on line 1\n"},
    {"block used as a layer kind",
     "block cbr(n) {\n" "  conv: conv 3x3 -> n pad 1\n" "}\n" "input 32x32x1\n" "b1: cbr 3\n" T,
     "t.net:5:5: error: b1: unknown layer kind 'cbr'\n"
     "    5 | b1: cbr 3\n"
     "      |     ^~~\n"
     "  HINT: 'cbr' is a block; use it with arguments: cbr(...)\n"},
    {"layer kind used as a block",
     H "b1: conv(3)\n" T,
     "t.net:2:5: error: b1: no block named 'conv'\n"
     "    2 | b1: conv(3)\n"
     "      |     ^~~~\n"
     "  HINT: 'conv' is a layer kind; write it without parentheses\n"},
    {"parameter listed twice",
     "block cbr(n, n) {\n" "  conv: conv 3x3 -> n\n" "}\n" "input 32x32x1\n" T,
     "t.net:1:14: error: block cbr: parameter 'n' is listed twice\n"
     "    1 | block cbr(n, n) {\n"
     "      |              ^\n"},
    {"nested definition",
     "block outer(n) {\n" "  conv: conv 3x3 -> n\n" "  block inner(m) {\n" "    r: relu\n" "  }\n" "}\n" "input 32x32x1\n" "o: outer(4)\n" T,
     "t.net:3:9: error: block inner is defined inside a block\n"
     "    3 |   block inner(m) {\n"
     "      |         ^~~~~\n"
     "  HINT: define blocks at the top level\n"},
    {"block defined twice",
     "block b() {\n" "  r: relu\n" "}\n" "block b() {\n" "  r: relu\n" "}\n" "input 32x32x1\n" T,
     "t.net:4:7: error: block b is defined twice\n"
     "    4 | block b() {\n"
     "      |       ^\n"
     "  HINT: the first is on line 1\n"},
    {"block without layers",
     "block b() {\n" "}\n" "input 32x32x1\n" "x: b()\n" T,
     "t.net:1:7: error: block b has no layers\n"
     "    1 | block b() {\n"
     "      |       ^\n"
     "  HINT: give it layers, one per line: name: kind ...\n"},
    {"block uses itself",
     "block b(n) {\n" "  x: b(n)\n" "}\n" "input 32x32x1\n" "y: b(1)\n" T,
     "t.net:2:6: error: y.x: block b uses itself\n"
     "    2 |   x: b(n)\n"
     "      |      ^\n"
     "  HINT: a block cannot use itself, directly or through another block\n"},
    {"word that is not a parameter",
     "block b(n) {\n" "  c: conv 1x1 -> m\n" "}\n" "input 32x32x1\n" "x: b(4)\n" T,
     "t.net:2:18: error: x.c: the number of outputs needs a whole number here, got a name\n"
     "    2 |   c: conv 1x1 -> m\n"
     "      |                  ^\n"
     "  HINT: 'm' is not a parameter of block b(n)\n"},
    {"block argument not a number",
     "block b(n) {\n" "  c: conv 1x1 -> n\n" "}\n" "input 32x32x1\n" "x: b(c1)\n" T,
     "t.net:5:6: error: x: block arguments are numbers or sizes, got 'c1'\n"
     "    5 | x: b(c1)\n"
     "      |      ^~\n"},
    {"layer option on a block use",
     "block b(n) {\n" "  c: conv 1x1 -> n\n" "}\n" "input 32x32x1\n" "x: b(4) stride 2\n" T,
     "t.net:5:9: error: x: a block use has no option 'stride'\n"
     "    5 | x: b(4) stride 2\n"
     "      |         ^~~~~~\n"
     "  HINT: a block use takes: load PREFIX, frozen, lr_mult X, from LAYER; other options go on the layers inside\n"},
    {"in outside a block",
     H "c: conv 3x3 -> 1 pad 1\n" "s: add c in\n" T,
     "t.net:3:10: error: s: 'in' means a block's input, and this line is not inside a block\n"
     "    3 | s: add c in\n"
     "      |          ^~\n"
     "  HINT: inside a block, 'in' is the layer the block's instance reads; out here, name the layer\n"},
    {"from in outside a block",
     H "c: conv 3x3 -> 1 from in\n" T,
     "t.net:2:23: error: c: 'in' means a block's input, and this line is not inside a block\n"
     "    2 | c: conv 3x3 -> 1 from in\n"
     "      |                       ^~\n"
     "  HINT: inside a block, 'in' is the layer the block's instance reads; out here, name the layer\n"},
    {"a layer named in",
     H "in: conv 3x3 -> 1\n" T,
     "t.net:2:1: error: in: 'in' is reserved and cannot name a layer\n"
     "    2 | in: conv 3x3 -> 1\n"
     "      | ^~\n"
     "  HINT: give it another name: inside a block, 'in' means the layer the block's instance reads\n"},
    {"a layer named in inside a block",
     "block b(n) {\n" "  in: conv 1x1 -> n\n" "}\n" "input 32x32x1\n" "x: b(4)\n" T,
     "t.net:2:3: error: x.in: 'in' is reserved and cannot name a layer\n"
     "    2 |   in: conv 1x1 -> n\n"
     "      |   ^~\n"
     "  HINT: give it another name: inside a block, 'in' means the layer the block's instance reads\n"},
    {"a block instance named in",
     "block b(n) {\n" "  c: conv 1x1 -> n\n" "}\n" "input 32x32x1\n" "in: b(4)\n" T,
     "t.net:5:1: error: in: 'in' is reserved and cannot name a layer\n"
     "    5 | in: b(4)\n"
     "      | ^~\n"
     "  HINT: give it another name: inside a block, 'in' means the layer the block's instance reads\n"},
    {"a block parameter named in",
     "block b(in) {\n" "  c: conv 1x1 -> in\n" "}\n" "input 32x32x1\n" T,
     "t.net:1:9: error: block b: a parameter cannot be called 'in'\n"
     "    1 | block b(in) {\n"
     "      |         ^~\n"
     "  HINT: call it something else: inside a block, 'in' means the layer its instance reads\n"},
    {"block use lr_mult not a number",
     "block b(n) {\n" "  c: conv 1x1 -> n\n" "}\n" "input 32x32x1\n" "x: b(4) lr_mult fast\n" T,
     "t.net:5:17: error: x: lr_mult needs a number from 0 to 1000000, got 'fast'\n"
     "    5 | x: b(4) lr_mult fast\n"
     "      |                 ^~~~\n"},
    {"block use from a number",
     "block b(n) {\n" "  c: conv 1x1 -> n\n" "}\n" "input 32x32x1\n" "x: b(4) from 3\n" T,
     "t.net:5:14: error: x: from needs a layer name\n"
     "    5 | x: b(4) from 3\n"
     "      |              ^\n"},
    {"load without prefix on a block use",
     "block b(n) {\n" "  c: conv 1x1 -> n\n" "}\n" "input 32x32x1\n" "x: b(4) load\n" T,
     "t.net:5:13: error: x: load needs a value\n"
     "    5 | x: b(4) load\n"
     "      |             ^\n"
     "  HINT: e.g. load features.3\n"},
    {"setting inside a block",
     "block b() {\n" "  lr 0.1\n" "}\n" "input 32x32x1\n" "x: b()\n" T,
     "t.net:2:3: error: 'lr' inside block b is not a layer\n"
     "    2 |   lr 0.1\n"
     "      |   ^~\n"
     "  HINT: a block holds layers: name: kind ...\n"},
    {"section inside a block",
     "block b() {\n" "  train { lr 0.1 }\n" "}\n" "input 32x32x1\n" "x: b()\n" T,
     "t.net:2:3: error: train { } inside a block\n"
     "    2 |   train { lr 0.1 }\n"
     "      |   ^~~~~\n"
     "  HINT: put sections at the top level\n"},
};

static const Case setting_cases[] = {
    {"unknown setting, did you mean",
     H T "train {\n" "  epocs 30\n" "}\n",
     "t.net:6:3: error: unknown setting 'epocs' in train { }\n"
     "    6 |   epocs 30\n"
     "      |   ^~~~~\n"
     "  HINT: did you mean 'epochs'?\n"},
    {"unknown setting",
     H T "augment {\n" "  wobble 3\n" "}\n",
     "t.net:6:3: error: unknown setting 'wobble' in augment { }\n"
     "    6 |   wobble 3\n"
     "      |   ^~~~~~\n"
     "  HINT: settings of augment { }: flip, crop, scale, translate, rotate, brightness, contrast\n"},
    {"setting in the wrong section",
     H T "train {\n" "  flip on\n" "}\n",
     "t.net:6:3: error: setting 'flip' belongs in augment { }, not train { }\n"
     "    6 |   flip on\n"
     "      |   ^~~~\n"
     "  HINT: move it into augment { }\n"},
    {"setting out of range",
     H T "train {\n" "  epochs -3\n" "}\n",
     "t.net:6:10: error: setting 'epochs' = -3 is out of range; allowed 0 to 100000\n"
     "    6 |   epochs -3\n"
     "      |          ^~\n"},
    {"setting not a number",
     H T "train {\n" "  lr fast\n" "}\n",
     "t.net:6:6: error: setting 'lr' needs a number, got 'fast'\n"
     "    6 |   lr fast\n"
     "      |      ^~~~\n"},
    {"setting not a known word",
     H T "train {\n" "  optimizer sdg\n" "}\n",
     "t.net:6:13: error: setting 'optimizer' is one of sgd|adam, got 'sdg'\n"
     "    6 |   optimizer sdg\n"
     "      |             ^~~\n"},
    {"setting without a value",
     H T "train {\n" "  lr\n" "}\n",
     "t.net:6:5: error: setting 'lr' needs a value\n"
     "    6 |   lr\n"
     "      |     ^\n"
     "  HINT: lr: peak learning rate\n"},
    {"setting outside a section",
     H T "epochs 30\n",
     "t.net:5:1: error: setting 'epochs' outside a section\n"
     "    5 | epochs 30\n"
     "      | ^~~~~~\n"
     "  HINT: put it inside a section: train { epochs ... }\n"},
    {"unknown section",
     H T "trian {\n" "  lr 0.1\n" "}\n",
     "t.net:5:1: error: unknown section 'trian'\n"
     "    5 | trian {\n"
     "      | ^~~~~\n"
     "  HINT: did you mean 'train'?\n"},
    {"layer inside a section",
     H T "train {\n" "  c: conv 3x3 -> 3\n" "}\n",
     "t.net:6:3: error: train { } holds settings (key value), not layers or blocks\n"
     "    6 |   c: conv 3x3 -> 3\n"
     "      |   ^\n"
     "  HINT: layers and blocks go outside the sections\n"},
};

static const Case net_cases[] = {
    {"no input",
     T,
     "t.net: error: the net has no input line\n"
     "  HINT: e.g. input 64x64x1 (width x height x depth), before the first layer\n"},
    {"a net named like a runtime function",
     "net relu\n" H T,
     "t.net:1:5: error: the net's name 'relu' would make the C name netc_relu, which netc's runtime already uses\n"
     "    1 | net relu\n"
     "      |     ^~~~\n"
     "  HINT: rename the net, e.g. net relu_net\n"},
    {"no layers",
     H,
     "t.net: error: the net has no layers\n"
     "  HINT: e.g. conv1: conv 3x3 -> 16\n"},
    {"no loss",
     H "gap: avgpool global\n" "fc: linear -> 15\n",
     "t.net:3:1: error: the net has no loss layer: it ends at fc\n"
     "    3 | fc: linear -> 15\n"
     "      | ^~\n"
     "  HINT: end the net with a loss layer: loss: softmax\n"},
    {"layers after the loss",
     H T "r: relu\n",
     "t.net:5:1: error: r: no layer may follow the loss layer 'loss'\n"
     "    5 | r: relu\n"
     "      | ^\n"
     "  HINT: move loss to the end, after r\n"},
    {"two losses",
     H "gap: avgpool global\n" "fc: linear -> 15\n" "l1: softmax\n" "l2: softmax\n",
     "t.net:5:1: error: l2: a second loss layer (l1 is one)\n"
     "    5 | l2: softmax\n"
     "      | ^~\n"
     "  HINT: keep one loss, at the end; remove l1 or l2\n"},
    {"input depth 2",
     "input 32x32x2\n" T,
     "t.net:1:7: error: input depth must be 1 or 3, got 2\n"
     "    1 | input 32x32x2\n"
     "      |       ^~~~~~~\n"
     "  HINT: images are gray (depth 1) or colour (depth 3)\n"},
    {"input with two sides",
     "input 32x32\n" T,
     "t.net:1:7: error: input needs a size with three numbers\n"
     "    1 | input 32x32\n"
     "      |       ^~~~~\n"
     "  HINT: width x height x depth, e.g. input 64x64x1 (gray) or 227x227x3 (colour)\n"},
    {"input with more after the size",
     "input 32x32x1 gray\n" T,
     "t.net:1:15: error: input takes one size; unexpected 'gray' after it\n"
     "    1 | input 32x32x1 gray\n"
     "      |               ^~~~\n"
     "  HINT: e.g. input 64x64x1\n"},
    {"layer named input",
     H "input: conv 3x3 -> 4\n" T,
     "t.net:2:1: error: input: this name is taken by the net's input\n"
     "    2 | input: conv 3x3 -> 4\n"
     "      | ^~~~~\n"
     "  HINT: layers read the input by this name (from input); give this layer another name\n"},
    {"input twice",
     H "input 16x16x1\n" T,
     "t.net:2:1: error: input is given twice\n"
     "    2 | input 16x16x1\n"
     "      | ^~~~~\n"
     "  HINT: the first is on line 1; keep one\n"},
    {"input after layers",
     "c1: conv 3x3 -> 4\n" "input 16x16x1\n" T,
     "t.net:2:1: error: input comes after layers\n"
     "    2 | input 16x16x1\n"
     "      | ^~~~~\n"
     "  HINT: put input before the first layer\n"},
    {"bad net name",
     "net 3abc\n" "input 32x32x1\n" T,
     "t.net:1:5: error: net needs one name, usable in C identifiers and file names\n"
     "    1 | net 3abc\n"
     "      |     ^\n"
     "  HINT: e.g. net simplenet (letters, digits, '_')\n"},
    {"net named twice",
     "net a\n" "net b\n" "input 32x32x1\n" T,
     "t.net:2:1: error: net is named twice\n"
     "    2 | net b\n"
     "      | ^~~\n"
     "  HINT: the first is on line 1; keep one\n"},
    {"pretrained without a file",
     H "pretrained\n" T,
     "t.net:2:11: error: pretrained needs one file name\n"
     "    2 | pretrained\n"
     "      |           ^\n"
     "  HINT: e.g. pretrained \"weights/squeezenet1_0.safetensors\"\n"},
};

/* ---- the data folder and the pretrained file -------------------------------------------- */

/* @D/data/train: 10 class folders and a stray file; @D/w.safetensors: a small
 * conv and linear layer in torchvision's layout; @D/bad.safetensors: truncated. */
static void make_world(void) {
    char path[256];
    for (int i = 0; i < 10; i++) {
        snprintf(path, sizeof path, "%s/data/train/class%d", tmpdir, i);
        Error e;
        if (make_dirs(path, &e) < 0) fail_msg("%s", e.msg);
    }
    snprintf(path, sizeof path, "%s/data/train/README.txt", tmpdir);
    fe_write(path, "not a class\n");
    static float w0[4 * 1 * 3 * 3], b0[4], w1[15 * 4], b1[15];
    StWrite t[] = {
        {"features.0.weight", "F32", 4, {4, 1, 3, 3}, w0, sizeof w0},
        {"features.0.bias", "F32", 1, {4}, b0, sizeof b0},
        {"classifier.weight", "F32", 2, {15, 4}, w1, sizeof w1},
        {"classifier.bias", "F32", 1, {15}, b1, sizeof b1},
    };
    snprintf(path, sizeof path, "%s/w.safetensors", tmpdir);
    Error e;
    if (st_write(path, t, 4, NULL, &e) < 0) fail_msg("%s", e.msg);
    snprintf(path, sizeof path, "%s/bad.safetensors", tmpdir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite("\x10\0\0\0\0\0\0\0{\"a\": 1}", 1, 16, f);
    fclose(f);
}

#define PRE "input 8x8x1\npretrained \"@D/w.safetensors\"\n"

static const Case world_cases[] = {
    {"class count against the data folder",
     H T "train {\n  data \"@D/data\"\n}\n",
     "t.net:3:1: error: fc: the classifier outputs 15 classes, but @D/data/train has 10 class folders\n"
     "    3 | fc: linear -> 15\n"
     "      | ^~\n"
     "  HINT: make fc output 10 (-> 10), one per class folder\n"},
    {"pretrained conv weight of the wrong shape",
     PRE "c1: conv 5x5 -> 4 load features.0\n" T,
     "t.net:3:1: error: c1: pretrained tensor 'features.0.weight' is [4, 1, 3, 3], but the layer needs [4, 1, 5, 5]\n"
     "    3 | c1: conv 5x5 -> 4 load features.0\n"
     "      | ^~\n"
     "  HINT: the file's weights fit conv 3x3 -> 4 on 1 input channel; change the layer to match the file, or drop \"load\" to train it from scratch\n"},
    {"pretrained linear weight of the wrong shape",
     PRE "c1: conv 3x3 -> 4 load features.0\ngap: avgpool global\nfc: linear -> 10 load classifier\nloss: softmax\n"
         "train { data \"@D/data\" }\n",
     "t.net:5:1: error: fc: pretrained tensor 'classifier.weight' is [15, 4], but the layer needs [10, 4]\n"
     "    5 | fc: linear -> 10 load classifier\n"
     "      | ^~\n"
     "  HINT: the file's weights fit linear -> 15 on 4 inputs; change the layer to match the file, or drop \"load\" to train it from scratch\n"},
    {"pretrained tensor missing",
     PRE "c1: conv 3x3 -> 4 load features.1\n" T,
     "t.net:3:24: error: c1: @D/w.safetensors has no tensor 'features.1.weight' (expected [4, 1, 3, 3])\n"
     "    3 | c1: conv 3x3 -> 4 load features.1\n"
     "      |                        ^~~~~~~~~~\n"
     "  HINT: did you mean 'features.0.weight'? (check the load prefix)\n"},
    {"pretrained tensor far from any name",
     PRE "c1: conv 3x3 -> 4 load backbone.stem\n" T,
     "t.net:3:24: error: c1: @D/w.safetensors has no tensor 'backbone.stem.weight' (expected [4, 1, 3, 3])\n"
     "    3 | c1: conv 3x3 -> 4 load backbone.stem\n"
     "      |                        ^~~~~~~~~~~~~\n"
     "  HINT: the file holds 4 tensors: classifier.bias, classifier.weight, features.0.bias, features.0.weight\n"},
    {"batch norm loading a conv's tensors",
     PRE "c1: conv 3x3 -> 4 load features.0\nbn: batchnorm load features.0\n" T,
     "t.net:4:1: error: bn: pretrained tensor 'features.0.weight' is [4, 1, 3, 3], but the layer needs [4]\n"
     "    4 | bn: batchnorm load features.0\n"
     "      | ^~\n"
     "  HINT: change the layer to match the file, or drop \"load\" to train it from scratch\n"},
    {"pretrained file truncated",
     "input 8x8x1\npretrained \"@D/bad.safetensors\"\nc1: conv 3x3 -> 4 load features.0\n" T,
     "t.net:2:1: error: @D/bad.safetensors is truncated: the header length says 16 bytes of JSON follow, the file has only 8 after the length\n"
     "    2 | pretrained \"@D/bad.safetensors\"\n"
     "      | ^~~~~~~~~~\n"
     "  HINT: the file was cut short (an interrupted download or copy?); fetch or export it again\n"},
};

static void test_world(void **state) {
    (void)state;
    make_world();
    CHECK_CASES(world_cases);
    /* the right count and shapes pass; a pretrained file nothing loads is a warning */
    char *text = subst("input 8x8x1\npretrained \"@D/w.safetensors\"\nc1: conv 3x3 -> 4 load features.0\n"
                       "gap: avgpool global\nfc: linear -> 10\nloss: softmax\ntrain {\n  data \"@D/data\"\n}\n");
    FeResult r = fe_compile("t.net", text);
    if (r.failed) fail_msg("%s", r.diag);
    assert_string_equal(r.diag, "");
    fe_done(&r);
    free(text);
    text = subst("input 8x8x1\npretrained \"@D/w.safetensors\"\n" T);
    r = fe_compile("t.net", text);
    assert_int_equal(r.failed, 0);
    char *want = subst("t.net:2:1: warning: pretrained file given, but no layer loads from it\n"
                       "    2 | pretrained \"@D/w.safetensors\"\n"
                       "      | ^~~~~~~~~~\n"
                       "  HINT: add \"load NAME\" to the layers that should start from it\n");
    assert_string_equal(r.diag, want);
    fe_done(&r);
    free(text);
    free(want);
}

/* ---- inputs no editor would make ------------------------------------------------------- */

static char *repeat(const char *unit, int n) {
    size_t u = strlen(unit);
    char *s = malloc(u * (size_t)n + 1);
    for (int i = 0; i < n; i++) memcpy(s + u * (size_t)i, unit, u);
    s[u * (size_t)n] = 0;
    return s;
}

static void test_hostile_text(void **state) {
    (void)state;
    /* a file of NUL bytes: the line is quoted with '?' for each */
    Case nul = {"NUL bytes", "\0\0\0\0",
                "t.net:1:1: error: unexpected byte 0x00\n"
                "    1 | ????\n"
                "      | ^\n"
                "  HINT: a .net file is plain text; is this the right file?\n"};
    char *log = NULL;
    check_case(&nul, 4, &log);
    /* a NUL inside a string (it used to overflow the copy of the string) */
    static const char nul_string[] = "input 8x8x1\ntrain { data \"a\0b\" }\n";
    Case nul2 = {"NUL in a string", nul_string,
                 "t.net:2:14: error: this string holds a NUL byte\n"
                 "    2 | train { data \"a?b\" }\n"
                 "      |              ^~~~~\n"
                 "  HINT: a .net file is plain text; is this the right file?\n"};
    check_case(&nul2, sizeof nul_string - 1, &log);

    /* 100000 '{' on one line: one message, the line cut to a window */
    char *braces = repeat("{", 100000);
    Case c1 = {"100000 '{'", braces,
               "t.net:1:1: error: unexpected '{'; expected a name, end of line or 'block'\n"
               "    1 | {{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{...\n"
               "      | ^\n"
               "  HINT: '{' follows a section's name (train {) or a block's parameters (block cbr(n) {)\n"};
    check_case(&c1, 0, &log);
    free(braces);
    if (log) fail_msg("%s", log);

    /* sections nested 100000 deep: the parser's stack is limited, and says so */
    char *nested = repeat("a {\n", 100000);
    FeResult r = fe_compile("t.net", nested);
    assert_int_equal(r.failed, FE_PARSE);
    assert_int_equal(count(r.diag, "error: "), 1);
    if (!strstr(r.diag, ": error: braces are nested too deeply\n") ||
        !strstr(r.diag, "  HINT: sections and blocks hold one level of { }; is a '}' missing?\n"))
        fail_msg("%s", r.diag);
    fe_done(&r);
    free(nested);

    /* the same on one line: the caret is inside the quoted window */
    nested = repeat("a { ", 100000);
    r = fe_compile("t.net", nested);
    assert_int_equal(r.failed, FE_PARSE);
    const char *quote = strstr(r.diag, "\n    1 | ...");
    assert_non_null(quote);
    const char *caret = strstr(quote + 1, "\n      | ");
    assert_non_null(caret);
    const char *end = strchr(caret + 1, '\n');
    if (end - caret > 120 || end[-1] != '^') fail_msg("caret line:\n%s", r.diag);
    fe_done(&r);
    free(nested);
}

/* A long line is quoted as a window with the caret under the token. */
static void test_long_line(void **state) {
    (void)state;
    char *opts = repeat("lr_mult 1 ", 30);
    char text[1024];
    snprintf(text, sizeof text, "input 32x32x1\nc1: conv 3x3 -> 4 pad 1 %s wibble\n" T, opts);
    Case c = {"long line", text,
              "t.net:2:326: error: c1: conv has no option 'wibble'\n"
              "    2 | ...r_mult 1 lr_mult 1 lr_mult 1 lr_mult 1  wibble\n"
              "      |                                            ^~~~~~\n"
              "  HINT: options of conv: stride, pad, groups, bias, init, bias_init, load, frozen, lr_mult, from\n"};
    char *log = NULL;
    check_case(&c, 0, &log);
    free(opts);
    if (log) fail_msg("%s", log);
}

/* ---- the same through bin/netc ------------------------------------------------------------ */

typedef struct {
    int status; /* exit code, or 128 + signal */
    char *out, *err;
} Run;

/* Runs netc with args (NULL-terminated) in tmpdir. */
static Run run_netc(const char *const *args) {
    static char netc[4096];
    if (!netc[0]) {
        const char *env = getenv("NETC_BIN");
        if (!realpath(env ? env : "bin/netc", netc)) fail_msg("%s: %s (build it with make)", env ? env : "bin/netc", strerror(errno));
    }
    char out_path[128], err_path[128];
    snprintf(out_path, sizeof out_path, "%s/stdout", tmpdir);
    snprintf(err_path, sizeof err_path, "%s/stderr", tmpdir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (chdir(tmpdir) != 0 || !freopen(out_path, "w", stdout) || !freopen(err_path, "w", stderr)) _exit(127);
        const char *argv[16] = {netc};
        for (int i = 0; args[i] && i < 14; i++) argv[i + 1] = args[i];
        execv(netc, (char **)argv);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    Run r = {WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), fe_slurp(out_path), fe_slurp(err_path)};
    return r;
}

static void free_run(Run *r) {
    free(r->out);
    free(r->err);
}

static void run_cases(const Case *cases, size_t n, char **log) {
    for (size_t i = 0; i < n; i++) {
        char *text = subst(cases[i].text), *want = subst(cases[i].msg), path[128];
        snprintf(path, sizeof path, "%s/t.net", tmpdir);
        fe_write(path, text);
        Run r = run_netc((const char *[]){"--report", "t.net", NULL});
        if (r.status != 1 || r.out[0] || strcmp(r.err, want) != 0)
            note(log, "[%s] bin/netc exit %d, stdout %zu bytes\n--- expected on stderr\n%s--- got\n%s---\n", cases[i].what,
                 r.status, strlen(r.out), want, r.err);
        free_run(&r);
        free(text);
        free(want);
    }
}

#define RUN_CASES(table, log) run_cases(table, sizeof table / sizeof table[0], log)

static void test_binary(void **state) {
    (void)state;
    make_world();
    char *log = NULL;
    RUN_CASES(syntax_cases, &log);
    RUN_CASES(layer_cases, &log);
    RUN_CASES(name_cases, &log);
    RUN_CASES(shape_cases, &log);
    RUN_CASES(block_cases, &log);
    RUN_CASES(setting_cases, &log);
    RUN_CASES(net_cases, &log);
    RUN_CASES(world_cases, &log);
    if (log) {
        fprintf(stderr, "%s", log);
        free(log);
        fail_msg("bin/netc differs from the in-process messages");
    }
}

/* The driver's own errors: exit 1 (the file) or 2 (the command line), nothing on stdout. */
static void test_binary_usage(void **state) {
    (void)state;
    static const struct {
        const char *args[4];
        int status;
        const char *err;
    } cases[] = {
        {{"--report", "missing.net"}, 1, "netc: missing.net: cannot open: No such file or directory\n"},
        {{"--report", "."}, 1, "netc: . is a folder, not a .net file\n"},
        {{"--bogus", "t.net"}, 2, "netc: unknown option '--bogus'\n  HINT: netc --help lists the options\n"},
        {{"-d", "everything", "t.net"}, 2, "netc: -d takes ast, net, plan or quant, not 'everything'\n"},
        {{"t.net", "u.net"}, 2, "netc: one .net file at a time ('t.net' and 'u.net')\n"},
        {{"-o"}, 2, "netc: -o needs a value\n"},
    };
    char *log = NULL;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Run r = run_netc(cases[i].args);
        if (r.status != cases[i].status || r.out[0] || strcmp(r.err, cases[i].err) != 0)
            note(&log, "[%s %s] exit %d (want %d), stdout %zu bytes, stderr:\n%s", cases[i].args[0],
                 cases[i].args[1] ? cases[i].args[1] : "", r.status, cases[i].status, strlen(r.out), r.err);
        free_run(&r);
    }
    Run r = run_netc((const char *[]){NULL});
    if (r.status != 2 || r.out[0] || !strstr(r.err, "usage: netc [options] FILE.net\n")) note(&log, "no arguments: exit %d\n%s", r.status, r.err);
    free_run(&r);
    if (log) fail_msg("%s", log);
}

/* A runtime built by half (`make build/libnetcrt.a` alone, without the
 * libnetcrt.libs beside it that lists Open MPI's flags): netc names the
 * missing file and says to run make, instead of letting the link fail on
 * undefined symbols and calling it a bug in netc. */
static void test_binary_runtime_incomplete(void **state) {
    (void)state;
    char path[256];
    Error e;
    snprintf(path, sizeof path, "%s/home/runtime", tmpdir);
    if (make_dirs(path, &e) < 0) fail_msg("%s", e.msg);
    snprintf(path, sizeof path, "%s/home/build", tmpdir);
    if (make_dirs(path, &e) < 0) fail_msg("%s", e.msg);
    snprintf(path, sizeof path, "%s/home/build/libnetcrt.a", tmpdir);
    fe_write(path, "!<arch>\n");
    snprintf(path, sizeof path, "%s/t.net", tmpdir);
    fe_write(path, "net t\n" H T);
    char home[200], *want = NULL;
    snprintf(home, sizeof home, "%s/home", tmpdir);
    setenv("NETC_HOME", home, 1);
    Run r = run_netc((const char *[]){"-q", "--out-dir", "out", "-o", "out/t", "t.net", NULL});
    unsetenv("NETC_HOME");
    if (asprintf(&want,
                 "netc: the training runtime for ISA native is incomplete: %s/build/libnetcrt.libs is missing\n"
                 "  HINT: run `make` in netc's source tree (it writes the libraries a trainer links beside libnetcrt.a)\n",
                 home) < 0)
        abort();
    assert_int_equal(r.status, 1);
    assert_string_equal(r.err, want);
    free_run(&r);
    free(want);
}

/* Every netc_<name> that the headers included by generated code define is
 * refused as a net's name (elab.c's list is kept by hand; this keeps it whole):
 * generated code defines netc_<net>, which would clash and not compile. */
static void test_runtime_names(void **state) {
    (void)state;
    static const char *const headers[] = {"netc_gen.h", "gemm.h", "netc.h", "netc_vec.h", "rng.h", "winograd.h"};
    char *log = NULL;
    int checked = 0;
    for (size_t h = 0; h < sizeof headers / sizeof headers[0]; h++) {
        char path[64];
        snprintf(path, sizeof path, "runtime/%s", headers[h]);
        char *text = fe_slurp(path);
        if (!text) fail_msg("%s: cannot read it (run from the repository root)", path);
        for (const char *p = text; (p = strstr(p, "netc_"));) {
            bool starts = p == text || !(isalnum((unsigned char)p[-1]) || p[-1] == '_');
            const char *e = p += 5;
            while (islower((unsigned char)*e) || isdigit((unsigned char)*e) || *e == '_') e++;
            if (!starts || e == p || *e == '.') continue; /* inside a word, or a header's file name */
            char *net = NULL;
            if (asprintf(&net, "net %.*s\n" H T, (int)(e - p), p) < 0) abort();
            FeResult r = fe_compile_n("t.net", net, strlen(net));
            if (!r.failed || !strstr(r.diag, "which netc's runtime already uses"))
                note(&log, "[%s] a net named %.*s: %s\n", path, (int)(e - p), p, r.failed ? r.diag : "accepted");
            fe_done(&r);
            free(net);
            checked++;
        }
        free(text);
    }
    if (log) fail_msg("%s", log);
    assert_true(checked > 20);
}

static void test_syntax(void **state) { (void)state; CHECK_CASES(syntax_cases); }
static void test_layers(void **state) { (void)state; CHECK_CASES(layer_cases); }
static void test_names(void **state) { (void)state; CHECK_CASES(name_cases); }
static void test_shapes(void **state) { (void)state; CHECK_CASES(shape_cases); }
static void test_blocks(void **state) { (void)state; CHECK_CASES(block_cases); }
static void test_settings(void **state) { (void)state; CHECK_CASES(setting_cases); }
static void test_net(void **state) { (void)state; CHECK_CASES(net_cases); }

static int setup(void **state) {
    (void)state;
    strcpy(tmpdir, "/tmp/netc_test_fe_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    fe_rm_tree(tmpdir);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_syntax),   cmocka_unit_test(test_layers),       cmocka_unit_test(test_names),
        cmocka_unit_test(test_shapes),   cmocka_unit_test(test_blocks),       cmocka_unit_test(test_settings),
        cmocka_unit_test(test_net),      cmocka_unit_test(test_world),        cmocka_unit_test(test_hostile_text),
        cmocka_unit_test(test_long_line), cmocka_unit_test(test_binary),      cmocka_unit_test(test_binary_usage),
        cmocka_unit_test(test_runtime_names), cmocka_unit_test(test_binary_runtime_incomplete),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
