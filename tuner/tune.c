/* tune.c: the search for one problem (see tune.h). tune_run calls one
 * function per phase:
 *
 * 1. render_space: the template enumerates the space and renders every
 *    variant (the template's default first: the variant a short budget
 *    still times); a variant the template rejects, or whose geometry
 *    exceeds the limits, is pruned here;
 * 2. plan_trials: trial records of an earlier run of this problem (same
 *    GPU, rows and template stamp; the same compiled variant) are taken as
 *    they are (trials.c), and the rest ordered likely winners first (the
 *    rankings of related problems in the cache, rank.c);
 * 3. compile_space: the pool of pool.c compiles the rest with NVRTC (a
 *    cubin already in the cache under the variant's hash is reused);
 * 4. open_gpu, check_and_time: on the GPU each variant is loaded; one that
 *    spills, cannot launch its block or fits no CTA on a multiprocessor is
 *    pruned; the others run once on fresh random data and are compared
 *    with the fp64 reference on a sample of rows; a mismatch is recorded
 *    and never timed or kept; the rest are timed with the shared harness
 *    (L2 flushed, events, median), next to a device-to-device copy of the
 *    same bytes; each trial goes into the cache as soon as it is known;
 * 5. finish: the fastest timed again (the final round), the fastest stored.
 * A budget (for step 3, then again for step 4) or a stop request ends them
 * early; the best so far is kept.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "cache.h"
#include "err.h"
#include "gen.h"
#include "internal.h"
#include "ops.h"
#include "pool.h"
#include "ref.h"
#include "tune.h"
#include "tune_int.h"

const char *const tune_prune_names[TUNE_NPRUNE] = {"template", "limits", "threads", "spills", "occupancy"};

/* Timing in two rounds: every variant with SCREEN_REPS runs (after its
 * check), then the fastest FINAL_MAX of those within FINAL_WITHIN of the
 * fastest again with all the reps: the median of 10 runs ranks variants
 * that differ by more than the spread of one kernel's runs (about 2%) with
 * a fifth of the timed runs (the check-and-time phase took about half as
 * long on an H100: bench/NOTES.md). */
#define SCREEN_REPS 10
#define FINAL_MAX 8
#define FINAL_WITHIN 1.10

#define MAX_BLOCK 1024   /* threads per CTA, every SM */
#define MAX_CLUSTER 16   /* CTAs per cluster (non-portable beyond 8), sm_90 */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int stop_asked(const tune_opts *o)
{
	return o->stop && *o->stop;
}

typedef struct run_arg {
	kg_launch l;
	op_data *d;
} run_arg;

static int run_fn(void *arg, CUstream s)
{
	run_arg *a = arg;
	return op_data_launch(a->d, &a->l, s);
}

static int trial_cmp(const void *pa, const void *pb)
{
	const tune_trial *a = pa, *b = pb;
	int ta = !strcmp(a->status, "ok"), tb = !strcmp(b->status, "ok");
	int ca = !strcmp(a->status, "checked"), cb = !strcmp(b->status, "checked");
	if (ta != tb)
		return tb - ta;
	if (ta && a->us != b->us)
		return a->us < b->us ? -1 : 1;
	if (ca != cb)
		return cb - ca;
	return strcmp(a->config, b->config);
}

/* Run one variant once on fresh outputs and compare with the reference. */
static int check_variant(run_arg *a, CUstream s, tune_trial *t)
{
	int rc;
	if ((rc = op_data_reset(a->d, s)) || (rc = run_fn(a, s)))
		return rc;
	return op_data_check(a->d, &t->max_err, t->detail, sizeof t->detail);
}

