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

typedef struct shared {
	const batch_opts *b;
	cache *cache;
	int next;
	int jobs, threads;  /* per worker: the machine's cores shared out */
	pthread_mutex_t lock;
} shared;

typedef struct worker {
	shared *s;
	int device;
} worker;

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
	for (;;) {
		tune_opts o = *b->base;
		tune_result res;
		const tune_problem *p;
		int i, rc;
		pthread_mutex_lock(&s->lock);
		if (s->next == b->n || (o.stop && *o.stop)) {
			pthread_mutex_unlock(&s->lock);
			if (ctx)
				kg_cu.cuDevicePrimaryCtxRelease(dev);
			return NULL;
		}
		i = s->next++;
		if (b->on_start)
			b->on_start(b->arg, w->device, i);
		pthread_mutex_unlock(&s->lock);

		p = &b->problems[i];
		o.op = kg_ops[p->op].op;
		o.pass = kg_ops[p->op].pass;
		o.opts = p->opts;
		o.dtype = p->dtype;
		o.cols = p->cols;
		if (p->rows)
			o.rows = p->rows;
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
	char msg[512];
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
	} else if ((rc = cache_open(&s.cache, b->base->cache_dir, 0, msg, sizeof msg))) {
		return kg_err(rc, "%s", msg);
	}
	pthread_mutex_init(&s.lock, NULL);
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
	if (s.cache != b->base->cache)
		cache_close(s.cache);
	return 0;
}
