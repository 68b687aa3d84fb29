/* pack.c: the `kgen pack` commands (docs/packs.md).
 *
 *   kgen pack export  a GPU's best records and their cubins, cache -> pack
 *   kgen pack import  pack -> cache, by the cache's own rules
 *   kgen pack merge   packs -> one pack, the faster record of each problem
 *   kgen pack ls      list a pack
 *   kgen pack verify  checksums, stamps, and loading on a GPU of the SM
 *
 * Packs are read and written by packfile.c: built in a scratch LMDB
 * directory and written out as one compacted file, replaced atomically
 * (cache_copy). Records are copied as they are; only those whose stamp is
 * this build's go into a pack or come out of one (another template or kgen
 * version would be ignored by the runtime, and would displace a current
 * record in a cache).
 *
 * Exit status: 0 success, 1 failure, 2 usage error, 3 (verify) all checks
 * passed but no GPU of the pack's SM is present to load the cubins.
 */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "cli.h"
#include "internal.h"
#include "pack.h"
#include "packfile.h"

#ifndef KGEN_PACK_DIR
#define KGEN_PACK_DIR "none"
#endif

static const char usage_pack[] =
	"usage: kgen pack <command> [options]\n"
	"\n"
	"A pack holds the best records of one GPU model and their cubins, in one\n"
	"read-only LMDB file (named NAME" KG_PACK_EXT "). The runtime looks for a problem in\n"
	"the cache, then in the packs of $KGEN_PACK_PATH (files, and directories of\n"
	KG_PACK_EXT " files, separated by ':'), then in the installed packs directory\n"
	"(" KGEN_PACK_DIR "; $KGEN_PACK_DIR replaces it, empty for none).\n"
	"\n"
	"commands:\n"
	"  export  copy the best records of a GPU and their cubins from the cache into a pack\n"
	"  import  copy a pack's records into the cache (a problem keeps its faster record)\n"
	"  merge   join packs into one (a problem keeps its faster record)\n"
	"  ls      list a pack's records\n"
	"  verify  check checksums and stamps; load each cubin on a GPU of its SM\n"
	"\n"
	"'kgen pack <command> --help' lists the options of a command.\n";

static const char usage_export[] =
	"usage: kgen pack export --gpu NAME [--sm SM] [--cache DIR] -o FILE\n"
	"\n"
	"Copies the best records of the cache whose GPU model is NAME (as the driver\n"
	"names it, e.g. 'NVIDIA H100 80GB HBM3'; and whose SM is SM, if given), and\n"
	"the cubins they name, into the pack FILE (replaced if it exists). Records made\n"
	"by another template or kgen version are skipped and counted.\n"
	"\n"
	"  --gpu NAME       the GPU model\n"
	"  --sm SM          only records for this SM, e.g. 90\n"
	"  --cache DIR      the tuning cache (default $KGEN_CACHE_DIR, $XDG_CACHE_HOME/kgen,\n"
	"                   ~/.cache/kgen); --cache-dir is the same\n"
	"  -o, --output FILE the pack to write\n";

static const char usage_import[] =
	"usage: kgen pack import FILE [--cache DIR]\n"
	"\n"
	"Copies the records of the pack FILE and their cubins into the cache. A record\n"
	"replaces the cache's record of the same problem when it is faster, or when the\n"
	"cache's was made by another template or kgen version (as 'kgen tune' does).\n"
	"Records of another template or kgen version are skipped; a cubin that does not\n"
	"match its checksum is an error (exit 1), the others are still imported.\n"
	"\n"
	"  --cache DIR      the tuning cache (default as for 'kgen tune')\n";

static const char usage_merge[] =
	"usage: kgen pack merge A B [...] -o FILE\n"
	"\n"
	"Writes the union of the packs to FILE; a problem found in several keeps the\n"
	"faster record. Records of another template or kgen version are dropped. A\n"
	"cubin that does not match its checksum stops the merge (nothing is written).\n"
	"\n"
	"  -o, --output FILE the pack to write\n";

static const char usage_ls[] =
	"usage: kgen pack ls FILE [--json]\n"
	"\n"
	"Prints the pack's meta data, then one line per record: op, pass, dtype, cols,\n"
	"options, rows bucket, SM, GPU, configuration, time (us) and bandwidth (GB/s);\n"
	"then, for each GPU here of the pack's SM but another model, that it borrows\n"
	"these records where it has none of its own (docs/packs.md).\n"
	"\n"
	"  --json           one JSON object: {\"file\", \"meta\", \"records\": [...]}\n";

