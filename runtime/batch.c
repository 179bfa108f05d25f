/* batch.c: cached images to the network's input batch, with augmentation (see data.h).
 *
 * Per image: draw the jitter from rng_for(seed, epoch, index), so an image's
 * augmentation depends on nothing but those three; sample the input window
 * (geometry); map channels and scale to 0..range; apply brightness and
 * contrast; subtract the mean and divide by the std into the channel-major
 * batch.
 *
 * All geometric jitter (crop, scale, shift, rotation, mirror) is one affine
 * map from output pixel to source position, sampled bilinearly with clamped
 * borders. When the map is an integer shift plus an optional mirror (crop,
 * flip and shift only, or no augmentation) the window is copied instead, so
 * the values are the cached bytes exactly and nothing is blurred.
 *
 * Evaluation (no augmentation) is preprocess.c's pp_input: the centre crop,
 * maybe mirrored, each byte looked up in a table of normalised values. That
 * is the code netc copies into deployed nets, so they see the same floats. */
#include "data.h"

#include <math.h>
#include <stdlib.h>

#include "preprocess.h"
#include "rng.h"

_Static_assert((int)CH_GRAY == (int)PP_GRAY && (int)CH_RGB == (int)PP_RGB && (int)CH_BGR == (int)PP_BGR,
               "config.h and preprocess.h number channel orders alike");

/* Where output pixel (x, y) reads from in the cached image. */
typedef struct {
    int exact;          /* copy: source column ox + x (or ox + in_w-1 - x when mirrored), row oy + y */
    int ox, oy, mirror;
    float ax, bx, cx;   /* otherwise: source index x = ax*x + bx*y + cx, and y likewise */
    float ay, by, cy;
} Geometry;

typedef struct {
    int on;
    float add;    /* brightness: added to every value */
    float factor; /* contrast: scale around the image mean */
} Photometric;

/* The random numbers one image's augmentation draws, always all of them in this
 * order, so turning one kind of jitter on does not change the others' draws. */
enum { U_CROPX, U_CROPY, U_FLIP, U_SCALE, U_SHIFTX, U_SHIFTY, U_ROTATE, U_BRIGHT, U_CONTRAST, N_U };

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Top-left of the in-sized window: centred, or uniform over the valid positions. */
static int crop_offset(int cache, int in, int random, float u) {
    if (!random || cache <= in) return pp_crop_origin(cache, in);
    int pos = (int)(u * (float)(cache - in + 1));
    return pos > cache - in ? cache - in : pos;
}

static int scale_on(const Config *cfg) { return cfg->scale_min != 1 || cfg->scale_max != 1; }

/* The affine map for a region rw x rh centred at (cx, cy) of the cache, rotated
 * by theta radians and maybe mirrored, onto in_w x in_h output pixels. Pixel i
 * covers [i, i+1), so its centre is i + 0.5 in both images. */
static void affine(Geometry *g, float rw, float rh, float cx, float cy, float theta, int mirror, int in_w, int in_h) {
    float kx = rw / (float)in_w, ky = rh / (float)in_h, m = mirror ? -1.0f : 1.0f;
    float c = cosf(theta), s = sinf(theta);
    float px0 = m * (0.5f * kx - 0.5f * rw), py0 = 0.5f * ky - 0.5f * rh; /* offset of pixel (0,0) from the centre */
    g->exact = 0;
    g->ax = c * m * kx, g->bx = -s * ky, g->cx = cx - 0.5f + c * px0 - s * py0;
    g->ay = s * m * kx, g->by = c * ky, g->cy = cy - 0.5f + s * px0 + c * py0;
}

/* Region of the cache the scale jitter picks: area fraction s of the cache,
 * with the input's aspect (so nothing is stretched), shrunk to fit if needed. */
static void scale_region(const Config *cfg, int w, int h, int in_w, int in_h, float u, float *rw, float *rh) {
    float s = cfg->scale_min + u * (cfg->scale_max - cfg->scale_min);
    *rw = sqrtf(s * (float)w * (float)h * (float)in_w / (float)in_h);
    *rh = *rw * (float)in_h / (float)in_w;
    if (*rw > (float)w) *rh *= (float)w / *rw, *rw = (float)w;
    if (*rh > (float)h) *rw *= (float)h / *rh, *rh = (float)h;
}

