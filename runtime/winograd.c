/* winograd.c: 3x3 convolutions by F(4x4, 3x3) and 5x5 ones by F(2x2, 5x5)
 * (the algebra is in winograd.h).
 *
 * The transforms work on L tiles at once, one tile per lane of a vector (L =
 * NETC_VW: 16 with AVX-512, 8 with AVX2, 4 with NEON; the code is the same):
 * a tile's 6x6 patch is gathered into lanes, transformed with adds and
 * multiplies by constants, and its 36 values stored as L consecutive floats
 * in each of the 36 matrices the products read. The matrices (Lavin and
 * Gray, 2015):
 *   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
 *   G   = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
 *   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
 * F(2x2, 5x5) interpolates at the same six points (0, 1, -1, 2, -2 and
 * infinity), so its B^T is the same matrix and only G and A^T change:
 *   G   = [1/4 0 0 0 0; -1/6 -1/6 -1/6 -1/6 -1/6; -1/6 1/6 -1/6 1/6 -1/6;
 *          1/24 1/12 1/6 1/3 2/3; 1/24 -1/12 1/6 -1/3 2/3; 0 0 0 0 1]
 *   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 1]
 * The tiles are the same 6x6 patches of the input, 2 apart instead of 4.
 * Two ways to split the work across threads: where the channels are few,
 * each thread runs whole chunks of tiles on its own (transforms and
 * products in its L2 cache, conv_chunks); elsewhere each phase is split
 * (transforms by groups of tiles, products by point). */
#include "winograd.h"

#include <cblas.h>
#include <omp.h>
#include <stdbool.h>
#include <string.h>

#include "netc_vec.h"
#if defined(__AVX2__)
#include <immintrin.h>
#endif

#define L NETC_VW /* tiles per group: one vector register */
#define RUN (L / 4) /* tiles per run (see Lanes) */
typedef netc_vf wv;
typedef netc_vi wi; /* shuffle masks and lane masks */

static long round_up(long t) { return (t + L - 1) / L * L; }

/* A shuffle mask whose lane l is f(l), for any L (a constant, so the
 * compiler picks the instruction: unpcklps, shufps, vpermps, zip1, ext ...) */
#define LANES4(f, b) f((b)), f((b) + 1), f((b) + 2), f((b) + 3)
#if L == 16
#define LANES(f) LANES4(f, 0), LANES4(f, 4), LANES4(f, 8), LANES4(f, 12)
#define PAIRS(f) LANES4(f, 0), LANES4(f, 4) /* the same over L / 2 pairs of floats */
#elif L == 8
#define LANES(f) LANES4(f, 0), LANES4(f, 4)
#define PAIRS(f) LANES4(f, 0)
#else
#define LANES(f) LANES4(f, 0)
#define PAIRS(f) f(0), f(1)
#endif
typedef double wp __attribute__((vector_size(4 * L)));    /* L / 2 pairs of floats */
typedef long long wpi __attribute__((vector_size(4 * L))); /* their shuffle masks */

/* ---- the 1-D transforms, on L lanes ----------------------------------------------- */

/* o = B^T d */
static inline void bt6(wv *o, wv d0, wv d1, wv d2, wv d3, wv d4, wv d5) {
    o[0] = 4.0f * d0 - 5.0f * d2 + d4;
    o[1] = -4.0f * (d1 + d2) + d3 + d4;
    o[2] = 4.0f * (d1 - d2) - d3 + d4;
    o[3] = 2.0f * (d3 - d1) - d2 + d4;
    o[4] = 2.0f * (d1 - d3) - d2 + d4;
    o[5] = 4.0f * d1 - 5.0f * d3 + d5;
}

/* o = A^T m (4 of 6) */
static inline void at6(wv *o, wv m0, wv m1, wv m2, wv m3, wv m4, wv m5) {
    wv s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4;
    o[0] = m0 + s12 + s34;
    o[1] = d12 + 2.0f * d34;
    o[2] = s12 + 4.0f * s34;
    o[3] = d12 + 8.0f * d34 + m5;
}

/* o = row i of A^T m, as at6 computes it */
static inline wv at6_row(const int i, wv m0, wv m1, wv m2, wv m3, wv m4, wv m5) {
    switch (i) {
    case 0: return m0 + (m1 + m2) + (m3 + m4);
    case 1: return (m1 - m2) + 2.0f * (m3 - m4);
    case 2: return (m1 + m2) + 4.0f * (m3 + m4);
    default: return (m1 - m2) + 8.0f * (m3 - m4) + m5;
    }
}

/* o = A^T m (2 of 6): F(2x2, 5x5)'s */
static inline void at6_2(wv *o, wv m0, wv m1, wv m2, wv m3, wv m4, wv m5) {
    o[0] = m0 + (m1 + m2) + (m3 + m4);
    o[1] = (m1 - m2) + 2.0f * (m3 - m4) + m5;
}

/* o = A d (6 of 4): the output gradient's transform */
static inline void a4(wv *o, wv d0, wv d1, wv d2, wv d3) {
    wv s02 = d0 + d2, d13 = d1 + d3, q02 = d0 + 4.0f * d2, q13 = 2.0f * d1 + 8.0f * d3;
    o[0] = d0;
    o[1] = s02 + d13;
    o[2] = s02 - d13;
    o[3] = q02 + q13;
    o[4] = q02 - q13;
    o[5] = d3;
}

/* o = A d (6 of 2): F(2x2, 5x5)'s */
static inline void a2(wv *o, wv d0, wv d1) {
    o[0] = d0;
    o[1] = d0 + d1;
    o[2] = d0 - d1;
    o[3] = d0 + 2.0f * d1;
    o[4] = d0 - 2.0f * d1;
    o[5] = d1;
}

/* o = G g (6 of 3) */
static inline void g3(wv *o, wv g0, wv g1, wv g2) {
    wv s02 = g0 + g2;
    o[0] = 0.25f * g0;
    o[1] = (-1.0f / 6.0f) * (s02 + g1);
    o[2] = (-1.0f / 6.0f) * (s02 - g1);
    o[3] = (1.0f / 24.0f) * g0 + (1.0f / 12.0f) * g1 + (1.0f / 6.0f) * g2;
    o[4] = (1.0f / 24.0f) * g0 - (1.0f / 12.0f) * g1 + (1.0f / 6.0f) * g2;
    o[5] = g2;
}

