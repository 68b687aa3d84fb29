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
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lmdb.h>
#include <sha2.h>	/* libmd (BSD): SHA-256, linked statically */

#include "cache.h"
#include "err.h"
#include "record.h"

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
	atomic_int damaged;	/* entries that failed their checksum */
	pthread_mutex_t first_lock;
	char first[200];	/* the first of them, "db 'key'" */
};

/* Report LMDB (or errno) error rc of operation what ("read" ...) on db. */
static int mdb_fail(cache *c, int rc, const char *what, const char *db)
{
	if (rc == MDB_NOTFOUND)
		return kg_err(KGEN_ENOTFOUND, "no such key in %s of %s '%s'",
		    db, c->noun, c->dir);
	return kg_err(rc == ENOMEM ? KGEN_ENOMEM :
	    rc == MDB_BAD_VALSIZE ? KGEN_EINVAL : KGEN_ECACHE,
	    "cannot %s %s of %s '%s': %s", what, db, c->noun, c->dir, mdb_strerror(rc));
}

/* ---- integrity: the file before LMDB opens it, and each entry ---- */

/* The layout of LMDB's meta pages (liblmdb's MDB_page header and MDB_meta,
 * data version 1, on a 64-bit host), read here from the file with bounds
 * checks so that nothing LMDB would read lies past the end of the file. */
#define LMDB_PAGEHDR	16
#define META_FLAGS	10	/* uint16: page flags, P_META (0x08) */
#define META_MAGIC	16	/* uint32: 0xBEEFC0DE */
#define META_VERSION	20	/* uint32: 1 */
#define META_MAPSIZE	32	/* size_t */
#define META_DB0	40	/* two MDB_db of 48 bytes: free and main */
#define DB_SIZE		48
#define DB_ROOT		40	/* pgno_t, in an MDB_db */
#define META_LASTPG	136	/* pgno_t */
#define META_TXNID	144	/* txnid_t */
#define META_END	152
#define P_META_FLAG	0x08

/* A pack ends with this trailer (PACK_TRAILER bytes), after the LMDB data,
 * which LMDB never reads: */
#define PACK_MAGIC	"KGENPACK"	/* 0: 8 bytes */
					/* 8: uint32 LE, the pack format */
					/* 12: uint32 LE, 0 */
					/* 16: uint64 LE, bytes of LMDB data before it */
					/* 24: SHA-256 of those bytes */
#define PACK_END	"KGENEND\n"	/* 56: 8 bytes */

static uint64_t le64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++, v >>= 8)
		p[i] = (unsigned char)v;
}

static void hexify(const unsigned char *d, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[d[i] >> 4];
		out[2 * i + 1] = hx[d[i] & 15];
	}
	out[2 * n] = '\0';
}

/* Read exactly n bytes at off; 0, or -1 (errno set; EIO at end of file). */
static int read_at(int fd, void *buf, size_t n, off_t off)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = pread(fd, (char *)buf + got, n - got, off + (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (!r)
				errno = EIO;
			return -1;
		}
		got += (size_t)r;
	}
	return 0;
}

/* SHA-256 of the first n bytes of fd. 0 or -1 (errno). */
static int sha256_fd(int fd, uint64_t n, unsigned char out[SHA256_DIGEST_LENGTH])
{
	static const size_t chunk = 1 << 20;
	unsigned char *buf = malloc(chunk);
	SHA2_CTX ctx;
	uint64_t off = 0;

	if (!buf) {
		errno = ENOMEM;
		return -1;
	}
	SHA256Init(&ctx);
	while (off < n) {
		size_t k = n - off < chunk ? (size_t)(n - off) : chunk;
		if (read_at(fd, buf, k, (off_t)off)) {
			free(buf);
			return -1;
		}
		SHA256Update(&ctx, buf, k);
		off += k;
	}
	SHA256Final(out, &ctx);
	free(buf);
	return 0;
}

