/* test_runtime_sweep: every valid call succeeds. A seeded sweep of calls
 * through libkgen on the stand-in driver (tests/stand_in_cuda.c, mock
 * mode) with the shipped pack and NVRTC: the seven ops, the three dtypes,
 * widths from 1 to 1.2M columns and rows from 1 to 400K (problems up to
 * 32 MB), row strides longer than the rows, pointers off the 16-byte
 * boundary by whole elements, and cross-entropy's options (reductions,
 * smoothing, z-loss, softcap, weights, ignore_index, the bad-target
 * counter, a workspace, i32 and i64 targets). Each call must return 0 and
 * name its kernel, whatever the runtime chose for it: the shape's own
 * record, a borrowed one, the nearest width's configuration or the
 * template's default. The second half of the calls runs on a stand-in
 * GPU that holds no CTA of any kernel at once (KGEN_MOCK_RESIDENT=0), where
 * a row split over CTAs that must all be resident cannot run: the runtime
 * must take the default there rather than fail (fused cross-entropy f16
 * 1x500000 once failed so); the forward ops and fused cross-entropy over
 * one and eight rows of 500000 and 700000 columns, whose nearest records
 * split a row so, are called there last. The stand-in computes no kernel but softmax
 * forward (KGEN_MOCK_COLS=1: one element a row), so this checks the
 * runtime's choices and launches, not the numbers (the GPU tests do).
 *
 * usage: test_runtime_sweep LIBMOCKCUDA PACK [SEED [CALLS]]; exit 77
 * (skip) without NVRTC. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kgen.h"

enum { CAP = 32 << 20, TAIL = 1 << 16, MAXROWS = 1 << 19, MAXVOCAB = 1 << 21 };

static uint64_t state;

static uint64_t next(void) /* xorshift64 */
{
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return state;
}

/* log-uniform in [lo, hi] */
static long long logu(long long lo, long long hi)
{
	const double a = log((double)lo), b = log((double)hi);
	return (long long)exp(a + (b - a) * (double)(next() % 100001) / 100000.0);
}

