/* dist.c: data-parallel training over MPI (see dist.h). */
#define _GNU_SOURCE
#include "dist.h"

#include <limits.h>
#include <omp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef NETC_MPI
#include <mpi.h>
#endif

Dist dist = {.rank = 0, .size = 1, .local_rank = 0, .local_size = 1, .hosts = 1};

/* Was this process started by an MPI launcher? Open MPI's mpirun sets
 * OMPI_COMM_WORLD_SIZE, PMIx launchers (Open MPI 5, srun --mpi=pmix)
 * PMIX_RANK, MPICH's and Intel's PMI_RANK. SLURM_PROCID alone is not a
 * launcher: a batch script has it too. */
static bool launched(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", NULL};
    for (int i = 0; vars[i]; i++)
        if (getenv(vars[i])) return true;
    return false;
}

int dist_default_threads(void) {
    cpu_set_t mask; /* the cores this process may run on */
    int procs = sched_getaffinity(0, sizeof mask, &mask) == 0 ? CPU_COUNT(&mask) : omp_get_num_procs();
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (dist.local_size > 1 && (dist.unbound || procs >= online)) procs /= dist.local_size; /* not bound: share the host */
    return procs > 0 ? procs : 1;
}

void dist_share(int n, int *lo, int *hi) {
    *lo = (int)((long)n * dist.rank / dist.size);
    *hi = (int)((long)n * (dist.rank + 1) / dist.size);
}

#ifndef NETC_MPI
/* ---- built without MPI (make MPI=0): one process of one -------------------------------- */

int dist_init(int *argc, char ***argv, Error *e) {
    (void)argc, (void)argv;
    gethostname(dist.host, sizeof dist.host - 1);
    const char *size = getenv("OMPI_COMM_WORLD_SIZE") ? getenv("OMPI_COMM_WORLD_SIZE") : getenv("PMI_SIZE");
    if (launched() && (!size || atoi(size) != 1)) {
        errorf(e, "this trainer was built without MPI (make MPI=0), but an MPI launcher started it");
        return error_hint(e, "build netc's runtime with MPI (make, or make MPI=1), run netc on the .net file again, "
                             "then mpirun the new trainer");
    }
    return 0;
}
void dist_finalize(void) {}
int dist_agree(int rc, Error *e) {
    (void)e;
    return rc < 0 ? -1 : 0;
}
void dist_bcast(void *buf, size_t bytes) { (void)buf, (void)bytes; }
void dist_sum_doubles(double *x, int n) { (void)x, (void)n; }
void dist_sync_bn(double *x, int n) { (void)x, (void)n; }
void dist_sum_longs(long *x, int n) { (void)x, (void)n; }
void dist_max_doubles(double *x, int n) { (void)x, (void)n; }
void dist_barrier(void) {}
bool dist_all_equal(uint64_t v) {
    (void)v;
    return true;
}
void dist_sum_metrics(Metrics *mt) { (void)mt; }
void dist_gather_shares(void *arr, int n, size_t elem) { (void)arr, (void)n, (void)elem; }
DistStep *dist_step_new(const NetcNet *net, float *grads, double bucket_mb) {
    (void)net, (void)grads, (void)bucket_mb;
    return NULL;
}
void dist_step_free(DistStep *s) { (void)s; }
void dist_step_begin(DistStep *s) { (void)s; }
void dist_layer_done(DistStep *s, int layer) { (void)s, (void)layer; }
void dist_step_finish(DistStep *s, int *flags) { (void)s, (void)flags; }
DistStats dist_step_stats(DistStep *s, bool reset) {
    (void)s, (void)reset;
    return (DistStats){0};
}
long dist_step_bucket(DistStep *s, int i, double *started_after) {
    (void)s, (void)i, (void)started_after;
    return 0;
}

#else
/* ---- with MPI ------------------------------------------------------------------------------ */

static MPI_Comm comm = MPI_COMM_NULL;      /* ours: a copy of MPI_COMM_WORLD, errors returned, not fatal */
static MPI_Comm grad_comm = MPI_COMM_NULL; /* the gradients' nonblocking sums */

/* An MPI call failed: with Open MPI that mostly means another rank died
 * (mpirun then ends the job). Says so, and aborts every rank. */
static void check(int rc, const char *what) {
    if (rc == MPI_SUCCESS) return;
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    fprintf(stderr,
            "netc: rank %d of %d (%s): %s failed: %s\n"
            "  HINT: another rank has probably stopped (mpirun's messages say which); the run folder's last.ckpt is "
            "whole: continue with train --resume DIR, on any number of ranks\n",
            dist.rank, dist.size, dist.host, what, msg);
    MPI_Abort(MPI_COMM_WORLD, 1);
    _exit(1);
}

