/* deploy_weights.c: a trained net's tensors in the form deploy/nn.c reads
 * them (see deploy.h): batch norms folded into the conv before them, conv
 * weights packed in blocks of DEPLOY_MR output channels, 3x3 kernels
 * transformed for Winograd's F(4x4, 3x3). Folds and transforms run in
 * double and round to float once. */
#include "deploy.h"

#include <math.h>
#include <string.h>

#include "pool.h"

void deploy_fold_bn(float *w, float *b, long oc, long per_out, const float *gamma, const float *beta, const float *mean,
                    const float *var, float eps) {
    for (long o = 0; o < oc; o++) {
        double s = (gamma ? gamma[o] : 1.0) / sqrt((double)var[o] + eps);
        if (w)
            for (long k = 0; k < per_out; k++) w[o * per_out + k] = (float)(w[o * per_out + k] * s);
        b[o] = (float)(((double)b[o] - mean[o]) * s + (beta ? beta[o] : 0.0));
    }
}

long deploy_conv_packed_floats(long oc, long cg, long kh, long kw, long groups) {
    long og = oc / groups, blocks = (og + DEPLOY_MR - 1) / DEPLOY_MR;
    return groups * blocks * cg * kh * kw * DEPLOY_MR;
}

float *deploy_pack_conv(const float *w, long oc, long cg, long kh, long kw, long groups) {
    long og = oc / groups, blocks = (og + DEPLOY_MR - 1) / DEPLOY_MR, K = cg * kh * kw;
    float *p = pool_alloc(sizeof(float) * (size_t)deploy_conv_packed_floats(oc, cg, kh, kw, groups)); /* zeroed */
    for (long g = 0; g < groups; g++)
        for (long o = 0; o < og; o++) {
            long block = g * blocks + o / DEPLOY_MR, row = o % DEPLOY_MR;
            for (long k = 0; k < K; k++) p[(block * K + k) * DEPLOY_MR + row] = w[(g * og + o) * K + k];
        }
    return p;
}

/* G, for the kernel's transform G g G^T (6x6 from 3x3) */
static const double wino_g[6][3] = {
    {1.0 / 4, 0, 0},
    {-1.0 / 6, -1.0 / 6, -1.0 / 6},
    {-1.0 / 6, 1.0 / 6, -1.0 / 6},
    {1.0 / 24, 1.0 / 12, 1.0 / 6},
    {1.0 / 24, -1.0 / 12, 1.0 / 6},
    {0, 0, 1},
};

long deploy_wino_packed_floats(long oc, long c) {
    long blocks = (oc + DEPLOY_MR - 1) / DEPLOY_MR;
    return 36 * blocks * c * DEPLOY_MR;
}

float *deploy_pack_wino(const float *w, long oc, long c) {
    long blocks = (oc + DEPLOY_MR - 1) / DEPLOY_MR;
    float *u = pool_alloc(sizeof(float) * (size_t)deploy_wino_packed_floats(oc, c)); /* zeroed */
    for (long o = 0; o < oc; o++)
        for (long i = 0; i < c; i++) {
            const float *g = w + (o * c + i) * 9;
            double t[6][3], v[6][6];
            for (int r = 0; r < 6; r++) /* G g */
                for (int s = 0; s < 3; s++) t[r][s] = wino_g[r][0] * g[s] + wino_g[r][1] * g[3 + s] + wino_g[r][2] * g[6 + s];
            for (int r = 0; r < 6; r++) /* (G g) G^T */
                for (int s = 0; s < 6; s++) v[r][s] = t[r][0] * wino_g[s][0] + t[r][1] * wino_g[s][1] + t[r][2] * wino_g[s][2];
            for (int pt = 0; pt < 36; pt++)
                u[((pt * blocks + o / DEPLOY_MR) * c + i) * DEPLOY_MR + o % DEPLOY_MR] = (float)v[pt / 6][pt % 6];
        }
    return u;
}