/* o = G g (6 of 5): F(2x2, 5x5)'s */
static inline void g5(wv *o, wv g0, wv g1, wv g2, wv g3, wv g4) {
    wv se = g0 + g2 + g4, so = g1 + g3, qe = g0 + 4.0f * g2 + 16.0f * g4, qo = 2.0f * g1 + 8.0f * g3;
    o[0] = 0.25f * g0;
    o[1] = (-1.0f / 6.0f) * (se + so);
    o[2] = (-1.0f / 6.0f) * (se - so);
    o[3] = (1.0f / 24.0f) * (qe + qo);
    o[4] = (1.0f / 24.0f) * (qe - qo);
    o[5] = g4;
}

/* o = G^T m (3 of 6): the weight gradient's way back */
static inline void gt6(wv *o, wv m0, wv m1, wv m2, wv m3, wv m4, wv m5) {
    wv s12 = m1 + m2, s34 = m3 + m4;
    o[0] = 0.25f * m0 - (1.0f / 6.0f) * s12 + (1.0f / 24.0f) * s34;
    o[1] = (1.0f / 6.0f) * (m2 - m1) + (1.0f / 12.0f) * (m3 - m4);
    o[2] = (1.0f / 6.0f) * (s34 - s12) + m5;
}

/* o = G^T m (5 of 6): F(2x2, 5x5)'s */
static inline void gt6_5(wv *o, wv m0, wv m1, wv m2, wv m3, wv m4, wv m5) {
    wv s12 = m1 + m2, d21 = m2 - m1, s34 = m3 + m4, d34 = m3 - m4;
    o[0] = 0.25f * m0 - (1.0f / 6.0f) * s12 + (1.0f / 24.0f) * s34;
    o[1] = (1.0f / 6.0f) * d21 + (1.0f / 12.0f) * d34;
    o[2] = (1.0f / 6.0f) * (s34 - s12);
    o[3] = (1.0f / 6.0f) * d21 + (1.0f / 3.0f) * d34;
    o[4] = (2.0f / 3.0f) * s34 - (1.0f / 6.0f) * s12 + m5;
}

/* ---- tiles ------------------------------------------------------------------------- */

/* A group's lanes in runs: where a full group of L consecutive tiles lies in
 * tile rows whose length is a multiple of RUN (W a multiple of L), it is four
 * runs of RUN = L / 4 neighbouring tiles, run q's columns L consecutive floats of each
 * row. Tile b of run q goes to lane 4b + q: then a 4x4 transpose within each
 * 128 bits (no lane crosses into another 128-bit block) turns one row of the
 * four runs, 4 vectors, into columns 0..3 of every tile, and back. Every
 * full group maps its lanes so, runs or not; a short group (the chunk's
 * last) maps lane l to tile l. */
static inline int tile_of_lane(int l, int n) { return n == L ? l % 4 * RUN + l / 4 : l; }

/* Where the tiles t0 .. t0 + n - 1 of a chunk are: each lane's offset from
 * its channel's first image to the top-left value of its patch (pad `off`
 * above and left of its outputs), and its top-left output's row and column.
 * A group that is not four runs is gathered value by value, one vector
 * gather per value of the patch: each lane's offset to its patch (gat) and,
 * per value, the lanes where it is inside the image (gmask: 0 for the
 * padding and unused lanes), so gathering needs no branches. Worked out once
 * per group of tiles, for every channel. */
typedef struct {
    int n;          /* lanes in use: fewer in the chunk's last group */
    bool inside[L]; /* the patch is all inside the image */
    long at[L];
    int y[L], x[L];
    wi gat;                     /* not runs: each lane's offset to its patch (0 in unused lanes) */
    wi gmask[36];               /* ... and value k's lanes inside the image (-1), or not (0) */
    bool runs;                  /* the group is four runs (above) */
    long rat[4];                /* run q: offset of its first tile's top-left output */
    unsigned rowok[4];          /* bit i: patch row i of run q is inside the image */
    wi not_first, not_last;     /* lanes whose tile has a left (right) neighbour */
    long img_lo, img_hi;        /* the floats of the group's images, if few (else img_hi = img_lo) */
} Lanes;

static void lanes_at(Lanes *ln, int K, long t0, long end, int H, int W, int S, int off) {
    long per = netc_wino_tiles(K, H, W);
    int m = netc_wino_m(K), tw = (W + m - 1) / m;
    ln->n = end - t0 < L ? (int)(end - t0) : L;
    for (int l = 0; l < L; l++) {
        ln->not_first[l] = ln->not_last[l] = 0;
        if (l >= ln->n) continue;
        long t = t0 + tile_of_lane(l, ln->n), r = t % per;
        int y = (int)(r / tw) * m, x = (int)(r % tw) * m, y0 = y - off, x0 = x - off;
        ln->y[l] = y, ln->x[l] = x;
        ln->at[l] = t / per * H * W + (long)y0 * W + x0;
        ln->inside[l] = y0 >= 0 && x0 >= 0 && y0 + S <= H && x0 + S <= W;
        ln->not_first[l] = x > 0 ? -1 : 0, ln->not_last[l] = x + m < W ? -1 : 0;
    }
    ln->runs = m == 4 && ln->n == L && W % L == 0 && H % 4 == 0; /* F(4x4, 3x3)'s tiles only */
    if (!ln->runs) /* offsets within one channel's images of the batch: fewer than 2^31 floats */
        for (int l = 0; l < L; l++) {
            bool used = l < ln->n;
            ln->gat[l] = used ? (int)ln->at[l] : 0;
            for (int i = 0; i < S; i++)
                for (int j = 0; j < S; j++) {
                    int yy = used ? ln->y[l] - off + i : -1, xx = used ? ln->x[l] - off + j : -1;
                    ln->gmask[i * S + j][l] = yy >= 0 && yy < H && xx >= 0 && xx < W ? -1 : 0;
                }
        }
    long lo = (t0 / per) * H * W, hi = ((t0 + ln->n - 1) / per + 1) * H * W;
    ln->img_lo = lo, ln->img_hi = hi - lo <= 2048 ? hi : lo; /* up to 8 KB, for prefetch_group */
    for (int q = 0; ln->runs && q < 4; q++) { /* run q's first tile is lane q */
        ln->rat[q] = ln->at[q] + (long)off * W + off;
        ln->rowok[q] = 0;
        for (int i = 0; i < S; i++) ln->rowok[q] |= (unsigned)(ln->y[q] - off + i >= 0 && ln->y[q] - off + i < H) << i;
    }
}