/* Open MPI binds each process it starts, unless told how (--bind-to,
 * --map-by: the variables below): to one core when it starts 2 or fewer,
 * to a socket when more. That suits one thread per process; a trainer runs
 * a thread per core, and one process on each of two 16-core machines would
 * get one core each. So where that default leaves cores of the host idle,
 * the process may run on all of them (those mpirun may use) and takes its
 * share (dist_default_threads). Called before any OpenMP thread starts:
 * they inherit the main thread's cores. */
static void unbind_default(void) {
    if (!getenv("OMPI_COMM_WORLD_SIZE") || getenv("OMPI_MCA_hwloc_base_binding_policy") ||
        getenv("OMPI_MCA_rmaps_base_mapping_policy"))
        return;
    cpu_set_t mine, host; /* host: those of mpirun, or of its daemon (orted) on other hosts */
    if (sched_getaffinity(0, sizeof mine, &mine) < 0 || sched_getaffinity(getppid(), sizeof host, &host) < 0) return;
    if (CPU_COUNT(&mine) * dist.local_size >= CPU_COUNT(&host)) return; /* no core left idle */
    if (sched_setaffinity(0, sizeof host, &host) == 0) dist.unbound = true;
}

int dist_init(int *argc, char ***argv, Error *e) {
    gethostname(dist.host, sizeof dist.host - 1);
    if (!launched()) return 0;
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return errorf(e, "MPI_Init_thread failed"), error_hint(e, "run the trainer without mpirun, or check Open MPI's set-up");
    dist.mpi = true;
    if (provided < MPI_THREAD_FUNNELED) {
        errorf(e, "this MPI library cannot be called from an OpenMP program's main thread (MPI_THREAD_FUNNELED)");
        return error_hint(e, "use Open MPI as Debian ships it (libopenmpi-dev)");
    }
    MPI_Comm_dup(MPI_COMM_WORLD, &comm);
    MPI_Comm_dup(MPI_COMM_WORLD, &grad_comm);
    MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
    MPI_Comm_set_errhandler(grad_comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(comm, &dist.rank);
    MPI_Comm_size(comm, &dist.size);
    MPI_Comm local;
    MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, dist.rank, MPI_INFO_NULL, &local);
    MPI_Comm_rank(local, &dist.local_rank);
    MPI_Comm_size(local, &dist.local_size);
    MPI_Comm_free(&local);
    int first_here = dist.local_rank == 0;
    MPI_Allreduce(&first_here, &dist.hosts, 1, MPI_INT, MPI_SUM, comm);
    unbind_default();
    return 0;
}

void dist_finalize(void) {
    if (!dist.mpi) return;
    MPI_Comm_free(&grad_comm);
    MPI_Comm_free(&comm);
    MPI_Finalize();
    dist.mpi = false;
}

int dist_agree(int rc, Error *e) {
    if (dist.size == 1) return rc < 0 ? -1 : 0;
    int mine = rc < 0, *all = xmalloc(sizeof(int) * (size_t)dist.size);
    check(MPI_Allgather(&mine, 1, MPI_INT, all, 1, MPI_INT, comm), "MPI_Allgather");
    int failed = 0;
    for (int i = 0; i < dist.size; i++) failed += all[i];
    bool root_failed = all[0];
    free(all);
    if (!failed) return 0;
    if (!mine || (dist.rank != 0 && root_failed)) e->msg[0] = 0; /* someone else says it */
    else if (dist.rank != 0) {
        char copy[sizeof e->msg];
        memcpy(copy, e->msg, sizeof copy);
        snprintf(e->msg, sizeof e->msg, "rank %d of %d (%s): %.1900s", dist.rank, dist.size, dist.host, copy);
    }
    return -1;
}

void dist_bcast(void *buf, size_t bytes) {
    if (dist.size == 1) return;
    for (size_t done = 0; done < bytes;) { /* counts are ints: pieces of at most 1 GB */
        int piece = bytes - done > (1u << 30) ? 1 << 30 : (int)(bytes - done);
        check(MPI_Bcast((char *)buf + done, piece, MPI_BYTE, 0, comm), "MPI_Bcast");
        done += (size_t)piece;
    }
}

void dist_sum_doubles(double *x, int n) {
    if (dist.size > 1) check(MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_DOUBLE, MPI_SUM, comm), "MPI_Allreduce");
}

void dist_sum_longs(long *x, int n) {
    if (dist.size > 1) check(MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_LONG, MPI_SUM, comm), "MPI_Allreduce");
}

static double sync_seconds; /* in dist_sync_bn since the last dist_step_stats(reset), */
static long sync_calls, sync_doubles; /* its calls and the doubles they summed */

