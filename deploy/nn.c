/* nn.c: the kernels of a deployed net (netc --deploy).
 *
 * netc copies the sections a net uses into deploy/<net>/<net>.c, each one as
 * it stands here: a section runs from its "---- nn:NAME" line to the next,
 * and names the sections it needs. One image at a time, activations laid out
 * [channels][height][width], weights in the order the kernels read them
 * (netc packs them). C99, <math.h>, <stdint.h> and <string.h>; no
 * allocation, no writable globals: every buffer is the caller's.
 *
 * Vectors are GNU C's vector extension (gcc, clang) where the target has
 * SIMD registers: 16 floats with AVX-512, 8 with AVX, 4 with NEON or SSE.
 * Elsewhere, or with NN_NO_VECTORS, a "vector" is one float and the same
 * code is plain C99. Threads: OpenMP where the file is compiled with
 * -fopenmp, at most NN_THREADS of them; without it the pragmas vanish. */

/* ---- nn:common ------------------------------------------------------------------- */
#include <math.h>
#include <stdint.h>
#include <string.h>

/* helpers a net may not call: no warning (gcc, clang) */
#ifdef __GNUC__
#define NN_UNUSED __attribute__((unused))
#else
#define NN_UNUSED
#endif

#if defined(__GNUC__) && !defined(NN_NO_VECTORS) && defined(__AVX512F__)
#define NN_VW 16
#elif defined(__GNUC__) && !defined(NN_NO_VECTORS) && defined(__AVX__)
#define NN_VW 8
#elif defined(__GNUC__) && !defined(NN_NO_VECTORS) && (defined(__ARM_NEON) || defined(__SSE2__))
#define NN_VW 4
#else
#define NN_VW 1
#endif

#if NN_VW > 1
typedef float nn_vf __attribute__((vector_size(4 * NN_VW)));
typedef int32_t nn_vi __attribute__((vector_size(4 * NN_VW)));
/* a where mask m is set, else b */
static NN_UNUSED nn_vf nn_vsel(nn_vi m, nn_vf a, nn_vf b) { return (nn_vf)(((nn_vi)a & m) | ((nn_vi)b & ~m)); }
static NN_UNUSED nn_vf nn_vmax(nn_vf a, nn_vf b) { return nn_vsel(a > b, a, b); }
static NN_UNUSED float nn_vlane(nn_vf v, int i) { return v[i]; }
#else
typedef float nn_vf;
static NN_UNUSED nn_vf nn_vmax(nn_vf a, nn_vf b) { return a > b ? a : b; }
static NN_UNUSED float nn_vlane(nn_vf v, int i) { return (void)i, v; }
#endif

static NN_UNUSED nn_vf nn_vload(const float *p) { /* any alignment */
    nn_vf v;
    memcpy(&v, p, sizeof v);
    return v;
}
static NN_UNUSED void nn_vstore(float *p, nn_vf v) { memcpy(p, &v, sizeof v); }
static NN_UNUSED nn_vf nn_vsplat(float x) { return (nn_vf){0} + x; }

/* The activation a layer applies as it stores its output: none, or a relu
 * whose negative side is slope * x (0: the plain relu). */
enum { NN_LINEAR, NN_RELU };
static NN_UNUSED float nn_act(float v, int act, float slope) { return act == NN_RELU && !(v > 0.0f) ? v * slope : v; }
static NN_UNUSED nn_vf nn_vact(nn_vf v, int act, float slope) {
#if NN_VW > 1
    return act == NN_RELU ? nn_vsel(v > 0.0f, v, v * slope) : v;
#else
    return nn_act(v, act, slope);
#endif
}

#ifndef NN_THREADS
#define NN_THREADS 1
#endif
#ifdef _OPENMP
#include <omp.h>
#define NN_PRAGMA(x) _Pragma(#x)
#define NN_PARALLEL_FOR NN_PRAGMA(omp parallel for schedule(static) num_threads(NN_THREADS))
static NN_UNUSED int nn_thread(void) { return omp_get_thread_num(); }
#else
#define NN_PARALLEL_FOR
static NN_UNUSED int nn_thread(void) { return 0; }
#endif

static NN_UNUSED int nn_min(int a, int b) { return a < b ? a : b; }
static NN_UNUSED int nn_max(int a, int b) { return a > b ? a : b; }

/* ---- nn:gemm (needs common) -------------------------------------------------------- */

