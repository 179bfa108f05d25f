/* test_deploy_plan.c: the deployed net's arena (compiler/deploy_plan.c).
 *
 * Every plan is checked for what makes it correct: no two buffers whose
 * lifetimes meet share a byte, every offset aligned, the arena holds them
 * all; and for what makes it good: its size against the most bytes live at
 * one step (no plan can be smaller), equal to it where an optimum is easy to
 * see (chains, a fire module, a residual block), never above the sum. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "deploy.h"
#include "pool.h"

/* Fails the test if the plan is wrong; returns its size. */
static int64_t checked_plan(ArenaBuf *b, int n, int64_t align, const char *what) {
    int64_t size = arena_plan(b, n, align), sum = 0, bound = arena_lower_bound(b, n, align);
    for (int i = 0; i < n; i++) {
        sum += (b[i].bytes + align - 1) / align * align;
        if (b[i].bytes <= 0) continue;
        if (b[i].offset % align) fail_msg("%s: buffer %d at %lld, not aligned to %lld", what, i, (long long)b[i].offset, (long long)align);
        if (b[i].offset < 0 || b[i].offset + b[i].bytes > size) fail_msg("%s: buffer %d outside the arena", what, i);
        for (int j = 0; j < i; j++) {
            if (b[j].bytes <= 0 || b[i].first > b[j].last || b[j].first > b[i].last) continue;
            if (b[i].offset < b[j].offset + b[j].bytes && b[j].offset < b[i].offset + b[i].bytes)
                fail_msg("%s: buffers %d and %d are live together and overlap", what, j, i);
        }
    }
    printf("%-34s arena %8lld bytes, at least %8lld live at once, %8lld unplanned\n", what, (long long)size, (long long)bound,
           (long long)sum);
    assert_true(size >= bound && size <= sum);
    return size;
}

/* A chain: each layer reads the one before. Two buffers live at a time. */
static void test_chain(void **state) {
    (void)state;
    ArenaBuf b[6];
    const int64_t bytes[6] = {1000, 4000, 3000, 3000, 500, 60};
    for (int i = 0; i < 6; i++) b[i] = (ArenaBuf){bytes[i], i, i + 1, -1};
    int64_t size = checked_plan(b, 6, 64, "chain");
    assert_int_equal(size, arena_lower_bound(b, 6, 64)); /* 4000 + 3000, rounded */
    assert_int_equal(size, 4032 + 3008);
}

/* SqueezeNet's fire module: squeeze (s) feeds expand1x1 (e1) and expand3x3
 * (e3), written straight into the halves of the concat (one buffer, live from
 * e1's step to its reader's); the squeeze input dies at the squeeze. Steps:
 * 0 in, 1 squeeze, 2 e1, 3 e3, 4 the next layer reads the concat. */
static void test_fire(void **state) {
    (void)state;
    ArenaBuf b[4] = {
        {96 * 55 * 55 * 4, 0, 1, -1},      /* the fire's input */
        {16 * 55 * 55 * 4, 1, 3, -1},      /* squeeze, read by e1 and e3 */
        {128 * 55 * 55 * 4, 2, 4, -1},     /* the concat: e1 and e3 are its slices */
        {36 * 16 * 32 * 4 * 2, 3, 3, -1},  /* e3's Winograd scratch */
    };
    int64_t size = checked_plan(b, 4, 64, "fire module");
    assert_int_equal(size, arena_lower_bound(b, 4, 64));
}

/* A residual block: x -> conv a -> conv b -> add(x, b). x lives until the
 * add, so three buffers meet at conv b; the add may write over b. */
static void test_residual(void **state) {
    (void)state;
    ArenaBuf b[4] = {
        {64 * 28 * 28 * 4, 0, 3, -1}, /* x, read by conv a and the add */
        {64 * 28 * 28 * 4, 1, 2, -1}, /* a */
        {64 * 28 * 28 * 4, 2, 4, -1}, /* b, then the add's output in place, read at step 4 */
        {8 * 1024, 1, 1, -1},         /* conv a's panel scratch */
    };
    int64_t size = checked_plan(b, 4, 64, "residual block");
    assert_int_equal(size, 3 * 64 * 28 * 28 * 4 + 0 * 8192); /* the scratch fits beside x and a, where b is not yet */
}

/* Random lifetimes and sizes: always correct, never worse than 1.5x the bound. */
static void test_random(void **state) {
    (void)state;
    unsigned s = 99;
    for (int round = 0; round < 200; round++) {
        ArenaBuf b[40];
        int n = 2 + round % 39;
        for (int i = 0; i < n; i++) {
            s = s * 1664525u + 1013904223u;
            int first = (int)((s >> 8) % 30);
            s = s * 1664525u + 1013904223u;
            int len = (int)((s >> 8) % 5);
            s = s * 1664525u + 1013904223u;
            b[i] = (ArenaBuf){(int64_t)((s >> 8) % 100000) + (round % 7 == 0 ? 0 : 1), first, first + len, -1};
        }
        char what[64];
        snprintf(what, sizeof what, "random plan %d (%d buffers)", round, n);
        int64_t size = round % 50 ? arena_plan(b, n, 16) : checked_plan(b, n, 16, what);
        if (round % 50) {
            for (int i = 0; i < n; i++)
                for (int j = 0; j < i; j++)
                    if (b[i].bytes > 0 && b[j].bytes > 0 && b[i].first <= b[j].last && b[j].first <= b[i].last)
                        assert_false(b[i].offset < b[j].offset + b[j].bytes && b[j].offset < b[i].offset + b[i].bytes);
        }
        assert_true(size <= arena_lower_bound(b, n, 16) * 3 / 2);
    }
    pool_free_all();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chain),
        cmocka_unit_test(test_fire),
        cmocka_unit_test(test_residual),
        cmocka_unit_test(test_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
