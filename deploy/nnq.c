/* nnq.c: the int8 kernels of a deployed net (netc --deploy --quantize int8).
 *
 * Sections as in nn.c (netc copies those a net uses), built on nn.c's common
 * section and its descriptors. Activations are bytes: q in 0..255 stands for
 * scale * (q - zero_point), one scale and zero point per tensor (a tensor
 * after a relu has zero point 0 and all 256 values for its positive side).
 * Weights are signed bytes w in -127..127 standing for scale[o] * w, one
 * scale per output channel. Sums are int32, and a layer's sums come back to
 * bytes by a fixed-point multiplier per output channel (netc computes them):
 *
 *     q = clamp(zero_point + rq(sum + bias, mult, shift), lo, 255)
 *
 * rq is gemmlowp's (and TFLite's, and CMSIS-NN's): a rounding doubling high
 * multiply by mult (a Q31 number in [0.5, 1)), then a rounding shift right
 * (or a shift left first, where the multiplier is 1 or more). The bias holds
 * the layer's bias in sum units less the input's zero point times each
 * channel's weights, so padding is the zero point and the sums need no
 * correction. The layer whose output is the logits gives floats instead:
 * (sum + bias) * scale[o].
 *
 * Where the target has integer dot products they do the sums: AVX512-VNNI's
 * vpdpbusd (bytes times signed bytes, four at a time, into int32), AVX2's
 * vpmaddwd on bytes widened to 16 bits (vpmaddubsw would take bytes as they
 * are, but its 16-bit pair sums saturate at 255 * 127 * 2), chosen when the
 * file is compiled; elsewhere plain C of the same results. Every path gives
 * the same bytes: integer arithmetic is exact. */

/* ---- nn:q8 (needs common) -------------------------------------------------------------- */

#if !defined(NN_NO_VECTORS) && defined(__AVX512VNNI__) && defined(__AVX512BW__)
#define NN_Q8_VNNI 1
#define NN_Q8_PATH "AVX512-VNNI vpdpbusd"
#include <immintrin.h>
#elif !defined(NN_NO_VECTORS) && defined(__AVX2__)
#define NN_Q8_AVX2 1
#define NN_Q8_PATH "AVX2 vpmaddwd"
#include <immintrin.h>
#else
#define NN_Q8_PATH "plain C"
#endif

/* Weights come packed in blocks of NN_QMR output channels, four inputs to a
 * group ([k / 4][NN_QMR][4] per block, zeros past the last); columns
 * (pixels) go NN_QNB at a time in panels of [k / 4][NN_QNB][4] bytes. */
#define NN_QMR 8
#if defined(NN_Q8_VNNI)
#define NN_QNB 32
#else
#define NN_QNB 8
#endif

/* What a layer does with its sums: its output's zero point, the smallest
 * byte it stores (the zero point under a relu, else 0), and a leaky relu's
 * slope as a multiplier on the negative side (neg_mult 0: none). */
typedef struct {
    int zp, lo;
    int32_t neg_mult, neg_shift;
} NnQOut;

/* gemmlowp's rounding doubling high multiply and rounding shift: x * mult *
 * 2^(shift - 31), rounded as theirs (ties up, then ties away from zero).
 * mult > 0; a shift left saturates. */
static NN_UNUSED int32_t nn_rq(int32_t x, int32_t mult, int32_t shift) {
    int left = shift > 0 ? (int)shift : 0, right = shift > 0 ? 0 : (int)-shift;
    int64_t p, mask;
    int32_t hi;
    if (left) {
        int32_t lim = (int32_t)1 << (31 - left);
        x = (x >= lim ? lim - 1 : x < -lim ? -lim : x) * ((int32_t)1 << left);
    }
    p = (int64_t)x * mult + ((int64_t)1 << 30);
    hi = (int32_t)(p >> 31);
    if (right > 31) right = 31;
    mask = ((int64_t)1 << right) - 1;
    return (int32_t)(((int64_t)hi >> right) + ((hi & mask) > (mask >> 1) + (hi < 0)));
}

