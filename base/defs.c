/* defs.c: ops, dtypes, problem keys and stamps (see defs.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "defs.h"
#include "kgen.h"

const kg_opinfo kg_ops[KG_NOPS] = {
	[KG_SOFTMAX_FWD] = {"softmax", "fwd", "kgen_softmax_fwd", 1, 0, "softmax"},
	[KG_SOFTMAX_BWD] = {"softmax", "bwd", "kgen_softmax_bwd", 2, 0, "softmax"},
	[KG_LOGSOFTMAX_FWD] = {"log_softmax", "fwd", "kgen_log_softmax_fwd", 1, 0, "softmax"},
	[KG_LOGSOFTMAX_BWD] = {"log_softmax", "bwd", "kgen_log_softmax_bwd", 2, 0, "softmax"},
	[KG_XENT_FWD] = {"xent", "fwd", "kgen_xent_fwd", 1, 1, "xent"},
	[KG_XENT_BWD] = {"xent", "bwd", "kgen_xent_bwd", 1, 1, "xent"},
	[KG_XENT_FUSED] = {"xent", "fused", "kgen_xent_fused", 1, 1, "xent"},
};

static const struct { const char *alias, *name; } op_aliases[] = {
	{"cross_entropy", "xent"},
	{"logsoftmax", "log_softmax"},
};

const char *kg_op_name(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < sizeof op_aliases / sizeof op_aliases[0]; i++)
		if (!strcmp(name, op_aliases[i].alias))
			name = op_aliases[i].name;
	for (int i = 0; i < KG_NOPS; i++)
		if (!strcmp(kg_ops[i].op, name))
			return kg_ops[i].op;
	return NULL;
}

const char *kg_op_family(const char *name)
{
	name = kg_op_name(name);
	for (int i = 0; name && i < KG_NOPS; i++)
		if (!strcmp(kg_ops[i].op, name))
			return kg_ops[i].family;
	return NULL;
}

int kg_op_find(const char *op, const char *pass)
{
	if (!(op = kg_op_name(op)) || !pass)
		return -1;
	for (int i = 0; i < KG_NOPS; i++)
		if (!strcmp(kg_ops[i].op, op) && !strcmp(kg_ops[i].pass, pass))
			return i;
	return -1;
}

void kg_opts_string(int op, unsigned bits, char *buf, size_t len)
{
	if (!kg_ops[op].xent) {
		snprintf(buf, len, "-");
		return;
	}
	snprintf(buf, len, "smooth=%d,softcap=%d,target=%s,weight=%d,zloss=%d", !!(bits & KG_XO_SMOOTH),
	         !!(bits & KG_XO_SOFTCAP), bits & KG_XO_I32 ? "i32" : "i64", !!(bits & KG_XO_WEIGHT),
	         !!(bits & KG_XO_ZLOSS));
}

int kg_xent_with_prep(int op, unsigned opts, int reduction, long long rows)
{
	if (!kg_ops[op].xent)
		return 0;
	if ((opts & KG_XO_WEIGHT) && (opts & KG_XO_SMOOTH))
		return 1;
	return rows != 1 && reduction == KGEN_REDUCTION_MEAN && op != KG_XENT_FWD;
}

int kg_xent_with_slots(int op, int reduction, long long rows)
{
	return kg_ops[op].xent && op != KG_XENT_BWD && reduction != KGEN_REDUCTION_NONE && rows != 1;
}

const char *const kg_dtype_names[KG_NDTYPES] = {"f32", "f16", "bf16"};

int kg_dtype_size(int dtype)
{
	return dtype == KGEN_F32 ? 4 : 2;
}

int kg_dtype_parse(const char *s)
{
	static const struct { const char *name; int dtype; } names[] = {
		{"f32", KGEN_F32}, {"fp32", KGEN_F32}, {"float32", KGEN_F32}, {"float", KGEN_F32},
		{"f16", KGEN_F16}, {"fp16", KGEN_F16}, {"float16", KGEN_F16}, {"half", KGEN_F16},
		{"bf16", KGEN_BF16}, {"bfloat16", KGEN_BF16},
	};
	for (size_t i = 0; s && i < sizeof names / sizeof names[0]; i++)
		if (!strcmp(s, names[i].name))
			return names[i].dtype;
	return -1;
}

long long kg_rows_bucket(long long rows)
{
	long long b = 1;
	while (b < rows)
		b <<= 1;
	return b;
}

void kg_problem_prefix(char *buf, size_t len, int op, unsigned opts, int dtype, long long cols, int sm,
                       const char *gpu)
{
	char o[96];
	kg_opts_string(op, opts, o, sizeof o);
	snprintf(buf, len, "%s|%s|%s|c%lld|%s|sm%d|%s|r", kg_ops[op].op, kg_ops[op].pass, kg_dtype_names[dtype], cols,
	         o, sm, gpu);
}

void kg_problem_key(char *buf, size_t len, int op, unsigned opts, int dtype, long long cols, int sm,
                    const char *gpu, long long rows_bucket)
{
	size_t n;
	kg_problem_prefix(buf, len, op, opts, dtype, cols, sm, gpu);
	n = strlen(buf);
	snprintf(buf + n, len - n, "%lld", rows_bucket);
}

int kg_key_parse(const char *key, size_t klen, kg_key *k)
{
	char buf[KG_KEY_MAX + 64], *f[6], *p, *bar, *end;
	if (klen >= sizeof buf)
		return KGEN_EINVAL;
	memcpy(buf, key, klen);
	buf[klen] = 0;
	p = buf;
	for (int i = 0; i < 6; i++) {
		if (!(bar = strchr(p, '|')))
			return KGEN_EINVAL;
		*bar = 0;
		f[i] = p;
		p = bar + 1;
	}
	/* the GPU name runs to the last bar */
	if (!(bar = strrchr(p, '|')) || bar[1] != 'r')
		return KGEN_EINVAL;
	*bar = 0;
	if (f[3][0] != 'c' || strncmp(f[5], "sm", 2))
		return KGEN_EINVAL;
	snprintf(k->op, sizeof k->op, "%s", f[0]);
	snprintf(k->pass, sizeof k->pass, "%s", f[1]);
	snprintf(k->dtype, sizeof k->dtype, "%s", f[2]);
	snprintf(k->opts, sizeof k->opts, "%s", f[4]);
	snprintf(k->gpu, sizeof k->gpu, "%s", p);
	k->cols = strtoll(f[3] + 1, &end, 10);
	if (*end || k->cols < 1)
		return KGEN_EINVAL;
	k->sm = (int)strtol(f[5] + 2, &end, 10);
	if (*end || k->sm < 1)
		return KGEN_EINVAL;
	k->bucket = strtoll(bar + 2, &end, 10);
	return *end || k->bucket < 1 ? KGEN_EINVAL : 0;
}

void kg_stamp(char *buf, size_t len, uint64_t template_hash)
{
	snprintf(buf, len, "template=%016llx,kgen=%s", (unsigned long long)template_hash, KGEN_VERSION_STRING);
}

int kg_nvrtc_number(const char *version)
{
	int major, minor;
	if (!version || sscanf(version, "%d.%d", &major, &minor) != 2 || major < 1)
		return 0;
	return major * 1000 + minor * 10;
}
