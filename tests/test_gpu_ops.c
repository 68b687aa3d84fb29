/* test_gpu_ops.c (label gpu): on a GPU, every op against its fp64
 * reference (tuner/ref.c, tolerances per dtype written beside them):
 *
 *   A. every variant of the space, for each op and dtype, at several row
 *      widths and row counts (softmax forward: cols 1, 7, 1000, 1024, 3000,
 *      8192, 32768 and rows 1, 3, 4096; the other ops at rows 3 and 1000),
 *      but for variants other than the default that the tuner prunes for
 *      spills (counted and printed);
 *   B. the tuned kernel through the public API (cache hit, then the
 *      in-process table), with padded row strides, and an odd stride that
 *      forces a narrower fallback variant (quick: the tune has a budget
 *      of 2 s);
 *   C. cross-entropy: every combination of the options that change the
 *      code (target type, weights, smoothing, z-loss, softcap) with every
 *      reduction, each pass and dtype, ignored rows and out-of-range targets
 *      (NaN loss, counted), and the fused pass in place; thousands of
 *      CTAs reducing the loss through the scratch's slots; one row (no prep
 *      kernel) kept, ignored and out of range;
 *   D. edge cases: rows of -inf, +inf, large magnitudes, rows masked with
 *      the dtype's lowest value (in part, or all of a softmax row);
 *   E. bad arguments get specific codes and messages;
 *   F. host threads on one handle, each on the per-thread default stream;
 *   G. rows of odd widths and strides (run after D, before F and E).
 *
 * Without a driver or a device it prints why and exits 77 (skip).
 * $KGEN_TEST_QUICK=1 runs a smaller sweep in A: narrow rows, and one long
 * width (32768 columns, 1000 rows: clusters, staged and persistent
 * double-buffered loads, several groups of rows per CTA) for softmax
 * forward, log-softmax backward and fused cross-entropy;
 * $KGEN_TEST_SKIP_SWEEP=1 leaves A out. $KGEN_TEST_SHARD=I/N runs only
 * the I-th of N interleaved shares (0 <= I < N) of A's problems (of the
 * long rows' problems, the I-th share of each one's variants), then
 * stops; with $KGEN_TEST_SKIP_SWEEP=1, of the runtime sections' units
 * instead, in their order (each tune of B, each pass of C's and D's
 * innermost loops, each op, dtype and width of G; F and E one each; C to
 * G then meet only this share's tunes of B in the cache, and none of
 * them asks for one). N processes of the one kind and M of the other
 * (each under compute-sanitizer, say) cover the whole test in parallel.
 * $KGEN_TEST_SECTIONS=LETTERS (with $KGEN_TEST_SKIP_SWEEP=1, say) runs only
 * those runtime sections, e.g. "F" (their units are then the ones shared).
 * $KGEN_TEST_ROWS_MAX=R caps A's row counts at R (racecheck's cost grows
 * with every shared-memory access of every row); $KGEN_TEST_FLAT_ROWS=F
 * checks the long width's variants that are not persistent at F rows
 * (each CTA's work is then the same at any row count; the persistent ones
 * keep the capped count, so that each CTA walks over several groups).
 * $KGEN_TEST_PART=narrow, long or split runs only that part of A's sweep
 * (the narrow rows' problems, the long width's, or the variants that split
 * a row over CTAs that are no cluster, xchg=global, at 131072 and 200003
 * columns; shard 0 of it, or a run without shards, also stores a split
 * record and captures its calls through the public API in a CUDA graph:
 * the replays must match the eager call; and runs split calls on two
 * streams at once beside a long kernel: they must end, each correct), so
 * that a slow tool's run can be split over several sittings.
 */
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "ops.h"
#include "tune.h"

#include "check.h"

static char cache_dir[] = "/tmp/kgen_test_gpu_XXXXXX";

static const unsigned XO_ALL = KG_XO_I32 | KG_XO_WEIGHT | KG_XO_SMOOTH | KG_XO_ZLOSS | KG_XO_SOFTCAP;

static const char *name(const op_problem *p, char *buf, size_t len)
{
	char o[96];
	kg_opts_string(p->op, p->opts, o, sizeof o);
	snprintf(buf, len, "%s %s %s %lldx%lld [%s] reduction %d%s", kg_ops[p->op].op, kg_ops[p->op].pass,
	         kg_dtype_names[p->dtype], p->rows, p->cols, o, p->reduction, p->inplace ? " in place" : "");
	return buf;
}

static int spill_pruned;
static int shard_i, shard_n = 1, units; /* $KGEN_TEST_SHARD; A's problems so far */
static int rt_units;                    /* the runtime sections' units so far */
static int spread_units;                /* A's problems whose variants the shards share */
static long long rows_max;              /* $KGEN_TEST_ROWS_MAX: A's row counts capped (0: not) */

/* A: every variant, checked on fresh data. With $KGEN_TEST_SHARD, each
 * problem is one shard's, or (spread: the long rows, whose checks take
 * longest under compute-sanitizer) every shard checks its share of each
 * problem's variants. With $KGEN_TEST_FLAT_ROWS=F, a spread problem is
 * checked in two parts: its persistent variants (a CTA walks over
 * several groups of rows, reusing its shared memory) at its row count,
 * the others at F rows (one CTA or cluster per group of rows: what each
 * one does does not depend on how many there are). */
static long long flat_rows; /* $KGEN_TEST_FLAT_ROWS (0: one part) */

static int persistent(void *arg, const char *config)
{
	return (strstr(config, "persist=") != NULL) == *(const int *)arg;
}

/* A's split part: only the variants that split a row over CTAs that are no
 * cluster (xchg=global), the others of these long widths being the long
 * part's business. */