/* The 4x4 transpose within each 128 bits: lane 4b + k of v[k'] = lane 4b + k' of a[k] */
#define UNPACKLO(l) (((l) & ~3) + ((l) & 3) / 2 + ((l) & 1) * L)
#define UNPACKHI(l) (UNPACKLO(l) + 2)
#define LOWS(l) (((l) & ~3) + ((l) & 1) + ((l) & 2) / 2 * L)
#define HIGHS(l) (LOWS(l) + 2)
static inline void transpose4(wv *v, wv a0, wv a1, wv a2, wv a3) {
    const wi lo = {LANES(UNPACKLO)}, hi = {LANES(UNPACKHI)}, lows = {LANES(LOWS)}, highs = {LANES(HIGHS)};
    wv t0 = __builtin_shuffle(a0, a1, lo), t1 = __builtin_shuffle(a2, a3, lo);
    wv t2 = __builtin_shuffle(a0, a1, hi), t3 = __builtin_shuffle(a2, a3, hi);
    v[0] = __builtin_shuffle(t0, t1, lows), v[1] = __builtin_shuffle(t0, t1, highs);
    v[2] = __builtin_shuffle(t2, t3, lows), v[3] = __builtin_shuffle(t2, t3, highs);
}

/* Each lane's left (right) neighbour tile in a group of runs: lane l - 4 in
 * the same run, else the last (first) tile of the run before (after); lane 0's
 * left and lane L - 1's right come from the vector's second operand. */
#define LEFT(l) ((l) >= 4 ? (l) - 4 : (l) == 0 ? L : L - 5 + (l))
#define RIGHT(l) ((l) < L - 4 ? (l) + 4 : (l) == L - 1 ? L + 1 : (l) - (L - 4) + 1)

/* gather for runs: per patch row, one load per run and a 4x4 transpose
 * instead of L lanes' scalar copies. S = 6 (off 1: columns x - 1 .. x + 4,
 * the outer two from the neighbouring tiles, 0 at the image's edge) or S = 4
 * (off 0: columns x .. x + 3). */
static inline void gather_runs(wv *d, int S, const float *src, int W, const Lanes *ln) {
    const wv zero = {0};
    const wi left_of = {LANES(LEFT)}, right_of = {LANES(RIGHT)};
    const int off = S == 6;
    for (int i = 0; i < S; i++) {
        wv r[4], p[4];
        for (int q = 0; q < 4; q++)
            if (ln->rowok[q] >> i & 1)
                memcpy(&r[q], src + ln->rat[q] + (long)(i - off) * W, sizeof(wv));
            else
                r[q] = zero;
        transpose4(p, r[0], r[1], r[2], r[3]);
        if (S == 4) {
            d[i * 4] = p[0], d[i * 4 + 1] = p[1], d[i * 4 + 2] = p[2], d[i * 4 + 3] = p[3];
            continue;
        }
        wv edge = zero; /* the group's first tile's left neighbour, its last one's right */
        if (ln->rowok[0] >> i & 1 && ln->not_first[0]) edge[0] = src[ln->rat[0] + (long)(i - 1) * W - 1];
        if (ln->rowok[3] >> i & 1 && ln->not_last[L - 1]) edge[1] = src[ln->rat[3] + (long)(i - 1) * W + L];
        wv left = __builtin_shuffle(p[3], edge, left_of), right = __builtin_shuffle(p[0], edge, right_of);
        d[i * 6] = (wv)((wi)left & ln->not_first), d[i * 6 + 5] = (wv)((wi)right & ln->not_last);
        d[i * 6 + 1] = p[0], d[i * 6 + 2] = p[1], d[i * 6 + 3] = p[2], d[i * 6 + 4] = p[3];
    }
}

/* The reverse for row i of a tile's 4x4 outputs y[j]: transposed back into
 * one vector per run and stored (or added). */
static inline void scatter_row(float *dst, const wv *y, int i, int W, const Lanes *ln, int add) {
    wv q[4];
    transpose4(q, y[0], y[1], y[2], y[3]);
    for (int k = 0; k < 4; k++) {
        float *p = dst + ln->rat[k] + (long)i * W;
        if (add) {
            wv old;
            memcpy(&old, p, sizeof old);
            q[k] += old;
        }
        memcpy(p, &q[k], sizeof(wv));
    }
}

/* v[l] = src[at[l]] where mask[l] is set, else 0: one masked gather (a
 * lane masked off reads nothing, so its offset may point anywhere) */
static inline wv gather_lanes(const float *src, wi at, wi mask) {
#if L == 16
    return (wv)_mm512_mask_i32gather_ps(_mm512_setzero_ps(), _mm512_test_epi32_mask((__m512i)mask, (__m512i)mask), (__m512i)at, src, 4);
#elif L == 8 && defined(__AVX2__)
    return (wv)_mm256_mask_i32gather_ps(_mm256_setzero_ps(), src, (__m256i)at, (__m256)mask, 4);
#else
    wv v = {0};
    for (int l = 0; l < L; l++)
        if (mask[l]) v[l] = src[at[l]];
    return v;
#endif
}

/* d[i * S + j], lane l = the value at row i, column j of tile l's patch: 0
 * outside the image (the padding) and in unused lanes. src is one channel's
 * first image of the batch. */
static inline void gather(wv *d, int S, const float *src, int W, const Lanes *ln) {
    for (int i = 0; i < S; i++)
        for (int j = 0; j < S; j++) d[i * S + j] = gather_lanes(src, ln->gat + (i * W + j), ln->gmask[i * S + j]);
}

/* v = the 36 values of one patch transformed, L tiles at a time: B^T d B of
 * a 6x6 patch of the input (S 6), or A dy A^T of a 4x4 (F(4x4, 3x3)) or 2x2
 * (F(2x2, 5x5)) block of the output gradient (S 4 or 2): columns first, then
 * rows. */