static void prune(tune_result *res, tune_trial *t, int why, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void prune(tune_result *res, tune_trial *t, int why, const char *fmt, ...)
{
	va_list ap;
	int n;
	set_status(t, "pruned", NULL);
	t->prune = why;
	n = snprintf(t->detail, sizeof t->detail, "%s: ", tune_prune_names[why]);
	va_start(ap, fmt);
	vsnprintf(t->detail + n, sizeof t->detail - (size_t)n, fmt, ap);
	va_end(ap);
	res->pruned++;
	res->pruned_by[why]++;
}

/* cache_outdated_fn: whether this run timed the stored record's
 * configuration itself (not resumed from an earlier run's trial) as well
 * as its fastest: then the run's own times judge, not the time the record
 * was stored with (taken before a change of the runtime, the driver or the
 * machine: a record timed before the split kernels launched cooperatively
 * kept its old, faster time against a --fresh --full search that had timed
 * it again slower than its winner). Decided inside the store's write
 * transaction, on the record it would replace. */
static int stored_retimed(const char *old, void *arg)
{
	const tune_result *res = arg;
	kg_best ob;
	if (!res->n || res->trials[0].resumed || kg_best_parse(old, &ob) || !ob.config[0])
		return 0;
	for (int i = 0; i < res->n; i++)
		if (!strcmp(res->trials[i].status, "ok") && !res->trials[i].resumed &&
		    !strcmp(res->trials[i].config, ob.config))
			return 1;
	return 0;
}

static void store_best(cache *c, const tune_opts *o, const kg_device *dev, const char *stamp, const pool *p,
                       tune_result *res, int force)
{
	char rec[2048];
	const tune_trial *t = &res->trials[0];
	const gen_variant *v = NULL;
	kg_best b = {0};
	int replaced = 0;
	if (!res->n || strcmp(t->status, "ok"))
		return;
	for (int i = 0; i < p->n; i++)
		if (p->jobs[i].v.config && !strcmp(p->jobs[i].v.config, t->config))
			v = &p->jobs[i].v;
	if (!v)
		return;
	snprintf(b.config, sizeof b.config, "%s", t->config);
	snprintf(b.kernel, sizeof b.kernel, "%s", v->kernel);
	snprintf(b.prep, sizeof b.prep, "%s", v->prep ? v->prep : "");
	snprintf(b.finish, sizeof b.finish, "%s", v->finish ? v->finish : "");
	b.block = v->block;
	b.smem = v->smem;
	b.rows_per_cta = v->rows_per_cta;
	b.cluster = v->cluster;
	b.persist = v->persist;
	snprintf(b.variant, sizeof b.variant, "%s", t->variant);
	b.time_us = t->us;
	b.p10_us = t->p10_us;
	b.p90_us = t->p90_us;
	b.gbps = t->gbps;
	b.copy_gbps = res->copy_gbps;
	b.rows = o->rows;
	snprintf(b.stamp, sizeof b.stamp, "%s", stamp);
	snprintf(b.nvrtc, sizeof b.nvrtc, "%s", kg_nvrtc_version());
	kg_cu.cuDriverGetVersion(&b.driver);
	snprintf(b.gpu, sizeof b.gpu, "%s", dev->name);
	utc_date(b.date, sizeof b.date);
	kg_best_format(&b, rec, sizeof rec);
	/* force: the record replaces the stored one whatever their times; so
	 * where this run timed the stored configuration too (stored_retimed,
	 * asked within the put's transaction; the trials are sorted: trials[0]
	 * was at least as fast in this run) */
	if (force ? cache_put(c, "best", res->key, strlen(res->key), rec, strlen(rec)) :
	            cache_put_best_if(c, res->key, rec, stored_retimed, res, &replaced))
		snprintf(res->store_error, sizeof res->store_error, "%s", kgen_last_error());
	else if (force)
		replaced = 1;
	res->stored = replaced;
}

/* The template's space, default first, rendered; rejected configs pruned. */
static int render_all(gen *g, const gen_problem *prob, pool *p, tune_result *res, char **configs, int n)
{
	char *dflt = NULL;
	int rc;
	if (gen_default(g, prob, &dflt) == 0) {
		for (int i = 1; i < n; i++)
			if (!strcmp(configs[i], dflt)) {
				char *tmp = configs[0];
				configs[0] = configs[i];
				configs[i] = tmp;
			}
	}
	free(dflt);
	for (int i = 0; i < n; i++) {
		tune_trial *t = &res->trials[i];
		job *j = &p->jobs[i];
		snprintf(t->config, sizeof t->config, "%s", configs[i]);
		set_status(t, "untimed", NULL);
		if ((rc = gen_render(g, prob, configs[i], &j->v))) {
			if (rc != KGEN_EINVAL)
				return rc; /* a template bug, not a rejected config */
			prune(res, t, TUNE_PRUNE_TEMPLATE, "%s", kgen_last_error());
			j->skip = 1;
			continue;
		}
		snprintf(t->config, sizeof t->config, "%s", j->v.config);
		snprintf(j->hex, sizeof j->hex, "%016llx", (unsigned long long)kg_variant_hash(j->v.source, prob->sm));
		snprintf(t->variant, sizeof t->variant, "%s", j->hex);
	}
	return 0;
}

/* Geometry that cannot launch on the SM (or on this GPU, smem_optin > 0). */
static void prune_limits(pool *p, tune_result *res, int smem_optin)
{
	for (int i = 0; i < p->n; i++) {
		job *j = &p->jobs[i];
		tune_trial *t = &res->trials[i];
		if (j->skip)
			continue;
		if (j->v.block < 1 || j->v.block > MAX_BLOCK)
			prune(res, t, TUNE_PRUNE_LIMITS, "a block of %u threads (at most %d)", j->v.block, MAX_BLOCK);
		else if (!j->v.split && (j->v.cluster > MAX_CLUSTER || (j->v.cluster > 1 && p->sm < 90)))
			prune(res, t, TUNE_PRUNE_LIMITS, "a cluster of %u CTAs (sm_%d: at most %d)", j->v.cluster, p->sm,
			      p->sm < 90 ? 1 : MAX_CLUSTER);
		else if (smem_optin > 0 && j->v.smem > (unsigned)smem_optin)
			prune(res, t, TUNE_PRUNE_LIMITS, "%u bytes of dynamic shared memory (the GPU allows %d)", j->v.smem,
			      smem_optin);
		else
			continue;
		j->skip = 1;
	}
}

/* Load job j's cubin: a's launch (kernel, prep, geometry, persistent grid cap). */
static int load_job(const job *j, run_arg *a, const kg_device *dev, CUmodule *mod)
{
	int rc;
	const unsigned cluster = j->v.split ? 1 : j->v.cluster; /* a split row's CTAs are no cluster */
	a->l = (kg_launch){.block = j->v.block, .smem = j->v.smem, .rows_per_cta = j->v.rows_per_cta,
	                   .cluster = j->v.cluster, .split = j->v.split};
	rc = kg_module_load(j->cubin, j->v.kernel, j->v.prep, j->v.finish, j->v.smem, cluster, mod, &a->l);
	if (!rc)
		a->l.max_grid = kg_max_grid(a->l.fn, j->v.persist, j->v.block, j->v.smem, cluster, dev->sms, (int)j->v.split);
	return rc;
}

/* A timing's median, percentiles and bandwidth into t. */
static void set_time(tune_trial *t, const bench_stats *st, long long bytes)
{
	t->us = st->median_us;
	t->p10_us = st->p10_us;
	t->p90_us = st->p90_us;
	t->gbps = (double)bytes / st->median_us * 1e-3;
}

static int by_time(const void *pa, const void *pb, void *arg)
{
	const tune_trial *t = arg;
	double a = t[*(const int *)pa].us, b = t[*(const int *)pb].us;
	return (a > b) - (a < b);
}

/* The second round of timing: the variants timed in this run whose first
 * time is within FINAL_WITHIN of the fastest (of this run or resumed),
 * FINAL_MAX at most, each with all the reps; the record is rewritten. */
static void final_round(tune_result *res, pool *p, op_data *data, bench *b, const trial_ctx *tx, const kg_device *dev,
                        int reps, const tune_opts *o)
{
	int *idx = malloc(sizeof *idx * (size_t)(res->n > 0 ? res->n : 1)), m = 0;
	double best = 0;
	if (!idx)
		return;
	for (int i = 0; i < res->n; i++)
		if (!strcmp(res->trials[i].status, "ok") && (best == 0 || res->trials[i].us < best))
			best = res->trials[i].us;
	for (int i = 0; i < res->n; i++)
		if (!res->trials[i].resumed && !strcmp(res->trials[i].status, "ok") &&
		    res->trials[i].us <= best * FINAL_WITHIN)
			idx[m++] = i;
	qsort_r(idx, (size_t)m, sizeof *idx, by_time, res->trials);
	if (m > FINAL_MAX)
		m = FINAL_MAX;
	for (int k = 0; k < m && !stop_asked(o); k++) {
		tune_trial *t = &res->trials[idx[k]];
		job *j = &p->jobs[idx[k]];
		run_arg a = {.d = data};
		CUmodule mod;
		bench_stats st;
		if (o->progress)
			o->progress(o->progress_arg, "final", k + 1, m, t->config);
		if (load_job(j, &a, dev, &mod))
			continue; /* it loaded a moment ago: keep its first time */
		if (!bench_run(b, run_fn, &a, reps, &st)) {
			set_time(t, &st, res->bytes);
			write_trial(tx, t);
		}
		kg_cu.cuModuleUnload(mod);
	}
	free(idx);
}

/* After loading: prune what spills, cannot launch its block or fits no CTA
 * on a multiprocessor. Returns 1 when pruned. */
static int prune_loaded(tune_result *res, tune_trial *t, const job *j, CUfunction fn, unsigned max_grid)
{
	int max_threads = 0, static_smem = 0, blocks = -1;
	kg_cu.cuFuncGetAttribute(&t->regs, CU_FUNC_ATTRIBUTE_NUM_REGS, fn);
	kg_cu.cuFuncGetAttribute(&t->local_bytes, CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES, fn);
	kg_cu.cuFuncGetAttribute(&static_smem, CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, fn);
	if (kg_cu.cuFuncGetAttribute(&max_threads, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, fn))
		max_threads = MAX_BLOCK;
	if (t->local_bytes > 0) {
		prune(res, t, TUNE_PRUNE_SPILLS, "%d bytes of local memory per thread (%d registers)", t->local_bytes,
		      t->regs);
		return 1;
	}
	if (max_threads < (int)j->v.block) {
		prune(res, t, TUNE_PRUNE_THREADS, "at most %d threads per block with %d registers per thread, not %u",
		      max_threads, t->regs, j->v.block);
		return 1;
	}
	if (!kg_cu.cuOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, fn, (int)j->v.block, j->v.smem) && blocks == 0) {
		prune(res, t, TUNE_PRUNE_OCCUPANCY,
		      "no CTA of %u threads fits on a multiprocessor (%d registers per thread, %d + %u bytes of shared memory)",
		      j->v.block, t->regs, static_smem, j->v.smem);
		return 1;
	}
	/* a row split over CTAs that are no cluster waits on all of them: they
	 * must be resident at once (or the kernel would never end) */
	if (j->v.split && max_grid < j->v.cluster) {
		prune(res, t, TUNE_PRUNE_OCCUPANCY, "a row over %u CTAs, of which this GPU holds %u at once", j->v.cluster,
		      max_grid);
		return 1;
	}
	return 0;
}

