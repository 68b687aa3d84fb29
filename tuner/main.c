/* main.c: the kgen command line.
 *
 *   kgen tune   compile, check and time every variant; keep the best
 *   kgen space  list the variants of a problem
 *   kgen gen    print the CUDA source of one variant
 *   kgen pack   export, import, merge, list and verify packs (pack.c)
 *
 * Exit status: 0 success, 1 failure, 2 usage error, 3 compiled but not
 * timed because no GPU of the asked SM is present.
 */
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache.h"
#include "gen.h"
#include "internal.h"
#include "pack.h"
#include "tune.h"

#define EXIT_USAGE 2
#define EXIT_NOGPU 3

static const char *progname = "kgen";

static void die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die_usage(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: error: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(see '%s --help')\n", progname);
	exit(EXIT_USAGE);
}

static int fail(int rc)
{
	fprintf(stderr, "%s: error: %s\n", progname, kgen_last_error()[0] ? kgen_last_error() : kgen_strerror(rc));
	return rc == KGEN_EINVAL ? EXIT_USAGE : 1;
}

static const char usage_main[] =
	"usage: kgen <command> [options]\n"
	"\n"
	"kgen generates, tunes and caches softmax, log-softmax and cross-entropy\n"
	"kernels for NVIDIA GPUs.\n"
	"\n"
	"commands:\n"
	"  tune    compile, check and time every variant of a problem; cache the best\n"
	"  space   list the variants of a problem, one per line\n"
	"  gen     print the CUDA source of one variant\n"
	"  pack    export, import, merge, list and verify packs of tuned kernels\n"
	"  version print the kgen, NVRTC and driver versions\n"
	"\n"
	"'kgen <command> --help' lists the options of a command.\n"
	"The cache is $KGEN_CACHE_DIR, else $XDG_CACHE_HOME/kgen, else ~/.cache/kgen.\n";

static const char usage_problem[] =
	"problem:\n"
	"  --op OP          softmax, log_softmax, or xent (also cross_entropy)\n"
	"  --pass PASS      fwd or bwd; xent also fused (forward and backward in one pass);\n"
	"                   default fwd, for xent fused\n"
	"  --dtype T        f32, f16 or bf16 (also float32, float16, bfloat16); default bf16\n"
	"  --cols N         elements per row, >= 1 (--vocab is the same)\n"
	"  --sm SM          target SM, e.g. 80 or 90 (tune: default the GPU's; space and\n"
	"                   gen: required)\n"
	"cross-entropy options that change the kernel (each is its own tuned problem):\n"
	"  --target T       class index type: i32 or i64 (default i64)\n"
	"  --weight         per-class weights\n"
	"  --smooth         label smoothing (tuned with epsilon 0.1)\n"
	"  --zloss          z-loss (tuned with lambda 1e-4)\n"
	"  --softcap        logit softcapping (tuned with cap 30)\n";

static const char usage_tune[] =
	"usage: kgen tune --op OP --cols N [--pass P] [--dtype T] [--sm SM] [options]\n"
	"\n"
	"Compiles every variant of the problem with NVRTC (in parallel; cubins already in\n"
	"the cache are reused), runs each on the GPU against an fp64 reference on fresh\n"
	"random data, times those that match (L2 flushed, CUDA events, median) beside a\n"
	"device-to-device copy moving the same number of bytes (the fewest the op must\n"
	"move: softmax forward reads and writes each element once, backward reads two\n"
	"tensors, cross-entropy forward reads the logits once, fused and backward read\n"
	"them and write the gradient), and stores the fastest in the cache.\n"
	"Without a GPU of the SM (none, or one of another SM: the message names both), the\n"
	"variants are compiled into the cache and kgen exits 3.\n"
	"\n"
	"%s"
	"options:\n"
	"  --rows N         rows of the timed problem (default 4096); results are kept\n"
	"                   per power-of-two bucket of rows\n"
	"  --device N       CUDA device ordinal (default 0)\n"
	"  --cache-dir DIR  the tuning cache (default as above)\n"
	"  --jobs N         compile threads (default: one per core)\n"
	"  --reps N         timed repetitions per variant (default 50)\n"
	"  --top N          rows of the result table (default 10)\n"
	"  --check-only     check every variant against the reference; time none and keep\n"
	"                   no result (the compiled cubins still go into the cache)\n"
	"  --seed N         seed of the random test data (default: from the clock)\n"
	"  -q, --quiet      no progress\n"
	"  -h, --help       this text\n"
	"\n"
	"exit status: 0 tuned, 1 failed, 2 usage error, 3 compiled but no GPU to time on\n";

