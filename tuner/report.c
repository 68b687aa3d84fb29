/* report.c: what 'kgen tune' prints (see report.h). */
#include <math.h>
#include <string.h>

#include "cli.h"
#include "internal.h"
#include "report.h"

static int is_ok(const tune_trial *t)
{
	return !strcmp(t->status, "ok") || !strcmp(t->status, "checked");
}

void report_item_set(report_item *it, const tune_problem *p, long long rows, int device, int rc, const char *error,
                     const tune_result *res)
{
	tune_problem prob = *p; /* p may point into *it */
	memset(it, 0, sizeof *it);
	it->p = prob;
	it->rows = rows;
	it->device = device;
	it->rc = rc;
	it->res = *res;
	it->res.trials = NULL;
	it->sm = res->sm;
	it->done = 1;
	snprintf(it->error, sizeof it->error, "%s", error ? error : "");
	for (int i = 0; i < res->n; i++) {
		it->passed += is_ok(&res->trials[i]);
		it->now += is_ok(&res->trials[i]) && !res->trials[i].resumed;
	}
	if (res->n && is_ok(&res->trials[0])) {
		it->best = res->trials[0];
		it->has_best = 1;
	}
	if (res->kept)
		it->status = "kept";
	else if (res->interrupted)
		it->status = "stopped";
	else if (rc == KGEN_ENODRIVER || rc == KGEN_ENODEVICE || rc == KGEN_EARCH)
		it->status = res->n ? "untimed" : "failed";
	else if (rc)
		it->status = "failed";
	else if (it->has_best)
		it->status = res->timed ? "tuned" : "checked";
	else {
		it->status = "failed";
		snprintf(it->error, sizeof it->error, "no variant passed the check");
	}
}

/* Width of the config column: the longest config shown, at least 44. */
static int config_width(const tune_result *res)
{
	int w = 44;
	for (int i = 0; i < res->n; i++)
		if ((int)strlen(res->trials[i].config) > w)
			w = (int)strlen(res->trials[i].config);
	return w;
}

void report_table(FILE *f, const tune_result *res, int top)
{
	int shown = 0, w = config_width(res), bad = 0, pruned = 0;
	fprintf(f, "GPU: %s   problem: %s\n", res->gpu, res->key);
	if (res->timed)
		fprintf(f, "device-to-device copy moving the same bytes (%.1f MB): %.2f us, %.0f GB/s\n",
		        (double)res->bytes / 1e6, res->copy_us, res->copy_gbps);
	fprintf(f, "%4s  %-*s %10s %10s %9s %7s %5s %6s\n", "rank", w, "config", "us", "spread", "GB/s", "%copy", "regs",
	        "err");
	for (int i = 0; i < res->n; i++) {
		const tune_trial *t = &res->trials[i];
		if (!is_ok(t) || shown >= top)
			continue;
		shown++;
		if (res->timed)
			fprintf(f, "%4d  %-*s %10.2f %10.2f %9.0f %6.1f%% %5d %6.3f%s\n", shown, w, t->config, t->us,
			        t->p90_us - t->p10_us, t->gbps, 100.0 * t->gbps / res->copy_gbps, t->regs, t->max_err,
			        t->resumed ? "  (earlier run)" : "");
		else
			fprintf(f, "%4d  %-*s %10s %10s %9s %7s %5d %6.3f\n", shown, w, t->config, "-", "-", "-", "-",
			        t->regs, t->max_err);
	}
	for (int i = 0; i < res->n; i++) {
		const tune_trial *t = &res->trials[i];
		if (is_ok(t) || !strcmp(t->status, "untimed") || !strcmp(t->status, "skipped") ||
		    !strcmp(t->status, "pruned"))
			continue;
		if (!bad++)
			fprintf(f, "rejected:\n");
		fprintf(f, "  %-*s %s: %s\n", w, t->config, t->status, t->detail);
	}
	for (int i = 0; i < res->n; i++) {
		const tune_trial *t = &res->trials[i];
		if (strcmp(t->status, "pruned"))
			continue;
		if (!pruned++)
			fprintf(f, "pruned:\n");
		if (pruned <= top)
			fprintf(f, "  %-*s %s\n", w, t->config, t->detail);
	}
	if (pruned > top)
		fprintf(f, "  (%d more)\n", pruned - top);
}

/* "pruned 3 (spills: 2, occupancy: 1)" */
static void pruned_line(FILE *f, const tune_result *res)
{
	int first = 1;
	fprintf(f, "pruned %d", res->pruned);
	for (int k = 0; k < TUNE_NPRUNE; k++)
		if (res->pruned_by[k]) {
			fprintf(f, "%s%s: %d", first ? " (" : ", ", tune_prune_names[k], res->pruned_by[k]);
			first = 0;
		}
	fprintf(f, "%s", first ? "" : ")");
}