static int only_split, split_checked;
static int split_variant(void *arg, const char *config)
{
	(void)arg;
	return strstr(config, "xchg=global") != NULL;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void sweep(int op, unsigned opts, const long long *cols, int ncols, const long long *rows, int nrows,
                  int spread)
{
	for (int d = 0; d < 3; d++)
		for (int k = 0; k < ncols; k++)
			for (int ri = 0; ri < nrows; ri++) {
				if (!spread && units++ % shard_n != shard_i)
					continue;
				if (spread)
					spread_units++;
				const int parts = spread && flat_rows > 0 ? 2 : 1;
				for (int part = 0; part < parts; part++) {
					tune_opts o = {0};
					tune_result res;
					int want_persistent = part == 0;
					const double t0 = now_s();
					int checked = 0;
					o.op = kg_ops[op].op;
					o.pass = kg_ops[op].pass;
					o.opts = opts;
					o.dtype = d;
					o.cols = cols[k];
					o.rows = rows_max > 0 && rows[ri] > rows_max ? rows_max : rows[ri];
					if (only_split)
						o.want = split_variant;
					if (parts == 2) {
						o.want = persistent;
						o.want_arg = &want_persistent;
						if (part == 1 && o.rows > flat_rows)
							o.rows = flat_rows;
					}
					o.cache_dir = cache_dir;
					o.no_time = 1;
					if (spread) {
						o.share_i = shard_i;
						o.share_n = shard_n;
					}
					o.seed = 1000 + (unsigned long long)(op * 131 + d * 17 + k * 5 + ri);
					int rc = tune_run(&o, &res);
					CHECK(rc == 0, "sweep %s %s %s cols=%lld rows=%lld: %s", o.op, o.pass, kg_dtype_names[d],
					      o.cols, o.rows, kgen_last_error());
					/* Every variant passes the check, but for those the tuner
					 * prunes for spills (never timed nor cached: whether a
					 * variant at the register limit spills depends on the
					 * compiler's version); the default (first) is never one. */
					for (int i = 0; i < res.n; i++) {
						const tune_trial *t = &res.trials[i];
						if (!strcmp(t->status, "skipped") &&
						    (!strcmp(t->detail, "another share's") || !strcmp(t->detail, "not wanted")))
							continue;
						if (i > 0 && !strcmp(t->status, "pruned") && t->prune == TUNE_PRUNE_SPILLS) {
							spill_pruned++;
							continue;
						}
						checked += !strcmp(t->status, "checked");
						split_checked += only_split && !strcmp(t->status, "checked");
						CHECK(!strcmp(t->status, "checked"),
						      "%s %s %s cols=%lld rows=%lld opts %u %s: %s %s (err %.3g)", o.op, o.pass,
						      kg_dtype_names[d], o.cols, o.rows, opts, t->config, t->status, t->detail,
						      t->max_err);
					}
					tune_result_free(&res);
					if (spread)
						printf("A %s %s %s %lldx%lld%s: %d variants checked in %.1f s\n", o.op, o.pass,
						       kg_dtype_names[d], o.rows, o.cols,
						       parts == 1 ? "" : part == 0 ? " (persistent)" : " (the others)", checked,
						       now_s() - t0);
				}
			}
	printf("A %s %s opts %u: %d failures so far; %d variants pruned for spills so far\n", kg_ops[op].op,
	       kg_ops[op].pass, opts, failures, spill_pruned);
	fflush(stdout);
}

/* $KGEN_TEST_SECTIONS: the runtime sections to run (letters, e.g. "F"; all
 * when unset); section: the one running. */
static const char *sections;
static char section;

/* B to G: whether the next unit of the runtime sections is this shard's
 * (always without $KGEN_TEST_SHARD) and its section is one to run. */
static int mine(void)
{
	if (sections && !strchr(sections, section))
		return 0;
	return rt_units++ % shard_n == shard_i;
}

/* Run d's op through the public API on stream (NULL: the default stream). */
static int api_run_on(kgen_ctx *ctx, op_data *d, void *stream)
{
	const op_problem *p = &d->p;
	kg_args *a = &d->a;
	kgen_xent_options o;
	kgen_xent_options_init(&o);
	o.reduction = (kgen_reduction)p->reduction;
	o.denominator = (float)p->denominator;
	o.label_smoothing = a->eps;
	o.z_loss = a->zloss;
	o.softcap = a->softcap;
	o.weight = a->weight;
	o.bad_targets = a->bad;
	kgen_itype it = p->opts & KG_XO_I32 ? KGEN_INT32 : KGEN_INT64;
	switch (p->op) {
	case KG_SOFTMAX_FWD:
		return kgen_softmax_fwd(ctx, a->out, a->in0, p->rows, p->cols, p->ld_in, p->ld_out, p->dtype, stream);
	case KG_LOGSOFTMAX_FWD:
		return kgen_log_softmax_fwd(ctx, a->out, a->in0, p->rows, p->cols, p->ld_in, p->ld_out, p->dtype, stream);
	case KG_SOFTMAX_BWD:
		return kgen_softmax_bwd(ctx, a->out, a->in0, a->in1, p->rows, p->cols, p->ld_in, p->ld_in, p->ld_out,
		                        p->dtype, stream);
	case KG_LOGSOFTMAX_BWD:
		return kgen_log_softmax_bwd(ctx, a->out, a->in0, a->in1, p->rows, p->cols, p->ld_in, p->ld_in, p->ld_out,
		                            p->dtype, stream);
	case KG_XENT_FWD:
		return kgen_xent_fwd(ctx, a->loss, a->lse, a->in0, a->target, p->rows, p->cols, p->ld_in, p->dtype, it, &o,
		                     stream);
	case KG_XENT_BWD:
		return kgen_xent_bwd(ctx, a->out, a->in0, a->target, a->lse, a->dloss, p->rows, p->cols, p->ld_in,
		                     p->ld_out, p->dtype, it, &o, stream);
	default:
		return kgen_xent_fused(ctx, a->loss, a->lse, a->out, a->in0, a->target, a->dloss, p->rows, p->cols,
		                       p->ld_in, p->ld_out, p->dtype, it, &o, stream);
	}
}

static int api_run(kgen_ctx *ctx, op_data *d)
{
	return api_run_on(ctx, d, NULL);
}

/* Make the data, run it through the API, compare; want_origin (may be
 * NULL) is the prefix kgen_last_kernel must report; used receives what
 * it reported. */
static void api_case_used(kgen_ctx *ctx, op_problem p, const char *want_origin, char *used, size_t len)
{
	op_data d;
	char nm[200], detail[256] = "";
	double err = 0;
	int rc;
	name(&p, nm, sizeof nm);
	if ((rc = op_data_make(&d, &p))) {
		CHECK(0, "%s: data: %s", nm, kgen_last_error());
		return;
	}
	used[0] = 0;
	op_data_reset(&d, NULL);
	rc = api_run(ctx, &d);
	CHECK(rc == 0, "%s: %s: %s", nm, kgen_strerror(rc), kgen_last_error());
	kgen_last_kernel(ctx, used, len);
	if (!rc) {
		rc = op_data_check(&d, &err, detail, sizeof detail);
		CHECK(rc == 0 && err <= 1, "%s (%s): error %.3g of the tolerance: %s", nm, used, err, detail);
		if (want_origin)
			CHECK(!strncmp(used, want_origin, strlen(want_origin)), "%s used '%s', want '%s'", nm, used,
			      want_origin);
	}
	op_data_free(&d);
}

static op_problem problem(int op, unsigned opts, int dtype, long long rows, long long cols)
{
	op_problem p = {
		.op = op, .opts = opts, .dtype = dtype, .rows = rows, .cols = cols, .eps = 0.1, .zloss = 1e-3,
		.softcap = 5.0, .denominator = 123.0, .reduction = -1, .ignore_frac = kg_ops[op].xent ? 0.2 : 0,
		.seed = (uint64_t)(op * 7919 + opts * 104729 + dtype * 31 + rows * 3 + cols),
	};
	return p;
}

static void api_case(kgen_ctx *ctx, op_problem p, const char *want_origin)
{
	char used[200];
	api_case_used(ctx, p, want_origin, used, sizeof used);
}

/* G: rows no 16-byte vector divides. Contiguous rows of odd length start
 * at every offset: a shifted kernel (16-byte accesses cut at each row's own
 * boundaries) serves them; strides that put the output's rows at another
 * offset than the input's leave it one element per access. */
static int used_vec(const char *used)
{
	const char *v = strstr(used, "vec=");
	return v ? atoi(v + 4) : 0;
}

static void odd_rows(kgen_ctx *ctx)
{
	static const long long cols[] = {1001, 50257};
	char used[200], nm[64];
	for (int op = 0; op < KG_NOPS; op++)
		for (int d = 0; d < 3; d++)
			for (int k = 0; k < 2; k++) {
				if (!mine())
					continue;
				op_problem p = problem(op, 0, d, 67, cols[k]);
				snprintf(nm, sizeof nm, "%s %s %s cols=%lld", kg_ops[op].op, kg_ops[op].pass, kg_dtype_names[d],
				         cols[k]);
				api_case_used(ctx, p, "fallback", used, sizeof used);
				CHECK(strstr(used, "shift=1") && used_vec(used) == 16 / kg_dtype_size(d),
				      "%s, contiguous: want a shifted kernel of the widest vector, used '%s'", nm, used);
				if (op == KG_XENT_FWD)
					continue; /* one tensor of rows */
				p.ld_out = cols[k] + 1;
				api_case_used(ctx, p, NULL, used, sizeof used);
				CHECK(used_vec(used) == 1, "%s, output rows at another offset: want vec=1, used '%s'", nm, used);
				p.ld_in = p.ld_out = cols[k] + 8; /* same offsets again */
				api_case_used(ctx, p, NULL, used, sizeof used);
				CHECK(strstr(used, "shift=1") && used_vec(used) == 16 / kg_dtype_size(d),
				      "%s, equal strides: want shifted, used '%s'", nm, used);
			}
}

/* The tuner's options for a problem of this test's cache. */
static tune_opts test_tune_opts(int op, unsigned opts, int dtype, long long cols, long long rows, int reps,
                                unsigned long long seed)
{
	tune_opts o = {0};
	o.op = kg_ops[op].op;
	o.pass = kg_ops[op].pass;
	o.opts = opts;
	o.dtype = dtype;
	o.cols = cols;
	o.rows = rows;
	o.cache_dir = cache_dir;
	o.reps = reps;
	o.seed = seed;
	return o;
}

/* B: tune for real, then the API finds the tuned kernel. */
static void tuned_through_api(int op, unsigned opts, int dtype, long long cols)
{
	tune_opts o = test_tune_opts(op, opts, dtype, cols, 4096, 5, 77);
	tune_result res;
	kgen_ctx *ctx;
	char nm[64];
	/* quick: a budget of 2 s (the first TUNE_COMPILE_FIRST variants
	 * compiled, a few of them timed; A checked them all), so that under
	 * compute-sanitizer the tune ends too */
	if (getenv("KGEN_TEST_QUICK"))
		o.budget_s = 2.0;
	int rc = tune_run(&o, &res);
	snprintf(nm, sizeof nm, "%s %s %s cols=%lld", o.op, o.pass, kg_dtype_names[dtype], cols);
	CHECK(rc == 0 && res.stored, "tune %s: rc %d stored %d: %s", nm, rc, res.stored, kgen_last_error());
	tune_result_free(&res);
	if (kgen_open(&ctx, cache_dir)) {
		CHECK(0, "kgen_open: %s", kgen_last_error());
		return;
	}
	op_problem p = problem(op, opts, dtype, 4096, cols);
	p.ld_in = p.ld_out = cols + 16; /* padded strides keep 16-byte rows */
	api_case(ctx, p, "cache");
	api_case(ctx, p, "table");
	p.rows = 1000; /* another rows bucket: the nearest tuned one (4096, 4x above) */
	api_case(ctx, p, "cache");
	p.rows = 3; /* a bucket more than 8x below the record's: the default (KG_BUCKET_FAR) */
	api_case(ctx, p, "fallback");
	p.rows = 4096;
	if (cols % 2 == 0) {
		p.ld_in = p.ld_out = cols + 1; /* odd strides: only 1-element accesses are legal */
		api_case(ctx, p, "fallback");
	}
	kgen_close(ctx);
}

/* A split configuration stored as the best of (op, bf16, rows x cols) in
 * this test's cache (tune --only CONFIG --store), then a handle on the
 * cache: NULL (a failed check) when either fails. nm names the unit. */
static kgen_ctx *split_record(int op, long long rows, long long cols, const char *config, unsigned long long seed,
                              const char *nm)
{
	tune_opts o = test_tune_opts(op, 0, KGEN_BF16, cols, rows, 3, seed);
	tune_result res;
	const char *only[] = {config};
	o.full = 1;
	o.only = only;
	o.n_only = 1;
	o.only_store = 1;
	int rc = tune_run(&o, &res);
	CHECK(rc == 0 && res.stored, "%s: tune rc %d stored %d: %s", nm, rc, res.stored, kgen_last_error());
	tune_result_free(&res);
	kgen_ctx *ctx;
	if (kgen_open(&ctx, cache_dir)) {
		CHECK(0, "%s: kgen_open: %s", nm, kgen_last_error());
		return NULL;
	}
	return ctx;
}

/* The split part's last unit: a split record (xchg=global) through the
 * public API on a stream, eagerly, then captured in a CUDA graph (two calls:
 * two launches, each taking its own exchange area, made when the kernel was
 * loaded; nothing may be allocated while capturing) and replayed three
 * times: each replay matches the eager result (softmax: bit for bit) and the
 * reference. The graph calls come from libcuda itself (the runtime needs
 * none of them). */
typedef CUresult (*begin_capture_fn)(CUstream, CUstreamCaptureMode);
typedef CUresult (*end_capture_fn)(CUstream, CUgraph *);
typedef CUresult (*instantiate_fn)(CUgraphExec *, CUgraph, unsigned long long);
typedef CUresult (*graph_launch_fn)(CUgraphExec, CUstream);
typedef CUresult (*exec_destroy_fn)(CUgraphExec);
typedef CUresult (*graph_destroy_fn)(CUgraph);

static void split_graph(int op, const char *config)
{
	const long long cols = 131072;
	void *cu = dlopen("libcuda.so.1", RTLD_NOW);
	begin_capture_fn begin = cu ? (begin_capture_fn)dlsym(cu, "cuStreamBeginCapture_v2") : NULL;
	end_capture_fn end = cu ? (end_capture_fn)dlsym(cu, "cuStreamEndCapture") : NULL;
	instantiate_fn inst = cu ? (instantiate_fn)dlsym(cu, "cuGraphInstantiateWithFlags") : NULL;
	graph_launch_fn launch = cu ? (graph_launch_fn)dlsym(cu, "cuGraphLaunch") : NULL;
	exec_destroy_fn exec_destroy = cu ? (exec_destroy_fn)dlsym(cu, "cuGraphExecDestroy") : NULL;
	graph_destroy_fn graph_destroy = cu ? (graph_destroy_fn)dlsym(cu, "cuGraphDestroy") : NULL;
	char nm[200], used[200] = "", detail[256] = "";
	if (!begin || !end || !inst || !launch || !exec_destroy || !graph_destroy) {
		CHECK(0, "split graph: libcuda's graph calls not found (%s)", cu ? "dlsym" : dlerror());
		if (cu)
			dlclose(cu);
		return;
	}
	/* the record: the split variant stored as the problem's best (rows 1) */
	snprintf(nm, sizeof nm, "split graph: %s %s bf16 1x%lld %s", kg_ops[op].op, kg_ops[op].pass, cols, config);
	kgen_ctx *ctx = split_record(op, 1, cols, config, 91, nm);
	int rc;
	if (!ctx) {
		dlclose(cu);
		return;
	}
	op_problem p = problem(op, 0, KGEN_BF16, 1, cols);
	op_data d;
	CUstream s = NULL;
	CUgraph g = NULL;
	CUgraphExec ge = NULL;
	void *eager = NULL, *replay = NULL;
	double err = 0;
	if ((rc = op_data_make(&d, &p))) {
		CHECK(0, "%s: data: %s", nm, kgen_last_error());
		kgen_close(ctx);
		dlclose(cu);
		return;
	}
	const size_t ob = (size_t)(d.p.rows * d.p.ld_out) * (size_t)kg_dtype_size(KGEN_BF16);
	CUdeviceptr y1 = 0; /* softmax: the first captured call's output */
	eager = malloc(ob);
	replay = malloc(ob);
	if (!eager || !replay || kg_cu.cuMemAlloc(&y1, ob) || kg_cu.cuStreamCreate(&s, CU_STREAM_NON_BLOCKING)) {
		CHECK(0, "%s: setup failed", nm);
		goto out;
	}
	op_data_reset(&d, NULL);
	kg_cu.cuCtxSynchronize();
	rc = api_run_on(ctx, &d, s);
	kg_cu.cuStreamSynchronize(s);
	kgen_last_kernel(ctx, used, sizeof used);
	CHECK(rc == 0 && strstr(used, "xchg=global"), "%s: eager: rc %d, used '%s': %s", nm, rc, used,
	      kgen_last_error());
	rc = op_data_check(&d, &err, detail, sizeof detail);
	CHECK(rc == 0 && err <= 1, "%s: eager: error %.3g of the tolerance: %s", nm, err, detail);
	kg_cu.cuMemcpyDtoH(eager, d.d_out, ob);
	/* capture two calls (two launches of the split kernel, two exchange
	 * areas); softmax's first writes y1, so that both are checked */
	op_data_reset(&d, NULL);
	kg_cu.cuCtxSynchronize();
	void *out_ptr = d.a.out;
	if (op == KG_SOFTMAX_FWD)
		d.a.out = (void *)(uintptr_t)y1;
	CUresult cr = begin(s, CU_STREAM_CAPTURE_MODE_GLOBAL);
	int rc1 = api_run_on(ctx, &d, s);
	d.a.out = out_ptr;
	int rc2 = api_run_on(ctx, &d, s);
	CUresult ce = end(s, &g);
	CHECK(cr == CUDA_SUCCESS && rc1 == 0 && rc2 == 0 && ce == CUDA_SUCCESS && g,
	      "%s: capture: begin %d, calls %d %d (%s), end %d", nm, (int)cr, rc1, rc2, kgen_last_error(), (int)ce);
	if (!g || inst(&ge, g, 0) != CUDA_SUCCESS) {
		CHECK(0, "%s: the graph did not instantiate", nm);
		goto out;
	}
	for (int k = 0; k < 3; k++) {
		op_data_reset(&d, NULL); /* the outputs poisoned again */
		kg_cu.cuMemsetD8(y1, 0xff, ob);
		kg_cu.cuCtxSynchronize();
		CUresult lr = launch(ge, s);
		CUresult sr = kg_cu.cuStreamSynchronize(s);
		CHECK(lr == CUDA_SUCCESS && sr == CUDA_SUCCESS, "%s: replay %d: launch %d, sync %d", nm, k, (int)lr, (int)sr);
		rc = op_data_check(&d, &err, detail, sizeof detail);
		CHECK(rc == 0 && err <= 1, "%s: replay %d: error %.3g of the tolerance: %s", nm, k, err, detail);
		if (op == KG_SOFTMAX_FWD) {
			kg_cu.cuMemcpyDtoH(replay, d.d_out, ob);
			CHECK(!memcmp(eager, replay, ob), "%s: replay %d, second launch: differs from the eager call", nm, k);
			kg_cu.cuMemcpyDtoH(replay, y1, ob);
			CHECK(!memcmp(eager, replay, ob), "%s: replay %d, first launch: differs from the eager call", nm, k);
		}
	}
out:
	if (ge)
		exec_destroy(ge);
	if (g)
		graph_destroy(g);
	if (s)
		kg_cu.cuStreamDestroy(s);
	if (y1)
		kg_cu.cuMemFree(y1);
	free(eager);
	free(replay);
	op_data_free(&d);
	kgen_close(ctx);
	dlclose(cu);
}

/* A split record's calls on two streams at once, beside a long kernel on a
 * third: each split launch fills the GPU (64 rows of 32 CTAs, more than it
 * holds at once, so the persistent grid is what the GPU holds, within one
 * group), and as the long kernel's CTAs leave, a plain launch could place
 * CTAs of both split grids (the second stream has the higher priority, so
 * its grid takes freed places before the first's is whole), each then
 * spinning for CTAs that cannot be placed. The runtime launches split
 * kernels cooperatively (all CTAs resident together): every call ends,
 * within a deadline (a hang fails the test and ends the process: its
 * kernels cannot be stopped otherwise), and each stream's result, of data
 * of its own, matches the reference. */
typedef CUresult (*stream_query_fn)(CUstream);
typedef CUresult (*stream_priority_fn)(CUstream *, unsigned, int);
typedef CUresult (*priority_range_fn)(int *, int *);

static void split_streams(const char *config)
{
	const long long cols = 131072, rows = 64;
	void *cu = dlopen("libcuda.so.1", RTLD_NOW);
	stream_query_fn query = cu ? (stream_query_fn)dlsym(cu, "cuStreamQuery") : NULL;
	stream_priority_fn with_priority = cu ? (stream_priority_fn)dlsym(cu, "cuStreamCreateWithPriority") : NULL;
	priority_range_fn priorities = cu ? (priority_range_fn)dlsym(cu, "cuCtxGetStreamPriorityRange") : NULL;
	char nm[200], used[200] = "", detail[256] = "";
	int least = 0, greatest = 0;
	if (!query || !with_priority || !priorities || priorities(&least, &greatest)) {
		CHECK(0, "split streams: libcuda's stream calls not found (%s)", cu ? "dlsym" : dlerror());
		if (cu)
			dlclose(cu);
		return;
	}
	snprintf(nm, sizeof nm, "split streams: softmax fwd bf16 %lldx%lld %s", rows, cols, config);
	kgen_ctx *ctx = split_record(KG_SOFTMAX_FWD, rows, cols, config, 93, nm);
	int rc;
	if (!ctx) {
		dlclose(cu);
		return;
	}
	op_data d[3];
	CUstream s[3] = {NULL, NULL, NULL};
	int made = 0;
	/* d[2]: the long kernel (2048 rows: the template's default, 1 GB) */
	for (; made < 3; made++) {
		op_problem p = problem(made < 2 ? KG_SOFTMAX_FWD : KG_XENT_FUSED, 0, KGEN_BF16, made < 2 ? rows : 2048, cols);
		p.seed += (uint64_t)made * 1000003u; /* each stream's data its own */
		if (op_data_make(&d[made], &p)) {
			CHECK(0, "%s: data %d: %s", nm, made, kgen_last_error());
			goto out;
		}
		if (with_priority(&s[made], CU_STREAM_NON_BLOCKING, made == 1 ? greatest : least)) {
			CHECK(0, "%s: stream %d", nm, made);
			op_data_free(&d[made]);
			goto out;
		}
	}
	for (int k = 0; k < 3; k++)
		op_data_reset(&d[k], NULL);
	kg_cu.cuCtxSynchronize();
	int rcs[3] = {0, 0, 0};
	for (int it = 0; it < 20; it++) {
		rcs[2] |= api_run_on(ctx, &d[2], s[2]);
		rcs[0] |= api_run_on(ctx, &d[0], s[0]);
		if (it == 0)
			kgen_last_kernel(ctx, used, sizeof used);
		rcs[1] |= api_run_on(ctx, &d[1], s[1]);
	}
	CHECK(!rcs[0] && !rcs[1] && !rcs[2] && strstr(used, "xchg=global"), "%s: calls %d %d %d, used '%s': %s", nm,
	      rcs[0], rcs[1], rcs[2], used, kgen_last_error());
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		int busy = 0;
		CUresult qr[3];
		for (int k = 0; k < 3; k++)
			busy |= (qr[k] = query(s[k])) == CUDA_ERROR_NOT_READY;
		if (!busy) {
			CHECK(qr[0] == CUDA_SUCCESS && qr[1] == CUDA_SUCCESS && qr[2] == CUDA_SUCCESS,
			      "%s: the streams ended with %d %d %d", nm, (int)qr[0], (int)qr[1], (int)qr[2]);
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 60) {
			fprintf(stderr, "FAIL %s: the streams did not finish in 60 s (split CTAs waiting for ones that "
			        "were never placed): ending the process\n", nm);
			fflush(NULL);
			_exit(3);
		}
		usleep(1000);
	}
	for (int k = 0; k < 2; k++) {
		double err = 0;
		rc = op_data_check(&d[k], &err, detail, sizeof detail);
		CHECK(rc == 0 && err <= 1, "%s: stream %d: error %.3g of the tolerance: %s", nm, k, err, detail);
	}
out:
	for (int k = 0; k < made; k++) {
		kg_cu.cuStreamDestroy(s[k]);
		op_data_free(&d[k]);
	}
	kgen_close(ctx);
	dlclose(cu);
}