/* A sum to a byte: requantised, through the activation, clamped. */
static NN_UNUSED uint8_t nn_q8_byte(int32_t v, int32_t mult, int32_t shift, const NnQOut *o) {
    int32_t y = nn_rq(v, mult, shift);
    if (o->neg_mult && y < 0) y = nn_rq(y, o->neg_mult, o->neg_shift);
    y += o->zp;
    return (uint8_t)(y < o->lo ? o->lo : y > 255 ? 255 : y);
}

/* v, a byte at the output's own scale and zero point (a pool's, a resize's:
 * their input's), through the activation. */
static NN_UNUSED uint8_t nn_q8_act(int v, const NnQOut *o) {
    if (o->neg_mult && v < o->zp) v = o->zp + nn_rq(v - o->zp, o->neg_mult, o->neg_shift);
    return (uint8_t)(v < o->lo ? o->lo : v);
}

#if NN_VW > 1
typedef int64_t nn_vl __attribute__((vector_size(8 * NN_VW)));
typedef uint8_t nn_vb __attribute__((vector_size(NN_VW)));

/* nn_rq on a vector, the same results lane by lane */
static NN_UNUSED nn_vi nn_vrq(nn_vi x, int32_t mult, int32_t shift) {
    int left = shift > 0 ? (int)shift : 0, right = shift > 0 ? 0 : (int)-shift;
    nn_vl p;
    nn_vi hi, mask;
    if (left) {
        int32_t lim = (int32_t)1 << (31 - left);
        nn_vi big = x >= lim, small = x < -lim;
        x = (x & ~big & ~small) | ((lim - 1) & big) | (-lim & small);
        x = x * ((int32_t)1 << left);
    }
    p = __builtin_convertvector(x, nn_vl) * mult + ((int64_t)1 << 30);
    hi = __builtin_convertvector(p >> 31, nn_vi);
    if (right > 31) right = 31;
    mask = (nn_vi){0} + (int32_t)(((int64_t)1 << right) - 1);
    return (hi >> right) - ((hi & mask) > ((mask >> 1) - (hi < 0)));
}
#endif

/* n sums (one output channel) plus bias, to bytes; NN_VW at a time where it can. */
static NN_UNUSED void nn_q8_store(const int32_t *acc, int n, int32_t bias, int32_t mult, int32_t shift, const NnQOut *o,
                                  uint8_t *out) {
    int j = 0;
#if NN_VW > 1
    for (; j + NN_VW <= n; j += NN_VW) {
        nn_vi v, y, neg;
        nn_vb b;
        memcpy(&v, acc + j, sizeof v);
        y = nn_vrq(v + bias, mult, shift);
        if (o->neg_mult) {
            neg = y < 0;
            y = (y & ~neg) | (nn_vrq(y, o->neg_mult, o->neg_shift) & neg);
        }
        y += o->zp;
        y = (y & ~(y < o->lo)) | (((nn_vi){0} + o->lo) & (y < o->lo));
        y = (y & ~(y > 255)) | (((nn_vi){0} + 255) & (y > 255));
        b = __builtin_convertvector(y, nn_vb);
        memcpy(out + j, &b, sizeof b);
    }
#endif
    for (; j < n; j++) out[j] = nn_q8_byte(acc[j] + bias, mult, shift, o);
}

/* ---- nn:qgemm (needs q8) --------------------------------------------------------------- */

/* acc[i][j] = sum over k of a[k][i] * b[k][j], for a block of NN_QMR output
 * channels (a: [K4][NN_QMR][4] signed bytes) by a panel of NN_QNB columns
 * (b: [K4][NN_QNB][4] bytes); acc is [NN_QMR][NN_QNB]. */
