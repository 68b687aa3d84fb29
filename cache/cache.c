/* cache.c: the LMDB tuning cache (see cache.h).
 *
 * Locking: the env is opened with MDB_NOTLS, so a txn is not bound to its
 * thread and one handle serves many threads. mdb_env_set_mapsize() may only
 * run while this process has no txn open, so every txn holds c->lock shared
 * for its whole life and a resize takes it exclusively. Writers among
 * themselves are serialized by LMDB's own (inter-process) mutex.
 * cache_scan() callbacks run under the shared lock: they must not call back
 * into the cache (a resize would then wait for them forever).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* pthread_rwlockattr_setkind_np, strdup */
#endif
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lmdb.h>

#include "kgen.h"
#include "cache.h"

#define MIN_MAPSIZE	((size_t)64 << 20)	/* initial map: 64 MiB */
#define MAX_TRIES	64	/* resize-and-retry rounds before giving up */
#define NDBS	5
#define PREFIX	1	/* check(): key is a scan prefix, may be empty */
#define WRITE	2	/* check(): the call writes */
#define IN_CACHE	1	/* db_kinds[]: a database of caches */
#define IN_PACK	2	/* db_kinds[]: a database of packs */

static const char *const db_names[NDBS] = { "best", "cubin", "trial", "sum", "meta" };
static const int db_kinds[NDBS] = {
	IN_CACHE | IN_PACK, IN_CACHE | IN_PACK, IN_CACHE, IN_PACK, IN_PACK
};

struct cache {
	MDB_env *env;
	MDB_dbi dbi[NDBS];
	int have[NDBS];		/* dbi[i] is valid (a readonly cache may lack a DB) */
	int readonly;
	int kind;		/* IN_CACHE or IN_PACK */
	const char *noun;	/* "cache" or "pack", for messages */
	pthread_rwlock_t lock;	/* txns: shared; mapsize change: exclusive */
	char *dir;
};

static int fail(char *msg, size_t msglen, int code, const char *fmt, ...)
{
	va_list ap;

	if (msg && msglen) {
		va_start(ap, fmt);
		vsnprintf(msg, msglen, fmt, ap);
		va_end(ap);
	}
	return code;
}

/* Report LMDB (or errno) error rc of operation what ("read" ...) on db. */
static int mdb_fail(cache *c, int rc, const char *what, const char *db,
    char *msg, size_t msglen)
{
	if (rc == MDB_NOTFOUND)
		return fail(msg, msglen, KGEN_ENOTFOUND, "no such key in %s of %s '%s'",
		    db, c->noun, c->dir);
	return fail(msg, msglen, rc == ENOMEM ? KGEN_ENOMEM :
	    rc == MDB_BAD_VALSIZE ? KGEN_EINVAL : KGEN_ECACHE,
	    "cannot %s %s of %s '%s': %s", what, db, c->noun, c->dir, mdb_strerror(rc));
}

int cache_default_dir(char *buf, size_t len)
{
	const char *v;
	int n = -1;

	if (!buf || !len)
		return KGEN_EINVAL;
	if ((v = getenv("KGEN_CACHE_DIR")) && *v)
		n = snprintf(buf, len, "%s", v);
	else if ((v = getenv("XDG_CACHE_HOME")) && *v)
		n = snprintf(buf, len, "%s/kgen", v);
	else if ((v = getenv("HOME")) && *v)
		n = snprintf(buf, len, "%s/.cache/kgen", v);
	if (n < 0 || (size_t)n >= len) {
		*buf = '\0';	/* never hand back a truncated path */
		return KGEN_EINVAL;
	}
	return KGEN_SUCCESS;
}

/* mkdir -p dir, mode 0755. Returns 0 or an errno value. */
static int mkdirs(const char *dir)
{
	char *p, *s;
	struct stat st;
	int rc = 0;

	if (!(p = strdup(dir)))
		return ENOMEM;
	/* each parent, then dir itself; EEXIST also covers "a//b" */
	for (s = p + 1; !rc && (s = strchr(s, '/')); *s++ = '/') {
		*s = '\0';
		if (mkdir(p, 0755) && errno != EEXIST)
			rc = errno;
	}
	free(p);
	if (!rc && mkdir(dir, 0755) && errno != EEXIST)
		rc = errno;
	if (!rc && stat(dir, &st))
		rc = errno;
	if (!rc && !S_ISDIR(st.st_mode))
		rc = ENOTDIR;
	return rc;
}

/* Remap. seen == 0: adopt the size another process gave the map (after
 * MDB_MAP_RESIZED); else double seen, the size under which a write found the
 * map full, unless another thread has grown it meanwhile. */