/* F: host threads on one handle, each on its per-thread default stream:
 * cross-entropy means whose denominators differ per thread. */
typedef struct thread_case {
	kgen_ctx *ctx;
	CUcontext cuctx;
	int id, failed;
	char detail[300];
} thread_case;

static void *thread_main(void *arg)
{
	thread_case *tc = arg;
	op_data d;
	double err = 0;
	kg_cu.cuCtxSetCurrent(tc->cuctx);
	op_problem p = problem(KG_XENT_FUSED, KG_XO_WEIGHT | KG_XO_SMOOTH, KGEN_BF16, 64 + 37 * tc->id, 2000);
	p.reduction = KGEN_REDUCTION_MEAN;
	p.ignore_frac = 0.1 * tc->id;
	if (op_data_make(&d, &p)) {
		tc->failed = 1;
		snprintf(tc->detail, sizeof tc->detail, "data: %s", kgen_last_error());
		return NULL;
	}
	for (int i = 0; i < 50 && !tc->failed; i++) {
		int rc;
		op_data_reset(&d, CU_STREAM_PER_THREAD);
		if ((rc = api_run_on(tc->ctx, &d, CU_STREAM_PER_THREAD)) || (rc = op_data_check(&d, &err, tc->detail, sizeof tc->detail)) ||
		    err > 1) {
			tc->failed = 1;
			if (rc)
				snprintf(tc->detail, sizeof tc->detail, "%s", kgen_last_error());
		}
	}
	op_data_free(&d);
	return NULL;
}