/* The pool of a problem's n variants, rendered (render_all); res gets one
 * trial each. */
static int render_jobs(gen *g, const gen_problem *prob, pool *p, tune_result *res, char **configs, int n,
                       const tune_opts *o)
{
	if (pool_init(p, n, prob->sm, o) || !(res->trials = calloc((size_t)n, sizeof *res->trials)))
		return kg_err(KGEN_ENOMEM, "out of memory");
	res->n = n;
	return render_all(g, prob, p, res, configs, n);
}

/* What the phases of one tune_run share. */
typedef struct tune_ctx {
	const tune_opts *o;
	tune_result *res;
	int op, sm;
	int gpu_rc;          /* why there is no GPU to time on (msg says more), or 0 */
	int smem_optin;      /* the GPU's dynamic shared memory per block */
	int ranked_top, twin_cut;
	int prior_used, prior_top; /* the prior pack's configuration timed second; stop after prior_top */
	int prior_added;     /* with prior_used: the variants of o->prior_add moved after it */
	double near_copy;
	double t0, t1;       /* the start, and the start on the GPU */
	char msg[512], stamp[96], optstr[96];
	gen *g;
	gen_problem prob;
	char **configs;
	int n;
	cache *c;
	pool p;              /* set up once p.o is set */
	trial_ctx tx;
	kg_device dev;
	CUdevice cudev;
	CUcontext cuctx;
	bench *b;
	op_problem op_p;
	op_data data;
	int have_data;
	int reps, screen;    /* the final round's reps, and the first round's */
} tune_ctx;

/* The problem's fields, before anything is opened: 0, or KGEN_EINVAL. */
static int check_problem(const tune_opts *o, int *op)
{
	if ((*op = kg_op_find(o->op, o->pass ? o->pass : "fwd")) < 0)
		return kg_err(KGEN_EINVAL, "unknown op '%s' with pass '%s'", o->op ? o->op : "", o->pass ? o->pass : "fwd");
	if (o->dtype < 0 || o->dtype > KGEN_BF16)
		return kg_err(KGEN_EINVAL, "unknown dtype %d", o->dtype);
	if (o->cols < 1 || o->cols > INT32_MAX)
		return kg_err(KGEN_EINVAL, "cols must be in 1..2147483647 (got %lld)", o->cols);
	if (o->rows < 1 || o->rows > INT32_MAX)
		return kg_err(KGEN_EINVAL, "rows must be in 1..2147483647 (got %lld)", o->rows);
	if (o->opts && !kg_ops[*op].xent)
		return kg_err(KGEN_EINVAL, "op '%s' takes no cross-entropy options", o->op);
	if (o->share_n > 1 && (o->share_i < 0 || o->share_i >= o->share_n))
		return kg_err(KGEN_EINVAL, "share %d of %d: must be in 0..%d", o->share_i, o->share_n, o->share_n - 1);
	return 0;
}

/* The GPU, when there is one: its SM is the default target. Without one
 * (or with one of another SM) x->gpu_rc says why; an error only when no SM
 * is known either. */
