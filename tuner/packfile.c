/* packfile.c: reading and writing packs for the `kgen pack` commands (see
 * packfile.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "gen.h"
#include "internal.h"
#include "packfile.h"

const char *pack_stamp(const char *op)
{
	static char stamps[KG_NOPS][96]; /* the CLI is one thread; by the first op of each family */
	const char *family = kg_op_family(op);
	for (int i = 0; family && i < KG_NOPS; i++)
		if (!strcmp(family, kg_ops[i].family)) {
			if (!stamps[i][0])
				kg_stamp(stamps[i], sizeof stamps[i], gen_template_hash(NULL, family));
			return stamps[i];
		}
	return NULL;
}

int pack_stamp_current(const kg_key *k, const char *rec)
{
	char stamp[128];
	const char *want = pack_stamp(k->op);
	return want && !rec_get(rec, "stamp", stamp, sizeof stamp) && !strcmp(stamp, want);
}

static int collect(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	pack_entries *l = arg;
	pack_entry *v;
	if (l->n == l->cap) {
		int cap = l->cap ? 2 * l->cap : 64;
		if (!(v = realloc(l->v, (size_t)cap * sizeof *v)))
			return l->oom = 1;
		l->v = v;
		l->cap = cap;
	}
	v = &l->v[l->n];
	if (!(v->key = malloc(klen + 1)) || !(v->rec = malloc(vlen + 1))) {
		free(v->key);
		return l->oom = 1;
	}
	memcpy(v->key, key, klen);
	v->key[klen] = 0;
	v->klen = klen;
	memcpy(v->rec, val, vlen);
	v->rec[vlen] = 0;
	l->n++;
	return 0;
}

void pack_entries_free(pack_entries *l)
{
	for (int i = 0; i < l->n; i++) {
		free(l->v[i].key);
		free(l->v[i].rec);
	}
	free(l->v);
	memset(l, 0, sizeof *l);
}

int pack_read_all(cache *c, const char *db, pack_entries *l)
{
	int rc;
	memset(l, 0, sizeof *l);
	if ((rc = cache_scan(c, db, NULL, 0, collect, l)))
		return rc;
	if (l->oom) {
		pack_entries_free(l);
		return kg_err(KGEN_ENOMEM, "out of memory");
	}
	return 0;
}

int pack_cubin(cache *c, int is_pack, const char *where, const char *rec, void **cubin, size_t *size,
               char hex[17])
{
	kg_record r = {.rec = (char *)rec, .src = c, .pack = is_pack, .origin = is_pack ? "pack" : "cache", .where = where};
	if (rec_get(rec, "variant", hex, 17))
		hex[0] = 0;
	return kg_record_cubin(&r, cubin, size);
}

void pack_add_distinct(char *list, size_t len, const char *sep, const char *val)
{
	size_t n = strlen(list), vl = strlen(val), sl = strlen(sep);
	for (const char *p = list; p && *p;) {
		const char *next = strstr(p, sep);
		size_t l = next ? (size_t)(next - p) : strlen(p);
		if (l == vl && !memcmp(p, val, vl))
			return;
		p = next ? next + sl : NULL;
	}
	snprintf(list + n, len - n, "%s%s", n ? sep : "", val);
}

int pack_scratch_open(pack_scratch *s, unsigned flags)
{
	const char *tmp = getenv("TMPDIR");
	int rc;
	s->c = NULL;
	snprintf(s->dir, sizeof s->dir, "%s/kgen-pack-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(s->dir)) {
		return kg_err(KGEN_ECACHE, "cannot create a scratch directory '%s': %s", s->dir, strerror(errno));
	}
	if ((rc = cache_open_flags(&s->c, s->dir, flags)))
		rmdir(s->dir);
	return rc;
}

void pack_scratch_close(pack_scratch *s)
{
	char f[4200];
	if (!s->c)
		return;
	cache_close(s->c);
	s->c = NULL;
	snprintf(f, sizeof f, "%s/data.mdb", s->dir);
	unlink(f);
	snprintf(f, sizeof f, "%s/lock.mdb", s->dir);
	unlink(f);
	rmdir(s->dir);
}

int pack_writer_open(pack_writer *w)
{
	memset(w, 0, sizeof *w);
	return pack_scratch_open(&w->s, CACHE_PACK);
}

int pack_writer_add(pack_writer *w, const pack_entry *e, const kg_key *k, const void *cubin, size_t size)
{
	char hex[32], sum[64], sm[16];
	void *old;
	size_t n;
	int rc;
	if (rec_get(e->rec, "variant", hex, sizeof hex) || strlen(hex) != 16)
		return kg_err(KGEN_EINVAL, "the record names no cubin");
	if (cache_get(w->s.c, "sum", hex, 16, &old, &n) == 0) {
		free(old); /* a cubin two records share */
	} else {
		char h[17];
		kg_pack_sum(cubin, size, h);
		snprintf(sum, sizeof sum, "fnv1a64=%s\nsize=%zu\n", h, size);
		if ((rc = cache_put(w->s.c, "cubin", hex, 16, cubin, size)) ||
		    (rc = cache_put(w->s.c, "sum", hex, 16, sum, strlen(sum))))
			return rc;
		w->cubins++;
		w->bytes += size;
	}
	if ((rc = cache_put(w->s.c, "best", e->key, e->klen, e->rec, strlen(e->rec))))
		return rc;
	w->records++;
	pack_add_distinct(w->gpus, sizeof w->gpus, "; ", k->gpu);
	snprintf(sm, sizeof sm, "%d", k->sm);
	pack_add_distinct(w->sms, sizeof w->sms, ",", sm);
	return 0;
}

int pack_writer_finish(pack_writer *w, const char *out)
{
	char date[32], records[32], cubins[32];
	const char *epoch = getenv("SOURCE_DATE_EPOCH"); /* reproducible packs */
	time_t t = epoch && *epoch ? (time_t)strtoll(epoch, NULL, 10) : time(NULL);
	const char *meta[][2] = {
		{"format", KG_PACK_FORMAT}, {"kgen", KGEN_VERSION_STRING}, {"gpu", w->gpus}, {"sm", w->sms},
		{"created", date}, {"records", records}, {"cubins", cubins},
	};
	int rc;
	strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	snprintf(records, sizeof records, "%d", w->records);
	snprintf(cubins, sizeof cubins, "%d", w->cubins);
	for (size_t i = 0; i < sizeof meta / sizeof meta[0]; i++)
		if ((rc = cache_put(w->s.c, "meta", meta[i][0], strlen(meta[i][0]), meta[i][1], strlen(meta[i][1]))))
			return rc;
	return cache_copy(w->s.c, out);
}

void pack_writer_close(pack_writer *w)
{
	pack_scratch_close(&w->s);
}

int pack_copy(cache *src, int src_is_pack, const char *where, const pack_entry *e, const kg_key *k, pack_writer *w,
              cache *dst, int *replaced, int *no_cubin)
{
	char hex[17];
	void *cubin;
	size_t size;
	int rc;
	*no_cubin = 0;
	if ((rc = pack_cubin(src, src_is_pack, where, e->rec, &cubin, &size, hex))) {
		*no_cubin = 1;
		return rc;
	}
	if (w)
		rc = pack_writer_add(w, e, k, cubin, size);
	else if (!(rc = cache_put(dst, "cubin", hex, 16, cubin, size)))
		rc = cache_put_best(dst, e->key, e->rec, replaced);
	free(cubin);
	return rc;
}