static const char usage_verify[] =
	"usage: kgen pack verify FILE\n"
	"\n"
	"Checks the file (a regular file, its size against its LMDB header, the\n"
	"SHA-256 of its trailer), then the checksum of every record and cubin, and\n"
	"compares each record's stamp with this build's (another template or kgen\n"
	"version: the runtime would skip it); where a GPU of the record's SM is\n"
	"present, loads the cubin and looks up its kernels. Prints one line per\n"
	"record and a summary.\n"
	"\n"
	"exit status: 0 all verified and loaded, 1 a record failed, 2 usage error,\n"
	"3 checksums and stamps verified but no GPU of the SM present to load them\n";

/* The usage of the command running, for --help. */
static const char *cur_name = "pack", *cur_usage = usage_pack;

enum { OPT_GPU = 1000, OPT_SM, OPT_CACHE, OPT_JSON };

static const struct option pack_opts[] = {
	{"gpu", required_argument, NULL, OPT_GPU},
	{"sm", required_argument, NULL, OPT_SM},
	{"cache", required_argument, NULL, OPT_CACHE},
	{"cache-dir", required_argument, NULL, OPT_CACHE},
	{"output", required_argument, NULL, 'o'},
	{"json", no_argument, NULL, OPT_JSON},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

typedef struct pargs {
	const char *gpu, *cache, *out;
	int sm, json;
	char **files; /* the operands */
	int nfiles;
} pargs;

/* Parse the options of a pack command; allowed: the options it takes. */
static void parse(int argc, char **argv, const char *allowed, pargs *a)
{
	int c;
	memset(a, 0, sizeof *a);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:h", pack_opts, NULL)) != -1) {
		const char *name = c == 'o' ? "output" : NULL;
		char *end;
		for (const struct option *o = pack_opts; !name && o->name; o++)
			if (o->val == c)
				name = o->name;
		if (c == '?')
			cli_die_usage("unknown option '%s'", argv[optind - 1]);
		if (c == ':')
			cli_die_usage("option '%s' needs a value", argv[optind - 1]);
		if (c == 'h') {
			fputs(cur_usage, stdout);
			exit(0);
		}
		if (!cli_word_in(allowed, name))
			cli_die_usage("option '--%s' does not apply to 'pack %s'", name, cur_name);
		switch (c) {
		case OPT_GPU: a->gpu = optarg; break;
		case OPT_SM:
			a->sm = (int)strtol(optarg, &end, 10);
			if (!*optarg || *end || a->sm < 50 || a->sm > 200)
				cli_die_usage("--sm needs an SM such as 90, not '%s'", optarg);
			break;
		case OPT_CACHE: a->cache = optarg; break;
		case 'o': a->out = optarg; break;
		case OPT_JSON: a->json = 1; break;
		}
	}
	a->files = argv + optind;
	a->nfiles = argc - optind;
}

/* Every entry of db; prints the error. */
static int read_all(cache *c, const char *db, pack_entries *l)
{
	return pack_read_all(c, db, l) ? cli_error("%s", kgen_last_error()) : 0;
}

/* Report the entries of c that failed their checksum (they were skipped);
 * returns 1 if there were any. */
static int report_damaged(cache *c, const char *noun)
{
	char first[256];
	int n = cache_damaged(c, first, sizeof first);
	if (!n)
		return 0;
	return cli_error("%d damaged entr%s in %s '%s' (first: %s): ignored", n, n == 1 ? "y" : "ies", noun, cache_dir(c),
	             first);
}

static void print_written(const pack_writer *w, const char *out)
{
	printf("wrote '%s': %d records, %d cubins (%.1f KiB) for '%s' sm %s\n", out, w->records, w->cubins,
	       (double)w->bytes / 1024.0, w->gpus, w->sms);
}

