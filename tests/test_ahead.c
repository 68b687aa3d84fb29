/* test_ahead: compiling ahead (tune_compile_ahead, what a list of problems
 * runs on spare cores while the GPU times the problem before) compiles
 * what tune_run will compile: where a twin dtype's finished ranking names
 * the leaders, those only; else the first TUNE_COMPILE_FIRST in plan
 * order, and the run compiles the rest while it times. A check-only run
 * shared out (tune_opts.share_i/share_n) checks and compiles each variant
 * in one share, and so does one run in parts (tune_opts.want); with
 * keep_current, a current record means nothing is compiled. On the
 * stand-in driver
 * (tests/stand_in_cuda.c, mock mode) with NVRTC.
 *
 * usage: test_ahead LIBMOCKCUDA; exit 77 (skip) without NVRTC. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "check.h"
#include "kgen.h"
#include "tune.h"

static int count_cubin(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	(void)k, (void)kl, (void)v, (void)vl;
	++*(int *)arg;
	return 0;
}

/* The cubins in the cache of dir. */
static int cubins(const char *dir)
{
	cache *c;
	int n = 0;
	if (cache_open(&c, dir, 1))
		return -1;
	cache_scan(c, "cubin", "", 0, count_cubin, &n);
	cache_close(c);
	return n;
}

static tune_opts problem(const char *dir, int dtype)
{
	tune_opts o;
	memset(&o, 0, sizeof o);
	o.op = "softmax";
	o.pass = "fwd";
	o.dtype = dtype;
	o.cols = 1024;
	o.rows = 64;
	o.sm = 90;
	o.reps = 5;
	o.jobs = 2;
	o.cache_dir = dir;
	return o;
}

/* want: the persistent variants (*arg 1) or the others (0) */
static int persistent(void *arg, const char *config)
{
	return (strstr(config, "persist=") != NULL) == *(const int *)arg;
}

/* A check-only run in 3 shares (tune_opts.share_i/share_n) checks each
 * variant that an unshared run checks exactly once, and compiles only its
 * own. */
static void share_check(const char *base)
{
	char dir[600], whole[256][192];
	int nwhole = 0, seen[256] = {0}, compiled = 0;
	tune_result res;
	tune_opts o;
	int rc;
	setenv("KGEN_MOCK_DTYPE", "bf16", 1);
	snprintf(dir, sizeof dir, "%s/whole", base);
	o = problem(dir, KGEN_BF16);
	o.no_time = 1;
	memset(&res, 0, sizeof res);
	rc = tune_run(&o, &res);
	CHECK(!rc && res.n <= 256, "check-only: rc %d, %d variants: %s", rc, res.n, kgen_last_error());
	for (int i = 0; i < res.n && i < 256; i++)
		if (!strcmp(res.trials[i].status, "checked"))
			snprintf(whole[nwhole++], sizeof whole[0], "%s", res.trials[i].config);
	tune_result_free(&res);
	snprintf(dir, sizeof dir, "%s/shares", base);
	for (int s = 0; s < 3; s++) {
		o = problem(dir, KGEN_BF16);
		o.no_time = 1;
		o.share_i = s;
		o.share_n = 3;
		memset(&res, 0, sizeof res);
		rc = tune_run(&o, &res);
		CHECK(!rc && res.skipped > 0, "share %d of 3: rc %d, %d skipped: %s", s, rc, res.skipped, kgen_last_error());
		compiled += res.compiled;
		printf("share %d: %d variants, %d compiled, %d skipped, %d pruned\n", s, res.n, res.compiled, res.skipped,
		       res.pruned);
		for (int i = 0; i < res.n; i++) {
			const tune_trial *t = &res.trials[i];
			if (!strcmp(t->status, "skipped")) {
				CHECK(!strcmp(t->detail, "another share's"), "share %d: %s skipped: '%s'", s, t->config, t->detail);
				continue;
			}
			if (strcmp(t->status, "checked"))
				continue;
			int k = 0;
			while (k < nwhole && strcmp(whole[k], t->config))
				k++;
			CHECK(k < nwhole, "share %d checked %s, which the whole run did not", s, t->config);
			if (k < nwhole)
				seen[k]++;
		}
		tune_result_free(&res);
	}
	for (int k = 0; k < nwhole; k++)
		CHECK(seen[k] == 1, "%s checked by %d shares, want 1", whole[k], seen[k]);
	CHECK(compiled == cubins(dir), "the shares compiled %d, the cache holds %d", compiled, cubins(dir));
	o.share_i = 3;
	memset(&res, 0, sizeof res);
	rc = tune_run(&o, &res);
	CHECK(rc == KGEN_EINVAL && strstr(kgen_last_error(), "share 3 of 3"), "share 3 of 3: rc %d: %s", rc,
	      kgen_last_error());
	tune_result_free(&res);
	printf("check-only in 3 shares: %d variants checked once each, %d compiled\n", nwhole, compiled);

	/* In two parts (tune_opts.want: the persistent variants, then the
	 * others), each in 2 shares: again each variant checked once, in the
	 * part it belongs to; the rest skipped as "not wanted". */
	memset(seen, 0, sizeof seen);
	snprintf(dir, sizeof dir, "%s/parts", base);
	int in_part[2] = {0};
	for (int part = 0; part < 2; part++)
		for (int s = 0; s < 2; s++) {
			int want_persistent = part == 0;
			o = problem(dir, KGEN_BF16);
			o.no_time = 1;
			o.share_i = s;
			o.share_n = 2;
			o.want = persistent;
			o.want_arg = &want_persistent;
			memset(&res, 0, sizeof res);
			rc = tune_run(&o, &res);
			CHECK(!rc, "part %d share %d: rc %d: %s", part, s, rc, kgen_last_error());
			for (int i = 0; i < res.n; i++) {
				const tune_trial *t = &res.trials[i];
				const int p = strstr(t->config, "persist=") != NULL;
				if (!strcmp(t->status, "skipped")) {
					CHECK(!strcmp(t->detail, p == want_persistent ? "another share's" : "not wanted"),
					      "part %d share %d: %s skipped: '%s'", part, s, t->config, t->detail);
					continue;
				}
				if (strcmp(t->status, "checked"))
					continue;
				CHECK(p == want_persistent, "part %d checked %s", part, t->config);
				int k = 0;
				while (k < nwhole && strcmp(whole[k], t->config))
					k++;
				CHECK(k < nwhole, "part %d share %d checked %s, which the whole run did not", part, s, t->config);
				if (k < nwhole)
					seen[k]++;
				in_part[part]++;
			}
			tune_result_free(&res);
		}
	for (int k = 0; k < nwhole; k++)
		CHECK(seen[k] == 1, "%s checked by %d parts' shares, want 1", whole[k], seen[k]);
	CHECK(in_part[0] > 0 && in_part[1] > 0, "parts: %d persistent, %d others checked", in_part[0], in_part[1]);
	printf("check-only in 2 parts of 2 shares: %d persistent and %d other variants, each checked once\n", in_part[0],
	       in_part[1]);
}

