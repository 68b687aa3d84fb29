/* test_pack_runtime.c FAKE_CUDA: the runtime served from packs, end to end
 * through the public API, on a stand-in driver (stand_in_cuda.c in fake
 * mode: no GPU) and with NVRTC unloadable: a pack hit loads and launches
 * its kernels and kgen_last_kernel says "pack"; the cache comes first;
 * every record that cannot be used (absent, stale, NVRTC newer than the driver, too wide a
 * vector for the pointers, a bad checksum, a cubin the driver refuses)
 * falls back, and without NVRTC that is KGEN_ENONVRTC saying what is
 * missing; packs cut short, FIFOs and packs with a changed record are
 * skipped for the next source. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "check.h"
#include "gen.h"
#include "hash.h"
#include "internal.h"

#define GPU "kgen fake GPU"

static char base[] = "/tmp/kgen_test_pack_runtime_XXXXXX";
static void (*stats)(int *loads, int *launches);
static int (*count)(const char *fn);
static void *(*last_xg)(void); /* the exchange area of the last launch */
static void (*launched)(char *buf, size_t len); /* the launches since the last call, in order */

/* The driver calls that stream capture forbids on a launch path, summed:
 * allocation, synchronous memset, synchronization, events. */
static int forbidden(void)
{
	return count("cuMemAlloc") + count("cuMemsetD8") + count("synchronize") + count("cuEventRecord") +
	       count("cuStreamWaitEvent") + count("cuEventCreate");
}


typedef struct spec {
	int op;
	long long cols, bucket;
	const char *config, *cubin; /* cubin: its first line, "FAKECUBIN <kernels>" */
	int stale, bad_sum;
	int cluster; /* 0: 1 */
	const char *gpu;            /* NULL: GPU */
} spec;

static int put(cache *c, const spec *s, int pack)
{
	char key[KG_KEY_MAX], rec[1024], stamp[96], hex[17], good[17], sum[64];
	char cubin[512];
	size_t n = (size_t)snprintf(cubin, sizeof cubin, "%s\n%s %lld %lld", s->cubin, s->config, s->cols, s->bucket);
	kg_stamp(stamp, sizeof stamp, gen_template_hash(NULL, kg_ops[s->op].family));
	const char *gpu = s->gpu ? s->gpu : GPU;
	kg_problem_key(key, sizeof key, s->op, 0, KGEN_BF16, s->cols, 90, gpu, s->bucket);
	snprintf(hex, sizeof hex, "%016llx", (unsigned long long)kg_hash(0, cubin, n));
	snprintf(rec, sizeof rec,
	         "config=%s\nkernel=%s\nprep=%s\nfinish=%s\nblock=128\nsmem=0\nrows_per_cta=1\ncluster=%d\npersist=%d\n"
	         "variant=%s\ntime_us=3.0\nstamp=%s\nnvrtc=13.0\ndriver=13000\ngpu=%s\n",
	         s->config, kg_ops[s->op].kernel, kg_ops[s->op].xent ? "kgen_xent_prep" : "",
	         kg_ops[s->op].xent && s->op != KG_XENT_BWD ? "kgen_xent_finish" : "", s->cluster ? s->cluster : 1,
	         strstr(s->config, "persist=") ? atoi(strstr(s->config, "persist=") + 8) : 0, hex,
	         s->stale ? "template=0123456789abcdef,kgen=0.0.1" : stamp, gpu);
	if (cache_put(c, "cubin", hex, 16, cubin, n) ||
	    cache_put(c, "best", key, strlen(key), rec, strlen(rec)))
		return -1;
	if (!pack)
		return 0;
	kg_pack_sum(cubin, s->bad_sum ? n - 1 : n, good);
	snprintf(sum, sizeof sum, "fnv1a64=%s\n", good);
	return cache_put(c, "sum", hex, 16, sum, strlen(sum));
}

static int make_pack(const char *file, const spec *s, int n)
{
	char dir[512], f[600];
	cache *c;
	int rc = 0;
	snprintf(dir, sizeof dir, "%s/scratch", base);
	if (mkdir(dir, 0755) || cache_open_flags(&c, dir, CACHE_PACK))
		return -1;
	for (int i = 0; i < n && !rc; i++)
		rc = put(c, &s[i], 1);
	if (!rc)
		rc = cache_put(c, "meta", "format", 6, KG_PACK_FORMAT, 1) ||
		     cache_copy(c, file);
	cache_close(c);
	snprintf(f, sizeof f, "%s/data.mdb", dir);
	unlink(f);
	snprintf(f, sizeof f, "%s/lock.mdb", dir);
	unlink(f);
	rmdir(dir);
	return rc;
}

static char xbuf[1 << 16] __attribute__((aligned(256))), ybuf[1 << 16] __attribute__((aligned(256)));
static char wsbuf[KGEN_XENT_WORKSPACE_BYTES] __attribute__((aligned(256)));

/* Cross-entropy fused over the fake buffers with the options given, on stream s. */
static int xent_on(kgen_ctx *ctx, const kgen_xent_options *opt, void *s)
{
	return kgen_xent_fused(ctx, (float *)ybuf, NULL, xbuf, xbuf, ybuf + 1024, NULL, 64, 8192, 8192, 8192, KGEN_BF16,
	                       KGEN_INT64, opt, s);
}

/* softmax-like op over fake device buffers: 0 or the code; used gets
 * kgen_last_kernel. offset misaligns x. */
