/* test_compile.c: every variant of every op compiles with NVRTC to a cubin
 * for sm_80 and sm_90 (no GPU needed): for four row widths (one for each
 * shape of the space: several rows per warp, registers, rows no 16-byte
 * vector divides (shifted), streaming), each dtype, and cross-entropy
 * without options and with all of them. Skips,
 * exit 77, without NVRTC. */
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

int main(void)
{
	static const long long cols[] = {7, 1001, 3000, 262144};
	static const int sms[] = {80, 90};
	const unsigned all = KG_XO_I32 | KG_XO_WEIGHT | KG_XO_SMOOTH | KG_XO_ZLOSS | KG_XO_SOFTCAP;
	int failures = 0, cap = 0, nth;
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
						for (int i = 0; i < n; i++) {
							gen_variant v;
							if (gen_render(g, &p, cfg[i], &v)) {
								fprintf(stderr, "FAIL render %s: %s\n", cfg[i], kgen_last_error());
								failures++;
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
	printf("test_compile: %d variants compiled, %d failed (NVRTC %s)\n", nitems, failures, kg_nvrtc_version());
	return failures ? 1 : 0;
}
