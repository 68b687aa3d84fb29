/* tune.h: compile, check, time and keep the best variant of one problem. */
#ifndef KGEN_TUNE_H
#define KGEN_TUNE_H

#include <signal.h>

struct cache;

/* Why a variant was pruned (never timed): the first word of its detail. */
enum {
	TUNE_PRUNE_TEMPLATE,  /* the template rejects the config (its check()) */
	TUNE_PRUNE_LIMITS,    /* its geometry exceeds the SM's or the GPU's limits */
	TUNE_PRUNE_THREADS,   /* the compiled kernel cannot launch its block (registers) */
	TUNE_PRUNE_SPILLS,    /* the compiled kernel uses local memory (spills) */
	TUNE_PRUNE_OCCUPANCY, /* no CTA of it fits on a multiprocessor */
	TUNE_NPRUNE
};
extern const char *const tune_prune_names[TUNE_NPRUNE]; /* "template", "limits", ... */

/* The early stops (docs/tuning.md): nothing beats a device-to-device copy
 * of the same bytes by more than about 2% once the copy takes 50 us or
 * more (bench/NOTES.md), and bf16 and f16 rank the same variants alike. */
#define TUNE_NEAR_COPY_PCT 1.0
#define TUNE_NEAR_COPY_MIN_US 50.0
#define TUNE_RANKED_TOP 8
/* Variants compiled before the timing starts where no twin ranking names
 * the leaders (the rest are compiled while it runs). */
#define TUNE_COMPILE_FIRST 24
/* Variants timed where a prior pack holds a record of the problem (the
 * template's default, the record's configuration, then the plan's next). */
#define TUNE_PRIOR_TOP 8

typedef struct tune_opts {
	const char *op, *pass;  /* "softmax", "log_softmax", "xent"; "fwd", "bwd", "fused" */
	unsigned opts;          /* cross-entropy: KG_XO_* bits (internal.h) */
	int dtype;
	long long cols;
	long long rows;         /* representative row count that is timed */
	int sm;                 /* 0: the GPU's */
	int device;             /* CUDA device ordinal */
	const char *cache_dir;  /* NULL: the default */
	struct cache *cache;    /* an open cache to use instead (threads may share one), or NULL */
	int jobs;               /* compile threads; 0: one per core */
	int threads;            /* host threads for the test data and reference; 0: one per core */
	int reps;               /* timed repetitions of the final round; 0: 50 (every variant
	                         * is first timed with 10, the fastest 8 within 10% again) */
	int no_time;            /* check every variant, time none, store nothing */
	int share_i, share_n;   /* no_time and share_n > 1: only the k-th variants, counting those
	                         * neither pruned by the template nor left out by want, with
	                         * k % share_n == share_i (0 <= share_i < share_n), the rest
	                         * "skipped": N processes check one problem's space together */
	int (*want)(void *arg, const char *config); /* no_time: non-NULL, only the variants it
	                         * returns non-zero for (then shared out as above), the rest
	                         * "skipped": one problem's space checked in parts, e.g. each
	                         * at a row count of its own */
	void *want_arg;
	int fresh;              /* time every variant again, ignoring the trial records of earlier runs */
	int keep_current;       /* where the cache's best record of the problem (this GPU's model, the
	                         * rows bucket) was made by this build's template (its stamp is
	                         * current) at these rows by a finished search, keep it: nothing is
	                         * compiled or timed (res->kept); not with fresh or no_time */
	double budget_s;        /* > 0: start no compilation once this many seconds have passed
	                         * since the start, and no check or timing once as many have passed
	                         * on the GPU (making the test data not counted); the first variant
	                         * (the template's default) is always done */
	int full;               /* time the whole space: neither early stop below */
	double near_copy_pct;   /* stop once a variant is within this many percent of the copy's time
	                         * (ops that write what they read, copies of TUNE_NEAR_COPY_MIN_US or
	                         * more); 0: TUNE_NEAR_COPY_PCT */
	int ranked_top;         /* with a finished ranking (the whole space, or what a budget allowed)
	                         * of the same problem in a dtype of the same size (bf16 <-> f16) in
	                         * the cache, stop once this many of its leaders have a time; 0:
	                         * TUNE_RANKED_TOP */
	struct cache *prior;    /* an open pack (threads may share one), or NULL: where it holds a record
	                         * of the problem (this GPU's model, the rows bucket), of any stamp
	                         * (e.g. the pack of the build before a template change), and no twin
	                         * ranking names the leaders, the record's configuration is timed right
	                         * after the default and the search stops once prior_top variants have
	                         * a time; not with full */
	int prior_top;          /* 0: TUNE_PRIOR_TOP */
	const char *const *prior_add; /* with prior: the variants whose configuration sets one of these
	                         * KEY=VALUE (new since the prior pack: a strategy, an exchange) are
	                         * timed too, right after the prior's record, on top of prior_top */
	int n_prior_add;
	const char *const *only;/* n_only > 0: only these configurations (each must be in the space) are
	                         * checked and timed, the rest "skipped"; no early stop, nothing stored
	                         * as the problem's best; not with keep_current or prior */
	int n_only;
	int only_store;         /* with n_only: the fastest of them stored as the best, replacing the
	                         * cache's record whatever its time (still no trial record) */
	const volatile sig_atomic_t *stop; /* non-NULL: once *stop is non-zero, finish the variant at
	                                    * hand, keep the best so far and return */
	unsigned long long seed;/* 0: a fresh seed from the clock */
	/* Progress: phase "compile" / "data" / "check" / "time" / "final", done of total. */
	void (*progress)(void *arg, const char *phase, int done, int total, const char *config);
	void *progress_arg;
	int nice;               /* compile threads lower their priority by this much (compiling ahead) */
} tune_opts;

