/* test_cache.c: tests of cache/cache.c. Usage: test_cache [scratch-dir]
 * (default: a fresh mkdtemp directory under /tmp, removed on success).
 * Exits 0 when every check passes. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lmdb.h>

#include "kgen.h"
#include "cache.h"
#include "err.h"

#define NCHILD	4
#define NTRIAL	300
#define NCUBIN	100
#define CUBIN_SZ	(512 << 10)
#define NBIG	200
#define BIG_SZ	(1 << 20)
#define HUGE_SZ	(150 << 20)
#define NTHREAD	4

static int failures;

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "%s:%d: check failed: %s (kgen_last_error(): %s)\n", __FILE__, \
	    __LINE__, #cond, kgen_last_error()); failures++; return 1; } } while (0)
#define OK(call) CHECK((call) == 0)

/* Deterministic bytes for (who, i): each value differs from the others. */
static void fill(unsigned char *p, size_t n, unsigned who, unsigned i)
{
	unsigned x = who * 2654435761u ^ (i + 1) * 40503u;
	size_t j;

	for (j = 0; j < n; j++) {
		x = x * 1103515245u + 12345u;
		p[j] = (unsigned char)(x >> 16);
	}
}

static int open_dir(cache **c, const char *base, const char *sub)
{
	char dir[1024];

	snprintf(dir, sizeof(dir), "%s/%s", base, sub);
	return cache_open(c, dir, 0);
}

struct visit { int n; char keys[8][32]; };

static int visit(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	struct visit *s = arg;

	(void)v; (void)vl;
	if (s->n < 8 && kl < 32)
		memcpy(s->keys[s->n], k, kl), s->keys[s->n][kl] = '\0';
	s->n++;
	return 0;
}

static int stop_first(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	(void)k; (void)kl; (void)v; (void)vl;
	++*(int *)arg;
	return 1;
}

