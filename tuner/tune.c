/* tune.c: the search for one problem (see tune.h).
 *
 * 1. the template enumerates the space and renders every variant;
 * 2. a pool of threads compiles them with NVRTC (a cubin already in the
 *    cache under the variant's hash is reused);
 * 3. on the GPU each variant runs once on fresh random data and is compared
 *    with the fp64 reference on a sample of rows; a mismatch is recorded and
 *    never timed or kept;
 * 4. the rest are timed with the shared harness (L2 flushed, events,
 *    median), next to a device-to-device copy of the same bytes;
 * 5. every trial and the fastest record go into the cache.
 */
#include <pthread.h>
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
#include "ref.h"
#include "tune.h"

typedef struct job {
	gen_variant v;
	void *cubin;
	size_t size;
	int reused, rc;
	char hex[17];
	char *log;
} job;

typedef struct pool {
	job *jobs;
	int n, next, done;
	int sm;
	cache *cache;
	const tune_opts *o;
	pthread_mutex_t lock;
} pool;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *compile_worker(void *arg)
{
	pool *p = arg;
	for (;;) {
		job *j;
		pthread_mutex_lock(&p->lock);
		if (p->next == p->n) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		j = &p->jobs[p->next++];
		pthread_mutex_unlock(&p->lock);

		snprintf(j->hex, sizeof j->hex, "%016llx", (unsigned long long)kg_variant_hash(j->v.source, p->sm));
		if (!cache_get(p->cache, "cubin", j->hex, 16, &j->cubin, &j->size, NULL, 0)) {
			j->reused = 1;
		} else if (!(j->rc = kg_compile(j->v.source, "kgen_variant.cu", p->sm, &j->cubin, &j->size, &j->log))) {
			cache_put(p->cache, "cubin", j->hex, 16, j->cubin, j->size, NULL, 0);
		} else if (!j->log) {
			/* keep the reason: kgen_last_error is per thread */
			const char *m = kgen_last_error();
			if ((j->log = malloc(strlen(m) + 1)))
				strcpy(j->log, m);
		}
		pthread_mutex_lock(&p->lock);
		p->done++;
		if (p->o->progress)
			p->o->progress(p->o->progress_arg, "compile", p->done, p->n, j->v.config);
		pthread_mutex_unlock(&p->lock);
	}
}