/* cache_scan callback: the first best record's key and text into arg */
struct first_best {
	char key[512], rec[4096];
	int found;
};
static int take_best(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	struct first_best *b = arg;
	if (kl >= sizeof b->key || vl >= sizeof b->rec)
		return 0;
	memcpy(b->key, k, kl);
	b->key[kl] = 0;
	memcpy(b->rec, v, vl);
	b->rec[vl] = 0;
	b->found = 1;
	return 1;
}

/* keep_current: the best record of the bf16 problem tuned in twin, copied
 * with its cubin alone into an empty cache (as 'kgen pack import' leaves
 * it), is kept: compiling ahead compiles nothing and tune_run keeps it;
 * without keep_current compiling ahead compiles. */
static void keep_ahead(const char *base, const char *twin)
{
	char dir[600], variant[32];
	struct first_best b = {0};
	cache *src, *dst;
	void *cubin = NULL;
	size_t size = 0;
	tune_result res;
	tune_opts o;
	int rc;
	snprintf(dir, sizeof dir, "%s/keep", base);
	CHECK(!cache_open(&src, twin, 1), "open %s: %s", twin, kgen_last_error());
	cache_scan(src, "best", "", 0, take_best, &b);
	CHECK(b.found && !rec_get(b.rec, "variant", variant, sizeof variant), "no best record in %s", twin);
	CHECK(!cache_get(src, "cubin", variant, 16, &cubin, &size), "no cubin %s in %s", variant, twin);
	cache_close(src);
	CHECK(!cache_open(&dst, dir, 0), "open %s: %s", dir, kgen_last_error());
	CHECK(!cache_put_best(dst, b.key, b.rec, NULL) && !cache_put(dst, "cubin", variant, 16, cubin, size),
	      "copy into %s: %s", dir, kgen_last_error());
	cache_close(dst);
	free(cubin);
	o = problem(dir, KGEN_BF16);
	o.keep_current = 1;
	CHECK(!tune_compile_ahead(&o) && cubins(dir) == 1, "keep: compiled ahead: %d cubins", cubins(dir));
	memset(&res, 0, sizeof res);
	rc = tune_run(&o, &res);
	CHECK(!rc && res.kept && res.compiled == 0 && res.n == 1 && res.trials[0].us > 0, "keep: rc %d, kept %d, compiled %d",
	      rc, res.kept, res.compiled);
	tune_result_free(&res);
	o.keep_current = 0;
	CHECK(!tune_compile_ahead(&o) && cubins(dir) > 1, "without keep: %d cubins after compiling ahead", cubins(dir));
	printf("keep_current: a copied current record kept, nothing compiled ahead; %d cubins without it\n", cubins(dir));
}

