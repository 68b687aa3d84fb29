/* test_pack.c: tests of runtime/packs.c, the runtime's search for a record
 * through the cache and the packs (kg_record_find), without a GPU: the pack
 * set of a search path, format and checksum checks, stamps, NVRTC versions,
 * nearest rows bucket and source order, lazy and concurrent opening; packs
 * damaged in every way the file checks know (truncated, changed, resealed
 * over a change, another format, a FIFO), each refused with its reason. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "cache.h"
#include "err.h"
#include "check.h"
#include "gen.h"
#include "hash.h"
#include "internal.h"

#define GPU "Test GPU"

static char base[] = "/tmp/kgen_test_pack_XXXXXX";
static char stamp[96], xstamp[96];

typedef struct rec_spec {
	int op;
	const char *gpu;
	int sm;
	long long bucket;
	const char *config; /* its threads= value tells records apart */
	const char *stamp;
	const char *nvrtc;
} rec_spec;

/* The cubin of a record: bytes that depend on its config and key. */
static size_t fake_cubin(const rec_spec *r, unsigned char *buf, size_t len)
{
	size_t n = (size_t)snprintf((char *)buf, len, "CUBIN %s %d %lld %s|", r->gpu, r->op, r->bucket, r->config);
	for (size_t i = n; i < len; i++)
		buf[i] = (unsigned char)(i * 7);
	return len;
}

/* Store the record and its cubin in c; in a pack, its checksum too
 * (bad_sum: a wrong one). */
static int put_rec(cache *c, const rec_spec *r, int pack, int bad_sum)
{
	char key[KG_KEY_MAX], rec[1024], hex[17], sum[64];
	unsigned char cubin[1000];
	size_t n = fake_cubin(r, cubin, sizeof cubin);
	kg_problem_key(key, sizeof key, r->op, 0, KGEN_BF16, 1024, r->sm, r->gpu, r->bucket);
	snprintf(hex, sizeof hex, "%016llx", (unsigned long long)kg_hash(0, cubin, n));
	snprintf(rec, sizeof rec, "config=%s\nkernel=k\nblock=128\nrows_per_cta=1\nvariant=%s\ntime_us=1.0\nstamp=%s\n%s%s%s",
	         r->config, hex, r->stamp, r->nvrtc ? "nvrtc=" : "", r->nvrtc ? r->nvrtc : "", r->nvrtc ? "\n" : "");
	if (cache_put(c, "cubin", hex, 16, cubin, n) ||
	    cache_put(c, "best", key, strlen(key), rec, strlen(rec))) {
		fprintf(stderr, "put_rec: %s\n", kgen_last_error());
		return -1;
	}
	if (!pack)
		return 0;
	kg_pack_sum(cubin, n, sum);
	if (bad_sum)
		sum[0] = sum[0] == '0' ? '1' : '0';
	memmove(sum + 8, sum, 17);
	memcpy(sum, "fnv1a64=", 8);
	return cache_put(c, "sum", hex, 16, sum, strlen(sum));
}

/* Write a pack file of n records (format: the meta format). */
static int make_pack(const char *file, const rec_spec *r, int n, const char *format, int bad_sum)
{
	char dir[512], f[600];
	cache *c;
	int rc = 0;
	snprintf(dir, sizeof dir, "%s/scratch", base);
	if (mkdir(dir, 0755) || cache_open_flags(&c, dir, CACHE_PACK))
		return -1;
	for (int i = 0; i < n && !rc; i++)
		rc = put_rec(c, &r[i], 1, bad_sum);
	if (!rc && format)
		rc = cache_put(c, "meta", "format", 6, format, strlen(format));
	if (!rc)
		rc = cache_copy(c, file);
	cache_close(c);
	snprintf(f, sizeof f, "%s/data.mdb", dir);
	unlink(f);
	snprintf(f, sizeof f, "%s/lock.mdb", dir);
	unlink(f);
	rmdir(dir);
	return rc;
}

static void prefix_of(char *buf, size_t len, int op, const char *gpu, int sm)
{
	kg_problem_prefix(buf, len, op, 0, KGEN_BF16, 1024, sm, gpu);
}

/* The threads= value of a found record's config, or -1. */
static int threads_of(const kg_record *r)
{
	char cfg[128];
	const char *t;
	if (!r->rec || rec_get(r->rec, "config", cfg, sizeof cfg) || !(t = strstr(cfg, "threads=")))
		return -1;
	return atoi(t + 8);
}

