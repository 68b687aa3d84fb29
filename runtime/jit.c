/* jit.c: NVRTC compilation, module loading and launching, shared by the
 * runtime and the tuner. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "hash.h"
#include "internal.h"

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

/* Kernel name of the module mod into *fn (NULL for no name); what names
 * it in an error. */
static int get_function(CUmodule mod, const char *name, CUfunction *fn, const char *what)
{
	CUresult r;
	*fn = NULL;
	if (name && *name && (r = kg_cu.cuModuleGetFunction(fn, mod, name))) {
		kg_cu.cuModuleUnload(mod);
		return kg_cu_fail(what, r);
	}
	return 0;
}

int kg_module_load(const void *cubin, const char *kernel, const char *prep, const char *finish, unsigned smem,
                   unsigned cluster, CUmodule *mod, kg_launch *l)
{
	CUfunction *fn = &l->fn;
	CUresult r;
	int rc;
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
	if ((rc = get_function(*mod, prep, &l->prep, "cuModuleGetFunction (prep)")) ||
	    (rc = get_function(*mod, finish, &l->finish, "cuModuleGetFunction (finish)")))
		return rc; /* (get_function unloaded the module) */
	/* More than 48 KB of shared memory in all, static and dynamic, is
	 * asked for per kernel (a 48 KB slice beside a few hundred static
	 * bytes fails to launch without it). */
	int static_smem = 0;
	if (smem && kg_cu.cuFuncGetAttribute(&static_smem, CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, *fn))
		static_smem = 0;
	if (smem + (size_t)(static_smem > 0 ? static_smem : 0) > 48 * 1024 &&
	    (r = kg_cu.cuFuncSetAttribute(*fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, (int)smem))) {
		kg_cu.cuModuleUnload(*mod);
		return kg_cu_fail("cuFuncSetAttribute", r);
	}
	int version = 0;
	l->pdl = l->prep && !kg_cu.cuFuncGetAttribute(&version, CU_FUNC_ATTRIBUTE_BINARY_VERSION, *fn) && version >= 90;
	return 0;
}

/* A launch of grid CTAs, in clusters of `cluster` along x when cluster > 1,
 * cooperatively when coop (every CTA resident at once), and when pdl as a
 * programmatic dependent of the kernel before it on the stream (attr: room
 * for three attributes). */
static void launch_config(CUlaunchConfig *cfg, CUlaunchAttribute *attr, unsigned grid, unsigned block, unsigned smem,
			  unsigned cluster, int coop, int pdl, CUstream s)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->gridDimX = grid;
	cfg->gridDimY = cfg->gridDimZ = 1;
	cfg->blockDimX = block;
	cfg->blockDimY = cfg->blockDimZ = 1;
	cfg->sharedMemBytes = smem;
	cfg->hStream = s;
	cfg->attrs = attr;
	memset(attr, 0, 3 * sizeof *attr);
	if (cluster > 1) {
		attr[cfg->numAttrs].id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
		attr[cfg->numAttrs].value.clusterDim.x = cluster;
		attr[cfg->numAttrs].value.clusterDim.y = attr[cfg->numAttrs].value.clusterDim.z = 1;
		cfg->numAttrs++;
	}
	if (coop) {
		attr[cfg->numAttrs].id = CU_LAUNCH_ATTRIBUTE_COOPERATIVE;
		attr[cfg->numAttrs].value.cooperative = 1;
		cfg->numAttrs++;
	}
	if (pdl) {
		attr[cfg->numAttrs].id = CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION;
		attr[cfg->numAttrs].value.programmaticStreamSerializationAllowed = 1;
		cfg->numAttrs++;
	}
}

