/* jit.c: NVRTC compilation, module loading and launching, shared by the
 * runtime and the tuner. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "gen.h"
#include "hash.h"
#include "internal.h"

const char *const kg_dtype_names[3] = {"f32", "f16", "bf16"};

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

const kg_opinfo kg_ops[KG_NOPS] = {
	[KG_SOFTMAX_FWD] = {"softmax", "fwd", "kgen_softmax_fwd", 1, 0},
	[KG_SOFTMAX_BWD] = {"softmax", "bwd", "kgen_softmax_bwd", 2, 0},
	[KG_LOGSOFTMAX_FWD] = {"log_softmax", "fwd", "kgen_log_softmax_fwd", 1, 0},
	[KG_LOGSOFTMAX_BWD] = {"log_softmax", "bwd", "kgen_log_softmax_bwd", 2, 0},
	[KG_XENT_FWD] = {"xent", "fwd", "kgen_xent_fwd", 1, 1},
	[KG_XENT_BWD] = {"xent", "bwd", "kgen_xent_bwd", 1, 1},
	[KG_XENT_FUSED] = {"xent", "fused", "kgen_xent_fused", 1, 1},
};

int kg_op_find(const char *op, const char *pass)
{
	if (!op || !pass)
		return -1;
	if (!strcmp(op, "cross_entropy"))
		op = "xent";
	else if (!strcmp(op, "logsoftmax"))
		op = "log_softmax";
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

void kg_stamp(char *buf, size_t len, uint64_t template_hash)
{
	snprintf(buf, len, "template=%016llx,kgen=%s", (unsigned long long)template_hash,
	         KGEN_VERSION_STRING);
}

static char nvrtc_version[32] = "none";
static pthread_once_t nvrtc_version_once = PTHREAD_ONCE_INIT;

static void nvrtc_version_init(void)
{
	int major, minor;
	if (kg_nvrtc_load() == 0 && kg_nvrtc.nvrtcVersion(&major, &minor) == NVRTC_SUCCESS)
		snprintf(nvrtc_version, sizeof nvrtc_version, "%d.%d", major, minor);
}

const char *kg_nvrtc_version(void)
{
	pthread_once(&nvrtc_version_once, nvrtc_version_init);
	return nvrtc_version;
}

#define KG_NVRTC_STD "-std=c++17"

uint64_t kg_variant_hash(const char *source, int sm)
{
	char extra[96];
	uint64_t h = kg_hash(0, source, strlen(source));
	snprintf(extra, sizeof extra, "|sm_%d|nvrtc %s|%s", sm, kg_nvrtc_version(), KG_NVRTC_STD);
	return kg_hash(h, extra, strlen(extra));
}

int kg_compile(const char *source, const char *name, int sm, void **cubin,
               size_t *size, char **log)
{
	nvrtcProgram prog;
	nvrtcResult r;
	char arch[32];
	const char *opts[] = {arch, KG_NVRTC_STD};
	size_t n;
	int rc;
	*cubin = NULL;
	if (log)
		*log = NULL;
	if ((rc = kg_nvrtc_load()))
		return rc;
	snprintf(arch, sizeof arch, "--gpu-architecture=sm_%d", sm);
	if ((r = kg_nvrtc.nvrtcCreateProgram(&prog, source, name, 0, NULL, NULL)) != NVRTC_SUCCESS)
		return kg_err(KGEN_ECOMPILE, "nvrtcCreateProgram: %s", kg_nvrtc.nvrtcGetErrorString(r));
	r = kg_nvrtc.nvrtcCompileProgram(prog, 2, opts);
	if (r != NVRTC_SUCCESS) {
		rc = kg_err(KGEN_ECOMPILE, "cannot compile '%s' for sm_%d: %s", name, sm,
		            kg_nvrtc.nvrtcGetErrorString(r));
		if (log && kg_nvrtc.nvrtcGetProgramLogSize(prog, &n) == NVRTC_SUCCESS && (*log = malloc(n + 1))) {
			kg_nvrtc.nvrtcGetProgramLog(prog, *log);
			(*log)[n] = 0;
		}
		goto done;
	}
	if ((r = kg_nvrtc.nvrtcGetCUBINSize(prog, &n)) != NVRTC_SUCCESS || n == 0) {
		rc = kg_err(KGEN_ECOMPILE, "NVRTC produced no cubin for sm_%d", sm);
		goto done;
	}
	if (!(*cubin = malloc(n))) {
		rc = kg_err(KGEN_ENOMEM, "out of memory");
		goto done;
	}
	kg_nvrtc.nvrtcGetCUBIN(prog, *cubin);
	*size = n;
	rc = 0;
done:
	kg_nvrtc.nvrtcDestroyProgram(&prog);
	return rc;
}

int kg_device_query(CUdevice dev, kg_device *d)
{
	int major, minor;
	CUresult r;
	memset(d, 0, sizeof *d);
	d->dev = dev;
	if ((r = kg_cu.cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev)) ||
	    (r = kg_cu.cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev)) ||
	    (r = kg_cu.cuDeviceGetAttribute(&d->sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev)) ||
	    (r = kg_cu.cuDeviceGetAttribute(&d->l2_bytes, CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE, dev)) ||
	    (r = kg_cu.cuDeviceGetName(d->name, sizeof d->name, dev)))
		return kg_cu_fail("cuDeviceGetAttribute", r);
	d->sm = major * 10 + minor;
	return 0;
}

int kg_module_load(const void *cubin, const char *kernel, const char *prep, unsigned smem, unsigned cluster,
                   CUmodule *mod, CUfunction *fn, CUfunction *prep_fn)
{
	CUresult r;
	if ((r = kg_cu.cuModuleLoadData(mod, cubin)))
		return kg_cu_fail("cuModuleLoadData", r);
	if ((r = kg_cu.cuModuleGetFunction(fn, *mod, kernel))) {
		kg_cu.cuModuleUnload(*mod);
		return kg_cu_fail("cuModuleGetFunction", r);
	}
	/* Clusters of more than 8 CTAs are not portable: allowed per kernel. */
	if (cluster > 8 &&
	    (r = kg_cu.cuFuncSetAttribute(*fn, CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED, 1))) {
		kg_cu.cuModuleUnload(*mod);
		return kg_cu_fail("cuFuncSetAttribute (non-portable cluster size)", r);
	}
	*prep_fn = NULL;
	if (prep && *prep && (r = kg_cu.cuModuleGetFunction(prep_fn, *mod, prep))) {
		kg_cu.cuModuleUnload(*mod);
		return kg_cu_fail("cuModuleGetFunction (prep)", r);
	}
	if (smem > 48 * 1024 &&
	    (r = kg_cu.cuFuncSetAttribute(*fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, (int)smem))) {
		kg_cu.cuModuleUnload(*mod);
		return kg_cu_fail("cuFuncSetAttribute", r);
	}
	return 0;
}

