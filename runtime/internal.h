/* internal.h: what the runtime shares with the tuner and the tests. Not
 * installed; applications see kgen.h only. */
#ifndef KGEN_INTERNAL_H
#define KGEN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "defs.h"
#include "dl.h"
#include "kgen.h"


/* The arguments of every kernel, passed by value: the same layout as
 * struct kg_args in templates/lib/cuda.lua (tests/test_args_layout.sh
 * compiles both and compares every field). */
typedef struct kg_args {
	void *out;
	const void *in0, *in1, *target;
	const float *weight;
	float *loss, *lse;
	const float *dloss;
	unsigned long long *bad;
	float *scratch;
	unsigned *xg; /* the exchange area of rows split over CTAs (KG_XG_BYTES), or NULL */
	long long rows, ld_out, ld_in0, ld_in1;
	long long ignore_index;
	float eps, zloss, softcap, inv_den;
	int reduction, pad_;
} kg_args;


/* Compile CUDA source to a cubin for sm_XX with NVRTC. *cubin is malloc'd.
 * On KGEN_ECOMPILE, *log (malloc'd, may be NULL) holds NVRTC's log. */
int kg_compile(const char *source, const char *name, int sm, void **cubin,
               size_t *size, char **log);
/* The NVRTC version as "13.0" (after kg_nvrtc_load), or "none". */
const char *kg_nvrtc_version(void);
/* The hash naming a compiled variant: source, SM, NVRTC version, options. */
uint64_t kg_variant_hash(const char *source, int sm);

/* One device's identity. */
typedef struct kg_device {
	CUdevice dev;
	int sm;         /* major * 10 + minor */
	int sms;        /* multiprocessors */
	int l2_bytes;
	char name[128];
} kg_device;
int kg_device_query(CUdevice dev, kg_device *out);

/* Launch geometry of a loaded kernel; prep (may be NULL) runs first as
 * CTAs of 1024 threads, one per 2048 rows, at most 128 (cross-entropy's
 * denominators); finish (may be NULL) after it as one CTA of
 * KG_FINISH_THREADS when the call reduces the loss (cross-entropy's total
 * from the loss slots of the scratch). */
#define KG_FINISH_THREADS 128
/* The exchange area of a row split over CTAs that are no cluster (xchg=global
 * in templates/lib/cuda.lua, which has the same numbers and says how it is
 * used): per group of CTAs (one row at a time) 4 counters (KG_XG_NX used),
 * which only grow, from launch to launch (cleared once, when the area is
 * made); then per CTA KG_XG_NX exchanges of two (max, sum) pairs. A launch
 * holds at most KG_XG_GROUPS groups and KG_XG_CTAS CTAs. The runtime makes
 * KG_XG_SETS such areas for each split kernel it loads, and its launches
 * take them in turn, whatever their stream: calls in flight at once share
 * none while fewer than KG_XG_SETS calls of the kernel come between them. */
#define KG_XG_GROUPS 1024u
#define KG_XG_CTAS 4096u
#define KG_XG_NX 3u
#define KG_XG_BYTES ((size_t)KG_XG_GROUPS * 4u * 4u + (size_t)KG_XG_CTAS * KG_XG_NX * 2u * 8u)
#define KG_XG_SETS 8u
typedef struct kg_launch {
	CUfunction fn, prep, finish;
	unsigned block, smem, rows_per_cta, cluster;
	unsigned split;    /* 1: the cluster CTAs of a row are no thread-block cluster, they exchange
	                    * through a->xg (a persistent grid; at most KG_XG_GROUPS groups, KG_XG_CTAS CTAs) */
	unsigned max_grid; /* persistent kernels: at most this many CTAs (0: one per group of rows) */
	unsigned pdl;      /* the row kernel launched as prep's programmatic dependent, and finish as
	                    * the row kernel's (kernels for sm_90 and newer) */
} kg_launch;
/* The grid cap of a persistent kernel (fn loaded) of persist CTAs per SM
 * on sms SMs: no more CTAs than fit on the GPU at once (the rows of a CTA
 * that waited for a place would finish last), and for clusters no more
 * than fit as whole clusters. 0 when persist is 0, and with strict (a row
 * split over CTAs: all must be resident) when the occupancy is unknown. */