static inline void patch_transform(wv *v, const wv *d, int S) {
    wv t[36];
    for (int j = 0; j < S; j++) { /* t is 6 x S */
        wv c[6];
        if (S == 6)
            bt6(c, d[j], d[6 + j], d[12 + j], d[18 + j], d[24 + j], d[30 + j]);
        else if (S == 4)
            a4(c, d[j], d[4 + j], d[8 + j], d[12 + j]);
        else
            a2(c, d[j], d[2 + j]);
        for (int i = 0; i < 6; i++) t[i * S + j] = c[i];
    }
    for (int i = 0; i < 6; i++) {
        const wv *r = t + i * S;
        if (S == 6)
            bt6(&v[i * 6], r[0], r[1], r[2], r[3], r[4], r[5]);
        else if (S == 4)
            a4(&v[i * 6], r[0], r[1], r[2], r[3]);
        else
            a2(&v[i * 6], r[0], r[1]);
    }
}

/* y (R x R) = X m X^T for the 36 values m of a transformed tile: the output
 * block (X = A^T: R 4 for F(4x4, 3x3), 2 for F(2x2, 5x5)) or the kernel's
 * gradient (X = G^T: R 3 or 5). */
static inline void back_transform_1d(wv *o, int R, wv m0, wv m1, wv m2, wv m3, wv m4, wv m5) {
    switch (R) {
    case 4: at6(o, m0, m1, m2, m3, m4, m5); break;
    case 3: gt6(o, m0, m1, m2, m3, m4, m5); break;
    case 2: at6_2(o, m0, m1, m2, m3, m4, m5); break;
    default: gt6_5(o, m0, m1, m2, m3, m4, m5); break;
    }
}

static inline void back_transform(wv *y, const wv *m, int R) {
    wv t[30];
    for (int j = 0; j < 6; j++) { /* t is R x 6 */
        wv c[5];
        back_transform_1d(c, R, m[j], m[6 + j], m[12 + j], m[18 + j], m[24 + j], m[30 + j]);
        for (int i = 0; i < R; i++) t[i * 6 + j] = c[i];
    }
    for (int i = 0; i < R; i++) {
        const wv *r = t + i * 6;
        back_transform_1d(&y[i * R], R, r[0], r[1], r[2], r[3], r[4], r[5]);
    }
}

/* Row i of the 4x4 block A^T m A for the 36 sums m[p] at Mo + p * Tp
 * (F(4x4, 3x3)): row i of A^T m, column by column, then A^T of that. The
 * sums are loaded again for each row (from L1) rather than A^T m's 24
 * values kept, which do not fit AVX2's 16 registers: spilt, their stores
 * would queue behind the outputs' (which miss the cache) and cost a third of
 * the output transform. */
static inline void out_row4(wv *y, const float *Mo, long Tp, const int i) {
    wv t[6];
    for (int j = 0; j < 6; j++) {
        const float *c = Mo + j * Tp;
        t[j] = at6_row(i, netc_vload(c), netc_vload(c + 6 * Tp), netc_vload(c + 12 * Tp), netc_vload(c + 18 * Tp),
                       netc_vload(c + 24 * Tp), netc_vload(c + 30 * Tp));
    }
    at6(y, t[0], t[1], t[2], t[3], t[4], t[5]);
}

/* The epilogue's v * scale + shift (affine), then its relu */
static inline wv epilogue(wv v, wv scale, wv shift, int affine, int relu) {
    if (affine) v = v * scale + shift;
    return relu ? netc_vrelu(v) : v;
}

/* Ask for the cache lines a group of tiles will read from one channel: its
 * runs' patch rows, or, where the group's images are small (DeeperNet's
 * 8x8, AlexNet's 13x13), those images whole. */
static inline void prefetch_group(const float *src, int S, int W, const Lanes *ln) {
    if (ln->runs) {
        for (int i = 0; i < S; i++)
            for (int q = 0; q < 4; q++) __builtin_prefetch(src + ln->rat[q] + (long)(i - (S == 6)) * W);
        return;
    }
    for (long k = ln->img_lo; k < ln->img_hi; k += 16) __builtin_prefetch(src + k); /* a cache line */
}

/* Transformed tiles are [c][p][t]: channel c's 36 rows of Tp floats, one per
 * point p, so a tile's 36 values go to neighbouring rows; the products read
 * X[.][p] as a matrix whose rows are a channel's pitch apart. The pitch is a
 * cache line more than 36 rows, so those rows do not all fall in a few sets
 * of the L1 cache (36 Tp floats is a multiple of 2 KB where Tp is of 16). */
static long pitch(long Tp) { return 36 * Tp + 16; }

/* X[c][p][t] = point p of the transformed patch of tile `first + t` in
 * channel c of src: the input's (S 6, reaching K / 2 values past the tile on
 * every side: the padding) or the output gradient's (S = the tile's side,
 * netc_wino_m(K)). src is the batch's first image of channel 0. */
static void transform_tiles(float *X, long Tp, const float *src, int K, int C, int H, int W, long first, long T, int cap, int S) {
    long groups = (T + L - 1) / L;
#pragma omp parallel for schedule(static)
    for (long g = 0; g < groups; g++) {
        long t0 = g * L;
        Lanes ln;
        lanes_at(&ln, K, first + t0, first + T, H, W, S, S == 6 ? K / 2 : 0);
        for (int c = 0; c < C; c++) {
            wv d[36], v[36];
            if (c + 4 < C) /* channels lie far apart in memory: fetch the one 4 ahead while this one is transformed */
                prefetch_group(src + (long)(c + 4) * cap * H * W, S, W, &ln);
            if (ln.runs)
                gather_runs(d, S, src + (long)c * cap * H * W, W, &ln);
            else
                gather(d, S, src + (long)c * cap * H * W, W, &ln);
            patch_transform(v, d, S);
            for (int p = 0; p < 36; p++) memcpy(X + c * pitch(Tp) + p * Tp + t0, &v[p], sizeof(wv));
        }
    }
}

/* What the output transform does to each value before it stores it:
 * relu(v * scale[o] + shift[o]), or adds it to what is there; and with pool
 * 2, stores only the max of each 2x2 window. */
