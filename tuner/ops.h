/* ops.h: test problems for every op: random inputs on the host and the
 * device, the fp64 reference on a sample of rows, and the comparison of a
 * kernel's outputs with it. Shared by the tuner and the GPU tests.
 *
 * The inputs are made on the host for the first OPS_TILE_ROWS rows only
 * (the tile); the device copy repeats the tile down the rows (row r holds
 * the tile's row r % OPS_TILE_ROWS; the backward passes' dy alike), while
 * cross-entropy's targets and upstream gradients, and the reference, are
 * every row's own. At thousands of long rows making and uploading every
 * row took seconds a problem, most of a preset's time; a
 * tile of 255 rows (a multiple of 3, so the fill modes' every-third-row
 * patterns fall on the same rows, and no power of two, so a kernel that
 * writes a row to another a power of two away still fails) keeps the check
 * of every sampled row exact. */
#ifndef KGEN_OPS_H
#define KGEN_OPS_H

#include "internal.h"
#include "ref.h"

#define OPS_SAMPLE_ROWS 256
#define OPS_MAX_THREADS 256
#define OPS_TILE_ROWS 255

typedef struct op_problem {
	int op;                 /* kg_op */
	unsigned opts;          /* KG_XO_* bits (cross-entropy) */
	int dtype;
	long long rows, cols;
	long long ld_in, ld_out; /* 0: cols */
	/* cross-entropy values (used where opts say so) */
	double eps, zloss, softcap, denominator;
	int reduction;          /* kgen_reduction; -1: mean (none for fwd) */
	double ignore_frac;     /* share of rows whose target is ignore_index */
	double bad_frac;        /* share of rows whose target is out of range */
	int inplace;            /* fused: dlogits = logits */
	int fill;               /* 0 normal(0, 3); 1 large magnitudes; 2 rows of -inf; 3 rows with +inf;
	                         * 4 rows whose first two thirds are -inf; 5 rows masked with the dtype's
	                         * lowest value (two thirds, or all of a softmax / log-softmax row) */
	uint64_t seed;
	int threads;            /* host threads for the data and the reference; 0: one per online CPU */
} op_problem;

typedef struct op_data {
	op_problem p;
	kg_args a;              /* device pointers and arguments, ready to launch */
	int with_prep;
	size_t in_bytes, out_bytes, bytes; /* bytes = the fewest an op must move */
	void *h_in0, *h_in1;    /* host copies of the inputs' tile (dtype): h_rows rows of ld_in */
	long long h_rows;       /* min(rows, OPS_TILE_ROWS) */
	long long *h_target;
	double *h_weight;
	CUdeviceptr d_in0, d_in1, d_out, d_target, d_weight, d_loss, d_lse, d_dloss, d_bad, d_scratch;
	CUdeviceptr d_xg; /* the exchange area of rows split over CTAs (KG_XG_BYTES; its counters only grow) */
	long long sample[OPS_SAMPLE_ROWS];
	int ns;
	double *want, *scale;   /* [ns][cols] reference output rows */
	double *want_lse, *want_loss, *loss_scale; /* [ns] */
	float *h_dloss;         /* xent: [n_dloss] upstream gradient (rows, or one scalar) */
	size_t n_dloss;
	float *h_lse;           /* xent bwd: every row's logsumexp (the kernel's input) */
	void *h_got;            /* the sampled output rows read back by op_data_check */
	double want_total, total_scale; /* reduced loss (when computed: total_ok) */
	int total_ok;
	unsigned long long want_bad;
} op_data;

/* Make the data (host, device, reference). The current context is used.
 * The host part runs on p->threads threads; the data depend on p->seed
 * alone, not on the thread count. */
int op_data_make(op_data *d, const op_problem *p);

/* The host part alone (inputs, targets, the reference; no CUDA call): what
 * op_data_make does before it uploads. Free with op_data_free. */
int op_data_host(op_data *d, const op_problem *p);

/* The fewest bytes the op must move (what GB/s counts). */
size_t op_problem_bytes(const op_problem *p);

/* Threads to use for a request of want (0: one per online CPU). */
int op_threads(int want);
void op_data_free(op_data *d);

/* Reset the outputs (NaN patterns), so that unwritten values fail. */
int op_data_reset(op_data *d, CUstream s);

/* Compare the outputs after a launch; *max_err is the worst error over the
 * tolerance (<= 1 passes), detail says where. */
int op_data_check(op_data *d, double *max_err, char *detail, size_t len);

/* Launch the kernel l on the data. */
int op_data_launch(op_data *d, const kg_launch *l, CUstream s);

#endif