/* Check one meta page (m: META_END bytes); the page size goes to *psize.
 * Returns NULL or why not. */
static const char *meta_check(const unsigned char *m, uint32_t *psize)
{
	uint32_t magic, version;

	memcpy(&magic, m + META_MAGIC, 4);
	memcpy(&version, m + META_VERSION, 4);
	memcpy(psize, m + META_DB0, 4);
	if (magic != 0xBEEFC0DEu)
		return "not an LMDB file (no LMDB magic)";
	if (!(m[META_FLAGS] & P_META_FLAG) || version != 1)
		return "damaged LMDB header";
	if (*psize < 512 || *psize > 65536 || (*psize & (*psize - 1)))
		return "damaged LMDB header (page size)";
	return NULL;
}

/* Check the file of a pack (pack != 0: the trailer, the size, the digest)
 * or the data.mdb of a cache (the size) before LMDB opens it, from an fd
 * opened without blocking (a FIFO must not hang the reader). st gets the
 * file's identity. Returns 0 or KGEN_ECACHE with the message (kg_err) saying why. */
static int file_check(const char *path, const char *noun, int pack, struct stat *st)
{
	unsigned char m[2][META_END], tr[PACK_TRAILER];
	uint64_t size, data, need = 0, best_txn = 0;
	uint32_t psize[2], format;
	const char *why = NULL;
	char got[65], want[65];
	int fd, rc = KGEN_ECACHE, notrailer = 0;

	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)) < 0)
		return kg_err(errno == ENOMEM ? KGEN_ENOMEM : KGEN_ECACHE,
		    "cannot open %s '%s': %s", noun, path, strerror(errno));
	if (fstat(fd, st)) {
		kg_err(rc, "cannot open %s '%s': %s", noun, path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st->st_mode)) {
		kg_err(rc, "cannot open %s '%s': not a regular file", noun, path);
		goto out;
	}
	size = (uint64_t)st->st_size;
	data = size;
	if (pack && (size < PACK_TRAILER || read_at(fd, tr, PACK_TRAILER, (off_t)(size - PACK_TRAILER)) ||
	    memcmp(tr, PACK_MAGIC, 8) || memcmp(tr + 56, PACK_END, 8))) {
		/* no trailer: a pack of format 1 (a whole LMDB file), or a pack
		 * cut short (the header below tells), or no pack at all */
		notrailer = 1;
	} else if (pack) {
		format = (uint32_t)tr[8] | (uint32_t)tr[9] << 8 | (uint32_t)tr[10] << 16 |
		    (uint32_t)tr[11] << 24;
		if (format != CACHE_PACK_FORMAT) {
			kg_err(rc, "cannot open %s '%s': pack format %u, this build reads %d: "
			    "rebuild or re-export it", noun, path, format, CACHE_PACK_FORMAT);
			goto out;
		}
		data = le64(tr + 16);
		if (data != size - PACK_TRAILER) {
			kg_err(rc, "cannot open %s '%s': truncated or extended (%llu bytes of "
			    "data, its trailer says %llu)", noun, path,
			    (unsigned long long)(size - PACK_TRAILER), (unsigned long long)data);
			goto out;
		}
	}
	/* both meta pages, as LMDB reads them: the first at 0, the second one
	 * page (the first's page size) further */
	if (data < META_END || read_at(fd, m[0], META_END, 0) || (why = meta_check(m[0], &psize[0]))) {
		if (notrailer)
			kg_err(rc, "cannot open %s '%s': not a kgen pack, or truncated (no pack "
			    "trailer at its end, no LMDB header; %llu bytes)", noun, path,
			    (unsigned long long)size);
		else if (data < META_END)
			kg_err(rc, "cannot open %s '%s': truncated (%llu bytes, no LMDB header)",
			    noun, path, (unsigned long long)data);
		else
			kg_err(rc, "cannot open %s '%s': %s", noun, path, why);
		goto out;
	}
	if (data < (uint64_t)psize[0] + META_END || read_at(fd, m[1], META_END, psize[0])) {
		kg_err(rc, "cannot open %s '%s': truncated (%llu bytes, the second LMDB "
		    "header is missing)", noun, path, (unsigned long long)data);
		goto out;
	}
	if ((why = meta_check(m[1], &psize[1])) || psize[1] != psize[0]) {
		kg_err(rc, "cannot open %s '%s': %s", noun, path,
		    why ? why : "damaged LMDB header (page sizes differ)");
		goto out;
	}
	/* every meta's last page and roots lie inside the file; the newer
	 * one (LMDB's choice) decides the size the data must have */
	for (int i = 0; i < 2; i++) {
		uint64_t last = le64(m[i] + META_LASTPG), txn = le64(m[i] + META_TXNID), n;
		if (last >= UINT64_MAX / psize[0]) {
			kg_err(rc, "cannot open %s '%s': damaged LMDB header (last page %llu)",
			    noun, path, (unsigned long long)last);
			goto out;
		}
		n = (last + 1) * psize[0];
		for (int d = 0; d < 2; d++) {
			uint64_t root = le64(m[i] + META_DB0 + d * DB_SIZE + DB_ROOT);
			if (root != UINT64_MAX && (root < 2 || root > last)) {
				kg_err(rc, "cannot open %s '%s': damaged LMDB header (root page "
				    "%llu of %llu)", noun, path, (unsigned long long)root,
				    (unsigned long long)last + 1);
				goto out;
			}
		}
		if (n > data) {
			kg_err(rc, "cannot open %s '%s': truncated (%llu bytes, its header "
			    "says %llu)", noun, path, (unsigned long long)data, (unsigned long long)n);
			goto out;
		}
		if (le64(m[i] + META_MAPSIZE) < n) {
			kg_err(rc, "cannot open %s '%s': damaged LMDB header (map size)",
			    noun, path);
			goto out;
		}
		if (!i || txn > best_txn) {
			best_txn = txn;
			need = n;
		}
	}
	if (notrailer) {
		if (need == data)
			kg_err(rc, "cannot open %s '%s': pack format 1, this build reads %d: "
			    "rebuild or re-export it", noun, path, CACHE_PACK_FORMAT);
		else
			kg_err(rc, "cannot open %s '%s': not a kgen pack, or truncated (no pack "
			    "trailer at its end; %llu bytes)", noun, path, (unsigned long long)size);
		goto out;
	}
	if (pack && need != data) {
		kg_err(rc, "cannot open %s '%s': %llu bytes of data, its header says %llu",
		    noun, path, (unsigned long long)data, (unsigned long long)need);
		goto out;
	}
	if (pack) {
		unsigned char d[SHA256_DIGEST_LENGTH];
		if (sha256_fd(fd, data, d)) {
			kg_err(errno == ENOMEM ? KGEN_ENOMEM : rc,
			    "cannot read %s '%s': %s", noun, path, strerror(errno));
			goto out;
		}
		if (memcmp(d, tr + 24, sizeof d)) {
			hexify(d, sizeof d, got);
			hexify(tr + 24, sizeof d, want);
			kg_err(rc, "cannot open %s '%s': damaged (sha256 %.16s..., its trailer "
			    "says %.16s...)", noun, path, got, want);
			goto out;
		}
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

/* Whether LMDB opened the very file that was checked (not one put in its
 * place meanwhile). */
static int same_file(MDB_env *env, const struct stat *st, int same_size)
{
	struct stat now;
	int fd;
	/* (the modification time too: a rewrite in place of the same size) */
	return !mdb_env_get_fd(env, &fd) && !fstat(fd, &now) && now.st_dev == st->st_dev &&
	    now.st_ino == st->st_ino && (!same_size || (now.st_size == st->st_size &&
	    now.st_mtim.tv_sec == st->st_mtim.tv_sec && now.st_mtim.tv_nsec == st->st_mtim.tv_nsec));
}

/* Each stored value carries ENTRY_TRAILER bytes after its payload:
 * "sha256=<64 hex digits>\n", the SHA-256 of the database name, its NUL,
 * the key's length (8 bytes, little-endian), the key and the payload. A
 * record so stays "k=v" text (mdb_dump shows the sum as a field), and an
 * entry moved under another key or database fails its check too. */
#define ENTRY_TRAILER	72

static void entry_sum(const char *db, const void *key, size_t klen, const void *val,
    size_t len, char hex[65])
{
	unsigned char d[SHA256_DIGEST_LENGTH], kl[8];
	SHA2_CTX ctx;

	put_le64(kl, klen);
	SHA256Init(&ctx);
	SHA256Update(&ctx, (const unsigned char *)db, strlen(db) + 1);
	SHA256Update(&ctx, kl, 8);
	SHA256Update(&ctx, key, klen);
	SHA256Update(&ctx, val, len);
	SHA256Final(d, &ctx);
	hexify(d, sizeof d, hex);
}

/* A malloc'd copy of val with its trailer; NULL when out of memory. */
static void *seal(const char *db, const void *key, size_t klen, const void *val, size_t len)
{
	char *v, hex[65];

	if (len > SIZE_MAX - ENTRY_TRAILER - 1 || !(v = malloc(len + ENTRY_TRAILER + 1)))
		return NULL;
	if (len)
		memcpy(v, val, len);
	entry_sum(db, key, klen, val, len, hex);
	snprintf(v + len, ENTRY_TRAILER + 1, "sha256=%s\n", hex);
	return v;
}

/* Check a stored value v (n bytes); its payload's length goes to *len.
 * 0: good; 1: no trailer; 2: the sum does not match. */
static int unseal(const char *db, const void *key, size_t klen, const void *v, size_t n,
    size_t *len)
{
	const char *t;
	char hex[65];

	*len = 0;
	if (n < ENTRY_TRAILER)
		return 1;
	t = (const char *)v + n - ENTRY_TRAILER;
	if (memcmp(t, "sha256=", 7) || t[ENTRY_TRAILER - 1] != '\n')
		return 1;
	entry_sum(db, key, klen, v, n - ENTRY_TRAILER, hex);
	if (memcmp(t + 7, hex, 64))
		return 2;
	*len = n - ENTRY_TRAILER;
	return 0;
}

/* Count a damaged entry; the first is remembered for cache_damaged(). */
static void damaged(cache *c, const char *db, const void *key, size_t klen)
{
	if (atomic_fetch_add(&c->damaged, 1))
		return;
	pthread_mutex_lock(&c->first_lock);
	{
		char k[128];
		size_t n = klen < sizeof k - 1 ? klen : sizeof k - 1;
		for (size_t i = 0; i < n; i++) {
			unsigned char ch = ((const unsigned char *)key)[i];
			k[i] = ch < 0x20 || ch > 0x7e ? '?' : (char)ch;
		}
		k[n] = '\0';
		snprintf(c->first, sizeof c->first, "%s '%s%s'", db, k, klen > n ? "..." : "");
	}
	pthread_mutex_unlock(&c->first_lock);
}

int cache_damaged(cache *c, char *first, size_t len)
{
	int n;

	if (!c)
		return 0;
	n = atomic_load(&c->damaged);
	if (first && len) {
		pthread_mutex_lock(&c->first_lock);
		snprintf(first, len, "%s", n ? c->first : "");
		pthread_mutex_unlock(&c->first_lock);
	}
	return n;
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

int cache_open(cache **cp, const char *dir, int readonly)
{
	return cache_open_flags(cp, dir, readonly ? CACHE_RDONLY : 0);
}

int cache_open_flags(cache **cp, const char *dir, unsigned flags)
{
	char def[4096], *data = NULL;
	struct stat st;
	int checked = 0;
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
		return kg_err(KGEN_EINVAL, "cache_open: no handle pointer");
	*cp = NULL;
	if (!dir && kind == IN_PACK)
		return kg_err(KGEN_EINVAL, "no pack file named");
	if (!dir && cache_default_dir(def, sizeof(def)))
		return kg_err(KGEN_EINVAL,
		    "cannot find cache directory: set KGEN_CACHE_DIR or HOME");
	if (!dir)
		dir = def;
	if (!*dir)
		return kg_err(KGEN_EINVAL, "%s %s is empty", noun,
		    kind == IN_PACK ? "file name" : "directory");
	if (!(c = calloc(1, sizeof(*c))) || !(c->dir = strdup(dir))) {
		free(c);
		return kg_err(KGEN_ENOMEM, "out of memory");
	}
	c->readonly = readonly;
	c->kind = kind;
	c->noun = noun;
	atomic_init(&c->damaged, 0);
	pthread_mutex_init(&c->first_lock, NULL);
	pthread_rwlockattr_init(&attr);
#ifdef __GLIBC__
	/* glibc prefers readers by default: a resize could starve */
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
	rc = pthread_rwlock_init(&c->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	if (rc) {
		pthread_mutex_destroy(&c->first_lock);
		free(c->dir);
		free(c);
		return kg_err(KGEN_ENOMEM, "cannot create lock: %s", strerror(rc));
	}

	if (!readonly && (rc = mkdirs(dir))) {
		rc = kg_err(KGEN_ECACHE,
		    "cannot create %s directory '%s': %s", noun, dir, strerror(rc));
		goto out;
	}
	/* LMDB promises nothing for a damaged file: check it first. A pack is
	 * checked whole; a cache's data.mdb (when there is one) for its type
	 * and its size against its header. */
	if (envflags & MDB_NOSUBDIR) {
		if ((rc = file_check(dir, noun, 1, &st)))
			goto out;
		checked = 1;
	} else if (asprintf(&data, "%s/data.mdb", dir) < 0) {
		data = NULL;
		rc = kg_err(KGEN_ENOMEM, "out of memory");
		goto out;
	} else if (!lstat(data, &st) && (!S_ISREG(st.st_mode) || st.st_size > 0)) {
		if ((rc = file_check(data, noun, 0, &st)))
			goto out;
		checked = 1;
	}
	if ((rc = mdb_env_create(&c->env)) || (rc = mdb_env_set_maxdbs(c->env, NDBS)) ||
	    (rc = mdb_env_open(c->env, dir, envflags, 0644)))
		goto err;
	if (checked && !same_file(c->env, &st, kind == IN_PACK)) {
		rc = kg_err(KGEN_ECACHE, "cannot open %s '%s': the file changed while "
		    "it was being opened", noun, dir);
		goto out;
	}
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
	free(data);
	*cp = c;
	return KGEN_SUCCESS;

err:
	rc = kg_err(rc == ENOMEM ? KGEN_ENOMEM : KGEN_ECACHE,
	    "cannot open %s '%s': %s", noun, dir, mdb_strerror(rc));
out:
	free(data);
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
	pthread_mutex_destroy(&c->first_lock);
	free(c->dir);
	free(c);
}

const char *cache_dir(const cache *c)
{
	return c ? c->dir : NULL;
}

/* Append a pack's trailer to the LMDB data written to fd. 0 or errno. */
static int put_trailer(int fd)
{
	unsigned char tr[PACK_TRAILER] = { 0 };
	off_t end = lseek(fd, 0, SEEK_END);
	ssize_t w;

	if (end < 0)
		return errno;
	memcpy(tr, PACK_MAGIC, 8);
	tr[8] = CACHE_PACK_FORMAT & 0xff;
	tr[9] = (CACHE_PACK_FORMAT >> 8) & 0xff;
	put_le64(tr + 16, (uint64_t)end);
	if (sha256_fd(fd, (uint64_t)end, tr + 24))
		return errno;
	memcpy(tr + 56, PACK_END, 8);
	while ((w = pwrite(fd, tr, sizeof tr, end)) < 0 && errno == EINTR)
		;
	return w == (ssize_t)sizeof tr ? 0 : w < 0 ? errno : EIO;
}

int cache_pack_seal(const char *path)
{
	unsigned char tr[8];
	struct stat st;
	int fd, rc = 0;

	if ((fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC)) < 0)
		return kg_err(KGEN_ECACHE, "cannot open '%s': %s", path, strerror(errno));
	if (fstat(fd, &st))
		rc = errno;
	else if (!S_ISREG(st.st_mode))
		rc = EINVAL;
	/* drop the trailer there is, then write one over the data */
	else if (st.st_size >= PACK_TRAILER && !read_at(fd, tr, 8, st.st_size - PACK_TRAILER) &&
	    !memcmp(tr, PACK_MAGIC, 8) && ftruncate(fd, st.st_size - PACK_TRAILER))
		rc = errno;
	if (!rc)
		rc = put_trailer(fd);
	if (close(fd) && !rc)
		rc = errno;
	return rc ? kg_err(KGEN_ECACHE, "cannot write '%s': %s", path, strerror(rc)) : 0;
}

int cache_copy(cache *c, const char *path)
{
	char *tmp;
	int fd, rc = 0;

	if (!c || !path || !*path)
		return kg_err(KGEN_EINVAL, "cache_copy: no handle or path");
	if (!(tmp = malloc(strlen(path) + 8)))
		return kg_err(KGEN_ENOMEM, "out of memory");
	sprintf(tmp, "%s.XXXXXX", path);	/* beside path: rename stays atomic */
	if ((fd = mkstemp(tmp)) < 0) {
		rc = kg_err(KGEN_ECACHE, "cannot create '%s': %s", tmp,
		    strerror(errno));
		free(tmp);
		return rc;
	}
	/* the copy runs its own read txn: no resize meanwhile */
	pthread_rwlock_rdlock(&c->lock);
	rc = mdb_env_copyfd2(c->env, fd, MDB_CP_COMPACT);
	pthread_rwlock_unlock(&c->lock);
	if (!rc && c->kind == IN_PACK)
		rc = put_trailer(fd);
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
		rc = kg_err(rc == ENOMEM ? KGEN_ENOMEM : KGEN_ECACHE,
		    "cannot write '%s': %s", path, mdb_strerror(rc));
	}
	free(tmp);
	return rc;
}

/* Common argument checks; sets *i to the index of db. Returns 0 or a KGEN
 * code with the message set (kg_err). */
static int check(cache *c, const char *db, int *i, const void *key,
    size_t klen, int mode)
{
	size_t max;

	if (!c)
		return kg_err(KGEN_EINVAL, "no cache handle");
	for (*i = 0; *i < NDBS && (!db || strcmp(db, db_names[*i])); ++*i)
		;
	if (*i == NDBS)
		return kg_err(KGEN_EINVAL, "unknown cache database '%s'",
		    db ? db : "(null)");
	if (!(db_kinds[*i] & c->kind))
		return kg_err(KGEN_EINVAL, "a %s has no database '%s'",
		    c->noun, db);
	if ((!key && klen) || (!klen && !(mode & PREFIX)))
		return kg_err(KGEN_EINVAL, "empty cache key");
	if (klen > (max = (size_t)mdb_env_get_maxkeysize(c->env)))
		return kg_err(KGEN_EINVAL,
		    "cache key too long (%zu bytes, at most %zu)", klen, max);
	if ((mode & WRITE) && c->readonly)
		return kg_err(KGEN_ECACHE, "%s '%s' is opened read-only",
		    c->noun, c->dir);
	return 0;
}

int cache_get(cache *c, const char *db, const void *key, size_t klen,
              void **val, size_t *len)
{
	MDB_txn *txn;
	MDB_val k = { klen, (void *)key }, v;
	size_t n = 0;
	int rc, i, bad;

	if (!val)
		return kg_err(KGEN_EINVAL, "cache_get: no value pointer");
	*val = NULL;
	if (len)
		*len = 0;
	if ((rc = check(c, db, &i, key, klen, 0)))
		return rc;
	if (!c->have[i])
		return mdb_fail(c, MDB_NOTFOUND, "read", db);
	if ((rc = txn_begin(c, MDB_RDONLY, &txn)))
		return mdb_fail(c, rc, "read", db);
	/* check and copy before the txn ends: v points into the map */
	if (!(rc = mdb_get(txn, c->dbi[i], &k, &v)) &&
	    (bad = unseal(db, key, klen, v.mv_data, v.mv_size, &n))) {
		txn_done(c, txn);
		damaged(c, db, key, klen);
		return kg_err(KGEN_ECACHE, "entry of %s in %s '%s' %s", db, c->noun,
		    c->dir, bad == 1 ? "has no checksum (written by an older kgen, or damaged)" :
		    "does not match its checksum (damaged)");
	}
	if (!rc && !(*val = malloc(n + 1)))
		rc = ENOMEM;
	if (!rc) {
		memcpy(*val, v.mv_data, n);
		((char *)*val)[n] = '\0';
		if (len)
			*len = n;
	}
	txn_done(c, txn);
	return rc ? mdb_fail(c, rc, "read", db) : KGEN_SUCCESS;
}

/* A write of write_txn(): put_fn() and best_fn(). */
struct put_arg {
	int i;		/* db index */
	MDB_val k, v;
	int replaced;	/* best_fn(): v was stored */
	cache_outdated_fn outdated;	/* best_fn(): the stored record to replace anyway */
	void *outdated_arg;
};

static int put_fn(cache *c, MDB_txn *txn, void *arg)
{
	struct put_arg *a = arg;

	return mdb_put(txn, c->dbi[a->i], &a->k, &a->v, 0);
}

int cache_put(cache *c, const char *db, const void *key, size_t klen,
              const void *val, size_t len)
{
	struct put_arg a = { 0, { klen, (void *)key }, { len, (void *)val }, 0, NULL, NULL };
	int rc;

	if ((rc = check(c, db, &a.i, key, klen, WRITE)))
		return rc;
	if (!val && len)
		return kg_err(KGEN_EINVAL, "cache_put: no value");
	/* every value is stored with its checksum (unseal() on reading) */
	if (!(a.v.mv_data = seal(db, key, klen, val, len)))
		return kg_err(KGEN_ENOMEM, "out of memory");
	a.v.mv_size = len + ENTRY_TRAILER;
	rc = write_txn(c, put_fn, &a);
	free(a.v.mv_data);
	if (rc)
		return mdb_fail(c, rc, "write", db);
	return KGEN_SUCCESS;
}

int cache_scan(cache *c, const char *db, const void *prefix, size_t plen,
               cache_visit_fn fn, void *arg)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k = { plen, (void *)prefix }, v;
	MDB_cursor_op op = plen ? MDB_SET_RANGE : MDB_FIRST;
	size_t n;
	int rc, i;

	if ((rc = check(c, db, &i, prefix, plen, PREFIX)))
		return rc;
	if (!fn)
		return kg_err(KGEN_EINVAL, "cache_scan: no callback");
	if (!c->have[i])
		return KGEN_SUCCESS;	/* readonly cache without this DB */
	if ((rc = txn_begin(c, MDB_RDONLY, &txn)))
		return mdb_fail(c, rc, "scan", db);
	if ((rc = mdb_cursor_open(txn, c->dbi[i], &cur))) {
		txn_done(c, txn);
		return mdb_fail(c, rc, "scan", db);
	}
	/* SET_RANGE: the first key >= prefix; k then holds the key found.
	 * An entry that fails its checksum is counted and skipped. */
	while (!(rc = mdb_cursor_get(cur, &k, &v, op)) && k.mv_size >= plen &&
	    (!plen || !memcmp(k.mv_data, prefix, plen))) {	/* prefix may be NULL */
		op = MDB_NEXT;
		if (unseal(db, k.mv_data, k.mv_size, v.mv_data, v.mv_size, &n))
			damaged(c, db, k.mv_data, k.mv_size);
		else if (fn(k.mv_data, k.mv_size, v.mv_data, n, arg))
			break;
	}
	mdb_cursor_close(cur);
	txn_done(c, txn);
	if (rc && rc != MDB_NOTFOUND)
		return mdb_fail(c, rc, "scan", db);
	return KGEN_SUCCESS;
}

