/* rank.c: the order in which the search (tune.c) takes the variants:
 * likely winners first, from the rankings of related problems already
 * tuned into the cache (their trial records, trials.c). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "defs.h"
#include "tune_int.h"

/* The ranking of a related problem already tuned into the cache: its
 * variants that have a time in its current epoch, fastest first. */
typedef struct ranking {
	int dtype;
	long long cols;
	int relation;   /* REL_*: how near the problem is to the one at hand */
	long epoch;
	int complete;   /* its whole space was timed (1), or what its budget allowed (2) */
	char key[KG_KEY_MAX];
	char **cfg;     /* configs, mapped to the dtype at hand (vec scaled) */
	double *us;
	int n, cap;
} ranking;

enum {
	REL_TWIN,      /* same columns, a dtype of the same size (bf16 <-> f16) */
	REL_DTYPE,     /* same columns, a dtype of another size */
	REL_WIDTH,     /* same dtype, columns within a factor of 2 */
	REL_WIDTH_DTYPE /* another dtype, columns within a factor of 2 */
};

#define MAX_RANKINGS 16

/* The part of a problem key after its columns ("|opts|smN|gpu|rB"), or NULL. */
static const char *key_tail(const char *key)
{
	const char *p = key;
	for (int i = 0; i < 4 && p; i++)
		if ((p = strchr(p, '|')))
			p++;
	return p ? p - 1 : NULL;
}

/* cfg with vec=V replaced by vec=V*num/den (the same bytes per access in
 * another dtype); 0 when there is no whole number for it. */
static int map_vec(char *out, size_t len, const char *cfg, int num, int den)
{
	const char *at = strstr(cfg, "vec=");
	int v, w;
	if (!at || num == den) {
		snprintf(out, len, "%s", cfg);
		return 1;
	}
	v = atoi(at + 4);
	if ((v * num) % den || (w = v * num / den) < 1)
		return 0;
	at += 4;
	snprintf(out, len, "%.*s%d%s", (int)(at - cfg), cfg, w, at + strspn(at, "0123456789"));
	return 1;
}

static int by_us(const void *pa, const void *pb, void *arg)
{
	const ranking *r = arg;
	double a = r->us[*(const int *)pa], b = r->us[*(const int *)pb];
	return (a > b) - (a < b);
}

/* Gather the rankings of the problems related to x->key (same op, pass,
 * options, SM, GPU and rows bucket; see REL_*) from the trial records. */
