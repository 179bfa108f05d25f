/* m7_main.c: a deployed net on a Cortex-M7, for make deploy-check's size
 * figures: the arena a static array (RAM), the weights static const (flash),
 * one synthetic gray image through <net>_predict. Built with
 * -DNET=<net> -DUNET=<NET> -DNET_H='"<net>.h"' and newlib (nosys). */
#include <stdint.h>

#include NET_H

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

static float arena[CAT(UNET, _ARENA_BYTES) / sizeof(float)];
static uint8_t image[120 * 160]; /* a camera's QQVGA frame */

int main(void) {
    float probs[CAT(UNET, _CLASSES)];
    int k, best = 0;
    for (k = 0; k < 120 * 160; k++) image[k] = (uint8_t)(k * 7 + k / 160 * 3);
    if (CAT(NET, _predict)(image, 160, 120, 1, arena, probs) != 0) return -1;
    for (k = 1; k < CAT(UNET, _CLASSES); k++)
        if (probs[k] > probs[best]) best = k;
    return best;
}