/* Does rec (n bytes) replace old (m bytes)? See cache_put_best(). */
static int rec_wins(const char *rec, size_t n, const char *old, size_t m)
{
	const char *s1, *s2;
	size_t l1, l2;
	int h1, h2;
	double t1, t2;

	h1 = !kg_rec_find(rec, n, "stamp", &s1, &l1);
	h2 = !kg_rec_find(old, m, "stamp", &s2, &l2);
	if (h1 != h2 || (h1 && (l1 != l2 || memcmp(s1, s2, l1))))
		return 1;	/* another template or kgen version */
	h1 = kg_rec_time(rec, n, &t1);
	h2 = kg_rec_time(old, m, &t2);
	if (!h2 || !h1)
		return !h2;	/* timed beats untimed; both untimed: the new one */
	return t1 < t2;	/* a tie keeps the record already there */
}

static int best_fn(cache *c, MDB_txn *txn, void *arg)
{
	struct put_arg *a = arg;
	MDB_val old;
	int rc;

	size_t n;

	a->replaced = 0;	/* this may be a retry after a resize */
	rc = mdb_get(txn, c->dbi[a->i], &a->k, &old);
	if (rc && rc != MDB_NOTFOUND)
		return rc;
	/* a record that fails its checksum is replaced, whatever it says */
	if (!rc && !unseal("best", a->k.mv_data, a->k.mv_size, old.mv_data, old.mv_size, &n) &&
	    !rec_wins(a->v.mv_data, a->v.mv_size - ENTRY_TRAILER, old.mv_data, n)) {
		char *text;
		int out = 0;
		if (a->outdated) {
			if (!(text = malloc(n + 1)))
				return ENOMEM;
			memcpy(text, old.mv_data, n);
			text[n] = 0;
			out = a->outdated(text, a->outdated_arg);
			free(text);
		}
		if (!out)
			return 0;	/* committing an unchanged txn writes nothing */
	}
	if ((rc = mdb_put(txn, c->dbi[a->i], &a->k, &a->v, 0)))
		return rc;
	a->replaced = 1;
	return 0;
}

