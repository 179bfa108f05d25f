/* winograd.h: 3x3, stride 1, pad 1 convolutions by Winograd's F(4x4, 3x3),
 * and 5x5, stride 1, pad 2 ones by F(2x2, 5x5).
 *
 * A 4x4 block ("tile") of outputs needs a 6x6 patch d of the input. With the
 * kernel g transformed once, U = G g G^T, and the patch transformed,
 * V = B^T d B, the block is Y = A^T (sum over input channels of U (.) V) A.
 * At each of the 36 points of a 6x6 transform the sum over input channels is
 * a matrix product, M[p] = U[p] . V[p] ([OC][C] . [C][tiles]), so a layer
 * costs 36 * C * OC multiply-adds per 16 outputs instead of 9 * 16 * C * OC:
 * 4x fewer than im2col, plus the transforms (which are cheap, linear passes).
 * F(2x2, 5x5) is the same with 2x2 blocks of outputs from the same 6x6
 * patches (now 2 apart) and a 5x5 kernel: 36 multiply-adds per 4 outputs
 * instead of 25 * 4, 2.8x fewer (AlexNet's conv2). K, the kernel's side (3
 * or 5), says which; the rest below is the same for both.
 *
 * Backward uses the same transforms:
 *   - the input gradient is this convolution of dout with the kernel flipped
 *     and its in and out channels swapped (pad 1 keeps the size);
 *   - the weight gradient follows from differentiating the forward identity:
 *     dg = G^T (sum over tiles of (A dy A^T) (.) (B^T d B)) G, where at each
 *     point the sum over tiles is again one matrix product,
 *     dU[p] = DY[p] . V[p]^T ([OC][tiles] . [tiles][C]).
 *
 * Activations are [c][cap][h][w] as everywhere; images [0, n) are in use.
 * Work goes in chunks of `chunk` images, whose transforms (and products) stay
 * in cache; scratch must hold netc_wino_scratch(C, OC, H, W, chunk) floats.
 * OpenMP owns the threads: transforms split channels, the 36 products split
 * across threads, each a product of winograd.c's own (forward and input
 * gradient: no packing, no clearing) or one single-threaded sgemm (weight
 * gradient, a sum over tiles).
 * Results differ from a direct convolution by rounding only (a few 1e-6 of
 * the values' scale); tests/test_winograd.c checks all three against the
 * plain loops of a reference convolution. */
#ifndef NETC_WINOGRAD_H
#define NETC_WINOGRAD_H

/* The side of a tile of outputs: 4 for a 3x3 kernel, 2 for a 5x5 one. */
static inline int netc_wino_m(int K) { return K == 3 ? 4 : 2; }

/* Tiles of outputs per image, the last row and column of them cut at the
 * image's edge. (Inline, as the next: the compiler plans with them.) */
static inline long netc_wino_tiles(int K, long H, long W) {
    int m = netc_wino_m(K);
    return (H + m - 1) / m * ((W + m - 1) / m);
}

/* Floats of scratch the three functions below need: the transformed kernels
 * U [36][OC][C] (their rows in panels of up to 16, the last one padded), then
 * a chunk's transformed input and products, each at most [max(C, OC)][36][tiles,
 * rounded up to 16] plus a cache line per channel. The same for every ISA (16
 * is the widest vector), so a generated file's plan does not depend on the
 * ISA it is compiled for. */
static inline long netc_wino_scratch(int K, long C, long OC, long H, long W, long chunk) {
    long wide = C > OC ? C : OC, tiles = chunk * netc_wino_tiles(K, H, W);
    return 36 * (C * OC + 15 * wide) + 2 * wide * (36 * ((tiles + 15) / 16 * 16) + 16);
}

/* out [OC][cap][H][W] = convKxK(in [C][cap][H][W], weight [OC][C][K][K]), pad K / 2, then
 * out[o] = out[o] * scale[o] + shift[o] (a bias, or batch norm folded in for
 * evaluation; either may be NULL) and the relu if asked, all as the outputs
 * are stored. With pool 2 (H and W multiples of 4), out is [OC][cap][H/2][W/2]:
 * the max of each 2x2 window (stride 2) of those values, each tile's 4x4
 * outputs pooled before they are stored (K 3 only); pool 1 stores them as they are. */
void netc_wino_forward(float *out, const float *in, const float *weight, const float *scale, const float *shift, int relu, int pool,
                       int K, int C, int OC, int H, int W, int n, int cap, int chunk, float *scratch);

/* din [C][cap][H][W] (+)= the input gradient of the above, from dout [OC][cap][H][W]:
 * added to din when accumulate is set (another layer wrote it first) */
void netc_wino_backward_input(float *din, const float *dout, const float *weight, int K, int C, int OC, int H, int W, int n, int cap,
                              int chunk, int accumulate, float *scratch);

/* dweight [OC][C][K][K] = the weight gradient, summed over images [0, n) */
void netc_wino_backward_weight(float *dweight, const float *dout, const float *in, int K, int C, int OC, int H, int W, int n, int cap,
                               int chunk, float *scratch);

#endif
