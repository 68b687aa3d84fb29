/* kgen.c: the public runtime: lookup, loading, fallback and launch.
 *
 * A call builds a small key (context, op, dtype, cols, rows bucket,
 * alignment) and looks it up in the in-process table under a mutex; on a
 * hit it launches at once. On a miss it looks for the best record of the
 * problem (the rows bucket asked for, else the nearest tuned bucket) in the
 * tuning cache, then in the packs (packs.c: $KGEN_PACK_PATH, then the
 * installed packs directory, opened on the first miss), loads that record's
 * cubin from where the record was found, and remembers it. A problem
 * neither knows, or a call whose pointers are too poorly aligned for the
 * tuned vector width, is served by a template rendering (the default
 * configuration, or the tuned one with a narrower vector width) compiled
 * with NVRTC once and kept in the cache's cubin database.
 */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "err.h"
#include "gen.h"
#include "internal.h"

#define KG_TABLE_SIZE 256

typedef struct kg_entry {
	struct kg_entry *next;
	CUcontext cuctx;
	unsigned long long ctxid; /* cuCtxGetId: unlike handles, never reused */
	int op, dtype, align, phase;
	unsigned opts;
	long long cols, bucket;
	CUmodule mod;
	kg_launch launch;
	char origin[12];
	char config[128];
	char lender[128]; /* borrowed: the GPU model the record was tuned on */
	long long near_cols; /* origin "nearest": the width whose record's config it took */
	CUdeviceptr xg;      /* a split kernel's KG_XG_SETS exchange areas, made with it */
	unsigned xg_next;    /* the area of the next launch (atomic) */
} kg_entry;

typedef struct kg_ctxinfo {
	unsigned long long ctxid;
	kg_device dev;
} kg_ctxinfo;

/* Device scratch of one stream (cross-entropy's denominators), per
 * (context, stream, and thread for the per-thread default stream), for
 * calls that pass no workspace (kgen_xent_options::workspace). It is made
 * by kgen_prepare() or by the first such call on the stream (cuMemAlloc,
 * cleared with cuMemsetD8Async on that stream); after that a call only
 * enqueues its prep, row and finish kernels, under the scratch's lock so that two
 * host threads on one stream do not interleave theirs. Stream order does
 * the rest: nothing is allocated, synchronized or recorded on the launch
 * path, so it can be captured in a CUDA graph. (A stream handle is not
 * handed out again while the destroyed stream's work is pending: the
 * driver keeps the stream until its work completes.) */
typedef struct kg_scratch {
	struct kg_scratch *next;
	CUcontext cuctx;
	unsigned long long ctxid;
	CUstream stream;
	pthread_t thread;
	CUdeviceptr ptr;
	pthread_mutex_t lock;
} kg_scratch;

struct kgen_ctx {
	pthread_mutex_t lock;     /* table and ctxinfo */
	pthread_mutex_t gen_lock; /* gen (one Lua state) and compilation */
	cache *cache;             /* may be NULL: no cache could be opened */
	kg_packs *packs;          /* opened on the first table miss */
	gen *gen;                 /* opened on the first fallback */
	kg_entry *table[KG_TABLE_SIZE];
	kg_ctxinfo info[16];
	int ninfo;
	kg_scratch *scratch;
	CUdevice retained[16]; /* primary contexts kgen made current */
	int nretained;
};

/* The entry the thread launched last, through which handle, and whether it
 * came from the table. */
static _Thread_local const kg_entry *kg_last_entry;
static _Thread_local const kgen_ctx *kg_last_ctx;
static _Thread_local int kg_last_hit;


#ifndef KGEN_PACK_DIR
#define KGEN_PACK_DIR NULL
#endif
#ifndef KGEN_PACK_RELDIR
#define KGEN_PACK_RELDIR "../share/kgen/packs"
#endif

/* The installed packs directory: KGEN_PACK_RELDIR (the install's datadir
 * relative to its libdir) from the file that holds this code, libkgen.so
 * or a program linked with libkgen.a, where that directory exists, so an
 * install moved to another prefix (or unpacked from a wheel) finds its
 * packs; else the directory fixed at configure time. */
static const char *installed_packs(char *buf, size_t len)
{
	Dl_info info;
	char dir[PATH_MAX + 64], *slash;
	if (dladdr((void *)&kgen_open, &info) && info.dli_fname && strchr(info.dli_fname, '/') &&
	    strlen(info.dli_fname) < PATH_MAX) {
		snprintf(dir, sizeof dir, "%s", info.dli_fname);
		slash = strrchr(dir, '/');
		snprintf(slash + 1, sizeof dir - (size_t)(slash + 1 - dir), "%s", KGEN_PACK_RELDIR);
		if (len >= PATH_MAX && realpath(dir, buf))
			return buf;
	}
	return KGEN_PACK_DIR;
}

int kgen_open(kgen_ctx **out, const char *cache_dir)
{
	kgen_ctx *ctx;
	char packdir[PATH_MAX];
	int rc;
	if (!out)
		return kg_err(KGEN_EINVAL, "ctx must not be NULL");
	*out = NULL;
	if ((rc = kg_cu_load()))
		return rc;
	if (!(ctx = calloc(1, sizeof *ctx)))
		return kg_err(KGEN_ENOMEM, "out of memory");
	pthread_mutex_init(&ctx->lock, NULL);
	pthread_mutex_init(&ctx->gen_lock, NULL);
	if ((rc = cache_open(&ctx->cache, cache_dir, 0))) {
		/* The default cache is best effort: a read-only home still runs
		 * with fallback kernels. A cache the caller named must open. */
		if (cache_dir) {
			kgen_close(ctx);
			return KGEN_ECACHE; /* the cache's message stands */
		}
		ctx->cache = NULL;
	}
	/* $KGEN_PACK_DIR moves the installed directory (empty: none) */
	if ((rc = kg_packs_new(&ctx->packs, getenv("KGEN_PACK_PATH"),
	                       getenv("KGEN_PACK_DIR") ? getenv("KGEN_PACK_DIR") : installed_packs(packdir, sizeof packdir)))) {
		kgen_close(ctx);
		return rc;
	}
	*out = ctx;
	return 0;
}

/* Make c current if it is still the context it was (by id): 1 if so, and
 * then the caller pops it. */
static int push_if_alive(CUcontext c, unsigned long long id)
{
	unsigned long long now = 0;
	CUcontext popped;
	if (kg_cu.cuCtxPushCurrent(c))
		return 0;
	if (kg_cu.cuCtxGetId(c, &now) || now != id) {
		kg_cu.cuCtxPopCurrent(&popped);
		return 0;
	}
	return 1;
}