#if defined(NN_Q8_VNNI)
static void nn_qgemm_block(int K4, const int8_t *a, const uint8_t *b, int32_t *acc) {
    __m512i c[NN_QMR][2];
    int i, k;
    for (i = 0; i < NN_QMR; i++) c[i][0] = c[i][1] = _mm512_setzero_si512();
    for (k = 0; k < K4; k++) {
        __m512i b0 = _mm512_loadu_si512(b + k * 128), b1 = _mm512_loadu_si512(b + k * 128 + 64);
        for (i = 0; i < NN_QMR; i++) {
            int32_t ai;
            __m512i av;
            memcpy(&ai, a + (k * NN_QMR + i) * 4, 4);
            av = _mm512_set1_epi32(ai);
            c[i][0] = _mm512_dpbusd_epi32(c[i][0], b0, av);
            c[i][1] = _mm512_dpbusd_epi32(c[i][1], b1, av);
        }
    }
    for (i = 0; i < NN_QMR; i++) {
        _mm512_storeu_si512(acc + i * NN_QNB, c[i][0]);
        _mm512_storeu_si512(acc + i * NN_QNB + 16, c[i][1]);
    }
}
#elif defined(NN_Q8_AVX2)
/* Four columns' four bytes widen to 16 bits; vpmaddwd against a row's four
 * weights gives two sums per column, added up at the end. Four rows at a time. */
#define NN_Q8_ROW(r, imm)                                                                                           \
    do {                                                                                                            \
        __m256i ar = _mm256_permute4x64_epi64(av, imm);                                                             \
        c[r][0] = _mm256_add_epi32(c[r][0], _mm256_madd_epi16(b0, ar));                                             \
        c[r][1] = _mm256_add_epi32(c[r][1], _mm256_madd_epi16(b1, ar));                                             \
    } while (0)
static void nn_qgemm_block(int K4, const int8_t *a, const uint8_t *b, int32_t *acc) {
    int h, i, k;
    for (h = 0; h < NN_QMR; h += 4) {
        __m256i c[4][2];
        for (i = 0; i < 4; i++) c[i][0] = c[i][1] = _mm256_setzero_si256();
        for (k = 0; k < K4; k++) {
            __m256i bb = _mm256_loadu_si256((const __m256i *)(b + k * 32));
            __m256i b0 = _mm256_cvtepu8_epi16(_mm256_castsi256_si128(bb)), b1 = _mm256_cvtepu8_epi16(_mm256_extracti128_si256(bb, 1));
            __m256i av = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(a + (k * NN_QMR + h) * 4)));
            NN_Q8_ROW(0, 0x00);
            NN_Q8_ROW(1, 0x55);
            NN_Q8_ROW(2, 0xAA);
            NN_Q8_ROW(3, 0xFF);
        }
        for (i = 0; i < 4; i++) /* pairs of sums to columns 0 1 4 5 | 2 3 6 7, then in order */
            _mm256_storeu_si256((__m256i *)(acc + (h + i) * NN_QNB),
                                _mm256_permute4x64_epi64(_mm256_hadd_epi32(c[i][0], c[i][1]), 0xD8));
    }
}
#else
static void nn_qgemm_block(int K4, const int8_t *a, const uint8_t *b, int32_t *acc) {
    int i, j, k;
    for (i = 0; i < NN_QMR * NN_QNB; i++) acc[i] = 0;
    for (k = 0; k < K4; k++)
        for (i = 0; i < NN_QMR; i++) {
            const int8_t *ai = a + (k * NN_QMR + i) * 4;
            int32_t *row = acc + i * NN_QNB;
            for (j = 0; j < NN_QNB; j++) {
                const uint8_t *bj = b + (k * NN_QNB + j) * 4;
                row[j] += (int32_t)ai[0] * bj[0] + (int32_t)ai[1] * bj[1] + (int32_t)ai[2] * bj[2] + (int32_t)ai[3] * bj[3];
            }
        }
}
#endif

/* ---- nn:qconv (needs qgemm convspec) --------------------------------------------------- */