static const char usage_space[] =
	"usage: kgen space --op OP --cols N [--dtype T] --sm SM\n"
	"\n"
	"Lists the valid configurations of the problem, one per line.\n"
	"\n%s";

static const char usage_gen[] =
	"usage: kgen gen --op OP --cols N [--dtype T] --sm SM [--config K=V,...] [--cubin FILE]\n"
	"\n"
	"Prints the CUDA source of one variant: the template's default configuration,\n"
	"with the keys given in --config replaced (see 'kgen space' for valid values).\n"
	"\n%s"
	"  --config K=V,... configuration keys to set\n"
	"  --geometry       print the launch geometry as a comment first\n"
	"  --cubin FILE     also compile it with NVRTC and write the cubin to FILE\n"
	"                   (for cuobjdump --dump-sass FILE)\n";

enum {
	OPT_OP = 1000, OPT_PASS, OPT_DTYPE, OPT_COLS, OPT_SM, OPT_ROWS, OPT_DEVICE, OPT_CACHE, OPT_JOBS,
	OPT_REPS, OPT_TOP, OPT_CHECK, OPT_SEED, OPT_CONFIG, OPT_GEOMETRY, OPT_TARGET, OPT_WEIGHT, OPT_SMOOTH,
	OPT_ZLOSS, OPT_SOFTCAP, OPT_CUBIN
};

static const struct option long_opts[] = {
	{"op", required_argument, NULL, OPT_OP},
	{"pass", required_argument, NULL, OPT_PASS},
	{"dtype", required_argument, NULL, OPT_DTYPE},
	{"cols", required_argument, NULL, OPT_COLS},
	{"vocab", required_argument, NULL, OPT_COLS},
	{"sm", required_argument, NULL, OPT_SM},
	{"rows", required_argument, NULL, OPT_ROWS},
	{"device", required_argument, NULL, OPT_DEVICE},
	{"cache-dir", required_argument, NULL, OPT_CACHE},
	{"jobs", required_argument, NULL, OPT_JOBS},
	{"reps", required_argument, NULL, OPT_REPS},
	{"top", required_argument, NULL, OPT_TOP},
	{"check-only", no_argument, NULL, OPT_CHECK},
	{"seed", required_argument, NULL, OPT_SEED},
	{"config", required_argument, NULL, OPT_CONFIG},
	{"geometry", no_argument, NULL, OPT_GEOMETRY},
	{"cubin", required_argument, NULL, OPT_CUBIN},
	{"target", required_argument, NULL, OPT_TARGET},
	{"weight", no_argument, NULL, OPT_WEIGHT},
	{"smooth", no_argument, NULL, OPT_SMOOTH},
	{"zloss", no_argument, NULL, OPT_ZLOSS},
	{"softcap", no_argument, NULL, OPT_SOFTCAP},
	{"quiet", no_argument, NULL, 'q'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

typedef struct args {
	const char *op, *pass, *config, *cache_dir, *cubin;
	int dtype, sm, device, jobs, reps, top, check_only, quiet, geometry, op_id;
	unsigned opts;
	long long cols, rows;
	unsigned long long seed;
} args;

static long long parse_int(const char *opt, const char *s, long long lo, long long hi)
{
	char *end;
	long long v = strtoll(s, &end, 10);
	if (!*s || *end)
		die_usage("%s needs an integer, not '%s'", opt, s);
	if (v < lo || v > hi)
		die_usage("%s must be in %lld..%lld (got %lld)", opt, lo, hi, v);
	return v;
}

/* Whether name is one of the space-separated words of list. */
static int word_in(const char *list, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = list; (p = strstr(p, name)); p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0))
			return 1;
	return 0;
}

