/* kgen.c: the public runtime: lookup, loading, fallback and launch.
 *
 * A call builds a small key (context, op, dtype, cols, rows bucket,
 * alignment) and looks it up in the in-process table under a mutex; on a
 * hit it launches at once. On a miss it reads the tuning cache for the best
 * record of the problem (the rows bucket asked for, else the nearest tuned
 * bucket), loads that record's cubin, and remembers it. A problem the cache
 * does not know, or a call whose pointers are too poorly aligned for the
 * tuned vector width, is served by a template rendering (the default
 * configuration, or the tuned one with a narrower vector width) compiled
 * with NVRTC once and kept in the cache's cubin database.
 */
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
	int op, dtype, align;
	long long cols, bucket;
	CUmodule mod;
	kg_launch launch;
	char origin[12];
	char config[128];
} kg_entry;

typedef struct kg_ctxinfo {
	CUcontext cuctx;
	kg_device dev;
} kg_ctxinfo;

struct kgen_ctx {
	pthread_mutex_t lock;     /* table and ctxinfo */
	pthread_mutex_t gen_lock; /* gen (one Lua state) and compilation */
	cache *cache;             /* may be NULL: no cache could be opened */
	gen *gen;                 /* opened on the first fallback */
	kg_entry *table[KG_TABLE_SIZE];
	kg_ctxinfo info[16];
	int ninfo;
};

/* The entry the thread launched last, and whether it came from the table. */
static _Thread_local const kg_entry *kg_last_entry;
static _Thread_local int kg_last_hit;

enum { KG_OP_SOFTMAX_FWD = 0 };
static const char *const kg_op_names[][2] = {{"softmax", "fwd"}};

int kgen_open(kgen_ctx **out, const char *cache_dir)
{
	kgen_ctx *ctx;
	char msg[512];
	int rc;
	if (!out)
		return kg_err(KGEN_EINVAL, "ctx must not be NULL");
	*out = NULL;
	if ((rc = kg_cu_load()) && rc != KGEN_ENODEVICE)
		return rc;
	if (!(ctx = calloc(1, sizeof *ctx)))
		return kg_err(KGEN_ENOMEM, "out of memory");
	pthread_mutex_init(&ctx->lock, NULL);
	pthread_mutex_init(&ctx->gen_lock, NULL);
	if ((rc = cache_open(&ctx->cache, cache_dir, 0, msg, sizeof msg))) {
		/* The default cache is best effort: a read-only home still runs
		 * with fallback kernels. A cache the caller named must open. */
		if (cache_dir) {
			kgen_close(ctx);
			return kg_err(KGEN_ECACHE, "%s", msg);
		}
		ctx->cache = NULL;
	}
	*out = ctx;
	return 0;
}

void kgen_close(kgen_ctx *ctx)
{
	if (!ctx)
		return;
	for (int i = 0; i < KG_TABLE_SIZE; i++) {
		kg_entry *e = ctx->table[i], *next;
		for (; e; e = next) {
			next = e->next;
			/* Unload only where the context is still current; a context the
			 * application already destroyed took its modules with it. */
			CUcontext cur = NULL;
			if (kg_cu.cuCtxGetCurrent && !kg_cu.cuCtxGetCurrent(&cur) && cur == e->cuctx)
				kg_cu.cuModuleUnload(e->mod);
			free(e);
		}
	}
	cache_close(ctx->cache);
	gen_close(ctx->gen);
	pthread_mutex_destroy(&ctx->lock);
	pthread_mutex_destroy(&ctx->gen_lock);
	free(ctx);
}

int kgen_last_kernel(kgen_ctx *ctx, char *buf, size_t len)
{
	if (!ctx || !buf || !len)
		return kg_err(KGEN_EINVAL, "ctx and buf must not be NULL");
	if (!kg_last_entry)
		buf[0] = 0;
	else
		snprintf(buf, len, "%s %s", kg_last_hit ? "table" : kg_last_entry->origin, kg_last_entry->config);
	return 0;
}

/* The current context (making the primary context of device 0 current
 * where there is none) and its device; caller holds ctx->lock. */
