/* pool.h: the compile pool of one tune run: the variants (jobs) of a
 * problem compiled with NVRTC over a few threads, each cubin taken from the
 * cache when it is there and put there when it is not. No GPU needed. */
#ifndef KGEN_POOL_H
#define KGEN_POOL_H

#include <pthread.h>
#include <stddef.h>

#include "gen.h"
#include "tune.h"

struct cache;

typedef struct job {
	gen_variant v;
	void *cubin;
	size_t size;
	int skip;      /* pruned or resumed: not compiled */
	int started;   /* compilation started (or the cubin was looked up) */
	int reused, rc;
	int later;     /* compiled in the background while the run times the ones
	                * before it (pool_background), or when the timing
	                * reaches it; never if an early stop comes first */
	int done;      /* compiled (or looked up): cubin or rc set */
	int counted;   /* a later job's outcome counted in the result (the tuner's) */
	int twin_rank; /* its place in the twin dtype's ranking, or -1 */
	char hex[17];
	char *log;
} job;

typedef struct pool {
	job *jobs;
	int n, next, done, total, started;
	int sm;
	struct cache *cache;
	const tune_opts *o;
	double deadline;  /* 0: no budget */
	int stopped, spent;
	int background;        /* pool_background's threads run (they take the later jobs) */
	int halt;              /* they are to stop */
	int nbg;
	pthread_t bg[64];
	pthread_cond_t done_cond; /* a job's done was set */
	int write_failed;      /* cubins the cache did not take (a full disk) */
	char write_error[512]; /* the first such failure */
	pthread_mutex_t lock;
} pool;

/* An empty pool of n jobs for SM sm: 0, or KGEN_ENOMEM (p is then still
 * fit for pool_free). */
int pool_init(pool *p, int n, int sm, const tune_opts *o);
void pool_free(pool *p);

/* Job j's cubin: from p->cache, else compiled (and put there); j->rc and
 * j->log say how it went. */
void compile_job(pool *p, job *j);

/* Compile every job neither skipped nor left for later over jobs threads (0:
 * one per core), the first whatever the budget, then until p->deadline
 * passes (p->spent) or opts->stop is set (p->stopped). */
void compile_all(pool *p, int jobs);

/* Compile the jobs left for later, in order, over jobs - 1 threads (0: one
 * per core, less one; a core left to the thread that times) at a lowered
 * priority in the background, until all are compiled, a stop is asked
 * (opts->stop) or pool_halt (not p->deadline: the timing's budget stops
 * the timing, and it halts the pool); pool_await waits for one of them
 * (compiling it on the calling thread when no background thread has taken
 * it yet). */
void pool_background(pool *p, int jobs);
void pool_await(pool *p, job *j);
void pool_halt(pool *p);

#endif