/* 1. round trips, missing keys, binary values, prefix scans */
static int test_basic(const char *base)
{
	static const char *dbs[] = { "best", "cubin", "trial" };
	const unsigned char bin[] = { 0, 1, 0, 255, 0, 'x', 0 };
	const char *keys[] = { "p\x1f" "b", "p", "p\x1f" "a", "q\x1f" "a", "o", "p\x1f" "c" };
	struct visit s;
	cache *c;
	void *v;
	size_t len;
	int i, n;

	OK(open_dir(&c, base, "basic/sub/dir"));	/* parents are created */
	for (i = 0; i < 3; i++) {
		OK(cache_put(c, dbs[i], "k1", 2, "value one", 9));
		OK(cache_get(c, dbs[i], "k1", 2, &v, &len));
		CHECK(len == 9 && !strcmp(v, "value one"));	/* NUL after the data */
		free(v);
		OK(cache_put(c, dbs[i], "k1", 2, "v2", 2));
		OK(cache_get(c, dbs[i], "k1", 2, &v, &len));
		CHECK(len == 2 && !strcmp(v, "v2"));
		free(v);
		CHECK(cache_get(c, dbs[i], "k2", 2, &v, &len) == KGEN_ENOTFOUND);
		CHECK(v == NULL);
	}
	CHECK(cache_get(c, "nope", "k1", 2, &v, &len) == KGEN_EINVAL);
	CHECK(cache_put(c, "best", "", 0, "x", 1) == KGEN_EINVAL);
	/* binary key and value with NUL bytes */
	OK(cache_put(c, "cubin", "\0k\0", 3, bin, sizeof(bin)));
	OK(cache_get(c, "cubin", "\0k\0", 3, &v, &len));
	CHECK(len == sizeof(bin) && !memcmp(v, bin, len));
	free(v);
	/* empty value */
	OK(cache_put(c, "trial", "empty", 5, NULL, 0));
	OK(cache_get(c, "trial", "empty", 5, &v, &len));
	CHECK(len == 0 && ((char *)v)[0] == '\0');
	free(v);

	for (i = 0; i < 6; i++)
		OK(cache_put(c, "trial", keys[i], strlen(keys[i]), "x", 1));
	memset(&s, 0, sizeof(s));
	OK(cache_scan(c, "trial", "p\x1f", 2, visit, &s));
	CHECK(s.n == 3);
	CHECK(!strcmp(s.keys[0], "p\x1f" "a") && !strcmp(s.keys[1], "p\x1f" "b") &&
	    !strcmp(s.keys[2], "p\x1f" "c"));
	memset(&s, 0, sizeof(s));
	OK(cache_scan(c, "trial", "p", 1, visit, &s));
	CHECK(s.n == 4 && !strcmp(s.keys[0], "p"));
	memset(&s, 0, sizeof(s));
	OK(cache_scan(c, "trial", "zz", 2, visit, &s));	/* past the end */
	CHECK(s.n == 0);
	OK(cache_scan(c, "trial", "p\x1f" "aa", 4, visit, &s));
	CHECK(s.n == 0);
	memset(&s, 0, sizeof(s));
	OK(cache_scan(c, "trial", NULL, 0, visit, &s));
	CHECK(s.n == 8 && !strcmp(s.keys[0], "empty") && !strcmp(s.keys[1], "k1"));
	n = 0;
	OK(cache_scan(c, "trial", NULL, 0, stop_first, &n));
	CHECK(n == 1);
	cache_close(c);

	/* values survive a reopen, also read-only */
	OK(open_dir(&c, base, "basic/sub/dir"));
	OK(cache_get(c, "trial", "p", 1, &v, &len));
	free(v);
	cache_close(c);
	{
		char dir[1024];
		snprintf(dir, sizeof(dir), "%s/basic/sub/dir", base);
		OK(cache_open(&c, dir, 1));
		OK(cache_get(c, "best", "k1", 2, &v, &len));
		CHECK(!strcmp(v, "v2"));
		free(v);
		CHECK(cache_put(c, "best", "k1", 2, "x", 1) == KGEN_ECACHE);
		CHECK(strstr(kgen_last_error(), "read-only") != NULL);
		CHECK(!strcmp(cache_dir(c), dir));
		cache_close(c);
	}
	printf("ok 1 - round trips, binary values, prefix scans\n");
	return 0;
}

static int best(cache *c, const char *rec, int want_replaced, const char *want)
{
	void *v;
	size_t len;
	int r = -1;

	OK(cache_put_best(c, "prob", rec, &r));
	CHECK(r == want_replaced);
	OK(cache_get(c, "best", "prob", 4, &v, &len));
	if (strcmp(v, want)) {
		fprintf(stderr, "best after '%s': got '%s', want '%s'\n", rec, (char *)v, want);
		free(v);
		CHECK(0);
	}
	free(v);
	return 0;
}

/* cache_outdated_fn for test_best: keeps the stored record it is asked
 * about, answers as told */
struct outdated_arg {
	char seen[64];
	int say;
};

static int outdated_cfg(const char *old, void *arg)
{
	struct outdated_arg *o = arg;
	snprintf(o->seen, sizeof o->seen, "%s", old);
	return o->say;
}