int cache_put_best(cache *c, const char *key, const char *rec, int *replaced)
{
	return cache_put_best_if(c, key, rec, NULL, NULL, replaced);
}

int cache_put_best_if(cache *c, const char *key, const char *rec, cache_outdated_fn outdated, void *arg,
                      int *replaced)
{
	struct put_arg a;
	int rc;

	if (replaced)
		*replaced = 0;
	if ((rc = check(c, "best", &a.i, key, key ? strlen(key) : 0, WRITE)))
		return rc;
	if (!rec)
		return kg_err(KGEN_EINVAL, "cache_put_best: no record");
	a.k.mv_size = strlen(key);
	a.k.mv_data = (void *)key;
	/* stored without the NUL (mdb_dump shows text), with its checksum */
	if (!(a.v.mv_data = seal("best", key, a.k.mv_size, rec, strlen(rec))))
		return kg_err(KGEN_ENOMEM, "out of memory");
	a.v.mv_size = strlen(rec) + ENTRY_TRAILER;
	a.outdated = outdated;
	a.outdated_arg = arg;
	rc = write_txn(c, best_fn, &a);
	free(a.v.mv_data);
	if (rc)
		return mdb_fail(c, rc, "write", "best");
	if (replaced)
		*replaced = a.replaced;
	return KGEN_SUCCESS;
}
