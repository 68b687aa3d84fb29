/* test_ops.c: tests of the host part of tuner/ops.c (no GPU needed): the
 * test data and the fp64 reference do not depend on the number of threads
 * that make them, and the reference is sane.
 *
 *   test_ops                                  the tests
 *   test_ops --time OP PASS DTYPE ROWS COLS [THREADS]
 *                                             time op_data_host (the CPU
 *                                             phase of a tune) and exit
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "ops.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int same(const void *a, const void *b, size_t n)
{
	return (!a && !b) || (a && b && !memcmp(a, b, n));
}

static const char *name(const op_problem *p, char *buf, size_t len)
{
	snprintf(buf, len, "%s %s %s %lldx%lld opts %u fill %d", kg_ops[p->op].op, kg_ops[p->op].pass,
	         kg_dtype_names[p->dtype], p->rows, p->cols, p->opts, p->fill);
	return buf;
}

static int tiled_rows; /* sampled rows past the tile compared with their tile row */

/* One thread and three threads make the same bytes. */
static void deterministic(op_problem p)
{
	op_data a, b;
	char nm[128];
	size_t es = (size_t)kg_dtype_size(p.dtype), cells;
	int ra, rb;
	name(&p, nm, sizeof nm);
	p.threads = 1;
	ra = op_data_host(&a, &p);
	p.threads = 3;
	rb = op_data_host(&b, &p);
	CHECK(ra == 0 && rb == 0, "%s: op_data_host: %d %d", nm, ra, rb);
	if (ra || rb)
		goto out;
	cells = (size_t)a.ns * (size_t)p.cols;
	CHECK(a.ns == b.ns && a.ns > 0, "%s: %d and %d sampled rows", nm, a.ns, b.ns);
	CHECK(a.h_rows == (p.rows < OPS_TILE_ROWS ? p.rows : OPS_TILE_ROWS) && b.h_rows == a.h_rows,
	      "%s: a tile of %lld and %lld rows", nm, a.h_rows, b.h_rows);
	CHECK(same(a.h_in0, b.h_in0, (size_t)(a.h_rows * a.p.ld_in) * es), "%s: inputs differ", nm);
	CHECK(same(a.h_in1, b.h_in1, (size_t)(a.h_rows * a.p.ld_in) * es), "%s: second inputs differ", nm);
	CHECK(same(a.want, b.want, cells * sizeof *a.want), "%s: reference differs", nm);
	CHECK(same(a.scale, b.scale, cells * sizeof *a.scale), "%s: error scales differ", nm);
	if (kg_ops[p.op].xent) {
		CHECK(same(a.h_target, b.h_target, (size_t)p.rows * sizeof *a.h_target), "%s: targets differ", nm);
		CHECK(same(a.want_lse, b.want_lse, (size_t)a.ns * sizeof *a.want_lse), "%s: lse differs", nm);
		CHECK(same(a.want_loss, b.want_loss, (size_t)a.ns * sizeof *a.want_loss), "%s: losses differ", nm);
		CHECK(a.want_total == b.want_total || (isnan(a.want_total) && isnan(b.want_total)),
		      "%s: reduced loss %.17g vs %.17g", nm, a.want_total, b.want_total);
		CHECK(same(a.h_lse, b.h_lse, (size_t)p.rows * sizeof(float)), "%s: bwd lse differs", nm);
		CHECK(!!a.h_lse == (p.op == KG_XENT_BWD), "%s: bwd lse %s", nm, a.h_lse ? "made" : "missing");
		CHECK(same(a.h_dloss, b.h_dloss, a.n_dloss * sizeof(float)), "%s: dloss differs", nm);
	}
	/* padding columns are zero, so uploads are deterministic too */
	for (long long r = 0; a.p.ld_in > p.cols && r < a.h_rows; r++)
		for (long long c = p.cols; c < a.p.ld_in; c++)
			if (ref_get(a.h_in0, p.dtype, (size_t)(r * a.p.ld_in + c)) != 0) {
				CHECK(0, "%s: padding of row %lld is not zero", nm, r);
				r = a.h_rows;
				break;
			}
	/* rows past the tile repeat it: their logsumexp and reference are
	 * those of their tile row (where both rows are sampled) */
	for (long long r = a.h_rows; a.h_lse && r < p.rows; r++)
		if (a.h_lse[r] != a.h_lse[r % a.h_rows]) {
			CHECK(0, "%s: bwd lse of row %lld is not its tile row's", nm, r);
			break;
		}
	for (int i = 0; p.op == KG_SOFTMAX_FWD && i < a.ns; i++)
		for (int j = 0; j < a.ns && a.sample[i] >= a.h_rows; j++)
			if (a.sample[j] == a.sample[i] % a.h_rows) {
				tiled_rows++;
				CHECK(same(a.want + (size_t)i * (size_t)p.cols, a.want + (size_t)j * (size_t)p.cols,
				           (size_t)p.cols * sizeof *a.want),
				      "%s: the reference of row %lld is not its tile row's", nm, a.sample[i]);
			}
	/* sanity: softmax rows sum to 1; fused cross-entropy gradient rows to about 0 */
	for (int i = 0; i < a.ns && (p.op == KG_SOFTMAX_FWD || p.op == KG_XENT_FUSED); i++) {
		double s = 0;
		for (long long c = 0; c < p.cols; c++)
			s += a.want[(size_t)i * (size_t)p.cols + (size_t)c];
		if (p.op == KG_SOFTMAX_FWD && p.fill == 0)
			CHECK(fabs(s - 1) < 1e-9, "%s: sampled row %lld sums to %.17g", nm, a.sample[i], s);
		if (p.op == KG_XENT_FUSED && !p.opts && a.h_target[a.sample[i]] >= 0)
			CHECK(fabs(s) < 1e-9, "%s: gradient of row %lld sums to %.3g", nm, a.sample[i], s);
	}
	/* another seed gives other data */
	op_data c;
	p.seed ^= 1;
	if (op_data_host(&c, &p) == 0)
		CHECK(!same(a.h_in0, c.h_in0, (size_t)(a.h_rows * a.p.ld_in) * es), "%s: seed changes nothing", nm);
	op_data_free(&c);
out:
	op_data_free(&a);
	op_data_free(&b);
}

