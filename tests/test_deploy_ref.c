/* test_deploy_ref.c: a net deployed by netc --deploy against PyTorch.
 *
 * Built once per net with a committed reference (make test): tests/deploy/
 * state.c writes the state tools/torch_ref.py evaluated the net in (its
 * weights, running statistics and inputs), bin/netc --deploy turns it into
 * $(BUILD)/tests/deploy/<net>/ (nets of megabytes with --weights-file), the
 * deployed <net>.c is compiled as a user would (-std=c99 -Wall -Wextra
 * -pedantic -Werror), and this program runs <net>_forward on each input and
 * compares the logits with the reference's evaluation logits: every layer
 * kind, fire modules (concats written in place), residual adds, Winograd,
 * direct and grouped convs, folded batch norms, against float64 PyTorch.
 * The bound is torchref's, 1e-4 of the logits' largest magnitude. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "safetensors.h"

#if !defined(NET) || !defined(UNET) || !defined(DEPLOY_H) || !defined(STATE)
#error "compile with -DNET=<net> -DUNET=<NET> -DDEPLOY_H='\"<dir>/<net>.h\"' -DSTATE='\"<state>.safetensors\"'"
#endif
#include DEPLOY_H

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define STR_(a) #a
#define STR(a) STR_(a)

static float *read_tensor(const char *path, const char *name, long *count) {
    StFile f;
    Error e;
    if (st_open(&f, path, &e) < 0) fail_msg("%s", e.msg);
    const StTensor *t = st_find(&f, name);
    if (!t) fail_msg("%s has no tensor '%s'", path, name);
    *count = (long)st_numel(t);
    float *v = malloc(sizeof(float) * (size_t)*count);
    if (st_read_f32(&f, t, v, (size_t)*count, &e) < 0) fail_msg("%s", e.msg);
    st_close(&f);
    return v;
}

static void test_logits(void **state) {
    (void)state;
    long n_in, n_ref;
    const long image = CAT(UNET, _INPUT_CHANNELS) * CAT(UNET, _INPUT_HEIGHT) * CAT(UNET, _INPUT_WIDTH);
    float *input = read_tensor(STATE, "deploy.input", &n_in);
    float *ref = read_tensor("tests/ref/" STR(NET) ".safetensors", "eval.logits", &n_ref);
    int n = (int)(n_in / image), k = CAT(UNET, _CLASSES);
    assert_int_equal(n_ref, (long)n * k);
    void *arena = malloc(CAT(UNET, _ARENA_BYTES));
    assert_non_null(arena);
#if defined(WEIGHTS_FILE)
    { /* the weights' own file, into the arena */
        FILE *f = fopen(WEIGHTS_FILE, "rb");
        assert_non_null(f);
        assert_int_equal(fread((char *)arena + CAT(UNET, _WEIGHTS_AT), 1, CAT(UNET, _WEIGHT_BYTES), f), CAT(UNET, _WEIGHT_BYTES));
        fclose(f);
        assert_int_equal(CAT(NET, _check_weights)(arena), 0);
        ((char *)arena)[CAT(UNET, _WEIGHTS_AT) + 16] ^= 1; /* another net's name */
        assert_int_equal(CAT(NET, _check_weights)(arena), CAT(UNET, _EWEIGHTS));
        ((char *)arena)[CAT(UNET, _WEIGHTS_AT) + 16] ^= 1;
    }
#endif
    float *logits = malloc(sizeof(float) * (size_t)n * (size_t)k);
    for (int b = 0; b < n; b++) CAT(NET, _forward)(input + b * image, arena, logits + (long)b * k);
    double diff = 0, top = 0;
    for (long i = 0; i < n_ref; i++) {
        if (isnan(logits[i])) fail_msg("logit %ld is NaN", i);
        diff = fmax(diff, fabs((double)logits[i] - ref[i])), top = fmax(top, fabs(ref[i]));
    }
    double rel = top > 0 ? diff / top : diff;
    printf("%s deployed: %d images, logits against PyTorch: max|ref| %.3e, rel diff %.2e\n", STR(NET), n, top, rel);
    assert_true(rel < 1e-4);
    free(input), free(ref), free(arena), free(logits);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_logits)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