static void threads(kgen_ctx *ctx, CUcontext cuctx)
{
	pthread_t th[6];
	thread_case tc[6];
	for (int i = 0; i < 6; i++) {
		tc[i] = (thread_case){ctx, cuctx, i, 0, ""};
		pthread_create(&th[i], NULL, thread_main, &tc[i]);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		CHECK(!tc[i].failed, "thread %d: %s", i, tc[i].detail);
	}
}

/* E: bad arguments. */
static void bad_arguments(kgen_ctx *ctx)
{
	CUdeviceptr x, y, t, l;
	kgen_xent_options o;
	int rc;
	kg_cu.cuMemAlloc(&x, 1 << 20);
	kg_cu.cuMemAlloc(&y, 1 << 20);
	kg_cu.cuMemAlloc(&t, 1 << 12);
	kg_cu.cuMemAlloc(&l, 1 << 12);
	void *X = (void *)(uintptr_t)x, *Y = (void *)(uintptr_t)y, *T = (void *)(uintptr_t)t;
	float *L = (float *)(uintptr_t)l;
#define EXPECT(call, code, text)                                                                  \
	do {                                                                                      \
		rc = (call);                                                                      \
		CHECK(rc == (code) && strstr(kgen_last_error(), text), "%s: rc %d (%s), message '%s'", #call, rc, \
		      kgen_strerror(rc), kgen_last_error());                                      \
	} while (0)
	EXPECT(kgen_softmax_fwd(ctx, Y, NULL, 4, 8, 8, 8, KGEN_F32, NULL), KGEN_EINVAL, "x must not be NULL");
	EXPECT(kgen_softmax_fwd(ctx, Y, X, 0, 8, 8, 8, KGEN_F32, NULL), KGEN_EINVAL, "rows must be in");
	EXPECT(kgen_softmax_fwd(ctx, Y, X, 4, 0, 8, 8, KGEN_F32, NULL), KGEN_EINVAL, "cols must be in");
	EXPECT(kgen_softmax_fwd(ctx, Y, X, 4, 8, 7, 8, KGEN_F32, NULL), KGEN_EINVAL, "ld_x must be >= 8");
	EXPECT(kgen_softmax_fwd(ctx, Y, X, 4, 8, 8, 8, (kgen_dtype)7, NULL), KGEN_EINVAL, "unknown dtype");
	EXPECT(kgen_softmax_fwd(ctx, Y, (char *)X + 1, 4, 8, 8, 8, KGEN_F16, NULL), KGEN_EALIGN, "x is not aligned");
	EXPECT(kgen_softmax_bwd(ctx, Y, X, NULL, 4, 8, 8, 8, 8, KGEN_F32, NULL), KGEN_EINVAL, "dy must not be NULL");
	EXPECT(kgen_log_softmax_bwd(ctx, Y, X, X, 4, 8, 8, 8, 4, KGEN_F32, NULL), KGEN_EINVAL, "ld_dx must be >= 8");
	kgen_xent_options_init(&o);
	EXPECT(kgen_xent_fwd(ctx, NULL, L, X, T, 4, 8, 8, KGEN_F32, KGEN_INT64, &o, NULL), KGEN_EINVAL,
	       "loss must not be NULL");
	EXPECT(kgen_xent_fwd(ctx, L, L, X, NULL, 4, 8, 8, KGEN_F32, KGEN_INT64, &o, NULL), KGEN_EINVAL,
	       "target must not be NULL");
	EXPECT(kgen_xent_fwd(ctx, L, L, X, (char *)T + 4, 4, 8, 8, KGEN_F32, KGEN_INT64, &o, NULL), KGEN_EALIGN,
	       "target is not aligned");
	EXPECT(kgen_xent_fwd(ctx, L, L, X, T, 4, 8, 8, KGEN_F32, (kgen_itype)3, &o, NULL), KGEN_EINVAL,
	       "unknown target type");
	EXPECT(kgen_xent_bwd(ctx, Y, X, T, NULL, NULL, 4, 8, 8, 8, KGEN_F32, KGEN_INT64, &o, NULL), KGEN_EINVAL,
	       "lse must not be NULL");
	EXPECT(kgen_xent_fused(ctx, L, L, X, X, T, NULL, 4, 8, 8, 16, KGEN_F32, KGEN_INT64, &o, NULL), KGEN_EINVAL,
	       "in place (dlogits == logits) needs ld_dlogits == ld");
	o.label_smoothing = 1.5f;
	EXPECT(kgen_xent_fwd(ctx, L, L, X, T, 4, 8, 8, KGEN_F32, KGEN_INT64, &o, NULL), KGEN_EINVAL,
	       "label_smoothing must be in [0, 1] (got 1.5)");
	o.label_smoothing = NAN;
	EXPECT(kgen_xent_fwd(ctx, L, L, X, T, 4, 8, 8, KGEN_F32, KGEN_INT64, &o, NULL), KGEN_EINVAL,
	       "label_smoothing must be in [0, 1]");
	kgen_xent_options_init(&o);
	o.z_loss = -1;
	EXPECT(kgen_xent_fwd(ctx, L, L, X, T, 4, 8, 8, KGEN_F32, KGEN_INT64, &o, NULL), KGEN_EINVAL, "z_loss must be >= 0");
	kgen_xent_options_init(&o);
	o.softcap = -2;
	EXPECT(kgen_xent_fwd(ctx, L, L, X, T, 4, 8, 8, KGEN_F32, KGEN_INT64, &o, NULL), KGEN_EINVAL,
	       "softcap must be 0 (none) or in [1e-3, 1e30]");
	kgen_xent_options_init(&o);
	o.reduction = KGEN_REDUCTION_SUM_OVER;
	o.denominator = 0;
	EXPECT(kgen_xent_fwd(ctx, L, L, X, T, 4, 8, 8, KGEN_F32, KGEN_INT64, &o, NULL), KGEN_EINVAL,
	       "denominator must be in [1e-6, 1e38)");
	kgen_xent_options_init(&o);
	o.reduction = (kgen_reduction)9;
	EXPECT(kgen_xent_fwd(ctx, L, L, X, T, 4, 8, 8, KGEN_F32, KGEN_INT64, &o, NULL), KGEN_EINVAL, "unknown reduction");
	EXPECT(kgen_softmax_fwd(NULL, Y, X, 4, 8, 8, 8, KGEN_F32, NULL), KGEN_EINVAL, "ctx must not be NULL");
	kg_cu.cuMemFree(x);
	kg_cu.cuMemFree(y);
	kg_cu.cuMemFree(t);
	kg_cu.cuMemFree(l);
}