typedef struct {
    const float *scale, *shift; /* per output channel, or NULL */
    int relu, add, pool;
} Epilogue;

/* max(a, b) where a NaN wins, as max pooling does in PyTorch (netc_maxnan, on L lanes) */
static inline wv maxnan(wv a, wv b) {
    wi keep = (a > b) | (a != a);
    return (wv)(((wi)a & keep) | ((wi)b & ~keep));
}

/* Pairs 0, 2, 4 ... then 1, 3, 5 ...: after an interleave, runs q and q + 1
 * alternate pair by pair; this puts each run's pairs in its own half */
#define HALVES(k) ((k) < RUN ? 2 * (k) : 2 * ((k) - RUN) + 1)

/* The 2x2 maxima of one window row of each lane's 4x4 outputs: rows a and b
 * (4 values each) to the maxima of columns 0-1 and 2-3 */
static inline void pool_rows(wv *p, const wv *a, const wv *b) {
    p[0] = maxnan(maxnan(a[0], a[1]), maxnan(b[0], b[1]));
    p[1] = maxnan(maxnan(a[2], a[3]), maxnan(b[2], b[3]));
}

/* Each lane's 2x2 maxima p (pool_rows of its block's rows 0-1, then 2-3)
 * into plane, [H/2][W/2] per image: pooled row y/2 and y/2 + 1, columns x/2
 * and x/2 + 1 of the tile's image. H and W are multiples of 4, so every
 * window is whole. */
static inline void store_pooled(float *plane, const wv *p, int H, int W, const Lanes *ln) {
    const int PW = W / 2;
    if (ln->runs) { /* each run's tiles pool to L / 2 neighbouring values in each of two rows */
        const wi lo = {LANES(UNPACKLO)}, hi = {LANES(UNPACKHI)};
        const wpi halves = {PAIRS(HALVES)};
        for (int r = 0; r < 2; r++) {
            wp pairs[2] = {(wp)__builtin_shuffle(p[2 * r], p[2 * r + 1], lo), (wp)__builtin_shuffle(p[2 * r], p[2 * r + 1], hi)};
            for (int h = 0; h < 2; h++) { /* runs 0 and 1, then 2 and 3 */
                wv v = (wv)__builtin_shuffle(pairs[h], halves);
                for (int k = 0; k < 2; k++) {
                    long at = ln->rat[2 * h + k], img = at / ((long)H * W), yx = at % ((long)H * W);
                    float *dst = plane + img * (H / 2) * PW + (yx / W / 2 + r) * PW + yx % W / 2;
                    memcpy(dst, (const float *)&v + k * (L / 2), sizeof(float) * (L / 2));
                }
            }
        }
        return;
    }
    float f[4][L] __attribute__((aligned(64)));
    memcpy(f, p, sizeof f);
    for (int l = 0; l < ln->n; l++) {
        long img = ln->at[l] / ((long)H * W);
        float *q = plane + img * (H / 2) * PW + (ln->y[l] / 2) * PW + ln->x[l] / 2;
        q[0] = f[0][l], q[1] = f[1][l], q[PW] = f[2][l], q[PW + 1] = f[3][l];
    }
}

/* Lane l's outputs f[i * m + j][l] (m x m) at q, cut at the image's edge */
static inline void store_lane(float *q, float (*f)[L], int l, int m, int H, int W, const Lanes *ln, int add) {
    int rows = H - ln->y[l] < m ? H - ln->y[l] : m, cols = W - ln->x[l] < m ? W - ln->x[l] : m;
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) q[(long)i * W + j] = add ? q[(long)i * W + j] + f[i * m + j][l] : f[i * m + j][l];
}

/* Output channel o of one group of tiles: (A^T M A) of its 36 sums Mo[p *
 * Tp], through the epilogue, cut at the image's edge. m, the block's side,
 * is a constant at each call (always inlined). F(4x4, 3x3)'s blocks go row
 * by row (out_row4), each row stored before the next is computed, so only
 * the outputs leave the registers. */
static inline __attribute__((always_inline)) void output_channel(float *out, const float *Mo, long Tp, int o, int H, int W, int cap,
                                                                 const Epilogue *ep, const Lanes *ln, const int m) {
    const int add = ep->add, affine = ep->scale || ep->shift, pool = m == 4 && ep->pool == 2;
    const wv zero = {0}, scale = zero + (ep->scale ? ep->scale[o] : 1.0f), shift = zero + (ep->shift ? ep->shift[o] : 0.0f);
    float *plane = out + (long)o * cap * (pool ? (H / 2) * (W / 2) : H * W);
    float f[16][L] __attribute__((aligned(64))); /* not runs: the outputs by lane, for the lanes at the image's edge */
    if (m == 2) {
        wv v[36], y[4];
        for (int p = 0; p < 36; p++) v[p] = netc_vload(Mo + p * Tp);
        back_transform(y, v, 2);
        for (int k = 0; k < 4; k++) y[k] = epilogue(y[k], scale, shift, affine, ep->relu);
        memcpy(f, y, sizeof y);
        for (int l = 0; l < ln->n; l++) store_lane(plane + ln->at[l], f, l, 2, H, W, ln, add);
        return;
    }
    wv y[2][4], p[4];
    bool edge = false; /* a lane whose block is cut */
    for (int i = 0; i < 4; i++) {
        wv *r = y[i % 2], rows[4];
        out_row4(r, Mo, Tp, i);
        for (int j = 0; j < 4; j++) r[j] = epilogue(r[j], scale, shift, affine, ep->relu);
        if (pool) {
            if (i % 2) pool_rows(p + i - 1, y[0], y[1]);
            continue;
        }
        if (ln->runs) {
            scatter_row(plane, r, i, W, ln, add);
            continue;
        }
        transpose4(rows, r[0], r[1], r[2], r[3]); /* row i of lane 4b + k's block: the 128 bits b of rows[k] */
        memcpy(f[i * 4], r, sizeof(wv) * 4);
        for (int l = 0; l < ln->n; l++) {
            if (!ln->inside[l]) {
                edge = true;
                continue;
            }
            float row[4], *dst = plane + ln->at[l] + (long)i * W; /* in one 128-bit store */
            memcpy(row, (const float *)&rows[l % 4] + l / 4 * 4, sizeof row);
            for (int j = 0; add && j < 4; j++) row[j] += dst[j];
            memcpy(dst, row, sizeof row);
        }
    }
    if (pool) store_pooled(plane, p, H, W, ln);
    for (int l = 0; edge && l < ln->n; l++)
        if (!ln->inside[l]) store_lane(plane + ln->at[l], f, l, 4, H, W, ln, add);
}