void dist_sync_bn(double *x, int n) {
    double t0 = now_seconds();
    dist_sum_doubles(x, n);
    sync_seconds += now_seconds() - t0;
    sync_calls++, sync_doubles += n;
}

void dist_max_doubles(double *x, int n) {
    if (dist.size > 1) check(MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_DOUBLE, MPI_MAX, comm), "MPI_Allreduce");
}

void dist_barrier(void) {
    if (dist.size > 1) check(MPI_Barrier(comm), "MPI_Barrier");
}

bool dist_all_equal(uint64_t v) {
    if (dist.size == 1) return true;
    uint64_t lo = v, hi = v;
    check(MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UINT64_T, MPI_MIN, comm), "MPI_Allreduce");
    check(MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UINT64_T, MPI_MAX, comm), "MPI_Allreduce");
    return lo == hi;
}

void dist_sum_metrics(Metrics *mt) {
    if (dist.size == 1) return;
    long k2 = (long)mt->classes * mt->classes;
    long *counts = xmalloc(sizeof(long) * (size_t)(k2 + 3));
    counts[0] = mt->n, counts[1] = mt->top1, counts[2] = mt->top5;
    memcpy(counts + 3, mt->confusion, sizeof(long) * (size_t)k2);
    dist_sum_longs(counts, (int)(k2 + 3));
    mt->n = counts[0], mt->top1 = counts[1], mt->top5 = counts[2];
    memcpy(mt->confusion, counts + 3, sizeof(long) * (size_t)k2);
    free(counts);
    dist_sum_doubles(&mt->loss_sum, 1);
}

void dist_gather_shares(void *arr, int n, size_t elem) {
    if (dist.size == 1) return;
    int *counts = xmalloc(sizeof(int) * (size_t)dist.size), *displs = xmalloc(sizeof(int) * (size_t)dist.size);
    for (int r = 0; r < dist.size; r++) {
        long lo = (long)n * r / dist.size, hi = (long)n * (r + 1) / dist.size;
        counts[r] = (int)((hi - lo) * (long)elem), displs[r] = (int)(lo * (long)elem);
    }
    check(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_BYTE, arr, counts, displs, MPI_BYTE, comm), "MPI_Allgatherv");
    free(counts), free(displs);
}

/* ---- the gradient allreduce --------------------------------------------------------------- */

typedef struct {
    long off, len; /* floats of the gradient arena */
} Segment;

typedef struct {
    int low_layer;     /* the lowest layer among its tensors: the bucket is ready once backward has done it */
    Segment *seg;
    int nseg;
    long floats;
    float *buf;        /* its gradients, packed, then their sum */
    MPI_Request req;
    bool started, done;
    double started_after; /* seconds from dist_step_begin to its start, summed over the steps */
} Bucket;

struct DistStep {
    const NetcNet *net;
    float *grads;
    Bucket *b;
    int nb, next;      /* buckets start in order, top layers first; next: the first not started */
    int flags[DIST_NFLAGS];
    MPI_Request flags_req;
    long total_floats;
    double begun; /* now_seconds() at dist_step_begin */
    DistStats stats;
};

static void bucket_add(Bucket *b, long off, long len, int layer) {
    if (layer < b->low_layer) b->low_layer = layer;
    if (b->nseg && b->seg[b->nseg - 1].off == off + len) { /* tensors come top down: extend the run downwards */
        b->seg[b->nseg - 1].off = off, b->seg[b->nseg - 1].len += len;
    } else {
        b->seg = xrealloc(b->seg, sizeof(Segment) * (size_t)(b->nseg + 1));
        b->seg[b->nseg++] = (Segment){off, len};
    }
    b->floats += len;
}

DistStep *dist_step_new(const NetcNet *net, float *grads, double bucket_mb) {
    if (dist.size == 1) return NULL;
    DistStep *s = xcalloc(1, sizeof *s);
    s->net = net, s->grads = grads;
    long cap = bucket_mb > 0 ? (long)(bucket_mb * 1e6 / sizeof(float)) : LONG_MAX;
    if (cap < 1) cap = 1;
    /* tensors in the arena are in layer order: walk them top down */
    for (int t = net->n_tensors - 1; t >= 0; t--) {
        const NetcTensor *x = &net->tensors[t];
        if (!x->trainable) continue;
        int layer = -1;
        for (int k = 0; k < net->n_layers; k++)
            if (strcmp(net->layers[k].name, x->layer) == 0) layer = k;
        if (!s->nb || s->b[s->nb - 1].floats >= cap) {
            s->b = xrealloc(s->b, sizeof(Bucket) * (size_t)(s->nb + 1));
            s->b[s->nb++] = (Bucket){.low_layer = INT_MAX};
        }
        bucket_add(&s->b[s->nb - 1], x->offset, x->size, layer < 0 ? 0 : layer);
        s->total_floats += x->size;
    }
    for (int i = 0; i < s->nb; i++) {
        s->b[i].buf = xalloc_floats((size_t)s->b[i].floats);
        if (bucket_mb <= 0) s->b[i].low_layer = INT_MIN; /* one bucket, started after backward */
    }
    return s;
}