static int current_device(kgen_ctx *ctx, CUcontext *cuctx, const kg_device **dev)
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
		if ((r = kg_cu.cuDevicePrimaryCtxRetain(&cur, d)) || (r = kg_cu.cuCtxSetCurrent(cur)))
			return kg_cu_fail("cuDevicePrimaryCtxRetain", r);
	}
	for (int i = 0; i < ctx->ninfo; i++)
		if (ctx->info[i].cuctx == cur) {
			*cuctx = cur;
			*dev = &ctx->info[i].dev;
			return 0;
		}
	if (ctx->ninfo == (int)(sizeof ctx->info / sizeof ctx->info[0]))
		return kg_err(KGEN_EUNSUPPORTED, "more than %d CUDA contexts in one kgen handle", ctx->ninfo);
	if ((r = kg_cu.cuCtxGetDevice(&d)))
		return kg_cu_fail("cuCtxGetDevice", r);
	if ((rc = kg_device_query(d, &ctx->info[ctx->ninfo].dev)))
		return rc;
	ctx->info[ctx->ninfo].cuctx = cur;
	*cuctx = cur;
	*dev = &ctx->info[ctx->ninfo++].dev;
	return 0;
}

static unsigned entry_slot(CUcontext c, int op, int dtype, long long cols, long long bucket, int align)
{
	uint64_t h = (uint64_t)(uintptr_t)c * 0x9E3779B97F4A7C15ull;
	h ^= (uint64_t)cols * 0xC2B2AE3D27D4EB4Full + (uint64_t)bucket * 31 + (unsigned)(op * 7 + dtype * 3 + align);
	return (unsigned)(h >> 56) % KG_TABLE_SIZE;
}

static kg_entry *table_find(kgen_ctx *ctx, CUcontext c, int op, int dtype, long long cols,
                            long long bucket, int align)
{
	kg_entry *e = ctx->table[entry_slot(c, op, dtype, cols, bucket, align)];
	for (; e; e = e->next)
		if (e->cuctx == c && e->op == op && e->dtype == dtype && e->cols == cols &&
		    e->bucket == bucket && e->align == align)
			return e;
	return NULL;
}

/* The value of field k of record rec as an unsigned (0 when absent). */
static unsigned rec_uint(const char *rec, const char *k)
{
	char v[32];
	return rec_get(rec, k, v, sizeof v) ? 0 : (unsigned)strtoul(v, NULL, 10);
}

struct nearest {
	long long want, best_bucket;
	char *rec;
	const char *stamp;
};

/* cache_scan visitor: keep the record whose bucket is nearest to want
 * (ties go to the larger bucket) among records with the current stamp. */
static int nearest_visit(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct nearest *n = arg;
	const char *k = key, *r = memrchr(k, 'r', klen);
	char stamp[96], *copy;
	long long b, d_new, d_old;
	if (!r || rec_get(val, "stamp", stamp, sizeof stamp) || strcmp(stamp, n->stamp))
		return 0;
	b = strtoll(r + 1, NULL, 10);
	d_new = b > n->want ? b / n->want : n->want / b;
	d_old = !n->rec ? -1 : n->best_bucket > n->want ? n->best_bucket / n->want : n->want / n->best_bucket;
	if (n->rec && (d_new > d_old || (d_new == d_old && b < n->best_bucket)))
		return 0;
	if (!(copy = malloc(vlen + 1)))
		return 0;
	memcpy(copy, val, vlen);
	copy[vlen] = 0;
	free(n->rec);
	n->rec = copy;
	n->best_bucket = b;
	return 0;
}

/* Read the best record for the problem from the cache, or NULL. */
static char *cache_best(kgen_ctx *ctx, const char *prefix, long long bucket, const char *stamp)
{
	struct nearest n = {bucket, 0, NULL, stamp};
	if (!ctx->cache)
		return NULL;
	cache_scan(ctx->cache, "best", prefix, strlen(prefix), nearest_visit, &n, NULL, 0);
	return n.rec;
}

/* Get a cubin for (source, sm): from the cache's cubin database, else
 * compiled and stored there. Caller holds gen_lock. */