/* out[o][image][y][x] = (A^T M A) of each tile's 36 sums, through the
 * epilogue, cut at the image's edge */
static void transform_output(float *out, const float *M, long Tp, int K, int OC, int H, int W, long first, long T, int cap,
                             const Epilogue *ep) {
    const int m = netc_wino_m(K);
    long groups = (T + L - 1) / L;
#pragma omp parallel for schedule(static)
    for (long g = 0; g < groups; g++) {
        long t0 = g * L;
        Lanes ln;
        lanes_at(&ln, K, first + t0, first + T, H, W, m, 0);
        for (int o = 0; o < OC; o++)
            if (m == 4)
                output_channel(out, M + o * pitch(Tp) + t0, Tp, o, H, W, cap, ep, &ln, 4);
            else
                output_channel(out, M + o * pitch(Tp) + t0, Tp, o, H, W, cap, ep, &ln, 2);
    }
}

/* The forward and input-gradient products: product() below on every ISA.
 * OpenBLAS's AVX2 (Zen, Haswell) sgemm packs both operands and clears C before
 * it adds to it: product() is 20 to 50% faster at DeeperNet's sizes (Zen 4,
 * each side the best of alternating runs; a DeeperNet conv's AVX2 forward 5 to
 * 10% faster). With AVX-512, OpenBLAS's small-matrix kernels (SkylakeX) beat
 * product() by 10 to 20% on Zen 4 when product() kept 1 row of U by 1 vector;
 * with 6 rows by 4 vectors (24 of the 32 registers) it is the faster on an
 * Intel Xeon of model 167: AlexNet-FT's conv3 32.6 -> 27.4 ms, conv4 37.1 ->
 * 31.9 ms a batch, its evaluation 233-237 -> 217-225 ms and step 724-726 ->
 * 682-695 ms, DeeperNet's evaluation 43.4-44.4 -> 41.0-42.1 ms, SqueezeNet-FT
 * unchanged (alternating profiles; 12 rows by 2 vectors was slower). On the
 * AMD EPYC Zen 4 too (2026-12-04, alternating profiles, OpenBLAS's Cooperlake
 * kernels against product()): AlexNet-FT's conv3 40.7 -> 29.5 ms, conv4 51.7 ->
 * 38.5 ms, evaluation 277 -> 248 ms a batch; DeeperNet's evaluation 68.3-69.0
 * -> 64.4-64.6 ms.
 * product()'s register blocks: MR rows of U by NR vectors of tiles, MR x NR
 * sums in registers: 16 registers of 8 floats with AVX2, 32 of 4 with NEON,
 * 32 of 16 with AVX-512. */
#define MR 6
#if L == 8
#define NR 2
#else
#define NR 4
#endif

/* U as the products read it: for each point p, panels of MR rows, each
 * panel [Q][MR] (the MR values of one column together), rows past R zero. */
static long panel_rows(int R) { return (R + MR - 1) / MR * MR; }
static inline long u_at(int p, int r, int q, int R, int Q) { return ((long)p * panel_rows(R) + r / MR * MR) * Q + (long)q * MR + r % MR; }

/* o = G g (6 of K) */
static inline void g_1d(wv *o, int K, const wv *g, int step) {
    if (K == 3)
        g3(o, g[0], g[step], g[2 * step]);
    else
        g5(o, g[0], g[step], g[2 * step], g[3 * step], g[4 * step]);
}

/* U[p][r][q] = (G g G^T)[p] for the KxK kernel from input channel q to output
 * channel r, in panels (u_at): weight[r][q] as it is, or (flipped) weight[q][r]
 * turned by 180 degrees, which is the kernel of the input gradient's convolution. */
static void transform_filter(float *U, const float *weight, int K, int R, int Q, int flipped) {
    long groups = (Q + L - 1) / L;
#pragma omp parallel for schedule(static)
    for (long k = 0; k < R * groups; k++) {
        int r = (int)(k / groups), q0 = (int)(k % groups * L), lanes = Q - q0 < L ? Q - q0 : L;
        const int KK = K * K;
        float f[36][L] __attribute__((aligned(64))) = {{0}};
        for (int l = 0; l < lanes; l++) {
            int q = q0 + l;
            const float *g = flipped ? weight + ((long)q * R + r) * KK : weight + ((long)r * Q + q) * KK;
            for (int i = 0; i < KK; i++) f[i][l] = g[flipped ? KK - 1 - i : i];
        }
        wv g[25], t[30], u[36];
        memcpy(g, f, sizeof(wv) * KK);
        for (int j = 0; j < K; j++) { /* columns: t is 6 x K */
            wv c[6];
            g_1d(c, K, g + j, K);
            for (int i = 0; i < 6; i++) t[i * K + j] = c[i];
        }
        for (int i = 0; i < 6; i++) g_1d(&u[i * 6], K, t + i * K, 1);
        memcpy(f, u, sizeof f);
        for (int p = 0; p < 36; p++)
            for (int l = 0; l < lanes; l++) U[u_at(p, r, q0 + l, R, Q)] = f[p][l];
    }
    if (R % MR) /* the last panel's rows past R */
        for (int p = 0; p < 36; p++)
            for (int q = 0; q < Q; q++)
                for (int r = R; r < panel_rows(R); r++) U[u_at(p, r, q, R, Q)] = 0.0f;
}

/* C[r][t] = sum over q of U[r][q] X[q][t] for one point: U in panels (R rows, Q
 * columns), X rows of T floats (rounded up to L) ldx apart, C rows ldc apart.
 * Each block of MR rows and NR vectors of tiles keeps its sums in registers
 * while the columns of X stream past: X's block (Q x NR vectors) stays in
 * L1, U's panel is read in order. Written straight into C: no packing of
 * either operand, no pass to clear C first (what sgemm does for these small
 * products, at a fraction of their time). */
