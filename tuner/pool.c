/* pool.c: the compile pool of one tune run (see pool.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "err.h"
#include "internal.h"
#include "pool.h"

/* The priority of the background threads (lowered as compiling ahead's). */
enum { BACKGROUND_NICE = 10 };

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int pool_init(pool *p, int n, int sm, const tune_opts *o)
{
	memset(p, 0, sizeof *p);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->done_cond, NULL);
	p->sm = sm;
	p->o = o;
	if (!(p->jobs = calloc((size_t)(n > 0 ? n : 1), sizeof *p->jobs)))
		return KGEN_ENOMEM;
	p->n = n;
	return 0;
}

void pool_free(pool *p)
{
	pool_halt(p);
	for (int i = 0; p->jobs && i < p->n; i++) {
		gen_variant_free(&p->jobs[i].v);
		free(p->jobs[i].cubin);
		free(p->jobs[i].log);
	}
	free(p->jobs);
	p->jobs = NULL;
	pthread_cond_destroy(&p->done_cond);
	pthread_mutex_destroy(&p->lock);
}

void compile_job(pool *p, job *j)
{
	if (!cache_get(p->cache, "cubin", j->hex, 16, &j->cubin, &j->size)) {
		j->reused = 1;
	} else if (!(j->rc = kg_compile(j->v.source, "kgen_variant.cu", p->sm, &j->cubin, &j->size, &j->log))) {
		if (cache_put(p->cache, "cubin", j->hex, 16, j->cubin, j->size)) {
			pthread_mutex_lock(&p->lock);
			if (!p->write_failed++)
				snprintf(p->write_error, sizeof p->write_error, "%s", kgen_last_error());
			pthread_mutex_unlock(&p->lock);
		}
	} else if (!j->log) {
		/* keep the reason: kgen_last_error is per thread */
		const char *m = kgen_last_error();
		if ((j->log = malloc(strlen(m) + 1)))
			strcpy(j->log, m);
	}
}

/* The next job of compile_all (neither skipped nor left for later, while
 * the budget and no stop request say go on) or of the background (the
 * next later job no one has taken, until pool_halt), taken; or NULL.
 * Under p->lock. */
static job *take_job(pool *p)
{
	job *j;
	if (p->background) {
		while (p->next < p->n && (p->jobs[p->next].skip || p->jobs[p->next].started || !p->jobs[p->next].later))
			p->next++;
		if (p->next == p->n || p->halt || (p->o->stop && *p->o->stop))
			return NULL;
	} else {
		while (p->next < p->n && (p->jobs[p->next].skip || p->jobs[p->next].later))
			p->next++;
		if (p->next == p->n || p->stopped || p->spent)
			return NULL;
		if (p->o->stop && *p->o->stop) {
			p->stopped = 1;
			return NULL;
		}
		/* the first variant is compiled whatever the budget */
		if (p->deadline > 0 && p->started > 0 && now_s() > p->deadline) {
			p->spent = 1;
			return NULL;
		}
	}
	j = &p->jobs[p->next++];
	j->started = 1;
	p->started++;
	return j;
}

/* Job j compiled (by whichever thread took it): counted, its waiters woken. */
static void job_done(pool *p, job *j)
{
	pthread_mutex_lock(&p->lock);
	j->done = 1;
	p->done++;
	if (p->o->progress && !p->background && !j->later) /* the timing reports its own progress */
		p->o->progress(p->o->progress_arg, "compile", p->done, p->total, j->v.config);
	pthread_cond_broadcast(&p->done_cond);
	pthread_mutex_unlock(&p->lock);
}

static void *compile_worker(void *arg)
{
	pool *p = arg;
	/* compiling ahead or in the background: the CPU left over by the
	 * thread that enqueues the timed launches (a stall of it between a
	 * start event and its kernel would be timed) */
	int nice = p->background ? BACKGROUND_NICE : p->o->nice;
	if (nice > 0)
		setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice);
	for (;;) {
		job *j;
		pthread_mutex_lock(&p->lock);
		j = take_job(p);
		pthread_mutex_unlock(&p->lock);
		if (!j)
			return NULL;
		compile_job(p, j);
		job_done(p, j);
	}
}

static int threads_for(int jobs, int work)
{
	int nth = jobs > 0 ? jobs : (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (nth < 1)
		nth = 1;
	if (nth > 64)
		nth = 64;
	return nth > work ? work : nth;
}

void compile_all(pool *p, int jobs)
{
	pthread_t th[64];
	int nth;
	for (int i = 0; i < p->n; i++)
		p->total += !p->jobs[i].skip && !p->jobs[i].later;
	nth = threads_for(jobs, p->total);
	for (int i = 0; i < nth; i++)
		if (pthread_create(&th[i], NULL, compile_worker, p)) {
			nth = i;
			break;
		}
	if (nth == 0)
		compile_worker(p);
	for (int i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
}

void pool_background(pool *p, int jobs)
{
	int work = 0, nth;
	for (int i = 0; i < p->n; i++)
		work += !p->jobs[i].skip && !p->jobs[i].started && p->jobs[i].later;
	if (!work || p->background)
		return;
	nth = threads_for(jobs > 1 ? jobs - 1 : jobs == 1 ? 1 : (int)sysconf(_SC_NPROCESSORS_ONLN) - 1, work);
	pthread_mutex_lock(&p->lock);
	p->background = 1;
	p->halt = 0;
	p->next = 0;
	pthread_mutex_unlock(&p->lock);
	for (p->nbg = 0; p->nbg < nth; p->nbg++)
		if (pthread_create(&p->bg[p->nbg], NULL, compile_worker, p))
			break;
}

void pool_await(pool *p, job *j)
{
	pthread_mutex_lock(&p->lock);
	while (j->started && !j->done)
		pthread_cond_wait(&p->done_cond, &p->lock);
	if (j->started) {
		pthread_mutex_unlock(&p->lock);
		return;
	}
	j->started = 1; /* no background thread has taken it: compiled here */
	p->started++;
	pthread_mutex_unlock(&p->lock);
	compile_job(p, j);
	job_done(p, j);
}

void pool_halt(pool *p)
{
	if (!p->background)
		return;
	pthread_mutex_lock(&p->lock);
	p->halt = 1;
	pthread_mutex_unlock(&p->lock);
	for (int i = 0; i < p->nbg; i++)
		pthread_join(p->bg[i], NULL);
	p->nbg = 0;
	p->background = 0;
}
