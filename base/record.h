/* record.h: the best record of a problem, typed, and the "k=v\n" text it
 * is stored as (the "best" database of caches and packs, docs/cache.md).
 *
 * kg_best_format writes a record; kg_best_parse reads one back; rec_get
 * and kg_rec_find read single fields of any record (trials too). The text
 * is what caches and shipped packs hold: kg_best_format's output must not
 * change byte for byte.
 */
#ifndef KGEN_RECORD_H
#define KGEN_RECORD_H

#include <stddef.h>

/* A best record: the config, the launch geometry of its kernel, the
 * cubin's variant hash, the timings, and what makes it usable (stamp,
 * NVRTC, driver, GPU). Absent fields parse as 0 or "". */
typedef struct kg_best {
	char config[256];      /* canonical "k=v,..." */
	char kernel[256];      /* entry point */
	char prep[256];        /* a kernel launched first, "" for none */
	char finish[256];      /* a kernel launched after it for a reduced loss, "" for none */
	unsigned block, smem, rows_per_cta, cluster, persist;
	char variant[32];      /* 16 hex digits: the cubin's key */
	double time_us, p10_us, p90_us, gbps, copy_gbps;
	long long rows;        /* rows it was timed at */
	char stamp[128];       /* kg_stamp() of the build that tuned it */
	char nvrtc[32];        /* "13.0" */
	int driver;            /* cuDriverGetVersion() when tuned */
	char gpu[256];         /* the GPU model */
	char date[32];         /* UTC, ISO 8601 */
} kg_best;

/* rec as "config=...\nkernel=...\n..." (every field, in the stored order);
 * returns snprintf's count. */
int kg_best_format(const kg_best *b, char *buf, size_t len);
/* The fields of rec (NUL-terminated) into b. 0, or KGEN_EINVAL when rec
 * is NULL. */
int kg_best_parse(const char *rec, kg_best *b);

/* Find field k in rec[0..n): *v and *vlen get its value (to end of line).
 * 0 or KGEN_ENOTFOUND. */
int kg_rec_find(const char *rec, size_t n, const char *k, const char **v, size_t *vlen);
/* rec_get copies the value of key k of rec (NUL-terminated) into out (at
 * most len bytes, NUL-terminated); returns 0 or KGEN_ENOTFOUND. */
int rec_get(const char *rec, const char *k, char *out, size_t len);
/* The time_us field of rec[0..n), parsed by hand so that the process's
 * LC_NUMERIC cannot change it. Returns 1 if present and valid. */
int kg_rec_time(const char *rec, size_t n, double *t);

/* The value of key k in a canonical config "k=v,k=v", copied into out (""
 * when absent); 0, KGEN_ENOTFOUND, or KGEN_EINVAL when it does not fit. */
int kg_config_get(const char *cfg, const char *k, char *out, size_t len);
/* The integer value of key k in a canonical config "k=v,k=v" into *v;
 * 0 or KGEN_ENOTFOUND. */
int kg_config_int(const char *cfg, const char *k, int *v);

#endif
