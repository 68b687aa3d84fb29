/* report.h: what 'kgen tune' prints: the table of one problem's variants,
 * its counts and phases, one JSON object per problem, and the summary
 * table of a list. Part of the command line: only it prints. */
#ifndef KGEN_REPORT_H
#define KGEN_REPORT_H

#include <stdio.h>

#include "preset.h"
#include "tune.h"

/* One problem's outcome, kept after its tune_result is freed. */
typedef struct report_item {
	tune_problem p;
	long long rows;
	int device;          /* the worker's device; -1: none named (a single run) */
	int rc;              /* tune_run's return */
	const char *status;  /* "tuned", "checked", "kept" (keep_current), "untimed" (no GPU), "stopped",
	                      * "failed" */
	char error[512];     /* why (failed, untimed), or "" */
	int sm;
	tune_result res;     /* without its trials */
	tune_trial best;     /* res.trials[0] when has_best */
	int has_best;        /* a timed (or checked) variant */
	int passed;          /* variants timed (checked), in this run or an earlier one */
	int now;             /* variants timed (checked) in this run */
	int done;            /* finished (the item is filled) */
} report_item;

/* Fill item from a finished run; res keeps its trials. */
void report_item_set(report_item *it, const tune_problem *p, long long rows, int device, int rc, const char *error,
                     const tune_result *res);

/* The variants of one run: the ranked table (top rows), the rejected and
 * the pruned with their reasons. */
void report_table(FILE *f, const tune_result *res, int top);

/* "45 variants: ...; compiled N, reused M from the cache", the pruned
 * count by reason, what the budget or a stop left out, and the phases. */
void report_counts(FILE *f, const report_item *it, double budget_s);

/* One line of JSON: the problem and its outcome. */
void report_json(FILE *f, const report_item *it, const tune_result *trials);

/* A line of a list's progress: "xent fused bf16 vocab 128256: best ... ". */
void report_line(FILE *f, const report_item *it);

/* The table of a list's outcomes, then (more than one problem run) where
 * their time went: compiling before timing, test data, check and time. */
void report_summary(FILE *f, const report_item *items, int n);

#endif