void kgen_close(kgen_ctx *ctx)
{
	CUcontext popped;
	if (!ctx)
		return;
	/* Modules and buffers go with their context: each is freed in its own
	 * context when that context still lives (a destroyed context took them
	 * with it). */
	for (int i = 0; i < KG_TABLE_SIZE; i++) {
		kg_entry *e = ctx->table[i], *next;
		for (; e; e = next) {
			next = e->next;
			if (push_if_alive(e->cuctx, e->ctxid)) {
				kg_cu.cuModuleUnload(e->mod);
				if (e->xg)
					kg_cu.cuMemFree(e->xg);
				kg_cu.cuCtxPopCurrent(&popped);
			}
			free(e);
		}
	}
	for (kg_scratch *sc = ctx->scratch, *next; sc; sc = next) {
		next = sc->next;
		if (push_if_alive(sc->cuctx, sc->ctxid)) {
			kg_cu.cuMemFree(sc->ptr);
			kg_cu.cuCtxPopCurrent(&popped);
		}
		pthread_mutex_destroy(&sc->lock);
		free(sc);
	}
	for (int i = 0; i < ctx->nretained; i++)
		kg_cu.cuDevicePrimaryCtxRelease(ctx->retained[i]);
	cache_close(ctx->cache);
	kg_packs_free(ctx->packs);
	gen_close(ctx->gen);
	pthread_mutex_destroy(&ctx->lock);
	pthread_mutex_destroy(&ctx->gen_lock);
	free(ctx);
}

int kgen_last_kernel(kgen_ctx *ctx, char *buf, size_t len)
{
	if (!ctx || !buf || !len)
		return kg_err(KGEN_EINVAL, "ctx and buf must not be NULL");
	if (!kg_last_entry || kg_last_ctx != ctx)
		buf[0] = 0;
	else if (kg_last_entry->near_cols && kg_last_entry->lender[0])
		snprintf(buf, len, "%s %s (tuned at %lld cols) from '%s'", kg_last_hit ? "table" : kg_last_entry->origin,
		         kg_last_entry->config, kg_last_entry->near_cols, kg_last_entry->lender);
	else if (kg_last_entry->near_cols)
		snprintf(buf, len, "%s %s (tuned at %lld cols)", kg_last_hit ? "table" : kg_last_entry->origin,
		         kg_last_entry->config, kg_last_entry->near_cols);
	else if (kg_last_entry->lender[0])
		snprintf(buf, len, "%s %s from '%s'", kg_last_hit ? "table" : kg_last_entry->origin, kg_last_entry->config,
		         kg_last_entry->lender);
	else
		snprintf(buf, len, "%s %s", kg_last_hit ? "table" : kg_last_entry->origin, kg_last_entry->config);
	return 0;
}

/* The current context (making the primary context of device 0 current
 * where there is none), its id and its device; caller holds ctx->lock. */
static int current_device(kgen_ctx *ctx, CUcontext *cuctx, unsigned long long *id, const kg_device **dev)
{
	CUcontext cur = NULL;
	CUdevice d;
	CUresult r;
	int rc;
	if ((r = kg_cu.cuCtxGetCurrent(&cur)))
		return kg_cu_fail("cuCtxGetCurrent", r);
	if (!cur) {
		if ((r = kg_cu.cuDeviceGet(&d, 0)))
			return kg_err(KGEN_ENODEVICE, "no CUDA device: %s", kg_cu_errstr(r));
		if ((r = kg_cu.cuDevicePrimaryCtxRetain(&cur, d)))
			return kg_cu_fail("cuDevicePrimaryCtxRetain", r);
		if ((r = kg_cu.cuCtxSetCurrent(cur))) {
			kg_cu.cuDevicePrimaryCtxRelease(d);
			return kg_cu_fail("cuCtxSetCurrent", r);
		}
		if (ctx->nretained < (int)(sizeof ctx->retained / sizeof ctx->retained[0]))
			ctx->retained[ctx->nretained++] = d;
	}
	if ((r = kg_cu.cuCtxGetId(cur, id)))
		return kg_cu_fail("cuCtxGetId", r);
	*cuctx = cur;
	for (int i = 0; i < ctx->ninfo; i++)
		if (ctx->info[i].ctxid == *id) {
			*dev = &ctx->info[i].dev;
			return 0;
		}
	if (ctx->ninfo == (int)(sizeof ctx->info / sizeof ctx->info[0]))
		return kg_err(KGEN_EUNSUPPORTED, "more than %d CUDA contexts in one kgen handle", ctx->ninfo);
	if ((r = kg_cu.cuCtxGetDevice(&d)))
		return kg_cu_fail("cuCtxGetDevice", r);
	if ((rc = kg_device_query(d, &ctx->info[ctx->ninfo].dev)))
		return rc;
	ctx->info[ctx->ninfo].ctxid = *id;
	*dev = &ctx->info[ctx->ninfo++].dev;
	return 0;
}

/* What identifies a launchable kernel in the in-process table. */
typedef struct kg_want {
	CUcontext cuctx;
	unsigned long long ctxid;
	int op, dtype, align, phase; /* bytes: row starts, and their common offset (see phase_of) */
	unsigned opts;
	long long cols, bucket;
} kg_want;

static unsigned entry_slot(const kg_want *w)
{
	uint64_t h = (uint64_t)w->ctxid * 0x9E3779B97F4A7C15ull;
	h ^= (uint64_t)w->cols * 0xC2B2AE3D27D4EB4Full + (uint64_t)w->bucket * 31 +
	     (unsigned)(w->op * 7 + w->dtype * 3 + w->align + w->phase * 5) + w->opts * 131u;
	return (unsigned)(h >> 56) % KG_TABLE_SIZE;
}

static kg_entry *table_find(kgen_ctx *ctx, const kg_want *w)
{
	kg_entry *e = ctx->table[entry_slot(w)];
	for (; e; e = e->next)
		if (e->ctxid == w->ctxid && e->op == w->op && e->opts == w->opts && e->dtype == w->dtype &&
		    e->cols == w->cols && e->bucket == w->bucket && e->align == w->align &&
		    e->phase == w->phase)
			return e;
	return NULL;
}

/* Get a cubin for (source, sm): from the cache's cubin database, else
 * compiled and stored there. Caller holds gen_lock. */
static int cubin_for(kgen_ctx *ctx, const char *source, int sm, void **cubin, size_t *size,
                     char *hash_hex)
{
	int rc;
	snprintf(hash_hex, 17, "%016llx", (unsigned long long)kg_variant_hash(source, sm));
	if (ctx->cache && !cache_get(ctx->cache, "cubin", hash_hex, 16, cubin, size))
		return 0;
	if ((rc = kg_compile(source, "kgen_fallback.cu", sm, cubin, size, NULL)))
		return rc;
	if (ctx->cache)
		cache_put(ctx->cache, "cubin", hash_hex, 16, *cubin, *size);
	return 0;
}

/* cfg with the value of vec replaced by vec (other keys kept, in order);
 * narrower than 16 bytes (esize: the element's), without the staged load
 * that moves 16-byte vectors only (and a cluster's persistent grid, which
 * needs that load). */
static void with_vec(char *out, size_t len, const char *cfg, int vec, int esize)
{
	size_t n = 0;
	const char *p = cfg;
	/* a cluster's persistent grid needs tma (not a split row's, xchg=global: direct loads) */
	const int cluster = strstr(cfg, "strategy=cluster") != NULL && !strstr(cfg, "xchg=global");
	out[0] = 0;
	while (*p && n + 1 < len) {
		const char *end = strchr(p, ',');
		size_t item = end ? (size_t)(end - p) : strlen(p);
		int w = 0;
		if (!strncmp(p, "vec=", 4))
			w = snprintf(out + n, len - n, "%svec=%d", n ? "," : "", vec);
		else if (vec * esize == 16 || (strncmp(p, "load=", 5) && (strncmp(p, "persist=", 8) || !cluster)))
			w = snprintf(out + n, len - n, "%s%.*s", n ? "," : "", (int)item, p);
		if (w < 0 || (size_t)w >= len - n) {
			out[n] = 0; /* no item cut short */
			break;
		}
		n += (size_t)w;
		p += item + (end ? 1 : 0);
	}
}