/* Draws one image's jitter (augment) or sets the plain centre crop. */
static void plan(const Config *cfg, int w, int h, int in_w, int in_h, int augment, int flip, Rng *rng, Geometry *g,
                 Photometric *p) {
    float u[N_U] = {0};
    if (augment)
        for (int i = 0; i < N_U; i++) u[i] = rng_uniform(rng);
    int random = augment && cfg->crop == CROP_RANDOM;
    int mirror = flip ^ (augment && cfg->flip && u[U_FLIP] < 0.5f);
    float t = augment ? cfg->translate : 0;
    int sx = (int)lrintf((2 * u[U_SHIFTX] - 1) * t), sy = (int)lrintf((2 * u[U_SHIFTY] - 1) * t);
    int ox = crop_offset(w, in_w, random, u[U_CROPX]), oy = crop_offset(h, in_h, random, u[U_CROPY]);

    if (!augment || (!scale_on(cfg) && cfg->rotate == 0)) {
        *g = (Geometry){.exact = 1, .ox = ox + sx, .oy = oy + sy, .mirror = mirror};
    } else {
        float rw = (float)in_w, rh = (float)in_h;
        float cx = (float)ox + 0.5f * (float)in_w, cy = (float)oy + 0.5f * (float)in_h;
        if (scale_on(cfg)) {
            scale_region(cfg, w, h, in_w, in_h, u[U_SCALE], &rw, &rh);
            cx = random ? 0.5f * rw + u[U_CROPX] * ((float)w - rw) : 0.5f * (float)w;
            cy = random ? 0.5f * rh + u[U_CROPY] * ((float)h - rh) : 0.5f * (float)h;
        }
        float theta = (2 * u[U_ROTATE] - 1) * cfg->rotate * (float)(M_PI / 180);
        affine(g, rw, rh, cx + (float)sx, cy + (float)sy, theta, mirror, in_w, in_h);
    }
    p->on = augment && (cfg->brightness > 0 || cfg->contrast > 0);
    p->add = (2 * u[U_BRIGHT] - 1) * cfg->brightness * cfg->range;
    p->factor = 1 + (2 * u[U_CONTRAST] - 1) * cfg->contrast;
}

/* Copies the window: out[ch][y*in_w + x], the cached bytes as floats. */
static void sample_exact(const Dataset *ds, const uint8_t *img, const Geometry *g, int in_w, int in_h, float *out) {
    int c = ds->c;
    size_t np = (size_t)in_w * (size_t)in_h;
    for (int y = 0; y < in_h; y++) {
        const uint8_t *row = img + (size_t)clampi(g->oy + y, 0, ds->h - 1) * (size_t)ds->w * (size_t)c;
        for (int x = 0; x < in_w; x++) {
            int sx = clampi(g->ox + (g->mirror ? in_w - 1 - x : x), 0, ds->w - 1);
            for (int ch = 0; ch < c; ch++) out[ch * np + (size_t)y * in_w + x] = row[sx * c + ch];
        }
    }
}

/* Bilinear samples of the affine map, borders clamped. */
static void sample_affine(const Dataset *ds, const uint8_t *img, const Geometry *g, int in_w, int in_h, float *out) {
    int c = ds->c, w = ds->w, h = ds->h;
    size_t np = (size_t)in_w * (size_t)in_h;
    for (int y = 0; y < in_h; y++)
        for (int x = 0; x < in_w; x++) {
            float sx = g->ax * x + g->bx * y + g->cx, sy = g->ay * x + g->by * y + g->cy;
            float fx0 = floorf(sx), fy0 = floorf(sy), fx = sx - fx0, fy = sy - fy0;
            /* clamp in float first: a far-off coordinate must not overflow int */
            int x0 = (int)fmaxf(-1, fminf(fx0, (float)w)), y0 = (int)fmaxf(-1, fminf(fy0, (float)h));
            int xa = clampi(x0, 0, w - 1), xb = clampi(x0 + 1, 0, w - 1);
            int ya = clampi(y0, 0, h - 1), yb = clampi(y0 + 1, 0, h - 1);
            const uint8_t *r0 = img + (size_t)ya * w * c, *r1 = img + (size_t)yb * w * c;
            for (int ch = 0; ch < c; ch++) {
                float top = r0[xa * c + ch] + fx * (r0[xb * c + ch] - r0[xa * c + ch]);
                float bot = r1[xa * c + ch] + fx * (r1[xb * c + ch] - r1[xa * c + ch]);
                out[ch * np + (size_t)y * in_w + x] = top + fy * (bot - top);
            }
        }
}

