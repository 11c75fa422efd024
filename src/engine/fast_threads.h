/* A small persistent thread pool for the fast engine.  em_pool_run() hands
 * out chunk indices 0..n-1 dynamically; the caller's thread takes part.  The
 * results never depend on which thread ran a chunk (chunks write disjoint
 * outputs with a fixed arithmetic), so any thread count gives the same bits. */
#ifndef EM_FAST_THREADS_H
#define EM_FAST_THREADS_H

typedef struct em_pool em_pool;
typedef void (*em_pool_fn)(void *ctx, int chunk, int tid);

/* n_threads >= 1 (the caller counts as one); NULL on failure */
em_pool *em_pool_new(int n_threads);
void em_pool_free(em_pool *p);
void em_pool_run(em_pool *p, em_pool_fn fn, void *ctx, int n_chunks);
/* number of online CPUs (>= 1) */
int em_cpu_count(void);

#endif
