/* preset.c: named problem lists (see preset.h). Each preset is a table of
 * groups (ops x row lengths x rows x dtypes); the problems and the text
 * 'kgen tune --help' says about them both come from it. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "preset.h"

/* The vocabularies of common language models: Llama 2 / Mistral (32000),
 * GPT-2 / GPT-J (50257), Llama 3 (128256), Mistral NeMo (131072), Qwen 2
 * (151936), Gemma (256000), Gemma 3 (262144). */
static const long long llm_vocabs[] = {32000, 50257, 128256, 131072, 151936, 256000, 262144};
/* Hidden and attention widths (attention rows up to a 64K context) for
 * softmax and log-softmax, then the vocabularies. */
static const long long llm_widths[] = {1024, 2048, 4096, 8192, 16384, 32768, 65536};
/* Attention rows are many and short (batch x heads x queries rows of the
 * keys' length): these widths are tuned at TALL_ROWS rows as well, where a
 * config timed at 4096 rows (a problem of a few microseconds) is not
 * always the fastest. The runtime takes the record of the nearest rows.
 * Cross-entropy is tuned there too (many short rows: a classifier's batch,
 * a distillation loss): on an H100, fused bf16 131072x1024 ran 241.3 us
 * through its 4096-row record and 187.8 us through the 65536-row one. */
static const long long llm_tall_widths[] = {1024, 2048};
/* Cross-entropy over the smaller vocabularies and between the listed ones
 * (16K-64K: small and code models). */
static const long long llm_xent_widths[] = {16384, 65536};
/* Cross-entropy over the hidden widths and 32768 as well (distillation
 * over a small vocabulary, classifier heads, the rows of a chunked loss):
 * without records of their own such calls took the record of the nearest
 * vocabulary or the template's default (on an H100, bf16 4096x8192 forward
 * 46.8 us; tuned, 38.8 us). */
static const long long llm_xent_short[] = {1024, 2048, 4096, 8192, 32768};
#define TALL_ROWS 65536
/* Batches of a thousand rows (a decode step's attention rows, a small
 * batch's hidden states): the narrow widths are tuned at BATCH_ROWS rows
 * too. A 4096-row record that packs many rows into a CTA leaves most SMs
 * idle at a quarter of the rows: on an H100 softmax forward f32 1024x1024
 * ran the 4096-row record's threads=1024,tpr=32 (32 rows a CTA, 32 CTAs on
 * 132 SMs) in 9.4 us against the Triton tutorial's 7.5 us. */
static const long long llm_batch_widths[] = {1024, 2048, 4096, 8192};
#define BATCH_ROWS 1024
/* Decode-time calls: a handful of rows over a vocabulary (sampling,
 * log-probabilities, scoring). A config timed at 4096 rows shapes its grid
 * for thousands of rows (a one-row cross-entropy over a 150K vocabulary ran
 * 2x slower through it than with the template's default), so the forward
 * ops over the vocabularies are tuned at these rows too (rows buckets 64, 8
 * and 1; the runtime takes the nearest bucket, and no record of a bucket
 * more than 8x above the call's). The cubins are those of 4096 rows: only
 * the check and the timing repeat. */
static const long long llm_few_rows[] = {64, 8, 1};
/* Fused cross-entropy of a few rows (scoring a handful of sequences, a
 * step of online training) at 8 and 1 rows: through a 4096-row record
 * or the template's default, one row of 128256 took 12 us on an H100,
 * twice its forward's tuned 1-row record. */
static const long long llm_fused_few_rows[] = {8, 1};
/* One very long row at decode (a vocabulary of 1M, a long sequence's
 * attention row): 1 and 8 rows of 1048576 for the forward passes and fused
 * cross-entropy. No width of the list within 2x of it held a record, so
 * such a call took the template's default: on an H100 one bf16 row's
 * softmax ran 13.39 us through it and 10.05 us split over 128 CTAs
 * (xchg=global); such records serve 524288 to 2M columns (nearest width). */
static const long long llm_long_decode[] = {1048576};

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* A list of row lengths, named in the help text after its first mention
 * ("the vocabularies 32000, ..." then "the vocabularies"), or NULL: its
 * numbers each time. */
typedef struct col_list {
	const char *name;
	const long long *cols;
	int n;
} col_list;

