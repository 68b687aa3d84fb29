/* batch.h: tune a list of problems with one worker per GPU.
 *
 * Each worker is a thread with its own CUDA context on its device (the
 * device's primary context, made current by tune_run); the workers take
 * the next untuned problem from a shared counter, so a long problem on one
 * GPU does not hold the others back, and they share one handle of the
 * cache (LMDB serializes the writers). Nothing is printed: the callbacks
 * report, one at a time (the batch holds a lock around them).
 */
#ifndef KGEN_BATCH_H
#define KGEN_BATCH_H

#include "preset.h"
#include "tune.h"

typedef struct batch_opts {
	const tune_opts *base;        /* everything but the problem, the device and the cache handle */
	const tune_problem *problems;
	int n;
	const int *devices;           /* one worker per device; NULL: one worker on base->device */
	int ndevices;
	/* Called before and after each problem. res is filled as far as the
	 * run went (rc as tune_run returned it, error its message, "" for 0);
	 * it is freed after the call. */
	void (*on_start)(void *arg, int device, int i);
	void (*on_done)(void *arg, int device, int i, int rc, const char *error, const tune_result *res);
	/* Per-variant progress of a worker's problem (may be NULL). */
	void (*progress)(void *arg, int device, const char *phase, int done, int total, const char *config);
	void *arg;
} batch_opts;

/* Tune every problem (until base->stop is set). Returns 0 when the batch
 * ran (each problem's outcome went to on_done), or KGEN_ECACHE /
 * KGEN_ENOMEM when it could not start (message in kgen_last_error). */
int batch_run(const batch_opts *b);

#endif