static int compile_all(pool *p, int jobs)
{
	pthread_t th[64];
	int nth = jobs > 0 ? jobs : (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (nth < 1)
		nth = 1;
	if (nth > 64)
		nth = 64;
	if (nth > p->n)
		nth = p->n;
	for (int i = 0; i < nth; i++)
		if (pthread_create(&th[i], NULL, compile_worker, p)) {
			nth = i;
			break;
		}
	if (nth == 0)
		compile_worker(p);
	for (int i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	return 0;
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
	if (ta != tb)
		return tb - ta;
	if (ta && a->us != b->us)
		return a->us < b->us ? -1 : 1;
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

static void store_results(cache *c, const tune_opts *o, const kg_device *dev, const char *stamp,
                          const pool *p, tune_result *res)
{
	char key[KG_KEY_MAX + 160], rec[2048];
	int drv = 0;
	time_t tnow = time(NULL);
	char date[32];
	strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&tnow));
	kg_cu.cuDriverGetVersion(&drv);
	for (int i = 0; i < res->n; i++) {
		const tune_trial *t = &res->trials[i];
		int n = snprintf(key, sizeof key, "%s\x1f%s", res->key, t->config);
		snprintf(rec, sizeof rec,
		         "status=%s\ntime_us=%.3f\np10_us=%.3f\np90_us=%.3f\ngbps=%.1f\nmax_err=%.3g\n"
		         "regs=%d\nlocal_bytes=%d\nvariant=%s\nrows=%lld\nstamp=%s\ndate=%s\ndetail=%s\n",
		         t->status, t->us, t->p10_us, t->p90_us, t->gbps, t->max_err, t->regs, t->local_bytes,
		         t->variant, o->rows, stamp, date, t->detail);
		cache_put(c, "trial", key, (size_t)n, rec, strlen(rec), NULL, 0);
	}
	if (res->n && !strcmp(res->trials[0].status, "ok")) {
		const tune_trial *t = &res->trials[0];
		const gen_variant *v = NULL;
		for (int i = 0; i < p->n; i++)
			if (!strcmp(p->jobs[i].v.config, t->config))
				v = &p->jobs[i].v;
		snprintf(rec, sizeof rec,
		         "config=%s\nkernel=%s\nprep=%s\nblock=%u\nsmem=%u\nrows_per_cta=%u\ncluster=%u\nvariant=%s\n"
		         "time_us=%.3f\np10_us=%.3f\np90_us=%.3f\ngbps=%.1f\ncopy_gbps=%.1f\nrows=%lld\n"
		         "stamp=%s\nnvrtc=%s\ndriver=%d\ngpu=%s\ndate=%s\n",
		         t->config, v->kernel, v->prep ? v->prep : "", v->block, v->smem, v->rows_per_cta, v->cluster, t->variant,
		         t->us, t->p10_us, t->p90_us, t->gbps, res->copy_gbps, o->rows, stamp,
		         kg_nvrtc_version(), drv, dev->name, date);
		int replaced = 0;
		char msg[256];
		if (cache_put_best(c, res->key, rec, &replaced, msg, sizeof msg))
			snprintf(res->store_error, sizeof res->store_error, "%s", msg);
		res->stored = replaced;
	}
}

int tune_run(const tune_opts *o, tune_result *res)
{
	gen *g = NULL;
	cache *c = NULL;
	bench *b = NULL;
	pool p;
	kg_device dev;
	CUcontext cuctx = NULL;
	CUdevice cudev = 0;
	op_data data;
	char **configs = NULL, msg[512], stamp[96], optstr[96];
	double t0 = now_s();
	int n = 0, rc, sm = o->sm, gpu_rc = 0, op, have_data = 0;
	gen_problem prob;
	CUresult r;

	memset(res, 0, sizeof *res);
	memset(&p, 0, sizeof p);
	memset(&data, 0, sizeof data);
	pthread_mutex_init(&p.lock, NULL);
	if ((op = kg_op_find(o->op, o->pass ? o->pass : "fwd")) < 0)
		return kg_err(KGEN_EINVAL, "unknown op '%s' with pass '%s'", o->op ? o->op : "", o->pass ? o->pass : "fwd");
	if (o->dtype < 0 || o->dtype > KGEN_BF16)
		return kg_err(KGEN_EINVAL, "unknown dtype %d", o->dtype);
	if (o->cols < 1 || o->cols > INT32_MAX)
		return kg_err(KGEN_EINVAL, "cols must be in 1..2147483647 (got %lld)", o->cols);
	if (o->rows < 1 || o->rows > INT32_MAX)
		return kg_err(KGEN_EINVAL, "rows must be in 1..2147483647 (got %lld)", o->rows);
	if (o->opts && !kg_ops[op].xent)
		return kg_err(KGEN_EINVAL, "op '%s' takes no cross-entropy options", o->op);

	/* The GPU, when there is one: its SM is the default target. */
	if (!(gpu_rc = kg_cu_load())) {
		if ((r = kg_cu.cuDeviceGet(&cudev, o->device)))
			gpu_rc = kg_err(KGEN_ENODEVICE, "no CUDA device %d: %s", o->device, kg_cu_errstr(r));
		else if ((gpu_rc = kg_device_query(cudev, &dev)) == 0) {
			if (sm && dev.sm != sm) {
				/* Compile for the SM asked for; timing needs a GPU of it. */
				gpu_rc = kg_err(KGEN_EARCH, "GPU %d '%s' is sm_%d, not sm_%d", o->device, dev.name, dev.sm,
				                sm);
			} else {
				sm = dev.sm;
				snprintf(res->gpu, sizeof res->gpu, "%s", dev.name);
			}
		}
	}
	if (gpu_rc)
		snprintf(msg, sizeof msg, "%s", kgen_last_error());
	if (!sm)
		return kg_err(gpu_rc ? gpu_rc : KGEN_EINVAL, "no GPU to take the SM from (%s): give the SM", msg);

	kg_opts_string(op, o->opts, optstr, sizeof optstr);
	prob = (gen_problem){kg_ops[op].op, kg_ops[op].pass, o->dtype, o->cols, sm, optstr};
	if ((rc = gen_open(&g)) || (rc = gen_space(g, &prob, &configs, &n)))
		goto out;
	if (n == 0) {
		rc = kg_err(KGEN_EUNSUPPORTED, "the template has no variant for %s %s %s cols=%lld sm_%d", o->op,
		            kg_ops[op].pass, kg_dtype_names[o->dtype], o->cols, sm);
		goto out;
	}
	kg_stamp(stamp, sizeof stamp, gen_template_hash(g, gen_family(kg_ops[op].op)));
	if (!(p.jobs = calloc((size_t)n, sizeof *p.jobs)) || !(res->trials = calloc((size_t)n, sizeof *res->trials))) {
		rc = kg_err(KGEN_ENOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < n; i++)
		if ((rc = gen_render(g, &prob, configs[i], &p.jobs[i].v)))
			goto out;
	if ((rc = cache_open(&c, o->cache_dir, 0, msg, sizeof msg))) {
		rc = kg_err(rc, "%s", msg);
		goto out;
	}
	snprintf(res->cache_dir, sizeof res->cache_dir, "%s", cache_dir(c));

	/* Compile everything (NVRTC needs no GPU). */
	p.n = n;
	p.sm = sm;
	p.cache = c;
	p.o = o;
	compile_all(&p, o->jobs);
	res->n = n;
	for (int i = 0; i < n; i++) {
		tune_trial *t = &res->trials[i];
		snprintf(t->config, sizeof t->config, "%s", p.jobs[i].v.config);
		snprintf(t->variant, sizeof t->variant, "%s", p.jobs[i].hex);
		snprintf(t->status, sizeof t->status, "%s", p.jobs[i].rc ? "compile" : "untimed");
		if (p.jobs[i].rc)
			snprintf(t->detail, sizeof t->detail, "%.255s", p.jobs[i].log ? p.jobs[i].log : "compile failed");
		res->compiled += !p.jobs[i].rc && !p.jobs[i].reused;
		res->reused += p.jobs[i].reused;
	}
	res->compile_s = now_s() - t0;
	kg_problem_key(res->key, sizeof res->key, op, o->opts, o->dtype, o->cols, sm, res->gpu[0] ? res->gpu : "-",
	               kg_rows_bucket(o->rows));
	if (gpu_rc) {
		rc = kg_err(gpu_rc, "timing needs a GPU of sm_%d (%s); %d variants are compiled into '%s'", sm, msg,
		            res->compiled + res->reused, res->cache_dir);
		goto out;
	}

	/* On the GPU: data and reference, then check and time every variant. */
	if ((r = kg_cu.cuDevicePrimaryCtxRetain(&cuctx, cudev)) || (r = kg_cu.cuCtxSetCurrent(cuctx))) {
		rc = kg_cu_fail("cuDevicePrimaryCtxRetain", r);
		cuctx = NULL;
		goto out;
	}
	op_problem op_p = {
		.op = op, .opts = o->opts, .dtype = o->dtype, .rows = o->rows, .cols = o->cols,
		.eps = 0.1, .zloss = 1e-4, .softcap = 30.0, .denominator = 1.0, .reduction = -1,
		.ignore_frac = kg_ops[op].xent ? 0.1 : 0.0,
		.seed = o->seed ? o->seed : (uint64_t)(now_s() * 1e9) ^ ((uint64_t)getpid() << 32),
	};
	if (o->progress)
		o->progress(o->progress_arg, "data", 0, 1, "random inputs and the fp64 reference");
	have_data = 1;
	if ((rc = op_data_make(&data, &op_p)))
		goto out;
	res->bytes = (long long)data.bytes;
	if ((rc = bench_open(&b, &dev)))
		goto out;
	int reps = o->reps > 0 ? o->reps : 50;
	if (!o->no_time) {
		bench_stats st;
		/* A copy that moves as many bytes as the op must (half read, half
		 * written), so that both pay the same fixed costs. */
		size_t half = data.bytes / 2 > 0 ? data.bytes / 2 : 1;
		if ((rc = bench_copy(b, half, reps, &st)))
			goto out;
		res->copy_us = st.median_us;
		res->copy_gbps = 2.0 * (double)half / st.median_us * 1e-3;
	}
	for (int i = 0; i < n; i++) {
		tune_trial *t = &res->trials[i];
		job *j = &p.jobs[i];
		CUmodule mod;
		run_arg a = {{0, 0, j->v.block, j->v.smem, j->v.rows_per_cta, j->v.cluster}, &data};
		if (j->rc)
			continue;
		if (o->progress)
			o->progress(o->progress_arg, o->no_time ? "check" : "time", i + 1, n, t->config);
		if ((rc = kg_module_load(j->cubin, j->v.kernel, j->v.prep, j->v.smem, j->v.cluster, &mod, &a.l.fn,
		                         &a.l.prep))) {
			snprintf(t->status, sizeof t->status, "launch");
			snprintf(t->detail, sizeof t->detail, "%.255s", kgen_last_error());
			continue;
		}
		kg_cu.cuFuncGetAttribute(&t->regs, CU_FUNC_ATTRIBUTE_NUM_REGS, a.l.fn);
		kg_cu.cuFuncGetAttribute(&t->local_bytes, CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES, a.l.fn);
		rc = check_variant(&a, bench_stream(b), t);
		if (rc) {
			snprintf(t->status, sizeof t->status, "launch");
			snprintf(t->detail, sizeof t->detail, "%.255s", kgen_last_error());
		} else if (t->max_err > 1) {
			snprintf(t->status, sizeof t->status, "mismatch");
		} else if (!o->no_time) {
			bench_stats st;
			if ((rc = bench_run(b, run_fn, &a, reps, &st))) {
				snprintf(t->status, sizeof t->status, "launch");
				snprintf(t->detail, sizeof t->detail, "%.255s", kgen_last_error());
			} else {
				snprintf(t->status, sizeof t->status, "ok");
				t->us = st.median_us;
				t->p10_us = st.p10_us;
				t->p90_us = st.p90_us;
				t->gbps = (double)res->bytes / st.median_us * 1e-3;
			}
		} else {
			snprintf(t->status, sizeof t->status, "checked");
		}
		kg_cu.cuModuleUnload(mod);
		rc = 0;
	}
	res->timed = !o->no_time;
	qsort(res->trials, (size_t)n, sizeof *res->trials, trial_cmp);
	if (!o->no_time)
		store_results(c, o, &dev, stamp, &p, res);
	rc = 0;
out:
	res->total_s = now_s() - t0;
	bench_close(b);
	if (have_data)
		op_data_free(&data);
	if (cuctx)
		kg_cu.cuDevicePrimaryCtxRelease(cudev);
	for (int i = 0; p.jobs && i < n; i++) {
		gen_variant_free(&p.jobs[i].v);
		free(p.jobs[i].cubin);
		free(p.jobs[i].log);
	}
	free(p.jobs);
	for (int i = 0; i < n; i++)
		free(configs[i]);
	free(configs);
	cache_close(c);
	gen_close(g);
	pthread_mutex_destroy(&p.lock);
	return rc;
}

void tune_result_free(tune_result *res)
{
	free(res->trials);
	memset(res, 0, sizeof *res);
}
