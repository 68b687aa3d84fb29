/* preset.h: named lists of problems to tune, and shards of them. */
#ifndef KGEN_PRESET_H
#define KGEN_PRESET_H

#include <stddef.h>

/* One problem of a list: the row length is a compile-time constant, the
 * rows are the tuner's representative count (tune_opts.rows). */
typedef struct tune_problem {
	int op;          /* kg_op */
	unsigned opts;   /* KG_XO_* (cross-entropy) */
	int dtype;       /* kgen_dtype */
	long long cols;
	long long rows;  /* the rows it is timed at; 0: the run's --rows */
} tune_problem;

/* The preset names, space-separated ("llm"), from the preset table. */
void preset_names(char *buf, size_t len);

/* The problems of preset name in their fixed order: a malloc'd array of *n.
 * Returns 0, KGEN_EINVAL (unknown name) or KGEN_ENOMEM. */
int preset_get(const char *name, tune_problem **list, int *n);

/* What the presets hold, as one sentence for the help text: "'llm' is
 * cross-entropy fwd, bwd and fused over the vocabularies 32000, ...
 * (444 problems; ...)", generated from the lists themselves. */
void preset_help(char *buf, size_t len);

/* Keep the problems i with i % count == index (0-based), in order; the
 * preset index of each kept problem goes to orig[] when orig is not NULL
 * (room for *n). *n becomes the kept count. */
void preset_shard(tune_problem *list, int *n, int index, int count, int *orig);

/* Parse "I/N" (0 <= I < N): 0, or KGEN_EINVAL. */
int preset_parse_shard(const char *s, int *index, int *count);

/* "xent fused bf16 vocab 128256", "softmax bwd f16 cols 4096"; with
 * cross-entropy options other than the defaults, they follow. */
void problem_name(const tune_problem *p, char *buf, size_t len);

#endif