static int cmd_export(int argc, char **argv)
{
	pargs a;
	cache *c = NULL;
	pack_writer w;
	pack_entries l;
	char seen[1024] = "";
	int rc = 1, stale = 0, other = 0, nocubin = 0;
	parse(argc, argv, "gpu sm cache output", &a);
	if (a.nfiles)
		cli_die_usage("unexpected argument '%s'", a.files[0]);
	if (!a.gpu || !*a.gpu)
		cli_die_usage("missing --gpu NAME (the GPU model, e.g. 'NVIDIA H100 80GB HBM3')");
	if (!a.out || !*a.out)
		cli_die_usage("missing -o FILE");
	memset(&w, 0, sizeof w);
	if (cache_open(&c, a.cache, 1))
		return cli_error("%s", kgen_last_error());
	if (read_all(c, "best", &l)) {
		cache_close(c);
		return 1;
	}
	if (pack_writer_open(&w)) {
		cli_error("%s", kgen_last_error());
		goto out;
	}
	for (int i = 0; i < l.n; i++) {
		const pack_entry *e = &l.v[i];
		char tag[300];
		int no_cubin;
		kg_key k;
		if (kg_key_parse(e->key, e->klen, &k)) {
			fprintf(stderr, "kgen: warning: skipping a record with a malformed key '%s'\n", e->key);
			continue;
		}
		if (strcmp(k.gpu, a.gpu) || (a.sm && k.sm != a.sm)) {
			snprintf(tag, sizeof tag, "'%s' sm %d", k.gpu, k.sm);
			pack_add_distinct(seen, sizeof seen, ", ", tag);
			other++;
			continue;
		}
		if (!pack_stamp_current(&k, e->rec)) {
			stale++;
			continue;
		}
		if (pack_copy(c, 0, cache_dir(c), e, &k, &w, NULL, NULL, &no_cubin)) {
			if (no_cubin) {
				fprintf(stderr, "kgen: warning: skipping '%s': %s\n", e->key, kgen_last_error());
				nocubin++;
				continue;
			}
			rc = cli_error("%s", kgen_last_error());
			goto out;
		}
	}
	if (!w.records) {
		char sm[16] = "";
		if (a.sm)
			snprintf(sm, sizeof sm, " sm %d", a.sm);
		cli_error("no current record for '%s'%s in cache '%s'%s%s%s", a.gpu, sm, cache_dir(c),
		      stale ? " (stale ones skipped: made by another template or kgen version)" : "",
		      other ? "; it has records for " : "", other ? seen : "");
		goto out;
	}
	if (pack_writer_finish(&w, a.out)) {
		cli_error("%s", kgen_last_error());
		goto out;
	}
	print_written(&w, a.out);
	if (stale)
		printf("skipped %d stale record%s (made by another template or kgen version: rerun 'kgen tune')\n",
		       stale, stale == 1 ? "" : "s");
	rc = nocubin ? 1 : 0;
	if (nocubin)
		cli_error("%d record%s skipped for want of a cubin", nocubin, nocubin == 1 ? "" : "s");
out:
	if (report_damaged(c, "cache"))
		rc = 1;
	pack_writer_close(&w);
	pack_entries_free(&l);
	cache_close(c);
	return rc;
}

/* Open a pack given on the command line; prints the error. */
static int open_pack(cache **c, const char *file)
{
	if (kg_pack_open(c, file))
		return cli_error("%s", kgen_last_error());
	return 0;
}

static int cmd_import(int argc, char **argv)
{
	pargs a;
	cache *p = NULL, *c = NULL;
	pack_entries l = {0};
	int rc = 1, stale = 0, bad = 0, stored = 0, kept = 0;
	parse(argc, argv, "cache", &a);
	if (a.nfiles != 1)
		cli_die_usage(a.nfiles ? "import takes one pack" : "missing the pack FILE");
	if (open_pack(&p, a.files[0]))
		return 1;
	if (read_all(p, "best", &l))
		goto out;
	if (cache_open(&c, a.cache, 0)) {
		cli_error("%s", kgen_last_error());
		goto out;
	}
	for (int i = 0; i < l.n; i++) {
		const pack_entry *e = &l.v[i];
		int replaced = 0, no_cubin;
		kg_key k;
		if (kg_key_parse(e->key, e->klen, &k) || !pack_stamp_current(&k, e->rec)) {
			stale++;
			continue;
		}
		if (pack_copy(p, 1, a.files[0], e, &k, NULL, c, &replaced, &no_cubin)) {
			if (no_cubin) {
				cli_error("'%s': %s", e->key, kgen_last_error());
				bad++;
				continue;
			}
			rc = cli_error("%s", kgen_last_error());
			goto out;
		}
		stored += replaced;
		kept += !replaced;
	}
	printf("imported %d record%s into '%s'", stored, stored == 1 ? "" : "s", cache_dir(c));
	if (kept)
		printf("; kept the cache's own for %d (as fast or faster)", kept);
	if (stale)
		printf("; skipped %d stale (another template or kgen version)", stale);
	printf("\n");
	rc = bad ? 1 : 0;
out:
	if (p && report_damaged(p, "pack"))
		rc = 1;
	pack_entries_free(&l);
	cache_close(c);
	cache_close(p);
	return rc;
}