static int find_rankings(const trial_ctx *x, int op, int dtype, long long cols, ranking *rk)
{
	char prefix[64], k[KG_KEY_MAX + 8], v[64];
	const char *tail = key_tail(x->key);
	found f = {0};
	int nr = 0, n = snprintf(prefix, sizeof prefix, "%s|%s|", kg_ops[op].op, kg_ops[op].pass);
	if (!tail)
		return 0;
	cache_scan(x->c, "trial", prefix, (size_t)n, collect, &f);
	for (int i = 0; i < f.n; i++) {
		char *sep = strchr(f.cfg[i], '\x1f'), *d, *c;
		const char *t;
		int dt, r, rel;
		long long cc;
		if (!sep)
			continue;
		*sep = 0;
		t = key_tail(f.cfg[i]);
		if (!t || strcmp(t, tail) || strlen(f.cfg[i]) >= KG_KEY_MAX)
			continue;
		snprintf(k, sizeof k, "%s", f.cfg[i] + n); /* "dtype|cN|..." */
		d = k;
		if (!(c = strchr(d, '|')) || c[1] != 'c')
			continue;
		*c = 0;
		cc = strtoll(c + 2, NULL, 10);
		if ((dt = kg_dtype_parse(d)) < 0 || cc < 1 || (dt == dtype && cc == cols))
			continue;
		if (cc == cols)
			rel = kg_dtype_size(dt) == kg_dtype_size(dtype) ? REL_TWIN : REL_DTYPE;
		else if (cc <= 2 * cols && cols <= 2 * cc)
			rel = dt == dtype ? REL_WIDTH : REL_WIDTH_DTYPE;
		else
			continue;
		for (r = 0; r < nr && strcmp(rk[r].key, f.cfg[i]); r++)
			;
		if (r == nr) {
			if (nr == MAX_RANKINGS)
				continue;
			memset(&rk[nr], 0, sizeof rk[nr]);
			snprintf(rk[nr].key, sizeof rk[nr].key, "%s", f.cfg[i]);
			rk[nr].dtype = dt;
			rk[nr].cols = cc;
			rk[nr].relation = rel;
			rk[nr].epoch = -1;
			nr++;
		}
		ranking *R = &rk[r];
		const char *rec = f.rec[i], *cfg = sep + 1;
		if (!*cfg) { /* the epoch record */
			R->epoch = (long)rec_num(rec, "epoch");
			R->complete = (int)rec_num(rec, "complete");
			continue;
		}
		if (rec_get(rec, "status", v, sizeof v) || strcmp(v, "ok") || rec_get(rec, "stamp", v, sizeof v) ||
		    strcmp(v, x->stamp))
			continue;
		char mapped[192];
		if (!map_vec(mapped, sizeof mapped, cfg, kg_dtype_size(dt), kg_dtype_size(dtype)))
			continue;
		if (R->n == R->cap) {
			int cap = R->cap ? 2 * R->cap : 64;
			char **a = realloc(R->cfg, sizeof *a * (size_t)cap);
			double *b;
			if (!a)
				continue;
			R->cfg = a;
			if (!(b = realloc(R->us, sizeof *b * (size_t)cap)))
				continue;
			R->us = b;
			R->cap = cap;
		}
		/* the epoch goes with the config until the epoch record is known */
		char *m = malloc(strlen(mapped) + 24);
		if (!m)
			continue;
		sprintf(m, "%ld\x1f%s", (long)rec_num(rec, "epoch"), mapped);
		R->cfg[R->n] = m;
		R->us[R->n++] = rec_num(rec, "time_us");
	}
	for (int i = 0; i < f.n; i++) {
		free(f.cfg[i]);
		free(f.rec[i]);
	}
	free(f.cfg);
	free(f.rec);
	/* keep the current epoch's trials, fastest first */
	for (int r = 0; r < nr; r++) {
		ranking *R = &rk[r];
		int m = 0, *idx = malloc(sizeof *idx * (size_t)(R->n ? R->n : 1));
		char **cfg = malloc(sizeof *cfg * (size_t)(R->n ? R->n : 1));
		double *us = malloc(sizeof *us * (size_t)(R->n ? R->n : 1));
		long epoch = R->epoch < 0 ? 0 : R->epoch;
		if (!idx || !cfg || !us) {
			free(idx);
			free(cfg);
			free(us);
			for (int i = 0; i < R->n; i++)
				free(R->cfg[i]);
			R->n = 0;
			continue;
		}
		for (int i = 0; i < R->n; i++)
			if (strtol(R->cfg[i], NULL, 10) == epoch)
				idx[m++] = i;
		qsort_r(idx, (size_t)m, sizeof *idx, by_us, R);
		for (int i = 0; i < m; i++) {
			char *c = strchr(R->cfg[idx[i]], '\x1f') + 1;
			memmove(R->cfg[idx[i]], c, strlen(c) + 1);
			cfg[i] = R->cfg[idx[i]];
			us[i] = R->us[idx[i]];
			R->cfg[idx[i]] = NULL;
		}
		for (int i = 0; i < R->n; i++)
			free(R->cfg[i]);
		free(R->cfg);
		free(R->us);
		free(idx);
		R->cfg = cfg;
		R->us = us;
		R->n = R->cap = m;
	}
	return nr;
}

static void rankings_free(ranking *rk, int nr)
{
	for (int r = 0; r < nr; r++) {
		for (int i = 0; i < rk[r].n; i++)
			free(rk[r].cfg[i]);
		free(rk[r].cfg);
		free(rk[r].us);
	}
}