/* Any convolution on bytes: the im2col matrix's columns (rows (channel, ky,
 * kx), the input's zero point in the padding) are gathered NN_QNB at a time
 * into a panel of four-row groups, then multiplied by each block of weights
 * and requantised as they are stored. Weights: per group, packed blocks of
 * NN_QMR output channels, [k / 4][NN_QMR][4] with k = (c, ky, kx). Scratch:
 * NN_QCONV_SCRATCH bytes per thread. */
typedef struct {
    NnConv conv; /* sizes (its act and slope are unused: see q) */
    int in_zp;
    NnQOut q;
} NnQConv;

#define NN_QCONV_SCRATCH(c_per_group, kh, kw) (((long)(c_per_group) * (kh) * (kw) + 3) / 4 * 4 * NN_QNB)

/* Columns n0 .. n0 + nb of group g's im2col matrix into panel. */
static void nn_qconv_panel(const NnQConv *q, const uint8_t *in, int n0, int nb, uint8_t *panel) {
    const NnConv *p = &q->conv;
    int cg = p->c / p->groups, K = cg * p->kh * p->kw, K4 = (K + 3) / 4, N = p->oh * p->ow, j, k, r;
    uint8_t zp = (uint8_t)q->in_zp;
    if (p->kh == 1 && p->kw == 1 && p->sh == 1 && p->sw == 1 && p->ph == 0 && p->pw == 0) { /* rows as they are */
        for (k = 0; k < K4 * 4; k++) {
            uint8_t *dst = panel + (long)(k >> 2) * NN_QNB * 4 + (k & 3);
            const uint8_t *row = in + (long)k * N + n0;
            if (k >= K) {
                for (j = 0; j < NN_QNB; j++) dst[4 * j] = 0;
                continue;
            }
            for (j = 0; j < nb; j++) dst[4 * j] = row[j];
            for (; j < NN_QNB; j++) dst[4 * j] = zp;
        }
        return;
    }
    {
        /* column j's window starts at (y0, x0), at off in a plane; inside: none of it in the padding */
        int y0[NN_QNB], x0[NN_QNB], inside[NN_QNB], taps = p->kh * p->kw;
        long off[NN_QNB];
        for (j = 0; j < NN_QNB; j++) {
            int n = n0 + (j < nb ? j : nb - 1);
            y0[j] = n / p->ow * p->sh - p->ph, x0[j] = n % p->ow * p->sw - p->pw;
            inside[j] = y0[j] >= 0 && y0[j] + p->kh <= p->h && x0[j] >= 0 && x0[j] + p->kw <= p->w;
            off[j] = (long)y0[j] * p->w + x0[j];
        }
        for (k = 0; k < K4 * 4; k += 4) { /* four rows (c, ky, kx) at a time: a column's four bytes together */
            uint8_t *dst = panel + (long)k * NN_QNB;
            long at[4];
            int ky[4], kx[4], rows = nn_min(4, K - k);
            for (r = 0; r < rows; r++) {
                int c = (k + r) / taps;
                ky[r] = (k + r) % taps / p->kw, kx[r] = (k + r) % p->kw;
                at[r] = (long)c * p->h * p->w + (long)ky[r] * p->w + kx[r];
            }
            for (j = 0; j < NN_QNB; j++) {
                uint8_t *d = dst + 4 * j;
                if (inside[j] && rows == 4) {
                    d[0] = in[at[0] + off[j]], d[1] = in[at[1] + off[j]], d[2] = in[at[2] + off[j]], d[3] = in[at[3] + off[j]];
                    continue;
                }
                for (r = 0; r < 4; r++) {
                    int iy = r < rows ? y0[j] + ky[r] : -1, ix = r < rows ? x0[j] + kx[r] : -1;
                    d[r] = r >= rows ? 0 : iy >= 0 && iy < p->h && ix >= 0 && ix < p->w ? in[at[r] + off[j]] : zp;
                }
            }
        }
    }
}

