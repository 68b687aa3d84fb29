/* internal.h: what the runtime shares with the tuner and the tests. Not
 * installed; applications see kgen.h only. */
#ifndef KGEN_INTERNAL_H
#define KGEN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "dl.h"
#include "kgen.h"

#define KG_KEY_MAX 256

extern const char *const kg_dtype_names[3]; /* "f32", "f16", "bf16" */
int kg_dtype_size(int dtype);
/* Parse "f32"/"float32"/"fp32", "f16"/"float16"/"fp16"/"half",
 * "bf16"/"bfloat16"; -1 when unknown. */
int kg_dtype_parse(const char *s);

/* Rows are tuned per power-of-two bucket: the smallest power of two >= rows. */
long long kg_rows_bucket(long long rows);

/* The problem key of the "best" database, and its prefix without the rows
 * bucket (for finding the nearest tuned bucket):
 *   "softmax|fwd|bf16|c8192|sm90|NVIDIA H100 80GB HBM3|r4096" */
void kg_problem_prefix(char *buf, size_t len, const char *op, const char *pass,
                       int dtype, long long cols, int sm, const char *gpu);
void kg_problem_key(char *buf, size_t len, const char *op, const char *pass,
                    int dtype, long long cols, int sm, const char *gpu,
                    long long rows_bucket);

/* What makes a record usable: the template hash and the kgen version. */
void kg_stamp(char *buf, size_t len, uint64_t template_hash);

/* Compile CUDA source to a cubin for sm_XX with NVRTC. *cubin is malloc'd.
 * On KGEN_ECOMPILE, *log (malloc'd, may be NULL) holds NVRTC's log. */
int kg_compile(const char *source, const char *name, int sm, void **cubin,
               size_t *size, char **log);
/* The NVRTC version as "13.0" (after kg_nvrtc_load), or "none". */
const char *kg_nvrtc_version(void);
/* The hash naming a compiled variant: source, SM, NVRTC version, options. */
uint64_t kg_variant_hash(const char *source, int sm);

/* One device's identity. */
typedef struct kg_device {
	CUdevice dev;
	int sm;         /* major * 10 + minor */
	int sms;        /* multiprocessors */
	int l2_bytes;
	char name[128];
} kg_device;
int kg_device_query(CUdevice dev, kg_device *out);

/* Launch geometry of a loaded kernel. */
typedef struct kg_launch {
	CUfunction fn;
	unsigned block, smem, rows_per_cta, cluster;
} kg_launch;
/* Load a cubin in the current context and fetch its kernel; raise the
 * dynamic shared memory limit when smem needs it. */
int kg_module_load(const void *cubin, const char *kernel, unsigned smem,
                   CUmodule *mod, CUfunction *fn);
/* Launch a softmax-shaped kernel: (y, x, rows, ld_x, ld_y). */
int kg_launch_rows(const kg_launch *l, CUdeviceptr y, CUdeviceptr x,
                   long long rows, long long ld_x, long long ld_y, CUstream s);

#endif
