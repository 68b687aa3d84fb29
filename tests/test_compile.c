/* test_compile.c: every code path of every op compiles with NVRTC to a cubin
 * for sm_80 and sm_90 (no GPU needed): for four row widths (one for each
 * shape of the space: several rows per warp, registers, rows no 16-byte
 * vector divides (shifted), streaming), each dtype, and cross-entropy
 * without options and with all of them.
 *
 * Variants that differ only in sizes take the same path through the
 * template, so of each problem's space one variant per signature is compiled:
 * the configuration with threads and tpr reduced to the shape of the
 * reduction (threads per row below, at or above a warp; one or several rows
 * per CTA), cluster to one CTA or several, persist to on or off; strategy,
 * load, vec, shift and occ as they are. sm_80 differs from sm_90 only in the
 * target (its space is a subset), so it is compiled for bf16 alone. Every
 * variant of every problem is rendered. KGEN_TEST_COMPILE_ALL=1 compiles
 * every variant of every dtype (about 13000: most of an hour on two cores;
 * `kgen tune` compiles every variant it times as well). Skips, exit 77,
 * without NVRTC. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gen.h"
#include "internal.h"

typedef struct item {
	int sm;
	char *src, *what;
	int failed;
} item;

static item *items;
static int nitems, next_item;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void *worker(void *arg)
{
	(void)arg;
	for (;;) {
		item *it;
		void *cubin = NULL;
		size_t size = 0;
		char *log = NULL;
		pthread_mutex_lock(&lock);
		it = next_item < nitems ? &items[next_item++] : NULL;
		pthread_mutex_unlock(&lock);
		if (!it)
			return NULL;
		if (kg_compile(it->src, "test.cu", it->sm, &cubin, &size, &log)) {
			it->failed = 1;
			fprintf(stderr, "FAIL %s: %s\n%s\n", it->what, kgen_last_error(), log ? log : "");
		} else if (size < 64 || memcmp(cubin, "\177ELF", 4)) {
			it->failed = 1;
			fprintf(stderr, "FAIL %s: not an ELF cubin (%zu bytes)\n", it->what, size);
		}
		free(cubin);
		free(log);
	}
}

/* The signature of a configuration "k=v,k=v,..." (see the header). */
static void signature(const char *cfg, char *out, size_t cap)
{
	long threads = 0, tpr = 0;
	const char *p;
	size_t n = 0;
	if ((p = strstr(cfg, "threads=")))
		threads = atol(p + 8);
	if ((p = strstr(cfg, "tpr=")))
		tpr = atol(p + 4);
	out[0] = 0;
	for (p = cfg; *p;) {
		const char *e = strchr(p, ','), *eq;
		size_t len = e ? (size_t)(e - p) : strlen(p);
		char part[64];
		snprintf(part, sizeof part, "%.*s", (int)len, p);
		eq = strchr(part, '=');
		if (eq && !strncmp(part, "threads=", 8))
			snprintf(part, sizeof part, "rows=%s", tpr && threads > tpr ? "many" : "one");
		else if (eq && !strncmp(part, "tpr=", 4))
			snprintf(part, sizeof part, "tpr=%s", tpr < 32 ? "sub" : tpr == 32 ? "warp" : "cta");
		else if (eq && !strncmp(part, "cluster=", 8))
			snprintf(part, sizeof part, "cluster=%s", atol(eq + 1) > 1 ? "many" : "one");
		else if (eq && !strncmp(part, "persist=", 8))
			snprintf(part, sizeof part, "persist=%s", atol(eq + 1) > 0 ? "on" : "off");
		n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "%s%s", n ? "," : "", part);
		p += len + (e ? 1 : 0);
	}
}

int main(void)
{
	static const long long cols[] = {7, 1001, 3000, 262144};
	static const int sms[] = {80, 90};
	const unsigned all = KG_XO_I32 | KG_XO_WEIGHT | KG_XO_SMOOTH | KG_XO_ZLOSS | KG_XO_SOFTCAP;
	int failures = 0, cap = 0, nth, skipped = 0;
	const char *env = getenv("KGEN_TEST_COMPILE_ALL");
	const int all_variants = env && *env && strcmp(env, "0");
	pthread_t th[16];
	gen *g;
	if (kg_nvrtc_load()) {
		printf("SKIP: %s\n", kgen_last_error());
		return 77;
	}
	if (gen_open(&g)) {
		fprintf(stderr, "gen_open: %s\n", kgen_last_error());
		return 1;
	}
	for (size_t s = 0; s < sizeof sms / sizeof sms[0]; s++)
		for (int op = 0; op < KG_NOPS; op++)
			for (unsigned o = 0; o <= (kg_ops[op].xent ? 1u : 0u); o++)
				for (int d = 0; d < 3; d++)
					for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++) {
						char opts[96];
						char **cfg;
						int n;
						kg_opts_string(op, o ? all : 0, opts, sizeof opts);
						gen_problem p = {kg_ops[op].op, kg_ops[op].pass, d, cols[k], sms[s], opts};
						if (gen_space(g, &p, &cfg, &n)) {
							fprintf(stderr, "FAIL space: %s\n", kgen_last_error());
							return 1;
						}
						char (*seen)[256] = calloc((size_t)n + 1, sizeof *seen);
						int nseen = 0;
						if (!seen)
							return 1;
						for (int i = 0; i < n; i++) {
							gen_variant v;
							char sig[256];
							int dup = 0;
							signature(cfg[i], sig, sizeof sig);
							for (int j = 0; j < nseen && !dup; j++)
								dup = !strcmp(seen[j], sig);
							if (!dup)
								snprintf(seen[nseen++], sizeof seen[0], "%s", sig);
							/* every variant renders; the cover set compiles */
							if (gen_render(g, &p, cfg[i], &v)) {
								fprintf(stderr, "FAIL render %s: %s\n", cfg[i], kgen_last_error());
								failures++;
								free(cfg[i]);
								continue;
							}
							if (!all_variants && (dup || (sms[s] < 90 && d != KGEN_BF16))) {
								skipped++;
								gen_variant_free(&v);
								free(cfg[i]);
								continue;
							}
							if (nitems == cap && !(items = realloc(items, sizeof *items * (size_t)(cap = cap * 2 + 64))))
								return 1;
							items[nitems].sm = sms[s];
							items[nitems].src = v.source;
							v.source = NULL;
							items[nitems].failed = 0;
							if ((items[nitems].what = malloc(300)))
								snprintf(items[nitems].what, 300, "sm_%d %s %s %s cols=%lld [%s] %s", sms[s],
								         kg_ops[op].op, kg_ops[op].pass, kg_dtype_names[d], cols[k], opts, cfg[i]);
							nitems++;
							gen_variant_free(&v);
							free(cfg[i]);
						}
						free(cfg);
						free(seen);
					}
	gen_close(g);
	nth = (int)sysconf(_SC_NPROCESSORS_ONLN);
	nth = nth < 1 ? 1 : nth > 16 ? 16 : nth;
	for (int i = 0; i < nth; i++)
		pthread_create(&th[i], NULL, worker, NULL);
	for (int i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < nitems; i++) {
		failures += items[i].failed;
		free(items[i].src);
		free(items[i].what);
	}
	free(items);
	printf("test_compile: %d variants compiled, %d failed (NVRTC %s); %d more rendered, not compiled (a signature already compiled, or sm_80 beyond bf16)%s\n",
	       nitems, failures, kg_nvrtc_version(), skipped,
	       all_variants ? "" : " (KGEN_TEST_COMPILE_ALL=1 compiles them too)");
	return failures ? 1 : 0;
}
