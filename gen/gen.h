/* gen.h: run kernel templates (Lua) and return CUDA source.
 *
 * A template (templates/<family>.lua) enumerates the valid configurations
 * of one op for a problem (space), names an analytically chosen one
 * (default), and renders one configuration to CUDA source plus its launch
 * geometry (render). Configurations travel as canonical strings,
 * "k=v,k=v" with keys sorted, so the C side never walks Lua tables.
 *
 * The templates are compiled into the binary; $KGEN_TEMPLATE_DIR, when set,
 * makes gen read them from that directory instead (for template work).
 * A gen handle owns one Lua state and is not thread-safe.
 */
#ifndef KGEN_GEN_H
#define KGEN_GEN_H

#include <stdint.h>

typedef struct gen gen;

typedef struct gen_problem {
	const char *op;   /* "softmax", "log_softmax", "xent" */
	const char *pass; /* "fwd", "bwd", "fused" */
	int dtype;        /* kgen_dtype */
	long long cols;
	int sm;           /* 80, 86, 89, 90, ... */
	const char *opts; /* options that change the code, canonical "k=v,..." or NULL */
} gen_problem;

typedef struct gen_variant {
	char *config;            /* canonical "k=v,..." */
	char *source;            /* CUDA C++ for NVRTC */
	char *kernel;            /* extern "C" name of the kernel */
	char *prep;              /* a kernel to launch first (CTAs of 1024), or NULL */
	char *finish;            /* a kernel to launch after it (one CTA of KG_FINISH_THREADS) when the
	                          * call reduces the loss, or NULL */
	unsigned block;          /* threads per CTA */
	unsigned smem;           /* dynamic shared memory, bytes */
	unsigned rows_per_cta;   /* grid.x = ceil(rows / rows_per_cta) */
	unsigned cluster;        /* CTAs per cluster along x (1: no cluster) */
	unsigned persist;        /* persistent grid: at most persist CTAs per SM (0: one CTA per group) */
	unsigned split;          /* 1: the cluster CTAs of a row are no thread-block cluster (xchg=global) */
} gen_variant;

/* 0 or KGEN_ENOMEM / KGEN_ETEMPLATE (detail in kgen_last_error). */
int gen_open(gen **g);
void gen_close(gen *g);

/* The template family that implements an op (kg_op_family of base/defs.h:
 * "softmax" and "log_softmax" -> "softmax", "xent" and "cross_entropy" ->
 * "xent"), or NULL. */
const char *gen_family(const char *op);

/* All valid configurations, canonical strings, malloc'd (free each and the
 * array). *n may be 0 when the op has no variant for the problem. */
int gen_space(gen *g, const gen_problem *p, char ***configs, int *n);

/* The default configuration (malloc'd canonical string). */
int gen_default(gen *g, const gen_problem *p, char **config);

/* Render config (NULL: the default; a partial "k=v" list overrides keys of
 * the default). An unknown key or an invalid value is KGEN_EINVAL with the
 * template's message. */
int gen_render(gen *g, const gen_problem *p, const char *config, gen_variant *v);
void gen_variant_free(gen_variant *v);

/* A hash of the template family's sources (its file and templates/lib/),
 * recorded with every tuned result: an edit invalidates old results. */
uint64_t gen_template_hash(gen *g, const char *family);

/* The text of one template file by its name under templates/ ("softmax.lua",
 * "lib/host.lua"): from $KGEN_TEMPLATE_DIR when set, else built in.
 * Returns a malloc'd copy or NULL (with kgen_last_error set). */
char *gen_read_source(const char *name, unsigned long *len);

#endif