static int rank_of(const ranking *R, const char *cfg)
{
	for (int i = 0; i < R->n; i++)
		if (!strcmp(R->cfg[i], cfg))
			return i;
	return -1;
}

/* Order the variants so that the likely winners come first: the default,
 * then by their best place in the rankings of related problems (a place
 * counts more in a nearer relation), then the rest in the template's order.
 * With a complete twin ranking (and not --full), the twin's order alone,
 * and returns the twin's dtype: the run may stop once its leaders are
 * timed; else -1. */
int plan_order(const trial_ctx *x, const tune_opts *o, int op, pool *p, tune_result *res, int ranked_top)
{
	ranking rk[MAX_RANKINGS];
	int nr = find_rankings(x, op, o->dtype, o->cols, rk), twin = -1, n = p->n, used = 0, len = 0, twin_dtype;
	long *score = malloc(sizeof *score * (size_t)(n ? n : 1));
	int *perm = malloc(sizeof *perm * (size_t)(n ? n : 1));
	job *jobs = malloc(sizeof *jobs * (size_t)(n ? n : 1));
	tune_trial *trials = malloc(sizeof *trials * (size_t)(n ? n : 1));
	for (int r = 0; r < nr; r++)
		if (rk[r].relation == REL_TWIN && rk[r].complete && rk[r].n >= ranked_top && !o->full)
			twin = r;
	for (int i = 0; i < n; i++)
		p->jobs[i].twin_rank = twin >= 0 ? rank_of(&rk[twin], res->trials[i].config) : -1;
	twin_dtype = twin >= 0 ? rk[twin].dtype : -1;
	if (!score || !perm || !jobs || !trials || !nr)
		goto out;
	for (int i = 0; i < n; i++) {
		long best = LONG_MAX;
		for (int r = 0; r < nr; r++) {
			int at;
			if (twin >= 0 && r != twin)
				continue;
			if ((at = rank_of(&rk[r], res->trials[i].config)) >= 0 && 4L * at + rk[r].relation < best)
				best = 4L * at + rk[r].relation;
		}
		score[i] = i == 0 ? -1 : best; /* the default stays first */
		perm[i] = i;
	}
	/* a stable insertion sort: spaces are a few hundred variants */
	for (int i = 1; i < n; i++)
		for (int k = i; k > 0 && score[perm[k - 1]] > score[perm[k]]; k--) {
			int t = perm[k];
			perm[k] = perm[k - 1];
			perm[k - 1] = t;
		}
	for (int i = 0; i < n; i++) {
		jobs[i] = p->jobs[perm[i]];
		trials[i] = res->trials[perm[i]];
	}
	memcpy(p->jobs, jobs, sizeof *jobs * (size_t)n);
	memcpy(res->trials, trials, sizeof *trials * (size_t)n);
	/* name the rankings used (at most three) */
	for (int r = 0; r < nr; r++) {
		if ((twin >= 0 && r != twin) || !rk[r].n)
			continue;
		if (used++ < 3 && len >= 0 && (size_t)len < sizeof res->order)
			len += snprintf(res->order + len, sizeof res->order - (size_t)len, "%s%s %s %lld",
			                len ? ", " : "the rankings of ", kg_dtype_names[rk[r].dtype],
			                kg_ops[op].xent ? "vocab" : "cols", rk[r].cols);
	}
	if (used > 3 && len >= 0 && (size_t)len < sizeof res->order)
		snprintf(res->order + len, sizeof res->order - (size_t)len, " and %d more", used - 3);
	if (twin >= 0)
		snprintf(res->order, sizeof res->order, "the ranking of %s %s %lld (finished)", kg_dtype_names[rk[twin].dtype],
		         kg_ops[op].xent ? "vocab" : "cols", rk[twin].cols);
out:
	free(score);
	free(perm);
	free(jobs);
	free(trials);
	rankings_free(rk, nr);
	return twin_dtype;
}