static int grow(cache *c, size_t seen)
{
	MDB_envinfo info;
	int rc = 0;

	if (seen > (size_t)-1 / 2)
		return MDB_MAP_FULL;
	pthread_rwlock_wrlock(&c->lock);	/* waits until no txn is open here */
	mdb_env_info(c->env, &info);
	if (!seen)
		rc = mdb_env_set_mapsize(c->env, 0);	/* 0: the meta page's size */
	else if (info.me_mapsize < 2 * seen)
		rc = mdb_env_set_mapsize(c->env, 2 * seen);
	pthread_rwlock_unlock(&c->lock);
	return rc;
}

/* Begin a txn with c->lock held shared; on success the lock stays held
 * until txn_done(). */
static int txn_begin(cache *c, unsigned flags, MDB_txn **txn)
{
	int rc, tries;

	for (tries = 0; tries < MAX_TRIES; tries++) {
		pthread_rwlock_rdlock(&c->lock);
		if (!(rc = mdb_txn_begin(c->env, NULL, flags, txn)))
			return 0;
		pthread_rwlock_unlock(&c->lock);
		/* Returned only once another process has used pages past the
		 * end of our map, not as soon as it enlarged the map. */
		if (rc != MDB_MAP_RESIZED || (rc = grow(c, 0)))
			return rc;
	}
	return MDB_MAP_RESIZED;
}

static void txn_done(cache *c, MDB_txn *txn)
{
	if (txn)
		mdb_txn_abort(txn);
	pthread_rwlock_unlock(&c->lock);
}

/* Run fn in a write txn and commit; on MDB_MAP_FULL (from fn's puts or from
 * the commit) grow the map and run the whole txn again. */
static int write_txn(cache *c, int (*fn)(cache *, MDB_txn *, void *), void *arg)
{
	MDB_txn *txn;
	MDB_envinfo info;
	int rc, tries;

	for (tries = 0; tries < MAX_TRIES; tries++) {
		if ((rc = txn_begin(c, 0, &txn)))
			return rc;
		mdb_env_info(c->env, &info);	/* the size this txn runs under */
		if (!(rc = fn(c, txn, arg)))
			rc = mdb_txn_commit(txn);	/* frees txn, even on failure */
		else
			mdb_txn_abort(txn);
		txn_done(c, NULL);
		if (rc != MDB_MAP_FULL || (rc = grow(c, info.me_mapsize)))
			return rc;
	}
	return MDB_MAP_FULL;
}

int cache_open(cache **cp, const char *dir, int readonly, char *msg, size_t msglen)
{
	return cache_open_flags(cp, dir, readonly ? CACHE_RDONLY : 0, msg, msglen);
}

