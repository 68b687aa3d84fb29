/* batch.c: problems spread over GPU workers (see batch.h). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "cache.h"
#include "err.h"
#include "internal.h"

#define MAX_WORKERS 64

/* The compiler runs ahead: while a worker's GPU times problem i, threads
 * of lowered priority (AHEAD_NICE; one core fewer than the worker's share,
 * so that the thread that enqueues the timed launches is not held up)
 * compile the next problem no worker has taken into the cache, so that
 * NVRTC (seconds per problem at long rows) overlaps the timing; a worker
 * that takes a problem being compiled ahead waits for it. One problem
 * alone compiles, then times. */
#define AHEAD_NICE 10

typedef struct shared {
	const batch_opts *b;
	cache *cache;
	int next;
	int ahead_next;     /* the first problem not yet compiled ahead */
	char *ahead;        /* per problem: 0, 1 being compiled ahead, 2 compiled */
	int jobs, threads;  /* per worker: the machine's cores shared out */
	pthread_mutex_t lock;
	pthread_cond_t ahead_done;
} shared;

typedef struct worker {
	shared *s;
	int device;
	int sm;             /* the device's, or the one asked for; 0: no compiling ahead */
	pthread_t ahead_th;
	int ahead_running;  /* ahead_th is to be joined */
	int ahead_busy;     /* ahead_th has not finished (under s->lock) */
	int ahead_i;
} worker;

/* Set the problem fields of o from p. */
static void set_problem(tune_opts *o, const tune_problem *p)
{
	o->op = kg_ops[p->op].op;
	o->pass = kg_ops[p->op].pass;
	o->opts = p->opts;
	o->dtype = p->dtype;
	o->cols = p->cols;
	if (p->rows)
		o->rows = p->rows;
}