void report_counts(FILE *f, const report_item *it, double budget_s)
{
	const tune_result *r = &it->res;
	if (!r->n)
		return;
	if (!strcmp(it->status, "untimed") || (!strcmp(it->status, "stopped") && it->rc)) {
		/* no GPU: compiled only */
		fprintf(f, "%d variants: compiled %d, reused %d from the cache, %d rejected, ", r->n, r->compiled,
		        r->reused, r->rejected);
		pruned_line(f, r);
		if (r->untimed)
			fprintf(f, ", %d not compiled (%s)", r->untimed, r->interrupted ? "stopped" : "budget spent");
		fprintf(f, "; none timed (no GPU)\n");
		fprintf(f, "time: compile %.1f s\n", r->compile_s);
		return;
	}
	fprintf(f, "%d variants: %d passed, %d rejected, ", r->n, it->passed, r->rejected);
	pruned_line(f, r);
	fprintf(f, ", %d not timed; compiled %d, reused %d from the cache", r->untimed + r->skipped, r->compiled,
	        r->reused);
	if (r->resumed)
		fprintf(f, "; %d taken from an earlier run", r->resumed);
	fprintf(f, "\n");
	if (r->budget_spent)
		fprintf(f, "budget of %g s spent: %d variants not timed (run again to go on from here)\n", budget_s,
		        r->untimed);
	if (r->interrupted)
		fprintf(f, "stopped: %d variants not timed; the next run goes on from here (--fresh starts over)\n",
		        r->untimed);
	if (r->order[0])
		fprintf(f, "order: the default, then by %s\n", r->order);
	if (r->skipped && r->early_stop[0])
		fprintf(f, "early stop: %s; %d variants not timed (--full times them)\n", r->early_stop, r->skipped);
	else if (r->skipped) /* --only */
		fprintf(f, "%d variants not asked for, not timed\n", r->skipped);
	fprintf(f, "time: generate %.1f s, compile %.1f s, check+time %.1f s; total %.1f s\n", r->gen_s, r->compile_s,
	        r->time_s, r->total_s);
}

static void json_num(FILE *f, double v, int ok)
{
	if (ok && isfinite(v))
		fprintf(f, "%.3f", v);
	else
		fputs("null", f);
}

void report_json(FILE *f, const report_item *it, const tune_result *trials)
{
	const tune_result *r = &it->res;
	const kg_opinfo *info = &kg_ops[it->p.op];
	char opts[96];
	int timed = it->has_best && r->timed;
	kg_opts_string(it->p.op, it->p.opts, opts, sizeof opts);
	fputs("{\"key\":", f);
	cli_json_str(f, r->key);
	fputs(",\"op\":", f);
	cli_json_str(f, info->op);
	fputs(",\"pass\":", f);
	cli_json_str(f, info->pass);
	fputs(",\"dtype\":", f);
	cli_json_str(f, kg_dtype_names[it->p.dtype]);
	fprintf(f, ",\"cols\":%lld,\"rows\":%lld,\"options\":", it->p.cols, it->rows);
	cli_json_str(f, opts);
	fprintf(f, ",\"sm\":%d,\"gpu\":", it->sm);
	cli_json_str(f, r->gpu);
	if (it->device >= 0)
		fprintf(f, ",\"device\":%d", it->device);
	fputs(",\"status\":", f);
	cli_json_str(f, it->status);
	fputs(",\"error\":", f);
	if (it->error[0])
		cli_json_str(f, it->error);
	else
		fputs("null", f);
	fputs(",\"config\":", f);
	if (it->has_best)
		cli_json_str(f, it->best.config);
	else
		fputs("null", f);
	fputs(",\"time_us\":", f);
	json_num(f, it->best.us, timed);
	fputs(",\"gbps\":", f);
	json_num(f, it->best.gbps, timed);
	fputs(",\"copy_gbps\":", f);
	json_num(f, r->copy_gbps, r->timed);
	fputs(",\"pct_of_copy\":", f);
	json_num(f, timed && r->copy_gbps > 0 ? 100.0 * it->best.gbps / r->copy_gbps : NAN, timed);
	fprintf(f, ",\"stored\":%s,\"budget_spent\":%s", r->stored ? "true" : "false",
	        r->budget_spent ? "true" : "false");
	fputs(",\"early_stop\":", f);
	if (r->early_stop[0])
		cli_json_str(f, r->early_stop);
	else
		fputs("null", f);
	fputs(",\"order\":", f);
	if (r->order[0])
		cli_json_str(f, r->order);
	else
		fputs("null", f);
	fprintf(f,
	        ",\"counts\":{\"variants\":%d,\"compiled\":%d,\"reused\":%d,\"pruned\":%d,\"rejected\":%d,"
	        "\"timed\":%d,\"resumed\":%d,\"untimed\":%d,\"skipped\":%d}",
	        r->n, r->compiled, r->reused, r->pruned, r->rejected, it->now, r->resumed, r->untimed, r->skipped);
	fputs(",\"pruned_by\":{", f);
	for (int k = 0; k < TUNE_NPRUNE; k++)
		fprintf(f, "%s\"%s\":%d", k ? "," : "", tune_prune_names[k], r->pruned_by[k]);
	fprintf(f, "},\"seconds\":%.3f,\"phases\":{\"generate\":%.3f,\"compile\":%.3f,\"check_time\":%.3f}",
	        r->total_s, r->gen_s, r->compile_s, r->time_s);
	if (trials) { /* every variant not skipped or pruned: its outcome and time */
		int k = 0;
		fputs(",\"trials\":[", f);
		for (int i = 0; i < trials->n; i++) {
			const tune_trial *t = &trials->trials[i];
			if (!strcmp(t->status, "skipped") || !strcmp(t->status, "pruned"))
				continue;
			fputs(k++ ? ",{\"config\":" : "{\"config\":", f);
			cli_json_str(f, t->config);
			fputs(",\"status\":", f);
			cli_json_str(f, t->status);
			fputs(",\"time_us\":", f);
			json_num(f, t->us, !strcmp(t->status, "ok"));
			fputc('}', f);
		}
		fputc(']', f);
	}
	fputs("}\n", f);
	fflush(f);
}

