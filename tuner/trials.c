/* trials.c: the trial records of the search (tune.c): one per variant,
 * written as soon as its outcome is known, under "<key>\x1f<config>" in the
 * cache's trial database, next to the problem's epoch record (an empty
 * config); a later run of the same problem resumes them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "defs.h"
#include "tune_int.h"

void set_status(tune_trial *t, const char *status, const char *detail)
{
	snprintf(t->status, sizeof t->status, "%s", status);
	if (detail)
		snprintf(t->detail, sizeof t->detail, "%.255s", detail);
}

void utc_date(char *buf, size_t len)
{
	time_t tnow = time(NULL);
	struct tm tm;
	gmtime_r(&tnow, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* One trial record, written as soon as the trial is known (a killed run
 * keeps what it measured). */
void write_trial(const trial_ctx *x, const tune_trial *t)
{
	char k[KG_KEY_MAX + 256], rec[2048], date[32];
	int n;
	if (x->no_write)
		return;
	n = snprintf(k, sizeof k, "%s\x1f%s", x->key, t->config);
	utc_date(date, sizeof date);
	snprintf(rec, sizeof rec,
	         "status=%s\ntime_us=%.3f\np10_us=%.3f\np90_us=%.3f\ngbps=%.1f\nmax_err=%.3g\n"
	         "regs=%d\nlocal_bytes=%d\nvariant=%s\nrows=%lld\nstamp=%s\nepoch=%ld\ndate=%s\ndetail=%s\n",
	         t->status, t->us, t->p10_us, t->p90_us, t->gbps, t->max_err, t->regs, t->local_bytes, t->variant,
	         x->rows, x->stamp, x->epoch, date, t->detail);
	if (n > 0 && (size_t)n < sizeof k)
		cache_put(x->c, "trial", k, (size_t)n, rec, strlen(rec));
}

/* The problem's epoch: the record under "<key>\x1f" (an empty config).
 * Runs resume trials of the current epoch only; --fresh starts the next one,
 * so that a fresh run that is stopped goes on with its own outcomes. */
long trial_epoch(cache *c, const char *key, int next)
{
	char k[KG_KEY_MAX + 8], rec[128], date[32], v[32];
	void *val = NULL;
	long epoch = 0;
	int n = snprintf(k, sizeof k, "%s\x1f", key);
	if (!cache_get(c, "trial", k, (size_t)n, &val, NULL) && !rec_get(val, "epoch", v, sizeof v))
		epoch = strtol(v, NULL, 10);
	free(val);
	if (next) {
		utc_date(date, sizeof date);
		snprintf(rec, sizeof rec, "epoch=%ld\ndate=%s\n", ++epoch, date);
		cache_put(c, "trial", k, (size_t)n, rec, strlen(rec));
	}
	return epoch;
}

/* cache_scan callback of unfinished(): a trial record (not the epoch
 * record, whose key is the prefix alone) of the stamp in *arg. */
struct stamp_scan {
	const char *stamp;
	size_t plen;
	int any;
};
static int has_stamp(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct stamp_scan *a = arg;
	const char *v;
	size_t n;
	(void)key;
	if (klen > a->plen && !kg_rec_find(val, vlen, "stamp", &v, &n) && n == strlen(a->stamp) &&
	    !memcmp(v, a->stamp, n))
		a->any = 1;
	return a->any;
}

int unfinished(cache *c, const char *key, const char *stamp)
{
	char k[KG_KEY_MAX + 8], v[128];
	void *val = NULL;
	int n = snprintf(k, sizeof k, "%s\x1f", key), done = 0;
	if (!cache_get(c, "trial", k, (size_t)n, &val, NULL))
		done = rec_num(val, "complete") > 0 && !rec_get(val, "stamp", v, sizeof v) && !strcmp(v, stamp);
	free(val);
	if (done)
		return 0;
	struct stamp_scan a = {stamp, (size_t)n, 0};
	cache_scan(c, "trial", k, (size_t)n, has_stamp, &a);
	return a.any;
}