/* Whether a config cuts rows at their own 16-byte boundaries (shift=1). */
static int shifted(const char *cfg)
{
	int shift = 0;
	return !kg_config_int(cfg, "shift", &shift) && shift == 1;
}

/* The widest vector (elements) a config may keep for a call: up to the
 * row starts' alignment, or for a shifted config (rows cut at their own
 * 16-byte boundaries) up to the alignment of their common offset. */
static int allowed_vec(const char *cfg, const kg_want *w)
{
	return (shifted(cfg) ? w->phase : w->align) / kg_dtype_size(w->dtype);
}

/* cfg with its vector width narrowed to what the call allows (vec=1 when
 * it names none). */
static void narrow(char *out, size_t len, const char *cfg, const kg_want *w)
{
	int vec, allowed = allowed_vec(cfg, w);
	if (kg_config_int(cfg, "vec", &vec))
		vec = 1;
	with_vec(out, len, cfg, vec > allowed ? allowed : vec, kg_dtype_size(w->dtype));
}

/* The tuned kernel of a record, when its vector width suits the call's
 * alignment and its cubin is where the record was found and loads: 0, or
 * KGEN_ENOTFOUND with why (len bytes) saying why not; the caller falls back. */
static int from_record(const kg_record *r, const kg_want *w, const kg_device *dev, kg_entry *e, char *why,
                       size_t len)
{
	const int dtype = w->dtype;
	kg_best b;
	void *cubin = NULL;
	size_t size;
	int rc, vec;
	kg_best_parse(r->rec, &b);
	if (kg_config_int(b.config, "vec", &vec) || !b.kernel[0]) {
		snprintf(why, len, "it has no config with vec or no kernel");
		return KGEN_ENOTFOUND;
	}
	/* cross-entropy's loss passes add the loss through the slots: without
	 * prep and finish a reduced loss would stay unset */
	if (kg_ops[w->op].xent && (!b.prep[0] || (w->op != KG_XENT_BWD && !b.finish[0]))) {
		snprintf(why, len, "it names no %s kernel", !b.prep[0] ? "prep" : "finish");
		return KGEN_ENOTFOUND;
	}
	if (vec > allowed_vec(b.config, w)) {
		snprintf(why, len, "its vector width needs rows %s %d bytes, the call's are to %d",
		         shifted(b.config) ? "at the same offset modulo" : "aligned to", vec * kg_dtype_size(dtype),
		         shifted(b.config) ? w->phase : w->align);
		return KGEN_ENOTFOUND;
	}
	e->launch.block = b.block;
	e->launch.smem = b.smem;
	e->launch.rows_per_cta = b.rows_per_cta;
	e->launch.cluster = b.cluster;
	e->launch.split = kg_config_split(b.config);
	if (!e->launch.block || !e->launch.rows_per_cta) {
		snprintf(why, len, "it has no block or rows_per_cta");
		return KGEN_ENOTFOUND;
	}
	if (e->launch.block > 1024 || e->launch.cluster > (e->launch.split ? 128u : 16u) || e->launch.rows_per_cta > 65536 ||
	    e->launch.smem > (256u << 10)) {
		snprintf(why, len, "its launch geometry is out of range (block %u, cluster %u, rows_per_cta %u, smem %u)",
		         e->launch.block, e->launch.cluster, e->launch.rows_per_cta, e->launch.smem);
		return KGEN_ENOTFOUND;
	}
	if (kg_record_cubin(r, &cubin, &size)) {
		snprintf(why, len, "%s", kgen_last_error());
		return KGEN_ENOTFOUND;
	}
	rc = kg_module_load(cubin, b.kernel, b.prep, b.finish, e->launch.smem, e->launch.split ? 1 : e->launch.cluster,
	                    &e->mod, &e->launch);
	free(cubin);
	if (rc) { /* e.g. a cubin this driver cannot load */
		snprintf(why, len, "%s", kgen_last_error());
		return KGEN_ENOTFOUND;
	}
	e->launch.max_grid = kg_max_grid(e->launch.fn, b.persist, e->launch.block, e->launch.smem,
	                                 e->launch.split ? 1 : e->launch.cluster, dev->sms, (int)e->launch.split);
	if (e->launch.split && e->launch.max_grid < e->launch.cluster) {
		/* (another GPU's record, say: its CTAs would wait for ones that cannot be resident) */
		snprintf(why, len, "a row over %u CTAs, of which this GPU holds %u at once", e->launch.cluster,
		         e->launch.max_grid);
		kg_cu.cuModuleUnload(e->mod);
		e->mod = NULL;
		return KGEN_ENOTFOUND;
	}
	snprintf(e->origin, sizeof e->origin, "%s", r->origin);
	snprintf(e->config, sizeof e->config, "%s", b.config);
	snprintf(e->lender, sizeof e->lender, "%s", r->lender);
	return 0;
}

/* The message of a problem no kernel can be made for without NVRTC; why:
 * what was wrong with the record found, if one was. */
static int no_nvrtc(kgen_ctx *ctx, const kg_device *dev, const kg_want *w, const kg_record *r, const char *why)
{
	char opts[96], where[1024], skipped[800] = "", nvrtc[512];
	snprintf(nvrtc, sizeof nvrtc, "%s", kgen_last_error());
	kg_opts_string(w->op, w->opts, opts, sizeof opts);
	kg_packs_describe(ctx->packs, where, sizeof where);
	if (r->rec)
		snprintf(skipped, sizeof skipped, " (the record of %s '%s' is unusable: %s)", r->pack ? "pack" : "cache",
		         r->where, why);
	else if (r->skipped_stale || r->skipped_nvrtc)
		snprintf(skipped, sizeof skipped, " (skipped: %d made by another template or kgen version, %d by an NVRTC "
		         "newer than the driver)", r->skipped_stale, r->skipped_nvrtc);
	return kg_err(KGEN_ENONVRTC,
	              "no tuned kernel for %s %s %s %s %lld%s%s on '%s' (sm_%d) in the cache or in any pack (%s)%s, "
	              "and NVRTC cannot be loaded (%s): install a pack for this GPU or the CUDA NVRTC library",
	              kg_ops[w->op].op, kg_ops[w->op].pass, kg_dtype_names[w->dtype],
	              kg_ops[w->op].xent ? "vocab" : "cols", w->cols, kg_ops[w->op].xent ? " " : "",
	              kg_ops[w->op].xent ? opts : "", dev->name, dev->sm, where, skipped, nvrtc);
}

/* The threads per row at w->cols that keep the vectors per thread of tpr
 * at near_cols: tpr scaled by the widths' ratio, to the nearest power of two
 * (the space's tpr are powers of two; the template rejects one above the
 * CTA). Taken as it is at half the width, a config of one row per CTA
 * became a CTA of half the bytes: cross-entropy forward 262144x512 ran the
 * 1024-column record's tpr at 0.57-0.62x Quack on an H100
 * (bench/NOTES.md). */