static int cubin_for(kgen_ctx *ctx, const char *source, int sm, void **cubin, size_t *size,
                     char *hash_hex)
{
	int rc;
	snprintf(hash_hex, 17, "%016llx", (unsigned long long)kg_variant_hash(source, sm));
	if (ctx->cache && !cache_get(ctx->cache, "cubin", hash_hex, 16, cubin, size, NULL, 0))
		return 0;
	if ((rc = kg_compile(source, "kgen_fallback.cu", sm, cubin, size, NULL)))
		return rc;
	if (ctx->cache)
		cache_put(ctx->cache, "cubin", hash_hex, 16, *cubin, *size, NULL, 0);
	return 0;
}

/* Build the launchable kernel for a table miss. */
static int resolve(kgen_ctx *ctx, const kg_device *dev, int op, int dtype, long long cols,
                   long long bucket, int align, kg_entry *e)
{
	const char *opname = kg_op_names[op][0], *pass = kg_op_names[op][1];
	gen_problem p = {opname, pass, dtype, cols, dev->sm};
	char prefix[KG_KEY_MAX], stamp[96], hex[17], cfg[128];
	char *rec = NULL;
	void *cubin = NULL;
	size_t size;
	gen_variant v = {0};
	int rc, vec = 0;
	pthread_mutex_lock(&ctx->gen_lock);
	if (!ctx->gen && (rc = gen_open(&ctx->gen)))
		goto out;
	kg_stamp(stamp, sizeof stamp, gen_template_hash(ctx->gen, gen_family(opname)));
	kg_problem_prefix(prefix, sizeof prefix, opname, pass, dtype, cols, dev->sm, dev->name);
	rec = cache_best(ctx, prefix, bucket, stamp);
	if (rec && rec_get(rec, "config", cfg, sizeof cfg) == 0) {
		char vs[16];
		char *at = strstr(cfg, "vec=");
		vec = at ? atoi(at + 4) : 0;
		if (vec * kg_dtype_size(dtype) <= align && rec_get(rec, "variant", hex, sizeof hex) == 0 &&
		    ctx->cache && !cache_get(ctx->cache, "cubin", hex, 16, &cubin, &size, NULL, 0)) {
			e->launch.block = rec_uint(rec, "block");
			e->launch.smem = rec_uint(rec, "smem");
			e->launch.rows_per_cta = rec_uint(rec, "rows_per_cta");
			e->launch.cluster = rec_uint(rec, "cluster");
			if (!(rec_get(rec, "kernel", vs, sizeof vs)) && e->launch.block && e->launch.rows_per_cta) {
				snprintf(e->origin, sizeof e->origin, "cache");
				snprintf(e->config, sizeof e->config, "%s", cfg);
				rc = kg_module_load(cubin, vs, e->launch.smem, &e->mod, &e->launch.fn);
				goto out;
			}
		}
	}
	/* Fallback: the tuned config with the vector width the pointers allow,
	 * or the template default. */
	if (rec && vec) {
		char narrowed[200];
		int allowed = align / kg_dtype_size(dtype);
		snprintf(narrowed, sizeof narrowed, "%s", cfg);
		char *at = strstr(narrowed, "vec=");
		if (at && allowed < vec) {
			snprintf(at, sizeof narrowed - (size_t)(at - narrowed), "vec=%d", allowed);
			/* keep the keys after vec (none sort after it today) */
		}
		if (gen_render(ctx->gen, &p, narrowed, &v))
			gen_variant_free(&v);
	}
	if (!v.source) {
		char override[32] = "";
		int allowed = align / kg_dtype_size(dtype);
		char *dflt = NULL;
		if ((rc = gen_default(ctx->gen, &p, &dflt)))
			goto out;
		char *at = strstr(dflt, "vec=");
		if (at && atoi(at + 4) > allowed)
			snprintf(override, sizeof override, "vec=%d", allowed);
		free(dflt);
		if ((rc = gen_render(ctx->gen, &p, override, &v)))
			goto out;
	}
	if ((rc = cubin_for(ctx, v.source, dev->sm, &cubin, &size, hex)))
		goto out;
	e->launch.block = v.block;
	e->launch.smem = v.smem;
	e->launch.rows_per_cta = v.rows_per_cta;
	e->launch.cluster = v.cluster;
	snprintf(e->origin, sizeof e->origin, "fallback");
	snprintf(e->config, sizeof e->config, "%s", v.config);
	rc = kg_module_load(cubin, v.kernel, v.smem, &e->mod, &e->launch.fn);
out:
	pthread_mutex_unlock(&ctx->gen_lock);
	gen_variant_free(&v);
	free(cubin);
	free(rec);
	return rc;
}

