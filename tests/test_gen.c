/* test_gen.c: the templates render, the space is what the template's rules
 * say, and errors name the template file and line or the bad config key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gen.h"
#include "internal.h"

#include "check.h"

static long long define_of(const char *src, const char *name)
{
	char pat[64];
	const char *p;
	snprintf(pat, sizeof pat, "#define %s ", name);
	p = strstr(src, pat);
	return p ? atoll(p + strlen(pat)) : -1;
}

static void test_space_and_render(gen *g, int op, const char *opts)
{
	static const long long cols[] = {1, 7, 1000, 1001, 1024, 3000, 8192, 32768, 50257, 65536, 262144};
	for (int d = 0; d < 3; d++)
		for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++) {
			gen_problem p = {kg_ops[op].op, kg_ops[op].pass, d, cols[k], 90, opts};
			char **cfg, *dflt;
			int n, rc = gen_space(g, &p, &cfg, &n);
			CHECK(rc == 0 && n > 0, "space of %s cols=%lld: rc %d n %d (%s)", kg_dtype_names[d], cols[k], rc, n,
			      kgen_last_error());
			CHECK(gen_default(g, &p, &dflt) == 0, "default: %s", kgen_last_error());
			int found_default = 0;
			char **names = calloc((size_t)n, sizeof *names); /* kernel names: one per variant */
			for (int i = 0; i < n; i++) {
				gen_variant v;
				found_default |= !strcmp(cfg[i], dflt);
				rc = gen_render(g, &p, cfg[i], &v);
				CHECK(rc == 0, "render %s: %s", cfg[i], kgen_last_error());
				if (!rc) {
					long long vec = define_of(v.source, "VEC"), tpr = define_of(v.source, "TPR");
					long long threads = define_of(v.source, "THREADS");
					CHECK(!strcmp(v.config, cfg[i]), "canonical config %s != %s", v.config, cfg[i]);
					CHECK(define_of(v.source, "COLS") == cols[k], "COLS in %s", cfg[i]);
					const long long shift = define_of(v.source, "SHIFT");
					CHECK(shift == 0 || shift == 1, "SHIFT %lld", shift);
					CHECK(vec >= 1 && (cols[k] % vec == 0 || shift), "vec %lld must divide cols %lld (or shift)", vec,
					      cols[k]);
					/* shifted: rows no 16-byte vector divides, at the widest vectors */
					CHECK(!shift == (vec <= 1 || cols[k] % (16 / (d == KGEN_F32 ? 4 : 2)) == 0 ||
					                 cols[k] % vec == 0),
					      "%s: shift %lld for cols %lld", cfg[i], shift, cols[k]);
					if (strstr(cfg[i], "persist="))
						CHECK(v.persist == (unsigned)define_of(v.source, "PERSIST") && v.persist >= 1 &&
						          v.persist * threads <= 2048, "%s: persist %u", cfg[i], v.persist);
					else
						CHECK(v.persist == 0 && define_of(v.source, "PERSIST") == 0, "%s: persist %u", cfg[i],
						      v.persist);
					CHECK(vec * (d == KGEN_F32 ? 4 : 2) <= 16, "vec %lld over 16 bytes", vec);
					CHECK(threads == v.block && tpr <= threads, "block %u threads %lld tpr %lld", v.block,
					      threads, tpr);
					CHECK(v.rows_per_cta == threads / tpr, "rows per CTA %u", v.rows_per_cta);
					/* named by the op and pass, then the dtype and the variant */
					CHECK(strstr(v.source, "extern \"C\" __global__") &&
					          !strncmp(v.kernel, kg_ops[op].kernel, strlen(kg_ops[op].kernel)) &&
					          v.kernel[strlen(kg_ops[op].kernel)] == '_' && strstr(v.kernel, kg_dtype_names[d]) &&
					          strstr(v.source, v.kernel),
					      "kernel name %s", v.kernel);
					CHECK(!kg_ops[op].xent == !v.prep, "prep kernel %s", v.prep ? v.prep : "(none)");
					/* a finish kernel (the reduced loss) for the passes that compute the loss */
					CHECK(!(kg_ops[op].xent && op != KG_XENT_BWD) == !v.finish &&
					          (!v.finish || strstr(v.source, v.finish)),
					      "finish kernel %s", v.finish ? v.finish : "(none)");
					for (int j = 0; names && j < i; j++)
						CHECK(!names[j] || strcmp(names[j], v.kernel), "%s and %s: one kernel name %s", cfg[j],
						      cfg[i], v.kernel);
					if (names)
						names[i] = strdup(v.kernel);
					gen_variant_free(&v);
				}
			}
			for (int i = 0; i < n; i++) {
				free(cfg[i]);
				if (names)
					free(names[i]);
			}
			free(names);
			CHECK(found_default, "default %s is not in the space of %s cols=%lld", dflt, kg_dtype_names[d],
			      cols[k]);
			free(dflt);
			free(cfg);
		}
}