/* Samples (byte-valued, cache channels) to values 0..range in the net's
 * channel order: gray, rgb or bgr; gray from RGB by luma; gray replicated. */
static void to_values(const float *smp, int cache_c, int in_c, int order, float scale, size_t np, float *val) {
    for (int oc = 0; oc < in_c; oc++)
        for (size_t k = 0; k < np; k++) {
            float b;
            if (cache_c == 1) b = smp[k];
            else if (in_c == 1 || order == CH_GRAY) b = data_luma(smp[k], smp[np + k], smp[2 * np + k]);
            else b = smp[(size_t)(order == CH_BGR ? 2 - oc : oc) * np + k];
            val[(size_t)oc * np + k] = b * scale;
        }
}

/* Brightness, then contrast around the image's mean (all channels), kept in
 * 0..range as a real image would be. */
static void photometric(const Photometric *p, float range, float *val, size_t n) {
    double sum = 0;
    for (size_t k = 0; k < n; k++) sum += val[k] += p->add;
    float mean = (float)(sum / (double)n);
    for (size_t k = 0; k < n; k++) {
        float v = (val[k] - mean) * p->factor + mean;
        val[k] = v < 0 ? 0 : v > range ? range : v;
    }
}

void batch_fill(float *dst, int in_c, int in_h, int in_w, int cap, const Dataset *ds, const int *idx, int n,
                const Config *cfg, const float mean[3], const float std[3], int augment, int flip,
                uint64_t seed, int epoch) {
    size_t np = (size_t)in_w * (size_t)in_h, img_size = (size_t)ds->w * (size_t)ds->h * (size_t)ds->c;
    float scale = cfg->range / 255.0f;
    if (!augment) {
        float table[3][256];
        pp_table(table, cfg->range, mean, std);
        int ox = pp_crop_origin(ds->w, in_w), oy = pp_crop_origin(ds->h, in_h);
#pragma omp parallel for schedule(static)
        for (int i = 0; i < n; i++) {
            const uint8_t *img = ds->pixels + (size_t)idx[i] * img_size;
            pp_input(img + ((size_t)oy * (size_t)ds->w + (size_t)ox) * (size_t)ds->c, in_w, in_h, (long)ds->w * ds->c, ds->c, in_c,
                     cfg->channels, (const float(*)[256])table, flip, dst + (size_t)i * np, (long)cap * (long)np);
        }
        return;
    }
#pragma omp parallel
    {
        float *smp = xmalloc(sizeof(float) * np * (size_t)ds->c), *val = xmalloc(sizeof(float) * np * (size_t)in_c);
#pragma omp for schedule(static)
        for (int i = 0; i < n; i++) {
            Rng rng = rng_for(seed, (uint64_t)epoch, (uint64_t)idx[i]);
            Geometry g;
            Photometric p;
            plan(cfg, ds->w, ds->h, in_w, in_h, augment, flip, &rng, &g, &p);
            const uint8_t *img = ds->pixels + (size_t)idx[i] * img_size;
            if (g.exact) sample_exact(ds, img, &g, in_w, in_h, smp);
            else sample_affine(ds, img, &g, in_w, in_h, smp);
            to_values(smp, ds->c, in_c, cfg->channels, scale, np, val);
            if (p.on) photometric(&p, cfg->range, val, np * (size_t)in_c);
            for (int oc = 0; oc < in_c; oc++) {
                float *out = dst + ((size_t)oc * (size_t)cap + (size_t)i) * np;
                const float *v = val + (size_t)oc * np;
                for (size_t k = 0; k < np; k++) out[k] = (v[k] - mean[oc]) / std[oc];
            }
        }
        free(smp);
        free(val);
    }
}
