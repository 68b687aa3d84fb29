/* test_near_width: the runtime's nearest-width rule end to end, on the
 * stand-in driver (tests/stand_in_cuda.c, mock mode) with NVRTC: a width the shipped pack
 * lacks takes the configuration of the nearest tuned width (compiled for
 * its own width), a preset width its own record, a width whose default
 * holds its rows in registers the default, and $KGEN_NO_NEAR_WIDTH=1 the
 * template's default. The stand-in GPU is another model than the
 * pack's, so the records are another model's (borrowed).
 *
 * usage: test_near_width LIBMOCKCUDA PACK; exit 77 (skip) without NVRTC. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kgen.h"

enum { ROWS = 64, MAXCOLS = 140000 }; /* also 1 row of up to 8960000 */

/* softmax forward of rows x cols bf16 (rows * cols <= ROWS * MAXCOLS)
 * through a fresh handle, the output shifted by yoff elements; used gets
 * kgen_last_kernel */
static int run_at(const char *cache, long long rows, long long cols, int yoff, char *used, size_t len)
{
	static unsigned short x[ROWS * MAXCOLS] __attribute__((aligned(256))),
		y[ROWS * MAXCOLS + 8] __attribute__((aligned(256)));
	kgen_ctx *ctx;
	int rc;
	used[0] = 0;
	if ((rc = kgen_open(&ctx, cache)))
		return rc;
	for (long long i = 0; i < rows * cols; i++)
		x[i] = 0x3f80; /* 1.0 */
	rc = kgen_softmax_fwd(ctx, y + yoff, x, rows, cols, cols, cols, KGEN_BF16, NULL);
	kgen_last_kernel(ctx, used, len);
	printf("%lld cols: %s\n", cols, rc ? kgen_last_error() : used);
	kgen_close(ctx);
	return rc;
}

static int run(const char *cache, long long cols, char *used, size_t len)
{
	return run_at(cache, ROWS, cols, 0, used, len);
}