unsigned kg_max_grid(CUfunction fn, unsigned persist, unsigned block, unsigned smem, unsigned cluster, int sms,
                     int strict)
{
	int blocks = 0, clusters = 0;
	unsigned cap;
	if (!persist)
		return 0;
	if (kg_cu.cuOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, fn, (int)block, smem) || blocks <= 0) {
		if (strict) /* every CTA must be resident: no cap from a guess */
			return 0;
	} else if ((unsigned)blocks < persist) {
		persist = (unsigned)blocks;
	}
	cap = persist * (unsigned)sms;
	if (cluster > 1) {
		CUlaunchConfig cfg;
		CUlaunchAttribute attr[3];
		launch_config(&cfg, attr, cluster, block, smem, cluster, 0, 0, NULL);
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
	if (l->split && (!l->max_grid || !a->xg))
		return kg_err(KGEN_EINVAL, "a row split over CTAs needs a persistent grid and the exchange area");
	if (!groups || (!l->max_grid && groups > 0x7fffffffull / per))
		return kg_err(KGEN_EINVAL, "%lld rows need %llu CTAs (%u rows each, %u per group): more than a grid holds "
		              "(2147483647); split the call", (long long)a->rows, groups * per, l->rows_per_cta, per);
	if (l->max_grid) {
		/* a persistent kernel walks over the rest; max_grid counts CTAs,
		 * grid counts groups of rows (one cluster each) */
		unsigned cap = l->max_grid / (l->cluster > 1 ? l->cluster : 1);
		/* a split row's groups and CTAs within the exchange area */
		if (l->split && cap > KG_XG_GROUPS)
			cap = KG_XG_GROUPS;
		if (l->split && cap > KG_XG_CTAS / per)
			cap = KG_XG_CTAS / per;
		if (l->split && cap < 1) /* its CTAs would wait for ones that cannot be resident */
			return kg_err(KGEN_EUNSUPPORTED, "a row split over %u CTAs needs them resident at once; this GPU holds %u",
			              per, l->max_grid);
		if (cap < 1)
			cap = 1;
		grid = groups > cap ? cap : (unsigned)groups;
	} else {
		grid = (unsigned)groups;
	}
	/* prep: one CTA of 1024 threads per 2048 rows, at most 128 (two
	 * targets a thread: the row kernel's first CTAs wait for prep, and a
	 * CTA per 16384 rows walked 16 dependent loads a thread) */
	unsigned prep_grid = (unsigned)(a->rows / 2048 + 1 < 128 ? a->rows / 2048 + 1 : 128);
	const int pdl = with_prep && l->prep && l->pdl;
	if (with_prep && l->prep && (r = kg_cu.cuLaunchKernel(l->prep, prep_grid, 1, 1, 1024, 1, 1, 0, s, args, NULL)))
		return kg_cu_fail("cuLaunchKernel (prep)", r);
	if (l->cluster > 1 || l->split || pdl) {
		/* l->cluster CTAs share each group of rows: one cluster per group;
		 * after prep, the row kernel starts while prep runs (pdl). A row
		 * split over CTAs that are no cluster (split) launches
		 * cooperatively: its CTAs wait for each other, and the driver
		 * then starts the grid only with every CTA resident (beside
		 * another stream's kernels, or another split call on another
		 * stream, a plain launch could leave some waiting for SMs that
		 * the spinning ones hold) or refuses it (with prep before it: 3-5
		 * us more for fused cross-entropy over 8 long rows on an H100,
		 * bench/NOTES.md) */
		CUlaunchConfig cfg;
		CUlaunchAttribute attr[3];
		launch_config(&cfg, attr, grid * per, l->block, l->smem, l->split ? 1 : l->cluster, (int)l->split, pdl, s);
		r = kg_cu.cuLaunchKernelEx(&cfg, l->fn, args, NULL);
	} else {
		r = kg_cu.cuLaunchKernel(l->fn, grid, 1, 1, l->block, 1, 1, l->smem, s, args, NULL);
	}
	if (r)
		return kg_cu_fail("cuLaunchKernel", r);
	/* finish: the reduced loss from the slots, once the row kernel is done
	 * (pdl: resident early, it waits for the row kernel's completion) */
	if (l->finish && a->reduction != KGEN_REDUCTION_NONE && a->rows != 1) {
		if (l->pdl) {
			CUlaunchConfig cfg;
			CUlaunchAttribute attr[3];
			launch_config(&cfg, attr, 1, KG_FINISH_THREADS, 0, 1, 0, 1, s);
			r = kg_cu.cuLaunchKernelEx(&cfg, l->finish, args, NULL);
		} else {
			r = kg_cu.cuLaunchKernel(l->finish, 1, 1, 1, KG_FINISH_THREADS, 1, 1, 0, s, args, NULL);
		}
		if (r) {
			/* the slots hold this call's terms, which finish would have
			 * cleared: cleared here, so that the next call on the scratch
			 * does not add them into its loss */
			kg_cu.cuMemsetD8Async((CUdeviceptr)(uintptr_t)a->scratch, 0, KGEN_XENT_WORKSPACE_BYTES, s);
			return kg_cu_fail("cuLaunchKernel (finish)", r);
		}
	}
	return 0;
}