/* out: bytes [oc][oh][ow], or floats where fscale is given (then rq is unused). bias and
 * rq ([oc][2]: mult, shift) per output channel. */
static void nn_qconv(const NnQConv *q, void *out, const uint8_t *in, const int8_t *w, const int32_t *bias, const int32_t *rq,
                     const float *fscale, uint8_t *scratch) {
    const NnConv *p = &q->conv;
    int cg = p->c / p->groups, og = p->oc / p->groups, K4 = (cg * p->kh * p->kw + 3) / 4, N = p->oh * p->ow;
    int blocks = (og + NN_QMR - 1) / NN_QMR, panels = (N + NN_QNB - 1) / NN_QNB, g, t;
    for (g = 0; g < p->groups; g++) {
        const uint8_t *gin = in + (long)g * cg * p->h * p->w;
        NN_PARALLEL_FOR
        for (t = 0; t < panels; t++) {
            uint8_t *panel = scratch + nn_thread() * NN_QCONV_SCRATCH(cg, p->kh, p->kw);
            int32_t acc[NN_QMR * NN_QNB];
            int n0 = t * NN_QNB, nb = nn_min(NN_QNB, N - n0), mb, i, j;
            nn_qconv_panel(q, gin, n0, nb, panel);
            for (mb = 0; mb < blocks; mb++) {
                int o0 = g * og + mb * NN_QMR, mr = nn_min(NN_QMR, og - mb * NN_QMR);
                nn_qgemm_block(K4, w + ((long)g * blocks + mb) * K4 * NN_QMR * 4, panel, acc);
                for (i = 0; i < mr; i++) {
                    int o = o0 + i;
                    if (fscale) {
                        float *dst = (float *)out + (long)o * N + n0;
                        for (j = 0; j < nb; j++) dst[j] = (float)(acc[i * NN_QNB + j] + bias[o]) * fscale[o];
                    } else {
                        nn_q8_store(acc + i * NN_QNB, nb, bias[o], rq[2 * o], rq[2 * o + 1], &q->q, (uint8_t *)out + (long)o * N + n0);
                    }
                }
            }
        }
    }
}

/* ---- nn:qlinear (needs q8) ------------------------------------------------------------- */

/* out[o] from the sum over i of x[i] * w[o][i] (w as PyTorch lays it out,
 * [out][in] signed bytes), as nn_qconv stores: bytes, or floats with fscale. */
typedef struct {
    int in, out;
    int in_zp;
    NnQOut q;
} NnQLinear;

/* the sum of n products of bytes and signed bytes */
static int32_t nn_qdot(const uint8_t *x, const int8_t *w, int n) {
    int32_t s = 0;
    int i = 0;
#if defined(NN_Q8_VNNI)
    __m512i acc = _mm512_setzero_si512();
    for (; i + 64 <= n; i += 64) acc = _mm512_dpbusd_epi32(acc, _mm512_loadu_si512(x + i), _mm512_loadu_si512(w + i));
    s = _mm512_reduce_add_epi32(acc);
#elif defined(NN_Q8_AVX2)
    __m256i acc = _mm256_setzero_si256();
    __m128i h;
    for (; i + 16 <= n; i += 16)
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(x + i))),
                                                      _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(w + i)))));
    h = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4E));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xB1));
    s = _mm_cvtsi128_si32(h);
#endif
    for (; i < n; i++) s += (int32_t)x[i] * w[i];
    return s;
}

static void nn_qlinear(const NnQLinear *p, void *out, const uint8_t *x, const int8_t *w, const int32_t *bias, const int32_t *rq,
                       const float *fscale) {
    int o;
    NN_PARALLEL_FOR
    for (o = 0; o < p->out; o++) {
        int32_t s = nn_qdot(x, w + (long)o * p->in, p->in) + bias[o];
        if (fscale) ((float *)out)[o] = (float)s * fscale[o];
        else ((uint8_t *)out)[o] = nn_q8_byte(s, rq[2 * o], rq[2 * o + 1], &p->q);
    }
}