/* 2. cache_put_best rules */
static int test_best(const char *base)
{
	cache *c;

	OK(open_dir(&c, base, "best"));
	const char *a = "stamp=s1\ncfg=a\n";	/* no time */
	const char *b = "stamp=s1\ntime_us=20.5\ncfg=b\n";
	const char *d = "stamp=s1\ntime_us=10\ncfg=d\n";
	const char *e = "stamp=s1\ntime_us=10.0\ncfg=e\n";	/* ties d */
	const char *f = "stamp=s1\ntime_us=30\ncfg=f\n";
	const char *g = "stamp=s1\ncfg=g\n";
	const char *h = "stamp=s2\ntime_us=99\ncfg=h\n";	/* other stamp, slower */
	const char *i = "time_us=1\ncfg=i\n";	/* stamp missing */
	const char *j = "time_us=50\ncfg=j";	/* no stamp either, no final \n */
	const char *k = "time_us=40\ncfg=k\n";
	const char *l = "time_us=1.5.0\ncfg=l\n";	/* unparsable: counts as untimed */
	const char *m = "stamp=s3\ncfg=m\n";	/* untimed, other stamp */

	if (best(c, a, 1, a) || best(c, g, 1, g)	/* nothing there; old untimed */
	    || best(c, b, 1, b)	/* timed beats untimed */
	    || best(c, a, 0, b)	/* untimed loses to timed */
	    || best(c, f, 0, b)	/* slower loses */
	    || best(c, d, 1, d)	/* faster wins */
	    || best(c, e, 0, d)	/* a tie keeps the old one */
	    || best(c, h, 1, h)	/* other stamp always wins, even slower */
	    || best(c, d, 1, d)	/* and back */
	    || best(c, i, 1, i)	/* stamp missing on one side: differs */
	    || best(c, j, 0, i)	/* both without stamp: times compare */
	    || best(c, k, 0, i)
	    || best(c, l, 0, i)
	    || best(c, m, 1, m)	/* untimed, but other stamp */
	    || best(c, g, 1, g))	/* "stamp=s1" vs "stamp=s3" */
		return 1;
	/* cache_put_best_if: a slower record replaces the stored one where
	 * outdated says so, asked with the stored record's text; a faster one
	 * without asking */
	{
		struct outdated_arg o = {"", 0};
		void *v;
		size_t len;
		int r = -1;
		if (best(c, d, 1, d))
			return 1;
		OK(cache_put_best_if(c, "prob", f, outdated_cfg, &o, &r));
		CHECK(r == 0 && !strcmp(o.seen, d));
		OK(cache_get(c, "best", "prob", 4, &v, &len));
		CHECK(!strcmp(v, d));
		free(v);
		o.say = 1;
		OK(cache_put_best_if(c, "prob", f, outdated_cfg, &o, &r));
		CHECK(r == 1);
		OK(cache_get(c, "best", "prob", 4, &v, &len));
		CHECK(!strcmp(v, f));
		free(v);
		o.seen[0] = 0;
		OK(cache_put_best_if(c, "prob", d, outdated_cfg, &o, &r));
		CHECK(r == 1 && !o.seen[0]);
		OK(cache_put_best_if(c, "prob", f, NULL, NULL, &r));
		CHECK(r == 0);
	}
	cache_close(c);
	printf("ok 2 - cache_put_best rules\n");
	return 0;
}

/* 3. the 64 MiB map grows: first one value bigger than the map (several
 * doublings in one put), then 200 x 1 MiB. (Values over ~256 MiB make LMDB
 * 0.9.24 spill pages and leak the spill list: ITS#9155, fixed in 0.9.25.) */
static int test_growth(const char *base)
{
	unsigned char *buf;
	cache *c;
	void *v;
	size_t len;
	char key[32];
	unsigned i;

	CHECK((buf = malloc(HUGE_SZ)) != NULL);
	fill(buf, HUGE_SZ, 8, 0);
	OK(open_dir(&c, base, "growth"));
	OK(cache_put(c, "cubin", "huge", 4, buf, HUGE_SZ));
	for (i = 0; i < NBIG; i++) {
		snprintf(key, sizeof(key), "%016x", i);
		fill(buf, BIG_SZ, 7, i);
		OK(cache_put(c, "cubin", key, 16, buf, BIG_SZ));
	}
	cache_close(c);
	OK(open_dir(&c, base, "growth"));
	for (i = 0; i < NBIG; i++) {
		snprintf(key, sizeof(key), "%016x", i);
		fill(buf, BIG_SZ, 7, i);
		OK(cache_get(c, "cubin", key, 16, &v, &len));
		CHECK(len == BIG_SZ && !memcmp(v, buf, len));
		free(v);
	}
	fill(buf, HUGE_SZ, 8, 0);
	OK(cache_get(c, "cubin", "huge", 4, &v, &len));
	CHECK(len == HUGE_SZ && !memcmp(v, buf, len));
	free(v);
	free(buf);
	cache_close(c);
	printf("ok 3 - map growth past 64 MiB (150 MiB value, then %d x 1 MiB)\n", NBIG);
	return 0;
}

