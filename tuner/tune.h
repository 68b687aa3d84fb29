/* tune.h: compile, check, time and keep the best variant of one problem. */
#ifndef KGEN_TUNE_H
#define KGEN_TUNE_H

typedef struct tune_opts {
	const char *op, *pass;  /* "softmax", "log_softmax", "xent"; "fwd", "bwd", "fused" */
	unsigned opts;          /* cross-entropy: KG_XO_* bits (internal.h) */
	int dtype;
	long long cols;
	long long rows;         /* representative row count that is timed */
	int sm;                 /* 0: the GPU's */
	int device;             /* CUDA device ordinal */
	const char *cache_dir;  /* NULL: the default */
	int jobs;               /* compile threads; 0: one per core */
	int reps;               /* timed repetitions per variant; 0: 50 */
	int no_time;            /* check every variant, time none, store nothing */
	unsigned long long seed;/* 0: a fresh seed from the clock */
	/* Progress: phase "compile" / "check" / "time", done of total. */
	void (*progress)(void *arg, const char *phase, int done, int total, const char *config);
	void *progress_arg;
} tune_opts;

typedef struct tune_trial {
	char config[128];
	char status[16];  /* "ok", "mismatch", "compile", "launch", "untimed" */
	char variant[17]; /* hash of the compiled variant */
	double us, p10_us, p90_us, gbps;
	double max_err;   /* worst error over the tolerance (<= 1 passes) */
	int regs, local_bytes;
	char detail[256];
} tune_trial;

typedef struct tune_result {
	tune_trial *trials;   /* sorted: timed by time, then the rest */
	int n, compiled, reused;
	int timed;            /* 1 when a GPU timed the variants */
	double copy_us, copy_gbps;
	double compile_s, total_s;
	long long bytes;      /* the fewest bytes the op must move */
	char gpu[128];
	char key[256];        /* the problem key in the cache */
	char cache_dir[1024];
	int stored;           /* the best replaced the cache's record */
	char store_error[256];/* why the cache could not be written, or "" */
} tune_result;

/* 0 on success. Without a usable GPU of the SM every variant is still
 * compiled into the cache, and KGEN_ENODRIVER / KGEN_ENODEVICE / KGEN_EARCH
 * (the GPU's SM differs from opts->sm; the message names both) is returned
 * with a message saying that timing needs a GPU of that SM. The result is
 * filled as far as the run went. */
int tune_run(const tune_opts *opts, tune_result *res);
void tune_result_free(tune_result *res);

#endif