static int find_gpu(tune_ctx *x)
{
	const tune_opts *o = x->o;
	CUresult r;
	x->sm = o->sm;
	if (!(x->gpu_rc = kg_cu_load())) {
		if ((r = kg_cu.cuDeviceGet(&x->cudev, o->device)))
			x->gpu_rc = kg_err(KGEN_ENODEVICE, "no CUDA device %d: %s", o->device, kg_cu_errstr(r));
		else if ((x->gpu_rc = kg_device_query(x->cudev, &x->dev)) == 0) {
			if (x->sm && x->dev.sm != x->sm) {
				/* Compile for the SM asked for; timing needs a GPU of it. */
				x->gpu_rc = kg_err(KGEN_EARCH, "GPU %d '%s' is sm_%d, not sm_%d", o->device, x->dev.name,
				                   x->dev.sm, x->sm);
			} else {
				x->sm = x->dev.sm;
				snprintf(x->res->gpu, sizeof x->res->gpu, "%s", x->dev.name);
				kg_cu.cuDeviceGetAttribute(&x->smem_optin, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
				                           x->cudev);
			}
		}
	}
	if (x->gpu_rc)
		snprintf(x->msg, sizeof x->msg, "%s", kgen_last_error());
	if (!x->sm)
		return kg_err(x->gpu_rc ? x->gpu_rc : KGEN_EINVAL, "no GPU to take the SM from (%s): give the SM", x->msg);
	x->res->sm = x->sm;
	return 0;
}

/* Plan and render: the problem's key, the template's space rendered into
 * the pool, what the template and the limits reject pruned, the cache
 * opened. */
static int render_space(tune_ctx *x)
{
	const tune_opts *o = x->o;
	tune_result *res = x->res;
	int rc;
	kg_opts_string(x->op, o->opts, x->optstr, sizeof x->optstr);
	x->prob = (gen_problem){kg_ops[x->op].op, kg_ops[x->op].pass, o->dtype, o->cols, x->sm, x->optstr};
	kg_problem_key(res->key, sizeof res->key, x->op, o->opts, o->dtype, o->cols, x->sm,
	               res->gpu[0] ? res->gpu : "-", kg_rows_bucket(o->rows));
	if ((rc = gen_open(&x->g)) || (rc = gen_space(x->g, &x->prob, &x->configs, &x->n)))
		return rc;
	if (x->n == 0)
		return kg_err(KGEN_EUNSUPPORTED, "the template has no variant for %s %s %s cols=%lld sm_%d", o->op,
		              kg_ops[x->op].pass, kg_dtype_names[o->dtype], o->cols, x->sm);
	for (int k = 0; k < o->n_only; k++) {
		int found = 0;
		for (int i = 0; i < x->n && !found; i++)
			found = !strcmp(x->configs[i], o->only[k]);
		if (!found)
			return kg_err(KGEN_EINVAL, "--only '%s' is not a variant of %s %s %s cols=%lld sm_%d ('kgen space' lists them)",
			              o->only[k], o->op, kg_ops[x->op].pass, kg_dtype_names[o->dtype], o->cols, x->sm);
	}
	kg_stamp(x->stamp, sizeof x->stamp, gen_template_hash(x->g, gen_family(kg_ops[x->op].op)));
	if ((rc = render_jobs(x->g, &x->prob, &x->p, res, x->configs, x->n, o)))
		return rc;
	x->p.deadline = o->budget_s > 0 ? x->t0 + o->budget_s : 0;
	prune_limits(&x->p, res, x->gpu_rc ? 0 : x->smem_optin);
	if (o->cache) {
		x->c = o->cache;
	} else if (!x->c && (rc = cache_open(&x->c, o->cache_dir, 0))) { /* (keep_record may have opened it) */
		return rc;
	}
	snprintf(res->cache_dir, sizeof res->cache_dir, "%s", cache_dir(x->c));
	x->tx = (trial_ctx){x->c, res->key, x->stamp, o->rows, 0, 0};
	return 0;
}

/* How many of the planned variants are compiled before the timing starts
 * (the rest in the background while it runs): with a twin's finished
 * ranking its leaders, else TUNE_COMPILE_FIRST. */
static int compiled_first(int twin_cut, int ranked_top)
{
	return twin_cut >= 0 ? 1 + 2 * ranked_top : TUNE_COMPILE_FIRST;
}

/* Whether config (k=v,...) sets one of o->prior_add's KEY=VALUE. */
static int prior_adds(const tune_opts *o, const char *config)
{
	for (int k = 0; k < o->n_prior_add; k++) {
		const size_t n = strlen(o->prior_add[k]);
		for (const char *s = config; s; s = strchr(s, ',') ? strchr(s, ',') + 1 : NULL)
			if (!strncmp(s, o->prior_add[k], n) && (s[n] == ',' || !s[n]))
				return 1;
	}
	return 0;
}

/* Job `from` (and its trial) moved to index `to` < from, those between
 * one on. */
static void move_job(pool *p, tune_result *res, int from, int to)
{
	job j = p->jobs[from];
	tune_trial t = res->trials[from];
	memmove(&p->jobs[to + 1], &p->jobs[to], sizeof *p->jobs * (size_t)(from - to));
	memmove(&res->trials[to + 1], &res->trials[to], sizeof *res->trials * (size_t)(from - to));
	p->jobs[to] = j;
	res->trials[to] = t;
}

/* The prior pack's record of the problem (key; any stamp): its
 * configuration moved to just after the template's default, so that it is
 * timed second, and after it the variants that set one of o->prior_add's
 * KEY=VALUE (new since the prior pack), in plan order. 1 + the number of
 * those moved when the record names a variant of the space, else 0 (no
 * prior pack, no record, or a configuration the space lacks). Variants an
 * earlier run timed (resumed) count too: a stopped run started again goes
 * on with the same plan, their times counting toward the early stop. */
static int prior_first(const tune_opts *o, const char *key, pool *p, tune_result *res)
{
	void *val = NULL;
	size_t len = 0;
	kg_best b;
	int at = -1;
	if (!o->prior || o->full || cache_get(o->prior, "best", key, strlen(key), &val, &len))
		return 0;
	if (!kg_best_parse(val, &b))
		for (int i = 0; i < p->n && at < 0; i++)
			if (!strcmp(res->trials[i].config, b.config))
				at = i;
	free(val);
	if (at < 0)
		return 0;
	if (at > 1)
		move_job(p, res, at, 1);
	int next = at == 0 ? 1 : 2, added = 0; /* (the record may be the default) */
	for (int i = next; i < p->n; i++)
		if (prior_adds(o, res->trials[i].config))
			move_job(p, res, i, next + added++);
	return 1 + added;
}

/* Every job after the first `first` of those not skipped (pruned or
 * resumed) left for later. */
static void leave_for_later(pool *p, int first)
{
	for (int i = 0, k = 0; i < p->n; i++)
		if (!p->jobs[i].skip && k++ >= first)
			p->jobs[i].later = 1;
}