/* The one matrix product every conv runs: a block of NN_MR output channels
 * by NN_NB columns (pixels, or Winograd tiles), whose sums stay in
 * registers while k runs over the whole depth. Weights come packed by netc
 * in blocks of NN_MR rows, [K][NN_MR] each (rows past the last channel are
 * zeros), so a step of k reads NN_MR consecutive floats and NN_NV vectors of
 * the column panel. NN_MR is fixed because the packing is in the file;
 * NN_NV, the vectors per row, follows the registers the target has. */
#define NN_MR 8
#if NN_VW == 16 || defined(__ARM_NEON)
#define NN_NV 2 /* 32 vector registers: 16 sums */
#else
#define NN_NV 1 /* 16: 8 sums */
#endif
#define NN_NB (NN_NV * NN_VW)

/* c[i][j] = act(bias[i] + sum over k of a[k][i] * b[k][j]) for i < mr, j < nb:
 * a one packed block, b rows ldb floats apart (NN_NB readable in each), c
 * rows ldc apart. bias may be NULL. */
static void nn_gemm_block(int K, const float *a, const float *b, long ldb, float *c, long ldc, int mr, int nb,
                          const float *bias, int act, float slope) {
    nn_vf acc[NN_MR][NN_NV];
    int i, j, k;
    for (i = 0; i < NN_MR; i++)
        for (j = 0; j < NN_NV; j++) acc[i][j] = nn_vsplat(bias && i < mr ? bias[i] : 0.0f);
    for (k = 0; k < K; k++) {
        nn_vf bv[NN_NV];
        for (j = 0; j < NN_NV; j++) bv[j] = nn_vload(b + k * ldb + j * NN_VW);
        for (i = 0; i < NN_MR; i++) {
            float ai = a[k * NN_MR + i];
            for (j = 0; j < NN_NV; j++) acc[i][j] += ai * bv[j];
        }
    }
    for (i = 0; i < mr; i++) {
        if (nb == NN_NB) {
            for (j = 0; j < NN_NV; j++) nn_vstore(c + i * ldc + j * NN_VW, nn_vact(acc[i][j], act, slope));
        } else {
            float row[NN_NB];
            for (j = 0; j < NN_NV; j++) nn_vstore(row + j * NN_VW, nn_vact(acc[i][j], act, slope));
            memcpy(c + i * ldc, row, sizeof(float) * (size_t)nb);
        }
    }
}

/* ---- nn:convspec (needs common) -------------------------------------------------------- */

/* A convolution: out [oc][oh][ow] from in [c][h][w], kernel kh x kw, stride,
 * padding, groups, and the activation it applies as it stores. */
typedef struct {
    int c, h, w, oc, oh, ow;
    int kh, kw, sh, sw, ph, pw, groups;
    int act;
    float slope;
} NnConv;

/* ---- nn:conv (needs gemm convspec) ------------------------------------------------------ */

/* Any convolution: columns of its im2col matrix (rows (channel, ky, kx),
 * one column per output pixel) are built NN_NB at a time in a panel, then
 * multiplied by each block of weights; a 1x1 conv with stride 1 and no
 * padding reads its input rows as they are. Weights: per group, packed
 * blocks of NN_MR output channels, [k = (c, ky, kx)][NN_MR]. Scratch:
 * NN_CONV_SCRATCH floats per thread. */

#define NN_CONV_SCRATCH(c_per_group, kh, kw) ((long)(c_per_group) * (kh) * (kw) * NN_NB)

/* Columns n0 .. n0 + nb of group g's im2col matrix into panel ([K][NN_NB], zeros past nb). */
static void nn_conv_panel(const NnConv *p, const float *in, int n0, int nb, float *panel) {
    int y0[NN_NB], x0[NN_NB], j, c, ky, kx;
    int cg = p->c / p->groups;
    for (j = 0; j < NN_NB; j++) {
        int n = n0 + nb - 1 < n0 + j ? n0 + nb - 1 : n0 + j; /* past nb: repeat the last (then zeroed) */
        y0[j] = n / p->ow * p->sh - p->ph, x0[j] = n % p->ow * p->sw - p->pw;
    }
    for (c = 0; c < cg; c++)
        for (ky = 0; ky < p->kh; ky++)
            for (kx = 0; kx < p->kw; kx++) {
                const float *plane = in + (long)c * p->h * p->w;
                float *row = panel + ((long)(c * p->kh + ky) * p->kw + kx) * NN_NB;
                for (j = 0; j < NN_NB; j++) {
                    int iy = y0[j] + ky, ix = x0[j] + kx;
                    row[j] = j < nb && iy >= 0 && iy < p->h && ix >= 0 && ix < p->w ? plane[iy * p->w + ix] : 0.0f;
                }
            }
}