static void test_config_errors(gen *g)
{
	gen_problem p = {"softmax", "fwd", KGEN_BF16, 8192, 90, NULL};
	gen_variant v;
	int rc = gen_render(g, &p, "bogus=3", &v);
	CHECK(rc == KGEN_EINVAL && strstr(kgen_last_error(), "unknown config key 'bogus'"), "rc %d: %s", rc,
	      kgen_last_error());
	rc = gen_render(g, &p, "vec=3", &v);
	CHECK(rc == KGEN_EINVAL && strstr(kgen_last_error(), "vec must be a power of two"), "rc %d: %s", rc,
	      kgen_last_error());
	rc = gen_render(g, &p, "vec", &v);
	CHECK(rc == KGEN_EINVAL && strstr(kgen_last_error(), "malformed"), "rc %d: %s", rc, kgen_last_error());
	rc = gen_render(g, &p, "tpr=1,threads=64", &v); /* 8192 values per thread cannot sit in registers */
	CHECK(rc == KGEN_EINVAL && strstr(kgen_last_error(), "registers"), "rc %d: %s", rc, kgen_last_error());
	rc = gen_render(g, &p, "vec=4,tpr=128", &v);
	CHECK(rc == 0 && define_of(v.source, "VEC") == 4 && define_of(v.source, "TPR") == 128, "override: %s",
	      kgen_last_error());
	if (!rc)
		gen_variant_free(&v);
	p.pass = "fused";
	rc = gen_render(g, &p, NULL, &v);
	CHECK(rc == KGEN_EINVAL && strstr(kgen_last_error(), "no pass 'fused'"), "rc %d: %s", rc, kgen_last_error());
	/* the loss slots of the cross-entropy kernels end where the workspace does */
	p = (gen_problem){"xent", "fwd", KGEN_BF16, 8192, 90, NULL};
	rc = gen_render(g, &p, NULL, &v);
	CHECK(rc == 0, "render xent fwd: %s", kgen_last_error());
	if (!rc) {
		const long long base = define_of(v.source, "KG_SLOT_BASE"), n = define_of(v.source, "KG_LOSS_SLOTS"),
		                line = define_of(v.source, "KG_SLOT_BYTES");
		CHECK(base >= 48 && n >= 1 && line >= 8 && base + n * line == KGEN_XENT_WORKSPACE_BYTES,
		      "loss slots: %lld + %lld * %lld bytes, workspace %d", base, n, line, KGEN_XENT_WORKSPACE_BYTES);
		/* finish sums the slots with a thread each: the runtime launches that many */
		CHECK(n == KG_FINISH_THREADS, "%lld loss slots, finish launched with %d threads", n, KG_FINISH_THREADS);
		gen_variant_free(&v);
	}
	/* a row split over CTAs that are no cluster: the runtime launches it
	 * without a cluster (split), and the exchange area the kernel indexes is
	 * the one the runtime and the tuner allocate */
	p = (gen_problem){"softmax", "fwd", KGEN_BF16, 1048576, 80, NULL};
	rc = gen_render(g, &p, "strategy=cluster,cluster=128,xchg=global,persist=8,threads=256,tpr=256,vec=8", &v);
	CHECK(rc == 0, "render a split row on sm_80: %s", kgen_last_error());
	if (!rc) {
		CHECK(v.split == 1 && v.cluster == 128 && v.persist == 8 && strstr(v.kernel, "_c128_global_"),
		      "split %u cluster %u persist %u kernel %s", v.split, v.cluster, v.persist, v.kernel);
		CHECK(define_of(v.source, "KG_XG_GROUPS") == KG_XG_GROUPS && define_of(v.source, "KG_XG_CTAS") == KG_XG_CTAS &&
		          define_of(v.source, "KG_XG_NX") == KG_XG_NX,
		      "exchange area: the template's %lld groups, %lld CTAs, %lld exchanges; the runtime's %u, %u, %u",
		      define_of(v.source, "KG_XG_GROUPS"), define_of(v.source, "KG_XG_CTAS"), define_of(v.source, "KG_XG_NX"),
		      KG_XG_GROUPS, KG_XG_CTAS, KG_XG_NX);
		CHECK(!strstr(v.source, "barrier.cluster") && !strstr(v.source, "mapa."), "a split row uses cluster instructions");
		gen_variant_free(&v);
	}
	rc = gen_render(g, &p, "strategy=cluster,cluster=128,xchg=global,threads=256,tpr=256,vec=8", &v);
	CHECK(rc == KGEN_EINVAL && strstr(kgen_last_error(), "persistent grid"), "split without persist: rc %d: %s", rc,
	      kgen_last_error());
	rc = gen_render(g, &p, "strategy=cluster,cluster=256,xchg=global,persist=8,threads=256,tpr=256,vec=8", &v);
	CHECK(rc == KGEN_EINVAL && strstr(kgen_last_error(), "2 to 128 CTAs"), "split over 256 CTAs: rc %d: %s", rc,
	      kgen_last_error());
	rc = gen_render(g, &p, "strategy=cluster,cluster=32,threads=256,tpr=256,vec=8", &v);
	CHECK(rc == KGEN_EINVAL && strstr(kgen_last_error(), "sm_90"), "a true cluster on sm_80: rc %d: %s", rc,
	      kgen_last_error());
	p = (gen_problem){"xent", "fused", KGEN_BF16, 8192, 90, "target=i16"};
	rc = gen_render(g, &p, NULL, &v);
	CHECK(rc == KGEN_EINVAL && strstr(kgen_last_error(), "target must be i32 or i64"), "rc %d: %s", rc,
	      kgen_last_error());
	p.op = "nope";
	CHECK(gen_render(g, &p, NULL, &v) == KGEN_EINVAL, "unknown op");
}