static const col_list vocabs = {"the vocabularies", llm_vocabs, COUNT(llm_vocabs)};
static const col_list widths = {NULL, llm_widths, COUNT(llm_widths)};
static const col_list tall_widths = {NULL, llm_tall_widths, COUNT(llm_tall_widths)};
static const col_list xent_widths = {NULL, llm_xent_widths, COUNT(llm_xent_widths)};
static const col_list xent_short = {NULL, llm_xent_short, COUNT(llm_xent_short)};
static const col_list batch_widths = {NULL, llm_batch_widths, COUNT(llm_batch_widths)};
static const col_list long_decode = {NULL, llm_long_decode, COUNT(llm_long_decode)};

/* A group of a preset: every op over every row length of its lists in
 * turn, at each of its rows (none: the run's --rows), in every dtype of the
 * preset; the dtype varies fastest, then the rows, the columns, the op. */
typedef struct preset_group {
	int ops[4], nops;
	const col_list *cols[2];
	const long long *rows;
	int nrows;
	const char *note;  /* said after it in the help text, or NULL */
} preset_group;

typedef struct preset {
	const char *name;
	const preset_group *groups;
	int ngroups;
	int dtypes[3], ndtypes;
	const char *note;  /* said after the count in the help text, or NULL */
} preset;

static const long long tall_rows[] = {TALL_ROWS};
static const long long batch_rows[] = {BATCH_ROWS};

/* llm: cross-entropy fwd, bwd and fused over the vocabularies; softmax and
 * log-softmax fwd and bwd over the widths and the vocabularies, then over
 * the tall widths at TALL_ROWS rows, then softmax, log-softmax and
 * cross-entropy forward over the vocabularies at llm_few_rows, then
 * cross-entropy fwd, bwd and fused over llm_xent_widths, then fused
 * cross-entropy over the vocabularies at llm_fused_few_rows, then
 * cross-entropy fwd, bwd and fused over llm_xent_short, then over the tall
 * widths at TALL_ROWS rows, then softmax and log-softmax fwd and bwd over
 * llm_batch_widths at BATCH_ROWS rows, then softmax, log-softmax and
 * cross-entropy forward and fused over llm_long_decode at
 * llm_fused_few_rows (each group after the ones before, so that their
 * indices stay); every dtype;
 * cross-entropy with its default options (i64 targets, no weight, smoothing,
 * z-loss or softcap). The dtype varies fastest, so that a shard by
 * i % N gets a share of every width. */
static const preset_group llm_groups[] = {
	{{KG_XENT_FUSED, KG_XENT_FWD, KG_XENT_BWD}, 3, {&vocabs, NULL}, NULL, 0, NULL},
	{{KG_SOFTMAX_FWD, KG_SOFTMAX_BWD, KG_LOGSOFTMAX_FWD, KG_LOGSOFTMAX_BWD}, 4, {&widths, &vocabs}, NULL, 0, NULL},
	{{KG_SOFTMAX_FWD, KG_SOFTMAX_BWD, KG_LOGSOFTMAX_FWD, KG_LOGSOFTMAX_BWD}, 4, {&tall_widths, NULL}, tall_rows,
	 COUNT(tall_rows), NULL},
	{{KG_SOFTMAX_FWD, KG_LOGSOFTMAX_FWD, KG_XENT_FWD}, 3, {&vocabs, NULL}, llm_few_rows, COUNT(llm_few_rows),
	 "decode"},
	{{KG_XENT_FUSED, KG_XENT_FWD, KG_XENT_BWD}, 3, {&xent_widths, NULL}, NULL, 0, NULL},
	{{KG_XENT_FUSED}, 1, {&vocabs, NULL}, llm_fused_few_rows, COUNT(llm_fused_few_rows), "a few rows"},
	{{KG_XENT_FUSED, KG_XENT_FWD, KG_XENT_BWD}, 3, {&xent_short, NULL}, NULL, 0, NULL},
	{{KG_XENT_FUSED, KG_XENT_FWD, KG_XENT_BWD}, 3, {&tall_widths, NULL}, tall_rows, COUNT(tall_rows), NULL},
	{{KG_SOFTMAX_FWD, KG_SOFTMAX_BWD, KG_LOGSOFTMAX_FWD, KG_LOGSOFTMAX_BWD}, 4, {&batch_widths, NULL}, batch_rows,
	 COUNT(batch_rows), "a batch"},
	{{KG_SOFTMAX_FWD, KG_LOGSOFTMAX_FWD, KG_XENT_FWD, KG_XENT_FUSED}, 4, {&long_decode, NULL}, llm_fused_few_rows,
	 COUNT(llm_fused_few_rows), "one long row"},
};