int main(void)
{
	static const long long sm_cols[] = {1, 7, 1000, 1024, 3000, 8192, 32768};
	static const long long sm_rows[] = {1, 3, 4096};
	static const long long cols4[] = {7, 1000, 8192, 32768};
	static const long long xcols[] = {7, 1000, 8192, 50257};
	static const long long rows2[] = {3, 1000};
	static const long long long_cols[] = {32768}, long_rows[] = {1000};
	static const long long split_cols[] = {131072, 200003}, split_rows[] = {1, 300, 5};
	const int quick = getenv("KGEN_TEST_QUICK") != NULL;
	setvbuf(stdout, NULL, _IOLBF, 0); /* the sections' progress shows even if the run is killed */
	const char *shard = getenv("KGEN_TEST_SHARD");
	if (shard && !*shard)
		shard = NULL;
	if (getenv("KGEN_TEST_ROWS_MAX"))
		rows_max = atoll(getenv("KGEN_TEST_ROWS_MAX"));
	if (getenv("KGEN_TEST_FLAT_ROWS"))
		flat_rows = atoll(getenv("KGEN_TEST_FLAT_ROWS"));
	const char *part = getenv("KGEN_TEST_PART");
	if (part && !*part)
		part = NULL;
	if (part && strcmp(part, "narrow") && strcmp(part, "long") && strcmp(part, "split")) {
		fprintf(stderr, "KGEN_TEST_PART must be narrow, long or split, not '%s'\n", part);
		return 2;
	}
	kgen_ctx *ctx;
	CUdevice dev;
	CUcontext cuctx;
	int rc;

	if (shard && (sscanf(shard, "%d/%d", &shard_i, &shard_n) != 2 || shard_n < 1 || shard_i < 0 ||
	                        shard_i >= shard_n)) {
		fprintf(stderr, "KGEN_TEST_SHARD must be I/N with 0 <= I < N, not '%s'\n", shard);
		return 2;
	}
	if ((rc = kg_cu_load()) || (rc = kg_cu.cuDeviceGet(&dev, 0) ? KGEN_ENODEVICE : 0)) {
		printf("SKIP: no GPU: %s\n", rc == KGEN_ENODEVICE && !kgen_last_error()[0] ? "no CUDA device"
		                                                                          : kgen_last_error());
		return 77;
	}
	if (!mkdtemp(cache_dir)) {
		perror("mkdtemp");
		return 1;
	}
	setenv("KGEN_CACHE_DIR", cache_dir, 1);
	setenv("KGEN_PACK_DIR", "", 1); /* installed packs would answer instead of this cache */
	kg_cu.cuDevicePrimaryCtxRetain(&cuctx, dev);
	kg_cu.cuCtxSetCurrent(cuctx);

	/* A ($KGEN_TEST_SKIP_SWEEP=1 leaves it out: the runtime's sections alone,
	 * e.g. under compute-sanitizer) */
	if (getenv("KGEN_TEST_SKIP_SWEEP"))
		goto runtime;
	if (!part || !strcmp(part, "narrow")) {
		sweep(KG_SOFTMAX_FWD, 0, sm_cols, quick ? 3 : 7, sm_rows, 3, 0);
		for (int op = KG_SOFTMAX_BWD; op <= KG_LOGSOFTMAX_BWD; op++)
			sweep(op, 0, cols4, quick ? 2 : 4, rows2, 2, 0);
		for (int op = KG_XENT_FWD; op <= KG_XENT_FUSED; op++) {
			sweep(op, 0, xcols, quick ? 2 : 4, rows2, 2, 0);
			sweep(op, XO_ALL, xcols, quick ? 2 : 3, rows2, 1, 0);
		}
	}
	if (quick && (!part || !strcmp(part, "long"))) {
		sweep(KG_SOFTMAX_FWD, 0, long_cols, 1, long_rows, 1, 1);
		sweep(KG_LOGSOFTMAX_BWD, 0, long_cols, 1, long_rows, 1, 1);
		sweep(KG_XENT_FUSED, 0, long_cols, 1, long_rows, 1, 1);
	}
	if (!part || !strcmp(part, "split")) {
		/* rows split over CTAs that are no cluster: one row, a few, and
		 * more rows than the grid's groups (each walks several, the
		 * exchange area's two pairs a CTA by row parity); an odd width */
		only_split = 1;
		for (int op = KG_SOFTMAX_FWD; op <= KG_XENT_FUSED; op++)
			if (op != KG_XENT_BWD) /* (its space holds no split rows) */
				sweep(op, 0, split_cols, 2, split_rows, quick ? 2 : 3, 0);
		sweep(KG_XENT_FWD, XO_ALL, split_cols, 1, split_rows, 2, 0);
		sweep(KG_XENT_FUSED, XO_ALL, split_cols, 2, split_rows, 2, 0);
		only_split = 0;
		/* (a share of the problems with no split variant checked would pass vacuously) */
		CHECK(split_checked > 0 || units <= shard_i, "the split part checked no variant");
		if (shard_i == 0) { /* a split record captured in a CUDA graph */
			split_graph(KG_SOFTMAX_FWD, "cluster=32,persist=8,strategy=cluster,threads=256,tpr=256,vec=8,xchg=global");
			split_graph(KG_XENT_FUSED, "cluster=64,persist=8,strategy=cluster,threads=256,tpr=256,vec=8,xchg=global");
			split_streams("cluster=32,persist=8,strategy=cluster,threads=256,tpr=256,vec=8,xchg=global");
		}
	}

runtime:
	if (shard && !getenv("KGEN_TEST_SKIP_SWEEP")) {
		printf("test_gpu_ops: shard %d/%d: %d of A's problems and a share of %d more, %d checks, %d failures\n",
		       shard_i, shard_n, (units + shard_n - 1 - shard_i) / shard_n, spread_units, checks, failures);
		return failures ? 1 : 0;
	}
	sections = getenv("KGEN_TEST_SECTIONS");
	if (sections && !*sections)
		sections = NULL;
	/* B */
	section = 'B';
	for (int op = 0; op < KG_NOPS; op++)
		for (int d = 0; d < 3; d++)
			if (mine())
				tuned_through_api(op, 0, d, op == KG_SOFTMAX_FWD ? 8192 : 1000);
	printf("B: %d failures so far\n", failures);

	if (kgen_open(&ctx, cache_dir)) {
		fprintf(stderr, "kgen_open: %s\n", kgen_last_error());
		return 1;
	}
	/* C: every option combination, reduction, pass and dtype. */
	section = 'C';
	for (int op = KG_XENT_FWD; op <= KG_XENT_FUSED; op++)
		for (int d = 0; d < 3; d++)
			for (unsigned opts = 0; opts <= XO_ALL; opts++)
				for (int red = 0; red < 4; red++) {
					if (!mine())
						continue;
					op_problem p = problem(op, opts, d, 67, 1000);
					p.reduction = red;
					p.bad_frac = opts & 1 ? 0.05 : 0; /* out-of-range targets in half the cases */
					api_case(ctx, p, NULL);
				}
	for (int d = 0; d < 3; d++)
		for (int red = 0; red < 4; red++) {
			if (!mine())
				continue;
			op_problem p = problem(KG_XENT_FUSED, KG_XO_SMOOTH | KG_XO_WEIGHT, d, 130, 4096);
			p.reduction = red;
			p.inplace = 1;
			api_case(ctx, p, NULL);
			/* every row ignored: torch's mean of nothing is NaN */
			p.inplace = 0;
			p.ignore_frac = 1.0;
			api_case(ctx, p, NULL);
		}
	/* Thousands of CTAs (50000 rows of 200 columns): the reduced loss
	 * through the loss slots of the stream's scratch, summed (and the
	 * forward's mean divided) by finish, which leaves them clear for the
	 * next call (smoothing with sum, the others plain). */
	static const int many_ops[] = {KG_XENT_FWD, KG_XENT_FUSED};
	for (int oi = 0; oi < 2; oi++)
		for (int d = 0; d < 3; d++)
			for (int red = 1; red < 4; red++) {
				if (!mine())
					continue;
				op_problem p = problem(many_ops[oi], red == 2 ? KG_XO_SMOOTH : 0, d, 50000, 200);
				p.reduction = red;
				api_case(ctx, p, NULL);
			}
	/* One row: no prep kernel (but for weighted smoothing), the row's own
	 * denominators and loss; kept, ignored (a mean of nothing is NaN) and
	 * out of range, in one CTA (1000) and over a cluster (50257). */
	static const unsigned one_opts[] = {0, KG_XO_WEIGHT, KG_XO_WEIGHT | KG_XO_SMOOTH, XO_ALL};
	static const long long one_cols[] = {1000, 50257};
	for (int op = KG_XENT_FWD; op <= KG_XENT_FUSED; op++)
		for (int d = 0; d < 3; d++)
			for (int oi = 0; oi < 4; oi++)
				for (int ci = 0; ci < 2; ci++)
					for (int red = 0; red < 4; red++)
						for (int kind = 0; kind < 3; kind++) {
							if (!mine())
								continue;
							op_problem p = problem(op, one_opts[oi], d, 1, one_cols[ci]);
							p.reduction = red;
							p.ignore_frac = kind == 1 ? 1.0 : 0;
							p.bad_frac = kind == 2 ? 1.0 : 0;
							api_case(ctx, p, NULL);
						}
	printf("C: %d failures so far\n", failures);

	/* D: edge values (fill 4: the first two thirds of a row -inf; 5: of the
	 * dtype's lowest value, or all of a softmax row). */
	section = 'D';
	for (int fill = 1; fill <= 5; fill++)
		for (int d = 0; d < 3; d++)
			for (int op = 0; op < KG_NOPS; op++) {
				if (op == KG_SOFTMAX_BWD || op == KG_LOGSOFTMAX_BWD || !mine())
					continue;
				op_problem p = problem(op, 0, d, 30, op == KG_XENT_BWD ? 1000 : 3000);
				p.fill = fill;
				p.reduction = kg_ops[op].xent ? KGEN_REDUCTION_NONE : -1;
				api_case(ctx, p, NULL);
				p.cols = 7;
				api_case(ctx, p, NULL);
				if (fill >= 2) { /* long rows: streamed, shifted */
					p.cols = 50257;
					api_case(ctx, p, NULL);
				}
			}
	printf("D: %d failures so far\n", failures);

	/* G */
	section = 'G';
	odd_rows(ctx);
	printf("G: %d failures so far\n", failures);

	/* F */
	section = 'F';
	if (mine())
		threads(ctx, cuctx);
	printf("F: %d failures so far\n", failures);

	/* E */
	section = 'E';
	if (mine())
		bad_arguments(ctx);
	kgen_close(ctx);
	kg_cu.cuDevicePrimaryCtxRelease(dev);
	if (shard)
		printf("test_gpu_ops: runtime shard %d/%d: %d of the runtime's units, %d checks, %d failures\n", shard_i,
		       shard_n, (rt_units + shard_n - 1 - shard_i) / shard_n, checks, failures);
	else
		printf("test_gpu_ops: %d checks, %d failures\n", checks, failures);
	return failures ? 1 : 0;
}