static int cmd_merge(int argc, char **argv)
{
	pargs a;
	pack_scratch s = {{0}, NULL};
	pack_writer w;
	pack_entries l = {0};
	int rc = 1, stale = 0, in = 0;
	parse(argc, argv, "output", &a);
	if (a.nfiles < 2)
		cli_die_usage("merge needs two packs or more");
	if (!a.out || !*a.out)
		cli_die_usage("missing -o FILE");
	memset(&w, 0, sizeof w);
	/* 1: every current record into a scratch cache, by put_best's rules */
	if (pack_scratch_open(&s, 0))
		return cli_error("%s", kgen_last_error());
	for (int f = 0; f < a.nfiles; f++) {
		cache *p;
		if (open_pack(&p, a.files[f]))
			goto out;
		if (read_all(p, "best", &l)) {
			cache_close(p);
			goto out;
		}
		if (report_damaged(p, "pack")) {
			cli_error("nothing written");
			cache_close(p);
			goto out;
		}
		for (int i = 0; i < l.n; i++) {
			const pack_entry *e = &l.v[i];
			int no_cubin;
			kg_key k;
			if (kg_key_parse(e->key, e->klen, &k) || !pack_stamp_current(&k, e->rec)) {
				stale++;
				continue;
			}
			if (pack_copy(p, 1, a.files[f], e, &k, NULL, s.c, NULL, &no_cubin)) {
				if (no_cubin)
					cli_error("'%s': %s; nothing written", e->key, kgen_last_error());
				else
					cli_error("%s", kgen_last_error());
				cache_close(p);
				goto out;
			}
			in++;
		}
		pack_entries_free(&l);
		cache_close(p);
	}
	/* 2: the winners and only their cubins into the pack */
	if (read_all(s.c, "best", &l))
		goto out;
	if (pack_writer_open(&w)) {
		cli_error("%s", kgen_last_error());
		goto out;
	}
	for (int i = 0; i < l.n; i++) {
		int no_cubin;
		kg_key k;
		kg_key_parse(l.v[i].key, l.v[i].klen, &k);
		if (pack_copy(s.c, 0, s.dir, &l.v[i], &k, &w, NULL, NULL, &no_cubin)) {
			rc = cli_error("%s", kgen_last_error());
			goto out;
		}
	}
	if (!w.records) {
		cli_error("no current record in the %d packs%s", a.nfiles,
		      stale ? " (all made by another template or kgen version)" : "");
		goto out;
	}
	if (pack_writer_finish(&w, a.out)) {
		cli_error("%s", kgen_last_error());
		goto out;
	}
	print_written(&w, a.out);
	printf("from %d records of %d packs: the fastest of each problem\n", in, a.nfiles);
	if (stale)
		printf("dropped %d stale record%s (another template or kgen version)\n", stale, stale == 1 ? "" : "s");
	rc = 0;
out:
	pack_entries_free(&l);
	pack_writer_close(&w);
	pack_scratch_close(&s);
	return rc;
}

/* A record's numeric field as a JSON number, or null. */
static void json_num(const char *rec, const char *k)
{
	char v[64], *end;
	/* digits, not "nan" or "inf", which JSON lacks */
	if (rec_get(rec, k, v, sizeof v) || !(isdigit((unsigned char)v[0]) || (v[0] == '-' && isdigit((unsigned char)v[1]))) ||
	    (strtod(v, &end), *end))
		printf("null");
	else
		printf("%s", v);
}

static int print_meta_json(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	char k[128], v[1024];
	int *first = arg;
	snprintf(k, sizeof k, "%.*s", (int)klen, (const char *)key);
	snprintf(v, sizeof v, "%.*s", (int)vlen, (const char *)val);
	printf("%s", *first ? "" : ", ");
	cli_json_str(stdout, k);
	printf(": ");
	cli_json_str(stdout, v);
	*first = 0;
	return 0;
}

static void ls_borrowers(const char *gpu, const char *sm);