int cache_open_flags(cache **cp, const char *dir, unsigned flags, char *msg,
                     size_t msglen)
{
	char def[4096];
	pthread_rwlockattr_t attr;
	MDB_envinfo info;
	MDB_txn *txn;
	cache *c;
	const int readonly = (flags & CACHE_RDONLY) != 0;
	const int kind = flags & CACHE_PACK ? IN_PACK : IN_CACHE;
	const char *noun = kind == IN_PACK ? "pack" : "cache";
	/* a pack to read is one file, immutable: no lock file either */
	unsigned envflags = MDB_NOTLS | (readonly ? MDB_RDONLY : 0) |
	    (readonly && kind == IN_PACK ? MDB_NOSUBDIR | MDB_NOLOCK : 0);
	int rc, i, dead;

	if (!cp)
		return fail(msg, msglen, KGEN_EINVAL, "cache_open: no handle pointer");
	*cp = NULL;
	if (!dir && kind == IN_PACK)
		return fail(msg, msglen, KGEN_EINVAL, "no pack file named");
	if (!dir && cache_default_dir(def, sizeof(def)))
		return fail(msg, msglen, KGEN_EINVAL,
		    "cannot find cache directory: set KGEN_CACHE_DIR or HOME");
	if (!dir)
		dir = def;
	if (!*dir)
		return fail(msg, msglen, KGEN_EINVAL, "%s %s is empty", noun,
		    kind == IN_PACK ? "file name" : "directory");
	if (!(c = calloc(1, sizeof(*c))) || !(c->dir = strdup(dir))) {
		free(c);
		return fail(msg, msglen, KGEN_ENOMEM, "out of memory");
	}
	c->readonly = readonly;
	c->kind = kind;
	c->noun = noun;
	pthread_rwlockattr_init(&attr);
#ifdef __GLIBC__
	/* glibc prefers readers by default: a resize could starve */
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
	rc = pthread_rwlock_init(&c->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	if (rc) {
		free(c->dir);
		free(c);
		return fail(msg, msglen, KGEN_ENOMEM, "cannot create lock: %s", strerror(rc));
	}

	if (!readonly && (rc = mkdirs(dir))) {
		rc = fail(msg, msglen, KGEN_ECACHE,
		    "cannot create %s directory '%s': %s", noun, dir, strerror(rc));
		goto out;
	}
	if ((rc = mdb_env_create(&c->env)) || (rc = mdb_env_set_maxdbs(c->env, NDBS)) ||
	    (rc = mdb_env_open(c->env, dir, envflags, 0644)))
		goto err;
	mdb_reader_check(c->env, &dead);	/* free the slots of crashed readers */
	/* No size was set before open, so an existing env keeps the size in its
	 * meta page (a set size would shrink it to the pages in use). */
	mdb_env_info(c->env, &info);
	if (!readonly && info.me_mapsize < MIN_MAPSIZE &&
	    (rc = mdb_env_set_mapsize(c->env, MIN_MAPSIZE)))
		goto err;

	if ((rc = txn_begin(c, readonly ? MDB_RDONLY : 0, &txn)))
		goto err;
	for (i = 0; i < NDBS; i++) {
		if (!(db_kinds[i] & kind))
			continue;
		rc = mdb_dbi_open(txn, db_names[i], readonly ? 0 : MDB_CREATE, &c->dbi[i]);
		if (rc && !(rc == MDB_NOTFOUND && readonly)) {
			txn_done(c, txn);
			goto err;
		}
		c->have[i] = !rc;
	}
	/* Commit even a read txn: an aborted txn would close the new dbis. */
	rc = mdb_txn_commit(txn);
	txn_done(c, NULL);
	if (rc)
		goto err;
	*cp = c;
	return KGEN_SUCCESS;

err:
	rc = fail(msg, msglen, rc == ENOMEM ? KGEN_ENOMEM : KGEN_ECACHE,
	    "cannot open %s '%s': %s", noun, dir, mdb_strerror(rc));
out:
	cache_close(c);
	return rc;
}

void cache_close(cache *c)
{
	if (!c)
		return;
	if (c->env)
		mdb_env_close(c->env);	/* also closes the dbis */
	pthread_rwlock_destroy(&c->lock);
	free(c->dir);
	free(c);
}

const char *cache_dir(const cache *c)
{
	return c ? c->dir : NULL;
}

int cache_copy(cache *c, const char *path, char *msg, size_t msglen)
{
	char *tmp;
	int fd, rc = 0;

	if (!c || !path || !*path)
		return fail(msg, msglen, KGEN_EINVAL, "cache_copy: no handle or path");
	if (!(tmp = malloc(strlen(path) + 8)))
		return fail(msg, msglen, KGEN_ENOMEM, "out of memory");
	sprintf(tmp, "%s.XXXXXX", path);	/* beside path: rename stays atomic */
	if ((fd = mkstemp(tmp)) < 0) {
		rc = fail(msg, msglen, KGEN_ECACHE, "cannot create '%s': %s", tmp,
		    strerror(errno));
		free(tmp);
		return rc;
	}
	/* the copy runs its own read txn: no resize meanwhile */
	pthread_rwlock_rdlock(&c->lock);
	rc = mdb_env_copyfd2(c->env, fd, MDB_CP_COMPACT);
	pthread_rwlock_unlock(&c->lock);
	if (!rc && fchmod(fd, 0644))
		rc = errno;
	if (!rc && fsync(fd))
		rc = errno;
	if (close(fd) && !rc)
		rc = errno;
	if (!rc && rename(tmp, path))
		rc = errno;
	if (rc) {
		unlink(tmp);
		rc = fail(msg, msglen, rc == ENOMEM ? KGEN_ENOMEM : KGEN_ECACHE,
		    "cannot write '%s': %s", path, mdb_strerror(rc));
	}
	free(tmp);
	return rc;
}

/* Common argument checks; sets *i to the index of db. Returns 0 or a KGEN
 * code with msg filled. */
static int check(cache *c, const char *db, int *i, const void *key,
    size_t klen, int mode, char *msg, size_t msglen)
{
	size_t max;

	if (!c)
		return fail(msg, msglen, KGEN_EINVAL, "no cache handle");
	for (*i = 0; *i < NDBS && (!db || strcmp(db, db_names[*i])); ++*i)
		;
	if (*i == NDBS)
		return fail(msg, msglen, KGEN_EINVAL, "unknown cache database '%s'",
		    db ? db : "(null)");
	if (!(db_kinds[*i] & c->kind))
		return fail(msg, msglen, KGEN_EINVAL, "a %s has no database '%s'",
		    c->noun, db);
	if ((!key && klen) || (!klen && !(mode & PREFIX)))
		return fail(msg, msglen, KGEN_EINVAL, "empty cache key");
	if (klen > (max = (size_t)mdb_env_get_maxkeysize(c->env)))
		return fail(msg, msglen, KGEN_EINVAL,
		    "cache key too long (%zu bytes, at most %zu)", klen, max);
	if ((mode & WRITE) && c->readonly)
		return fail(msg, msglen, KGEN_ECACHE, "%s '%s' is opened read-only",
		    c->noun, c->dir);
	return 0;
}

int cache_get(cache *c, const char *db, const void *key, size_t klen,
              void **val, size_t *len, char *msg, size_t msglen)
{
	MDB_txn *txn;
	MDB_val k = { klen, (void *)key }, v;
	int rc, i;

	if (!val)
		return fail(msg, msglen, KGEN_EINVAL, "cache_get: no value pointer");
	*val = NULL;
	if (len)
		*len = 0;
	if ((rc = check(c, db, &i, key, klen, 0, msg, msglen)))
		return rc;
	if (!c->have[i])
		return mdb_fail(c, MDB_NOTFOUND, "read", db, msg, msglen);
	if ((rc = txn_begin(c, MDB_RDONLY, &txn)))
		return mdb_fail(c, rc, "read", db, msg, msglen);
	/* copy before the txn ends: v points into the map */
	if (!(rc = mdb_get(txn, c->dbi[i], &k, &v)) && !(*val = malloc(v.mv_size + 1)))
		rc = ENOMEM;
	if (!rc) {
		memcpy(*val, v.mv_data, v.mv_size);
		((char *)*val)[v.mv_size] = '\0';
		if (len)
			*len = v.mv_size;
	}
	txn_done(c, txn);
	return rc ? mdb_fail(c, rc, "read", db, msg, msglen) : KGEN_SUCCESS;
}

/* A write of write_txn(): put_fn() and best_fn(). */
struct put_arg {
	int i;		/* db index */
	MDB_val k, v;
	int replaced;	/* best_fn(): v was stored */
};

static int put_fn(cache *c, MDB_txn *txn, void *arg)
{
	struct put_arg *a = arg;

	return mdb_put(txn, c->dbi[a->i], &a->k, &a->v, 0);
}

int cache_put(cache *c, const char *db, const void *key, size_t klen,
              const void *val, size_t len, char *msg, size_t msglen)
{
	struct put_arg a = { 0, { klen, (void *)key }, { len, (void *)val }, 0 };
	int rc;

	if ((rc = check(c, db, &a.i, key, klen, WRITE, msg, msglen)))
		return rc;
	if (!val && len)
		return fail(msg, msglen, KGEN_EINVAL, "cache_put: no value");
	if (!val)
		a.v.mv_data = "";	/* an empty value still needs a pointer */
	if ((rc = write_txn(c, put_fn, &a)))
		return mdb_fail(c, rc, "write", db, msg, msglen);
	return KGEN_SUCCESS;
}

int cache_scan(cache *c, const char *db, const void *prefix, size_t plen,
               cache_visit_fn fn, void *arg, char *msg, size_t msglen)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k = { plen, (void *)prefix }, v;
	MDB_cursor_op op = plen ? MDB_SET_RANGE : MDB_FIRST;
	int rc, i;

	if ((rc = check(c, db, &i, prefix, plen, PREFIX, msg, msglen)))
		return rc;
	if (!fn)
		return fail(msg, msglen, KGEN_EINVAL, "cache_scan: no callback");
	if (!c->have[i])
		return KGEN_SUCCESS;	/* readonly cache without this DB */
	if ((rc = txn_begin(c, MDB_RDONLY, &txn)))
		return mdb_fail(c, rc, "scan", db, msg, msglen);
	if ((rc = mdb_cursor_open(txn, c->dbi[i], &cur))) {
		txn_done(c, txn);
		return mdb_fail(c, rc, "scan", db, msg, msglen);
	}
	/* SET_RANGE: the first key >= prefix; k then holds the key found */
	while (!(rc = mdb_cursor_get(cur, &k, &v, op)) && k.mv_size >= plen &&
	    (!plen || !memcmp(k.mv_data, prefix, plen)) &&	/* prefix may be NULL */
	    !fn(k.mv_data, k.mv_size, v.mv_data, v.mv_size, arg))
		op = MDB_NEXT;
	mdb_cursor_close(cur);
	txn_done(c, txn);
	if (rc && rc != MDB_NOTFOUND)
		return mdb_fail(c, rc, "scan", db, msg, msglen);
	return KGEN_SUCCESS;
}