/* Child who of test 4: trials, cubins and competing best records. */
static int child(const char *dir, unsigned who)
{
	unsigned char *buf = malloc(CUBIN_SZ);
	char key[64], val[64];
	cache *c;
	int i;

	CHECK(buf != NULL);
	OK(cache_open(&c, dir, 0));	/* after fork: own env */
	for (i = 0; i < NTRIAL; i++) {
		snprintf(key, sizeof(key), "prob%u\x1f" "cfg%d", who, i);
		snprintf(val, sizeof(val), "who=%u\ni=%d\n", who, i);
		OK(cache_put(c, "trial", key, strlen(key), val, strlen(val)));
		if (i % 3 == 0) {
			snprintf(key, sizeof(key), "%08x%08x", who, i / 3);
			fill(buf, CUBIN_SZ, who, (unsigned)i / 3);
			OK(cache_put(c, "cubin", key, 16, buf, CUBIN_SZ));
		}
		if (i % 10 == 0) {
			/* times never repeat across children; minimum 1000 + 0 */
			snprintf(val, sizeof(val), "stamp=s\ntime_us=%u\nwho=%u\n",
			    1000 + (unsigned)(NTRIAL - 10 - i) * NCHILD + who, who);
			OK(cache_put_best(c, "shared", val, NULL));
		}
	}
	cache_close(c);
	free(buf);
	return 0;
}

struct count { unsigned seen[NCHILD]; int bad; };

static int count_trial(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	struct count *s = arg;
	unsigned who;
	int i;
	char key[64], want[64];

	(void)kl;
	if (sscanf(v, "who=%u\ni=%d", &who, &i) != 2 || who >= NCHILD) {
		s->bad++;
		return 0;
	}
	snprintf(key, sizeof(key), "prob%u\x1f" "cfg%d", who, i);
	snprintf(want, sizeof(want), "who=%u\ni=%d\n", who, i);
	if (strlen(key) != kl || memcmp(k, key, kl) || strlen(want) != vl || memcmp(v, want, vl))
		s->bad++;
	s->seen[who]++;
	return 0;
}