/* Whether config is one of o->only. */
static int only_asked(const tune_opts *o, const char *config)
{
	for (int k = 0; k < o->n_only; k++)
		if (!strcmp(o->only[k], config))
			return 1;
	return 0;
}

/* A share of the space (no_time, share_n > 1; of the variants want()
 * keeps, when given): the others' variants skipped, not compiled. Trials
 * and resume (with a GPU to time on): the outcomes of earlier runs taken,
 * likely winners first; the first few compiled before the timing starts,
 * the rest while it runs (the timing waits for a variant not yet
 * compiled), so that an early stop or the budget saves their compiling;
 * with a twin's finished ranking its leaders first and the rest only if the
 * timing reaches them. */
static void plan_trials(tune_ctx *x)
{
	const tune_opts *o = x->o;
	if ((o->no_time && (o->share_n > 1 || o->want)) || o->n_only)
		for (int i = 0, k = 0; i < x->n; i++) {
			const char *why = NULL;
			if (x->p.jobs[i].skip)
				continue;
			if (o->n_only && !only_asked(o, x->res->trials[i].config))
				why = "not asked for (--only)";
			else if (o->no_time && o->want && !o->want(o->want_arg, x->res->trials[i].config))
				why = "not wanted";
			else if (o->share_n > 1 && k++ % o->share_n != o->share_i)
				why = "another share's";
			if (why) {
				x->p.jobs[i].skip = 1;
				set_status(&x->res->trials[i], "skipped", why);
				x->res->skipped++;
			}
		}
	if (x->gpu_rc || o->no_time)
		return;
	/* --only writes no trial record and starts no epoch (--fresh then only
	 * leaves the earlier outcomes unread) */
	x->tx.no_write = o->n_only > 0;
	x->tx.epoch = trial_epoch(x->c, x->res->key, o->fresh && !o->n_only);
	if (!o->fresh)
		resume(&x->tx, &x->p, x->res);
	x->twin_cut = plan_order(&x->tx, o, x->op, &x->p, x->res, x->ranked_top);
	const int head = x->twin_cut < 0 ? prior_first(o, x->res->key, &x->p, x->res) : 0;
	x->prior_used = head > 0;
	x->prior_added = head > 0 ? head - 1 : 0;
	if (x->prior_used) {
		char was[sizeof x->res->order], added[64] = "";
		snprintf(was, sizeof was, "%s", x->res->order);
		if (o->n_prior_add)
			snprintf(added, sizeof added, ", then the %d variant%s of --prior-add", x->prior_added,
			         x->prior_added == 1 ? "" : "s");
		snprintf(x->res->order, sizeof x->res->order, "the prior pack's record first%s%s%s", added,
		         was[0] ? "; " : "", was);
	}
	leave_for_later(&x->p, x->prior_used ? x->prior_top + x->prior_added : compiled_first(x->twin_cut, x->ranked_top));
}

/* The cubins the cache did not take (a full disk): an error. */
static int write_failure(const pool *p)
{
	return kg_err(KGEN_ECACHE, "%d compiled variant%s could not be stored in the cache: %s", p->write_failed,
	              p->write_failed == 1 ? "" : "s", p->write_error);
}

/* Compile everything (NVRTC needs no GPU) and count the outcomes. Without
 * a GPU to time on, the error that says so. */
static int compile_space(tune_ctx *x)
{
	tune_result *res = x->res;
	pool *p = &x->p;
	p->cache = x->c;
	compile_all(p, x->o->jobs);
	for (int i = 0; i < x->n; i++) {
		tune_trial *t = &res->trials[i];
		job *j = &p->jobs[i];
		if (j->skip)
			continue;
		if (j->later && (p->spent || p->stopped)) { /* in plan order after those: not compiled either */
			j->later = 0;
			j->skip = 1;
			set_status(t, "untimed", p->stopped ? "stopped before it was compiled"
			                                    : "the budget was spent before it was compiled");
			res->untimed++;
			continue;
		}
		if (j->later)
			continue;
		if (!j->started) {
			set_status(t, "untimed", p->stopped ? "stopped before it was compiled"
			                                    : "the budget was spent before it was compiled");
			res->untimed++;
		} else if (j->rc) {
			set_status(t, "compile", j->log ? j->log : "compile failed");
			res->rejected++;
		}
		res->compiled += j->started && !j->reused;
		res->reused += j->reused;
	}
	res->interrupted = p->stopped;
	res->budget_spent = p->spent;
	res->compile_s = now_s() - x->t0;
	if (p->write_failed)
		return write_failure(p);
	if (x->gpu_rc) {
		int done = res->compiled - res->rejected + res->reused, want = x->n - res->pruned;
		if (done == want)
			return kg_err(x->gpu_rc, "timing needs a GPU of sm_%d (%s); %d variants are compiled into '%s'", x->sm,
			              x->msg, done, res->cache_dir);
		return kg_err(x->gpu_rc, "timing needs a GPU of sm_%d (%s); %d of %d variants are compiled into '%s'",
		              x->sm, x->msg, done, want, res->cache_dir);
	}
	return 0;
}

/* On the GPU: its context, the test problem, the timing harness and the
 * copy; the pruned trials recorded. The budget starts again: a cold compile
 * (NVRTC at long rows takes seconds) must not leave the likely winners
 * untimed. */