static void nn_conv(const NnConv *p, float *out, const float *in, const float *w, const float *bias, float *scratch) {
    int cg = p->c / p->groups, og = p->oc / p->groups, K = cg * p->kh * p->kw, N = p->oh * p->ow;
    int blocks = (og + NN_MR - 1) / NN_MR, panels = (N + NN_NB - 1) / NN_NB, g, t;
    int pointwise = p->kh == 1 && p->kw == 1 && p->sh == 1 && p->sw == 1 && p->ph == 0 && p->pw == 0;
    for (g = 0; g < p->groups; g++) {
        const float *gin = in + (long)g * cg * p->h * p->w;
        NN_PARALLEL_FOR
        for (t = 0; t < panels; t++) {
            int n0 = t * NN_NB, nb = nn_min(NN_NB, N - n0), mb;
            const float *b = gin + n0;
            long ldb = N;
            if (!pointwise || nb < NN_NB) {
                float *panel = scratch + nn_thread() * NN_CONV_SCRATCH(cg, p->kh, p->kw);
                nn_conv_panel(p, gin, n0, nb, panel);
                b = panel, ldb = NN_NB;
            }
            for (mb = 0; mb < blocks; mb++) {
                int o = g * og + mb * NN_MR;
                nn_gemm_block(K, w + ((long)g * blocks + mb) * K * NN_MR, b, ldb, out + (long)o * N + n0, N,
                              nn_min(NN_MR, og - mb * NN_MR), nb, bias ? bias + o : NULL, p->act, p->slope);
            }
        }
    }
}

/* ---- nn:direct (needs convspec) ------------------------------------------------------- */

/* A stride-1 convolution with few taps per output (a first layer: SimpleNet's
 * 9x9 on one channel, DeeperNet's 3x3 from one channel), whose im2col panels
 * would cost as much as the product: straight loops over each output row, in
 * strips of NN_VW pixels, the sums of up to NN_DB output channels in
 * registers. Padding comes from a zero-bordered copy of the input in
 * scratch (NN_DIRECT_SCRATCH floats). Weights as PyTorch lays them out,
 * [oc][c][kh][kw]; needs ow >= NN_VW (the last strip overlaps the one
 * before it). */
#if NN_VW == 16 || defined(__ARM_NEON)
#define NN_DB 16
#else
#define NN_DB 8
#endif
#define NN_DIRECT_SCRATCH(c, h, w, ph, pw) ((ph) || (pw) ? (long)(c) * ((h) + 2 * (ph)) * ((w) + 2 * (pw)) : 0L)

static void nn_conv_direct(const NnConv *p, float *out, const float *in, const float *w, const float *bias, float *scratch) {
    int H = p->h + 2 * p->ph, W = p->w + 2 * p->pw, K = p->c * p->kh * p->kw, oy;
    if (p->ph || p->pw) { /* the zero-bordered copy */
        int c, y;
        memset(scratch, 0, sizeof(float) * (size_t)NN_DIRECT_SCRATCH(p->c, p->h, p->w, p->ph, p->pw));
        for (c = 0; c < p->c; c++)
            for (y = 0; y < p->h; y++)
                memcpy(scratch + ((long)c * H + y + p->ph) * W + p->pw, in + ((long)c * p->h + y) * p->w, sizeof(float) * (size_t)p->w);
        in = scratch;
    }
    NN_PARALLEL_FOR
    for (oy = 0; oy < p->oh; oy++) {
        int s0, o0, o, c, ky, kx;
        for (s0 = 0; s0 < p->ow; s0 += NN_VW) {
            int ox0 = s0 + NN_VW <= p->ow ? s0 : p->ow - NN_VW;
            for (o0 = 0; o0 < p->oc; o0 += NN_DB) {
                int ob = nn_min(NN_DB, p->oc - o0);
                nn_vf acc[NN_DB];
                for (o = 0; o < NN_DB; o++) acc[o] = nn_vsplat(bias && o < ob ? bias[o0 + o] : 0.0f);
                for (c = 0; c < p->c; c++)
                    for (ky = 0; ky < p->kh; ky++) {
                        const float *x = in + ((long)c * H + oy + ky) * W + ox0;
                        const float *wk = w + (long)o0 * K + (c * p->kh + ky) * p->kw;
                        for (kx = 0; kx < p->kw; kx++) {
                            nn_vf xv = nn_vload(x + kx);
                            for (o = 0; o < ob; o++) acc[o] += wk[(long)o * K + kx] * xv;
                        }
                    }
                for (o = 0; o < ob; o++)
                    nn_vstore(out + ((long)(o0 + o) * p->oh + oy) * p->ow + ox0, nn_vact(acc[o], p->act, p->slope));
            }
        }
    }
}