/* 4. several processes write at once, growing the map concurrently */
static int test_procs(const char *base)
{
	char dir[1024], key[32], rec[64];
	unsigned char *buf;
	struct count s;
	pid_t pid[NCHILD];
	cache *c;
	void *v;
	size_t len;
	unsigned w;
	int st, i;

	snprintf(dir, sizeof(dir), "%s/procs", base);
	fflush(stdout);	/* or the children print our buffered lines again */
	for (w = 0; w < NCHILD; w++) {
		if ((pid[w] = fork()) == 0)
			_exit(child(dir, w));
		CHECK(pid[w] > 0);
	}
	for (w = 0; w < NCHILD; w++) {
		CHECK(waitpid(pid[w], &st, 0) == pid[w]);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	CHECK((buf = malloc(CUBIN_SZ)) != NULL);
	OK(cache_open(&c, dir, 1));
	memset(&s, 0, sizeof(s));
	OK(cache_scan(c, "trial", NULL, 0, count_trial, &s));
	CHECK(s.bad == 0);
	for (w = 0; w < NCHILD; w++)
		CHECK(s.seen[w] == NTRIAL);
	for (w = 0; w < NCHILD; w++)
		for (i = 0; i < NTRIAL / 3; i++) {
			snprintf(key, sizeof(key), "%08x%08x", w, i);
			fill(buf, CUBIN_SZ, w, (unsigned)i);
			OK(cache_get(c, "cubin", key, 16, &v, &len));
			CHECK(len == CUBIN_SZ && !memcmp(v, buf, len));
			free(v);
		}
	OK(cache_get(c, "best", "shared", 6, &v, &len));
	snprintf(rec, sizeof(rec), "stamp=s\ntime_us=%u\nwho=0\n", 1000u);
	CHECK(!strcmp(v, rec));
	free(v);
	cache_close(c);
	free(buf);
	printf("ok 4 - %d processes: %d trials, %d x 512 KiB cubins each, best is the minimum\n",
	    NCHILD, NTRIAL, NTRIAL / 3);
	return 0;
}

struct thr { cache *c; unsigned who; int rc; };

static void *thread_main(void *arg)
{
	struct thr *t = arg;
	unsigned char *buf = malloc(CUBIN_SZ);
	char key[32];
	void *v;
	size_t len;
	unsigned i;

	for (i = 0; buf && i < 100 && !t->rc; i++) {
		snprintf(key, sizeof(key), "t%07x%08x", t->who, i);
		fill(buf, CUBIN_SZ, 100 + t->who, i);
		if (cache_put(t->c, "cubin", key, 16, buf, CUBIN_SZ) ||
		    cache_get(t->c, "cubin", key, 16, &v, &len))
			t->rc = 1;
		else if (len != CUBIN_SZ || memcmp(v, buf, len))
			t->rc = 2;
		else
			free(v);
	}
	t->rc |= !buf;
	free(buf);
	return NULL;
}

/* 6. one handle, several threads: the map grows under concurrent txns */
static int test_threads(const char *base)
{
	pthread_t th[NTHREAD];
	struct thr t[NTHREAD];
	cache *c;
	int i;

	OK(open_dir(&c, base, "threads"));
	for (i = 0; i < NTHREAD; i++) {
		t[i].c = c, t[i].who = (unsigned)i, t[i].rc = 0;
		OK(pthread_create(&th[i], NULL, thread_main, &t[i]));
	}
	for (i = 0; i < NTHREAD; i++) {
		pthread_join(th[i], NULL);
		CHECK(t[i].rc == 0);
	}
	cache_close(c);
	printf("ok 6 - %d threads on one handle, growing the map\n", NTHREAD);
	return 0;
}

/* 5. errors and rec_get */
static int test_misc(const char *base)
{
	char dir[1024], out[8], saved[3][256];
	const char *env[3] = { "KGEN_CACHE_DIR", "XDG_CACHE_HOME", "HOME" };
	const char *rec = "timer=3\ntime=5\ntime_us=12.5\nlong=abcdefghijkl\nlast=z";
	cache *c = (cache *)&c;
	int i;

	snprintf(dir, sizeof(dir), "%s/does/not/exist", base);
	kg_err_clear();
	CHECK(cache_open(&c, dir, 1) == KGEN_ECACHE);
	CHECK(c == NULL);
	CHECK(strstr(kgen_last_error(), dir) != NULL);
	CHECK(strncmp(kgen_last_error(), "cannot open cache '", 19) == 0);
	printf("  message: %s\n", kgen_last_error());
	CHECK(access(dir, F_OK) != 0);	/* readonly never creates */
	/* a file where the directory should be */
	snprintf(dir, sizeof(dir), "%s/file", base);
	fclose(fopen(dir, "w"));
	snprintf(dir, sizeof(dir), "%s/file/sub", base);
	CHECK(cache_open(&c, dir, 0) == KGEN_ECACHE);
	CHECK(strstr(kgen_last_error(), dir) != NULL);
	printf("  message: %s\n", kgen_last_error());

	/* readonly open of an env without our DBs: gets miss, scans are empty */
	{
		MDB_env *env;
		MDB_txn *txn;
		struct visit sv;
		void *v = NULL;
		size_t len;

		snprintf(dir, sizeof(dir), "%s/bare", base);
		CHECK(mkdir(dir, 0755) == 0);
		OK(mdb_env_create(&env));
		OK(mdb_env_open(env, dir, 0, 0644));
		OK(mdb_txn_begin(env, NULL, 0, &txn));
		OK(mdb_txn_commit(txn));
		mdb_env_close(env);
		OK(cache_open(&c, dir, 1));
		CHECK(cache_get(c, "cubin", "k", 1, &v, &len) == KGEN_ENOTFOUND);
		memset(&sv, 0, sizeof(sv));
		OK(cache_scan(c, "trial", NULL, 0, visit, &sv));
		CHECK(sv.n == 0);
		cache_close(c);
	}

	OK(rec_get(rec, "time", out, sizeof(out)));
	CHECK(!strcmp(out, "5"));
	OK(rec_get(rec, "time_us", out, sizeof(out)));
	CHECK(!strcmp(out, "12.5"));
	OK(rec_get(rec, "timer", out, sizeof(out)));
	CHECK(!strcmp(out, "3"));
	OK(rec_get(rec, "long", out, sizeof(out)));
	CHECK(!strcmp(out, "abcdefg"));	/* truncated to len - 1 */
	OK(rec_get(rec, "last", out, sizeof(out)));
	CHECK(!strcmp(out, "z"));
	CHECK(rec_get(rec, "tim", out, sizeof(out)) == KGEN_ENOTFOUND);
	CHECK(rec_get(rec, "time_u", out, sizeof(out)) == KGEN_ENOTFOUND);
	CHECK(rec_get(rec, "5", out, sizeof(out)) == KGEN_ENOTFOUND);
	CHECK(rec_get("", "a", out, sizeof(out)) == KGEN_ENOTFOUND);

	/* default directory */
	for (i = 0; i < 3; i++) {
		const char *v = getenv(env[i]);
		snprintf(saved[i], sizeof(saved[i]), "%s", v ? v : "");
	}
	setenv("KGEN_CACHE_DIR", "/k", 1), setenv("XDG_CACHE_HOME", "/x", 1), setenv("HOME", "/h", 1);
	OK(cache_default_dir(dir, sizeof(dir)));
	CHECK(!strcmp(dir, "/k"));
	setenv("KGEN_CACHE_DIR", "", 1);
	OK(cache_default_dir(dir, sizeof(dir)));
	CHECK(!strcmp(dir, "/x/kgen"));
	unsetenv("XDG_CACHE_HOME");
	OK(cache_default_dir(dir, sizeof(dir)));
	CHECK(!strcmp(dir, "/h/.cache/kgen"));
	CHECK(cache_default_dir(dir, 5) == KGEN_EINVAL);
	unsetenv("HOME");
	CHECK(cache_default_dir(dir, sizeof(dir)) == KGEN_EINVAL);
	CHECK(cache_open(&c, NULL, 0) == KGEN_EINVAL);
	snprintf(dir, sizeof(dir), "%s/default", base);
	setenv("KGEN_CACHE_DIR", dir, 1);
	OK(cache_open(&c, NULL, 0));
	CHECK(!strcmp(cache_dir(c), dir));
	cache_close(c);
	for (i = 0; i < 3; i++)
		if (saved[i][0])
			setenv(env[i], saved[i], 1);
		else
			unsetenv(env[i]);
	printf("ok 5 - error messages, readonly without DBs, rec_get exact keys, default directory\n");
	return 0;
}

/* 7. packs: their own databases, a compacted copy in one file, read-only */
static int test_pack_env(const char *base)
{
	char dir[1024], file[1100];
	unsigned char big[3 * 4096];
	cache *c, *p;
	void *v = NULL;
	size_t len;
	struct stat st;

	snprintf(dir, sizeof(dir), "%s/packsrc", base);
	snprintf(file, sizeof(file), "%s/one.kgenpack", base);
	OK(cache_open_flags(&c, dir, CACHE_PACK));
	fill(big, sizeof(big), 7, 1);
	OK(cache_put(c, "cubin", "0123456789abcdef", 16, big, sizeof(big)));
	OK(cache_put(c, "sum", "0123456789abcdef", 16, "fnv1a64=1\n", 10));
	OK(cache_put(c, "meta", "format", 6, "1", 1));
	OK(cache_put_best(c, "k|r1", "time_us=2\n", NULL));
	CHECK(cache_put(c, "trial", "k", 1, "x", 1) == KGEN_EINVAL);
	CHECK(strstr(kgen_last_error(), "a pack has no database 'trial'") != NULL);
	OK(cache_copy(c, file));
	OK(cache_copy(c, file));	/* replaces it */
	cache_close(c);
	CHECK(stat(file, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0644);
	/* one file: no lock file beside it, none made by opening it */
	OK(cache_open_flags(&p, file, CACHE_PACK | CACHE_RDONLY));
	snprintf(dir, sizeof(dir), "%s-lock", file);
	CHECK(access(dir, F_OK) != 0);
	OK(cache_get(p, "cubin", "0123456789abcdef", 16, &v, &len));
	CHECK(len == sizeof(big) && !memcmp(v, big, len));
	free(v);
	OK(cache_get(p, "best", "k|r1", 4, &v, &len));
	CHECK(len == 10 && !memcmp(v, "time_us=2\n", 10));
	free(v);
	CHECK(cache_put(p, "meta", "x", 1, "y", 1) == KGEN_ECACHE);
	CHECK(strstr(kgen_last_error(), "pack '") && strstr(kgen_last_error(), "' is opened read-only"));
	CHECK(cache_get(p, "trial", "k", 1, &v, &len) == KGEN_EINVAL);
	cache_close(p);
	/* a cache has no sum or meta; a cache directory is not a pack file */
	OK(open_dir(&c, base, "notapack"));
	CHECK(cache_put(c, "sum", "k", 1, "x", 1) == KGEN_EINVAL);
	CHECK(strstr(kgen_last_error(), "a cache has no database 'sum'") != NULL);
	cache_close(c);
	snprintf(dir, sizeof(dir), "%s/notapack", base);
	CHECK(cache_open_flags(&p, dir, CACHE_PACK | CACHE_RDONLY) == KGEN_ECACHE);
	CHECK(!strncmp(kgen_last_error(), "cannot open pack '", 18));
	printf("ok 7 - packs: their databases, one compacted read-only file\n");
	return 0;
}

/* Integrity: entries carry a checksum, a damaged one is never handed out;
 * a data.mdb cut short or not a regular file is refused before LMDB maps it. */
static int test_integrity(const char *base)
{
	char dir[1024], file[1100], first[256];
	const char *rec = "config=threads=128\nkernel=k\nrows_per_cta=1\ntime_us=5\n";
	cache *c;
	void *v = NULL;
	size_t len, n;
	int replaced;
	struct visit sv;
	FILE *f;
	unsigned char *buf, *at;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k, val;

	snprintf(dir, sizeof(dir), "%s/integrity", base);
	OK(cache_open(&c, dir, 0));
	OK(cache_put_best(c, "p|k", rec, &replaced));
	OK(cache_put(c, "cubin", "0123456789abcdef", 16, "CUBIN", 5));
	OK(cache_get(c, "best", "p|k", 3, &v, &len));
	CHECK(len == strlen(rec) && !memcmp(v, rec, len));	/* the trailer stripped */
	free(v);
	cache_close(c);

	/* change rows_per_cta=1 to 9 in the file */
	snprintf(file, sizeof(file), "%s/data.mdb", dir);
	CHECK((f = fopen(file, "r+b")) != NULL);
	fseek(f, 0, SEEK_END);
	n = (size_t)ftell(f);
	rewind(f);
	CHECK((buf = malloc(n)) != NULL && fread(buf, 1, n, f) == n);
	CHECK((at = memmem(buf, n, "rows_per_cta=1", 14)) != NULL);
	fseek(f, (long)(at - buf) + 13, SEEK_SET);
	fputc('9', f);
	fclose(f);
	free(buf);
	OK(cache_open(&c, dir, 1));
	CHECK(cache_get(c, "best", "p|k", 3, &v, &len) == KGEN_ECACHE && !v);
	CHECK(strstr(kgen_last_error(), "does not match its checksum") && strstr(kgen_last_error(), dir));
	memset(&sv, 0, sizeof(sv));
	OK(cache_scan(c, "best", NULL, 0, visit, &sv));
	CHECK(sv.n == 0);	/* skipped */
	CHECK(cache_damaged(c, first, sizeof(first)) == 2 && !strcmp(first, "best 'p|k'"));
	OK(cache_get(c, "cubin", "0123456789abcdef", 16, &v, &len));
	CHECK(len == 5 && !memcmp(v, "CUBIN", 5));
	free(v);
	cache_close(c);
	/* a damaged record is replaced by the next, whatever it says */
	OK(cache_open(&c, dir, 0));
	OK(cache_put_best(c, "p|k", "time_us=50\n", &replaced));
	CHECK(replaced);
	cache_close(c);

	/* an entry without a checksum (an older kgen, or another program) */
	OK(mdb_env_create(&env));
	OK(mdb_env_set_maxdbs(env, 8));
	OK(mdb_env_open(env, dir, 0, 0644));
	OK(mdb_txn_begin(env, NULL, 0, &txn));
	OK(mdb_dbi_open(txn, "best", 0, &dbi));
	k.mv_data = "p|old";
	k.mv_size = 5;
	val.mv_data = "time_us=1\n";
	val.mv_size = 10;
	OK(mdb_put(txn, dbi, &k, &val, 0));
	OK(mdb_txn_commit(txn));
	mdb_env_close(env);
	OK(cache_open(&c, dir, 1));
	CHECK(cache_get(c, "best", "p|old", 5, &v, &len) == KGEN_ECACHE);
	CHECK(strstr(kgen_last_error(), "has no checksum"));
	cache_close(c);

	/* data.mdb cut short: refused before LMDB maps it (it would fault) */
	CHECK(truncate(file, 8192 + 100) == 0);
	CHECK(cache_open(&c, dir, 1) == KGEN_ECACHE && !c);
	CHECK(strstr(kgen_last_error(), "truncated (") && strstr(kgen_last_error(), "its header says") && strstr(kgen_last_error(), "data.mdb"));
	CHECK(cache_open(&c, dir, 0) == KGEN_ECACHE && !c);
	CHECK(truncate(file, 100) == 0);
	CHECK(cache_open(&c, dir, 1) == KGEN_ECACHE && strstr(kgen_last_error(), "no LMDB header"));
	/* data.mdb a FIFO: refused at once, not waited on */
	CHECK(unlink(file) == 0 && mkfifo(file, 0644) == 0);
	CHECK(cache_open(&c, dir, 1) == KGEN_ECACHE && strstr(kgen_last_error(), "not a regular file"));
	printf("ok 8 - integrity: entry checksums, a damaged entry skipped, data.mdb truncated or a FIFO refused\n");
	return 0;
}

int main(int argc, char **argv)
{
	char tmpl[] = "/tmp/test_cache.XXXXXX", cmd[1200];
	const char *base;

	if (argc > 1) {
		base = argv[1];
		if (mkdir(base, 0755) && errno != EEXIST) {
			perror(base);
			return 2;
		}
	} else if (!(base = mkdtemp(tmpl))) {
		perror("mkdtemp");
		return 2;
	}
	test_basic(base);
	test_best(base);
	test_growth(base);
	test_procs(base);
	test_misc(base);
	test_threads(base);
	test_pack_env(base);
	test_integrity(base);
	if (failures) {
		fprintf(stderr, "FAIL: %d test(s) failed; files kept in %s\n", failures, base);
		return 1;
	}
	if (argc <= 1) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
		if (system(cmd))
			fprintf(stderr, "cannot remove %s\n", base);
	}
	printf("PASS\n");
	return 0;
}
