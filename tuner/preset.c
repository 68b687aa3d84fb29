/* preset.c: named problem lists (see preset.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "preset.h"

const char preset_names[] = "llm";

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
 * always the fastest. The runtime takes the record of the nearest rows. */
static const long long llm_tall_widths[] = {1024, 2048};
#define TALL_ROWS 65536
/* Decode-time calls: a handful of rows over a vocabulary (sampling,
 * log-probabilities, scoring). A config timed at 4096 rows shapes its grid
 * for thousands of rows (a one-row cross-entropy over a 150K vocabulary ran
 * 2x slower through it than with the template's default), so the forward
 * ops over the vocabularies are tuned at these rows too (rows buckets 64, 8
 * and 1; the runtime takes the nearest bucket, and no record of a bucket
 * more than 8x above the call's). The cubins are those of 4096 rows: only
 * the check and the timing repeat. */
static const long long llm_few_rows[] = {64, 8, 1};

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* llm: cross-entropy fwd, bwd and fused over the vocabularies; softmax and
 * log-softmax fwd and bwd over the widths and the vocabularies, then over
 * the tall widths at TALL_ROWS rows, then softmax, log-softmax and
 * cross-entropy forward over the vocabularies at llm_few_rows (each group
 * after the ones before, so that their indices stay); every dtype;
 * cross-entropy with its default options (i64 targets, no weight, smoothing,
 * z-loss or softcap). The dtype varies fastest, so that a shard by
 * i % N gets a share of every width. */
static int preset_llm(tune_problem *out)
{
	static const int xent_ops[] = {KG_XENT_FUSED, KG_XENT_FWD, KG_XENT_BWD};
	static const int row_ops[] = {KG_SOFTMAX_FWD, KG_SOFTMAX_BWD, KG_LOGSOFTMAX_FWD, KG_LOGSOFTMAX_BWD};
	const int dtypes[] = {KGEN_BF16, KGEN_F16, KGEN_F32};
	int n = 0;
	for (int o = 0; o < COUNT(xent_ops); o++)
		for (int v = 0; v < COUNT(llm_vocabs); v++)
			for (int d = 0; d < COUNT(dtypes); d++) {
				if (out)
					out[n] = (tune_problem){xent_ops[o], 0, dtypes[d], llm_vocabs[v], 0};
				n++;
			}
	for (int o = 0; o < COUNT(row_ops); o++)
		for (int w = 0; w < COUNT(llm_widths) + COUNT(llm_vocabs); w++)
			for (int d = 0; d < COUNT(dtypes); d++) {
				long long cols = w < COUNT(llm_widths) ? llm_widths[w] : llm_vocabs[w - COUNT(llm_widths)];
				if (out)
					out[n] = (tune_problem){row_ops[o], 0, dtypes[d], cols, 0};
				n++;
			}
	for (int o = 0; o < COUNT(row_ops); o++)
		for (int w = 0; w < COUNT(llm_tall_widths); w++)
			for (int d = 0; d < COUNT(dtypes); d++) {
				if (out)
					out[n] = (tune_problem){row_ops[o], 0, dtypes[d], llm_tall_widths[w], TALL_ROWS};
				n++;
			}
	static const int few_ops[] = {KG_SOFTMAX_FWD, KG_LOGSOFTMAX_FWD, KG_XENT_FWD};
	for (int o = 0; o < COUNT(few_ops); o++)
		for (int v = 0; v < COUNT(llm_vocabs); v++)
			for (int r = 0; r < COUNT(llm_few_rows); r++)
				for (int d = 0; d < COUNT(dtypes); d++) {
					if (out)
						out[n] = (tune_problem){few_ops[o], 0, dtypes[d], llm_vocabs[v], llm_few_rows[r]};
					n++;
				}
	return n;
}

int preset_get(const char *name, tune_problem **list, int *n)
{
	*list = NULL;
	*n = 0;
	if (!name || strcmp(name, "llm"))
		return KGEN_EINVAL;
	if (!(*list = malloc(sizeof **list * (size_t)preset_llm(NULL))))
		return KGEN_ENOMEM;
	*n = preset_llm(*list);
	return 0;
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