static int cmd_ls(int argc, char **argv)
{
	pargs a;
	cache *p;
	pack_entries l;
	char m[6][512];
	static const char *const names[6] = {"format", "kgen", "created", "gpu", "sm", "records"};
	parse(argc, argv, "json", &a);
	if (a.nfiles != 1)
		cli_die_usage(a.nfiles ? "ls takes one pack" : "missing the pack FILE");
	if (open_pack(&p, a.files[0]))
		return 1;
	if (read_all(p, "best", &l)) {
		cache_close(p);
		return 1;
	}
	for (int i = 0; i < 6; i++)
		if (kg_pack_meta(p, names[i], m[i], sizeof m[i]))
			snprintf(m[i], sizeof m[i], "?");
	if (a.json) {
		int first = 1;
		printf("{\"file\": ");
		cli_json_str(stdout, a.files[0]);
		printf(", \"meta\": {");
		cache_scan(p, "meta", NULL, 0, print_meta_json, &first);
		printf("}, \"records\": [");
	} else {
		printf("pack '%s': format %s, kgen %s, created %s\n", a.files[0], m[0], m[1], m[2]);
		printf("gpu '%s', sm %s, %s records\n", m[3], m[4], m[5]);
		printf("%-11s %-5s %-5s %8s %-46s %7s %4s %-24s %-44s %9s %7s\n", "op", "pass", "dtype", "cols", "options",
		       "rows", "sm", "gpu", "config", "time_us", "gbps");
	}
	for (int i = 0; i < l.n; i++) {
		char t[32], g[32];
		const char *cfg;
		kg_best b;
		kg_key k;
		if (kg_key_parse(l.v[i].key, l.v[i].klen, &k))
			continue;
		kg_best_parse(l.v[i].rec, &b);
		cfg = b.config[0] ? b.config : "?";
		if (a.json) {
			printf("%s\n  {\"op\": ", i ? "," : "");
			cli_json_str(stdout, k.op);
			printf(", \"pass\": ");
			cli_json_str(stdout, k.pass);
			printf(", \"dtype\": ");
			cli_json_str(stdout, k.dtype);
			printf(", \"cols\": %lld, \"options\": ", k.cols);
			cli_json_str(stdout, k.opts);
			printf(", \"rows_bucket\": %lld, \"sm\": %d, \"gpu\": ", k.bucket, k.sm);
			cli_json_str(stdout, k.gpu);
			printf(", \"config\": ");
			cli_json_str(stdout, cfg);
			printf(", \"time_us\": ");
			json_num(l.v[i].rec, "time_us");
			printf(", \"gbps\": ");
			json_num(l.v[i].rec, "gbps");
			printf(", \"variant\": ");
			cli_json_str(stdout, b.variant);
			printf("}");
			continue;
		}
		/* the times as the record has them ("-" when it has none) */
		if (rec_get(l.v[i].rec, "time_us", t, sizeof t))
			snprintf(t, sizeof t, "-");
		if (rec_get(l.v[i].rec, "gbps", g, sizeof g))
			snprintf(g, sizeof g, "-");
		snprintf(m[0], sizeof m[0], "'%s'", k.gpu);
		printf("%-11s %-5s %-5s %8lld %-46s %7lld %4d %-24s %-44s %9s %7s\n", k.op, k.pass, k.dtype, k.cols, k.opts,
		       k.bucket, k.sm, m[0], cfg, t, g);
	}
	if (a.json)
		printf("%s]}\n", l.n ? "\n" : "");
	else
		ls_borrowers(m[3], m[4]);
	pack_entries_free(&l);
	a.nfiles = report_damaged(p, "pack"); /* the records listed are sound */
	cache_close(p);
	return a.nfiles;
}

/* The GPUs present, for verify. */
typedef struct gpus {
	int n, driver, status;  /* status: 0, or the KGEN code of kg_cu_load */
	char why[512];          /* why there are none */
	kg_device dev[16];
	CUcontext ctx[16];
} gpus;

static void gpus_find(gpus *g)
{
	int count = 0;
	memset(g, 0, sizeof *g);
	if ((g->status = kg_cu_load())) {
		snprintf(g->why, sizeof g->why, "%s", kgen_last_error());
		return;
	}
	kg_cu.cuDriverGetVersion(&g->driver);
	if (kg_cu.cuDeviceGetCount(&count) || count < 1) {
		snprintf(g->why, sizeof g->why, "no CUDA device");
		return;
	}
	for (int i = 0; i < count && g->n < 16; i++) {
		CUdevice d;
		if (!kg_cu.cuDeviceGet(&d, i) && !kg_device_query(d, &g->dev[g->n]))
			g->n++;
	}
}