void dist_step_free(DistStep *s) {
    if (!s) return;
    for (int i = 0; i < s->nb; i++) free(s->b[i].seg), free(s->b[i].buf);
    free(s->b);
    free(s);
}

void dist_step_begin(DistStep *s) {
    if (!s) return;
    for (int i = 0; i < s->nb; i++) s->b[i].started = s->b[i].done = false;
    s->next = 0;
    s->begun = now_seconds();
}

static void bucket_start(DistStep *s, Bucket *b) {
    double t0 = now_seconds();
    b->started_after += t0 - s->begun;
    float *p = b->buf;
    for (int i = 0; i < b->nseg; i++) {
        memcpy(p, s->grads + b->seg[i].off, sizeof(float) * (size_t)b->seg[i].len);
        p += b->seg[i].len;
    }
    s->stats.copy_seconds += now_seconds() - t0;
    check(MPI_Iallreduce(MPI_IN_PLACE, b->buf, (int)b->floats, MPI_FLOAT, MPI_SUM, grad_comm, &b->req), "MPI_Iallreduce");
    b->started = true;
}

static void bucket_unpack(DistStep *s, Bucket *b) {
    double t0 = now_seconds();
    const float *p = b->buf;
    for (int i = 0; i < b->nseg; i++) {
        memcpy(s->grads + b->seg[i].off, p, sizeof(float) * (size_t)b->seg[i].len);
        p += b->seg[i].len;
    }
    b->done = true;
    s->stats.copy_seconds += now_seconds() - t0;
}

/* MPI_Test on each sum in flight: Open MPI moves their data only inside MPI calls. */
static void progress(DistStep *s) {
    for (int i = 0; i < s->next; i++) {
        Bucket *b = &s->b[i];
        if (b->done) continue;
        int flag = 0;
        check(MPI_Test(&b->req, &flag, MPI_STATUS_IGNORE), "MPI_Test");
        if (flag) bucket_unpack(s, b);
    }
}

void dist_layer_done(DistStep *s, int layer) {
    if (!s || layer < 0) return;
    double t0 = now_seconds();
    while (s->next < s->nb && s->b[s->next].low_layer >= layer) bucket_start(s, &s->b[s->next++]);
    progress(s);
    s->stats.hook_seconds += now_seconds() - t0;
}

void dist_step_finish(DistStep *s, int *flags) {
    double t0 = now_seconds();
    memcpy(s->flags, flags, sizeof s->flags);
    check(MPI_Iallreduce(MPI_IN_PLACE, s->flags, DIST_NFLAGS, MPI_INT, MPI_MAX, comm, &s->flags_req), "MPI_Iallreduce");
    while (s->next < s->nb) bucket_start(s, &s->b[s->next++]);
    for (int i = 0; i < s->nb; i++) {
        Bucket *b = &s->b[i];
        if (b->done) continue;
        check(MPI_Wait(&b->req, MPI_STATUS_IGNORE), "MPI_Wait");
        bucket_unpack(s, b);
    }
    check(MPI_Wait(&s->flags_req, MPI_STATUS_IGNORE), "MPI_Wait");
    memcpy(flags, s->flags, sizeof s->flags);
    s->stats.wait_seconds += now_seconds() - t0;
    s->stats.steps++;
}

DistStats dist_step_stats(DistStep *s, bool reset) {
    if (!s) return (DistStats){0};
    DistStats st = s->stats;
    st.floats = s->total_floats, st.buckets = s->nb;
    st.sync_seconds = sync_seconds, st.sync_calls = sync_calls, st.sync_doubles = sync_doubles;
    if (reset) {
        s->stats = (DistStats){0}, sync_seconds = 0, sync_calls = sync_doubles = 0;
        for (int i = 0; i < s->nb; i++) s->b[i].started_after = 0;
    }
    return st;
}

long dist_step_bucket(DistStep *s, int i, double *started_after) {
    if (!s || i < 0 || i >= s->nb) return 0;
    if (started_after) *started_after = s->stats.steps ? s->b[i].started_after / (double)s->stats.steps : 0;
    return s->b[i].floats;
}
#endif
