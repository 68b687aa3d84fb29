/* test_compile.c: every code path of every op compiles with NVRTC to a cubin
 * for sm_80 and sm_90 (no GPU needed): for four row widths (one for each
 * shape of the space: several rows per warp, registers, rows no 16-byte
 * vector divides (shifted), streaming), each dtype, and cross-entropy
 * without options and with all of them. Every variant of every problem is
 * rendered; a cover of each problem's space is compiled:
 *
 * - Variants that differ only in sizes take the same path through the
 *   template, so a variant is known by its signature: the configuration
 *   with threads and tpr reduced to the shape of the reduction (threads per
 *   row below, at or above a warp; one or several rows per CTA), cluster to
 *   one CTA or several, persist to on or off; strategy, load, vec, shift and
 *   occ as they are.
 * - Of a problem's signatures, those compiled cover (a greedy set cover)
 *   every combination of strategy, load, shift, persist and cluster that
 *   the space holds -- the template's paths: loader, reduction across CTAs,
 *   shifted rows, persistent grid -- and every pair of values of any two
 *   keys of the signature that occur together (pairwise coverage: a vector
 *   width with each strategy, a reduction shape with each loader, ...).
 *   Faults that need three keys at once are left to the tuner, which
 *   compiles every variant it times.
 * - f16 and bf16 take the same paths (the same element size, so the same
 *   space and signatures: templates/lib/cuda.lua's dtypes differ only in
 *   the conversion functions), so f16 compiles one variant per strategy
 *   and vector width of each problem: its conversions in every op, width,
 *   loop and vector store.
 * - sm_80 differs from sm_90 only in the target (its space is a subset),
 *   so it is compiled for bf16 alone.
 *
 * This compiles 958 of the 13574 variants (2348 with one per signature,
 * 12 to 15 minutes on two cores, against 4); a line per op says how far it got.
 * KGEN_TEST_COMPILE_ALL=1 compiles every variant of every dtype (most of an
 * hour on two cores). Skips, exit 77, without NVRTC. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gen.h"
#include "internal.h"

typedef struct item {
	int sm, group;
	char *src, *what;
	int failed;
} item;

/* The compiles of one op (SM, op, pass, options), for the progress lines. */
typedef struct group {
	char name[160];
	int rendered, total, done, failed;
} group;

static item *items;
static group *groups;
static int nitems, next_item, ngroups, ndone;
static double t0;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

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
		/* the op's line once its last variant is compiled */
		pthread_mutex_lock(&lock);
		group *gr = &groups[it->group];
		gr->failed += it->failed;
		ndone++;
		if (++gr->done == gr->total) {
			printf("%s: %d compiled of %d rendered, %d failed; %d/%d in all, %.0f s\n", gr->name, gr->total,
			       gr->rendered, gr->failed, ndone, nitems, now_s() - t0);
			fflush(stdout);
		}
		pthread_mutex_unlock(&lock);
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

/* A requirement that a compiled signature meets, and that signature. */
typedef struct req {
	char s[160];
	int sig;
} req;

static int req_cmp(const void *a, const void *b)
{
	return strcmp(((const req *)a)->s, ((const req *)b)->s);
}

/* The parts "k=v" of a signature, at most 16; their number. */
static int sig_parts(const char *sig, char parts[16][64])
{
	int n = 0;
	for (const char *p = sig; *p && n < 16;) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		snprintf(parts[n++], 64, "%.*s", (int)len, p);
		p += len + (e ? 1 : 0);
	}
	return n;
}

/* The value of key k among the parts, or "-". */
static const char *part_value(char parts[16][64], int n, const char *k)
{
	size_t kl = strlen(k);
	for (int i = 0; i < n; i++)
		if (!strncmp(parts[i], k, kl) && parts[i][kl] == '=')
			return parts[i] + kl + 1;
	return "-";
}