static void *ahead_main(void *arg)
{
	worker *w = arg;
	shared *s = w->s;
	tune_opts o = *s->b->base;
	set_problem(&o, &s->b->problems[w->ahead_i]);
	o.sm = w->sm;
	o.device = w->device; /* the ranking to go by is this GPU model's */
	o.cache = s->cache;
	o.jobs = s->jobs > 1 ? s->jobs - 1 : 1; /* a core left to the thread that times */
	o.progress = NULL;
	o.nice = AHEAD_NICE;
	tune_compile_ahead(&o); /* a failure shows again when the problem runs */
	pthread_mutex_lock(&s->lock);
	s->ahead[w->ahead_i] = 2;
	w->ahead_busy = 0;
	pthread_cond_broadcast(&s->ahead_done);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* Start compiling the next problem no worker has taken, unless this
 * worker's last one is still compiling; caller holds s->lock. */
static void ahead_start(worker *w)
{
	shared *s = w->s;
	int j = s->ahead_next > s->next ? s->ahead_next : s->next;
	if (!w->sm || !s->ahead || w->ahead_busy || j >= s->b->n || (s->b->base->stop && *s->b->base->stop))
		return;
	if (w->ahead_running) {
		pthread_join(w->ahead_th, NULL);
		w->ahead_running = 0;
	}
	w->ahead_i = j;
	s->ahead[j] = 1;
	s->ahead_next = j + 1;
	w->ahead_busy = 1;
	if (pthread_create(&w->ahead_th, NULL, ahead_main, w)) {
		s->ahead[j] = 0;
		w->ahead_busy = 0;
		return;
	}
	w->ahead_running = 1;
}

static void worker_progress(void *arg, const char *phase, int done, int total, const char *config)
{
	worker *w = arg;
	const batch_opts *b = w->s->b;
	pthread_mutex_lock(&w->s->lock);
	b->progress(b->arg, w->device, phase, done, total, config);
	pthread_mutex_unlock(&w->s->lock);
}

static void *worker_main(void *arg)
{
	worker *w = arg;
	shared *s = w->s;
	const batch_opts *b = s->b;
	CUcontext ctx = NULL;
	CUdevice dev;
	/* Hold the device's primary context for the whole list: each tune_run
	 * retains and releases it, and a release to zero would tear the context
	 * down between problems. Without a GPU, tune_run says why. */
	if (!kg_cu_load() && !kg_cu.cuDeviceGet(&dev, w->device) && kg_cu.cuDevicePrimaryCtxRetain(&ctx, dev))
		ctx = NULL;
	w->sm = b->base->sm;
	if (!w->sm && ctx) {
		kg_device d;
		if (!kg_device_query(dev, &d))
			w->sm = d.sm;
	}
	for (;;) {
		tune_opts o = *b->base;
		tune_result res;
		const tune_problem *p;
		int i, rc;
		pthread_mutex_lock(&s->lock);
		if (s->next == b->n || (o.stop && *o.stop)) {
			pthread_mutex_unlock(&s->lock);
			if (w->ahead_running)
				pthread_join(w->ahead_th, NULL);
			w->ahead_running = 0;
			if (ctx)
				kg_cu.cuDevicePrimaryCtxRelease(dev);
			return NULL;
		}
		i = s->next++;
		if (b->on_start)
			b->on_start(b->arg, w->device, i);
		while (s->ahead && s->ahead[i] == 1)
			pthread_cond_wait(&s->ahead_done, &s->lock);
		ahead_start(w);
		pthread_mutex_unlock(&s->lock);

		p = &b->problems[i];
		set_problem(&o, p);
		o.device = w->device;
		o.cache = s->cache;
		o.jobs = s->jobs;
		o.threads = s->threads;
		if (b->progress) {
			o.progress = worker_progress;
			o.progress_arg = w;
		} else {
			o.progress = NULL;
		}
		kg_err_clear();
		rc = tune_run(&o, &res);
		pthread_mutex_lock(&s->lock);
		if (b->on_done)
			b->on_done(b->arg, w->device, i, rc, rc ? kgen_last_error() : "", &res);
		pthread_mutex_unlock(&s->lock);
		tune_result_free(&res);
	}
}

int batch_run(const batch_opts *b)
{
	shared s;
	worker w[MAX_WORKERS];
	pthread_t th[MAX_WORKERS];
	int nw = b->devices && b->ndevices > 0 ? b->ndevices : 1, started = 0, rc;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	if (nw > MAX_WORKERS)
		return kg_err(KGEN_EINVAL, "at most %d devices", MAX_WORKERS);
	memset(&s, 0, sizeof s);
	s.b = b;
	/* the cores shared out among the workers, unless --jobs says otherwise */
	s.jobs = b->base->jobs > 0 ? b->base->jobs : (int)(cores / nw > 0 ? cores / nw : 1);
	s.threads = b->base->threads > 0 ? b->base->threads : (int)(cores / nw > 0 ? cores / nw : 1);
	if (b->base->cache) {
		s.cache = b->base->cache;
	} else if ((rc = cache_open(&s.cache, b->base->cache_dir, 0))) {
		return rc;
	}
	pthread_mutex_init(&s.lock, NULL);
	pthread_cond_init(&s.ahead_done, NULL);
	/* a list compiles ahead (without it, compiling and timing alternate) */
	s.ahead = b->n > 1 ? calloc((size_t)b->n, 1) : NULL;
	memset(w, 0, sizeof w);
	for (int k = 0; k < nw; k++) {
		w[k].s = &s;
		w[k].device = b->devices && b->ndevices > 0 ? b->devices[k] : b->base->device;
	}
	if (nw == 1) {
		worker_main(&w[0]);
	} else {
		for (int k = 0; k < nw; k++, started++)
			if (pthread_create(&th[k], NULL, worker_main, &w[k]))
				break;
		if (!started)
			worker_main(&w[0]); /* no thread to be had: one worker, here */
		for (int k = 0; k < started; k++)
			pthread_join(th[k], NULL);
	}
	pthread_mutex_destroy(&s.lock);
	pthread_cond_destroy(&s.ahead_done);
	free(s.ahead);
	if (s.cache != b->base->cache)
		cache_close(s.cache);
	return 0;
}