static long long scaled_tpr(long long tpr, long long near_cols, long long cols)
{
	const double t = (double)tpr * (double)cols / (double)near_cols;
	long long s = 1;
	while ((double)s * 2 <= t * 1.41421356) /* the nearest power of two in log scale */
		s *= 2;
	return s;
}

/* The configuration of the template's space for p nearest to cfg (tuned at
 * near_cols) that the call's alignment allows: the most matching values,
 * weighted strategy 8, cluster 4, threads and load 2, the rest 1, where tpr
 * is compared scaled to this width (scaled_tpr: the same vectors per
 * thread, so the same bytes per CTA for rows in one CTA); shift and vec
 * follow the width and the pointers, so an odd width takes the shifted
 * twin of an aligned width's config; the earlier of two as near. 0 and
 * out, or -1 when none shares the strategy. */
static int nearest_in_space(gen *g, const gen_problem *p, const kg_want *w, const char *cfg, long long near_cols,
                            char *out, size_t len)
{
	static const struct {
		const char *key;
		int weight;
	} keys[] = {{"strategy", 8}, {"cluster", 4}, {"threads", 2}, {"load", 2}, {"tpr", 1},
	            {"occ", 1},      {"persist", 1}, {"xchg", 1},    {"vec", 1}};
	char **configs = NULL, a[32], b[32], tpr[32] = "";
	int n = 0, best = -1, best_score = 0, vec;
	long long t;
	if (!kg_config_get(cfg, "tpr", a, sizeof a) && (t = atoll(a)) > 0 && near_cols > 0) {
		long long s = scaled_tpr(t, near_cols, w->cols), threads;
		/* (no more than the CTA's threads: a wider width's row of one CTA
		 * stays one CTA's, as the space holds no tpr above threads) */
		if (!kg_config_get(cfg, "threads", b, sizeof b) && (threads = atoll(b)) > 0 && s > threads)
			s = threads;
		snprintf(tpr, sizeof tpr, "%lld", s);
	}
	if (gen_space(g, p, &configs, &n))
		return -1;
	for (int i = 0; i < n; i++) {
		int score = 0;
		if (!kg_config_int(configs[i], "vec", &vec) && vec > allowed_vec(configs[i], w))
			continue;
		for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
			kg_config_get(cfg, keys[k].key, a, sizeof a);
			if (tpr[0] && !strcmp(keys[k].key, "tpr"))
				snprintf(a, sizeof a, "%s", tpr);
			kg_config_get(configs[i], keys[k].key, b, sizeof b);
			if (!strcmp(a, b))
				score += keys[k].weight;
			else if (k == 0)
				score = -1000; /* another strategy: no guess */
		}
		if (score > best_score) {
			best = i;
			best_score = score;
		}
	}
	if (best >= 0)
		snprintf(out, len, "%s", configs[best]);
	for (int i = 0; i < n; i++)
		free(configs[i]);
	free(configs);
	return best >= 0 ? 0 : -1;
}

/* Build the launchable kernel for a table miss: the tuned record (no lock
 * but the cache's), else a rendering compiled once (under gen_lock: one Lua
 * state, and one compilation of a variant at a time). */
static int resolve(kgen_ctx *ctx, const kg_device *dev, const kg_want *w, kg_entry *e)
{
	const char *opname = kg_ops[w->op].op;
	const int dtype = w->dtype;
	char opts[96], prefix[KG_KEY_MAX], stamp[96], hex[17];
	kg_best tuned;
	gen_problem p = {opname, kg_ops[w->op].pass, dtype, w->cols, dev->sm, opts};
	char *rec, *dflt = NULL;
	void *cubin = NULL;
	size_t size;
	gen_variant v = {0};
	kg_record r, near = {0};
	long long near_cols = 0;
	char why[600] = "";
	int rc, driver = 0, had_far = 0;
	kg_stamp(stamp, sizeof stamp, gen_template_hash(NULL, kg_op_family(opname)));
	kg_opts_string(w->op, w->opts, opts, sizeof opts);
	kg_problem_prefix(prefix, sizeof prefix, w->op, w->opts, dtype, w->cols, dev->sm, dev->name);
	kg_cu.cuDriverGetVersion(&driver);
	kg_record_find(ctx->cache, ctx->packs, prefix, w->bucket, stamp, driver, &r);
	/* no record for this GPU model: one of another model of the SM */
	if (!r.rec && kg_borrow_enabled()) {
		kg_record b;
		if (!kg_record_borrow(ctx->packs, prefix, w->bucket, stamp, driver, dev, &b)) {
			b.skipped_stale += r.skipped_stale;
			b.skipped_nvrtc += r.skipped_nvrtc;
			r = b;
		}
	}
	/* tuned for far more rows: the default, if NVRTC can compile it */
	if (r.rec && r.far && kg_nvrtc_load() == 0) {
		had_far = 1;
		kg_record_free(&r);
	} else if (r.rec && !from_record(&r, w, dev, e, why, sizeof why)) {
		kg_record_free(&r);
		return 0;
	}
	rec = r.rec;
	/* no record of this width (not even one far in rows: then the
	 * default, as measured): the config of the nearest tuned width is a
	 * better guess than the default (at long rows the default reached
	 * 58-87% of the copy where the tuned configs of the neighbouring
	 * widths reach 95-99%) */
	if (!rec && !had_far && kg_near_width_enabled())
		kg_record_near_width(ctx->cache, ctx->packs, prefix, w->bucket, stamp, driver, kg_borrow_enabled(),
		                     w->cols % (16 / kg_dtype_size(dtype)) == 0, &near);
	/* Fallback: the tuned config with the vector width the pointers allow,
	 * else the template default (narrowed the same way). */
	pthread_mutex_lock(&ctx->gen_lock);
	if (!ctx->gen && (rc = gen_open(&ctx->gen)))
		goto out;
	if (rec && !kg_best_parse(rec, &tuned) && tuned.config[0]) {
		char narrowed[200];
		narrow(narrowed, sizeof narrowed, tuned.config, w);
		if (gen_render(ctx->gen, &p, narrowed, &v))
			gen_variant_free(&v); /* a config the template no longer takes */
	}
	/* (a neighbour of the same kind only: an odd width that no 16-byte
	 * vector divides takes an odd width's shifted config, an aligned width
	 * an aligned one; an aligned config's shifted twin at 100003 columns
	 * ran at 54% of the copy where the default ran at 80%. The lookup
	 * passes over shifted records for an aligned width, so that 49152
	 * columns, nearer 50257 than 65536, find 65536's record rather than
	 * none; an odd width keeps the nearest record, shifted or not) */
	/* (and not where the template's default holds the row in registers
	 * (reg) and the neighbour does not: a wider width's record that streams
	 * its rows (loop) is no guess for a width whose rows fit registers; on
	 * the H100's bench grid, fused cross-entropy f32 16384x8192 ran the
	 * 16384-column record's loop at 69% of the copy and the default's
	 * registers at 97%; over the grid's 32 cases without a record of their
	 * own, this rule is 1.6% faster than taking every neighbour (geometric
	 * mean) and as fast as the default alone, within -0.5% and +1.7% of it
	 * in each case) */
	if (!v.source && near.rec && !kg_best_parse(near.rec, &tuned) && tuned.config[0] &&
	    shifted(tuned.config) == (w->cols % (16 / kg_dtype_size(dtype)) != 0)) {
		char guess[200], s1[32], s2[32];
		if ((rc = gen_default(ctx->gen, &p, &dflt)))
			goto out;
		kg_config_get(tuned.config, "strategy", s1, sizeof s1);
		kg_config_get(dflt, "strategy", s2, sizeof s2);
		/* only a config the template would have tuned at this width */
		if ((!strcmp(s2, "reg") && strcmp(s1, "reg")) ||
		    nearest_in_space(ctx->gen, &p, w, tuned.config, near.near_cols, guess, sizeof guess) ||
		    gen_render(ctx->gen, &p, guess, &v))
			gen_variant_free(&v);
		else
			near_cols = near.near_cols;
	}
	/* A guess (the record's config narrowed, or the nearest width's) that
	 * this GPU cannot run (a row split over more CTAs than it holds at
	 * once, a source NVRTC fails, a module the driver refuses) gives way
	 * to the default: on the stand-in, fused cross-entropy f16 1x500000
	 * took the 262144-column record's split over 64 CTAs and failed the
	 * call ("a row split over CTAs needs a persistent grid") where the
	 * default runs. */
	for (int guess = v.source != NULL;; guess = 0) {
		if (!v.source) {
			char narrowed[200];
			if (!dflt && (rc = gen_default(ctx->gen, &p, &dflt)))
				goto out;
			narrow(narrowed, sizeof narrowed, dflt, w);
			if ((rc = gen_render(ctx->gen, &p, narrowed, &v)))
				goto out;
		}
		if ((rc = cubin_for(ctx, v.source, dev->sm, &cubin, &size, hex))) {
			if (rc == KGEN_ENONVRTC) {
				rc = no_nvrtc(ctx, dev, w, &r, why);
				goto out;
			}
			if (!guess)
				goto out;
		}
		e->launch.block = v.block;
		e->launch.smem = v.smem;
		e->launch.rows_per_cta = v.rows_per_cta;
		e->launch.cluster = v.cluster;
		e->launch.split = v.split;
		if (!rc)
			rc = kg_module_load(cubin, v.kernel, v.prep, v.finish, v.smem, v.split ? 1 : v.cluster, &e->mod,
			                    &e->launch);
		if (!rc)
			e->launch.max_grid = kg_max_grid(e->launch.fn, v.persist, v.block, v.smem, v.split ? 1 : v.cluster,
			                                 dev->sms, (int)v.split);
		if (!guess || (!rc && !(v.split && e->launch.max_grid < v.cluster)))
			break;
		if (!rc)
			kg_cu.cuModuleUnload(e->mod);
		e->mod = NULL;
		memset(&e->launch, 0, sizeof e->launch);
		gen_variant_free(&v);
		free(cubin);
		cubin = NULL;
		near_cols = 0;
	}
	snprintf(e->origin, sizeof e->origin, "%s", near_cols ? "nearest" : "fallback");
	snprintf(e->config, sizeof e->config, "%s", v.config);
	e->near_cols = near_cols;
	if (near_cols)
		snprintf(e->lender, sizeof e->lender, "%s", near.lender);
out:
	pthread_mutex_unlock(&ctx->gen_lock);
	gen_variant_free(&v);
	free(dflt);
	free(cubin);
	free(rec);
	kg_record_free(&near);
	return rc;
}

