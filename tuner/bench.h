/* bench.h: the one timing harness, shared by the tuner and the benchmarks.
 *
 * Each repetition: the L2 is flushed (a memset of twice its size) outside
 * the timed window, then a pair of events brackets the work alone. After a
 * warm-up, the median of the repetitions is reported with its spread.
 */
#ifndef KGEN_BENCH_H
#define KGEN_BENCH_H

#include <stddef.h>

#include "internal.h"

typedef struct bench_stats {
	double median_us, min_us, p10_us, p90_us;
	int reps;
} bench_stats;

/* The work to time: enqueue it on stream s; return 0 or a KGEN_E* code. */
typedef int (*bench_fn)(void *arg, CUstream s);

typedef struct bench bench;

/* Make a harness for the current context's device: a stream, events and a
 * flush buffer of twice the device's L2. */
int bench_open(bench **b, const kg_device *dev);
void bench_close(bench *b);
CUstream bench_stream(bench *b);

/* Time fn: 3 warm-up calls, then reps timed calls (reps <= 1000). */
int bench_run(bench *b, bench_fn fn, void *arg, int reps, bench_stats *st);

/* Time a device-to-device copy of bytes (the ceiling the ops are held to). */
int bench_copy(bench *b, size_t bytes, int reps, bench_stats *st);

/* Time an empty kernel launch (the floor for small problems). */
int bench_empty(bench *b, int reps, bench_stats *st);

#endif