/* Whether a configuration splits its rows over CTAs that are no cluster
 * (xchg=global): what a record, which holds the configuration but no such
 * field, says of its launch. */
static inline unsigned kg_config_split(const char *config)
{
	return strstr(config, "xchg=global") != NULL;
}
unsigned kg_max_grid(CUfunction fn, unsigned persist, unsigned block, unsigned smem, unsigned cluster, int sms,
                     int strict);
/* Load a cubin in the current context and fetch its kernel, and its prep
 * and finish kernels where named (NULL or ""), into l (fn, prep, finish,
 * pdl; the geometry is the caller's); raise the dynamic shared memory limit
 * when smem needs it, allow clusters of more than 8 CTAs when cluster
 * needs it. l->pdl: whether the kernels follow each other as programmatic
 * dependents (a prep, and code for sm_90 or newer, where the templates
 * wait for the kernel before with griddepcontrol). */
int kg_module_load(const void *cubin, const char *kernel, const char *prep, const char *finish, unsigned smem,
                   unsigned cluster, CUmodule *mod, kg_launch *l);
/* Launch a row kernel over a->rows rows (prep first when with_prep; then
 * finish too when the call reduces the loss). */
int kg_launch_rows(const kg_launch *l, const kg_args *a, int with_prep, CUstream s);

/* Packs (packs.c, docs/packs.md): read-only LMDB files of best records
 * and their cubins, for one GPU model, opened with cache_open_flags(). */
#define KG_PACK_EXT ".kgenpack"
#define KG_PACK_FORMAT "2" /* = CACHE_PACK_FORMAT (cache.h) */
typedef struct cache cache;
typedef struct kg_packs kg_packs;

/* Open a pack file read-only and check its format; on failure the message says why
 * (KGEN_ECACHE: unreadable, not a pack, or another format). */
int kg_pack_open(cache **c, const char *file);
/* A value of a pack's meta database into out; 0 or KGEN_ENOTFOUND. */
int kg_pack_meta(cache *c, const char *name, char *out, size_t len);
/* The checksum of a cubin as stored in a pack's "sum" database:
 * FNV-1a 64 as 16 hex digits. */
void kg_pack_sum(const void *data, size_t size, char hex[17]);

/* A set of packs searched in order: each entry of path (colon-separated;
 * a file is a pack whatever its name, a directory holds "*.kgenpack"
 * files), then the "*.kgenpack" files of dir. Either may be NULL. Nothing
 * is opened until the first lookup; files that are not readable packs are
 * skipped (kg_packs_describe() names the first). */
int kg_packs_new(kg_packs **p, const char *path, const char *dir);
void kg_packs_free(kg_packs *p);
/* Open the set if not yet done; the number of packs opened. */
int kg_packs_count(kg_packs *p);
/* "KGEN_PACK_PATH=..., /usr/local/share/kgen/packs", and once opened the
 * files that were not readable packs, for messages. */
void kg_packs_describe(kg_packs *p, char *buf, size_t len);

/* The record serving a problem, and where it came from. */
typedef struct kg_record {
	char *rec;          /* malloc'd "k=v" text */
	cache *src;         /* the cache or pack holding it and its cubin */
	int pack;           /* src is a pack */
	const char *origin; /* "cache" or "pack" */
	const char *where;  /* the cache directory or pack file */
	long long bucket;   /* its rows bucket */
	int skipped_stale;  /* records of the problem made by another template
	                       or kgen version (or with no stamp) */
	int skipped_nvrtc;  /* records compiled by an NVRTC newer than the driver */
	int far;            /* its bucket is more than KG_BUCKET_FAR times the one asked for:
	                       the template's default is the better guess (when NVRTC loads) */
	char lender[128];   /* borrowed: the GPU model it was tuned on; "" for this GPU's */
	long long near_cols; /* kg_record_near_width: the width it was tuned at */
} kg_record;

