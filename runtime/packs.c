/* packs.c: pretuned packs, and the search for a problem's record through
 * the tuning cache and the packs (see internal.h and docs/packs.md).
 *
 * A pack set is created with the search path and opened on first use: every
 * file of the path, then every "*.kgenpack" of its directories and of the
 * installed packs directory, each opened once, read-only. After that the
 * set never changes, so lookups read it without a lock; the cache handles
 * are thread-safe themselves.
 */
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cache.h"
#include "err.h"
#include "hash.h"
#include "internal.h"

typedef struct kg_pack {
	cache *c;
	dev_t dev;
	ino_t ino;
} kg_pack;

struct kg_packs {
	pthread_mutex_t lock; /* opening */
	int opened;
	char *path;           /* colon-separated files and directories, or NULL */
	char *dir;            /* the installed packs directory, or NULL */
	kg_pack *v;
	int n, cap;
	int failed;           /* files that are not readable packs */
	char first_error[512];
};

static char *dup_or_null(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

int kg_packs_new(kg_packs **out, const char *path, const char *dir)
{
	kg_packs *p;
	if (!out)
		return kg_err(KGEN_EINVAL, "kg_packs_new: no handle pointer");
	if (!(p = calloc(1, sizeof *p)))
		return kg_err(KGEN_ENOMEM, "out of memory");
	p->path = dup_or_null(path);
	p->dir = dup_or_null(dir);
	if ((path && *path && !p->path) || (dir && *dir && !p->dir)) {
		kg_packs_free(p);
		return kg_err(KGEN_ENOMEM, "out of memory");
	}
	pthread_mutex_init(&p->lock, NULL);
	*out = p;
	return 0;
}

void kg_packs_free(kg_packs *p)
{
	if (!p)
		return;
	for (int i = 0; i < p->n; i++)
		cache_close(p->v[i].c);
	free(p->v);
	free(p->path);
	free(p->dir);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

int kg_pack_open(cache **c, const char *file)
{
	char format[32];
	int rc;
	if ((rc = cache_open_flags(c, file, CACHE_RDONLY | CACHE_PACK)))
		return rc;
	if (kg_pack_meta(*c, "format", format, sizeof format)) {
		rc = kg_err(KGEN_ECACHE, "cannot open pack '%s': not a kgen pack (its meta has no format)", file);
	} else if (strcmp(format, KG_PACK_FORMAT)) {
		rc = kg_err(KGEN_ECACHE, "cannot open pack '%s': pack format %s, this build reads %s: rebuild or re-export it",
		            file, format, KG_PACK_FORMAT);
	}
	if (rc) {
		cache_close(*c);
		*c = NULL;
	}
	return rc;
}

int kg_pack_meta(cache *c, const char *name, char *out, size_t len)
{
	void *v;
	size_t n;
	if (!len || cache_get(c, "meta", name, strlen(name), &v, &n))
		return KGEN_ENOTFOUND;
	snprintf(out, len, "%s", (char *)v);
	free(v);
	return 0;
}

void kg_pack_sum(const void *data, size_t size, char hex[17])
{
	snprintf(hex, 17, "%016llx", (unsigned long long)kg_hash(0, data, size));
}

/* Add the pack file to the set unless it is there already. */
static void add_file(kg_packs *p, const char *file, const struct stat *st)
{
	cache *c;
	kg_pack *v;
	for (int i = 0; i < p->n; i++)
		if (p->v[i].dev == st->st_dev && p->v[i].ino == st->st_ino)
			return;
	if (kg_pack_open(&c, file)) {
		if (!p->failed++)
			snprintf(p->first_error, sizeof p->first_error, "%s", kgen_last_error());
		return;
	}
	if (p->n == p->cap) {
		int cap = p->cap ? 2 * p->cap : 8;
		if (!(v = realloc(p->v, (size_t)cap * sizeof *v))) {
			cache_close(c);
			return;
		}
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n++] = (kg_pack){c, st->st_dev, st->st_ino};
}

static int is_pack_name(const struct dirent *d)
{
	size_t n = strlen(d->d_name), e = strlen(KG_PACK_EXT);
	return d->d_name[0] != '.' && n > e && !strcmp(d->d_name + n - e, KG_PACK_EXT);
}

/* A file of the path is a pack whatever its name; a directory holds the
 * packs named "*.kgenpack" (in name order); what does not exist is skipped,
 * as in $PATH. */
static void add_entry(kg_packs *p, const char *entry, int files_too)
{
	struct dirent **names;
	struct stat st;
	char file[4096];
	int n;
	if (!*entry || stat(entry, &st))
		return;
	if (!S_ISDIR(st.st_mode)) {
		if (files_too)
			add_file(p, entry, &st);
		return;
	}
	if ((n = scandir(entry, &names, is_pack_name, alphasort)) < 0)
		return;
	for (int i = 0; i < n; i++) {
		if (snprintf(file, sizeof file, "%s/%s", entry, names[i]->d_name) < (int)sizeof file &&
		    !stat(file, &st) && S_ISREG(st.st_mode))
			add_file(p, file, &st);
		free(names[i]);
	}
	free(names);
}

/* Open the set on first use. */
static void packs_open(kg_packs *p)
{
	pthread_mutex_lock(&p->lock);
	if (!p->opened) {
		if (p->path) {
			char *copy = strdup(p->path), *save = NULL;
			for (char *e = copy ? strtok_r(copy, ":", &save) : NULL; e; e = strtok_r(NULL, ":", &save))
				add_entry(p, e, 1);
			free(copy);
		}
		if (p->dir)
			add_entry(p, p->dir, 0);
		p->opened = 1;
	}
	pthread_mutex_unlock(&p->lock);
}

int kg_packs_count(kg_packs *p)
{
	if (!p)
		return 0;
	packs_open(p);
	return p->n;
}

void kg_packs_describe(kg_packs *p, char *buf, size_t len)
{
	int n;
	if (!p) {
		snprintf(buf, len, "no packs");
		return;
	}
	n = snprintf(buf, len, "KGEN_PACK_PATH=%s%s%s", p->path ? p->path : "(unset)", p->dir ? ", " : "",
	             p->dir ? p->dir : "");
	pthread_mutex_lock(&p->lock); /* another thread may be opening the set */
	if (p->opened && p->failed && n >= 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, "; %d unreadable, first: %s", p->failed, p->first_error);
	pthread_mutex_unlock(&p->lock);
}

typedef struct nearest {
	const char *stamp;
	size_t plen;
	long long want, best_bucket, best_dist;
	int driver, src, best_src, stale, too_new;
	char *rec;
} nearest;

/* A copy of the record val if this build and driver can use it (its stamp
 * is this build's, its NVRTC no newer than the driver), else NULL with the
 * reason counted. */
static char *usable_copy(nearest *n, const void *val, size_t vlen)
{
	char *copy;
	kg_best b;
	if (!(copy = malloc(vlen + 1)))
		return NULL;
	memcpy(copy, val, vlen);
	copy[vlen] = 0;
	kg_best_parse(copy, &b);
	if (strcmp(b.stamp, n->stamp)) {
		n->stale++;
		free(copy);
		return NULL;
	}
	if (n->driver && kg_nvrtc_number(b.nvrtc) > n->driver) {
		n->too_new++;
		free(copy);
		return NULL;
	}
	return copy;
}

/* Keep copy as the best record so far (of bucket b, bucket distance d). */
static void keep(nearest *n, char *copy, long long b, long long d)
{
	free(n->rec);
	n->rec = copy;
	n->best_bucket = b;
	n->best_dist = d;
	n->best_src = n->src;
}

/* cache_scan visitor: keep the usable record whose rows bucket is nearest
 * to the one wanted; between two as near, the earlier source, then (in one
 * source) the larger bucket. */
static int nearest_visit(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	nearest *n = arg;
	char digits[24], *copy, *end;
	long long b, d;
	if (klen <= n->plen || klen - n->plen >= sizeof digits)
		return 0;
	memcpy(digits, (const char *)key + n->plen, klen - n->plen);
	digits[klen - n->plen] = 0;
	b = strtoll(digits, &end, 10);
	if (*end || b < 1 || !(copy = usable_copy(n, val, vlen)))
		return 0;
	d = b > n->want ? b / n->want : n->want / b;
	if (n->rec && (d > n->best_dist || (d == n->best_dist && (n->src != n->best_src || b < n->best_bucket)))) {
		free(copy);
		return 0;
	}
	keep(n, copy, b, d);
	return 0;
}

/* Fill out from the search n over the cache c (source 0) and the packs of
 * p (source i + 1): the record kept, where it came from, the counts of
 * those skipped. 0 or KGEN_ENOTFOUND. */
static int found(nearest *n, cache *c, kg_packs *p, const char *origin, long long bucket, kg_record *out)
{
	out->skipped_stale = n->stale;
	out->skipped_nvrtc = n->too_new;
	if (!n->rec)
		return KGEN_ENOTFOUND;
	out->rec = n->rec;
	out->src = n->best_src ? p->v[n->best_src - 1].c : c;
	out->pack = n->best_src != 0;
	out->origin = origin ? origin : out->pack ? "pack" : "cache";
	out->where = cache_dir(out->src);
	out->bucket = n->best_bucket;
	out->far = n->best_bucket > KG_BUCKET_FAR * bucket;
	return 0;
}

/* Scan the "best" records under prefix head (plen bytes) of every pack of
 * p with visit, the pack's source number set in *src first. */
static void scan_packs(kg_packs *p, const char *head, size_t plen, int *src,
                       int (*visit)(const void *, size_t, const void *, size_t, void *), void *arg)
{
	for (int i = 0, np = kg_packs_count(p); i < np; i++) {
		*src = i + 1;
		cache_scan(p->v[i].c, "best", head, plen, visit, arg);
	}
}

int kg_record_find(cache *c, kg_packs *p, const char *prefix, long long bucket, const char *stamp, int driver,
                   kg_record *out)
{
	nearest n = {stamp, strlen(prefix), bucket, 0, 0, driver, 0, 0, 0, 0, NULL};
	memset(out, 0, sizeof *out);
	if (bucket < 1)
		return kg_err(KGEN_EINVAL, "rows bucket must be >= 1 (got %lld)", bucket);
	if (c)
		cache_scan(c, "best", prefix, n.plen, nearest_visit, &n);
	/* the cache's record of the very bucket: the packs are not opened */
	if (!n.rec || n.best_bucket != bucket)
		scan_packs(p, prefix, n.plen, &n.src, nearest_visit, &n);
	return found(&n, c, p, NULL, bucket, out);
}

/* GPU models whose records another model of the same SM may borrow: SM
 * count and memory bandwidth (GB/s), the vendors' figures. */
static const struct {
	const char *name;
	int sms;
	double gbps;
} kg_models[] = {
	{"NVIDIA H100 80GB HBM3", 132, 3352},
	{"NVIDIA H100 PCIe", 114, 2039},
	{"NVIDIA H100 NVL", 132, 3938},
	{"NVIDIA H800", 132, 3352},
	{"NVIDIA H200", 132, 4800},
	{"NVIDIA H200 NVL", 132, 4800},
	{"NVIDIA GH200 480GB", 132, 4000},
	{"NVIDIA H20", 78, 4000},
	{"NVIDIA A100-SXM4-80GB", 108, 2039},
	{"NVIDIA A100-SXM4-40GB", 108, 1555},
	{"NVIDIA A100 80GB PCIe", 108, 1935},
	{"NVIDIA A100-PCIE-40GB", 108, 1555},
};

int kg_model_figures(const char *model, int *sms, double *gbps)
{
	for (size_t i = 0; i < sizeof kg_models / sizeof kg_models[0]; i++)
		if (!strcmp(kg_models[i].name, model)) {
			*sms = kg_models[i].sms;
			*gbps = kg_models[i].gbps;
			return 0;
		}
	return KGEN_ENOTFOUND;
}

double kg_device_gbps(const kg_device *dev)
{
	int bus = 0, khz = 0;
	/* double data rate: 2 transfers per clock of bus / 8 bytes */
	if (kg_cu.cuDeviceGetAttribute(&bus, CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH, dev->dev) ||
	    kg_cu.cuDeviceGetAttribute(&khz, CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE, dev->dev) || bus <= 0 || khz <= 0)
		return 0;
	return (double)khz * (double)bus / 4e6;
}

int kg_borrow_enabled(void)
{
	const char *e = getenv("KGEN_NO_BORROW");
	return !e || !*e || !strcmp(e, "0");
}

typedef struct borrow {
	nearest n;            /* stamp, driver, skip counts; the rows bucket wanted */
	const char *self;     /* this GPU's model: not borrowed from */
	int sms;
	double gbps;          /* this GPU's figures (0: unknown) */
	double best_model;    /* the distance of the best record's model */
	char lender[128];
} borrow;

/* The distance of model from this GPU (see kg_record_borrow). */
static double model_distance(const borrow *b, const char *model)
{
	int sms;
	double gbps, d = 0;
	if (kg_model_figures(model, &sms, &gbps))
		return 1e9; /* unknown: after every known one */
	if (b->gbps > 0)
		d += fabs(log(b->gbps / gbps));
	if (b->sms > 0)
		d += fabs(log((double)b->sms / sms));
	return d;
}

/* cache_scan visitor over "GPU|rBUCKET" after the prefix: keep the usable
 * record of another model nearest by (model, rows bucket, source). */
static int borrow_visit(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	borrow *b = arg;
	nearest *n = &b->n;
	const char *rest;
	char *copy;
	kg_key k;
	long long bk, d;
	double md;
	if (klen <= n->plen || kg_key_parse(key, klen, &k))
		return 0;
	rest = k.gpu;
	bk = k.bucket;
	if (!strcmp(rest, b->self))
		return 0;
	md = model_distance(b, rest);
	d = bk > n->want ? bk / n->want : n->want / bk;
	if (n->rec && (md > b->best_model ||
	               (md == b->best_model && (d > n->best_dist || (d == n->best_dist && n->src != n->best_src)))))
		return 0;
	if (!(copy = usable_copy(n, val, vlen)))
		return 0;
	keep(n, copy, bk, d);
	b->best_model = md;
	snprintf(b->lender, sizeof b->lender, "%s", rest);
	return 0;
}

int kg_record_borrow(kg_packs *p, const char *prefix, long long bucket, const char *stamp, int driver,
                     const kg_device *dev, kg_record *out)
{
	borrow b;
	char base[KG_KEY_MAX];
	size_t len = strlen(prefix), self = strlen(dev->name);
	memset(out, 0, sizeof *out);
	memset(&b, 0, sizeof b);
	/* prefix ends "|<this GPU>|r": the problem up to its SM is the base */
	if (bucket < 1 || len < self + 3 || len >= sizeof base || strncmp(prefix + len - self - 2, dev->name, self) ||
	    prefix[len - self - 3] != '|' || strcmp(prefix + len - 2, "|r"))
		return kg_err(KGEN_EINVAL, "kg_record_borrow: the prefix does not end with the GPU '%s'", dev->name);
	memcpy(base, prefix, len - self - 2); /* up to "|smN|" */
	base[len - self - 2] = 0;
	b.n = (nearest){stamp, strlen(base), bucket, 0, 0, driver, 0, 0, 0, 0, NULL};
	b.self = dev->name;
	b.sms = dev->sms;
	b.gbps = kg_device_gbps(dev);
	if (b.gbps <= 0) { /* no figure from the driver: the table's, if it knows this model */
		int sms;
		double gbps;
		if (!kg_model_figures(dev->name, &sms, &gbps))
			b.gbps = gbps;
	}
	scan_packs(p, base, b.n.plen, &b.n.src, borrow_visit, &b);
	if (found(&b.n, NULL, p, "borrowed", bucket, out))
		return KGEN_ENOTFOUND;
	snprintf(out->lender, sizeof out->lender, "%s", b.lender);
	return 0;
}

int kg_near_width_enabled(void)
{
	const char *e = getenv("KGEN_NO_NEAR_WIDTH");
	return !e || !*e || !strcmp(e, "0");
}

typedef struct near_width {
	nearest n;         /* stamp, driver, skip counts; the rows bucket wanted */
	kg_key want;       /* the problem asked for (its bucket unused) */
	int any_model;     /* 0: this GPU's records only */
	int aligned;       /* the call's width a 16-byte vector divides: shifted records skipped */
	long long best_cols;
	double best_wd;
	char lender[128];
} near_width;

/* cache_scan visitor over the records of the op, pass and dtype asked for
 * (see kg_record_near_width). */
static int near_width_visit(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	near_width *nw = arg;
	nearest *n = &nw->n;
	char *copy;
	kg_key k;
	long long d;
	double wd;
	int own;
	if (kg_key_parse(key, klen, &k) || k.cols == nw->want.cols || k.sm != nw->want.sm ||
	    strcmp(k.opts, nw->want.opts) || k.bucket < 1)
		return 0;
	own = !strcmp(k.gpu, nw->want.gpu);
	if (!own && !nw->any_model)
		return 0;
	wd = fabs(log((double)k.cols / (double)nw->want.cols));
	d = k.bucket > n->want ? k.bucket / n->want : n->want / k.bucket;
	if (wd > log(KG_NEAR_WIDTH_MAX) + 1e-12 || d > KG_BUCKET_FAR)
		return 0;
	/* this GPU's records before another model's; then the width, the
	 * bucket, the wider */
	if (n->rec && ((!own && !nw->lender[0]) ||
	               (own == !nw->lender[0] &&
	                (wd > nw->best_wd + 1e-12 ||
	                 (wd > nw->best_wd - 1e-12 &&
	                  (d > n->best_dist || (d == n->best_dist && k.cols <= nw->best_cols)))))))
		return 0;
	if (!(copy = usable_copy(n, val, vlen)))
		return 0;
	if (nw->aligned) {
		kg_best b;
		int shift = 0;
		if (!kg_best_parse(copy, &b) && !kg_config_int(b.config, "shift", &shift) && shift == 1) {
			free(copy); /* an odd width's shifted config: no guess for an aligned call */
			return 0;
		}
	}
	keep(n, copy, k.bucket, d);
	nw->best_cols = k.cols;
	nw->best_wd = wd;
	snprintf(nw->lender, sizeof nw->lender, "%s", own ? "" : k.gpu);
	return 0;
}

int kg_record_near_width(cache *c, kg_packs *p, const char *prefix, long long bucket, const char *stamp, int driver,
                         int any_model, int aligned, kg_record *out)
{
	near_width nw;
	char key[KG_KEY_MAX + 2];
	const char *at = prefix;
	memset(out, 0, sizeof *out);
	memset(&nw, 0, sizeof nw);
	/* the prefix "op|pass|dtype|cCOLS|options|smN|GPU|r" as a key of bucket
	 * 1, and its part up to the width, "op|pass|dtype|c", to scan under */
	snprintf(key, sizeof key, "%s1", prefix);
	for (int i = 0; i < 3 && at; i++)
		if ((at = strchr(at, '|')))
			at++;
	if (bucket < 1 || !at || *at != 'c' || kg_key_parse(key, strlen(key), &nw.want))
		return kg_err(KGEN_EINVAL, "kg_record_near_width: '%s' is not a problem key prefix", prefix);
	nw.n = (nearest){stamp, (size_t)(at + 1 - prefix), bucket, 0, 0, driver, 0, 0, 0, 0, NULL};
	nw.aligned = aligned;
	if (c) /* only packs lend, as for borrowing */
		cache_scan(c, "best", prefix, nw.n.plen, near_width_visit, &nw);
	nw.any_model = any_model;
	scan_packs(p, prefix, nw.n.plen, &nw.n.src, near_width_visit, &nw);
	if (found(&nw.n, c, p, "nearest", bucket, out))
		return KGEN_ENOTFOUND;
	out->near_cols = nw.best_cols;
	snprintf(out->lender, sizeof out->lender, "%s", nw.lender);
	return 0;
}

int kg_record_cubin(const kg_record *r, void **cubin, size_t *size)
{
	char hex[32], want[32], got[17];
	void *sum;
	size_t n;
	int rc;
	*cubin = NULL;
	if (!r || !r->rec || rec_get(r->rec, "variant", hex, sizeof hex) || strlen(hex) != 16)
		return kg_err(KGEN_ENOTFOUND, "the record names no cubin");
	/* a cubin that fails its entry checksum is never handed out */
	if ((rc = cache_get(r->src, "cubin", hex, 16, cubin, size)) == KGEN_ENOTFOUND)
		return kg_err(KGEN_ENOTFOUND, "no cubin %s in %s '%s'", hex, r->origin, r->where);
	if (rc)
		return kg_err_ctx(rc, "cubin %s", hex);
	if (!r->pack)
		return 0;
	/* a pack's cubin is checked before the driver sees it */
	want[0] = 0;
	if (!cache_get(r->src, "sum", hex, 16, &sum, &n)) {
		rec_get(sum, "fnv1a64", want, sizeof want);
		free(sum);
	}
	kg_pack_sum(*cubin, *size, got);
	if (strcmp(want, got)) {
		free(*cubin);
		*cubin = NULL;
		return kg_err(KGEN_ECACHE, "cubin %s in pack '%s' does not match its checksum (fnv1a64 %s, stored %s)", hex,
		              r->where, got, want[0] ? want : "none");
	}
	return 0;
}

void kg_record_free(kg_record *r)
{
	if (r) {
		free(r->rec);
		memset(r, 0, sizeof *r);
	}
}