/* Parse the options of a subcommand; "allowed" is the set the command takes. */
static void parse_args(int argc, char **argv, const char *usage, const char *allowed, args *a)
{
	int c;
	memset(a, 0, sizeof *a);
	a->pass = NULL;
	a->dtype = KGEN_BF16;
	a->rows = 4096;
	a->cols = -1;
	a->top = 10;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":qh", long_opts, NULL)) != -1) {
		const char *name = NULL;
		for (const struct option *o = long_opts; o->name; o++)
			if (o->val == c)
				name = o->name;
		if (c == '?')
			die_usage("unknown option '%s'", argv[optind - 1]);
		if (c == ':')
			die_usage("option '%s' needs a value", argv[optind - 1]);
		if (c == 'h') {
			printf(usage, usage_problem);
			exit(0);
		}
		if (name && !word_in(allowed, name))
			die_usage("option '--%s' does not apply to '%s'", name, argv[0]);
		switch (c) {
		case OPT_OP: a->op = optarg; break;
		case OPT_PASS: a->pass = optarg; break;
		case OPT_DTYPE:
			if ((a->dtype = kg_dtype_parse(optarg)) < 0)
				die_usage("unknown dtype '%s' (f32, f16, bf16)", optarg);
			break;
		case OPT_COLS:
			a->cols = parse_int("--cols", optarg, LLONG_MIN, INT32_MAX);
			if (a->cols < 1)
				die_usage("--cols must be >= 1 (got %lld)", a->cols);
			break;
		case OPT_SM: a->sm = (int)parse_int("--sm", optarg, 50, 200); break;
		case OPT_ROWS: a->rows = parse_int("--rows", optarg, 1, INT32_MAX); break;
		case OPT_DEVICE: a->device = (int)parse_int("--device", optarg, 0, 1023); break;
		case OPT_CACHE: a->cache_dir = optarg; break;
		case OPT_JOBS: a->jobs = (int)parse_int("--jobs", optarg, 1, 64); break;
		case OPT_REPS: a->reps = (int)parse_int("--reps", optarg, 1, 1000); break;
		case OPT_TOP: a->top = (int)parse_int("--top", optarg, 1, 100000); break;
		case OPT_CHECK: a->check_only = 1; break;
		case OPT_SEED: a->seed = (unsigned long long)parse_int("--seed", optarg, 1, LLONG_MAX); break;
		case OPT_CONFIG: a->config = optarg; break;
		case OPT_GEOMETRY: a->geometry = 1; break;
		case OPT_CUBIN: a->cubin = optarg; break;
		case OPT_TARGET:
			if (!strcmp(optarg, "i32") || !strcmp(optarg, "int32"))
				a->opts |= KG_XO_I32;
			else if (strcmp(optarg, "i64") && strcmp(optarg, "int64"))
				die_usage("unknown target type '%s' (i32, i64)", optarg);
			break;
		case OPT_WEIGHT: a->opts |= KG_XO_WEIGHT; break;
		case OPT_SMOOTH: a->opts |= KG_XO_SMOOTH; break;
		case OPT_ZLOSS: a->opts |= KG_XO_ZLOSS; break;
		case OPT_SOFTCAP: a->opts |= KG_XO_SOFTCAP; break;
		case 'q': a->quiet = 1; break;
		}
	}
	if (optind < argc)
		die_usage("unexpected argument '%s'", argv[optind]);
	if (!a->op)
		die_usage("missing --op (softmax, log_softmax, xent)");
	if (!gen_family(a->op))
		die_usage("unknown op '%s' (softmax, log_softmax, xent)", a->op);
	if (!a->pass)
		a->pass = !strcmp(gen_family(a->op), "xent") ? "fused" : "fwd";
	if ((a->op_id = kg_op_find(a->op, a->pass)) < 0)
		die_usage("unknown pass '%s' for op '%s' (%s)", a->pass, a->op,
		          !strcmp(gen_family(a->op), "xent") ? "fwd, bwd, fused" : "fwd, bwd");
	if (a->opts && !kg_ops[a->op_id].xent)
		die_usage("--target, --weight, --smooth, --zloss and --softcap apply to xent only");
	if (a->cols == -1)
		die_usage("missing --cols");
	if (a->cols < 1)
		die_usage("--cols must be >= 1 (got %lld)", a->cols);
}

/* Progress: one live line on a terminal, a few plain lines otherwise. */
typedef struct progress {
	int tty, quiet, last_pct;
	const char *last_phase;
} progress;