typedef struct tune_trial {
	char config[192];
	char status[16];  /* "ok", "checked", "mismatch", "compile", "launch", "pruned", "untimed",
	                   * "skipped" (an early stop left it out) */
	char variant[17]; /* hash of the compiled variant ("" when pruned by the template) */
	double us, p10_us, p90_us, gbps;
	double max_err;   /* worst error over the tolerance (<= 1 passes) */
	int regs, local_bytes;
	int prune;        /* TUNE_PRUNE_* when status is "pruned" */
	int resumed;      /* taken from the trial record of an earlier run, not run again */
	char detail[256];
} tune_trial;

typedef struct tune_result {
	tune_trial *trials;   /* sorted: timed by time, then the rest */
	int n;                /* variants in the space */
	int compiled, reused; /* cubins compiled now, and found in the cache */
	int pruned, pruned_by[TUNE_NPRUNE];
	int rejected;         /* compile errors, launch failures, mismatches */
	int timed;            /* 1 when a GPU timed the variants */
	int ran;              /* variants checked (and timed) in this run */
	int resumed;          /* trials taken from earlier runs' records (see tune_opts.fresh) */
	int untimed;          /* variants left out: the budget was spent or the run was stopped */
	int skipped;          /* variants left out by an early stop (early_stop says which) */
	char early_stop[96];  /* "within 1% of the copy", "the top 8 of bf16's ranking timed", "8 timed,
	                       * the prior pack's configuration among them", or "" */
	char order[192];       /* where the order of the variants came from: "the rankings of f16 cols
	                       * 128256, ..." (finished problems in the cache), or "" */
	int budget_spent, interrupted;
	int kept;             /* keep_current: the cache's current record is the outcome (trials[0],
	                       * resumed; n is 1), nothing compiled or timed */
	double copy_us, copy_gbps;
	double gen_s;         /* test data and reference */
	double compile_s;     /* rendering and compiling (from the start) */
	double time_s;        /* checking and timing on the GPU */
	double total_s;
	long long bytes;      /* the fewest bytes the op must move */
	int sm;               /* the target SM */
	char gpu[128];
	char key[256];        /* the problem key in the cache */
	char cache_dir[1024];
	int stored;           /* the best replaced the cache's record */
	char store_error[256];/* why the cache could not be written, or "" */
} tune_result;

/* 0 on success (also when stopped or out of budget: see res->interrupted,
 * res->budget_spent). Without a usable GPU of the SM every variant is still
 * compiled into the cache, and KGEN_ENODRIVER / KGEN_ENODEVICE / KGEN_EARCH
 * (the GPU's SM differs from opts->sm; the message names both) is returned
 * with a message saying that timing needs a GPU of that SM. The result is
 * filled as far as the run went.
 *
 * Variants are pruned without being timed where the template rejects them,
 * their geometry exceeds the SM's limits, or, once loaded, they spill to
 * local memory, cannot launch their block or fit no CTA on a multiprocessor.
 * Each trial is written to the cache as soon as it is known; a later run of
 * the same problem (same GPU, rows and template stamp) takes the outcome of
 * every variant it finds there instead of timing it again, unless fresh. */
int tune_run(const tune_opts *opts, tune_result *res);

/* Render and compile every variant of the problem into the cache, nothing
 * else (no GPU needed): what a list compiles ahead for its next problem
 * while the GPU times the current one. opts->sm must be set. 0, or a
 * KGEN_E* code. */
int tune_compile_ahead(const tune_opts *opts);
void tune_result_free(tune_result *res);

#endif