/* A GPU of the SM (the same model preferred), or -1. */
static int gpus_pick(const gpus *g, int sm, const char *name)
{
	int any = -1;
	for (int i = 0; i < g->n; i++)
		if (g->dev[i].sm == sm) {
			if (!strcmp(g->dev[i].name, name))
				return i;
			if (any < 0)
				any = i;
		}
	return any;
}

/* After ls: the GPUs here of the pack's SM but another model, which borrow
 * its records where they have none of their own (docs/packs.md). */
static void ls_borrowers(const char *gpu, const char *sm)
{
	gpus g;
	gpus_find(&g);
	for (int i = 0; i < g.n; i++) {
		if (g.dev[i].sm != atoi(sm) || !strcmp(g.dev[i].name, gpu))
			continue;
		if (kg_borrow_enabled())
			printf("GPU %d '%s' (sm_%d) borrows these records where it has none of its own and this pack's model "
			       "is the nearest of its SM in its packs (KGEN_NO_BORROW=1 turns that off)\n",
			       i, g.dev[i].name, g.dev[i].sm);
		else
			printf("GPU %d '%s' (sm_%d) would borrow these records, but KGEN_NO_BORROW is set\n", i,
			       g.dev[i].name, g.dev[i].sm);
	}
}

/* Load cubin on GPU i and look up its kernels; 0, or 1 with why filled. */
static int try_load(gpus *g, int i, const void *cubin, const kg_best *b, char *why, size_t wlen)
{
	CUmodule mod;
	kg_launch l = {0};
	CUresult r;
	int rc;
	if (!g->ctx[i]) {
		if ((r = kg_cu.cuDevicePrimaryCtxRetain(&g->ctx[i], g->dev[i].dev))) {
			g->ctx[i] = NULL;
			snprintf(why, wlen, "cannot make a context on GPU %d: %s", i, kg_cu_errstr(r));
			return 1;
		}
	}
	if ((r = kg_cu.cuCtxSetCurrent(g->ctx[i]))) {
		snprintf(why, wlen, "cuCtxSetCurrent: %s", kg_cu_errstr(r));
		return 1;
	}
	if (!b->kernel[0]) {
		snprintf(why, wlen, "the record names no kernel");
		return 1;
	}
	/* with the record's shared memory and cluster: their attributes too */
	if ((rc = kg_module_load(cubin, b->kernel, b->prep, b->finish, b->smem, kg_config_split(b->config) ? 1 : b->cluster,
	                         &mod, &l))) {
		snprintf(why, wlen, "%s", kgen_last_error());
		return 1;
	}
	kg_cu.cuModuleUnload(mod);
	return 0;
}

/* Whether rec lacks a field the runtime needs (why then names it). */
static int missing_field(const char *rec, char *why, size_t len)
{
	static const char *const need[] = {"config", "kernel", "variant", "block", "rows_per_cta", "stamp"};
	char v[8];
	for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
		if (rec_get(rec, need[i], v, sizeof v) || !v[0]) {
			snprintf(why, len, "the record has no '%s': the runtime cannot use it", need[i]);
			return 1;
		}
	return 0;
}