/* The widest access, in bytes (2..16), that every row start allows. */
static int alignment_of(const void *y, const void *x, long long ld_x, long long ld_y, int esize)
{
	int a = 16;
	uintptr_t bits = (uintptr_t)y | (uintptr_t)x | (uintptr_t)(ld_x * esize) | (uintptr_t)(ld_y * esize);
	while (a > esize && (bits & (uintptr_t)(a - 1)))
		a >>= 1;
	return a;
}

int kgen_softmax_fwd(kgen_ctx *ctx, void *y, const void *x, int64_t rows, int64_t cols,
                     int64_t ld_x, int64_t ld_y, kgen_dtype dtype, void *stream)
{
	const int op = KG_OP_SOFTMAX_FWD;
	const kg_device *dev = NULL;
	CUcontext cuctx = NULL;
	kg_entry *e, *fresh;
	long long bucket;
	int align, esize, rc;
	if (!ctx)
		return kg_err(KGEN_EINVAL, "ctx must not be NULL");
	if (!x || !y)
		return kg_err(KGEN_EINVAL, "%s must not be NULL", !x ? "x" : "y");
	if ((int)dtype < 0 || (int)dtype > KGEN_BF16)
		return kg_err(KGEN_EINVAL, "unknown dtype %d", (int)dtype);
	if (rows < 1 || rows > INT32_MAX)
		return kg_err(KGEN_EINVAL, "rows must be in 1..2147483647 (got %lld)", (long long)rows);
	if (cols < 1 || cols > INT32_MAX)
		return kg_err(KGEN_EINVAL, "cols must be in 1..2147483647 (got %lld)", (long long)cols);
	if (ld_x < cols || ld_y < cols)
		return kg_err(KGEN_EINVAL, "%s must be >= cols (got %lld < %lld)", ld_x < cols ? "ld_x" : "ld_y",
		              (long long)(ld_x < cols ? ld_x : ld_y), (long long)cols);
	esize = kg_dtype_size(dtype);
	if (((uintptr_t)x | (uintptr_t)y) % (uintptr_t)esize)
		return kg_err(KGEN_EALIGN, "%s is not aligned to its element size (%d bytes)",
		              (uintptr_t)x % (uintptr_t)esize ? "x" : "y", esize);
	align = alignment_of(y, x, ld_x, ld_y, esize);
	bucket = kg_rows_bucket(rows);

	pthread_mutex_lock(&ctx->lock);
	rc = current_device(ctx, &cuctx, &dev);
	e = rc ? NULL : table_find(ctx, cuctx, op, dtype, cols, bucket, align);
	pthread_mutex_unlock(&ctx->lock);
	if (rc)
		return rc;
	if (!e) {
		if (!(fresh = calloc(1, sizeof *fresh)))
			return kg_err(KGEN_ENOMEM, "out of memory");
		if ((rc = resolve(ctx, dev, op, dtype, cols, bucket, align, fresh))) {
			free(fresh);
			return rc;
		}
		fresh->cuctx = cuctx;
		fresh->op = op;
		fresh->dtype = dtype;
		fresh->cols = cols;
		fresh->bucket = bucket;
		fresh->align = align;
		pthread_mutex_lock(&ctx->lock);
		if ((e = table_find(ctx, cuctx, op, dtype, cols, bucket, align))) {
			/* Another thread resolved it first: keep theirs. */
			kg_cu.cuModuleUnload(fresh->mod);
			free(fresh);
		} else {
			unsigned slot = entry_slot(cuctx, op, dtype, cols, bucket, align);
			fresh->next = ctx->table[slot];
			ctx->table[slot] = e = fresh;
		}
		pthread_mutex_unlock(&ctx->lock);
		kg_last_hit = 0;
	} else {
		kg_last_hit = 1;
	}
	kg_last_entry = e;
	return kg_launch_rows(&e->launch, (CUdeviceptr)(uintptr_t)y, (CUdeviceptr)(uintptr_t)x, rows,
	                      ld_x, ld_y, (CUstream)stream);
}