/* ---- nn:winograd (needs gemm) -------------------------------------------------------- */

/* 3x3 convolutions with stride 1 and padding 1 by Winograd's F(4x4, 3x3)
 * (Lavin and Gray, 2015): each 4x4 block of outputs (a tile) from the 6x6
 * patch of input around it, transformed (B^T d B), multiplied point by point
 * with the transformed kernel (G g G^T, computed by netc) and summed over
 * input channels, then transformed back (A^T m A): 36 matrix products
 * instead of 144 multiply-adds per output and channel pair being 16. Tiles go
 * NN_NB at a time, one per lane:
 *   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
 *   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
 * Weights: [36][blocks of NN_MR output channels][c][NN_MR]. Scratch:
 * NN_WINO_SCRATCH floats per thread: the transformed input and the products
 * of one group of tiles. */
typedef struct {
    int c, h, w, oc;
    int act;
    float slope;
} NnWino;

#define NN_WINO_OCPAD(oc) (((oc) + NN_MR - 1) / NN_MR * NN_MR)
#define NN_WINO_SCRATCH(c, oc) (36L * ((c) + NN_WINO_OCPAD(oc)) * NN_NB)

/* o = B^T d, on a lane per tile */
static void nn_wino_bt(nn_vf *o, const nn_vf *d, int stride) {
    nn_vf d0 = d[0], d1 = d[stride], d2 = d[2 * stride], d3 = d[3 * stride], d4 = d[4 * stride], d5 = d[5 * stride];
    o[0] = 4.0f * d0 - 5.0f * d2 + d4;
    o[stride] = -4.0f * (d1 + d2) + d3 + d4;
    o[2 * stride] = 4.0f * (d1 - d2) - d3 + d4;
    o[3 * stride] = 2.0f * (d3 - d1) - d2 + d4;
    o[4 * stride] = 2.0f * (d1 - d3) - d2 + d4;
    o[5 * stride] = 4.0f * d1 - 5.0f * d3 + d5;
}

/* o = A^T m (4 of 6) */
static void nn_wino_at(nn_vf *o, const nn_vf *m, int stride) {
    nn_vf s12 = m[stride] + m[2 * stride], d12 = m[stride] - m[2 * stride];
    nn_vf s34 = m[3 * stride] + m[4 * stride], d34 = m[3 * stride] - m[4 * stride];
    o[0] = m[0] + s12 + s34;
    o[stride] = d12 + 2.0f * d34;
    o[2 * stride] = s12 + 4.0f * s34;
    o[3 * stride] = d12 + 8.0f * d34 + m[5 * stride];
}

/* Tiles t0 .. t0 + nb of every input channel, transformed: v[36][c][NN_NB]. */
static void nn_wino_input(const NnWino *p, const float *in, int t0, int nb, float *v) {
    int tw = (p->w + 3) / 4, c, j, q, r, s;
    for (c = 0; c < p->c; c++) {
        const float *plane = in + (long)c * p->h * p->w;
        float d[36][NN_NB];
        nn_vf dv[36], tv[36];
        for (j = 0; j < NN_NB; j++) {
            int t = t0 + (j < nb ? j : 0), y0 = t / tw * 4 - 1, x0 = t % tw * 4 - 1;
            for (r = 0; r < 6; r++)
                for (s = 0; s < 6; s++) {
                    int y = y0 + r, x = x0 + s;
                    d[r * 6 + s][j] = y >= 0 && y < p->h && x >= 0 && x < p->w ? plane[y * p->w + x] : 0.0f;
                }
        }
        for (q = 0; q < NN_NB; q += NN_VW) {
            for (r = 0; r < 36; r++) dv[r] = nn_vload(d[r] + q);
            for (s = 0; s < 6; s++) nn_wino_bt(tv + s, dv + s, 6);         /* columns: B^T d */
            for (r = 0; r < 6; r++) nn_wino_bt(dv + 6 * r, tv + 6 * r, 1); /* rows: (B^T d) B */
            for (r = 0; r < 36; r++) nn_vstore(v + ((long)r * p->c + c) * NN_NB + q, dv[r]);
        }
    }
}