static int open_gpu(tune_ctx *x)
{
	const tune_opts *o = x->o;
	tune_result *res = x->res;
	CUresult r;
	int rc;
	x->t1 = now_s();
	if (o->budget_s > 0)
		x->p.deadline = x->t1 + o->budget_s;
	if ((r = kg_cu.cuDevicePrimaryCtxRetain(&x->cuctx, x->cudev)) || (r = kg_cu.cuCtxSetCurrent(x->cuctx))) {
		x->cuctx = NULL;
		return kg_cu_fail("cuDevicePrimaryCtxRetain", r);
	}
	x->op_p = (op_problem){
		.op = x->op, .opts = o->opts, .dtype = o->dtype, .rows = o->rows, .cols = o->cols,
		.eps = 0.1, .zloss = 1e-4, .softcap = 30.0, .denominator = 1.0, .reduction = -1,
		.ignore_frac = kg_ops[x->op].xent ? 0.1 : 0.0,
		.seed = o->seed ? o->seed : (uint64_t)(now_s() * 1e9) ^ ((uint64_t)getpid() << 32),
		.threads = o->threads,
	};
	res->bytes = (long long)op_problem_bytes(&x->op_p);
	if ((rc = bench_open(&x->b, &x->dev)))
		return rc;
	x->reps = o->reps > 0 ? o->reps : 50;
	x->screen = x->reps > SCREEN_REPS ? SCREEN_REPS : x->reps;
	if (!o->no_time) {
		bench_stats st;
		/* A copy that moves as many bytes as the op must (half read, half
		 * written), so that both pay the same fixed costs. */
		size_t half = (size_t)res->bytes / 2 > 0 ? (size_t)res->bytes / 2 : 1;
		if ((rc = bench_copy(x->b, half, x->reps, &st)))
			return rc;
		res->copy_us = st.median_us;
		res->copy_gbps = 2.0 * (double)half / st.median_us * 1e-3;
		/* what the template and the limits pruned, for the record */
		for (int i = 0; i < x->n; i++)
			if (!res->trials[i].resumed && !strcmp(res->trials[i].status, "pruned"))
				write_trial(&x->tx, &res->trials[i]);
	}
	return 0;
}

/* The state of the check-and-time loop. */
typedef struct tally {
	int copy_stop;  /* the copy's early stop applies */
	int torun, k;   /* variants to check (and time), and checked so far */
	int done_ok;    /* variants timed (checked), resumed or now */
	int ranked_ok;  /* of them, in the twin's ranking */
	double best_us;
} tally;

/* Whether variant t is left out: an early stop, a stop request or the
 * budget (the default's time is always taken). */
static int left_out(tune_ctx *x, const tally *tl, tune_trial *t)
{
	tune_result *res = x->res;
	if (!res->early_stop[0] && tl->copy_stop && tl->best_us > 0 && tl->best_us <= res->copy_us * (1 + x->near_copy / 100))
		snprintf(res->early_stop, sizeof res->early_stop, "within %g%% of the copy", x->near_copy);
	if (!res->early_stop[0] && x->twin_cut >= 0 && tl->ranked_ok >= x->ranked_top)
		snprintf(res->early_stop, sizeof res->early_stop, "the top %d of %s's ranking timed", x->ranked_top,
		         kg_dtype_names[x->twin_cut]);
	if (!res->early_stop[0] && x->prior_used && tl->done_ok >= x->prior_top + x->prior_added)
		snprintf(res->early_stop, sizeof res->early_stop, "%d timed, the prior pack's configuration among them",
		         x->prior_top + x->prior_added);
	if (res->early_stop[0]) {
		set_status(t, "skipped", res->early_stop);
		res->skipped++;
		return 1;
	}
	if (stop_asked(x->o) || res->interrupted) {
		res->interrupted = 1;
		set_status(t, "untimed", "stopped before it was timed");
		res->untimed++;
		return 1;
	}
	/* the test data and its fp64 reference (made with the first variant,
	 * seconds at long rows) do not count */
	if (x->p.deadline > 0 && tl->done_ok > 0 && now_s() - res->gen_s > x->p.deadline) {
		res->budget_spent = 1;
		set_status(t, "untimed", "the budget was spent before it was timed");
		res->untimed++;
		return 1;
	}
	return 0;
}

/* A job left for later, once compiled: counted (once). */
static void count_later(tune_result *res, job *j)
{
	if (j->counted || !j->done)
		return;
	j->counted = 1;
	res->compiled += !j->reused;
	res->reused += j->reused;
}

/* Check and time variant i: compiled now if it was left for later, loaded,
 * pruned or checked against the reference, and (unless no_time) timed with
 * the first round's reps; its trial recorded. 0, or the error that ends
 * the run (the test data could not be made). */
static int check_and_time_one(tune_ctx *x, int i, tally *tl)
{
	const tune_opts *o = x->o;
	tune_result *res = x->res;
	tune_trial *t = &res->trials[i];
	job *j = &x->p.jobs[i];
	CUmodule mod;
	run_arg a = {.d = &x->data};
	int rc;
	if (j->later) { /* compiled in the background, or now */
		pool_await(&x->p, j);
		count_later(res, j);
		if (j->rc) {
			set_status(t, "compile", j->log ? j->log : "compile failed");
			res->rejected++;
			return 0;
		}
	}
	if (o->progress)
		o->progress(o->progress_arg, o->no_time ? "check" : "time", ++tl->k, tl->torun, t->config);
	if (!x->have_data) {
		double tg = now_s();
		if (o->progress)
			o->progress(o->progress_arg, "data", 0, 1, "random inputs and the fp64 reference");
		x->have_data = 1;
		rc = op_data_make(&x->data, &x->op_p);
		res->gen_s = now_s() - tg;
		if (rc)
			return rc;
	}
	if (load_job(j, &a, &x->dev, &mod)) {
		set_status(t, "launch", kgen_last_error());
		res->rejected++;
		if (!o->no_time)
			write_trial(&x->tx, t);
		return 0;
	}
	if (prune_loaded(res, t, j, a.l.fn, a.l.max_grid)) {
		/* pruned: nothing to run */
	} else if (res->ran++, check_variant(&a, bench_stream(x->b), t)) {
		set_status(t, "launch", kgen_last_error());
		res->rejected++;
	} else if (t->max_err > 1) {
		set_status(t, "mismatch", NULL);
		res->rejected++;
	} else if (!o->no_time) {
		bench_stats st;
		if (bench_run(x->b, run_fn, &a, x->screen, &st)) {
			set_status(t, "launch", kgen_last_error());
			res->rejected++;
		} else {
			set_status(t, "ok", NULL);
			set_time(t, &st, res->bytes);
			tl->done_ok++;
			tl->ranked_ok += j->twin_rank >= 0;
			if (tl->best_us == 0 || t->us < tl->best_us)
				tl->best_us = t->us;
		}
	} else {
		set_status(t, "checked", NULL);
		tl->done_ok++;
	}
	kg_cu.cuModuleUnload(mod);
	if (!o->no_time)
		write_trial(&x->tx, t);
	return 0;
}

/* Check and time: every variant compiled (or left for later), in the
 * planned order, until an early stop, a stop request or the budget. The
 * early stops: nothing beats the copy by more than the noise once it is
 * long enough (an op that only reads, cross-entropy forward, can); a
 * twin's finished ranking names the leaders. */
