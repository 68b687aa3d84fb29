/* packfile.h: reading and writing packs, for the `kgen pack` commands
 * (pack.c; the format is in docs/packs.md, the runtime's side in
 * runtime/packs.c).
 *
 * Functions return 0 or a negative KGEN_E* code and, on failure, leave the
 * message in kgen_last_error() (base/err.h); they print nothing.
 */
#ifndef KGEN_PACKFILE_H
#define KGEN_PACKFILE_H

#include <stddef.h>

#include "cache.h"
#include "defs.h"

/* This build's stamp for the template family of op; NULL for an unknown op. */
const char *pack_stamp(const char *op);
/* Whether rec (NUL-terminated) carries this build's stamp for its key
 * (split by kg_key_parse, base/defs.h). */
int pack_stamp_current(const kg_key *k, const char *rec);

/* Records copied out of a database (scan callbacks may not call back into
 * the cache, so the work happens after the scan). */
typedef struct pack_entry {
	char *key, *rec; /* NUL-terminated copies */
	size_t klen;
} pack_entry;
typedef struct pack_entries {
	pack_entry *v;
	int n, cap, oom;
} pack_entries;
/* Every entry of db, in key order. 0, KGEN_ENOMEM or the cache's code. */
int pack_read_all(cache *c, const char *db, pack_entries *l);
void pack_entries_free(pack_entries *l);

/* The cubin rec names (hex gets its variant hash), from c, the cache or
 * pack named where; a pack's is checked against its sum (kg_record_cubin). */
int pack_cubin(cache *c, int is_pack, const char *where, const char *rec, void **cubin, size_t *size,
               char hex[17]);

/* Append val to the sep-separated list unless it is in it already. */
void pack_add_distinct(char *list, size_t len, const char *sep, const char *val);

/* A scratch LMDB environment in a fresh directory under $TMPDIR (or /tmp),
 * with the databases of flags (cache_open_flags); closing removes it. */
typedef struct pack_scratch {
	char dir[4096];
	cache *c;
} pack_scratch;
int pack_scratch_open(pack_scratch *s, unsigned flags);
void pack_scratch_close(pack_scratch *s);

/* A pack being written: records and cubins (each once, with its checksum)
 * into a scratch environment, then the meta data, then one compacted file
 * (cache_copy: replaced atomically). */
typedef struct pack_writer {
	pack_scratch s;
	int records, cubins;
	size_t bytes;              /* of the cubins */
	char gpus[1024], sms[128]; /* the distinct values, "; " and "," separated */
} pack_writer;
int pack_writer_open(pack_writer *w);
/* Add a record (k: its key, split) and the cubin it names. */
int pack_writer_add(pack_writer *w, const pack_entry *e, const kg_key *k, const void *cubin, size_t size);
/* The meta data (created: $SOURCE_DATE_EPOCH when set), then the file. */
int pack_writer_finish(pack_writer *w, const char *out);
void pack_writer_close(pack_writer *w);

/* Copy the record e (key split into k) and the cubin it names from src (a
 * cache, or a pack when src_is_pack; where names it) into w when w is
 * given, else into the cache dst by cache_put_best's rules (the cubin
 * first: a record is never stored without its cubin; *replaced, may be
 * NULL, says whether it was). The one copy step of kgen pack export,
 * import and merge. 0, or the code of the failure with *no_cubin set when
 * it was the cubin's (missing, damaged) rather than the destination's. */
int pack_copy(cache *src, int src_is_pack, const char *where, const pack_entry *e, const kg_key *k,
              pack_writer *w, cache *dst, int *replaced, int *no_cubin);

#endif