static int call(kgen_ctx *ctx, int op, long long rows, long long cols, int offset, char *used, size_t len)
{
	int rc;
	used[0] = 0;
	if (op == KG_SOFTMAX_FWD)
		rc = kgen_softmax_fwd(ctx, ybuf, xbuf + offset, rows, cols, cols, cols, KGEN_BF16, NULL);
	else if (op == KG_LOGSOFTMAX_FWD)
		rc = kgen_log_softmax_fwd(ctx, ybuf, xbuf + offset, rows, cols, cols, cols, KGEN_BF16, NULL);
	else if (op == KG_SOFTMAX_BWD)
		rc = kgen_softmax_bwd(ctx, ybuf, xbuf, xbuf, rows, cols, cols, cols, cols, KGEN_BF16, NULL);
	else if (op == KG_LOGSOFTMAX_BWD)
		rc = kgen_log_softmax_bwd(ctx, ybuf, xbuf, xbuf, rows, cols, cols, cols, cols, KGEN_BF16, NULL);
	else
		rc = kgen_xent_fused(ctx, (float *)ybuf, NULL, xbuf, xbuf, ybuf + 1024, NULL, rows, cols, cols, cols,
		                     KGEN_BF16, KGEN_INT64, NULL, NULL);
	kgen_last_kernel(ctx, used, len);
	return rc;
}

static kgen_ctx *open_ctx(const char *sub)
{
	char dir[512];
	kgen_ctx *ctx = NULL;
	int rc;
	snprintf(dir, sizeof dir, "%s/%s", base, sub);
	rc = kgen_open(&ctx, dir);
	CHECK(!rc, "kgen_open: %s: %s", kgen_strerror(rc), kgen_last_error());
	return ctx;
}