/* The scratch of the current context and stream, made on first use;
 * caller holds ctx->lock. */
static int scratch_for(kgen_ctx *ctx, const kg_want *w, CUstream stream, kg_scratch **out)
{
	/* The per-thread default stream is one handle but a stream per thread. */
	pthread_t self = stream == CU_STREAM_PER_THREAD ? pthread_self() : (pthread_t)0;
	kg_scratch *sc;
	CUresult r;
	for (sc = ctx->scratch; sc; sc = sc->next)
		if (sc->ctxid == w->ctxid && sc->stream == stream && pthread_equal(sc->thread, self)) {
			*out = sc;
			return 0;
		}
	if (!(sc = calloc(1, sizeof *sc)))
		return kg_err(KGEN_ENOMEM, "out of memory");
	if ((r = kg_cu.cuMemAlloc(&sc->ptr, KGEN_XENT_WORKSPACE_BYTES))) {
		free(sc);
		return kg_cu_fail("cuMemAlloc (scratch)", r);
	}
	/* cleared in stream order: the stream's first kernel (prep or the row kernel) comes after */
	if ((r = kg_cu.cuMemsetD8Async(sc->ptr, 0, KGEN_XENT_WORKSPACE_BYTES, stream))) {
		kg_cu.cuMemFree(sc->ptr);
		free(sc);
		return kg_cu_fail("cuMemsetD8Async (scratch)", r);
	}
	pthread_mutex_init(&sc->lock, NULL);
	sc->cuctx = w->cuctx;
	sc->ctxid = w->ctxid;
	sc->stream = stream;
	sc->thread = self;
	sc->next = ctx->scratch;
	ctx->scratch = sc;
	*out = sc;
	return 0;
}

/* A split kernel's exchange areas (e->launch.split), made and cleared when
 * it is loaded, outside any capture: its launches only take one in turn. */
static int split_areas(kg_entry *e)
{
	CUresult r;
	if ((r = kg_cu.cuMemAlloc(&e->xg, KG_XG_SETS * KG_XG_BYTES))) {
		e->xg = 0;
		return kg_cu_fail("cuMemAlloc (exchange areas)", r);
	}
	if ((r = kg_cu.cuMemsetD8(e->xg, 0, KG_XG_SETS * KG_XG_BYTES))) {
		kg_cu.cuMemFree(e->xg);
		e->xg = 0;
		return kg_cu_fail("cuMemsetD8 (exchange areas)", r);
	}
	return 0;
}

/* Enqueue prep, row kernel and finish on the handle's scratch of the stream,
 * atomically with respect to other kgen calls on that stream. */
static int launch_with_scratch(kg_scratch *sc, const kg_launch *l, kg_args *a, int with_prep, CUstream stream)
{
	int rc;
	a->scratch = (float *)(uintptr_t)sc->ptr;
	pthread_mutex_lock(&sc->lock);
	rc = kg_launch_rows(l, a, with_prep, stream);
	pthread_mutex_unlock(&sc->lock);
	return rc;
}

/* Enqueue prep, row kernel and finish on the caller's workspace: cleared on the
 * stream first (the caller's memory may hold anything). */
static int launch_with_workspace(void *ws, const kg_launch *l, kg_args *a, int with_prep, CUstream stream)
{
	CUresult r;
	a->scratch = (float *)ws;
	if ((r = kg_cu.cuMemsetD8Async((CUdeviceptr)(uintptr_t)ws, 0, KGEN_XENT_WORKSPACE_BYTES, stream)))
		return kg_cu_fail("cuMemsetD8Async (workspace)", r);
	return kg_launch_rows(l, a, with_prep, stream);
}

/* Find the kernel of op for a call (loading it on a table miss) and, for
 * a call that needs the handle's scratch (sc not NULL), the scratch of the
 * stream (made on first use). */