static int cmd_verify(int argc, char **argv)
{
	pargs a;
	cache *p;
	pack_entries l;
	gpus g;
	char missing[512] = "", first[256];
	int ok = 0, failed = 0, unloaded = 0, nd;
	parse(argc, argv, "", &a);
	if (a.nfiles != 1)
		cli_die_usage(a.nfiles ? "verify takes one pack" : "missing the pack FILE");
	if (open_pack(&p, a.files[0]))
		return 1;
	if (read_all(p, "best", &l)) {
		cache_close(p);
		return 1;
	}
	/* records that failed their checksum (skipped by the scan) */
	nd = cache_damaged(p, first, sizeof first);
	gpus_find(&g);
	for (int i = 0; i < l.n; i++) {
		const char *rec = l.v[i].rec, *nv;
		char hex[17], why[600] = "", note[300] = "";
		void *cubin = NULL;
		size_t size;
		int dev = -1, bad = 0;
		kg_best b;
		kg_key k;
		if (kg_key_parse(l.v[i].key, l.v[i].klen, &k)) {
			printf("FAIL      %s: malformed key\n", l.v[i].key);
			failed++;
			continue;
		}
		kg_best_parse(rec, &b);
		nv = b.nvrtc[0] ? b.nvrtc : "?";
		if (missing_field(rec, why, sizeof why))
			bad = 1;
		else if (pack_cubin(p, 1, a.files[0], rec, &cubin, &size, hex)) {
			snprintf(why, sizeof why, "%s", kgen_last_error());
			bad = 1;
		} else if (!pack_stamp_current(&k, rec)) {
			/* missing_field saw the stamp */
			snprintf(why, sizeof why, "stamp %s is not this build's %s: the runtime skips it", b.stamp,
			         pack_stamp(k.op) ? pack_stamp(k.op) : "(unknown op)");
			bad = 1;
		} else if ((dev = gpus_pick(&g, k.sm, k.gpu)) >= 0) {
			if (kg_nvrtc_number(nv) > g.driver) {
				snprintf(why, sizeof why, "compiled by NVRTC %s, newer than the driver (CUDA %d.%d): the runtime "
				         "skips it", nv, g.driver / 1000, g.driver % 1000 / 10);
				bad = 1;
			} else if (try_load(&g, dev, cubin, &b, why, sizeof why)) {
				bad = 1;
			} else {
				snprintf(note, sizeof note, "; loaded on GPU %d '%s'%s", dev, g.dev[dev].name,
				         strcmp(g.dev[dev].name, k.gpu) ? " (another model of the SM: the runtime uses the record "
				                                          "on the pack's model only)" : "");
			}
		}
		free(cubin);
		printf("%-9s %s %s %s c%lld %s r%lld sm%d '%s': ", bad ? "FAIL" : dev < 0 ? "unloaded" : "ok", k.op,
		       k.pass, k.dtype, k.cols, k.opts, k.bucket, k.sm, k.gpu);
		if (bad)
			printf("%s\n", why);
		else
			printf("checksum %s, stamp current, NVRTC %s%s\n", hex, nv,
			       dev < 0 ? "; no GPU of the SM to load it on" : note);
		if (bad) {
			failed++;
		} else if (dev < 0) {
			char tag[300];
			unloaded++;
			snprintf(tag, sizeof tag, "sm_%d ('%s')", k.sm, k.gpu);
			pack_add_distinct(missing, sizeof missing, ", ", tag);
		} else {
			ok++;
		}
	}
	for (int i = 0; i < g.n; i++)
		if (g.ctx[i])
			kg_cu.cuDevicePrimaryCtxRelease(g.dev[i].dev);
	/* records and meta data that failed their checksum were skipped */
	if (nd) {
		printf("FAIL      %d damaged entr%s (first: %s): checksum mismatch\n", nd, nd == 1 ? "y" : "ies", first);
		failed += nd;
	}
	printf("%d records: %d verified and loaded, %d failed, %d verified but not loaded\n", l.n, ok, failed,
	       unloaded);
	pack_entries_free(&l);
	cache_close(p);
	if (failed)
		return cli_error("'%s' failed verification (%d of %d records)", a.files[0], failed, failed + ok + unloaded);
	if (unloaded) {
		char have[600] = "";
		for (int i = 0; i < g.n; i++) {
			char tag[200];
			snprintf(tag, sizeof tag, "'%s' sm_%d", g.dev[i].name, g.dev[i].sm);
			pack_add_distinct(have, sizeof have, ", ", tag);
		}
		fprintf(stderr,
		        "kgen: checksums and stamps are fine, but the cubins were not loaded: no GPU of %s is present "
		        "(%s%s)\n",
		        missing, g.n ? "this machine has " : "", g.n ? have : g.why);
		return EXIT_NOGPU;
	}
	return 0;
}

static const struct {
	const char *name, *usage;
	int (*fn)(int, char **);
} commands[] = {
	{"export", usage_export, cmd_export},
	{"import", usage_import, cmd_import},
	{"merge", usage_merge, cmd_merge},
	{"ls", usage_ls, cmd_ls},
	{"verify", usage_verify, cmd_verify},
};

int pack_main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage_pack, stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		fputs(usage_pack, stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (!strcmp(argv[1], commands[i].name)) {
			cur_name = commands[i].name;
			cur_usage = commands[i].usage;
			return commands[i].fn(argc - 1, argv + 1);
		}
	cli_die_usage("unknown pack command '%s' (export, import, merge, ls, verify)", argv[1]);
}
