/* pack_fixture.c: synthetic best records and cubins in a cache, for
 * test_pack_cli.sh (no GPU makes real ones here).
 *
 *   pack_fixture CACHE_DIR GPU SM SOFTMAX_US XENT_US TAG [--no-kernel]
 *
 * writes, for GPU and SM, rows bucket 4096:
 *   softmax fwd bf16 cols 1024   time SOFTMAX_US, config threads=TAG
 *   xent fused bf16 vocab 8192   time XENT_US, config threads=TAG, prep kernel
 *   softmax bwd bf16 cols 1024   a stale stamp (another template version)
 * each with its own cubin: "KGENFIXTURE" TAG, the key, then filler bytes.
 * --no-kernel leaves the kernel field out of the softmax fwd record.
 *
 *   pack_fixture --reseal PACK
 *
 * writes the trailer of PACK anew (its digest over the data as it is now),
 * so that an entry damaged inside it reaches the per-entry checks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "gen.h"
#include "hash.h"
#include "internal.h"

static int no_kernel;

static int put(cache *c, int op, const char *gpu, int sm, long long cols, double us, const char *tag,
               const char *stamp)
{
	char key[KG_KEY_MAX], rec[2048], hex[17];
	unsigned char cubin[4096];
	size_t n;
	kg_problem_key(key, sizeof key, op, 0, KGEN_BF16, cols, sm, gpu, 4096);
	n = (size_t)snprintf((char *)cubin, sizeof cubin, "KGENFIXTURE%s|%s|", tag, key);
	for (size_t i = n; i < sizeof cubin; i++)
		cubin[i] = (unsigned char)(i * 131 + (size_t)us);
	snprintf(hex, sizeof hex, "%016llx", (unsigned long long)kg_hash(0, cubin, sizeof cubin));
	snprintf(rec, sizeof rec,
	         "config=strategy=reg,threads=%s,tpr=32,vec=8\n%s=%s\nprep=%s\nfinish=%s\nblock=%s\nsmem=0\nrows_per_cta=8\n"
	         "cluster=1\nvariant=%s\ntime_us=%.3f\np10_us=%.3f\np90_us=%.3f\ngbps=%.1f\ncopy_gbps=3000.0\n"
	         "rows=4096\nstamp=%s\nnvrtc=13.0\ndriver=13000\ngpu=%s\ndate=2025-01-01T00:00:00Z\n",
	         tag, no_kernel && op == KG_SOFTMAX_FWD ? "no_kernel" : "kernel", kg_ops[op].kernel, kg_ops[op].xent ? "kgen_xent_prep" : "",
	         kg_ops[op].xent && op != KG_XENT_BWD ? "kgen_xent_finish" : "", tag, hex, us, us * 0.98, us * 1.02,
	         (double)cols * 4096 * 4 / us * 1e-3, stamp, gpu);
	if (cache_put(c, "cubin", hex, 16, cubin, sizeof cubin) ||
	    cache_put(c, "best", key, strlen(key), rec, strlen(rec))) {
		fprintf(stderr, "pack_fixture: %s\n", kgen_last_error());
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	char sstamp[96], xstamp[96];
	cache *c;
	int sm, rc;
	if (argc != 7 && !(argc == 3 && !strcmp(argv[1], "--reseal")) && !(argc == 8 && !strcmp(argv[7], "--no-kernel"))) {
		fprintf(stderr, "usage: pack_fixture CACHE_DIR GPU SM SOFTMAX_US XENT_US TAG [--no-kernel]\n");
		return 2;
	}
	if (argc == 3 && !strcmp(argv[1], "--reseal")) {
		if (cache_pack_seal(argv[2])) {
			fprintf(stderr, "pack_fixture: %s\n", kgen_last_error());
			return 1;
		}
		return 0;
	}
	no_kernel = argc == 8;
	sm = atoi(argv[3]);
	kg_stamp(sstamp, sizeof sstamp, gen_template_hash(NULL, "softmax"));
	kg_stamp(xstamp, sizeof xstamp, gen_template_hash(NULL, "xent"));
	if (cache_open(&c, argv[1], 0)) {
		fprintf(stderr, "pack_fixture: %s\n", kgen_last_error());
		return 1;
	}
	rc = put(c, KG_SOFTMAX_FWD, argv[2], sm, 1024, atof(argv[4]), argv[6], sstamp) ||
	     put(c, KG_XENT_FUSED, argv[2], sm, 8192, atof(argv[5]), argv[6], xstamp) ||
	     put(c, KG_SOFTMAX_BWD, argv[2], sm, 1024, 1.0, argv[6], "template=0000000000000000,kgen=0.0.1");
	cache_close(c);
	return rc;
}