/* ---- nn:qpool (needs poolwin q8) ------------------------------------------------------- */

/* Pooling on bytes. The output has the input's scale and zero point (q's zp,
 * lo and slope apply an activation), so a max is a max of bytes and an
 * average a rounded average of bytes, the padding counting as the zero
 * point (PyTorch's count_include_pad). */
typedef struct {
    NnPool pool; /* sizes (its act and slope are unused: see q) */
    NnQOut q;
} NnQPool;

static NN_UNUSED void nn_qmaxpool(const NnQPool *q, uint8_t *out, const uint8_t *in) {
    const NnPool *p = &q->pool;
    int c;
    NN_PARALLEL_FOR
    for (c = 0; c < p->c; c++) {
        const uint8_t *x = in + (long)c * p->h * p->w;
        uint8_t *y = out + (long)c * p->oh * p->ow;
        int oy, ox, iy, ix, y0, y1, x0, x1, div;
        for (oy = 0; oy < p->oh; oy++)
            for (ox = 0; ox < p->ow; ox++) {
                int best = 0;
                nn_pool_window(p, oy, ox, &y0, &y1, &x0, &x1, &div);
                for (iy = y0; iy < y1; iy++)
                    for (ix = x0; ix < x1; ix++) best = x[iy * p->w + ix] > best ? x[iy * p->w + ix] : best;
                y[oy * p->ow + ox] = nn_q8_act(best, &q->q);
            }
    }
}

static NN_UNUSED void nn_qavgpool(const NnQPool *q, uint8_t *out, const uint8_t *in) {
    const NnPool *p = &q->pool;
    int c;
    NN_PARALLEL_FOR
    for (c = 0; c < p->c; c++) {
        const uint8_t *x = in + (long)c * p->h * p->w;
        uint8_t *y = out + (long)c * p->oh * p->ow;
        int oy, ox, iy, ix, y0, y1, x0, x1, div;
        for (oy = 0; oy < p->oh; oy++)
            for (ox = 0; ox < p->ow; ox++) {
                int32_t s;
                nn_pool_window(p, oy, ox, &y0, &y1, &x0, &x1, &div);
                s = (int32_t)(div - (y1 - y0) * (x1 - x0)) * q->q.zp; /* the padding inside the window */
                for (iy = y0; iy < y1; iy++)
                    for (ix = x0; ix < x1; ix++) s += x[iy * p->w + ix];
                y[oy * p->ow + ox] = nn_q8_act((2 * s + div) / (2 * div), &q->q);
            }
    }
}

/* ---- nn:qresize (needs q8) ------------------------------------------------------------- */

/* Bilinear resizing on bytes (nn.c's nn_resize). The output has the input's
 * scale and zero point: the weights of each side sum to one, so mixing
 * q - zero_point and adding it back is mixing q. Weights are 11-bit fixed
 * point (w0 + w1 = 2048); a value is the four bytes' mix rounded to the
 * nearest byte (its sum is at most 2048 * 2048 * 255, within int32). */
typedef struct {
    int i0, i1;
    int32_t w0, w1;
} NnQTap;

typedef struct {
    int c, h, w, oh, ow;
    const NnQTap *rows, *cols;
    NnQOut q;
} NnQResize;

static NN_UNUSED void nn_qresize(const NnQResize *p, uint8_t *out, const uint8_t *in) {
    int ch;
    NN_PARALLEL_FOR
    for (ch = 0; ch < p->c; ch++) {
        const uint8_t *x = in + (long)ch * p->h * p->w;
        uint8_t *y = out + (long)ch * p->oh * p->ow;
        int oy, ox;
        for (oy = 0; oy < p->oh; oy++) {
            const NnQTap r = p->rows[oy];
            const uint8_t *x0 = x + (long)r.i0 * p->w, *x1 = x + (long)r.i1 * p->w;
            for (ox = 0; ox < p->ow; ox++) {
                const NnQTap c = p->cols[ox];
                int32_t v = r.w0 * (c.w0 * x0[c.i0] + c.w1 * x0[c.i1]) + r.w1 * (c.w0 * x1[c.i0] + c.w1 * x1[c.i1]);
                y[oy * p->ow + ox] = nn_q8_act((v + (1 << 21)) >> 22, &p->q);
            }
        }
    }
}