/* Find field k in rec[0..n): *v and *vlen get its value (to end of line). */
static int rec_find(const char *rec, size_t n, const char *k,
    const char **v, size_t *vlen)
{
	const char *p = rec, *end = rec + n, *nl, *eol;
	size_t kl = strlen(k);

	for (; p < end; p = nl ? nl + 1 : end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		eol = nl ? nl : end;
		/* the exact key: "time" must not match "time_us=" */
		if ((size_t)(eol - p) > kl && !memcmp(p, k, kl) && p[kl] == '=') {
			*v = p + kl + 1;
			*vlen = (size_t)(eol - *v);
			return 0;
		}
	}
	return KGEN_ENOTFOUND;
}

int rec_get(const char *rec, const char *k, char *out, size_t len)
{
	const char *v;
	size_t vlen;

	if (!rec || !k)
		return KGEN_EINVAL;
	if (rec_find(rec, strlen(rec), k, &v, &vlen))
		return KGEN_ENOTFOUND;
	if (out && len) {
		vlen = vlen < len - 1 ? vlen : len - 1;
		memcpy(out, v, vlen);
		out[vlen] = '\0';
	}
	return KGEN_SUCCESS;
}

/* Parse the time_us field, digits [. digits], by hand so that the process's
 * LC_NUMERIC cannot change the result. Returns 1 if present and valid. */