static int find_kernel(kgen_ctx *ctx, int op, unsigned opts, int dtype, long long cols, const int align[2],
                       long long rows, CUstream stream, kg_scratch **sc, kg_entry **out)
{
	const kg_device *dev = NULL;
	kg_want w = {NULL, 0, op, dtype, align[0], align[1], opts, cols, kg_rows_bucket(rows)};
	kg_entry *e, *fresh;
	int rc;

	pthread_mutex_lock(&ctx->lock);
	rc = current_device(ctx, &w.cuctx, &w.ctxid, &dev);
	if (!rc && sc)
		rc = scratch_for(ctx, &w, stream, sc);
	e = rc ? NULL : table_find(ctx, &w);
	pthread_mutex_unlock(&ctx->lock);
	if (rc)
		return rc;
	if (!e) {
		if (!(fresh = calloc(1, sizeof *fresh)))
			return kg_err(KGEN_ENOMEM, "out of memory");
		if ((rc = resolve(ctx, dev, &w, fresh))) {
			free(fresh);
			return rc;
		}
		if (fresh->launch.split && (rc = split_areas(fresh))) {
			kg_cu.cuModuleUnload(fresh->mod);
			free(fresh);
			return rc;
		}
		fresh->cuctx = w.cuctx;
		fresh->ctxid = w.ctxid;
		fresh->op = op;
		fresh->opts = opts;
		fresh->dtype = dtype;
		fresh->cols = cols;
		fresh->bucket = w.bucket;
		fresh->align = w.align;
		fresh->phase = w.phase;
		pthread_mutex_lock(&ctx->lock);
		if ((e = table_find(ctx, &w))) {
			/* Another thread resolved it first: keep theirs. */
			kg_cu.cuModuleUnload(fresh->mod);
			if (fresh->xg)
				kg_cu.cuMemFree(fresh->xg);
			free(fresh);
		} else {
			unsigned slot = entry_slot(&w);
			fresh->next = ctx->table[slot];
			ctx->table[slot] = e = fresh;
		}
		pthread_mutex_unlock(&ctx->lock);
		kg_last_hit = 0;
	} else {
		kg_last_hit = 1;
	}
	*out = e;
	return 0;
}

/* Find (or build) the kernel of op for these arguments and launch it; ws:
 * the caller's workspace, or NULL for the handle's scratch of the stream
 * (used only with prep or the loss slots: otherwise no kernel reads it). */
static int run(kgen_ctx *ctx, int op, unsigned opts, int dtype, long long cols, const int align[2], kg_args *a,
               int with_prep, void *ws, CUstream stream)
{
	const int need = kg_ops[op].xent && (with_prep || kg_xent_with_slots(op, a->reduction, a->rows));
	kg_scratch *sc = NULL;
	kg_entry *e;
	int rc;
	if ((rc = find_kernel(ctx, op, opts, dtype, cols, align, a->rows, stream, need && !ws ? &sc : NULL, &e)))
		return rc;
	kg_last_entry = e;
	kg_last_ctx = ctx;
	a->xg = NULL;
	if (e->launch.split) /* the kernel's exchange areas in turn */
		a->xg = (unsigned *)(uintptr_t)(e->xg + __atomic_fetch_add(&e->xg_next, 1u, __ATOMIC_RELAXED) % KG_XG_SETS *
		                                         KG_XG_BYTES);
	if (ws && need)
		return launch_with_workspace(ws, &e->launch, a, with_prep, stream);
	if (sc)
		return launch_with_scratch(sc, &e->launch, a, with_prep, stream);
	return kg_launch_rows(&e->launch, a, with_prep, stream);
}

/* For the rows of three tensors (pointer p[k], stride ld[k] elements of
 * esize bytes): out[0] the widest access, in bytes (esize..16), that every
 * row start allows; out[1] the widest such that every row of every tensor
 * starts at the same offset modulo it (what shifted kernels need). */
static const int *row_alignment(const void *p0, long long ld0, const void *p1, long long ld1, const void *p2,
                          long long ld2, int esize, int out[2])
{
	const uintptr_t starts = (uintptr_t)p0 | (uintptr_t)p1 | (uintptr_t)p2 | (uintptr_t)(ld0 * esize) |
	                         (uintptr_t)(ld1 * esize) | (uintptr_t)(ld2 * esize);
	const uintptr_t offsets = ((uintptr_t)p1 - (uintptr_t)p0) | ((uintptr_t)p2 - (uintptr_t)p0) |
	                          (uintptr_t)((ld1 - ld0) * esize) | (uintptr_t)((ld2 - ld0) * esize) |
	                          ((uintptr_t)p0 & (uintptr_t)(esize - 1));
	out[0] = out[1] = 16;
	while (out[0] > esize && (starts & (uintptr_t)(out[0] - 1)))
		out[0] >>= 1;
	while (out[1] > esize && (offsets & (uintptr_t)(out[1] - 1)))
		out[1] >>= 1;
	return out;
}

/* The checks every op shares: handle, dtype, shape, strides, element alignment. */
static int check_common(kgen_ctx *ctx, int dtype, int64_t rows, int64_t cols, const char *colname)
{
	if (!ctx)
		return kg_err(KGEN_EINVAL, "ctx must not be NULL");
	if (dtype < 0 || dtype > KGEN_BF16)
		return kg_err(KGEN_EINVAL, "unknown dtype %d", dtype);
	if (rows < 1 || rows > INT32_MAX)
		return kg_err(KGEN_EINVAL, "rows must be in 1..2147483647 (got %lld)", (long long)rows);
	if (cols < 1 || cols > INT32_MAX)
		return kg_err(KGEN_EINVAL, "%s must be in 1..2147483647 (got %lld)", colname, (long long)cols);
	return 0;
}

/* The largest span of a tensor in bytes, rows * ld * esize: 2^56, beyond
 * any GPU's address space, so that no offset computed from rows, ld and
 * the element size (here or in a kernel) can overflow. */
#define KG_MAX_SPAN ((int64_t)1 << 56)

static int check_tensor(const void *p, const char *name, int64_t ld, const char *ldname, int64_t cols, int esize,
                        int64_t rows)
{
	if (!p)
		return kg_err(KGEN_EINVAL, "%s must not be NULL", name);
	if (ld < cols)
		return kg_err(KGEN_EINVAL, "%s must be >= %lld (got %lld)", ldname, (long long)cols, (long long)ld);
	/* rows >= 1 (check_common), so neither product overflows */
	if (ld > KG_MAX_SPAN / esize / rows)
		return kg_err(KGEN_EINVAL, "%s is too large: %lld rows of %lld elements of %d bytes span more than 2^56 bytes",
		              ldname, (long long)rows, (long long)ld, esize);
	if ((uintptr_t)p % (uintptr_t)esize)
		return kg_err(KGEN_EALIGN, "%s is not aligned to its element size (%d bytes)", name, esize);
	return 0;
}