int main(int argc, char **argv)
{
	char base[] = "/tmp/kgen_test_ahead_XXXXXX", twin[600], empty[600], cmd[700];
	tune_result res;
	tune_opts o;
	int rc, n0, n1;
	if (argc != 2) {
		fprintf(stderr, "usage: test_ahead LIBMOCKCUDA\n");
		return 2;
	}
	if (!mkdtemp(base))
		return 1;
	setenv("KGEN_CUDA_LIBRARY", argv[1], 1);
	snprintf(twin, sizeof twin, "%s/twin", base);
	snprintf(empty, sizeof empty, "%s/empty", base);
	/* bf16's whole space timed: a finished ranking */
	o = problem(twin, KGEN_BF16);
	o.full = 1;
	memset(&res, 0, sizeof res);
	setenv("KGEN_MOCK_DTYPE", "bf16", 1);
	rc = tune_run(&o, &res);
	if (rc == KGEN_ENONVRTC) {
		printf("SKIP: no NVRTC: %s\n", kgen_last_error());
		return 77;
	}
	CHECK(!rc && res.timed, "bf16: rc %d: %s", rc, kgen_last_error());
	tune_result_free(&res);
	keep_ahead(base, twin);
	n0 = cubins(twin);
	/* f16 ahead: bf16's leaders only (the default and 2 x TUNE_RANKED_TOP) */
	o = problem(twin, KGEN_F16);
	rc = tune_compile_ahead(&o);
	n1 = cubins(twin);
	CHECK(!rc && n1 - n0 == 1 + 2 * TUNE_RANKED_TOP, "f16 ahead with a finished twin: rc %d, %d compiled", rc,
	      n1 - n0);
	/* the run that follows compiles nothing more */
	setenv("KGEN_MOCK_DTYPE", "f16", 1);
	memset(&res, 0, sizeof res);
	rc = tune_run(&o, &res);
	CHECK(!rc && res.compiled == 0 && res.reused == 1 + 2 * TUNE_RANKED_TOP && res.early_stop[0],
	      "f16 after ahead: rc %d, compiled %d, reused %d, early stop '%s': %s", rc, res.compiled, res.reused,
	      res.early_stop, kgen_last_error());
	tune_result_free(&res);
	/* no ranking to go by: the first TUNE_COMPILE_FIRST in plan order */
	o = problem(empty, KGEN_F16);
	rc = tune_compile_ahead(&o);
	n1 = cubins(empty);
	CHECK(!rc && n1 > 1 + 2 * TUNE_RANKED_TOP && n1 <= TUNE_COMPILE_FIRST, "f16 ahead without a twin: rc %d, %d compiled",
	      rc, n1);
	printf("compiled ahead: %d with bf16's ranking, %d without\n", 1 + 2 * TUNE_RANKED_TOP, n1);
	/* the run that follows takes those and compiles the rest while it
	 * times: every variant timed (--full), each cubin compiled once */
	o.full = 1;
	memset(&res, 0, sizeof res);
	rc = tune_run(&o, &res);
	CHECK(!rc && res.reused == n1 && res.compiled > 0 && res.compiled + res.reused >= res.n - res.pruned &&
	          res.untimed == 0 && res.skipped == 0 && res.rejected == 0 && cubins(empty) == res.compiled + res.reused,
	      "f16 after ahead without a twin: rc %d, %d variants, compiled %d, reused %d, pruned %d, untimed %d, "
	      "rejected %d, %d cubins: %s",
	      rc, res.n, res.compiled, res.reused, res.pruned, res.untimed, res.rejected, cubins(empty), kgen_last_error());
	printf("then the run: %d variants, %d compiled while timing, %d reused, %d pruned\n", res.n, res.compiled,
	       res.reused, res.pruned);
	tune_result_free(&res);
	share_check(base);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
	if (system(cmd))
		printf("could not remove %s\n", base);
	printf("test_ahead: %d checks, %d failures\n", checks, failures);
	return failures != 0;
}
