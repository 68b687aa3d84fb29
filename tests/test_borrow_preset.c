/* test_borrow_preset: on a GPU of the shipped pack's SM but another model
 * (the stand-in driver named "NVIDIA H200", which has an H200's memory bus
 * and clock), with only the H100's pack installed, every problem of
 * `--preset llm` finds a borrowed record: the H100's record of the same
 * problem at the same rows bucket, of this build's stamp, whose cubin the
 * pack holds. The runtime's own lookup (kg_record_find, then
 * kg_record_borrow), as a call of that problem makes it.
 *
 * usage: test_borrow_preset LIBFAKECUDA PACK */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gen.h"
#include "internal.h"
#include "preset.h"
#include "record.h"

int main(int argc, char **argv)
{
	kg_packs *ps = NULL;
	kg_device dev;
	CUdevice d;
	tune_problem *list = NULL;
	int n = 0, driver = 0, borrowed = 0, rc;
	char stamps[2][96], model[128] = "";
	if (argc != 3) {
		fprintf(stderr, "usage: test_borrow_preset LIBFAKECUDA PACK\n");
		return 2;
	}
	setenv("KGEN_CUDA_LIBRARY", argv[1], 1);
	setenv("FAKE_CUDA_NAME", "NVIDIA H200", 1);
	unsetenv("KGEN_NO_BORROW");
	if ((rc = kg_cu_load()) || kg_cu.cuDeviceGet(&d, 0) || kg_device_query(d, &dev)) {
		fprintf(stderr, "the stand-in driver: rc %d: %s\n", rc, kgen_last_error());
		return 1;
	}
	kg_cu.cuDriverGetVersion(&driver);
	CHECK(!strcmp(dev.name, "NVIDIA H200") && dev.sm == 90, "device '%s' sm %d", dev.name, dev.sm);
	CHECK(!kg_packs_new(&ps, argv[2], ""), "open %s: %s", argv[2], kgen_last_error());
	CHECK(!preset_get("llm", &list, &n) && n > 0, "preset llm: %d problems", n);
	kg_stamp(stamps[0], sizeof stamps[0], gen_template_hash(NULL, "softmax"));
	kg_stamp(stamps[1], sizeof stamps[1], gen_template_hash(NULL, "xent"));
	for (int i = 0; ps && i < n; i++) {
		const tune_problem *p = &list[i];
		const char *stamp = stamps[strcmp(kg_op_family(kg_ops[p->op].op), "softmax") != 0];
		const long long bucket = kg_rows_bucket(p->rows ? p->rows : 4096);
		char prefix[KG_KEY_MAX], name[160];
		kg_record own, r;
		problem_name(p, name, sizeof name);
		kg_problem_prefix(prefix, sizeof prefix, p->op, p->opts, p->dtype, p->cols, dev.sm, dev.name);
		/* none of its own model */
		rc = kg_record_find(NULL, ps, prefix, bucket, stamp, driver, &own);
		CHECK(rc == KGEN_ENOTFOUND, "%s at %lld rows: a record of the H200's own: rc %d", name, bucket, rc);
		kg_record_free(&own);
		rc = kg_record_borrow(ps, prefix, bucket, stamp, driver, &dev, &r);
		CHECK(!rc && r.bucket == bucket && r.pack && !strcmp(r.origin, "borrowed") && r.lender[0] && r.skipped_stale == 0,
		      "%s at %lld rows: rc %d, bucket %lld, lender '%s', %d stale: %s", name, bucket, rc, r.bucket,
		      r.lender, r.skipped_stale, kgen_last_error());
		if (!rc) {
			kg_best b;
			CHECK(!kg_best_parse(r.rec, &b) && b.config[0] && !strcmp(b.stamp, stamp),
			      "%s: the borrowed record does not parse or has stamp '%s'", name, b.stamp);
			if (!model[0])
				snprintf(model, sizeof model, "%s", r.lender);
			CHECK(!strcmp(r.lender, model), "%s: borrowed from '%s', the others from '%s'", name, r.lender, model);
			borrowed++;
		}
		kg_record_free(&r);
	}
	printf("test_borrow_preset: %d of %d problems of the preset borrowed from '%s' on '%s'\n", borrowed, n, model,
	       dev.name);
	free(list);
	kg_packs_free(ps);
	printf("test_borrow_preset: %d checks, %d failures\n", checks, failures);
	return failures != 0;
}