void report_line(FILE *f, const report_item *it)
{
	char name[160];
	const tune_result *r = &it->res;
	problem_name(&it->p, name, sizeof name);
	fprintf(f, "%s: ", name);
	if (r->kept)
		fprintf(f, "kept %s %.2f us, %.0f GB/s, %.0f%% of copy (a record of this template)", it->best.config,
		        it->best.us, it->best.gbps, r->copy_gbps > 0 ? 100.0 * it->best.gbps / r->copy_gbps : 0.0);
	else if (it->has_best && r->timed)
		fprintf(f, "best %s %.2f us, %.0f GB/s, %.0f%% of copy", it->best.config, it->best.us, it->best.gbps,
		        r->copy_gbps > 0 ? 100.0 * it->best.gbps / r->copy_gbps : 0.0);
	else if (it->has_best)
		fprintf(f, "%d variants checked", it->now);
	else if (!strcmp(it->status, "untimed"))
		fprintf(f, "compiled %d, reused %d; not timed (no GPU)", r->compiled, r->reused);
	else if (!strcmp(it->status, "stopped"))
		fprintf(f, "stopped");
	else
		fprintf(f, "failed: %s", it->error);
	if (r->pruned)
		fprintf(f, "; pruned %d", r->pruned);
	if (r->resumed && !r->kept)
		fprintf(f, "; %d from an earlier run", r->resumed);
	if (r->budget_spent)
		fprintf(f, "; budget spent, %d not timed", r->untimed);
	if (r->skipped)
		fprintf(f, "; stopped: %s, %d not timed", r->early_stop, r->skipped);
}

void report_summary(FILE *f, const report_item *items, int n)
{
	int w = 24;
	for (int i = 0; i < n; i++)
		if (items[i].has_best && (int)strlen(items[i].best.config) > w)
			w = (int)strlen(items[i].best.config);
	fprintf(f, "%-36s %-*s %10s %7s %6s  %s\n", "problem", w, "best config", "us", "GB/s", "%copy", "status");
	for (int i = 0; i < n; i++) {
		const report_item *it = &items[i];
		char name[160];
		problem_name(&it->p, name, sizeof name);
		if (!it->done) {
			fprintf(f, "%-36s %-*s %10s %7s %6s  %s\n", name, w, "-", "-", "-", "-", "not run");
			continue;
		}
		if (it->has_best && it->res.timed)
			fprintf(f, "%-36s %-*s %10.2f %7.0f %5.0f%%  %s\n", name, w, it->best.config, it->best.us,
			        it->best.gbps, it->res.copy_gbps > 0 ? 100.0 * it->best.gbps / it->res.copy_gbps : 0.0,
			        it->status);
		else
			fprintf(f, "%-36s %-*s %10s %7s %6s  %s\n", name, w, it->has_best ? it->best.config : "-", "-", "-",
			        "-", it->status);
	}
	/* where the run's time went, summed over its problems */
	double tot = 0, gen = 0, comp = 0, tm = 0;
	int done = 0;
	for (int i = 0; i < n; i++)
		if (items[i].done) {
			done++;
			tot += items[i].res.total_s;
			gen += items[i].res.gen_s;
			comp += items[i].res.compile_s;
			tm += items[i].res.time_s;
		}
	if (done > 1)
		fprintf(f, "time summed over %d problems: %.1f s: render and compile before timing %.1f s, test data %.1f s, "
		        "check and time %.1f s, the rest %.1f s\n",
		        done, tot, comp, gen, tm, tot - comp - gen - tm);
}