int main(int argc, char **argv)
{
	char used[256], cache[] = "/tmp/kgen_test_near_width_XXXXXX", cmd[600];
	long long at = 0;
	const char *p;
	int rc;
	if (argc != 3) {
		fprintf(stderr, "usage: test_near_width LIBMOCKCUDA PACK\n");
		return 2;
	}
	if (!mkdtemp(cache))
		return 1;
	setenv("KGEN_CUDA_LIBRARY", argv[1], 1);
	setenv("KGEN_PACK_PATH", argv[2], 1);
	setenv("KGEN_PACK_DIR", "", 1);
	unsetenv("KGEN_NO_NEAR_WIDTH");
	unsetenv("KGEN_NO_BORROW");
	/* a width of the preset: its own record */
	rc = run(cache, 131072, used, sizeof used);
	if (rc == KGEN_ENONVRTC) {
		printf("SKIP: no NVRTC: %s\n", kgen_last_error());
		return 77;
	}
	CHECK(!rc && !strncmp(used, "borrowed ", 9), "131072: rc %d, '%s': %s", rc, used, kgen_last_error());
	/* widths the pack lacks: the nearest tuned width's configuration, where
	 * that width is of the same kind (odd widths take odd widths' shifted
	 * configs, aligned widths aligned ones) */
	const long long widths[] = {40000, 100000, 50001};
	for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++) {
		rc = run(cache, widths[i], used, sizeof used);
		p = strstr(used, "(tuned at ");
		at = p ? atoll(p + 10) : 0;
		CHECK(!rc && !strncmp(used, "nearest ", 8) && at > 0 && at != widths[i] && at <= 2 * widths[i] &&
		          2 * at >= widths[i] && strstr(used, " from '"),
		      "%lld: rc %d, '%s': %s", widths[i], rc, used, kgen_last_error());
		/* an odd width takes a shifted configuration */
		if (widths[i] % 8)
			CHECK(strstr(used, "shift=1") != NULL && at % 8, "%lld: not an odd width's shifted config: '%s'",
			      widths[i], used);
	}
	/* an aligned width whose nearest tuned width is odd (50000: 50257
	 * nearer than 32000 or 65536): an aligned width's configuration, not
	 * the odd one's and not the default */
	rc = run(cache, 50000, used, sizeof used);
	p = strstr(used, "(tuned at ");
	at = p ? atoll(p + 10) : 0;
	CHECK(!rc && !strncmp(used, "nearest ", 8) && at > 0 && at % 8 == 0 && !strstr(used, "shift=1"),
	      "50000: rc %d, '%s': %s", rc, used, kgen_last_error());
	/* a width whose nearest record splits one row over CTAs that are no
	 * cluster (1048576 at 1 row: 128 CTAs of a persistent grid, which must
	 * all be resident at once): its configuration where the GPU holds them
	 * (the stand-in holds 2 CTAs of every kernel an SM), the default where
	 * it holds none, not a failed call */
	setenv("KGEN_MOCK_NO_PRUNE", "1", 1);
	rc = run_at(cache, 1, 700000, 0, used, sizeof used);
	CHECK(!rc && !strncmp(used, "nearest ", 8) && strstr(used, "xchg=global") && strstr(used, "(tuned at 1048576 cols)"),
	      "700000 at 1 row: rc %d, '%s': %s", rc, used, kgen_last_error());
	setenv("KGEN_MOCK_RESIDENT", "0", 1);
	rc = run_at(cache, 1, 700000, 0, used, sizeof used);
	CHECK(!rc && !strncmp(used, "fallback ", 9) && !strstr(used, "xchg=global"),
	      "700000 at 1 row, no CTA resident: rc %d, '%s': %s", rc, used, kgen_last_error());
	/* so for a preset width's own record of such a split (1048576 at 1
	 * row): passed over, and its configuration not compiled instead */
	rc = run_at(cache, 1, 1048576, 0, used, sizeof used);
	CHECK(!rc && !strncmp(used, "fallback ", 9) && !strstr(used, "xchg=global"),
	      "1048576 at 1 row, no CTA resident: rc %d, '%s': %s", rc, used, kgen_last_error());
	unsetenv("KGEN_MOCK_RESIDENT");
	rc = run_at(cache, 1, 1048576, 0, used, sizeof used);
	CHECK(!rc && !strncmp(used, "borrowed ", 9) && strstr(used, "xchg=global"), "1048576 at 1 row: rc %d, '%s': %s", rc,
	      used, kgen_last_error());
	unsetenv("KGEN_MOCK_NO_PRUNE");
	/* half a tuned width: the neighbour's threads per row halved with it
	 * (the same vectors per thread, so twice the rows per CTA): 512
	 * columns at 1024 rows from the 1024-column record of 1024 rows
	 * (threads=128, tpr=32) */
	rc = run_at(cache, 1024, 512, 0, used, sizeof used);
	CHECK(!rc && !strncmp(used, "nearest ", 8) && strstr(used, "(tuned at 1024 cols)") && strstr(used, "threads=128,") &&
	          strstr(used, "tpr=16,"),
	      "512 at 1024 rows: rc %d, '%s': %s", rc, used, kgen_last_error());
	/* odd widths whose nearest tuned width is aligned: the default, shifted */
	const long long odd[] = {100003, 24001};
	for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
		rc = run(cache, odd[i], used, sizeof used);
		CHECK(!rc && !strncmp(used, "fallback ", 9) && strstr(used, "shift=1"), "%lld: rc %d, '%s': %s", odd[i], rc,
		      used, kgen_last_error());
	}
	/* a width whose rows fit registers (the default: strategy=reg) beside
	 * a tuned width that spreads or streams them (32000 at 64 rows:
	 * strategy=cluster): the default, not the neighbour's configuration */
	rc = run(cache, 24000, used, sizeof used);
	CHECK(!rc && !strncmp(used, "fallback ", 9) && strstr(used, "strategy=reg"), "24000: rc %d, '%s': %s", rc, used,
	      kgen_last_error());
	/* output rows at an odd element: the default narrowed to 2-byte
	 * accesses, without the staged load that moves 16-byte vectors only */
	rc = run_at(cache, ROWS, 100000, 1, used, sizeof used);
	CHECK(!rc && strstr(used, "vec=1") && !strstr(used, "load="), "100000, output at an odd element: rc %d, '%s': %s", rc,
	      used, kgen_last_error());
	/* turned off: the template's default */
	setenv("KGEN_NO_NEAR_WIDTH", "1", 1);
	rc = run(cache, 100000, used, sizeof used);
	CHECK(!rc && !strncmp(used, "fallback ", 9), "KGEN_NO_NEAR_WIDTH: rc %d, '%s': %s", rc, used, kgen_last_error());
	unsetenv("KGEN_NO_NEAR_WIDTH");
	/* no borrowing: another model's records are not taken either */
	setenv("KGEN_NO_BORROW", "1", 1);
	rc = run(cache, 100000, used, sizeof used);
	CHECK(!rc && !strncmp(used, "fallback ", 9), "KGEN_NO_BORROW: rc %d, '%s': %s", rc, used, kgen_last_error());
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", cache);
	if (system(cmd))
		printf("could not remove %s\n", cache);
	printf("test_near_width: %d checks, %d failures\n", checks, failures);
	return failures != 0;
}
