/* fuzz_cache.c: libFuzzer harness for the cache reader. An input is a list
 * of entries, fields separated by 0xff bytes: a control byte, a key and a
 * value, again and again. The control byte picks the database ("best",
 * "cubin", "trial": its value mod 3) and whether the value is stored as
 * the cache stores it (bit 0x80: with its checksum, so that the record
 * parsers behind the check are reached) or as raw bytes (a damaged entry, or
 * one written by another program). The entries are written into a fresh
 * LMDB environment, which is then read as the runtime and the tuner read a
 * cache: cache_get and cache_scan of every database, kg_record_find and
 * kg_record_cubin for every problem key, cache_put_best over each record;
 * finally its data.mdb is cut short (the input's first byte says where)
 * and opened again, which must be refused or read cleanly.
 *
 * What is not fuzzed: a data.mdb whose B-tree pages are damaged inside
 * (not cut short). LMDB keeps no page checksums and promises nothing for
 * such a file (docs/cache.md); packs are covered by their digest instead
 * (fuzz_pack.c). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lmdb.h>

#include "cache.h"
#include "internal.h"

static char dir[64], file[96], lock_file[96];
static const char *const dbs[3] = {"best", "cubin", "trial"};

typedef struct field {
	const uint8_t *p;
	size_t n;
} field;

/* A scan's values are not NUL-terminated: only their bytes are read. */
static int visit(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	unsigned sum = 0;
	for (size_t i = 0; i < klen; i++)
		sum += ((const unsigned char *)key)[i];
	for (size_t i = 0; i < vlen; i++)
		sum += ((const unsigned char *)val)[i];
	*(unsigned *)arg += sum;
	return 0;
}

static void reset(void)
{
	unlink(file);
	unlink(lock_file);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int once;
	field f[96];
	int nf = 0;
	unsigned seen = 0;
	size_t start = 0;
	MDB_env *env;
	MDB_txn *txn;
	cache *c;
	if (!once) {
		snprintf(dir, sizeof dir, "/tmp/fuzz_cache.XXXXXX");
		if (!mkdtemp(dir))
			abort();
		snprintf(file, sizeof file, "%s/data.mdb", dir);
		snprintf(lock_file, sizeof lock_file, "%s/lock.mdb", dir);
		once = 1;
	}
	reset();
	for (size_t i = 0; i <= size && nf < 96; i++)
		if (i == size || data[i] == 0xff) {
			f[nf++] = (field){data + start, i - start};
			start = i + 1;
		}
	/* a fresh environment with the entries */
	if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 8) || mdb_env_set_mapsize(env, 16 << 20) ||
	    mdb_env_open(env, dir, 0, 0644) || mdb_txn_begin(env, NULL, 0, &txn))
		abort();
	for (int i = 0; i + 2 < nf; i += 3) {
		const int d = f[i].n ? f[i].p[0] % 3 : 0;
		MDB_dbi dbi;
		MDB_val k = {f[i + 1].n, (void *)f[i + 1].p}, v = {f[i + 2].n, (void *)f[i + 2].p};
		if (!k.mv_size || k.mv_size > 511 || mdb_dbi_open(txn, dbs[d], MDB_CREATE, &dbi))
			continue;
		if (f[i].n && (f[i].p[0] & 0x80))
			continue; /* stored below, with its checksum */
		mdb_put(txn, dbi, &k, &v, 0);
	}
	if (mdb_txn_commit(txn))
		abort();
	mdb_env_close(env);
	if (cache_open(&c, dir, 0))
		abort(); /* a whole environment must open */
	for (int i = 0; i + 2 < nf; i += 3)
		if (f[i].n && (f[i].p[0] & 0x80) && f[i + 1].n && f[i + 1].n <= 511)
			cache_put(c, dbs[f[i].p[0] % 3], f[i + 1].p, f[i + 1].n, f[i + 2].p, f[i + 2].n);
	cache_close(c);

	/* read it as the runtime and the tuner do */
	if (cache_open(&c, dir, 1))
		abort();
	for (int d = 0; d < 3; d++)
		cache_scan(c, dbs[d], NULL, 0, visit, &seen);
	for (int i = 0; i + 2 < nf; i += 3) {
		const char *db = dbs[f[i].n ? f[i].p[0] % 3 : 0];
		char key[KG_KEY_MAX + 1], *bar;
		void *v;
		size_t n;
		if (!f[i + 1].n || f[i + 1].n > 511)
			continue;
		if (!cache_get(c, db, f[i + 1].p, f[i + 1].n, &v, &n)) {
			char out[64];
			rec_get(v, "stamp", out, sizeof out);
			free(v);
		}
		if (strcmp(db, "best") || f[i + 1].n > KG_KEY_MAX)
			continue;
		/* the lookup of this key's problem, with the record's own stamp */
		memcpy(key, f[i + 1].p, f[i + 1].n);
		key[f[i + 1].n] = 0;
		if (strlen(key) == f[i + 1].n && (bar = strrchr(key, '|')) && bar[1] == 'r') {
			kg_record r;
			char stamp[128] = "";
			void *cubin;
			if (!cache_get(c, "best", key, strlen(key), &v, &n)) {
				rec_get(v, "stamp", stamp, sizeof stamp);
				free(v);
			}
			bar[2] = 0;
			if (!kg_record_find(c, NULL, key, 1 + (long long)(f[i].p[0] & 0x3f), stamp, 13000, &r) &&
			    !kg_record_cubin(&r, &cubin, &n))
				free(cubin);
			kg_record_free(&r);
		}
	}
	cache_close(c);
	/* put_best over records that may be damaged */
	if (!cache_open(&c, dir, 0)) {
		for (int i = 0; i + 2 < nf; i += 3) {
			char key[512], rec[256];
			if (!f[i].n || f[i].p[0] % 3 || !f[i + 1].n || f[i + 1].n > 511 || memchr(f[i + 1].p, 0, f[i + 1].n))
				continue;
			memcpy(key, f[i + 1].p, f[i + 1].n);
			key[f[i + 1].n] = 0;
			snprintf(rec, sizeof rec, "time_us=%d\nstamp=s\n", f[i].p[0]);
			cache_put_best(c, key, rec, NULL);
		}
		cache_close(c);
	}
	/* cut short: refused or read, never a fault */
	{
		struct stat st;
		if (!stat(file, &st) && st.st_size > 0 && size) {
			off_t cut = (off_t)((unsigned long long)st.st_size * data[0] / 256);
			if (truncate(file, cut))
				abort();
			if (!cache_open(&c, dir, 1)) {
				for (int d = 0; d < 3; d++)
					cache_scan(c, dbs[d], NULL, 0, visit, &seen);
				cache_close(c);
			} else if (!strstr(kgen_last_error(), dir)) {
				abort();
			}
		}
	}
	return 0;
}