static int softmax_fwd_like(int op, kgen_ctx *ctx, void *y, const void *x, int64_t rows, int64_t cols,
                            int64_t ld_x, int64_t ld_y, kgen_dtype dtype, void *stream)
{
	kg_args a;
	int rc, es, align[2];
	kg_last_entry = NULL;
	if ((rc = check_common(ctx, (int)dtype, rows, cols, "cols")))
		return rc;
	es = kg_dtype_size(dtype);
	if ((rc = check_tensor(x, "x", ld_x, "ld_x", cols, es, rows)) || (rc = check_tensor(y, "y", ld_y, "ld_y", cols, es, rows)))
		return rc;
	memset(&a, 0, sizeof a);
	a.out = y;
	a.in0 = x;
	a.rows = rows;
	a.ld_out = ld_y;
	a.ld_in0 = ld_x;
	return run(ctx, op, 0, dtype, cols, row_alignment(y, ld_y, x, ld_x, x, ld_x, es, align), &a, 0, NULL, (CUstream)stream);
}

static int softmax_bwd_like(int op, kgen_ctx *ctx, void *dx, const void *y, const void *dy, int64_t rows,
                            int64_t cols, int64_t ld_y, int64_t ld_dy, int64_t ld_dx, kgen_dtype dtype,
                            void *stream)
{
	kg_args a;
	int rc, es, align[2];
	kg_last_entry = NULL;
	if ((rc = check_common(ctx, (int)dtype, rows, cols, "cols")))
		return rc;
	es = kg_dtype_size(dtype);
	if ((rc = check_tensor(y, "y", ld_y, "ld_y", cols, es, rows)) || (rc = check_tensor(dy, "dy", ld_dy, "ld_dy", cols, es, rows)) ||
	    (rc = check_tensor(dx, "dx", ld_dx, "ld_dx", cols, es, rows)))
		return rc;
	memset(&a, 0, sizeof a);
	a.out = dx;
	a.in0 = y;
	a.in1 = dy;
	a.rows = rows;
	a.ld_out = ld_dx;
	a.ld_in0 = ld_y;
	a.ld_in1 = ld_dy;
	return run(ctx, op, 0, dtype, cols, row_alignment(dx, ld_dx, y, ld_y, dy, ld_dy, es, align), &a, 0, NULL, (CUstream)stream);
}

int kgen_softmax_fwd(kgen_ctx *ctx, void *y, const void *x, int64_t rows, int64_t cols, int64_t ld_x,
                     int64_t ld_y, kgen_dtype dtype, void *stream)
{
	return softmax_fwd_like(KG_SOFTMAX_FWD, ctx, y, x, rows, cols, ld_x, ld_y, dtype, stream);
}

int kgen_log_softmax_fwd(kgen_ctx *ctx, void *y, const void *x, int64_t rows, int64_t cols, int64_t ld_x,
                         int64_t ld_y, kgen_dtype dtype, void *stream)
{
	return softmax_fwd_like(KG_LOGSOFTMAX_FWD, ctx, y, x, rows, cols, ld_x, ld_y, dtype, stream);
}

int kgen_softmax_bwd(kgen_ctx *ctx, void *dx, const void *y, const void *dy, int64_t rows, int64_t cols,
                     int64_t ld_y, int64_t ld_dy, int64_t ld_dx, kgen_dtype dtype, void *stream)
{
	return softmax_bwd_like(KG_SOFTMAX_BWD, ctx, dx, y, dy, rows, cols, ld_y, ld_dy, ld_dx, dtype, stream);
}

int kgen_log_softmax_bwd(kgen_ctx *ctx, void *dx, const void *y, const void *dy, int64_t rows, int64_t cols,
                         int64_t ld_y, int64_t ld_dy, int64_t ld_dx, kgen_dtype dtype, void *stream)
{
	return softmax_bwd_like(KG_LOGSOFTMAX_BWD, ctx, dx, y, dy, rows, cols, ld_y, ld_dy, ld_dx, dtype, stream);
}

void kgen_xent_options_init(kgen_xent_options *o)
{
	if (!o)
		return;
	memset(o, 0, sizeof *o);
	o->ignore_index = -100;
	o->reduction = KGEN_REDUCTION_MEAN;
	o->denominator = 1.0f;
}

size_t kgen_xent_workspace_size(void)
{
	return KGEN_XENT_WORKSPACE_BYTES;
}

/* The problem bits of a cross-entropy call, and whether it runs the prep
 * kernel (kg_xent_with_prep; it then needs a scratch, as the loss slots
 * do: kg_xent_with_slots). */
static unsigned xent_bits(int op, kgen_itype itype, const kgen_xent_options *opt, int64_t rows, int *with_prep)
{
	unsigned bits = 0;
	bits |= itype == KGEN_INT32 ? KG_XO_I32 : 0;
	bits |= opt->weight ? KG_XO_WEIGHT : 0;
	bits |= opt->label_smoothing > 0.0f ? KG_XO_SMOOTH : 0;
	bits |= opt->z_loss > 0.0f ? KG_XO_ZLOSS : 0;
	bits |= opt->softcap > 0.0f ? KG_XO_SOFTCAP : 0;
	*with_prep = kg_xent_with_prep(op, bits, opt->reduction, rows);
	return bits;
}