static int check_and_time(tune_ctx *x, tally *tl)
{
	const tune_opts *o = x->o;
	tune_result *res = x->res;
	int rc;
	memset(tl, 0, sizeof *tl);
	tl->copy_stop = !o->full && !o->no_time && x->op != KG_XENT_FWD && res->copy_us >= TUNE_NEAR_COPY_MIN_US;
	for (int i = 0; i < x->n; i++) {
		const tune_trial *t = &res->trials[i];
		const job *j = &x->p.jobs[i];
		tl->torun += !j->skip && (j->later || (j->started && !j->rc));
		if (t->resumed && !strcmp(t->status, "ok")) {
			tl->done_ok++;
			tl->ranked_ok += j->twin_rank >= 0;
			if (tl->best_us == 0 || t->us < tl->best_us)
				tl->best_us = t->us;
		}
	}
	for (int i = 0; i < x->n; i++) {
		const job *j = &x->p.jobs[i];
		if (j->skip || (!j->later && (!j->started || j->rc)) || left_out(x, tl, &res->trials[i]))
			continue;
		if ((rc = check_and_time_one(x, i, tl)))
			return rc;
	}
	return 0;
}

/* The final round, the problem marked complete where it is, the trials
 * ranked and the best stored. */
static void finish(tune_ctx *x, const tally *tl)
{
	const tune_opts *o = x->o;
	tune_result *res = x->res;
	if (!o->no_time && x->screen < x->reps)
		final_round(res, &x->p, &x->data, x->b, &x->tx, &x->dev, x->reps, o);
	if (!o->no_time && !o->n_only && !res->skipped && !res->interrupted && tl->done_ok > 0)
		if (!res->untimed || res->budget_spent)
			mark_complete(&x->tx, res->untimed ? 2 : 1);
	res->time_s = now_s() - x->t1 - res->gen_s;
	res->timed = !o->no_time;
	qsort(res->trials, (size_t)x->n, sizeof *res->trials, trial_cmp);
	/* (--only --store: not when stopped before every variant asked for was timed) */
	if (!o->no_time && (!o->n_only || (o->only_store && !res->interrupted)))
		store_best(x->c, o, &x->dev, x->stamp, &x->p, res, o->n_only > 0);
}

static void tune_ctx_free(tune_ctx *x)
{
	bench_close(x->b);
	if (x->have_data)
		op_data_free(&x->data);
	if (x->cuctx)
		kg_cu.cuDevicePrimaryCtxRelease(x->cudev);
	if (x->p.o)
		pool_free(&x->p);
	for (int i = 0; i < x->n; i++)
		free(x->configs[i]);
	free(x->configs);
	if (x->c != x->o->cache)
		cache_close(x->c);
	gen_close(x->g);
}

/* Whether the best record of the problem of o (op, on GPU model gpu of SM
 * sm; its key into key) in c is one to keep (keep_current): this build's
 * stamp, timed at o's rows, whole (config, kernel, geometry), its cubin in
 * the cache, an NVRTC the driver loads, and the outcome of a finished
 * search (no trials of an unfinished run of this stamp). b gets it. A
 * damaged record is not kept. */
static int current_best(cache *c, const tune_opts *o, int op, int sm, const char *gpu, char *key, size_t klen,
                        kg_best *b)
{
	void *val = NULL, *cubin = NULL;
	size_t len = 0;
	int cur = 0, driver = 0;
	const long long rows = o->rows;
	char stamp[96];
	kg_problem_key(key, klen, op, o->opts, o->dtype, o->cols, sm, gpu, kg_rows_bucket(rows));
	kg_stamp(stamp, sizeof stamp, gen_template_hash(NULL, gen_family(kg_ops[op].op)));
	if (!cache_get(c, "best", key, strlen(key), &val, &len) && !kg_best_parse(val, b))
		cur = !strcmp(b->stamp, stamp) && b->rows == rows && b->config[0] && b->kernel[0] && b->block &&
		      b->rows_per_cta && b->time_us > 0 && strlen(b->variant) == 16;
	free(val);
	if (cur && !kg_cu_load() && !kg_cu.cuDriverGetVersion(&driver) && driver &&
	    kg_nvrtc_number(b->nvrtc) > driver)
		cur = 0;
	if (cur && cache_get(c, "cubin", b->variant, 16, &cubin, &len))
		cur = 0;
	free(cubin);
	return cur && !unfinished(c, key, stamp);
}

/* keep_current: the cache's best record of the problem, for the GPU at
 * hand and the rows bucket, when its stamp is this build's (the template
 * unchanged since it was tuned, e.g. a record imported from the pack of
 * the last build): the outcome, as one resumed trial. 0 when kept,
 * KGEN_ENOTFOUND when the problem must be tuned (current_best says which
 * records are kept), or the cache's error when it cannot be opened. */
static int keep_record(tune_ctx *x)
{
	const tune_opts *o = x->o;
	tune_result *res = x->res;
	kg_best b;
	int rc;
	if (!res->gpu[0])
		return KGEN_ENOTFOUND;
	if (o->cache) {
		x->c = o->cache;
	} else if ((rc = cache_open(&x->c, o->cache_dir, 0))) {
		return rc;
	}
	snprintf(res->cache_dir, sizeof res->cache_dir, "%s", cache_dir(x->c));
	if (!current_best(x->c, o, x->op, x->sm, res->gpu, res->key, sizeof res->key, &b))
		return KGEN_ENOTFOUND;
	if (!(res->trials = calloc(1, sizeof *res->trials)))
		return kg_err(KGEN_ENOMEM, "out of memory");
	tune_trial *t = &res->trials[0];
	snprintf(t->config, sizeof t->config, "%s", b.config);
	snprintf(t->status, sizeof t->status, "ok");
	snprintf(t->variant, sizeof t->variant, "%s", b.variant);
	t->us = b.time_us;
	t->p10_us = b.p10_us;
	t->p90_us = b.p90_us;
	t->gbps = b.gbps;
	t->resumed = 1;
	res->n = 1;
	res->resumed = 1;
	res->kept = 1;
	res->timed = 1;
	res->copy_gbps = b.copy_gbps;
	res->copy_us = b.copy_gbps > 0 && b.gbps > 0 ? b.time_us * b.gbps / b.copy_gbps : 0;
	return 0;
}