static inline __attribute__((always_inline)) void product_block(float *C, long ldc, const float *Up, const float *X, long ldx,
                                                                int Q, int rows, int nv) {
    wv acc[MR][NR];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < nv; j++) acc[i][j] = (wv){0};
    for (int q = 0; q < Q; q++, Up += MR, X += ldx) {
        wv x[NR];
        for (int j = 0; j < nv; j++) x[j] = netc_vload(X + j * L);
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++)
            for (int j = 0; j < nv; j++) acc[i][j] += Up[i] * x[j];
    }
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < nv; j++) netc_vstore(C + (long)i * ldc + j * L, acc[i][j]);
}

static void product(float *C, long ldc, const float *U, const float *X, long ldx, int R, int Q, long T) {
    long t0 = 0;
    for (; t0 + NR * L <= T; t0 += NR * L)
        for (int r0 = 0; r0 < R; r0 += MR)
            product_block(C + (long)r0 * ldc + t0, ldc, U + (long)r0 * Q, X + t0, ldx, Q, R - r0 < MR ? R - r0 : MR, NR);
    for (; t0 < T; t0 += L) /* the last vectors, one at a time */
        for (int r0 = 0; r0 < R; r0 += MR)
            product_block(C + (long)r0 * ldc + t0, ldc, U + (long)r0 * Q, X + t0, ldx, Q, R - r0 < MR ? R - r0 : MR, 1);
}

/* dweight[o][c] = G^T dU[.][o][c] G, KxK */
static void filter_gradient(float *dweight, const float *dU, int K, int OC, int C) {
    long groups = (C + L - 1) / L;
#pragma omp parallel for schedule(static)
    for (long k = 0; k < OC * groups; k++) {
        int o = (int)(k / groups), c0 = (int)(k % groups * L), lanes = C - c0 < L ? C - c0 : L;
        float f[36][L] __attribute__((aligned(64))) = {{0}};
        for (int p = 0; p < 36; p++) memcpy(f[p], dU + ((long)p * OC + o) * C + c0, sizeof(float) * lanes);
        wv m[36], g[25];
        memcpy(m, f, sizeof m);
        back_transform(g, m, K);
        memcpy(f, g, sizeof(wv) * K * K);
        for (int l = 0; l < lanes; l++) {
            float *dw = dweight + ((long)o * C + c0 + l) * K * K;
            for (int i = 0; i < K * K; i++) dw[i] = f[i][l];
        }
    }
}

/* Tiles per thread when each thread runs whole chunks on its own (input
 * transform, 36 products, output transform), their V and M staying in its
 * L2 cache: worth it where the channels are few, so a chunk of 64 tiles or
 * more fits in 1.5 MB; 0 where not (then the phases split across threads). */
static long own_tiles(int Q, int R, long room, int threads) {
    long t = (3L << 17) / (36L * (Q + R)), fit = (room / ((long)(Q + R) * threads) - 16) / 36; /* (Q + R) pitch(t) each */
    t = (t < fit ? t : fit) / L * L;
    return t >= 64 ? t : 0;
}

/* Output channels per block where a chunk's sums M, R x 36 x Tp floats, would
 * not stay in a core's L2 cache (AlexNet's conv2 to conv5: 3.5 to 5.4 MB):
 * each thread takes blocks of that many channels, runs their 36 products
 * and their output transform while the block's sums (at most 768 KB) are in
 * its L2, and the transformed input V, shared, is read once per block. Else
 * 0: the products split by point across threads, then the output transform
 * by tiles, M going out to memory and back three times (sgemm clears it,
 * adds to it, the output transform reads it). So blocks where those
 * re-reads of V cost less than M's trips: AlexNet's conv2 (64 -> 192, 5x5;
 * its forward 104 -> 88 ms a batch of 50, the best of alternating runs on
 * Zen 4 with AVX-512) and conv3 (192 -> 384, unchanged), not conv4 (384 ->
 * 256: 68 -> 82 ms when blocked) or conv5. The blocks must fit where M
 * goes, max(Q, R) x 36 x Tp floats. */
static int out_block(int Q, int R, long Tp, int threads) {
    long rb = (3L << 16) / pitch(Tp) / MR * MR, blocks = rb ? (R + rb - 1) / rb : 0;
    if (rb < MR || rb >= R || threads * rb > (Q > R ? Q : R) || blocks * Q >= 3L * R) return 0;
    return (int)rb;
}

/* out (+)= the convolution of in (Q channels) by the transformed kernels U (R
 * outputs, in panels). room: the floats of scratch at V, for V and M. */
static void conv_chunks(float *out, const float *in, const float *U, int K, int Q, int R, int H, int W, int n, int cap, int chunk,
                        const Epilogue *ep, float *V, long room) {
    long per = netc_wino_tiles(K, H, W), total = n * per, Tc = own_tiles(Q, R, room, omp_get_max_threads());
    if (Tc) {
#pragma omp parallel
        {
            int me = omp_get_thread_num(), threads = omp_get_num_threads();
            float *Vt = V + me * (Q + R) * pitch(Tc), *Mt = Vt + Q * pitch(Tc);
            for (long t0 = me * Tc; t0 < total; t0 += threads * Tc) {
                long T = total - t0 < Tc ? total - t0 : Tc;
                transform_tiles(Vt, Tc, in, K, Q, H, W, t0, T, cap, 6); /* nested: runs on this thread */
                for (int p = 0; p < 36; p++) product(Mt + p * Tc, pitch(Tc), U + u_at(p, 0, 0, R, Q), Vt + p * Tc, pitch(Tc), R, Q, T);
                transform_output(out, Mt, Tc, K, R, H, W, t0, T, cap, ep);
            }
        }
        return;
    }
    long Tpmax = round_up(chunk * per);
    float *M = V + (Q > R ? Q : R) * pitch(Tpmax);
    for (int b0 = 0; b0 < n; b0 += chunk) {
        int bc = n - b0 < chunk ? n - b0 : chunk;
        long T = bc * per, Tp = round_up(T);
        transform_tiles(V, Tp, in, K, Q, H, W, b0 * per, T, cap, 6);
        int rb = out_block(Q, R, Tp, omp_get_max_threads());
        if (!rb) {
#pragma omp parallel for schedule(static)
            for (int p = 0; p < 36; p++) /* M[p] = U[p] . V[p]: [R][Q] . [Q][T] */
                product(M + p * Tp, pitch(Tp), U + u_at(p, 0, 0, R, Q), V + p * Tp, pitch(Tp), R, Q, T);
            transform_output(out, M, Tp, K, R, H, W, b0 * per, T, cap, ep);
            continue;
        }
        long plane = ep->pool == 2 ? (long)(H / 2) * (W / 2) : (long)H * W; /* one output channel's image */
#pragma omp parallel
        {
            float *Mt = M + omp_get_thread_num() * rb * pitch(Tp);
#pragma omp for schedule(dynamic, 1)
            for (int r0 = 0; r0 < R; r0 += rb) { /* M[p] = U[p][r0 ..] . V[p], then those channels' outputs */
                int rows = R - r0 < rb ? R - r0 : rb;
                for (int p = 0; p < 36; p++) product(Mt + p * Tp, pitch(Tp), U + u_at(p, r0, 0, R, Q), V + p * Tp, pitch(Tp), rows, Q, T);
                Epilogue eb = *ep;
                eb.scale = ep->scale ? ep->scale + r0 : NULL, eb.shift = ep->shift ? ep->shift + r0 : NULL;
                transform_output(out + r0 * cap * plane, Mt, Tp, K, rows, H, W, b0 * per, T, cap, &eb); /* nested: this thread */
            }
        }
    }
}