static const preset presets[] = {
	{"llm", llm_groups, COUNT(llm_groups), {KGEN_BF16, KGEN_F16, KGEN_F32}, 3,
	 "one with rows of its own shows them as rows=N in --list"},
};

/* The problems of preset p into out (when not NULL); returns their count. */
static int preset_fill(const preset *p, tune_problem *out)
{
	int n = 0;
	for (int g = 0; g < p->ngroups; g++) {
		const preset_group *G = &p->groups[g];
		for (int o = 0; o < G->nops; o++)
			for (int l = 0; l < 2 && G->cols[l]; l++)
				for (int c = 0; c < G->cols[l]->n; c++)
					for (int r = 0; r < (G->nrows ? G->nrows : 1); r++)
						for (int d = 0; d < p->ndtypes; d++) {
							if (out)
								out[n] = (tune_problem){G->ops[o], 0, p->dtypes[d], G->cols[l]->cols[c],
								                        G->nrows ? G->rows[r] : 0};
							n++;
						}
	}
	return n;
}

void preset_names(char *buf, size_t len)
{
	size_t at = 0;
	if (len)
		buf[0] = 0;
	for (int i = 0; i < COUNT(presets) && at < len; i++)
		at += (size_t)snprintf(buf + at, len - at, "%s%s", i ? " " : "", presets[i].name);
}

static const preset *preset_find(const char *name)
{
	for (int i = 0; name && i < COUNT(presets); i++)
		if (!strcmp(presets[i].name, name))
			return &presets[i];
	return NULL;
}

int preset_get(const char *name, tune_problem **list, int *n)
{
	const preset *p = preset_find(name);
	*list = NULL;
	*n = 0;
	if (!p)
		return KGEN_EINVAL;
	if (!(*list = malloc(sizeof **list * (size_t)preset_fill(p, NULL))))
		return KGEN_ENOMEM;
	*n = preset_fill(p, *list);
	return 0;
}

/* Text appended to a buffer, cut short at its end. */
typedef struct text {
	char *buf;
	size_t len, at;
} text;