/* Of the n distinct signatures of a problem, set chosen[i] for those to
 * compile: a greedy set cover (the signature that meets the most unmet
 * requirements first, the earlier in the space on a tie) of every
 * combination of strategy, load, shift, persist and cluster and every pair
 * of values; narrow (f16): of every strategy and vec. Returns how many were
 * chosen, or -1 without memory. A sort gives the requirements their ids
 * (a set of strings, here without a library for one). */
static int cover(char (*sigs)[256], int n, int narrow, int *chosen)
{
	req *r = NULL;
	int nr = 0, cap = 0, nid = 0, nchosen = 0, *id = NULL, *gain = NULL;
	char *met = NULL;
	for (int i = 0; i < n; i++) {
		char parts[16][64];
		int np = sig_parts(sigs[i], parts);
		chosen[i] = 0;
		if (nr + 1 + np * np >= cap && !(r = realloc(r, sizeof *r * (size_t)(cap = (nr + 1 + np * np) * 2))))
			return -1;
		if (narrow) {
			snprintf(r[nr].s, sizeof r[nr].s, "S:%s|%s", part_value(parts, np, "strategy"), part_value(parts, np, "vec"));
			r[nr++].sig = i;
			continue;
		}
		snprintf(r[nr].s, sizeof r[nr].s, "P:%s|%s|%s|%s|%s", part_value(parts, np, "strategy"),
		         part_value(parts, np, "load"), part_value(parts, np, "shift"), part_value(parts, np, "persist"),
		         part_value(parts, np, "cluster"));
		r[nr++].sig = i;
		for (int a = 0; a < np; a++)
			for (int b = a + 1; b < np; b++) {
				snprintf(r[nr].s, sizeof r[nr].s, "Q:%s&%s", parts[a], parts[b]);
				r[nr++].sig = i;
			}
	}
	if (!nr)
		return 0;
	qsort(r, (size_t)nr, sizeof *r, req_cmp);
	if (!(id = malloc(sizeof *id * (size_t)nr)) || !(gain = malloc(sizeof *gain * (size_t)n)) ||
	    !(met = calloc((size_t)nr, 1))) {
		free(r), free(id), free(gain);
		return -1;
	}
	for (int i = 0; i < nr; i++)
		id[i] = i && !strcmp(r[i].s, r[i - 1].s) ? nid - 1 : nid++;
	for (;;) {
		int best = -1;
		memset(gain, 0, sizeof *gain * (size_t)n);
		for (int i = 0; i < nr; i++)
			gain[r[i].sig] += !met[id[i]];
		for (int i = 0; i < n; i++)
			if (!chosen[i] && gain[i] && (best < 0 || gain[i] > gain[best]))
				best = i;
		if (best < 0)
			break;
		chosen[best] = 1;
		nchosen++;
		for (int i = 0; i < nr; i++)
			if (r[i].sig == best)
				met[id[i]] = 1;
	}
	free(r);
	free(id);
	free(gain);
	free(met);
	return nchosen;
}

static int add_item(int sm, int grp, char *src, const char *what)
{
	static int cap;
	if (nitems == cap && !(items = realloc(items, sizeof *items * (size_t)(cap = cap * 2 + 64))))
		return -1;
	items[nitems] = (item){sm, grp, src, strdup(what), 0};
	groups[grp].total++;
	nitems++;
	return 0;
}

