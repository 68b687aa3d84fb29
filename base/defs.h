/* defs.h: what an op, a dtype, a problem key and a stamp are, in one place.
 *
 * Every layer names problems the same way: gen (the template family an op
 * runs, the dtype names the templates see), the runtime (kernel entry
 * points, the keys it looks records up by), the tuner and the pack
 * commands (the keys they write and parse back, the stamps they check).
 * Adding an op is a row of kg_ops (and its enum value) plus its template.
 */
#ifndef KGEN_DEFS_H
#define KGEN_DEFS_H

#include <stddef.h>
#include <stdint.h>

#define KG_KEY_MAX 320

/* The ops; each is one template family and pass. */
typedef enum kg_op {
	KG_SOFTMAX_FWD, KG_SOFTMAX_BWD, KG_LOGSOFTMAX_FWD, KG_LOGSOFTMAX_BWD,
	KG_XENT_FWD, KG_XENT_BWD, KG_XENT_FUSED, KG_NOPS
} kg_op;

typedef struct kg_opinfo {
	const char *op, *pass, *kernel; /* name, pass, kernel entry (prefix of the rendered name) */
	int inputs;                     /* row tensors read (1 or 2) */
	int xent;                       /* takes targets and the cross-entropy options */
	const char *family;             /* the template (templates/<family>.lua) */
} kg_opinfo;
extern const kg_opinfo kg_ops[KG_NOPS];

/* The canonical name of an op name or alias ("cross_entropy" is "xent",
 * "logsoftmax" is "log_softmax"); NULL when unknown. */
const char *kg_op_name(const char *name);
/* The template family of an op name or alias ("softmax" and "log_softmax"
 * -> "softmax", "xent" -> "xent"); NULL when unknown. */
const char *kg_op_family(const char *name);
/* The op of a name (or alias) and pass; -1 when unknown. */
int kg_op_find(const char *op, const char *pass);

/* Cross-entropy options that change the code (bits of a problem). */
#define KG_XO_I32     1u
#define KG_XO_WEIGHT  2u
#define KG_XO_SMOOTH  4u
#define KG_XO_ZLOSS   8u
#define KG_XO_SOFTCAP 16u
/* The canonical option string of a problem: "-" for softmax ops,
 * "smooth=0,softcap=0,target=i64,weight=0,zloss=0" for cross-entropy. */
void kg_opts_string(int op, unsigned bits, char *buf, size_t len);

/* Whether a cross-entropy call of op runs the prep kernel before its row
 * kernel: the denominators of a mean that a gradient needs (fused, bwd),
 * the sum of class weights (weights with smoothing); reduction as
 * kgen_reduction. The forward's mean is divided by finish, from the slots.
 * One row computes its own denominators and writes its loss: no prep
 * unless weighted smoothing. */
int kg_xent_with_prep(int op, unsigned opts, int reduction, long long rows);
/* Whether a cross-entropy call of op adds its loss into the slots of the
 * scratch and runs finish after its row kernel: a reduced loss (fwd and
 * fused) of more than one row. */
int kg_xent_with_slots(int op, int reduction, long long rows);

/* The dtypes, indexed by kgen_dtype (kgen.h). */
#define KG_NDTYPES 3
extern const char *const kg_dtype_names[KG_NDTYPES]; /* "f32", "f16", "bf16" */
int kg_dtype_size(int dtype);
/* Parse "f32"/"float32"/"fp32", "f16"/"float16"/"fp16"/"half",
 * "bf16"/"bfloat16"; -1 when unknown. */
int kg_dtype_parse(const char *s);

/* Rows are tuned per power-of-two bucket: the smallest power of two >= rows. */
long long kg_rows_bucket(long long rows);

/* The problem key of the "best" database, and its prefix without the rows
 * bucket (for finding the nearest tuned bucket):
 *   "softmax|fwd|bf16|c8192|-|sm90|NVIDIA H100 80GB HBM3|r4096" */
void kg_problem_prefix(char *buf, size_t len, int op, unsigned opts, int dtype,
                       long long cols, int sm, const char *gpu);
void kg_problem_key(char *buf, size_t len, int op, unsigned opts, int dtype,
                    long long cols, int sm, const char *gpu, long long rows_bucket);
/* A problem key, split (the parser of what kg_problem_key writes):
 * op|pass|dtype|c<cols>|<options>|sm<SM>|<GPU>|r<rows bucket>; the GPU
 * name runs to the last bar. */
typedef struct kg_key {
	char op[32], pass[16], dtype[16], opts[128], gpu[256];
	long long cols, bucket;
	int sm;
} kg_key;
/* Split key (klen bytes); 0 or KGEN_EINVAL when it is not a problem key. */
int kg_key_parse(const char *key, size_t klen, kg_key *k);

/* What makes a record usable: the template hash and the kgen version,
 * "template=<16 hex>,kgen=<version>". */
void kg_stamp(char *buf, size_t len, uint64_t template_hash);

/* An NVRTC version ("13.0") as the driver API's version number (13000), to
 * compare with cuDriverGetVersion's: a cubin of a newer NVRTC does not
 * load. 0 when malformed. */
int kg_nvrtc_number(const char *version);

#endif