void netc_wino_forward(float *out, const float *in, const float *weight, const float *scale, const float *shift, int relu, int pool,
                       int K, int C, int OC, int H, int W, int n, int cap, int chunk, float *scratch) {
    const Epilogue ep = {scale, shift, relu, 0, pool};
    long u = 36 * panel_rows(OC) * C;
    float *U = scratch, *V = U + u; /* then V and M: the rest of the scratch */
    transform_filter(U, weight, K, OC, C, 0);
    conv_chunks(out, in, U, K, C, OC, H, W, n, cap, chunk, &ep, V, netc_wino_scratch(K, C, OC, H, W, chunk) - u);
}

void netc_wino_backward_input(float *din, const float *dout, const float *weight, int K, int C, int OC, int H, int W, int n, int cap,
                              int chunk, int accumulate, float *scratch) {
    long u = 36 * panel_rows(C) * OC;
    float *U = scratch, *V = U + u; /* then V and M: the rest of the scratch */
    const Epilogue ep = {NULL, NULL, 0, accumulate, 1};
    transform_filter(U, weight, K, C, OC, 1);
    conv_chunks(din, dout, U, K, OC, C, H, W, n, cap, chunk, &ep, V, netc_wino_scratch(K, C, OC, H, W, chunk) - u);
}

/* The weight gradient with each thread on its own chunks (as in conv_chunks),
 * summing into its own dU; the sums are added up at the end. */
static void weight_chunks_own(float *dU, const float *dout, const float *in, int K, int C, int OC, int H, int W, int n, int cap,
                              float *V, long Tc) {
    long total = n * netc_wino_tiles(K, H, W), size = 36L * C * OC;
    int threads = omp_get_max_threads(); /* room was planned for this many */
    float *extra = V + threads * (C + OC) * pitch(Tc); /* dU of threads 1, 2, ... */
#pragma omp parallel num_threads(threads)
    {
        int me = omp_get_thread_num(), team = omp_get_num_threads(); /* team <= threads */
        float *Vt = V + me * (C + OC) * pitch(Tc), *DYt = Vt + C * pitch(Tc), *dUt = me ? extra + (me - 1) * size : dU;
        if (me * Tc >= total) memset(dUt, 0, sizeof(float) * size); /* no chunk for this thread */
        for (long t0 = me * Tc; t0 < total; t0 += team * Tc) {
            long T = total - t0 < Tc ? total - t0 : Tc;
            transform_tiles(Vt, Tc, in, K, C, H, W, t0, T, cap, 6); /* nested: runs on this thread */
            transform_tiles(DYt, Tc, dout, K, OC, H, W, t0, T, cap, netc_wino_m(K));
            for (int p = 0; p < 36; p++)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, OC, C, (int)T, 1.0f, DYt + p * Tc, (int)pitch(Tc), Vt + p * Tc,
                            (int)pitch(Tc), t0 == me * Tc ? 0.0f : 1.0f, dUt + (long)p * OC * C, C);
        }
#pragma omp barrier
#pragma omp for schedule(static)
        for (long i = 0; i < size; i++)
            for (int t = 1; t < team; t++) dU[i] += extra[(t - 1) * size + i];
    }
}

void netc_wino_backward_weight(float *dweight, const float *dout, const float *in, int K, int C, int OC, int H, int W, int n, int cap,
                               int chunk, float *scratch) {
    long per = netc_wino_tiles(K, H, W), wide = C > OC ? C : OC, Tpmax = round_up(chunk * per);
    long room = netc_wino_scratch(K, C, OC, H, W, chunk) - 36L * C * OC;
    int threads = omp_get_max_threads();
    float *dU = scratch, *V = dU + 36L * C * OC, *DY = V + wide * pitch(Tpmax);
    long Tc = own_tiles(C, OC, room - (threads - 1) * 36L * C * OC, threads);
    if (Tc) {
        weight_chunks_own(dU, dout, in, K, C, OC, H, W, n, cap, V, Tc);
        filter_gradient(dweight, dU, K, OC, C);
        return;
    }
    for (int b0 = 0; b0 < n; b0 += chunk) {
        int bc = n - b0 < chunk ? n - b0 : chunk;
        long T = bc * per, Tp = round_up(T);
        transform_tiles(V, Tp, in, K, C, H, W, b0 * per, T, cap, 6);
        transform_tiles(DY, Tp, dout, K, OC, H, W, b0 * per, T, cap, netc_wino_m(K));
#pragma omp parallel for schedule(static)
        for (int p = 0; p < 36; p++) /* dU[p] (+)= DY[p] . V[p]^T: [OC][T] . [T][C] */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, OC, C, (int)T, 1.0f, DY + p * Tp, (int)pitch(Tp), V + p * Tp,
                        (int)pitch(Tp), b0 ? 1.0f : 0.0f, dU + (long)p * OC * C, C);
    }
    filter_gradient(dweight, dU, K, OC, C);
}