/* A template with a bug: the error names templates/softmax.lua and the line. */
static void test_template_error(void)
{
	char dir[] = "/tmp/kgen_test_gen_XXXXXX", path[256];
	gen *g;
	gen_variant v;
	FILE *f;
	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	snprintf(path, sizeof path, "%s/lib", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof path, "%s/softmax.lua", dir);
	f = fopen(path, "w");
	fputs("local T = {}\nfunction T.default(p) return {vec = 1} end\n"
	      "function T.check() return true end\n"
	      "function T.render(p, cfg)\n  return nil + 1\nend\nreturn T\n", f);
	fclose(f);
	/* The directory replaces the built-in templates: copy lib/host.lua there. */
	unsigned long len;
	char *host = gen_read_source("lib/host.lua", &len);
	snprintf(path, sizeof path, "%s/lib/host.lua", dir);
	f = fopen(path, "w");
	fwrite(host, 1, len, f);
	fclose(f);
	free(host);
	setenv("KGEN_TEMPLATE_DIR", dir, 1);
	gen_problem p = {"softmax", "fwd", KGEN_F32, 10, 90, NULL};
	CHECK(gen_open(&g) == 0, "open");
	int rc = gen_render(g, &p, NULL, &v);
	CHECK(rc == KGEN_ETEMPLATE && strstr(kgen_last_error(), "templates/softmax.lua:5:"),
	      "rc %d, message: %s", rc, kgen_last_error());
	gen_close(g);
	unsetenv("KGEN_TEMPLATE_DIR");
}

int main(void)
{
	gen *g;
	unsetenv("KGEN_TEMPLATE_DIR");
	if (gen_open(&g)) {
		fprintf(stderr, "gen_open: %s\n", kgen_last_error());
		return 1;
	}
	for (int op = 0; op < KG_NOPS; op++) {
		char opts[96];
		kg_opts_string(op, 0, opts, sizeof opts);
		test_space_and_render(g, op, opts);
		if (kg_ops[op].xent) {
			kg_opts_string(op, KG_XO_I32 | KG_XO_WEIGHT | KG_XO_SMOOTH | KG_XO_ZLOSS | KG_XO_SOFTCAP, opts,
			               sizeof opts);
			test_space_and_render(g, op, opts);
		}
	}
	test_config_errors(g);
	gen_close(g);
	test_template_error();
	if (failures) {
		fprintf(stderr, "%d failures\n", failures);
		return 1;
	}
	printf("test_gen: ok\n");
	return 0;
}
