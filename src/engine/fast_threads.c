/* Persistent thread pool (see fast_threads.h).  Workers spin briefly on the
 * job generation (jobs come back to back during a forward pass), then sleep
 * on a condition variable so an idle session costs no CPU. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>
#include "engine/fast_threads.h"

/* Waiting: a short busy spin, then sched_yield() (on a shared machine the
 * thread we wait for may be descheduled: give it the core), then sleep. */
#define SPIN_PAUSE 200
#define SPIN_ITERS 4000

struct em_pool {
    int n;
    pthread_t *th;
    pthread_mutex_t mu;
    pthread_cond_t cv_start, cv_done;
    atomic_uint gen;
    atomic_int next, active, stop;
    em_pool_fn fn;
    void *ctx;
    int n_chunks;
    int sleepers;
};

typedef struct { em_pool *p; int tid; } worker_arg;
static worker_arg *worker_args(em_pool *p) { return (worker_arg *)(p->th + p->n); }

static inline void cpu_relax(int spins) {
    if (spins > SPIN_PAUSE) { sched_yield(); return; }
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void work(em_pool *p, int tid) {
    int c;
    while ((c = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed)) < p->n_chunks)
        p->fn(p->ctx, c, tid);
}

static void *worker(void *arg) {
    worker_arg *a = arg;
    em_pool *p = a->p;
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen &&
               !atomic_load(&p->stop)) {
            if (++spins < SPIN_ITERS) { cpu_relax(spins); continue; }
            pthread_mutex_lock(&p->mu);
            p->sleepers++;
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->cv_start, &p->mu);
            p->sleepers--;
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop)) return NULL;
        seen = g;
        work(p, a->tid);
        if (atomic_fetch_sub_explicit(&p->active, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->cv_done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

int em_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n >= 1 ? (int)n : 1;
}

em_pool *em_pool_new(int n) {
    if (n < 1) n = 1;
    em_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = n;
    p->th = calloc((size_t)n, sizeof(pthread_t) + sizeof(worker_arg));
    if (!p->th) { free(p); return NULL; }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv_start, NULL);
    pthread_cond_init(&p->cv_done, NULL);
    atomic_init(&p->gen, 0);
    atomic_init(&p->next, 0);
    atomic_init(&p->active, 0);
    atomic_init(&p->stop, 0);
    for (int i = 1; i < n; i++) {
        worker_arg *a = &worker_args(p)[i];
        a->p = p;
        a->tid = i;
        if (pthread_create(&p->th[i], NULL, worker, a) != 0) {
            p->n = i;  /* free() joins the ones started */
            em_pool_free(p);
            return NULL;
        }
    }
    return p;
}

void em_pool_free(em_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->cv_start);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++) pthread_join(p->th[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv_start);
    pthread_cond_destroy(&p->cv_done);
    free(p->th);
    free(p);
}


void em_pool_run(em_pool *p, em_pool_fn fn, void *ctx, int n_chunks) {
    if (n_chunks <= 0) return;
    if (!p || p->n == 1 || n_chunks == 1) {
        for (int c = 0; c < n_chunks; c++) fn(ctx, c, 0);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    p->n_chunks = n_chunks;
    atomic_store_explicit(&p->next, 0, memory_order_relaxed);
    atomic_store_explicit(&p->active, p->n - 1, memory_order_relaxed);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    if (p->sleepers) pthread_cond_broadcast(&p->cv_start);
    pthread_mutex_unlock(&p->mu);
    work(p, 0);
    int spins = 0;
    while (atomic_load_explicit(&p->active, memory_order_acquire) != 0) {
        if (++spins < SPIN_ITERS) { cpu_relax(spins); continue; }
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->active) != 0) pthread_cond_wait(&p->cv_done, &p->mu);
        pthread_mutex_unlock(&p->mu);
        break;
    }
}
