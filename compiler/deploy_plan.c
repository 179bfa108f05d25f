/* deploy_plan.c: offsets in one arena for buffers with known lifetimes
 * (see deploy.h).
 *
 * Greedy by size, as TensorFlow Lite's planner does it: buffers sorted by
 * size, largest first (ties: the earlier first, so a plan does not depend on
 * the sort's stability); each goes at the lowest aligned offset where it
 * overlaps no buffer already placed whose lifetime meets its own. Big
 * buffers settle first and small ones fill the gaps they leave. */
#include <stdlib.h>

#include "deploy.h"
#include "pool.h"

static int64_t align_up(int64_t v, int64_t a) { return (v + a - 1) / a * a; }

static int by_size(const void *pa, const void *pb) {
    const ArenaBuf *a = *(const ArenaBuf *const *)pa, *b = *(const ArenaBuf *const *)pb;
    if (a->bytes != b->bytes) return a->bytes > b->bytes ? -1 : 1;
    if (a->first != b->first) return a->first < b->first ? -1 : 1;
    return a < b ? -1 : a > b;
}

static int by_offset(const void *pa, const void *pb) {
    const ArenaBuf *a = *(const ArenaBuf *const *)pa, *b = *(const ArenaBuf *const *)pb;
    return a->offset < b->offset ? -1 : a->offset > b->offset;
}

static bool meet(const ArenaBuf *a, const ArenaBuf *b) { return a->first <= b->last && b->first <= a->last; }

int64_t arena_plan(ArenaBuf *b, int n, int64_t align) {
    ArenaBuf **order = pool_alloc(sizeof *order * (size_t)(n ? n : 1));
    ArenaBuf **placed = pool_alloc(sizeof *placed * (size_t)(n ? n : 1));
    int np = 0;
    int64_t top = 0;
    for (int i = 0; i < n; i++) order[i] = &b[i];
    qsort(order, (size_t)n, sizeof *order, by_size);
    for (int i = 0; i < n; i++) {
        ArenaBuf *x = order[i];
        if (x->bytes <= 0) {
            x->offset = 0;
            continue;
        }
        /* the placed buffers it meets, by offset: the first gap that holds it */
        ArenaBuf **live = pool_alloc(sizeof *live * (size_t)(np ? np : 1));
        int nl = 0;
        for (int j = 0; j < np; j++)
            if (meet(placed[j], x)) live[nl++] = placed[j];
        qsort(live, (size_t)nl, sizeof *live, by_offset);
        int64_t at = 0;
        for (int j = 0; j < nl; j++) {
            if (live[j]->offset >= at + x->bytes) break;
            int64_t end = align_up(live[j]->offset + live[j]->bytes, align);
            if (end > at) at = end;
        }
        x->offset = at;
        placed[np++] = x;
        if (at + x->bytes > top) top = at + x->bytes;
    }
    return align_up(top, align);
}

int64_t arena_lower_bound(const ArenaBuf *b, int n, int64_t align) {
    int steps = 0;
    for (int i = 0; i < n; i++)
        if (b[i].last + 1 > steps) steps = b[i].last + 1;
    int64_t best = 0;
    for (int s = 0; s < steps; s++) {
        int64_t live = 0;
        for (int i = 0; i < n; i++)
            if (b[i].bytes > 0 && b[i].first <= s && s <= b[i].last) live += align_up(b[i].bytes, align);
        if (live > best) best = live;
    }
    return best;
}