/* Products m[36][oc][NN_NB] back to outputs: A^T m A, bias, activation, stored
 * where each tile lies (clipped at the right and bottom edges). */
static void nn_wino_output(const NnWino *p, const float *m, const float *bias, int t0, int nb, float *out) {
    int tw = (p->w + 3) / 4, ocpad = NN_WINO_OCPAD(p->oc), o, j, q, r, s;
    for (o = 0; o < p->oc; o++) {
        nn_vf mv[36], tv[24], yv[16];
        float y[16][NN_NB];
        for (q = 0; q < NN_NB; q += NN_VW) {
            for (r = 0; r < 36; r++) mv[r] = nn_vload(m + ((long)r * ocpad + o) * NN_NB + q);
            for (s = 0; s < 6; s++) nn_wino_at(tv + s, mv + s, 6);        /* A^T m: 4 rows of 6 */
            for (r = 0; r < 4; r++) nn_wino_at(yv + 4 * r, tv + 6 * r, 1); /* (A^T m) A: 4 x 4 */
            for (r = 0; r < 16; r++) nn_vstore(y[r] + q, nn_vact(yv[r] + (bias ? bias[o] : 0.0f), p->act, p->slope));
        }
        for (j = 0; j < nb; j++) {
            int t = t0 + j, oy = t / tw * 4, ox = t % tw * 4;
            float *dst = out + ((long)o * p->h + oy) * p->w + ox;
            int rows = nn_min(4, p->h - oy), cols = nn_min(4, p->w - ox);
            for (r = 0; r < rows; r++)
                for (s = 0; s < cols; s++) dst[r * p->w + s] = y[r * 4 + s][j];
        }
    }
}

static void nn_wino(const NnWino *p, float *out, const float *in, const float *u, const float *bias, float *scratch) {
    int tiles = (p->h + 3) / 4 * ((p->w + 3) / 4), groups = (tiles + NN_NB - 1) / NN_NB;
    int ocpad = NN_WINO_OCPAD(p->oc), blocks = ocpad / NN_MR, t;
    NN_PARALLEL_FOR
    for (t = 0; t < groups; t++) {
        float *v = scratch + nn_thread() * NN_WINO_SCRATCH(p->c, p->oc), *m = v + 36L * p->c * NN_NB;
        int t0 = t * NN_NB, nb = nn_min(NN_NB, tiles - t0), pt, mb;
        nn_wino_input(p, in, t0, nb, v);
        for (pt = 0; pt < 36; pt++)
            for (mb = 0; mb < blocks; mb++)
                nn_gemm_block(p->c, u + ((long)pt * blocks + mb) * p->c * NN_MR, v + (long)pt * p->c * NN_NB, NN_NB,
                              m + ((long)pt * ocpad + mb * NN_MR) * NN_NB, NN_NB, NN_MR, NN_NB, NULL, NN_LINEAR, 0.0f);
        nn_wino_output(p, m, bias, t0, nb, out);
    }
}

/* ---- nn:linear (needs common) ---------------------------------------------------------- */

/* out[o] = act(bias[o] + sum over i of w[o][i] * x[i]): w as PyTorch lays it
 * out, [out][in]; four rows at a time, each row's sum in vector lanes. */
static void nn_linear(int in, int outs, float *out, const float *x, const float *w, const float *bias, int act, float slope) {
    int o, body = in - in % NN_VW;
    NN_PARALLEL_FOR
    for (o = 0; o < outs; o += 4) {
        int rows = nn_min(4, outs - o), r, i, l;
        nn_vf acc[4];
        for (r = 0; r < 4; r++) acc[r] = nn_vsplat(0.0f);
        for (i = 0; i < body; i += NN_VW) {
            nn_vf xv = nn_vload(x + i);
            for (r = 0; r < rows; r++) acc[r] += nn_vload(w + (long)(o + r) * in + i) * xv;
        }
        for (r = 0; r < rows; r++) {
            const float *row = w + (long)(o + r) * in;
            float s = 0.0f;
            for (l = 0; l < NN_VW; l++) s += nn_vlane(acc[r], l);
            for (i = body; i < in; i++) s += row[i] * x[i];
            out[o + r] = nn_act(s + (bias ? bias[o + r] : 0.0f), act, slope);
        }
    }
}

