/* tune_int.h: what the files of the search for one problem share (tune.c
 * the phases, trials.c the trial records and resume, rank.c the rankings
 * of related problems and the plan order). Private to tuner/: tune.h is
 * the interface. */
#ifndef KGEN_TUNE_INT_H
#define KGEN_TUNE_INT_H

#include <stddef.h>

#include "cache.h"
#include "pool.h"
#include "tune.h"

/* The records a run writes and resumes. */
typedef struct trial_ctx {
	cache *c;
	const char *key, *stamp;
	long long rows;
	long epoch;
	int no_write;   /* write no trial record (--only: a few variants timed for a comparison
	                 * leave the problem's records, epoch and finished search as they were) */
} trial_ctx;

/* The trial records of an earlier run: collected by a scan (whose callback
 * may not call into the cache), then matched to the jobs. */
typedef struct found {
	char **cfg, **rec;
	int n, cap;
	size_t plen;
} found;

/* trials.c */
void set_status(tune_trial *t, const char *status, const char *detail);
void utc_date(char *buf, size_t len);
void write_trial(const trial_ctx *x, const tune_trial *t);
long trial_epoch(cache *c, const char *key, int next);
int collect(const void *key, size_t klen, const void *val, size_t vlen, void *arg);
double rec_num(const char *rec, const char *k);
void resume(const trial_ctx *x, pool *p, tune_result *res);
void mark_complete(const trial_ctx *x, int how);
/* Whether an earlier run of key left trial records of this stamp without
 * marking the problem complete with it (stopped, killed, or ended by an
 * early stop): its best may be partial, and a run resumes it. */
int unfinished(cache *c, const char *key, const char *stamp);

/* rank.c */
int plan_order(const trial_ctx *x, const tune_opts *o, int op, pool *p, tune_result *res, int ranked_top);

#endif