static void add(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(text *t, const char *fmt, ...)
{
	va_list ap;
	int n;
	if (t->at >= t->len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->buf + t->at, t->len - t->at, fmt, ap);
	va_end(ap);
	if (n > 0)
		t->at = t->at + (size_t)n < t->len ? t->at + (size_t)n : t->len;
}

/* ", " between the items of a list of n, " and " before its last. */
static const char *sep(int i, int n)
{
	return i == 0 ? "" : i == n - 1 ? " and " : ", ";
}

static const char *op_family(int op)
{
	const char *f = kg_ops[op].op;
	return !strcmp(f, "xent") ? "cross-entropy" : !strcmp(f, "log_softmax") ? "log-softmax" : f;
}

/* "softmax and log-softmax fwd and bwd", "cross-entropy fwd, bwd and
 * fused": the families of the ops in the order they come, then the passes
 * (fwd, bwd, fused) when every family has the same; else each family with
 * its passes. */
static void add_ops(text *t, const preset_group *G)
{
	static const char *const passes[] = {"fwd", "bwd", "fused"};
	const char *fam[4];
	unsigned has[4] = {0};
	int nf = 0, same = 1;
	for (int o = 0; o < G->nops; o++) {
		int f, k;
		for (f = 0; f < nf && strcmp(fam[f], op_family(G->ops[o])); f++)
			;
		if (f == nf)
			fam[nf++] = op_family(G->ops[o]);
		for (k = 0; k < COUNT(passes) && strcmp(passes[k], kg_ops[G->ops[o]].pass); k++)
			;
		has[f] |= 1u << k;
	}
	for (int f = 1; f < nf; f++)
		same &= has[f] == has[0];
	for (int f = 0; f < nf; f++) {
		add(t, "%s%s", sep(f, nf), fam[f]);
		if (same && f < nf - 1)
			continue;
		int np = __builtin_popcount(has[f]), i = 0;
		add(t, " ");
		for (int k = 0; k < COUNT(passes); k++)
			if (has[f] >> k & 1)
				add(t, "%s%s", sep(i++, np), passes[k]);
	}
}

void preset_help(char *buf, size_t len)
{
	text t = {buf, len, 0};
	const col_list *named[8];
	int nnamed = 0;
	if (len)
		buf[0] = 0;
	for (int i = 0; i < COUNT(presets); i++) {
		const preset *p = &presets[i];
		add(&t, "%s'%s' is ", i ? ". " : "", p->name);
		for (int g = 0; g < p->ngroups; g++) {
			const preset_group *G = &p->groups[g];
			int nl = G->cols[1] ? 2 : 1, item = 0, nitems = 0;
			add(&t, "%s", g ? "; " : "");
			add_ops(&t, G);
			add(&t, " over ");
			/* the numbers of unnamed lists and of named ones not yet
			 * mentioned, each named one (once mentioned) as one item */
			for (int l = 0; l < nl; l++) {
				int k;
				for (k = 0; k < nnamed && named[k] != G->cols[l]; k++)
					;
				nitems += G->cols[l]->name && k < nnamed ? 1 : G->cols[l]->n;
			}
			for (int l = 0; l < nl; l++) {
				const col_list *L = G->cols[l];
				int k;
				for (k = 0; k < nnamed && named[k] != L; k++)
					;
				if (L->name && k < nnamed) {
					add(&t, "%s%s", sep(item++, nitems), L->name);
					continue;
				}
				if (L->name) {
					add(&t, "%s%s ", sep(item, nitems), L->name);
					if (nnamed < COUNT(named))
						named[nnamed++] = L;
					for (int c = 0; c < L->n; c++)
						add(&t, "%s%lld", c ? sep(c, L->n) : "", L->cols[c]);
					item += L->n;
					continue;
				}
				for (int c = 0; c < L->n; c++)
					add(&t, "%s%lld", sep(item++, nitems), L->cols[c]);
			}
			if (G->nrows) {
				add(&t, " at ");
				for (int r = 0; r < G->nrows; r++)
					add(&t, "%s%lld", sep(r, G->nrows), G->rows[r]);
				add(&t, " rows");
			}
			if (G->note)
				add(&t, " (%s)", G->note);
		}
		add(&t, "; each in ");
		for (int d = 0; d < p->ndtypes; d++)
			add(&t, "%s%s", sep(d, p->ndtypes), kg_dtype_names[p->dtypes[d]]);
		add(&t, " (%d problems%s%s)", preset_fill(p, NULL), p->note ? "; " : "", p->note ? p->note : "");
	}
}

void preset_shard(tune_problem *list, int *n, int index, int count, int *orig)
{
	int k = 0;
	for (int i = 0; i < *n; i++)
		if (i % count == index) {
			if (orig)
				orig[k] = i;
			list[k++] = list[i];
		}
	*n = k;
}

int preset_parse_shard(const char *s, int *index, int *count)
{
	char *end;
	long i, n;
	if (!s || *s < '0' || *s > '9')
		return KGEN_EINVAL;
	i = strtol(s, &end, 10);
	if (*end != '/' || end[1] < '0' || end[1] > '9')
		return KGEN_EINVAL;
	n = strtol(end + 1, &end, 10);
	if (*end || n < 1 || n > 1000000 || i < 0 || i >= n)
		return KGEN_EINVAL;
	*index = (int)i;
	*count = (int)n;
	return 0;
}

void problem_name(const tune_problem *p, char *buf, size_t len)
{
	const kg_opinfo *info = &kg_ops[p->op];
	int n = snprintf(buf, len, "%s %s %s %s %lld", info->op, info->pass, kg_dtype_names[p->dtype],
	                 info->xent ? "vocab" : "cols", p->cols);
	if (p->opts && n > 0 && (size_t)n < len) {
		char o[96];
		kg_opts_string(p->op, p->opts, o, sizeof o);
		n += snprintf(buf + n, len - (size_t)n, " %s", o);
	}
	if (p->rows && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, " rows %lld", p->rows);
}