static void on_progress(void *arg, const char *phase, int done, int total, const char *config)
{
	progress *p = arg;
	int pct = total ? 100 * done / total : 100;
	if (p->quiet)
		return;
	if (p->tty) {
		fprintf(stderr, "\r\033[K[%s %d/%d] %s", phase, done, total, config);
		if (done == total)
			fputc('\n', stderr);
		fflush(stderr);
		return;
	}
	if (p->last_phase != phase) {
		p->last_phase = phase;
		p->last_pct = -1;
	}
	if (pct / 25 != p->last_pct / 25 || done == total) {
		fprintf(stderr, "%s: %d/%d\n", phase, done, total);
		p->last_pct = pct;
	}
}

static int cmd_tune(int argc, char **argv)
{
	args a;
	tune_opts o;
	tune_result res;
	progress pr = {0};
	int rc, shown = 0;
	parse_args(argc, argv, usage_tune,
	           "op pass dtype cols vocab sm rows device cache-dir jobs reps top check-only seed quiet help "
	           "target weight smooth zloss softcap",
	           &a);
	memset(&o, 0, sizeof o);
	o.op = a.op;
	o.pass = a.pass;
	o.opts = a.opts;
	o.dtype = a.dtype;
	o.cols = a.cols;
	o.rows = a.rows;
	o.sm = a.sm;
	o.device = a.device;
	o.cache_dir = a.cache_dir;
	o.jobs = a.jobs;
	o.reps = a.reps;
	o.no_time = a.check_only;
	o.seed = a.seed;
	pr.tty = isatty(2);
	pr.quiet = a.quiet;
	o.progress = on_progress;
	o.progress_arg = &pr;
	if (!a.quiet) {
		char optstr[96];
		kg_opts_string(a.op_id, a.opts, optstr, sizeof optstr);
		fprintf(stderr, "tuning %s %s %s cols=%lld rows=%lld%s%s%s%.0d\n", a.op, a.pass, kg_dtype_names[a.dtype],
		        a.cols, a.rows, strcmp(optstr, "-") ? " " : "", strcmp(optstr, "-") ? optstr : "", a.sm ? " sm_" : "",
		        a.sm);
	}
	rc = tune_run(&o, &res);
	if (rc == KGEN_ENODRIVER || rc == KGEN_ENODEVICE || rc == KGEN_EARCH) {
		if (res.n) {
			fprintf(stderr, "%s: error: %s\n", progname, kgen_last_error());
			tune_result_free(&res);
			return EXIT_NOGPU;
		}
		tune_result_free(&res);
		return fail(rc);
	}
	if (rc) {
		tune_result_free(&res);
		return fail(rc);
	}
	printf("GPU: %s   problem: %s\n", res.gpu, res.key);
	if (res.timed)
		printf("device-to-device copy moving the same bytes (%.1f MB): %.2f us, %.0f GB/s\n", (double)res.bytes / 1e6,
		       res.copy_us, res.copy_gbps);
	printf("%4s  %-44s %10s %10s %9s %7s %5s %6s\n", "rank", "config", "us", "spread", "GB/s", "%copy", "regs",
	       "err");
	for (int i = 0; i < res.n; i++) {
		const tune_trial *t = &res.trials[i];
		if (strcmp(t->status, "ok") && strcmp(t->status, "checked"))
			continue;
		if (shown++ >= a.top)
			continue;
		if (res.timed)
			printf("%4d  %-44s %10.2f %10.2f %9.0f %6.1f%% %5d %6.3f\n", shown, t->config, t->us,
			       t->p90_us - t->p10_us, t->gbps, 100.0 * t->gbps / res.copy_gbps, t->regs, t->max_err);
		else
			printf("%4d  %-44s %10s %10s %9s %7s %5d %6.3f\n", shown, t->config, "-", "-", "-", "-", t->regs,
			       t->max_err);
	}
	int bad = 0;
	for (int i = 0; i < res.n; i++) {
		const tune_trial *t = &res.trials[i];
		if (!strcmp(t->status, "ok") || !strcmp(t->status, "checked"))
			continue;
		if (!bad++)
			printf("rejected:\n");
		printf("  %-44s %s: %s\n", t->config, t->status, t->detail);
	}
	printf("%d variants: %d passed, %d rejected; compiled %d, reused %d cubins (%.1f s); total %.1f s\n", res.n,
	       shown, bad, res.compiled, res.reused, res.compile_s, res.total_s);
	if (res.store_error[0]) {
		fprintf(stderr, "%s: error: %s\n", progname, res.store_error);
		tune_result_free(&res);
		return 1;
	}
	if (res.stored)
		printf("best stored in '%s'\n", res.cache_dir);
	else if (res.timed && shown)
		printf("the cache '%s' already holds a faster record for this problem; kept it\n", res.cache_dir);
	tune_result_free(&res);
	return bad && !shown ? 1 : 0;
}

