/* test_compile.c: every variant of the space compiles with NVRTC to a cubin
 * for sm_80 and sm_90 (no GPU needed). Skips, exit 77, without NVRTC. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "internal.h"

int main(void)
{
	static const long long cols[] = {1, 7, 1000, 3000, 8192, 32768, 262144};
	static const int sms[] = {80, 90};
	int failures = 0, total = 0;
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
		for (int d = 0; d < 3; d++)
			for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++) {
				gen_problem p = {"softmax", "fwd", d, cols[k], sms[s]};
				char **cfg;
				int n;
				if (gen_space(g, &p, &cfg, &n)) {
					fprintf(stderr, "FAIL space: %s\n", kgen_last_error());
					return 1;
				}
				for (int i = 0; i < n; i++) {
					gen_variant v;
					void *cubin = NULL;
					size_t size = 0;
					char *log = NULL;
					total++;
					if (gen_render(g, &p, cfg[i], &v) ||
					    kg_compile(v.source, "test.cu", sms[s], &cubin, &size, &log)) {
						failures++;
						fprintf(stderr, "FAIL sm_%d %s cols=%lld %s: %s\n%s\n", sms[s], kg_dtype_names[d],
						        cols[k], cfg[i], kgen_last_error(), log ? log : "");
					} else if (size < 64 || memcmp(cubin, "\177ELF", 4)) {
						failures++;
						fprintf(stderr, "FAIL sm_%d %s: not an ELF cubin (%zu bytes)\n", sms[s], cfg[i], size);
					}
					free(cubin);
					free(log);
					gen_variant_free(&v);
					free(cfg[i]);
				}
				free(cfg);
			}
	gen_close(g);
	printf("test_compile: %d variants compiled, %d failed (NVRTC %s)\n", total, failures, kg_nvrtc_version());
	return failures ? 1 : 0;
}
