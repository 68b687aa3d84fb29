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
	p->sm = sm;
	p->o = o;
	if (!(p->jobs = calloc((size_t)(n > 0 ? n : 1), sizeof *p->jobs)))
		return KGEN_ENOMEM;
	p->n = n;
	return 0;
}

void pool_free(pool *p)
{
	for (int i = 0; p->jobs && i < p->n; i++) {
		gen_variant_free(&p->jobs[i].v);
		free(p->jobs[i].cubin);
		free(p->jobs[i].log);
	}
	free(p->jobs);
	p->jobs = NULL;
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

static void *compile_worker(void *arg)
{
	pool *p = arg;
	if (p->o->nice > 0) /* compiling ahead: the CPU left over by the problem at hand */
		setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), p->o->nice);
	for (;;) {
		job *j;
		pthread_mutex_lock(&p->lock);
		while (p->next < p->n && (p->jobs[p->next].skip || p->jobs[p->next].later))
			p->next++;
		if (p->next == p->n || p->stopped || p->spent) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		if (p->o->stop && *p->o->stop) {
			p->stopped = 1;
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		/* the first variant is compiled whatever the budget */
		if (p->deadline > 0 && p->started > 0 && now_s() > p->deadline) {
			p->spent = 1;
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		j = &p->jobs[p->next++];
		j->started = 1;
		p->started++;
		pthread_mutex_unlock(&p->lock);

		compile_job(p, j);
		pthread_mutex_lock(&p->lock);
		p->done++;
		if (p->o->progress)
			p->o->progress(p->o->progress_arg, "compile", p->done, p->total, j->v.config);
		pthread_mutex_unlock(&p->lock);
	}
}

void compile_all(pool *p, int jobs)
{
	pthread_t th[64];
	int nth = jobs > 0 ? jobs : (int)sysconf(_SC_NPROCESSORS_ONLN);
	for (int i = 0; i < p->n; i++)
		p->total += !p->jobs[i].skip && !p->jobs[i].later;
	if (nth < 1)
		nth = 1;
	if (nth > 64)
		nth = 64;
	if (nth > p->total)
		nth = p->total;
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