static int cmd_space(int argc, char **argv)
{
	args a;
	gen *g;
	char **configs;
	int n, rc;
	char optstr[96];
	parse_args(argc, argv, usage_space, "op pass dtype cols vocab sm help target weight smooth zloss softcap", &a);
	if (!a.sm)
		die_usage("missing --sm");
	kg_opts_string(a.op_id, a.opts, optstr, sizeof optstr);
	gen_problem p = {kg_ops[a.op_id].op, a.pass, a.dtype, a.cols, a.sm, optstr};
	if ((rc = gen_open(&g)) || (rc = gen_space(g, &p, &configs, &n)))
		return fail(rc);
	for (int i = 0; i < n; i++) {
		printf("%s\n", configs[i]);
		free(configs[i]);
	}
	free(configs);
	gen_close(g);
	return 0;
}

static int cmd_gen(int argc, char **argv)
{
	args a;
	gen *g;
	gen_variant v;
	int rc;
	char optstr[96];
	parse_args(argc, argv, usage_gen,
	           "op pass dtype cols vocab sm config geometry cubin help target weight smooth zloss softcap", &a);
	if (!a.sm)
		die_usage("missing --sm");
	kg_opts_string(a.op_id, a.opts, optstr, sizeof optstr);
	gen_problem p = {kg_ops[a.op_id].op, a.pass, a.dtype, a.cols, a.sm, optstr};
	if ((rc = gen_open(&g)) || (rc = gen_render(g, &p, a.config, &v)))
		return fail(rc);
	if (a.geometry)
		printf("/* kernel %s: block %u, dynamic smem %u, rows per CTA %u, cluster %u;"
		       " grid = ceil(rows / %u) x %u CTAs%s%s */\n",
		       v.kernel, v.block, v.smem, v.rows_per_cta, v.cluster, v.rows_per_cta, v.cluster,
		       v.prep ? "; first " : "", v.prep ? v.prep : "");
	fputs(v.source, stdout);
	if (a.cubin) {
		void *cubin;
		size_t size;
		char *log = NULL;
		FILE *f;
		if ((rc = kg_compile(v.source, "kgen_gen.cu", a.sm, &cubin, &size, &log))) {
			if (log)
				fputs(log, stderr);
			free(log);
			return fail(rc);
		}
		if (!(f = fopen(a.cubin, "wb")) || fwrite(cubin, 1, size, f) != size || fclose(f)) {
			fprintf(stderr, "%s: error: cannot write '%s'\n", progname, a.cubin);
			free(cubin);
			return 1;
		}
		free(cubin);
	}
	gen_variant_free(&v);
	gen_close(g);
	return 0;
}

static int cmd_version(int argc, char **argv)
{
	int drv = 0;
	(void)argc;
	(void)argv;
	printf("kgen %s\n", KGEN_VERSION_STRING);
	printf("NVRTC %s\n", kg_nvrtc_version());
	if (kg_cu_load() == 0 && kg_cu.cuDriverGetVersion(&drv) == 0)
		printf("CUDA driver %d.%d\n", drv / 1000, drv % 1000 / 10);
	else
		printf("CUDA driver: none (%s)\n", kgen_last_error());
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(int, char **);
} commands[] = {
	{"tune", cmd_tune},
	{"space", cmd_space},
	{"gen", cmd_gen},
	{"pack", pack_main},
	{"version", cmd_version},
};

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage_main, stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		fputs(usage_main, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version"))
		return cmd_version(argc, argv);
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	die_usage("unknown command '%s'", argv[1]);
}