/* ---- nn:qgap (needs q8) ---------------------------------------------------------------- */

/* Global average pooling: out[c] from the sum of plane c (hw bytes) less hw
 * zero points, requantised by mult and shift (the input's scale over hw
 * times the output's). */
typedef struct {
    int c, hw;
    int in_zp;
    int32_t mult, shift;
    NnQOut q;
} NnQGap;

static NN_UNUSED void nn_qgap(const NnQGap *p, uint8_t *out, const uint8_t *in) {
    int k, i;
    for (k = 0; k < p->c; k++) {
        const uint8_t *x = in + (long)k * p->hw;
        int32_t s = 0;
        for (i = 0; i < p->hw; i++) s += x[i];
        out[k] = nn_q8_byte(s - p->hw * p->in_zp, p->mult, p->shift, &p->q);
    }
}

/* ---- nn:qadd (needs q8) ---------------------------------------------------------------- */

/* out = act(in[0] + in[1] + ...) with each input at its own scale, as TFLite
 * adds: every input, less its zero point and shifted left 20 bits, is
 * brought to a common scale (twice the largest input scale) by its own
 * multiplier, and the sum to the output's by another. */
#define NN_QADD_MAX 8
typedef struct {
    long n;
    int k;
    int zp[NN_QADD_MAX];
    int32_t mult[NN_QADD_MAX], shift[NN_QADD_MAX];
    int32_t out_mult, out_shift;
    NnQOut q;
} NnQAdd;

static NN_UNUSED void nn_qadd(const NnQAdd *p, uint8_t *out, const uint8_t *const *in) {
    long i;
    int j;
    for (i = 0; i < p->n; i++) {
        int32_t s = 0;
        for (j = 0; j < p->k; j++) s += nn_rq((in[j][i] - p->zp[j]) * (1 << 20), p->mult[j], p->shift[j]);
        out[i] = nn_q8_byte(s, p->out_mult, p->out_shift, &p->q);
    }
}

/* ---- nn:qconvert (needs q8) ------------------------------------------------------------ */

/* Between scales and types: floats to bytes at a scale (1 / scale given) and
 * zero point, rounded to nearest (ties away from zero); bytes to floats;
 * bytes to bytes of another scale (mult, shift: theirs over ours), through
 * an activation (a relu of its own, a concat's input it cannot write in place). */
static NN_UNUSED void nn_quantize(long n, uint8_t *out, const float *in, float inv_scale, int zp) {
    long i;
    for (i = 0; i < n; i++) {
        float v = in[i] * inv_scale;
        int32_t r;
        v = v >= -512.0f ? (v <= 512.0f ? v : 512.0f) : -512.0f; /* NaN too: to the lowest byte */
        r = v >= 0.0f ? (int32_t)(v + 0.5f) : -(int32_t)(0.5f - v);
        r += zp;
        out[i] = (uint8_t)(r < 0 ? 0 : r > 255 ? 255 : r);
    }
}

static NN_UNUSED void nn_dequantize(long n, float *out, const uint8_t *in, float scale, int zp) {
    long i;
    for (i = 0; i < n; i++) out[i] = scale * (float)(in[i] - zp);
}

static NN_UNUSED void nn_requantize(long n, uint8_t *out, const uint8_t *in, int in_zp, int32_t mult, int32_t shift, const NnQOut *o) {
    long i;
    for (i = 0; i < n; i++) out[i] = nn_q8_byte(in[i] - in_zp, mult, shift, o);
}