/* ---- nn:poolwin (needs common) ---------------------------------------------------------- */

/* Max and average pooling over windows of kh x kw, PyTorch's rules: windows
 * may start in the padding and, with ceil, end past it; a max ignores what
 * is outside the input, an average divides by the window's size inside the
 * padding (count_include_pad). */
typedef struct {
    int c, h, w, oh, ow;
    int kh, kw, sh, sw, ph, pw;
    int act;
    float slope;
} NnPool;

/* The part of window (oy, ox) inside the input, and (for averages) its divisor. */
static void nn_pool_window(const NnPool *p, int oy, int ox, int *y0, int *y1, int *x0, int *x1, int *div) {
    int ys = oy * p->sh - p->ph, xs = ox * p->sw - p->pw;
    int ye = nn_min(ys + p->kh, p->h + p->ph), xe = nn_min(xs + p->kw, p->w + p->pw);
    *div = (ye - ys) * (xe - xs);
    *y0 = nn_max(ys, 0), *x0 = nn_max(xs, 0), *y1 = nn_min(ye, p->h), *x1 = nn_min(xe, p->w);
}

/* ---- nn:maxpool (needs poolwin) --------------------------------------------------------- */

static void nn_maxpool(const NnPool *p, float *out, const float *in) {
    int c;
    NN_PARALLEL_FOR
    for (c = 0; c < p->c; c++) {
        const float *x = in + (long)c * p->h * p->w;
        float *y = out + (long)c * p->oh * p->ow;
        int oy, ox, iy, ix, y0, y1, x0, x1, div;
        for (oy = 0; oy < p->oh; oy++)
            for (ox = 0; ox < p->ow; ox++) {
                float best = -INFINITY;
                nn_pool_window(p, oy, ox, &y0, &y1, &x0, &x1, &div);
                for (iy = y0; iy < y1; iy++)
                    for (ix = x0; ix < x1; ix++) best = x[iy * p->w + ix] > best ? x[iy * p->w + ix] : best;
                y[oy * p->ow + ox] = nn_act(best, p->act, p->slope);
            }
    }
}

/* ---- nn:avgpool (needs poolwin) --------------------------------------------------------- */

static void nn_avgpool(const NnPool *p, float *out, const float *in) {
    int c;
    NN_PARALLEL_FOR
    for (c = 0; c < p->c; c++) {
        const float *x = in + (long)c * p->h * p->w;
        float *y = out + (long)c * p->oh * p->ow;
        int oy, ox, iy, ix, y0, y1, x0, x1, div;
        for (oy = 0; oy < p->oh; oy++)
            for (ox = 0; ox < p->ow; ox++) {
                float s = 0.0f;
                nn_pool_window(p, oy, ox, &y0, &y1, &x0, &x1, &div);
                for (iy = y0; iy < y1; iy++)
                    for (ix = x0; ix < x1; ix++) s += x[iy * p->w + ix];
                y[oy * p->ow + ox] = nn_act(s * (1.0f / (float)div), p->act, p->slope);
            }
    }
}

/* ---- nn:gap (needs common) -------------------------------------------------------------- */

/* Global average pooling: out[c] = the mean of plane c (hw values), summed in double. */
static void nn_global_avgpool(int c, int hw, float *out, const float *in, int act, float slope) {
    int k;
    for (k = 0; k < c; k++) {
        double s = 0.0;
        int i;
        for (i = 0; i < hw; i++) s += in[(long)k * hw + i];
        out[k] = nn_act((float)(s / hw), act, slope);
    }
}

/* ---- nn:add (needs common) -------------------------------------------------------------- */

/* out = act(in[0] + in[1] + ...), n values each (out may be one of them). */
static void nn_add(long n, float *out, const float *const *in, int k, int act, float slope) {
    long i, body = n - n % NN_VW;
    int j;
    for (i = 0; i < body; i += NN_VW) {
        nn_vf s = nn_vload(in[0] + i);
        for (j = 1; j < k; j++) s += nn_vload(in[j] + i);
        nn_vstore(out + i, nn_vact(s, act, slope));
    }
    for (i = body; i < n; i++) {
        float s = in[0][i];
        for (j = 1; j < k; j++) s += in[j][i];
        out[i] = nn_act(s, act, slope);
    }
}