static int find(cache *c, kg_packs *p, int op, const char *gpu, int sm, long long bucket, int driver, kg_record *r)
{
	char prefix[KG_KEY_MAX];
	prefix_of(prefix, sizeof prefix, op, gpu, sm);
	return kg_record_find(c, p, prefix, bucket, op >= KG_XENT_FWD ? xstamp : stamp, driver, r);
}

typedef struct thread_arg {
	kg_packs *p;
	int found;
} thread_arg;

static void *find_in_thread(void *arg)
{
	thread_arg *a = arg;
	kg_record r;
	for (int i = 0; i < 50; i++)
		if (!find(NULL, a->p, KG_XENT_FUSED, GPU, 90, 4096, 0, &r)) {
			a->found += threads_of(&r) == 20;
			kg_record_free(&r);
		}
	return NULL;
}

static int count_visit(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	(void)key, (void)klen, (void)val, (void)vlen;
	++*(int *)arg;
	return 0;
}

int main(void)
{
	char p1[512], d2[512], d3[512], f[600], path[2048], desc[4096];
	cache *c, *pk;
	kg_packs *p;
	kg_record r;
	int rc;
	if (!mkdtemp(base)) {
		perror("mkdtemp");
		return 1;
	}
	kg_stamp(stamp, sizeof stamp, gen_template_hash(NULL, "softmax"));
	kg_stamp(xstamp, sizeof xstamp, gen_template_hash(NULL, "xent"));
	const char *old = "template=0123456789abcdef,kgen=0.0.1";

	/* the cache: softmax fwd, bucket 4096, threads=1 */
	rec_spec cache_recs[] = {{KG_SOFTMAX_FWD, GPU, 90, 4096, "threads=1,vec=8", stamp, "13.0"}};
	snprintf(f, sizeof f, "%s/cache", base);
	CHECK(!cache_open(&c, f, 0), "cache_open: %s", kgen_last_error());
	CHECK(!put_rec(c, &cache_recs[0], 0, 0), "put");

	/* pack 1 (a file of the path) */
	rec_spec pack1[] = {
		{KG_SOFTMAX_FWD, GPU, 90, 4096, "threads=2,vec=8", stamp, "13.0"},
		{KG_SOFTMAX_FWD, GPU, 90, 256, "threads=3,vec=8", stamp, "13.0"},
		{KG_SOFTMAX_BWD, GPU, 90, 4096, "threads=4,vec=8", old, "13.0"},      /* stale */
		{KG_LOGSOFTMAX_FWD, GPU, 90, 4096, "threads=5,vec=8", stamp, "13.0"}, /* NVRTC 13.0 */
		{KG_LOGSOFTMAX_BWD, GPU, 90, 64, "threads=6,vec=8", stamp, "13.0"},   /* also in pack 2 */
		{KG_SOFTMAX_FWD, "Other GPU", 80, 4096, "threads=7,vec=8", stamp, "13.0"},
	};
	snprintf(p1, sizeof p1, "%s/one.pack", base); /* any name, as a file of the path */
	CHECK(!make_pack(p1, pack1, 6, KG_PACK_FORMAT, 0), "make_pack 1");
	/* directory 2 of the path: x.kgenpack, a text file named .kgenpack, another file */
	rec_spec pack2[] = {
		{KG_XENT_FUSED, GPU, 90, 4096, "threads=20,vec=8", xstamp, "13.0"},
		{KG_LOGSOFTMAX_BWD, GPU, 90, 64, "threads=21,vec=8", stamp, "13.0"},
	};
	snprintf(d2, sizeof d2, "%s/dir2", base);
	mkdir(d2, 0755);
	snprintf(f, sizeof f, "%s/x.kgenpack", d2);
	CHECK(!make_pack(f, pack2, 2, KG_PACK_FORMAT, 0), "make_pack 2");
	snprintf(f, sizeof f, "%s/bad.kgenpack", d2);
	fclose(fopen(f, "w"));
	snprintf(f, sizeof f, "%s/ignored.pack", d2);
	CHECK(!make_pack(f, pack2, 1, KG_PACK_FORMAT, 0), "make_pack ignored");
	/* directory 3, the installed one: the same problem as pack 2, and a
	 * pack of another format */
	rec_spec pack3[] = {
		{KG_XENT_FUSED, GPU, 90, 4096, "threads=30,vec=8", xstamp, "13.0"},
		{KG_LOGSOFTMAX_BWD, GPU, 90, 128, "threads=31,vec=8", stamp, "13.0"},
	};
	snprintf(d3, sizeof d3, "%s/dir3", base);
	mkdir(d3, 0755);
	snprintf(f, sizeof f, "%s/y.kgenpack", d3);
	CHECK(!make_pack(f, pack3, 2, KG_PACK_FORMAT, 0), "make_pack 3");
	snprintf(f, sizeof f, "%s/z.kgenpack", d3);
	CHECK(!make_pack(f, pack3, 1, "1", 0), "make_pack format 1");

	/* kg_pack_open: format, and what is not a pack */
	CHECK(!kg_pack_open(&pk, p1), "open pack 1: %s", kgen_last_error());
	cache_close(pk);
	CHECK(kg_pack_open(&pk, f) == KGEN_ECACHE &&
	          strstr(kgen_last_error(), "pack format 1, this build reads 2: rebuild or re-export it") && strstr(kgen_last_error(), f) && !pk,
	      "format 1: %s", kgen_last_error());
	snprintf(f, sizeof f, "%s/cache/data.mdb", base);
	CHECK(kg_pack_open(&pk, f) == KGEN_ECACHE && strstr(kgen_last_error(), "pack format 1, this build reads 2"),
	      "cache as pack (an LMDB file without the trailer): %s", kgen_last_error());
	snprintf(f, sizeof f, "%s/none.kgenpack", base);
	CHECK(kg_pack_open(&pk, f) == KGEN_ECACHE && strstr(kgen_last_error(), "cannot open pack '"), "missing: %s",
	      kgen_last_error());

	/* the set: missing entries skipped, a file listed twice opened once */
	snprintf(path, sizeof path, "%s/nothing::%s:%s:%s", base, p1, d2, p1);
	CHECK(!kg_packs_new(&p, path, d3), "kg_packs_new");

	/* lazy: a cache hit of the very bucket opens no pack */
	CHECK(!find(c, p, KG_SOFTMAX_FWD, GPU, 90, 4096, 13000, &r), "cache hit");
	CHECK(r.rec && !r.pack && !strcmp(r.origin, "cache") && r.src == c && threads_of(&r) == 1 && r.bucket == 4096,
	      "cache hit: origin %s threads %d", r.origin, threads_of(&r));
	kg_record_free(&r);
	kg_packs_describe(p, desc, sizeof desc);
	CHECK(!strstr(desc, "unreadable"), "packs opened on a cache hit: %s", desc);
	CHECK(strstr(desc, "KGEN_PACK_PATH=") && strstr(desc, d3), "describe: %s", desc);

	/* the nearest bucket, from the pack */
	CHECK(!find(c, p, KG_SOFTMAX_FWD, GPU, 90, 256, 13000, &r), "pack hit");
	CHECK(r.pack && !strcmp(r.origin, "pack") && !strcmp(r.where, p1) && threads_of(&r) == 3 && r.bucket == 256,
	      "bucket 256: %s %s threads %d", r.origin, r.where, threads_of(&r));
	kg_record_free(&r);
	CHECK(kg_packs_count(p) == 3, "%d packs (want one.pack, x.kgenpack, y.kgenpack)", kg_packs_count(p));
	kg_packs_describe(p, desc, sizeof desc);
	CHECK(strstr(desc, "2 unreadable") && strstr(desc, "bad.kgenpack"), "describe after opening: %s", desc);
	CHECK(!find(c, p, KG_SOFTMAX_FWD, GPU, 90, 512, 13000, &r) && threads_of(&r) == 3 && r.bucket == 256,
	      "bucket 512: nearer is the pack's 256, got %d", threads_of(&r));
	kg_record_free(&r);
	/* as near (2048: 4096 twice as big in cache and pack 1): the cache */
	CHECK(!find(c, p, KG_SOFTMAX_FWD, GPU, 90, 2048, 13000, &r) && r.src == c && threads_of(&r) == 1,
	      "bucket 2048: %s threads %d", r.origin, threads_of(&r));
	kg_record_free(&r);
	/* no cache */
	CHECK(!find(NULL, p, KG_SOFTMAX_FWD, GPU, 90, 4096, 13000, &r) && r.pack && threads_of(&r) == 2,
	      "no cache: %d", threads_of(&r));
	kg_record_free(&r);
	/* a pack of a path directory; the same problem in the installed one loses */
	CHECK(!find(c, p, KG_XENT_FUSED, GPU, 90, 4096, 13000, &r) && threads_of(&r) == 20 && strstr(r.where, "dir2/x.kgenpack"),
	      "xent: %d from %s", threads_of(&r), r.where ? r.where : "-");
	kg_record_free(&r);
	/* two packs with the bucket: the earlier; a nearer bucket of a later pack wins */
	CHECK(!find(c, p, KG_LOGSOFTMAX_BWD, GPU, 90, 64, 13000, &r) && threads_of(&r) == 6, "path order: %d",
	      threads_of(&r));
	kg_record_free(&r);
	CHECK(!find(c, p, KG_LOGSOFTMAX_BWD, GPU, 90, 128, 13000, &r) && threads_of(&r) == 31 && strstr(r.where, "dir3"),
	      "installed, nearer: %d", threads_of(&r));
	kg_record_free(&r);

	/* stale stamps, NVRTC newer than the driver, another GPU model or SM */
	rc = find(c, p, KG_SOFTMAX_BWD, GPU, 90, 4096, 13000, &r);
	CHECK(rc == KGEN_ENOTFOUND && !r.rec && r.skipped_stale == 1 && r.skipped_nvrtc == 0, "stale: rc %d, %d skipped",
	      rc, r.skipped_stale);
	rc = find(c, p, KG_LOGSOFTMAX_FWD, GPU, 90, 4096, 12080, &r);
	CHECK(rc == KGEN_ENOTFOUND && r.skipped_nvrtc == 1, "NVRTC 13.0 on a 12.8 driver: rc %d", rc);
	CHECK(!find(c, p, KG_LOGSOFTMAX_FWD, GPU, 90, 4096, 13000, &r) && threads_of(&r) == 5, "NVRTC 13.0 on 13.0");
	kg_record_free(&r);
	CHECK(!find(c, p, KG_LOGSOFTMAX_FWD, GPU, 90, 4096, 0, &r), "no driver version: no NVRTC check");
	kg_record_free(&r);
	CHECK(find(c, p, KG_SOFTMAX_FWD, "Test GPU 2", 90, 4096, 13000, &r) == KGEN_ENOTFOUND, "another GPU model");
	CHECK(find(c, p, KG_SOFTMAX_FWD, GPU, 80, 4096, 13000, &r) == KGEN_ENOTFOUND, "another SM");
	CHECK(!find(c, p, KG_SOFTMAX_FWD, "Other GPU", 80, 4096, 13000, &r) && threads_of(&r) == 7, "other GPU's record");
	kg_record_free(&r);
	CHECK(find(c, NULL, KG_XENT_FUSED, GPU, 90, 4096, 0, &r) == KGEN_ENOTFOUND, "no packs");

	/* cubins: from the record's own source, checked in a pack */
	{
		unsigned char want[1000];
		void *cubin;
		size_t size;
		CHECK(!find(c, p, KG_SOFTMAX_FWD, GPU, 90, 256, 13000, &r), "find");
		CHECK(!kg_record_cubin(&r, &cubin, &size) && size == sizeof want &&
		          !memcmp(cubin, want, fake_cubin(&pack1[1], want, sizeof want)),
		      "pack cubin: %s", kgen_last_error());
		free(cubin);
		kg_record_free(&r);
		CHECK(!find(c, p, KG_SOFTMAX_FWD, GPU, 90, 4096, 13000, &r) && !kg_record_cubin(&r, &cubin, &size) &&
		          !memcmp(cubin, want, fake_cubin(&cache_recs[0], want, sizeof want)),
		      "cache cubin: %s", kgen_last_error());
		free(cubin);
		kg_record_free(&r);
	}
	kg_packs_free(p);
	{
		kg_packs *q;
		void *cubin;
		size_t size;
		snprintf(f, sizeof f, "%s/badsum.kgenpack", base);
		CHECK(!make_pack(f, pack1, 1, KG_PACK_FORMAT, 1), "make_pack bad sum");
		CHECK(!kg_packs_new(&q, f, NULL), "packs");
		CHECK(!find(NULL, q, KG_SOFTMAX_FWD, GPU, 90, 4096, 0, &r), "find in badsum");
		rc = kg_record_cubin(&r, &cubin, &size);
		CHECK(rc == KGEN_ECACHE && !cubin && strstr(kgen_last_error(), "does not match its checksum"),
		      "bad checksum: rc %d: %s", rc, kgen_last_error());
		kg_record_free(&r);
		kg_packs_free(q);
	}

	/* the file is checked before LMDB reads it: every damaged copy of
	 * pack 1 is refused with its name and the reason, never a crash */
	{
		static const struct {
			long cut;           /* bytes kept (-1: all), or from the end when < -1 */
			long flip;          /* offset of a changed byte, or -1 */
			int reseal;         /* the trailer written anew over the change */
			const char *why;
		} bad[] = {
			{0, -1, 0, "no pack trailer"},
			{100, -1, 0, "no pack trailer"},
			{4096, -1, 0, "truncated (4096 bytes"},
			{12288, -1, 0, "truncated (12288 bytes, its header says"},
			{-65, -1, 0, "pack format 1, this build reads 2"}, /* the LMDB data whole, no trailer */
			{-2, -1, 0, "no pack trailer"},
			{-1, 5000, 0, "damaged (sha256 "},
			{-1, 20, 0, "damaged LMDB header"},
			{-1, 16, 1, "not an LMDB file"},
			{-1, 4096 + 136, 1, "truncated ("},        /* the second meta's last page */
			{12288, -1, 1, "its header says"},            /* whole pages gone, trailer made anew */
			{-1, 40, 1, "damaged LMDB header (page size)"},
		};
		char g[600], want[64];
		FILE *in = fopen(p1, "rb"), *out;
		long size = 0;
		unsigned char *buf;
		CHECK(in && !fseek(in, 0, SEEK_END) && (size = ftell(in)) > 16384, "pack 1's size");
		buf = malloc((size_t)size);
		rewind(in);
		CHECK(fread(buf, 1, (size_t)size, in) == (size_t)size, "read pack 1");
		fclose(in);
		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			long n = bad[i].cut == -1 ? size : bad[i].cut < -1 ? size + bad[i].cut + 1 : bad[i].cut;
			unsigned char *copy = malloc((size_t)size);
			memcpy(copy, buf, (size_t)size);
			if (bad[i].flip >= 0)
				copy[bad[i].flip] ^= bad[i].flip == 40 ? 0x01 : bad[i].flip == 4096 + 136 ? 0x40 : 0x55;
			snprintf(g, sizeof g, "%s/bad%zu.kgenpack", base, i);
			out = fopen(g, "wb");
			fwrite(copy, 1, (size_t)n, out);
			fclose(out);
			free(copy);
			if (bad[i].reseal)
				CHECK(!cache_pack_seal(g), "reseal %zu: %s", i, kgen_last_error());
			pk = (cache *)1;
			kg_err_clear();
			rc = kg_pack_open(&pk, g);
			CHECK(rc == KGEN_ECACHE && !pk && strstr(kgen_last_error(), g) && strstr(kgen_last_error(), bad[i].why), "damaged %zu (%ld bytes): %s",
			      i, n, kgen_last_error());
		}
		free(buf);
		/* another format in the trailer */
		snprintf(g, sizeof g, "%s/bad1.kgenpack", base);
		out = fopen(g, "wb");
		memset(want, 0, sizeof want);
		memcpy(want, "KGENPACK\x03", 9);
		memcpy(want + 56, "KGENEND\n", 8);
		fwrite(want, 1, 64, out);
		fclose(out);
		CHECK(kg_pack_open(&pk, g) == KGEN_ECACHE && strstr(kgen_last_error(), "pack format 3, this build reads 2"),
		      "format 3: %s", kgen_last_error());
		/* not a regular file: a FIFO is refused at once (never waited on),
		 * and so is a directory */
		snprintf(g, sizeof g, "%s/fifo.kgenpack", base);
		CHECK(!mkfifo(g, 0644), "mkfifo");
		CHECK(kg_pack_open(&pk, g) == KGEN_ECACHE && strstr(kgen_last_error(), "not a regular file") &&
		          strstr(kgen_last_error(), g),
		      "fifo: %s", kgen_last_error());
		CHECK(kg_pack_open(&pk, base) == KGEN_ECACHE && strstr(kgen_last_error(), "not a regular file"), "dir: %s",
		      kgen_last_error());
		/* in the runtime's set: skipped, the next source used */
		snprintf(path, sizeof path, "%s:%s/bad5.kgenpack:%s", g, base, p1);
		CHECK(!kg_packs_new(&p, path, NULL), "kg_packs_new");
		CHECK(!find(NULL, p, KG_SOFTMAX_FWD, GPU, 90, 4096, 0, &r) && r.pack && !strcmp(r.where, p1),
		      "the next pack serves: %s", r.where ? r.where : "none");
		kg_record_free(&r);
		kg_packs_describe(p, desc, sizeof desc);
		CHECK(strstr(desc, "2 unreadable") && strstr(desc, "fifo.kgenpack") && strstr(desc, "not a regular file"),
		      "describe: %s", desc);
		kg_packs_free(p);
	}
	/* a record changed inside (rows_per_cta=1 -> 9) and the digest made
	 * anew: the record's own checksum keeps it out of every lookup */
	{
		char g[600];
		FILE *fp;
		long size, at = -1;
		unsigned char *buf;
		void *m;
		snprintf(g, sizeof g, "%s/rec.kgenpack", base);
		CHECK(!make_pack(g, pack1, 1, KG_PACK_FORMAT, 0), "make_pack rec");
		fp = fopen(g, "r+b");
		fseek(fp, 0, SEEK_END);
		size = ftell(fp);
		buf = malloc((size_t)size);
		rewind(fp);
		CHECK(fread(buf, 1, (size_t)size, fp) == (size_t)size, "read");
		m = memmem(buf, (size_t)size, "rows_per_cta=1", 14);
		if (m)
			at = (long)((unsigned char *)m - buf) + 13;
		CHECK(at > 0, "no record in the pack");
		fseek(fp, at, SEEK_SET);
		fputc('9', fp);
		fclose(fp);
		free(buf);
		CHECK(kg_pack_open(&pk, g) == KGEN_ECACHE && strstr(kgen_last_error(), "damaged (sha256"), "flip: %s", kgen_last_error());
		CHECK(!cache_pack_seal(g), "reseal: %s", kgen_last_error());
		CHECK(!kg_packs_new(&p, g, NULL), "kg_packs_new");
		CHECK(find(NULL, p, KG_SOFTMAX_FWD, GPU, 90, 4096, 0, &r) == KGEN_ENOTFOUND && !r.rec,
		      "a damaged record was found: %s", r.rec ? r.rec : "");
		kg_record_free(&r);
		CHECK(kg_packs_count(p) == 1, "the resealed pack opens");
		kg_packs_free(p);
		CHECK(!kg_pack_open(&pk, g), "open resealed: %s", kgen_last_error());
		{
			int seen = 0;
			char first[512];
			cache_scan(pk, "best", NULL, 0, count_visit, &seen);
			CHECK(seen == 0 && cache_damaged(pk, first, sizeof first) == 1 && strstr(first, "best 'softmax|fwd"),
			      "scan: %d seen, damaged: %s", seen, first);
		}
		cache_close(pk);
	}

	/* first use from many threads at once: opened once, every lookup finds */
	{
		pthread_t th[8];
		thread_arg a[8];
		snprintf(path, sizeof path, "%s:%s", d2, p1);
		CHECK(!kg_packs_new(&p, path, d3), "kg_packs_new");
		for (int i = 0; i < 8; i++) {
			a[i] = (thread_arg){p, 0};
			pthread_create(&th[i], NULL, find_in_thread, &a[i]);
		}
		for (int i = 0; i < 8; i++) {
			pthread_join(th[i], NULL);
			CHECK(a[i].found == 50, "thread %d found %d of 50", i, a[i].found);
		}
		CHECK(kg_packs_count(p) == 3, "%d packs after the threads", kg_packs_count(p));
		kg_packs_free(p);
	}
	cache_close(c);

	printf("test_pack: %d checks, %d failures\n", checks, failures);
	if (!failures) {
		char cmd[600];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
		if (system(cmd))
			fprintf(stderr, "cannot remove '%s'\n", base);
	}
	return failures ? 1 : 0;
}