int main(int argc, char **argv)
{
	char good[512], bad[512], path[1100], used[256];
	const char *err;
	kgen_ctx *ctx;
	void *fake;
	cache *c;
	int rc, loads, launches, loads0, launches0;
	if (argc != 2) {
		fprintf(stderr, "usage: test_pack_runtime LIBFAKECUDA\n");
		return 2;
	}
	if (!mkdtemp(base) || !(fake = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL)) ||
	    !(*(void **)&stats = dlsym(fake, "fake_cuda_stats")) || !(*(void **)&count = dlsym(fake, "fake_cuda_count")) ||
	    !(*(void **)&launched = dlsym(fake, "fake_cuda_launches")) ||
	    !(*(void **)&last_xg = dlsym(fake, "fake_cuda_last_xg"))) {
		fprintf(stderr, "test_pack_runtime: cannot set up: %s\n", dlerror());
		return 1;
	}
	setenv("KGEN_CUDA_LIBRARY", argv[1], 1);
	setenv("KGEN_NVRTC_LIBRARY", "/nonexistent/libnvrtc.so.13", 1);
	setenv("KGEN_PACK_DIR", "", 1); /* no installed packs: only ours */
	unsetenv("FAKE_CUDA_DRIVER");

	const spec good_recs[] = {
		{KG_SOFTMAX_FWD, 1024, 4096, "strategy=reg,threads=128,tpr=128,vec=8", "FAKECUBIN kgen_softmax_fwd", 0, 0, 0, NULL},
		{KG_XENT_FUSED, 8192, 4096, "strategy=loop,threads=256,tpr=256,vec=8",
		 "FAKECUBIN kgen_xent_fused kgen_xent_prep kgen_xent_finish", 0, 0, 0, NULL},
		{KG_LOGSOFTMAX_FWD, 1024, 4096, "strategy=reg,threads=64,tpr=64,vec=8", "FAKECUBIN not_this_one", 0, 0, 0, NULL},
		{KG_LOGSOFTMAX_BWD, 1024, 4096, "strategy=reg,threads=64,tpr=64,vec=8", "FAKECUBIN kgen_log_softmax_bwd",
		 1, 0, 0, NULL},
		{KG_XENT_FWD, 8192, 4096, "strategy=loop,threads=256,tpr=256,vec=8",
		 "FAKECUBIN kgen_xent_fwd kgen_xent_prep kgen_xent_finish", 0, 0, 0, NULL},
		{KG_XENT_FUSED, 4096, 4096, "strategy=loop,threads=256,tpr=256,vec=8",
		 "FAKECUBIN kgen_xent_fused kgen_xent_finish", 0, 0, 0, NULL},
	};
	const spec bad_recs[] = {
		{KG_SOFTMAX_BWD, 1024, 4096, "strategy=reg,threads=64,tpr=64,vec=8", "FAKECUBIN kgen_softmax_bwd", 0, 1, 0, NULL},
	};
	snprintf(good, sizeof good, "%s/good.kgenpack", base);
	snprintf(bad, sizeof bad, "%s/bad.kgenpack", base);
	CHECK(!make_pack(good, good_recs, 6), "make good pack");
	CHECK(!make_pack(bad, bad_recs, 1), "make bad pack");
	snprintf(path, sizeof path, "%s:%s", good, bad);
	setenv("KGEN_PACK_PATH", path, 1);

	if (!(ctx = open_ctx("cache1")))
		return 1;
	/* a pack hit: loaded once, launched, then served from the table */
	stats(&loads0, &launches0);
	rc = call(ctx, KG_SOFTMAX_FWD, 4096, 1024, 0, used, sizeof used);
	stats(&loads, &launches);
	CHECK(!rc && !strcmp(used, "pack strategy=reg,threads=128,tpr=128,vec=8"), "pack hit: rc %d, '%s': %s", rc, used,
	      kgen_last_error());
	CHECK(loads == loads0 + 1 && launches == launches0 + 1, "pack hit: %d loads, %d launches", loads - loads0,
	      launches - launches0);
	rc = call(ctx, KG_SOFTMAX_FWD, 4000, 1024, 0, used, sizeof used);
	stats(&loads0, &launches0);
	CHECK(!rc && !strncmp(used, "table strategy=reg,threads=128", 30) && loads0 == loads && launches0 == launches + 1,
	      "second call: rc %d, '%s'", rc, used);
	/* another rows bucket: the nearest tuned one, from the pack */
	rc = call(ctx, KG_SOFTMAX_FWD, 100, 1024, 0, used, sizeof used);
	CHECK(!rc && !strncmp(used, "pack strategy=reg,threads=128", 29), "bucket 128: rc %d, '%s'", rc, used);
	/* cross-entropy with the mean: prep, the row kernel and finish, from one
	 * cubin, in that order (the row kernel as prep's programmatic dependent,
	 * finish, one CTA of a thread per loss slot, as the row kernel's) */
	{
		char seq[1024];
		stats(&loads0, &launches0);
		launched(seq, sizeof seq);
		rc = call(ctx, KG_XENT_FUSED, 64, 8192, 0, used, sizeof used);
		stats(&loads, &launches);
		launched(seq, sizeof seq);
		CHECK(!rc && !strcmp(used, "pack strategy=loop,threads=256,tpr=256,vec=8") && launches == launches0 + 3,
		      "xent: rc %d, '%s', %d launches: %s", rc, used, launches - launches0, kgen_last_error());
		CHECK(!strcmp(seq, "kgen_xent_prep/1/1024 kgen_xent_fused/64/128/P kgen_xent_finish/1/128/P"),
		      "xent with the mean launched '%s'", seq);
		/* one row: the row kernel writes the loss itself, no prep or finish */
		rc = call(ctx, KG_XENT_FUSED, 1, 8192, 0, used, sizeof used);
		launched(seq, sizeof seq);
		CHECK(!rc && !strcmp(seq, "kgen_xent_fused/1/128"), "one row: rc %d, launched '%s'", rc, seq);
		/* a sum needs no denominator: the row kernel, then finish (no prep) */
		{
			kgen_xent_options so;
			kgen_xent_options_init(&so);
			so.reduction = KGEN_REDUCTION_SUM;
			rc = xent_on(ctx, &so, NULL);
			launched(seq, sizeof seq);
			CHECK(!rc && !strcmp(seq, "kgen_xent_fused/64/128 kgen_xent_finish/1/128/P"), "sum: rc %d, launched '%s'",
			      rc, seq);
		}
		/* the forward's mean: finish divides, no prep */
		rc = kgen_xent_fwd(ctx, (float *)ybuf, NULL, xbuf, ybuf + 1024, 64, 8192, 8192, KGEN_BF16, KGEN_INT64, NULL,
		                   NULL);
		launched(seq, sizeof seq);
		CHECK(!rc && !strcmp(seq, "kgen_xent_fwd/64/128 kgen_xent_finish/1/128/P"), "fwd mean: rc %d, launched '%s': %s",
		      rc, seq, kgen_last_error());
	}

	/* Capture-safe launch paths: once a problem's kernel is loaded, a call
	 * only launches (and clears a caller's workspace asynchronously): no
	 * allocation, synchronous call or event, on the stream used before, on
	 * a stream kgen_prepare() set up, or with a workspace on any stream. */
	{
		void *s1 = (void *)(uintptr_t)0x1000, *s2 = (void *)(uintptr_t)0x2000, *s3 = (void *)(uintptr_t)0x3000;
		kgen_xent_options o;
		int f0, m0, l0, n0, p0;
		kgen_xent_options_init(&o);
		CHECK(kgen_xent_workspace_size() == KGEN_XENT_WORKSPACE_BYTES && KGEN_XENT_WORKSPACE_BYTES >= 48,
		      "workspace size %zu", kgen_xent_workspace_size());
		rc = xent_on(ctx, &o, s1); /* the first call on s1 makes its scratch */
		CHECK(!rc, "xent on s1: %s", kgen_last_error());
		f0 = forbidden(), m0 = count("cuMemsetD8Async"), p0 = count("programmatic");
		stats(&l0, &n0);
		for (int i = 0; i < 3; i++)
			rc |= xent_on(ctx, &o, s1);
		stats(&loads, &launches);
		/* each call: prep, the row kernel as its programmatic dependent, and
		 * finish as the row kernel's */
		CHECK(!rc && forbidden() == f0 && count("cuMemsetD8Async") == m0 && launches == n0 + 9 && loads == l0 &&
		          count("programmatic") == p0 + 6,
		      "loaded xent on s1: %d forbidden driver calls, %d memsets, %d launches (%d programmatic), %d loads",
		      forbidden() - f0, count("cuMemsetD8Async") - m0, launches - n0, count("programmatic") - p0,
		      loads - l0);
		/* a stream set up ahead, and a new problem loaded ahead */
		rc = kgen_prepare(ctx, KGEN_OP_XENT_FUSED, KGEN_BF16, 64, 8192, 8192, KGEN_INT64, &o, s2);
		CHECK(!rc, "kgen_prepare s2: %s", kgen_last_error());
		rc = kgen_prepare(ctx, KGEN_OP_SOFTMAX_FWD, KGEN_BF16, 3000, 1024, 1024, KGEN_INT64, NULL, s2);
		CHECK(!rc, "kgen_prepare softmax: %s", kgen_last_error());
		f0 = forbidden();
		stats(&l0, &n0);
		rc = xent_on(ctx, &o, s2) | kgen_softmax_fwd(ctx, ybuf, xbuf, 2500, 1024, 1024, 1024, KGEN_BF16, s2);
		kgen_last_kernel(ctx, used, sizeof used);
		stats(&loads, &launches);
		CHECK(!rc && forbidden() == f0 && loads == l0 && launches == n0 + 4 && !strncmp(used, "table ", 6),
		      "prepared s2: rc %d, %d forbidden driver calls, %d loads, '%s'", rc, forbidden() - f0, loads - l0,
		      used);
		/* the caller's workspace: any stream, cleared on it, nothing else */
		o.workspace = wsbuf;
		memset(wsbuf, 0x5a, sizeof wsbuf);
		f0 = forbidden(), m0 = count("cuMemsetD8Async");
		rc = xent_on(ctx, &o, s3);
		CHECK(!rc && forbidden() == f0 && count("cuMemsetD8Async") == m0 + 1 && !wsbuf[0] && !wsbuf[47],
		      "workspace on s3: rc %d, %d forbidden driver calls, %d memsets", rc, forbidden() - f0,
		      count("cuMemsetD8Async") - m0);
		o.workspace = wsbuf + 4;
		rc = xent_on(ctx, &o, s3);
		CHECK(rc == KGEN_EALIGN && strstr(kgen_last_error(), "workspace must be 8-byte aligned"),
		      "misaligned workspace: rc %d: %s", rc, kgen_last_error());
		/* reduction none needs no scratch at all */
		o.workspace = NULL;
		o.reduction = KGEN_REDUCTION_NONE;
		f0 = forbidden(), m0 = count("cuMemsetD8Async"), p0 = count("programmatic");
		rc = kgen_prepare(ctx, KGEN_OP_XENT_FUSED, KGEN_BF16, 64, 8192, 8192, KGEN_INT64, &o, s3);
		launched(used, sizeof used);
		rc = rc || xent_on(ctx, &o, s3);
		launched(used, sizeof used);
		CHECK(!rc && forbidden() == f0 && count("cuMemsetD8Async") == m0 && count("programmatic") == p0 &&
		          !strcmp(used, "kgen_xent_fused/64/128"),
		      "reduction none: rc %d, %d forbidden, %d programmatic launches (no prep to follow), launched '%s'",
		      rc, forbidden() - f0, count("programmatic") - p0, used);
		rc = kgen_prepare(ctx, (kgen_op)9, KGEN_BF16, 64, 8192, 8192, KGEN_INT64, NULL, NULL);
		CHECK(rc == KGEN_EINVAL && !strcmp(kgen_last_error(), "unknown op 9"), "prepare op 9: %d", rc);
	}

	/* no record anywhere, and no NVRTC */
	rc = call(ctx, KG_SOFTMAX_FWD, 4096, 2048, 0, used, sizeof used);
	err = kgen_last_error();
	CHECK(rc == KGEN_ENONVRTC && !used[0], "unknown problem: rc %d", rc);
	CHECK(strstr(err, "no tuned kernel for softmax fwd bf16 cols 2048 on '" GPU "' (sm_90) in the cache or in any "
	                  "pack (KGEN_PACK_PATH=") && strstr(err, path) &&
	          strstr(err, "and NVRTC cannot be loaded (cannot load '/nonexistent/libnvrtc.so.13'") &&
	          strstr(err, "install a pack for this GPU or the CUDA NVRTC library"),
	      "message: %s", err);
	/* a record for 16-byte rows, a call with 2-byte ones */
	rc = call(ctx, KG_SOFTMAX_FWD, 4096, 1024, 2, used, sizeof used);
	CHECK(rc == KGEN_ENONVRTC && strstr(kgen_last_error(), "(the record of pack '") &&
	          strstr(kgen_last_error(), "its vector width needs rows aligned to 16 bytes, the call's are to 2"),
	      "misaligned: rc %d: %s", rc, kgen_last_error());
	/* a cubin that does not match its checksum */
	rc = call(ctx, KG_SOFTMAX_BWD, 4096, 1024, 0, used, sizeof used);
	CHECK(rc == KGEN_ENONVRTC && strstr(kgen_last_error(), bad) &&
	          strstr(kgen_last_error(), "does not match its checksum"),
	      "bad checksum: rc %d: %s", rc, kgen_last_error());
	/* a cubin without the kernel: the driver refuses it */
	rc = call(ctx, KG_LOGSOFTMAX_FWD, 4096, 1024, 0, used, sizeof used);
	CHECK(rc == KGEN_ENONVRTC && strstr(kgen_last_error(), "cuModuleGetFunction failed: CUDA_ERROR_NOT_FOUND"),
	      "kernel not in cubin: rc %d: %s", rc, kgen_last_error());
	/* a cubin with the row kernel but not the prep kernel its record names:
	 * refused, its module unloaded once */
	rc = call(ctx, KG_XENT_FUSED, 4096, 4096, 0, used, sizeof used);
	CHECK(rc == KGEN_ENONVRTC && strstr(kgen_last_error(), "cuModuleGetFunction (prep) failed"),
	      "prep not in cubin: rc %d: %s", rc, kgen_last_error());
	/* another template version */
	rc = call(ctx, KG_LOGSOFTMAX_BWD, 4096, 1024, 0, used, sizeof used);
	CHECK(rc == KGEN_ENONVRTC &&
	          strstr(kgen_last_error(), "(skipped: 1 made by another template or kgen version, 0 by an NVRTC"),
	      "stale: rc %d: %s", rc, kgen_last_error());
	kgen_close(ctx);

	/* a driver older than the NVRTC of the records */
	setenv("FAKE_CUDA_DRIVER", "12080", 1);
	if (!(ctx = open_ctx("cache1")))
		return 1;
	rc = call(ctx, KG_SOFTMAX_FWD, 4096, 1024, 0, used, sizeof used);
	CHECK(rc == KGEN_ENONVRTC && strstr(kgen_last_error(), "0 made by another template or kgen version, 1 by an "
	                                                       "NVRTC newer than the driver"),
	      "driver 12.8: rc %d: %s", rc, kgen_last_error());
	kgen_close(ctx);
	unsetenv("FAKE_CUDA_DRIVER");

	/* the cache comes first */
	{
		char dir[600];
		const spec mine = {KG_SOFTMAX_FWD, 1024, 4096, "strategy=reg,threads=32,tpr=32,vec=8",
		                   "FAKECUBIN kgen_softmax_fwd", 0, 0, 0, NULL};
		snprintf(dir, sizeof dir, "%s/cache2", base);
		CHECK(!cache_open(&c, dir, 0) && !put(c, &mine, 0), "cache2: %s", kgen_last_error());
		cache_close(c);
		if (!(ctx = open_ctx("cache2")))
			return 1;
		rc = call(ctx, KG_SOFTMAX_FWD, 4096, 1024, 0, used, sizeof used);
		CHECK(!rc && !strcmp(used, "cache strategy=reg,threads=32,tpr=32,vec=8"), "cache first: rc %d, '%s'", rc,
		      used);
		/* the pack still serves what the cache lacks */
		rc = call(ctx, KG_XENT_FUSED, 64, 8192, 0, used, sizeof used);
		CHECK(!rc && !strncmp(used, "pack ", 5), "pack after cache: rc %d, '%s'", rc, used);
		kgen_close(ctx);
	}

	/* no pack path: the message says so; $KGEN_PACK_DIR stands for the
	 * installed directory */
	unsetenv("KGEN_PACK_PATH");
	if (!(ctx = open_ctx("cache1")))
		return 1;
	rc = call(ctx, KG_SOFTMAX_FWD, 4096, 1024, 0, used, sizeof used);
	CHECK(rc == KGEN_ENONVRTC && strstr(kgen_last_error(), "(KGEN_PACK_PATH=(unset))"),
	      "no packs: rc %d: %s", rc, kgen_last_error());
	kgen_close(ctx);
	{
		char dir[600];
		snprintf(dir, sizeof dir, "%s/installed", base);
		mkdir(dir, 0755);
		snprintf(path, sizeof path, "%s/installed/h.kgenpack", base);
		CHECK(!make_pack(path, good_recs, 1), "make installed pack");
		setenv("KGEN_PACK_DIR", dir, 1);
		if (!(ctx = open_ctx("cache1")))
			return 1;
		rc = call(ctx, KG_SOFTMAX_FWD, 4096, 1024, 0, used, sizeof used);
		CHECK(!rc && !strncmp(used, "pack ", 5), "installed directory: rc %d, '%s': %s", rc, used,
		      kgen_last_error());
		kgen_close(ctx);
	}

	/* damaged packs ahead of a good one on the path: each skipped, the
	 * good one serves; alone, the message names the first and its reason */
	{
		char trunc[600], fifo[600], rec[600], all[2048];
		const spec other[] = {
			{KG_SOFTMAX_FWD, 1024, 4096, "strategy=reg,threads=32,tpr=32,vec=8", "FAKECUBIN kgen_softmax_fwd", 0, 0, 0, NULL},
		};
		FILE *in, *out;
		unsigned char *buf, *at;
		long size = 0;
		setenv("KGEN_PACK_DIR", "", 1);
		snprintf(trunc, sizeof trunc, "%s/trunc.kgenpack", base);
		snprintf(fifo, sizeof fifo, "%s/fifo.kgenpack", base);
		snprintf(rec, sizeof rec, "%s/rec.kgenpack", base);
		CHECK(!mkfifo(fifo, 0644), "mkfifo");
		CHECK(!make_pack(rec, other, 1), "make rec pack");
		CHECK((in = fopen(rec, "rb")) && !fseek(in, 0, SEEK_END) && (size = ftell(in)) > 0, "size");
		buf = malloc((size_t)size);
		rewind(in);
		CHECK(fread(buf, 1, (size_t)size, in) == (size_t)size, "read");
		fclose(in);
		out = fopen(trunc, "wb");
		fwrite(buf, 1, (size_t)size / 2, out); /* cut short */
		fclose(out);
		at = memmem(buf, (size_t)size, "rows_per_cta=1", 14);
		CHECK(at != NULL, "no record");
		if (at)
			at[13] = '9'; /* one byte of the launch geometry */
		out = fopen(rec, "wb");
		fwrite(buf, 1, (size_t)size, out);
		fclose(out);
		free(buf);
		CHECK(!cache_pack_seal(rec), "reseal: %s", kgen_last_error()); /* the digest made anew */
		snprintf(all, sizeof all, "%s:%s:%s:%s", trunc, fifo, rec, good);
		setenv("KGEN_PACK_PATH", all, 1);
		if (!(ctx = open_ctx("cache3")))
			return 1;
		rc = call(ctx, KG_SOFTMAX_FWD, 4096, 1024, 0, used, sizeof used);
		CHECK(!rc && !strcmp(used, "pack strategy=reg,threads=128,tpr=128,vec=8"),
		      "damaged packs skipped: rc %d, '%s': %s", rc, used, kgen_last_error());
		kgen_close(ctx);
		snprintf(all, sizeof all, "%s:%s:%s", trunc, fifo, rec);
		setenv("KGEN_PACK_PATH", all, 1);
		if (!(ctx = open_ctx("cache4")))
			return 1;
		rc = call(ctx, KG_SOFTMAX_FWD, 4096, 1024, 0, used, sizeof used);
		err = kgen_last_error();
		CHECK(rc == KGEN_ENONVRTC && !used[0] && strstr(err, "2 unreadable, first: cannot open pack '") &&
		          strstr(err, trunc) && strstr(err, "truncated ("),
		      "only damaged packs: rc %d, '%s': %s", rc, used, err);
		kgen_close(ctx);
	}

	/* a row split over CTAs that are no cluster (xchg=global): launched
	 * without a cluster attribute but cooperatively (its CTAs wait for
	 * each other: all resident or none), a persistent grid of whole groups of
	 * CTAs; the exchange areas made with the kernel, taken in turn, and
	 * nothing allocated, cleared or synchronized on the launch path (a
	 * capture's rule) */
	{
		const spec split[] = {
			{KG_SOFTMAX_FWD, 8192, 4, "cluster=32,persist=4,strategy=cluster,threads=128,tpr=128,vec=8,xchg=global",
			 "FAKECUBIN kgen_softmax_fwd", 0, 0, 32, NULL},
		};
		char spack[600], seq[1024];
		void *xg[KG_XG_SETS + 1];
		snprintf(spack, sizeof spack, "%s/split.kgenpack", base);
		CHECK(!make_pack(spack, split, 1), "make split pack");
		setenv("KGEN_PACK_PATH", spack, 1);
		if (!(ctx = open_ctx("cache_split")))
			return 1;
		const int clusters0 = count("cluster"), coop0 = count("cooperative");
		launched(seq, sizeof seq);
		rc = call(ctx, KG_SOFTMAX_FWD, 3, 8192, 0, used, sizeof used);
		launched(seq, sizeof seq);
		xg[0] = last_xg();
		/* the stand-in's GPU holds 132 CTAs of it (one an SM): 4 groups of 32; 3 rows take 3 */
		CHECK(!rc && strstr(used, "xchg=global") && !strcmp(seq, "kgen_softmax_fwd/96/128") && xg[0] &&
		          count("cluster") == clusters0 && count("cooperative") == coop0 + 1,
		      "split: rc %d, '%s', launched '%s', xg %p, %d cluster launches, %d cooperative: %s", rc, used, seq,
		      xg[0], count("cluster") - clusters0, count("cooperative") - coop0, kgen_last_error());
		const int forbidden0 = forbidden();
		for (unsigned i = 1; i <= KG_XG_SETS; i++) {
			rc = call(ctx, KG_SOFTMAX_FWD, i == KG_XG_SETS ? 4 : 3, 8192, 0, used, sizeof used); /* (rows bucket 4) */
			xg[i] = last_xg();
			CHECK(!rc, "split call %u: %s", i, kgen_last_error());
		}
		launched(seq, sizeof seq);
		/* 4 rows: 4 groups, all the grid holds */
		CHECK(strstr(seq, "kgen_softmax_fwd/128/128") != NULL, "4 rows launched '%s'", seq);
		CHECK(forbidden() == forbidden0, "the split launches called %d forbidden driver functions",
		      forbidden() - forbidden0);
		int in_turn = xg[KG_XG_SETS] == xg[0];
		for (unsigned i = 1; i < KG_XG_SETS; i++)
			in_turn &= (char *)xg[i] - (char *)xg[0] == (ptrdiff_t)(i * KG_XG_BYTES);
		CHECK(in_turn, "the exchange areas were not taken in turn: %p %p %p ... %p", xg[0], xg[1], xg[2],
		      xg[KG_XG_SETS]);
		kgen_close(ctx);
		unsetenv("KGEN_PACK_PATH");
	}

	/* bad arguments: a specific code and message, nothing launched */
	{
		const spec wide[] = {
			{KG_SOFTMAX_FWD, 4096, 1 << 28, "strategy=cluster,threads=128,tpr=128,vec=8", "FAKECUBIN kgen_softmax_fwd",
			 0, 0, 16, NULL},
		};
		char wpack[600];
		kgen_xent_options o;
		snprintf(wpack, sizeof wpack, "%s/wide.kgenpack", base);
		CHECK(!make_pack(wpack, wide, 1), "make wide pack");
		setenv("KGEN_PACK_PATH", wpack, 1);
		if (!(ctx = open_ctx("cache5")))
			return 1;
		stats(&loads0, &launches0);
		/* 2^28 rows in clusters of 16 CTAs: 2^32 CTAs, more than a grid holds */
		rc = kgen_softmax_fwd(ctx, ybuf, xbuf, 1 << 28, 4096, 4096, 4096, KGEN_BF16, NULL);
		stats(&loads, &launches);
		CHECK(rc == KGEN_EINVAL && strstr(kgen_last_error(), "more than a grid holds") && launches == launches0,
		      "grid * cluster: rc %d, %d launches: %s", rc, launches - launches0, kgen_last_error());
		rc = kgen_softmax_fwd(ctx, ybuf, xbuf, 1 << 20, 1024, (int64_t)1 << 40, 1024, KGEN_BF16, NULL);
		CHECK(rc == KGEN_EINVAL && strstr(kgen_last_error(), "ld_x is too large"), "ld: rc %d: %s", rc,
		      kgen_last_error());
		rc = kgen_softmax_fwd(ctx, ybuf, xbuf, 2, 1024, INT64_MAX / 2, 1024, KGEN_BF16, NULL);
		CHECK(rc == KGEN_EINVAL && strstr(kgen_last_error(), "ld_x is too large"), "ld overflow: rc %d: %s", rc,
		      kgen_last_error());
		kgen_xent_options_init(&o);
		o.bad_targets = (unsigned long long *)(ybuf + 4); /* 4-byte aligned only */
		rc = kgen_xent_fused(ctx, (float *)ybuf, NULL, xbuf, xbuf, ybuf + 1024, NULL, 64, 8192, 8192, 8192, KGEN_BF16,
		                     KGEN_INT64, &o, NULL);
		CHECK(rc == KGEN_EALIGN && strstr(kgen_last_error(), "bad_targets must be 8-byte aligned"), "bad_targets: rc %d: %s",
		      rc, kgen_last_error());
		kgen_xent_options_init(&o);
		o.softcap = 1e-40f;
		rc = kgen_xent_fused(ctx, (float *)ybuf, NULL, xbuf, xbuf, ybuf + 1024, NULL, 64, 8192, 8192, 8192, KGEN_BF16,
		                     KGEN_INT64, &o, NULL);
		CHECK(rc == KGEN_EINVAL && strstr(kgen_last_error(), "softcap must be 0 (none) or in [1e-3, 1e30]"),
		      "softcap: rc %d: %s", rc, kgen_last_error());
		kgen_xent_options_init(&o);
		o.reduction = KGEN_REDUCTION_SUM_OVER;
		o.denominator = 1e-40f;
		rc = kgen_xent_fused(ctx, (float *)ybuf, NULL, xbuf, xbuf, ybuf + 1024, NULL, 64, 8192, 8192, 8192, KGEN_BF16,
		                     KGEN_INT64, &o, NULL);
		CHECK(rc == KGEN_EINVAL && strstr(kgen_last_error(), "denominator must be in [1e-6, 1e38)"),
		      "denominator: rc %d: %s", rc, kgen_last_error());
		kgen_close(ctx);
	}

	/* The rows bucket rule: a record tuned at more than KG_BUCKET_FAR times
	 * the call's rows is far (the runtime then compiles the default when
	 * NVRTC loads, and takes the record only without it, as above for 100
	 * rows); towards more rows the nearest record is never far. */
	{
		kg_packs *ps;
		kg_record r;
		char prefix[KG_KEY_MAX], stamp[96];
		const long long want[] = {1, 8, 64, 256, 512, 4096, 65536, 1 << 20};
		const int far[] = {1, 1, 1, 1, 0, 0, 0, 0};
		kg_stamp(stamp, sizeof stamp, gen_template_hash(NULL, kg_op_family("softmax")));
		kg_problem_prefix(prefix, sizeof prefix, KG_SOFTMAX_FWD, 0, KGEN_BF16, 1024, 90, GPU);
		CHECK(!kg_packs_new(&ps, good, NULL), "packs");
		for (int i = 0; i < 8; i++) {
			rc = kg_record_find(NULL, ps, prefix, want[i], stamp, 13000, &r);
			CHECK(!rc && r.bucket == 4096 && r.far == far[i], "bucket %lld: rc %d, record of %lld, far %d", want[i],
			      rc, r.bucket, r.far);
			kg_record_free(&r);
		}
		kg_packs_free(ps);
	}

	/* A width with no record of its own takes the config of the nearest
	 * tuned width (|ln ratio|, at most 2x either way; a tie goes to the
	 * nearer rows bucket, then the wider), never of a bucket more than 8x
	 * away from the call's rows either way, never its own width's record. */
	{
		kg_packs *ps;
		kg_record r;
		char nearp[600], prefix[KG_KEY_MAX], stamp[96];
		const spec near_recs[] = {
			{KG_SOFTMAX_FWD, 1024, 4096, "strategy=reg,threads=128,tpr=128,vec=8", "FAKECUBIN kgen_softmax_fwd", 0, 0,
			 0, NULL},
			{KG_SOFTMAX_FWD, 4096, 4096, "strategy=reg,threads=512,tpr=512,vec=8", "FAKECUBIN kgen_softmax_fwd", 0, 0,
			 0, NULL},
			{KG_SOFTMAX_FWD, 8192, 1, "strategy=loop,threads=1024,tpr=1024,vec=8", "FAKECUBIN kgen_softmax_fwd", 0, 0,
			 0, NULL},
			{KG_SOFTMAX_FWD, 16384, 4096, "strategy=reg,threads=1024,tpr=1024,vec=8", "FAKECUBIN kgen_softmax_fwd", 1,
			 0, 0, NULL},
			{KG_SOFTMAX_FWD, 5001, 4096, "shift=1,strategy=reg,threads=512,tpr=512,vec=8", "FAKECUBIN kgen_softmax_fwd",
			 0, 0, 0, NULL},
		};
		const struct {
			long long cols, rows, want; /* want: the width taken, 0 none */
		} cases[] = {
			{1500, 4096, 1024}, {3000, 4096, 4096}, {2048, 4096, 4096}, {1024, 4096, 0}, {100, 4096, 0},
			{6000, 4096, 4096}, {6000, 1, 8192}, {6000, 1024, 4096}, {12000, 4096, 0},
		};
		snprintf(nearp, sizeof nearp, "%s/near.kgenpack", base);
		CHECK(!make_pack(nearp, near_recs, 5), "make the near-width pack");
		kg_stamp(stamp, sizeof stamp, gen_template_hash(NULL, gen_family("softmax")));
		CHECK(!kg_packs_new(&ps, nearp, NULL), "packs");
		for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
			kg_problem_prefix(prefix, sizeof prefix, KG_SOFTMAX_FWD, 0, KGEN_BF16, cases[i].cols, 90, GPU);
			rc = kg_record_near_width(NULL, ps, prefix, kg_rows_bucket(cases[i].rows), stamp, 13000, 0,
			                          cases[i].cols % 8 == 0, &r);
			if (cases[i].want)
				CHECK(!rc && r.near_cols == cases[i].want && !strcmp(r.origin, "nearest"),
				      "near width of %lld cols, %lld rows: rc %d, took %lld", cases[i].cols, cases[i].rows, rc,
				      r.near_cols);
			else
				CHECK(rc == KGEN_ENOTFOUND && !r.rec, "near width of %lld cols, %lld rows: rc %d, took %lld",
				      cases[i].cols, cases[i].rows, rc, r.near_cols);
			kg_record_free(&r);
		}
		/* an aligned width passes over the odd width's shifted record,
		 * nearer as it is, to the aligned one it can use; an odd width (or
		 * a caller that does not ask) keeps the nearest */
		{
			const struct {
				long long cols, want;
				int aligned;
			} odd[] = {{5600, 4096, 1}, {5003, 5001, 0}, {5600, 5001, 0}};
			for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
				kg_problem_prefix(prefix, sizeof prefix, KG_SOFTMAX_FWD, 0, KGEN_BF16, odd[i].cols, 90, GPU);
				rc = kg_record_near_width(NULL, ps, prefix, 4096, stamp, 13000, 0, odd[i].aligned, &r);
				CHECK(!rc && r.near_cols == odd[i].want, "near width of %lld cols (aligned %d): rc %d, took %lld",
				      odd[i].cols, odd[i].aligned, rc, r.near_cols);
				kg_record_free(&r);
			}
		}
		/* the stale record of 16384 is counted, not taken */
		kg_problem_prefix(prefix, sizeof prefix, KG_SOFTMAX_FWD, 0, KGEN_BF16, 12000, 90, GPU);
		rc = kg_record_near_width(NULL, ps, prefix, 4096, stamp, 13000, 0, 1, &r);
		CHECK(rc == KGEN_ENOTFOUND && r.skipped_stale == 1, "near width past a stale record: rc %d, %d stale", rc,
		      r.skipped_stale);
		kg_record_free(&r);
		kg_packs_free(ps);
	}

	/* A GPU with no pack of its own borrows the record of the same problem
	 * from the pack of the nearest model of its SM: an H200 (132 SMs, 4917
	 * GB/s from its bus and clock) takes an H100 SXM's (132, 3352) before
	 * an H100 PCIe's (114, 2039), whatever the order of the packs. */
	{
		char sxm[600], pcie[600];
		const spec sxm_recs[] = {
			{KG_SOFTMAX_FWD, 1024, 4096, "strategy=reg,threads=128,tpr=128,vec=8", "FAKECUBIN kgen_softmax_fwd", 0, 0,
			 0, "NVIDIA H100 80GB HBM3"},
			{KG_SOFTMAX_BWD, 1024, 4096, "strategy=reg,threads=32,tpr=32,vec=8", "FAKECUBIN kgen_softmax_bwd", 1, 0,
			 0, "NVIDIA H100 80GB HBM3"},
		};
		const spec pcie_recs[] = {
			{KG_SOFTMAX_FWD, 1024, 4096, "strategy=reg,threads=256,tpr=256,vec=8", "FAKECUBIN kgen_softmax_fwd", 0, 0,
			 0, "NVIDIA H100 PCIe"},
			{KG_SOFTMAX_BWD, 1024, 4096, "strategy=reg,threads=64,tpr=64,vec=8", "FAKECUBIN kgen_softmax_bwd", 0, 0,
			 0, "NVIDIA H100 PCIe"},
		};
		snprintf(sxm, sizeof sxm, "%s/h100-sm90.kgenpack", base);
		snprintf(pcie, sizeof pcie, "%s/h100pcie-sm90.kgenpack", base);
		CHECK(!make_pack(sxm, sxm_recs, 2) && !make_pack(pcie, pcie_recs, 2), "make the H100 packs");
		snprintf(path, sizeof path, "%s:%s", pcie, sxm);
		setenv("KGEN_PACK_PATH", path, 1);
		setenv("KGEN_PACK_DIR", "", 1);
		setenv("FAKE_CUDA_NAME", "NVIDIA H200", 1);
		if (!(ctx = open_ctx("cache3")))
			return 1;
		rc = call(ctx, KG_SOFTMAX_FWD, 4096, 1024, 0, used, sizeof used);
		CHECK(!rc && !strcmp(used, "borrowed strategy=reg,threads=128,tpr=128,vec=8 from 'NVIDIA H100 80GB HBM3'"),
		      "borrowed: rc %d, '%s': %s", rc, used, kgen_last_error());
		rc = call(ctx, KG_SOFTMAX_FWD, 4000, 1024, 0, used, sizeof used);
		CHECK(!rc && !strcmp(used, "table strategy=reg,threads=128,tpr=128,vec=8 from 'NVIDIA H100 80GB HBM3'"),
		      "borrowed, second call: rc %d, '%s'", rc, used);
		/* the nearest model's record is stale: the next model's */
		rc = call(ctx, KG_SOFTMAX_BWD, 4096, 1024, 0, used, sizeof used);
		CHECK(!rc && !strcmp(used, "borrowed strategy=reg,threads=64,tpr=64,vec=8 from 'NVIDIA H100 PCIe'"),
		      "borrowed past a stale record: rc %d, '%s': %s", rc, used, kgen_last_error());
		kgen_close(ctx);
		/* $KGEN_NO_BORROW: the template's default (no NVRTC here: the error says so) */
		setenv("KGEN_NO_BORROW", "1", 1);
		if (!(ctx = open_ctx("cache3")))
			return 1;
		rc = call(ctx, KG_SOFTMAX_FWD, 4096, 1024, 0, used, sizeof used);
		CHECK(rc == KGEN_ENONVRTC && !used[0] && strstr(kgen_last_error(), "on 'NVIDIA H200' (sm_90)"),
		      "no borrowing: rc %d, '%s': %s", rc, used, kgen_last_error());
		kgen_close(ctx);
		unsetenv("KGEN_NO_BORROW");
		/* the H100 itself takes its own record */
		setenv("FAKE_CUDA_NAME", "NVIDIA H100 PCIe", 1);
		if (!(ctx = open_ctx("cache3")))
			return 1;
		rc = call(ctx, KG_SOFTMAX_FWD, 4096, 1024, 0, used, sizeof used);
		CHECK(!rc && !strcmp(used, "pack strategy=reg,threads=256,tpr=256,vec=8"), "own pack: rc %d, '%s'", rc,
		      used);
		kgen_close(ctx);
		unsetenv("FAKE_CUDA_NAME");
	}

	printf("test_pack_runtime: %d checks, %d failures\n", checks, failures);
	if (!failures) {
		char cmd[600];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
		if (system(cmd))
			fprintf(stderr, "cannot remove '%s'\n", base);
	}
	return failures ? 1 : 0;
}