static int rec_time(const char *rec, size_t n, double *t)
{
	const char *v;
	size_t vlen, j;
	double scale = 1;
	int digits = 0, dot = 0;

	if (rec_find(rec, n, "time_us", &v, &vlen))
		return 0;
	for (*t = 0, j = 0; j < vlen; j++) {
		if (v[j] == '.' && !dot) {
			dot = 1;
			continue;
		}
		if (v[j] < '0' || v[j] > '9')
			return 0;
		digits++;
		if (dot)
			*t += (v[j] - '0') * (scale /= 10);
		else
			*t = *t * 10 + (v[j] - '0');
	}
	return digits > 0;
}

/* Does rec (n bytes) replace old (m bytes)? See cache_put_best(). */
static int rec_wins(const char *rec, size_t n, const char *old, size_t m)
{
	const char *s1, *s2;
	size_t l1, l2;
	int h1, h2;
	double t1, t2;

	h1 = !rec_find(rec, n, "stamp", &s1, &l1);
	h2 = !rec_find(old, m, "stamp", &s2, &l2);
	if (h1 != h2 || (h1 && (l1 != l2 || memcmp(s1, s2, l1))))
		return 1;	/* another template or kgen version */
	h1 = rec_time(rec, n, &t1);
	h2 = rec_time(old, m, &t2);
	if (!h2 || !h1)
		return !h2;	/* timed beats untimed; both untimed: the new one */
	return t1 < t2;	/* a tie keeps the record already there */
}

static int best_fn(cache *c, MDB_txn *txn, void *arg)
{
	struct put_arg *a = arg;
	MDB_val old;
	int rc;

	a->replaced = 0;	/* this may be a retry after a resize */
	rc = mdb_get(txn, c->dbi[a->i], &a->k, &old);
	if (rc && rc != MDB_NOTFOUND)
		return rc;
	if (!rc && !rec_wins(a->v.mv_data, a->v.mv_size, old.mv_data, old.mv_size))
		return 0;	/* committing an unchanged txn writes nothing */
	if ((rc = mdb_put(txn, c->dbi[a->i], &a->k, &a->v, 0)))
		return rc;
	a->replaced = 1;
	return 0;
}

int cache_put_best(cache *c, const char *key, const char *rec, int *replaced,
                   char *msg, size_t msglen)
{
	struct put_arg a;
	int rc;

	if (replaced)
		*replaced = 0;
	if ((rc = check(c, "best", &a.i, key, key ? strlen(key) : 0, WRITE, msg, msglen)))
		return rc;
	if (!rec)
		return fail(msg, msglen, KGEN_EINVAL, "cache_put_best: no record");
	a.k.mv_size = strlen(key);
	a.k.mv_data = (void *)key;
	a.v.mv_size = strlen(rec);	/* stored without the NUL: mdb_dump shows text */
	a.v.mv_data = (void *)rec;
	if ((rc = write_txn(c, best_fn, &a)))
		return mdb_fail(c, rc, "write", "best", msg, msglen);
	if (replaced)
		*replaced = a.replaced;
	return KGEN_SUCCESS;
}