/* ---- nn:scale (needs common) ------------------------------------------------------------ */

/* Per channel, out = act(in * scale[c] + shift[c]) over hw values: a batch
 * norm that had no conv to fold into (or just the activation: scale NULL). */
static void nn_scale(int c, long hw, float *out, const float *in, const float *scale, const float *shift, int act, float slope) {
    int k;
    for (k = 0; k < c; k++) {
        float a = scale ? scale[k] : 1.0f, b = shift ? shift[k] : 0.0f;
        long i;
        for (i = 0; i < hw; i++) out[k * hw + i] = nn_act(in[k * hw + i] * a + b, act, slope);
    }
}

/* ---- nn:lrn (needs common) -------------------------------------------------------------- */

/* Local response normalisation across channels, as PyTorch's
 * LocalResponseNorm: y_c = x_c (k + alpha / size * sum of x_j^2 over j in
 * c - size/2 .. c + (size-1)/2)^-beta, channels outside counting as zeros.
 * One channel at a time, its window's squares summed over whole planes in
 * scratch (hw floats, NN_LRN_SCRATCH). */
typedef struct {
    int c;
    long hw;
    int size;
    float alpha, beta, k;
    int act;
    float slope;
} NnLrn;

#define NN_LRN_SCRATCH(hw) ((long)(hw))

static void nn_lrn(const NnLrn *p, float *out, const float *in, float *scratch) {
    int ch, j;
    long i;
    for (ch = 0; ch < p->c; ch++) {
        const float *x = in + ch * p->hw;
        float *y = out + ch * p->hw;
        memset(scratch, 0, sizeof(float) * (size_t)p->hw);
        for (j = nn_max(ch - p->size / 2, 0); j <= nn_min(ch + (p->size - 1) / 2, p->c - 1); j++) {
            const float *xj = in + j * p->hw;
            for (i = 0; i < p->hw; i++) scratch[i] += xj[i] * xj[i];
        }
        for (i = 0; i < p->hw; i++) y[i] = nn_act(x[i] * powf(p->k + p->alpha / (float)p->size * scratch[i], -p->beta), p->act, p->slope);
    }
}

/* ---- nn:resize (needs common) ----------------------------------------------------------- */

/* Bilinear resizing of each plane to oh x ow, as PyTorch's
 * F.interpolate(mode="bilinear", align_corners=False): output row oy mixes
 * input rows rows[oy].i0 and .i1 by weights .w0 and .w1, and each column
 * likewise by cols[ox] (netc works the tables out; the trainer reads the same). */
typedef struct {
    int i0, i1;
    float w0, w1;
} NnTap;

typedef struct {
    int c, h, w, oh, ow;
    const NnTap *rows, *cols;
    int act;
    float slope;
} NnResize;

static void nn_resize(const NnResize *p, float *out, const float *in) {
    int ch;
    NN_PARALLEL_FOR
    for (ch = 0; ch < p->c; ch++) {
        const float *x = in + (long)ch * p->h * p->w;
        float *y = out + (long)ch * p->oh * p->ow;
        int oy, ox;
        for (oy = 0; oy < p->oh; oy++) {
            const NnTap r = p->rows[oy];
            const float *x0 = x + (long)r.i0 * p->w, *x1 = x + (long)r.i1 * p->w;
            for (ox = 0; ox < p->ow; ox++) {
                const NnTap c = p->cols[ox];
                float v = r.w0 * (c.w0 * x0[c.i0] + c.w1 * x0[c.i1]) + r.w1 * (c.w0 * x1[c.i0] + c.w1 * x1[c.i1]);
                y[oy * p->ow + ox] = nn_act(v, p->act, p->slope);
            }
        }
    }
}

/* ---- nn:softmax (needs common) ---------------------------------------------------------- */

/* probs = softmax(logits), as the trainer computes it: exponentials of the
 * logits less their maximum, summed in double. */
static void nn_softmax(int n, float *probs, const float *logits) {
    float top = logits[0];
    double sum = 0.0;
    int k;
    for (k = 1; k < n; k++) top = fmaxf(top, logits[k]);
    for (k = 0; k < n; k++) sum += probs[k] = expf(logits[k] - top);
    for (k = 0; k < n; k++) probs[k] = (float)(probs[k] / sum);
}