/* Cross-entropy: validate, fill the arguments, launch. dlogits NULL for fwd. */
static int xent(int op, kgen_ctx *ctx, float *loss, float *lse, void *dlogits, const void *logits,
                const void *target, const float *dloss, int64_t rows, int64_t vocab, int64_t ld, int64_t ld_d,
                kgen_dtype dtype, kgen_itype itype, const kgen_xent_options *opt, void *stream)
{
	kgen_xent_options dflt;
	unsigned bits = 0;
	kg_args a;
	int rc, es, with_prep, align[2];
	kg_last_entry = NULL;
	if (!opt) {
		kgen_xent_options_init(&dflt);
		opt = &dflt;
	}
	if ((rc = check_common(ctx, (int)dtype, rows, vocab, "vocab")))
		return rc;
	es = kg_dtype_size(dtype);
	if ((rc = check_tensor(logits, "logits", ld, "ld", vocab, es, rows)))
		return rc;
	if (op != KG_XENT_FWD && (rc = check_tensor(dlogits, "dlogits", ld_d, "ld_dlogits", vocab, es, rows)))
		return rc;
	if (op != KG_XENT_FWD && dlogits == logits && ld_d != ld)
		return kg_err(KGEN_EINVAL, "in place (dlogits == logits) needs ld_dlogits == ld (%lld != %lld)",
		              (long long)ld_d, (long long)ld);
	if ((int)itype != KGEN_INT32 && (int)itype != KGEN_INT64)
		return kg_err(KGEN_EINVAL, "unknown target type %d", (int)itype);
	if (!target)
		return kg_err(KGEN_EINVAL, "target must not be NULL");
	if ((uintptr_t)target % (itype == KGEN_INT32 ? 4u : 8u))
		return kg_err(KGEN_EALIGN, "target is not aligned to its element size");
	if (op != KG_XENT_BWD && !loss)
		return kg_err(KGEN_EINVAL, "loss must not be NULL");
	if (op == KG_XENT_BWD && !lse)
		return kg_err(KGEN_EINVAL, "lse must not be NULL (the logsumexp saved by the forward pass)");
	if (((uintptr_t)loss | (uintptr_t)lse | (uintptr_t)dloss | (uintptr_t)opt->weight) % 4u)
		return kg_err(KGEN_EALIGN, "loss, lse, dloss and weight must be 4-byte aligned");
	if ((int)opt->reduction < KGEN_REDUCTION_NONE || (int)opt->reduction > KGEN_REDUCTION_SUM_OVER)
		return kg_err(KGEN_EINVAL, "unknown reduction %d", (int)opt->reduction);
	if (!(opt->label_smoothing >= 0.0f && opt->label_smoothing <= 1.0f))
		return kg_err(KGEN_EINVAL, "label_smoothing must be in [0, 1] (got %g)", (double)opt->label_smoothing);
	if (!(opt->z_loss >= 0.0f) || opt->z_loss > 1e30f)
		return kg_err(KGEN_EINVAL, "z_loss must be >= 0 and finite (got %g)", (double)opt->z_loss);
	/* tiny values would overflow x / softcap and 1 / denominator (kgen.h) */
	if (!(opt->softcap == 0.0f || (opt->softcap >= 1e-3f && opt->softcap <= 1e30f)))
		return kg_err(KGEN_EINVAL, "softcap must be 0 (none) or in [1e-3, 1e30] (got %g)", (double)opt->softcap);
	if (opt->reduction == KGEN_REDUCTION_SUM_OVER && !(opt->denominator >= 1e-6f && opt->denominator < 1e38f))
		return kg_err(KGEN_EINVAL, "denominator must be in [1e-6, 1e38) for reduction sum_over (got %g)",
		              (double)opt->denominator);
	if ((uintptr_t)opt->bad_targets % 8u)
		return kg_err(KGEN_EALIGN, "bad_targets must be 8-byte aligned (a 64-bit atomic counter)");
	if (opt->weight && op != KG_XENT_FWD && (const void *)opt->weight == dlogits)
		return kg_err(KGEN_EINVAL, "weight must not alias dlogits");
	if ((uintptr_t)opt->workspace % 8u)
		return kg_err(KGEN_EALIGN, "workspace must be 8-byte aligned");
	bits = xent_bits(op, itype, opt, rows, &with_prep);
	memset(&a, 0, sizeof a);
	a.out = dlogits;
	a.in0 = logits;
	a.target = target;
	a.weight = opt->weight;
	a.loss = op == KG_XENT_BWD ? NULL : loss;
	a.lse = lse;
	a.dloss = dloss;
	a.bad = opt->bad_targets;
	a.rows = rows;
	a.ld_out = op == KG_XENT_FWD ? ld : ld_d;
	a.ld_in0 = ld;
	a.ignore_index = opt->ignore_index;
	a.eps = opt->label_smoothing;
	a.zloss = opt->z_loss;
	a.softcap = opt->softcap;
	a.inv_den = opt->reduction == KGEN_REDUCTION_SUM_OVER ? 1.0f / opt->denominator : 1.0f;
	a.reduction = (int)opt->reduction;
	return run(ctx, op, bits, dtype, vocab,
	           row_alignment(logits, ld, op == KG_XENT_FWD ? logits : dlogits, op == KG_XENT_FWD ? ld : ld_d, logits, ld, es,
	                         align),
	           &a, with_prep, opt->workspace, (CUstream)stream);
}

int kgen_xent_fwd(kgen_ctx *ctx, float *loss, float *lse, const void *logits, const void *target, int64_t rows,
                  int64_t vocab, int64_t ld, kgen_dtype dtype, kgen_itype itype, const kgen_xent_options *opt,
                  void *stream)
{
	return xent(KG_XENT_FWD, ctx, loss, lse, NULL, logits, target, NULL, rows, vocab, ld, ld, dtype, itype, opt,
	            stream);
}

int kgen_xent_bwd(kgen_ctx *ctx, void *dlogits, const void *logits, const void *target, const float *lse,
                  const float *dloss, int64_t rows, int64_t vocab, int64_t ld, int64_t ld_dlogits, kgen_dtype dtype,
                  kgen_itype itype, const kgen_xent_options *opt, void *stream)
{
	return xent(KG_XENT_BWD, ctx, NULL, (float *)lse, dlogits, logits, target, dloss, rows, vocab, ld, ld_dlogits,
	            dtype, itype, opt, stream);
}

int kgen_xent_fused(kgen_ctx *ctx, float *loss, float *lse, void *dlogits, const void *logits, const void *target,
                    const float *dloss, int64_t rows, int64_t vocab, int64_t ld, int64_t ld_dlogits,
                    kgen_dtype dtype, kgen_itype itype, const kgen_xent_options *opt, void *stream)
{
	return xent(KG_XENT_FUSED, ctx, loss, lse, dlogits, logits, target, dloss, rows, vocab, ld, ld_dlogits, dtype,
	            itype, opt, stream);
}

int kgen_prepare(kgen_ctx *ctx, kgen_op op, kgen_dtype dtype, int64_t rows, int64_t cols, int64_t ld,
                 kgen_itype itype, const kgen_xent_options *opt, void *stream)
{
	kgen_xent_options dflt;
	kg_scratch *sc = NULL;
	kg_entry *e;
	unsigned bits = 0;
	int rc, es, with_prep = 0, need, align[2];
	/* row starts as a caching allocator gives them (256-byte blocks), rows ld apart */
	const void *base = (const void *)(uintptr_t)256;
	kg_last_entry = NULL;
	if ((int)op < KGEN_OP_SOFTMAX_FWD || (int)op > KGEN_OP_XENT_FUSED)
		return kg_err(KGEN_EINVAL, "unknown op %d", (int)op);
	if ((rc = check_common(ctx, (int)dtype, rows, cols, kg_ops[op].xent ? "vocab" : "cols")))
		return rc;
	if (ld < cols)
		return kg_err(KGEN_EINVAL, "ld must be >= %lld (got %lld)", (long long)cols, (long long)ld);
	if (ld > KG_MAX_SPAN / kg_dtype_size(dtype) / rows) /* as the calls check it (check_tensor) */
		return kg_err(KGEN_EINVAL, "ld is too large: %lld rows of %lld elements of %d bytes span more than 2^56 bytes",
		              (long long)rows, (long long)ld, kg_dtype_size(dtype));
	if (kg_ops[op].xent) {
		if (!opt) {
			kgen_xent_options_init(&dflt);
			opt = &dflt;
		}
		if ((int)itype != KGEN_INT32 && (int)itype != KGEN_INT64)
			return kg_err(KGEN_EINVAL, "unknown target type %d", (int)itype);
		if ((int)opt->reduction < KGEN_REDUCTION_NONE || (int)opt->reduction > KGEN_REDUCTION_SUM_OVER)
			return kg_err(KGEN_EINVAL, "unknown reduction %d", (int)opt->reduction);
		bits = xent_bits((int)op, itype, opt, rows, &with_prep);
	}
	es = kg_dtype_size(dtype);
	row_alignment(base, ld, base, ld, base, ld, es, align);
	/* the scratch of the stream, for prep's denominators or the loss slots */
	need = kg_ops[op].xent && (with_prep || kg_xent_with_slots((int)op, (int)opt->reduction, rows));
	return find_kernel(ctx, (int)op, bits, (int)dtype, cols, align, rows, (CUstream)stream,
	                   need && !opt->workspace ? &sc : NULL, &e);
}