int tune_run(const tune_opts *o, tune_result *res)
{
	tune_ctx x;
	tally tl;
	int rc;

	memset(res, 0, sizeof *res);
	memset(&x, 0, sizeof x);
	x.o = o;
	x.res = res;
	x.t0 = now_s();
	x.twin_cut = -1;
	x.ranked_top = o->ranked_top > 0 ? o->ranked_top : TUNE_RANKED_TOP;
	x.prior_top = o->prior_top > 0 ? o->prior_top : TUNE_PRIOR_TOP;
	x.near_copy = o->near_copy_pct > 0 ? o->near_copy_pct : TUNE_NEAR_COPY_PCT;
	if ((rc = check_problem(o, &x.op)) || (rc = find_gpu(&x)))
		return rc;
	if (o->keep_current && !o->fresh && !o->no_time && !x.gpu_rc && (rc = keep_record(&x)) != KGEN_ENOTFOUND) {
		res->total_s = now_s() - x.t0;
		tune_ctx_free(&x);
		return rc;
	}
	if (!(rc = render_space(&x))) {
		plan_trials(&x);
		if (!(rc = compile_space(&x)) && !(rc = open_gpu(&x))) {
			/* the rest in plan order while the timing runs (with a twin's
			 * ranking or a prior pack an early stop is expected before them: on
			 * demand) */
			if (x.twin_cut < 0 && !x.prior_used)
				pool_background(&x.p, o->jobs);
			rc = check_and_time(&x, &tl);
			pool_halt(&x.p);
			/* what the background compiled past an early stop counts too */
			for (int i = 0; i < x.n; i++)
				if (x.p.jobs[i].later)
					count_later(res, &x.p.jobs[i]);
			if (!rc && x.p.write_failed)
				rc = write_failure(&x.p);
			if (!rc)
				finish(&x, &tl);
		}
	}
	res->total_s = now_s() - x.t0;
	tune_ctx_free(&x);
	return rc;
}

void tune_result_free(tune_result *res)
{
	free(res->trials);
	memset(res, 0, sizeof *res);
}

/* What tune_run will compile before its timing starts: the first
 * TUNE_COMPILE_FIRST variants in plan order, or where a twin dtype's
 * finished ranking names the leaders those only (plan_trials marks the
 * rest, which the run compiles while it times or when the timing reaches
 * them), so that compiling ahead does not spend the machine's cores on
 * variants the run will skip (the f16 shard of the preset compiled about
 * 20 times what it timed; bf16 and f32, about 1.4 times). Needs the GPU's
 * model for the rankings' keys; without it, everything is compiled. */
static void ahead_plan(const tune_opts *o, int op, gen *g, cache *c, pool *p, tune_result *res)
{
	CUdevice cudev;
	kg_device dev;
	char key[KG_KEY_MAX], stamp[96];
	const int top = o->ranked_top > 0 ? o->ranked_top : TUNE_RANKED_TOP;
	if (o->no_time || o->full || kg_cu_load() || kg_cu.cuDeviceGet(&cudev, o->device) ||
	    kg_device_query(cudev, &dev) || dev.sm != o->sm)
		return;
	kg_problem_key(key, sizeof key, op, o->opts, o->dtype, o->cols, o->sm, dev.name, kg_rows_bucket(o->rows));
	kg_stamp(stamp, sizeof stamp, gen_template_hash(g, gen_family(kg_ops[op].op)));
	trial_ctx tx = {c, key, stamp, o->rows, 0, 0};
	const int twin = plan_order(&tx, o, op, p, res, top);
	const int head = twin < 0 ? prior_first(o, key, p, res) : 0;
	if (head > 0)
		leave_for_later(p, (o->prior_top > 0 ? o->prior_top : TUNE_PRIOR_TOP) + head - 1);
	else
		leave_for_later(p, compiled_first(twin, top));
}

/* keep_current, before compiling ahead: whether the problem's cache record
 * for the GPU at hand is current, so that tune_run will keep it (and
 * nothing need be compiled). */
static int ahead_kept(const tune_opts *o, int op)
{
	CUdevice cudev;
	kg_device dev;
	cache *c = o->cache;
	char key[KG_KEY_MAX];
	kg_best b;
	int kept;
	if (!o->keep_current || o->fresh || o->no_time || kg_cu_load() || kg_cu.cuDeviceGet(&cudev, o->device) ||
	    kg_device_query(cudev, &dev) || dev.sm != o->sm)
		return 0;
	if (!c && cache_open(&c, o->cache_dir, 0))
		return 0;
	kept = current_best(c, o, op, o->sm, dev.name, key, sizeof key, &b);
	if (c != o->cache)
		cache_close(c);
	return kept;
}

int tune_compile_ahead(const tune_opts *o)
{
	gen *g = NULL;
	cache *c = NULL;
	pool p;
	tune_result res;
	char **configs = NULL, optstr[96];
	int n = 0, rc, op;
	gen_problem prob;

	memset(&p, 0, sizeof p);
	memset(&res, 0, sizeof res);
	if ((op = kg_op_find(o->op, o->pass ? o->pass : "fwd")) < 0 || o->dtype < 0 || o->dtype > KGEN_BF16 ||
	    o->cols < 1 || o->cols > INT32_MAX || !o->sm)
		return kg_err(KGEN_EINVAL, "tune_compile_ahead: not a problem");
	if (ahead_kept(o, op))
		return 0;
	kg_opts_string(op, o->opts, optstr, sizeof optstr);
	prob = (gen_problem){kg_ops[op].op, kg_ops[op].pass, o->dtype, o->cols, o->sm, optstr};
	if ((rc = gen_open(&g)) || (rc = gen_space(g, &prob, &configs, &n)) || n == 0)
		goto out;
	if ((rc = render_jobs(g, &prob, &p, &res, configs, n, o)))
		goto out;
	prune_limits(&p, &res, 0);
	if (o->cache) {
		c = o->cache;
	} else if ((rc = cache_open(&c, o->cache_dir, 0))) {
		goto out;
	}
	p.cache = c;
	ahead_plan(o, op, g, c, &p, &res);
	compile_all(&p, o->jobs);
out:
	if (p.o)
		pool_free(&p);
	free(res.trials);
	for (int i = 0; i < n; i++)
		free(configs[i]);
	free(configs);
	if (c && c != o->cache)
		cache_close(c);
	gen_close(g);
	return rc;
}
