/* cache.h: the LMDB tuning cache, and packs.
 *
 * One LMDB environment (a directory) with three named databases:
 *   "best"   problem key (text)            -> record (text, "k=v\n" lines)
 *   "cubin"  variant hash (16 hex digits)  -> cubin bytes
 *   "trial"  problem key "\x1f" config     -> trial record (text, "k=v\n" lines)
 * Keys and records are plain text so that `mdb_dump -p` shows them.
 *
 * A pack (docs/packs.md) is the same kind of environment with "best" and
 * "cubin", plus "sum" (variant hash -> the cubin's checksum) and "meta"
 * (name -> value); it is built in a directory and written out as one
 * compacted, read-only file (cache_copy), which CACHE_PACK | CACHE_RDONLY
 * opens.
 *
 * Many processes may open one cache and write at once: LMDB serializes
 * writers. A full map is grown (doubled) and the write retried, in this
 * process; another process's growth is picked up (MDB_MAP_RESIZED).
 *
 * Every function returns 0 or a negative KGEN_E* code (kgen.h) and, on
 * failure, leaves its message in the thread's error detail
 * (kgen_last_error(), base/err.h).
 */
#ifndef KGEN_CACHE_H
#define KGEN_CACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct cache cache;

/* Resolve the default cache directory: $KGEN_CACHE_DIR, else
 * $XDG_CACHE_HOME/kgen, else $HOME/.cache/kgen. Writes at most len bytes.
 * Returns 0, or KGEN_EINVAL when none can be formed. */
int cache_default_dir(char *buf, size_t len);

/* Open (creating the directory and its parents when create != 0) the cache
 * in dir; dir NULL means cache_default_dir(). readonly != 0 opens with
 * MDB_RDONLY and never creates. */
int cache_open(cache **c, const char *dir, int readonly);

/* The pack format this build writes and reads (the pack trailer's and
 * the "format" of the meta database: KG_PACK_FORMAT in internal.h). */
#define CACHE_PACK_FORMAT	2
#define PACK_TRAILER	64	/* bytes after a pack's LMDB data */

/* Flags of cache_open_flags(). Before LMDB sees a file, the file is
 * checked: it must be a regular file (opened without blocking: a FIFO is
 * refused, not waited on) and its size must hold every page its LMDB header
 * claims; a pack must also end with the pack trailer of this format, and
 * the SHA-256 of its data must match the trailer's. A failed check is
 * KGEN_ECACHE with the message naming the file and the reason. */
#define CACHE_RDONLY	1u	/* as readonly != 0 above */
#define CACHE_PACK	2u	/* the databases of a pack; with CACHE_RDONLY,
				 * path is a pack file (MDB_NOSUBDIR | MDB_NOLOCK:
				 * no lock file, nothing may write it meanwhile) */
/* cache_open() with flags; messages then say "pack" for CACHE_PACK. */
int cache_open_flags(cache **c, const char *path, unsigned flags);
void cache_close(cache *c);
const char *cache_dir(const cache *c);

/* Write a compacted copy of the environment to the single file path
 * (a temporary file beside it, renamed over path when complete); for the
 * databases of a pack (CACHE_PACK), followed by the pack trailer: the
 * format, the length of the LMDB data and its SHA-256 (docs/packs.md).
 * Returns 0, KGEN_ENOMEM or KGEN_ECACHE. */
int cache_copy(cache *c, const char *path);

/* Write the trailer of the pack file path anew over the LMDB data it holds
 * (replacing the trailer there is): for tests that damage an entry inside a
 * pack. 0 or KGEN_ECACHE. */
int cache_pack_seal(const char *path);

/* Every value is stored with a checksum (a trailing "sha256=<hex>\n" over
 * the database, the key and the value, docs/cache.md): cache_put and
 * cache_put_best add it, cache_get and cache_scan check and strip it. An
 * entry that fails is never handed out: cache_get returns KGEN_ECACHE,
 * cache_scan skips it; both count it for cache_damaged().
 *
 * Generic get/put in one named database ("best", "cubin", "trial"; in a
 * pack "best", "cubin", "sum", "meta"; another is KGEN_EINVAL).
 * cache_get returns a malloc'd copy in *val (NUL-terminated one byte past
 * *len, for text) or KGEN_ENOTFOUND. */
int cache_get(cache *c, const char *db, const void *key, size_t klen,
              void **val, size_t *len);
int cache_put(cache *c, const char *db, const void *key, size_t klen,
              const void *val, size_t len);

/* Call fn for every entry of db whose key starts with prefix (plen bytes;
 * plen 0 visits all), in key order. fn returns 0 to go on, non-zero to stop.
 * The pointers passed to fn are valid only during the call. */
typedef int (*cache_visit_fn)(const void *key, size_t klen, const void *val,
                              size_t vlen, void *arg);
int cache_scan(cache *c, const char *db, const void *prefix, size_t plen,
               cache_visit_fn fn, void *arg);

/* Store rec as the best record of key, in one write transaction, unless the
 * record already there is better: a record with a "time_us" field beats one
 * without; between two timed records the smaller time_us wins; a record
 * whose "stamp" field differs from rec's (another template or kgen version)
 * is always replaced. *replaced (may be NULL) says whether rec was stored. */
int cache_put_best(cache *c, const char *key, const char *rec, int *replaced);
/* cache_put_best, where the stored record is also replaced when
 * outdated(old, arg) is non-zero: old is its text (NUL-terminated),
 * decided in the same write transaction as the put (no other writer can
 * store a record in between). outdated may be NULL. */
typedef int (*cache_outdated_fn)(const char *old, void *arg);
int cache_put_best_if(cache *c, const char *key, const char *rec, cache_outdated_fn outdated, void *arg,
                      int *replaced);

/* The number of entries this handle has found damaged (or without a
 * checksum) so far; the first is named in first ("best 'key'"). */
int cache_damaged(cache *c, char *first, size_t len);

/* Records are read and written by base/record.h (rec_get, kg_best). */
#include "record.h"

#endif