/* A launch of grid CTAs in clusters of `cluster` along x. */
static void cluster_config(CUlaunchConfig *cfg, CUlaunchAttribute *attr, unsigned grid, unsigned block, unsigned smem,
			   unsigned cluster, CUstream s)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->gridDimX = grid;
	cfg->gridDimY = cfg->gridDimZ = 1;
	cfg->blockDimX = block;
	cfg->blockDimY = cfg->blockDimZ = 1;
	cfg->sharedMemBytes = smem;
	cfg->hStream = s;
	attr->id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
	attr->value.clusterDim.x = cluster;
	attr->value.clusterDim.y = attr->value.clusterDim.z = 1;
	cfg->attrs = attr;
	cfg->numAttrs = 1;
}

unsigned kg_max_grid(CUfunction fn, unsigned persist, unsigned block, unsigned smem, unsigned cluster, int sms)
{
	int blocks = 0, clusters = 0;
	unsigned cap;
	if (!persist)
		return 0;
	if (!kg_cu.cuOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, fn, (int)block, smem) && blocks > 0 &&
	    (unsigned)blocks < persist)
		persist = (unsigned)blocks;
	cap = persist * (unsigned)sms;
	if (cluster > 1) {
		CUlaunchConfig cfg;
		CUlaunchAttribute attr;
		cluster_config(&cfg, &attr, cluster, block, smem, cluster, NULL);
		if (!kg_cu.cuOccupancyMaxActiveClusters(&clusters, fn, &cfg) && clusters > 0 &&
		    (unsigned)clusters * cluster < cap)
			cap = (unsigned)clusters * cluster;
	}
	return cap;
}

int kg_launch_rows(const kg_launch *l, const kg_args *a, int with_prep, CUstream s)
{
	void *args[] = {(void *)a};
	const unsigned long long groups = l->rows_per_cta ? ((unsigned long long)a->rows + l->rows_per_cta - 1) / l->rows_per_cta : 0;
	const unsigned per = l->cluster > 1 ? l->cluster : 1;
	unsigned grid;
	CUresult r;
	/* a grid holds at most 2^31 - 1 CTAs; grid * cluster must not wrap */
	if (!groups || (!l->max_grid && groups > 0x7fffffffull / per))
		return kg_err(KGEN_EINVAL, "%lld rows need %llu CTAs (%u rows each, %u per group): more than a grid holds "
		              "(2147483647); split the call", (long long)a->rows, groups * per, l->rows_per_cta, per);
	if (l->max_grid) {
		/* a persistent kernel walks over the rest; max_grid counts CTAs,
		 * grid counts groups of rows (one cluster each) */
		unsigned cap = l->max_grid / (l->cluster > 1 ? l->cluster : 1);
		if (cap < 1)
			cap = 1;
		grid = groups > cap ? cap : (unsigned)groups;
	} else {
		grid = (unsigned)groups;
	}
	/* prep: one CTA of 1024 threads per 16384 rows, at most 128 */
	unsigned prep_grid = (unsigned)(a->rows / 16384 + 1 < 128 ? a->rows / 16384 + 1 : 128);
	if (with_prep && l->prep && (r = kg_cu.cuLaunchKernel(l->prep, prep_grid, 1, 1, 1024, 1, 1, 0, s, args, NULL)))
		return kg_cu_fail("cuLaunchKernel (prep)", r);
	if (l->cluster > 1) {
		/* l->cluster CTAs share each group of rows: one cluster per group. */
		CUlaunchConfig cfg;
		CUlaunchAttribute attr;
		cluster_config(&cfg, &attr, grid * l->cluster, l->block, l->smem, l->cluster, s);
		r = kg_cu.cuLaunchKernelEx(&cfg, l->fn, args, NULL);
	} else {
		r = kg_cu.cuLaunchKernel(l->fn, grid, 1, 1, l->block, 1, 1, l->smem, s, args, NULL);
	}
	return r ? kg_cu_fail("cuLaunchKernel", r) : 0;
}