int collect(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	found *f = arg;
	char *cfg, *rec;
	if (f->n == f->cap) {
		int cap = f->cap ? 2 * f->cap : 64;
		char **a = realloc(f->cfg, sizeof *a * (size_t)cap), **b;
		if (!a)
			return 1;
		f->cfg = a;
		if (!(b = realloc(f->rec, sizeof *b * (size_t)cap)))
			return 1;
		f->rec = b;
		f->cap = cap;
	}
	if (!(cfg = malloc(klen - f->plen + 1)) || !(rec = malloc(vlen + 1))) {
		free(cfg);
		return 1;
	}
	memcpy(cfg, (const char *)key + f->plen, klen - f->plen);
	cfg[klen - f->plen] = 0;
	memcpy(rec, val, vlen);
	rec[vlen] = 0;
	f->cfg[f->n] = cfg;
	f->rec[f->n++] = rec;
	return 0;
}

double rec_num(const char *rec, const char *k)
{
	char v[64];
	return rec_get(rec, k, v, sizeof v) ? 0 : strtod(v, NULL);
}

/* Take the outcomes of earlier runs: ok (its time), mismatch and pruned
 * (the same cubin gives the same answer). Launch failures may have been
 * transient and are run again. */
void resume(const trial_ctx *x, pool *p, tune_result *res)
{
	char prefix[KG_KEY_MAX + 8], v[256];
	found f = {0};
	int n = snprintf(prefix, sizeof prefix, "%s\x1f", x->key);
	f.plen = (size_t)n;
	/* an unreadable cache, or a short scan: time what was not found */
	cache_scan(x->c, "trial", prefix, (size_t)n, collect, &f);
	for (int k = 0; k < f.n; k++) {
		const char *rec = f.rec[k];
		int i;
		for (i = 0; i < p->n && strcmp(res->trials[i].config, f.cfg[k]); i++)
			;
		if (i == p->n || p->jobs[i].skip || rec_get(rec, "stamp", v, sizeof v) || strcmp(v, x->stamp) ||
		    (long long)rec_num(rec, "rows") != x->rows || (long)rec_num(rec, "epoch") != x->epoch ||
		    rec_get(rec, "variant", v, sizeof v) ||
		    strcmp(v, p->jobs[i].hex) || rec_get(rec, "status", v, sizeof v) ||
		    (strcmp(v, "ok") && strcmp(v, "mismatch") && strcmp(v, "pruned")))
			continue;
		tune_trial *t = &res->trials[i];
		set_status(t, v, NULL);
		t->us = rec_num(rec, "time_us");
		t->p10_us = rec_num(rec, "p10_us");
		t->p90_us = rec_num(rec, "p90_us");
		t->gbps = rec_num(rec, "gbps");
		t->max_err = rec_num(rec, "max_err");
		t->regs = (int)rec_num(rec, "regs");
		t->local_bytes = (int)rec_num(rec, "local_bytes");
		rec_get(rec, "detail", t->detail, sizeof t->detail);
		if (!strcmp(v, "pruned")) {
			t->prune = TUNE_PRUNE_LIMITS;
			for (int w = 0; w < TUNE_NPRUNE; w++)
				if (!strncmp(t->detail, tune_prune_names[w], strlen(tune_prune_names[w])))
					t->prune = w;
			res->pruned++;
			res->pruned_by[t->prune]++;
		} else if (!strcmp(v, "mismatch")) {
			res->rejected++;
		}
		t->resumed = 1;
		p->jobs[i].skip = 1;
		res->resumed++;
	}
	for (int k = 0; k < f.n; k++) {
		free(f.cfg[k]);
		free(f.rec[k]);
	}
	free(f.cfg);
	free(f.rec);
}

/* The end of a run that timed the whole space (complete=1), or as much of
 * it as its budget allowed, likely winners first (complete=2), marks the
 * problem's epoch record, with the template stamp of the run: its ranking
 * may then stand in for a twin's (rank.c). A run stopped otherwise leaves
 * no mark. */
void mark_complete(const trial_ctx *x, int how)
{
	char k[KG_KEY_MAX + 8], rec[320], date[32];
	int n = snprintf(k, sizeof k, "%s\x1f", x->key);
	utc_date(date, sizeof date);
	snprintf(rec, sizeof rec, "epoch=%ld\ncomplete=%d\nstamp=%s\ndate=%s\n", x->epoch, how, x->stamp, date);
	cache_put(x->c, "trial", k, (size_t)n, rec, strlen(rec));
}
