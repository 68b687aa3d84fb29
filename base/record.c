/* record.c: best records and their text (see record.h). */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "kgen.h"
#include "record.h"

int kg_best_format(const kg_best *b, char *buf, size_t len)
{
	return snprintf(buf, len,
	                "config=%s\nkernel=%s\nprep=%s\nfinish=%s\nblock=%u\nsmem=%u\nrows_per_cta=%u\ncluster=%u\npersist=%u\n"
	                "variant=%s\ntime_us=%.3f\np10_us=%.3f\np90_us=%.3f\ngbps=%.1f\ncopy_gbps=%.1f\nrows=%lld\n"
	                "stamp=%s\nnvrtc=%s\ndriver=%d\ngpu=%s\ndate=%s\n",
	                b->config, b->kernel, b->prep, b->finish, b->block, b->smem, b->rows_per_cta, b->cluster, b->persist,
	                b->variant, b->time_us, b->p10_us, b->p90_us, b->gbps, b->copy_gbps, b->rows, b->stamp, b->nvrtc,
	                b->driver, b->gpu, b->date);
}

static unsigned rec_uint(const char *rec, const char *k)
{
	char v[32];
	return rec_get(rec, k, v, sizeof v) ? 0 : (unsigned)strtoul(v, NULL, 10);
}

static double rec_double(const char *rec, const char *k)
{
	char v[64];
	return rec_get(rec, k, v, sizeof v) ? 0 : strtod(v, NULL);
}

int kg_best_parse(const char *rec, kg_best *b)
{
	char v[32];
	memset(b, 0, sizeof *b);
	if (!rec)
		return KGEN_EINVAL;
	rec_get(rec, "config", b->config, sizeof b->config);
	rec_get(rec, "kernel", b->kernel, sizeof b->kernel);
	rec_get(rec, "prep", b->prep, sizeof b->prep);
	rec_get(rec, "finish", b->finish, sizeof b->finish);
	b->block = rec_uint(rec, "block");
	b->smem = rec_uint(rec, "smem");
	b->rows_per_cta = rec_uint(rec, "rows_per_cta");
	b->cluster = rec_uint(rec, "cluster");
	b->persist = rec_uint(rec, "persist");
	rec_get(rec, "variant", b->variant, sizeof b->variant);
	b->time_us = rec_double(rec, "time_us");
	b->p10_us = rec_double(rec, "p10_us");
	b->p90_us = rec_double(rec, "p90_us");
	b->gbps = rec_double(rec, "gbps");
	b->copy_gbps = rec_double(rec, "copy_gbps");
	b->rows = rec_get(rec, "rows", v, sizeof v) ? 0 : strtoll(v, NULL, 10);
	rec_get(rec, "stamp", b->stamp, sizeof b->stamp);
	rec_get(rec, "nvrtc", b->nvrtc, sizeof b->nvrtc);
	b->driver = rec_get(rec, "driver", v, sizeof v) ? 0 : atoi(v);
	rec_get(rec, "gpu", b->gpu, sizeof b->gpu);
	rec_get(rec, "date", b->date, sizeof b->date);
	return 0;
}

int kg_config_get(const char *cfg, const char *k, char *out, size_t len)
{
	size_t kl = strlen(k);
	if (len)
		out[0] = 0;
	for (const char *p = cfg; p && *p; p = strchr(p, ','), p = p ? p + 1 : NULL)
		if (!strncmp(p, k, kl) && p[kl] == '=') {
			size_t n = strcspn(p + kl + 1, ",");
			if (n >= len)
				return KGEN_EINVAL;
			memcpy(out, p + kl + 1, n);
			out[n] = 0;
			return 0;
		}
	return KGEN_ENOTFOUND;
}

int kg_config_int(const char *cfg, const char *k, int *v)
{
	char buf[32];
	if (kg_config_get(cfg, k, buf, sizeof buf))
		return KGEN_ENOTFOUND;
	*v = atoi(buf);
	return 0;
}

/* Find field k in rec[0..n): *v and *vlen get its value (to end of line). */
int kg_rec_find(const char *rec, size_t n, const char *k,
    const char **v, size_t *vlen)
{
	const char *p = rec, *end = rec + n, *nl, *eol;
	size_t kl = strlen(k);

	for (; p < end; p = nl ? nl + 1 : end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		eol = nl ? nl : end;
		/* the exact key: "time" must not match "time_us=" */
		if ((size_t)(eol - p) > kl && !memcmp(p, k, kl) && p[kl] == '=') {
			*v = p + kl + 1;
			*vlen = (size_t)(eol - *v);
			return 0;
		}
	}
	return KGEN_ENOTFOUND;
}

int rec_get(const char *rec, const char *k, char *out, size_t len)
{
	const char *v;
	size_t vlen;

	if (!rec || !k)
		return KGEN_EINVAL;
	if (kg_rec_find(rec, strlen(rec), k, &v, &vlen))
		return KGEN_ENOTFOUND;
	if (out && len) {
		vlen = vlen < len - 1 ? vlen : len - 1;
		memcpy(out, v, vlen);
		out[vlen] = '\0';
	}
	return KGEN_SUCCESS;
}

/* Parse the time_us field, digits [. digits], by hand so that the process's
 * LC_NUMERIC cannot change the result. Returns 1 if present and valid. */
int kg_rec_time(const char *rec, size_t n, double *t)
{
	const char *v;
	size_t vlen, j;
	double scale = 1;
	int digits = 0, dot = 0;

	if (kg_rec_find(rec, n, "time_us", &v, &vlen))
		return 0;
	for (*t = 0, j = 0; j < vlen; j++) {
		if (v[j] == '.' && !dot) {
			dot = 1;
			continue;
		}
		if (v[j] < '0' || v[j] > '9')
			return 0;
		digits++;
		if (dot)
			*t += (v[j] - '0') * (scale /= 10);
		else
			*t = *t * 10 + (v[j] - '0');
	}
	return digits > 0;
}