int main(void)
{
	static const long long cols[] = {7, 1001, 3000, 262144};
	static const int sms[] = {80, 90};
	const unsigned all = KG_XO_I32 | KG_XO_WEIGHT | KG_XO_SMOOTH | KG_XO_ZLOSS | KG_XO_SOFTCAP;
	int failures = 0, nth, rendered = 0;
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
	t0 = now_s();
	if (!(groups = calloc(sizeof sms / sizeof sms[0] * KG_NOPS * 2, sizeof *groups)))
		return 1;
	for (size_t s = 0; s < sizeof sms / sizeof sms[0]; s++)
		for (int op = 0; op < KG_NOPS; op++)
			for (unsigned o = 0; o <= (kg_ops[op].xent ? 1u : 0u); o++) {
				char opts[96];
				int grp = ngroups++;
				kg_opts_string(op, o ? all : 0, opts, sizeof opts);
				snprintf(groups[grp].name, sizeof groups[grp].name, "sm_%d %s %s [%s]", sms[s], kg_ops[op].op,
				         kg_ops[op].pass, opts);
				for (int d = 0; d < 3; d++)
					for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++) {
						gen_problem p = {kg_ops[op].op, kg_ops[op].pass, d, cols[k], sms[s], opts};
						const int compiled = all_variants || sms[s] >= 90 || d == KGEN_BF16;
						char **cfg, what[400];
						char(*sigs)[256];
						char **src; /* the source of each signature's first variant */
						int *chosen, n, nsig = 0;
						if (gen_space(g, &p, &cfg, &n)) {
							fprintf(stderr, "FAIL space: %s\n", kgen_last_error());
							return 1;
						}
						sigs = calloc((size_t)n + 1, sizeof *sigs);
						src = calloc((size_t)n + 1, sizeof *src);
						chosen = calloc((size_t)n + 1, sizeof *chosen);
						if (!sigs || !src || !chosen)
							return 1;
						for (int i = 0; i < n; i++) {
							gen_variant v;
							char sig[256];
							int j = 0;
							/* every variant renders; a cover of them compiles */
							if (gen_render(g, &p, cfg[i], &v)) {
								fprintf(stderr, "FAIL render %s: %s\n", cfg[i], kgen_last_error());
								failures++;
								continue;
							}
							rendered++;
							groups[grp].rendered++;
							snprintf(what, sizeof what, "sm_%d %s %s %s cols=%lld [%s] %s", sms[s], kg_ops[op].op,
							         kg_ops[op].pass, kg_dtype_names[d], cols[k], opts, cfg[i]);
							if (all_variants) {
								if (add_item(sms[s], grp, v.source, what))
									return 1;
								v.source = NULL;
							} else if (compiled) {
								signature(cfg[i], sig, sizeof sig);
								while (j < nsig && strcmp(sigs[j], sig))
									j++;
								if (j == nsig) {
									snprintf(sigs[nsig], sizeof sigs[0], "%s", sig);
									src[nsig++] = v.source;
									v.source = NULL;
								}
							}
							gen_variant_free(&v);
						}
						if (!all_variants && compiled) {
							if (cover(sigs, nsig, d == KGEN_F16, chosen) < 0)
								return 1;
							for (int j = 0; j < nsig; j++) {
								if (!chosen[j]) {
									free(src[j]);
									continue;
								}
								snprintf(what, sizeof what, "sm_%d %s %s %s cols=%lld [%s] %s", sms[s],
								         kg_ops[op].op, kg_ops[op].pass, kg_dtype_names[d], cols[k], opts, sigs[j]);
								if (add_item(sms[s], grp, src[j], what))
									return 1;
							}
						}
						for (int i = 0; i < n; i++)
							free(cfg[i]);
						free(cfg);
						free(sigs);
						free(src);
						free(chosen);
					}
			}
	gen_close(g);
	printf("test_compile: %d variants rendered in %.0f s; compiling %d (NVRTC %s)\n", rendered, now_s() - t0, nitems,
	       kg_nvrtc_version());
	fflush(stdout);
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
	free(groups);
	printf("test_compile: %d variants compiled, %d failed (NVRTC %s); %d more rendered, not compiled (covered by those "
	       "compiled, or sm_80 beyond bf16)%s; %.0f s\n",
	       nitems, failures, kg_nvrtc_version(), rendered - nitems,
	       all_variants ? "" : " (KGEN_TEST_COMPILE_ALL=1 compiles them too)", now_s() - t0);
	return failures ? 1 : 0;
}