static op_problem problem(int op, int dtype, long long rows, long long cols)
{
	op_problem p = {
		.op = op, .dtype = dtype, .rows = rows, .cols = cols, .eps = 0.1, .zloss = 1e-4, .softcap = 30.0,
		.denominator = 1.0, .reduction = -1, .ignore_frac = kg_ops[op].xent ? 0.1 : 0.0, .seed = 12345,
	};
	return p;
}

static int time_host(char **argv, int argc)
{
	int op = kg_op_find(argv[2], argv[3]), dtype = kg_dtype_parse(argv[4]);
	op_problem p;
	op_data d;
	double t0;
	int rc;
	if (op < 0 || dtype < 0) {
		fprintf(stderr, "test_ops: unknown op, pass or dtype\n");
		return 2;
	}
	p = problem(op, dtype, atoll(argv[5]), atoll(argv[6]));
	p.threads = argc > 7 ? atoi(argv[7]) : 0;
	t0 = now_s();
	rc = op_data_host(&d, &p);
	printf("%s %s %s %lldx%lld: data and reference in %.2f s on %d threads%s\n", argv[2], argv[3], argv[4], p.rows,
	       p.cols, now_s() - t0, op_threads(p.threads), rc ? " (failed)" : "");
	op_data_free(&d);
	return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc >= 7 && !strcmp(argv[1], "--time"))
		return time_host(argv, argc);
	for (int dt = 0; dt < 3; dt++) {
		op_problem p = problem(KG_SOFTMAX_FWD, dt, 300, 1000);
		p.ld_in = p.ld_out = 1003;
		deterministic(p);
		deterministic(problem(KG_SOFTMAX_BWD, dt, 77, 513));
		deterministic(problem(KG_LOGSOFTMAX_FWD, dt, 5, 4096));
		deterministic(problem(KG_LOGSOFTMAX_BWD, dt, 300, 129));
		deterministic(problem(KG_XENT_FUSED, dt, 301, 1000));
		deterministic(problem(KG_XENT_BWD, dt, 64, 3000));
		deterministic(problem(KG_XENT_BWD, dt, 700, 200));
		deterministic(problem(KG_SOFTMAX_FWD, dt, 2000, 64));
		p = problem(KG_XENT_FWD, dt, 40, 777);
		p.opts = KG_XO_WEIGHT | KG_XO_SMOOTH | KG_XO_ZLOSS | KG_XO_SOFTCAP;
		p.bad_frac = 0.1;
		deterministic(p);
		p = problem(KG_XENT_FUSED, dt, 1000, 50);
		p.opts = KG_XO_WEIGHT | KG_XO_SMOOTH;
		p.reduction = KGEN_REDUCTION_NONE;
		deterministic(p);
		for (int fill = 1; fill <= 3; fill++) {
			p = problem(KG_SOFTMAX_FWD, dt, 30, 100);
			p.fill = fill;
			deterministic(p);
		}
	}
	CHECK(tiled_rows > 0, "no sampled row past the tile was compared with its tile row");
	/* which cross-entropy calls run the prep kernel (the runtime and the
	 * tuner ask kg_xent_with_prep): the means of more than one row whose
	 * gradient needs the denominator (fused, bwd), and weighted smoothing
	 * (the sum of every class weight); and which add into the loss slots
	 * and run finish (kg_xent_with_slots): reduced losses of fwd and fused
	 * of more than one row */
	const unsigned ws = KG_XO_WEIGHT | KG_XO_SMOOTH;
	CHECK(!kg_xent_with_prep(KG_XENT_FWD, 0, KGEN_REDUCTION_MEAN, 4096), "fwd mean of 4096 rows: no prep");
	CHECK(kg_xent_with_prep(KG_XENT_FUSED, 0, KGEN_REDUCTION_MEAN, 4096), "fused mean of 4096 rows: prep");
	CHECK(!kg_xent_with_prep(KG_XENT_FUSED, KG_XO_WEIGHT | KG_XO_ZLOSS, KGEN_REDUCTION_SUM, 2), "fused sum: no prep");
	CHECK(!kg_xent_with_prep(KG_XENT_FWD, 0, KGEN_REDUCTION_SUM, 2), "fwd sum of 2 rows: no prep");
	CHECK(kg_xent_with_prep(KG_XENT_FWD, ws, KGEN_REDUCTION_NONE, 4096), "fwd with weighted smoothing: prep");
	for (int op = KG_XENT_FWD; op <= KG_XENT_FUSED; op++)
		for (int red = 0; red < 4; red++) {
			const int want = op != KG_XENT_BWD && red != KGEN_REDUCTION_NONE;
			CHECK(kg_xent_with_slots(op, red, 4096) == want, "slots, op %d reduction %d: want %d", op, red, want);
			CHECK(!kg_xent_with_slots(op, red, 1), "one row, op %d reduction %d: no slots", op, red);
		}
	CHECK(!kg_xent_with_slots(KG_SOFTMAX_FWD, KGEN_REDUCTION_MEAN, 4096), "softmax: no slots");
	CHECK(!kg_xent_with_prep(KG_XENT_FWD, 0, KGEN_REDUCTION_NONE, 4096), "fwd without reduction: no prep");
	CHECK(!kg_xent_with_prep(KG_XENT_BWD, 0, KGEN_REDUCTION_SUM, 4096), "bwd of a sum: no prep");
	CHECK(kg_xent_with_prep(KG_XENT_BWD, 0, KGEN_REDUCTION_MEAN, 4096), "bwd of a mean: prep");
	for (int op = KG_XENT_FWD; op <= KG_XENT_FUSED; op++)
		for (int red = 0; red < 4; red++) {
			CHECK(!kg_xent_with_prep(op, KG_XO_WEIGHT | KG_XO_ZLOSS, red, 1), "one row, op %d reduction %d: no prep", op,
			      red);
			CHECK(kg_xent_with_prep(op, ws, red, 1), "one row, weighted smoothing, op %d: prep", op);
		}
	CHECK(!kg_xent_with_prep(KG_SOFTMAX_FWD, ws, KGEN_REDUCTION_MEAN, 4096), "softmax: no prep");
	printf("test_ops: %d checks, %d failures\n", checks, failures);
	return failures ? 1 : 0;
}