/* A record tuned at a rows bucket more than this many times the call's
 * (a grid shaped for thousands of rows serving a handful) yields to the
 * template's default: on an H200 a one-row cross-entropy over a 150K
 * vocabulary ran 2x slower through the 4096-row record than with the
 * default. Towards more rows the nearest record is kept: a config's rows
 * per CTA carry over, and a persistent grid is capped by the SM count. */
#define KG_BUCKET_FAR 8

/* Find the record for the problem key prefix (kg_problem_prefix(): op,
 * options, dtype, cols, SM, GPU model) nearest to rows bucket: the cache c
 * first, then the packs of p in order (either may be NULL). Only records
 * whose stamp equals stamp, and (driver > 0) whose NVRTC version the driver
 * (cuDriverGetVersion) can load, count. The nearest bucket wins; between
 * two as near, the earlier source. A cache record of the very bucket is
 * taken without opening the packs. Returns 0 or KGEN_ENOTFOUND; out's skip
 * counts are set either way. */
int kg_record_find(cache *c, kg_packs *p, const char *prefix, long long bucket, const char *stamp, int driver,
                   kg_record *out);
/* For a GPU with no record of the problem: the record of the same problem
 * (prefix as above, with this GPU's model) from a pack of another GPU
 * model of the same SM. The nearest model wins, by the distance
 * |ln(bandwidth ratio)| + |ln(SM count ratio)|: dev's from the driver
 * (memory bus width and clock, multiprocessors), the other model's from a
 * table of known models (kg_model_figures; an unknown model comes last);
 * then the nearest rows bucket, then the earlier pack. out->lender names
 * the model, out->origin is "borrowed". 0 or KGEN_ENOTFOUND. */
int kg_record_borrow(kg_packs *p, const char *prefix, long long bucket, const char *stamp, int driver,
                     const kg_device *dev, kg_record *out);
/* Borrowing is on unless $KGEN_NO_BORROW is set to something other than
 * "" or "0". */
int kg_borrow_enabled(void);
/* For a problem with no record of its own width: the record of the same
 * problem (op, pass, dtype, options, SM, this GPU's model) at the nearest
 * tuned width, by |ln(cols ratio)|, within KG_NEAR_WIDTH_MAX times cols
 * and KG_BUCKET_FAR times the rows bucket either way (a decode record's
 * config is no guess for thousands of rows, nor the reverse); between two
 * as near, the
 * nearer rows bucket, then the wider. Its config is a guess the caller
 * renders (and checks against the template's space) for the call's own
 * width: its cubin is for the other width. out->near_cols names that
 * width. With any_model, another GPU model's records of the SM count too,
 * after this GPU's (out->lender names the model). With aligned (a call
 * whose width a 16-byte vector divides), records of a shifted config (an
 * odd width's) are passed over, so that the nearest record the call can
 * use is found. Cache and packs as kg_record_find. 0 or KGEN_ENOTFOUND. */
#define KG_NEAR_WIDTH_MAX 2.0
int kg_record_near_width(cache *c, kg_packs *p, const char *prefix, long long bucket, const char *stamp, int driver,
                         int any_model, int aligned, kg_record *out);
/* 0 when $KGEN_NO_NEAR_WIDTH is set to anything but "" or "0". */
int kg_near_width_enabled(void);
/* A known model's SM count and memory bandwidth (GB/s): 0, or
 * KGEN_ENOTFOUND. */
int kg_model_figures(const char *model, int *sms, double *gbps);
/* This device's memory bandwidth from the driver (GB/s; 0 if unknown). */
double kg_device_gbps(const kg_device *dev);
/* The cubin of a found record (malloc'd), from its own source; a pack's is
 * checked against its checksum. 0, KGEN_ENOTFOUND or KGEN_ECACHE. */
int kg_record_cubin(const kg_record *r, void **cubin, size_t *size);
void kg_record_free(kg_record *r);

#endif