int main(int argc, char **argv)
{
	static const kgen_dtype dts[] = {KGEN_BF16, KGEN_F16, KGEN_F32};
	static const char *const dname[] = {"bf16", "f16", "f32"}, *const opname[] = {
		"softmax fwd", "softmax bwd", "log_softmax fwd", "log_softmax bwd", "xent fwd", "xent bwd", "xent fused"};
	static const int esize[] = {2, 2, 4};
	char cache[] = "/tmp/kgen_test_runtime_sweep_XXXXXX", cmd[600];
	unsigned long long *bad;
	char *b0, *b1, *b2, *tg, *ws;
	float *loss, *lse, *weight;
	kgen_ctx *ctx;
	int calls, rc;
	if (argc < 3 || argc > 5) {
		fprintf(stderr, "usage: test_runtime_sweep LIBMOCKCUDA PACK [SEED [CALLS]]\n");
		return 2;
	}
	state = (argc > 3 ? strtoull(argv[3], NULL, 10) : 1) * 2654435761ull + 88172645463325252ull;
	calls = argc > 4 ? atoi(argv[4]) : 160;
	if (!mkdtemp(cache))
		return 1;
	setenv("KGEN_CUDA_LIBRARY", argv[1], 1);
	setenv("KGEN_PACK_PATH", argv[2], 1);
	setenv("KGEN_PACK_DIR", "", 1);
	setenv("KGEN_MOCK_COLS", "1", 1);
	unsetenv("KGEN_MOCK_RESIDENT");
	unsetenv("KGEN_NO_NEAR_WIDTH");
	unsetenv("KGEN_NO_BORROW");
	b0 = aligned_alloc(256, CAP + TAIL);
	b1 = aligned_alloc(256, CAP + TAIL);
	b2 = aligned_alloc(256, CAP + TAIL);
	tg = aligned_alloc(256, (size_t)MAXROWS * 8);
	loss = aligned_alloc(256, (size_t)MAXROWS * 4);
	lse = aligned_alloc(256, (size_t)MAXROWS * 4);
	weight = aligned_alloc(256, (size_t)MAXVOCAB * 4);
	bad = aligned_alloc(256, 256);
	ws = aligned_alloc(256, (KGEN_XENT_WORKSPACE_BYTES + 255) / 256 * 256); /* (a multiple of the alignment) */
	if (!b0 || !b1 || !b2 || !tg || !loss || !lse || !weight || !bad || !ws)
		return 1;
	memset(b1, 0, CAP + TAIL);
	memset(b2, 0, CAP + TAIL);
	memset(tg, 0, (size_t)MAXROWS * 8);
	for (int i = 0; i < MAXVOCAB; i++)
		weight[i] = 1.0f;
	for (int i = 0; i < calls; i++) {
		const int op = (int)(next() % 7), d = (int)(next() % 3), k = (int)(next() % 10), r = (int)(next() % 4);
		long long cols = k < 2 ? logu(1, 128) : k < 5 ? logu(128, 8192) : k < 8 ? logu(8192, 300000) : logu(300000, 1200000);
		long long ld = cols + (next() % 4 == 0 ? (long long)(next() % 17) : 0), rows, most;
		const int o0 = next() % 4 == 0 ? (int)(next() % 8) : 0, o1 = next() % 4 == 0 ? (int)(next() % 8) : 0,
		          o2 = next() % 4 == 0 ? (int)(next() % 8) : 0;
		void *p0 = b0 + o0 * esize[d], *p1 = b1 + o1 * esize[d], *p2 = b2 + o2 * esize[d];
		const kgen_itype itype = next() % 2 ? KGEN_INT64 : KGEN_INT32;
		kgen_xent_options o;
		char used[300] = "";
		if (cols > MAXVOCAB)
			cols = ld = MAXVOCAB;
		most = (long long)(CAP / ((size_t)ld * (size_t)esize[d])) - 1;
		if (most < 1)
			continue;
		rows = r == 0 ? 1 + (long long)(next() % 8) : r == 1 ? logu(8, 1024) : logu(1024, 400000);
		if (rows > most)
			rows = most;
		if (rows > MAXROWS)
			rows = MAXROWS;
		kgen_xent_options_init(&o);
		o.reduction = (kgen_reduction)(next() % 4);
		o.denominator = (float)(1 + next() % 1000);
		if (next() % 3 == 0)
			o.label_smoothing = 0.1f;
		if (next() % 3 == 0)
			o.z_loss = 1e-4f;
		if (next() % 3 == 0)
			o.softcap = 30.0f;
		if (next() % 3 == 0)
			o.weight = weight;
		if (next() % 3 == 0)
			o.bad_targets = bad;
		if (next() % 3 == 0)
			o.workspace = ws;
		if (next() % 4 == 0)
			o.ignore_index = 0;
		/* the second half: a GPU that keeps no CTA resident */
		if (i == calls / 2)
			setenv("KGEN_MOCK_RESIDENT", "0", 1);
		if (kgen_open(&ctx, cache)) {
			fprintf(stderr, "kgen_open: %s\n", kgen_last_error());
			return 1;
		}
		switch (op) {
		case 0: rc = kgen_softmax_fwd(ctx, p0, p1, rows, cols, ld, ld, dts[d], NULL); break;
		case 1: rc = kgen_softmax_bwd(ctx, p0, p1, p2, rows, cols, ld, ld, ld, dts[d], NULL); break;
		case 2: rc = kgen_log_softmax_fwd(ctx, p0, p1, rows, cols, ld, ld, dts[d], NULL); break;
		case 3: rc = kgen_log_softmax_bwd(ctx, p0, p1, p2, rows, cols, ld, ld, ld, dts[d], NULL); break;
		case 4: rc = kgen_xent_fwd(ctx, loss, lse, p1, tg, rows, cols, ld, dts[d], itype, &o, NULL); break;
		case 5: rc = kgen_xent_bwd(ctx, p0, p1, tg, lse, NULL, rows, cols, ld, ld, dts[d], itype, &o, NULL); break;
		default:
			rc = kgen_xent_fused(ctx, loss, lse, p0, p1, tg, NULL, rows, cols, ld, ld, dts[d], itype, &o, NULL);
			break;
		}
		if (rc == KGEN_ENONVRTC) {
			printf("SKIP: no NVRTC: %s\n", kgen_last_error());
			return 77;
		}
		kgen_last_kernel(ctx, used, sizeof used);
		CHECK(!rc && used[0], "%d: %s %s %lldx%lld (ld %lld, offsets %d %d %d, reduction %d%s%s%s%s%s, i%d%s): rc %d, '%s': %s",
		      i, opname[op], dname[d], rows, cols, ld, o0, o1, o2, o.reduction, o.label_smoothing > 0 ? ", smoothing" : "",
		      o.z_loss > 0 ? ", z-loss" : "", o.softcap > 0 ? ", softcap" : "", o.weight ? ", weights" : "",
		      o.workspace ? ", workspace" : "", itype == KGEN_INT64 ? 64 : 32,
		      i >= calls / 2 ? ", no CTA resident" : "", rc, used, rc ? kgen_last_error() : "");
		kgen_close(ctx);
	}
	/* and on that GPU, the decode shapes whose nearest records split a row
	 * (one and eight rows of 500000 and 700000 columns: 1048576's and
	 * 262144's records) for the ops the preset tunes there */
	for (int op = 0; op < 4; op++)
		for (int d = 0; d < 3; d++)
			for (int i = 0; i < 4; i++) {
				const long long rows = i % 2 ? 8 : 1, cols = i < 2 ? 500000 : 700000;
				kgen_xent_options o;
				char used[300] = "";
				kgen_xent_options_init(&o);
				if (kgen_open(&ctx, cache))
					return 1;
				rc = op == 0   ? kgen_softmax_fwd(ctx, b0, b1, rows, cols, cols, cols, dts[d], NULL)
				     : op == 1 ? kgen_log_softmax_fwd(ctx, b0, b1, rows, cols, cols, cols, dts[d], NULL)
				     : op == 2 ? kgen_xent_fwd(ctx, loss, lse, b1, tg, rows, cols, cols, dts[d], KGEN_INT64, &o, NULL)
				               : kgen_xent_fused(ctx, loss, lse, b0, b1, tg, NULL, rows, cols, cols, cols, dts[d],
				                                 KGEN_INT64, &o, NULL);
				kgen_last_kernel(ctx, used, sizeof used);
				CHECK(!rc && used[0] && !strstr(used, "xchg=global"),
				      "%s %s %lldx%lld, no CTA resident: rc %d, '%s': %s", opname[op == 2 ? 4 : op == 3 ? 6 : 2 * op],
				      dname[d], rows, cols, rc, used, rc ? kgen_last_error() : "");
				kgen_close(ctx);
			}
	free(b0), free(b1), free(b2), free(tg), free(loss), free(lse), free(weight), free(bad), free(ws);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", cache);
	if (system(cmd))
		printf("could not remove %s\n", cache);
	printf("test_runtime_sweep: %d checks, %d failures\n", checks, failures);
	return failures != 0;
}
