/* main.c: the kgen command line.
 *
 *   kgen tune   compile, check and time every variant; keep the best
 *   kgen space  list the variants of a problem
 *   kgen gen    print the CUDA source of one variant
 *   kgen pack   export, import, merge, list and verify packs (pack.c)
 *
 * Exit status: 0 success, 1 failure, 2 usage error, 3 compiled but not
 * timed because no GPU of the asked SM is present, 130 (143) stopped by
 * SIGINT (SIGTERM) after keeping the best so far.
 */
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "cache.h"
#include "cli.h"
#include "gen.h"
#include "internal.h"
#include "pack.h"
#include "preset.h"
#include "report.h"
#include "tune.h"

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
	"   or: kgen tune --preset NAME [--shard I/N] [--devices D,...] [--sm SM] [options]\n"
	"   or: kgen tune --preset NAME [--shard I/N] --list\n"
	"\n"
	"Compiles every variant of the problem with NVRTC (in parallel; cubins already in\n"
	"the cache are reused), runs each on the GPU against an fp64 reference on fresh\n"
	"random data, times those that match (L2 flushed, CUDA events, median) beside a\n"
	"device-to-device copy moving the same number of bytes (the fewest the op must\n"
	"move: softmax forward reads and writes each element once, backward reads two\n"
	"tensors, cross-entropy forward reads the logits once, fused and backward read\n"
	"them and write the gradient), and stores the fastest in the cache.\n"
	"Variants are pruned without timing where the template rejects them, their\n"
	"launch geometry exceeds the limits, or once loaded they spill to local memory,\n"
	"cannot launch their block or fit no CTA on a multiprocessor.\n"
	"Each outcome is written to the cache as soon as it is known: a run that was\n"
	"stopped (Ctrl-C, --budget, killed) goes on where it stopped the next time, and a\n"
	"finished problem is not timed again (same GPU, rows and template); --fresh\n"
	"times everything again.\n"
	"Without a GPU of the SM (none, or one of another SM: the message names both), the\n"
	"variants are compiled into the cache and kgen exits 3.\n"
	"\n"
	"%s"
	"options:\n"
	"  --rows N         rows of the timed problem (default 4096); results are kept\n"
	"                   per power-of-two bucket of rows\n"
	"  --device N       CUDA device ordinal (default 0)\n"
	"  --cache-dir DIR  the tuning cache (default as above)\n"
	"  --jobs N         compile threads (default: one per core, shared out among --devices)\n"
	"  --reps N         timed repetitions of the final round (default 50); every variant\n"
	"                   is first timed with 10, the fastest 8 within 10%% again with N\n"
	"  --top N          rows of the result table (default 10)\n"
	"  --check-only     check every variant against the reference; time none and keep\n"
	"                   no result (the compiled cubins still go into the cache)\n"
	"  --budget SECONDS per problem: compile no new variant once this many seconds\n"
	"                   have passed, then check and time no new variant once as many\n"
	"                   have passed on the GPU (the first variants are compiled before\n"
	"                   the timing, the rest while it runs; a list compiles the next\n"
	"                   problem's first while the GPU times one, and that does not\n"
	"                   count); the template's default variant is always timed; the\n"
	"                   best so far is kept and the next run goes on from there\n"
	"  --fresh          time every variant again, ignoring earlier runs' outcomes (a\n"
	"                   stored best whose configuration a run times again is judged\n"
	"                   by that run's times, with or without --fresh)\n"
	"  --keep-current   keep a problem whose best record in the cache (this GPU's model,\n"
	"                   the rows) is whole and was made by this build's template in a\n"
	"                   finished search: nothing is compiled or timed for it (status\n"
	"                   'kept'). After 'kgen pack import' of the last pack, a preset run\n"
	"                   tunes only the problems whose template changed since and those\n"
	"                   the pack lacks\n"
	"  --prior PACK     where PACK holds a record of the problem (this GPU's model, the\n"
	"                   rows), of any template or kgen version (the pack of the build\n"
	"                   before a template change), time its configuration right after\n"
	"                   the default and stop once --prior-top variants have a time\n"
	"                   (unless a twin's ranking names the leaders, below): a re-tune\n"
	"                   for a change that keeps the ranking, in a fraction of the time\n"
	"  --prior-top N    variants timed with --prior (default 8)\n"
	"  --prior-add K=V  with --prior: also time every variant whose configuration sets\n"
	"                   K=V, right after the prior's record, on top of --prior-top (a\n"
	"                   strategy or exchange new since the prior pack, which the prior's\n"
	"                   ranking cannot name; e.g. xchg=global); repeat for more (at most 8)\n"
	"  --only CONFIG    time only this variant (a whole configuration, as 'kgen space'\n"
	"                   lists it); repeat for more (at most 64). No early stop;\n"
	"                   nothing is stored as the problem's best and no trial record\n"
	"                   is written: for timing given variants side by side in one\n"
	"                   run (with --fresh, not earlier runs' outcomes), e.g. two\n"
	"                   packs' choices (scripts/pack_retime.sh)\n"
	"  --store          with --only: store the fastest of the variants asked for as\n"
	"                   the problem's best, replacing the cache's record whatever its\n"
	"                   time (the side-by-side timing decides: a pack checked against\n"
	"                   another keeps the faster choice of each problem)\n"
	"  --near-copy PCT  early stop: once a variant is within PCT%% of the time of the\n"
	"                   copy of the same bytes (default 1), time no more variants; for\n"
	"                   ops that write what they read (not xent fwd) where the copy\n"
	"                   takes 50 us or more\n"
	"  --full           time the whole space: no early stop (above, and: once the\n"
	"                   first 8 of a finished ranking of the problem in a dtype of the\n"
	"                   same size, bf16 <-> f16 (its whole space timed, or what its\n"
	"                   --budget allowed), have a time, time no more); either way the\n"
	"                   default goes first, then the variants that ranked best in the\n"
	"                   related problems in the cache (other dtypes, widths within 2x)\n"
	"  --json           one JSON object per problem on stdout (one line each); the\n"
	"                   tables and progress go to stderr\n"
	"  --seed N         seed of the random test data (default: from the clock)\n"
	"  -q, --quiet      no progress\n"
	"  -h, --help       this text\n"
	"lists of problems:\n"
	"%s" /* --preset NAME: preset_usage() */
	"  --list           print the problems (of the shard) and exit\n"
	"  --shard I/N      only the problems i with i %% N == I (0 <= I < N), for job arrays\n"
	"  --devices D,...  one worker per GPU (CUDA ordinals, e.g. 0,1,2,3); the problems\n"
	"                   go to whichever worker is free; lines name the device\n"
	"\n"
	"exit status: 0 tuned, 1 failed, 2 usage error, 3 compiled but no GPU to time on,\n"
	"130 stopped by Ctrl-C (the variant at hand is finished and the best kept; a\n"
	"second Ctrl-C quits at once)\n";

static const char usage_space[] =
	"usage: kgen space --op OP --cols N [--dtype T] --sm SM [--json]\n"
	"\n"
	"Lists the valid configurations of the problem, one per line (with --json, one\n"
	"JSON object: the problem, the template's default and the configurations).\n"
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

/* The --preset paragraph of usage_tune, from the preset lists. */
static void preset_usage(char *out, size_t len)
{
	char text[3072];
	int n = snprintf(text, sizeof text, "tune every problem of a list instead of --op/--cols: ");
	preset_help(text + n, sizeof text - (size_t)n);
	cli_wrap(out, len, "  --preset NAME    ", text, 80);
}

enum {
	OPT_OP = 1000, OPT_PASS, OPT_DTYPE, OPT_COLS, OPT_SM, OPT_ROWS, OPT_DEVICE, OPT_CACHE, OPT_JOBS,
	OPT_REPS, OPT_TOP, OPT_CHECK, OPT_SEED, OPT_CONFIG, OPT_GEOMETRY, OPT_TARGET, OPT_WEIGHT, OPT_SMOOTH,
	OPT_ZLOSS, OPT_SOFTCAP, OPT_CUBIN, OPT_BUDGET, OPT_FRESH, OPT_JSON, OPT_PRESET, OPT_LIST, OPT_SHARD,
	OPT_DEVICES, OPT_FULL, OPT_NEAR_COPY, OPT_KEEP_CURRENT, OPT_PRIOR, OPT_PRIOR_TOP, OPT_ONLY, OPT_STORE,
	OPT_PRIOR_ADD
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
	{"budget", required_argument, NULL, OPT_BUDGET},
	{"fresh", no_argument, NULL, OPT_FRESH},
	{"keep-current", no_argument, NULL, OPT_KEEP_CURRENT},
	{"json", no_argument, NULL, OPT_JSON},
	{"preset", required_argument, NULL, OPT_PRESET},
	{"list", no_argument, NULL, OPT_LIST},
	{"shard", required_argument, NULL, OPT_SHARD},
	{"devices", required_argument, NULL, OPT_DEVICES},
	{"full", no_argument, NULL, OPT_FULL},
	{"near-copy", required_argument, NULL, OPT_NEAR_COPY},
	{"prior", required_argument, NULL, OPT_PRIOR},
	{"only", required_argument, NULL, OPT_ONLY},
	{"store", no_argument, NULL, OPT_STORE},
	{"prior-top", required_argument, NULL, OPT_PRIOR_TOP},
	{"prior-add", required_argument, NULL, OPT_PRIOR_ADD},
	{"quiet", no_argument, NULL, 'q'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

#define MAX_DEVICES 64
#define MAX_ONLY 64
#define MAX_PRIOR_ADD 8

typedef struct args {
	const char *op, *pass, *config, *cache_dir, *cubin, *preset, *prior;
	int dtype, sm, device, jobs, reps, top, check_only, quiet, geometry, op_id, prior_top;
	int dtype_set, device_set, fresh, keep_current, json, list, shard, shards;
	int devices[MAX_DEVICES], ndevices;
	const char *only[MAX_ONLY];
	int n_only, store;
	const char *prior_add[MAX_PRIOR_ADD];
	int n_prior_add;
	unsigned opts;
	long long cols, rows;
	double budget, near_copy;
	int full;
	unsigned long long seed;
} args;

/* --sm must be an SM this NVRTC can target (nvrtcGetSupportedArchs):
 * another is refused up front, in NVRTC's own words (its log for an empty
 * program compiled for that SM). Without NVRTC nothing is checked here:
 * the command says later that NVRTC is missing. */
static void check_sm(int sm)
{
	char list[1024] = "", arch[48], why[512] = "";
	const char *opts[1] = {arch};
	int n = 0, *archs, ok = 0;
	nvrtcProgram prog;
	size_t len = 0;
	if (kg_nvrtc_load() || kg_nvrtc.nvrtcGetNumSupportedArchs(&n) != NVRTC_SUCCESS || n < 1 ||
	    !(archs = calloc((size_t)n, sizeof *archs)))
		return;
	if (kg_nvrtc.nvrtcGetSupportedArchs(archs) != NVRTC_SUCCESS) {
		free(archs);
		return;
	}
	for (int i = 0; i < n; i++) {
		size_t l = strlen(list);
		ok |= archs[i] == sm;
		snprintf(list + l, sizeof list - l, "%ssm_%d", i ? " " : "", archs[i]);
	}
	free(archs);
	if (ok)
		return;
	snprintf(arch, sizeof arch, "--gpu-architecture=sm_%d", sm);
	if (kg_nvrtc.nvrtcCreateProgram(&prog, "", "sm_check.cu", 0, NULL, NULL) == NVRTC_SUCCESS) {
		nvrtcResult r = kg_nvrtc.nvrtcCompileProgram(prog, 1, opts);
		if (r != NVRTC_SUCCESS && kg_nvrtc.nvrtcGetProgramLogSize(prog, &len) == NVRTC_SUCCESS && len > 1 &&
		    len < sizeof why && kg_nvrtc.nvrtcGetProgramLog(prog, why) == NVRTC_SUCCESS) {
			why[strcspn(why, "\n")] = 0; /* its first line */
		} else {
			snprintf(why, sizeof why, "%s", kg_nvrtc.nvrtcGetErrorString(r != NVRTC_SUCCESS ? r : NVRTC_ERROR_INVALID_OPTION));
		}
		kg_nvrtc.nvrtcDestroyProgram(&prog);
	}
	cli_die_usage("--sm %d: NVRTC %s cannot target sm_%d: %s (it targets %s)", sm, kg_nvrtc_version(), sm,
	          why[0] ? why : "not among its architectures", list);
}

/* "0,1,3": distinct CUDA ordinals. */
static void parse_devices(const char *s, args *a)
{
	const char *p = s;
	a->ndevices = 0;
	for (;;) {
		char *end;
		long d = strtol(p, &end, 10);
		if (end == p || *p < '0' || *p > '9' || (*end && *end != ',') || d > 1023)
			cli_die_usage("--devices needs CUDA device ordinals like 0,1,2, not '%s'", s);
		for (int i = 0; i < a->ndevices; i++)
			if (a->devices[i] == d)
				cli_die_usage("--devices names device %ld twice", d);
		if (a->ndevices == MAX_DEVICES)
			cli_die_usage("--devices takes at most %d devices", MAX_DEVICES);
		a->devices[a->ndevices++] = (int)d;
		if (!*end)
			return;
		p = end + 1;
	}
}

/* The options' defaults. */
static void args_init(args *a)
{
	memset(a, 0, sizeof *a);
	a->pass = NULL;
	a->dtype = KGEN_BF16;
	a->rows = 4096;
	a->cols = -1;
	a->top = 10;
}

/* --help: the command's usage (tune's with the presets' table). */
static void print_usage(const char *usage)
{
	if (usage == usage_tune) {
		char presets[4096];
		preset_usage(presets, sizeof presets);
		printf(usage, usage_problem, presets);
	} else {
		printf(usage, usage_problem);
	}
	exit(0);
}

/* The options that name the problem (op, pass, dtype, columns, SM and the
 * cross-entropy options): 1 when c is one of them. */
static int problem_opt(int c, args *a)
{
	switch (c) {
	case OPT_OP: a->op = optarg; break;
	case OPT_PASS: a->pass = optarg; break;
	case OPT_DTYPE:
		if ((a->dtype = kg_dtype_parse(optarg)) < 0)
			cli_die_usage("unknown dtype '%s' (f32, f16, bf16)", optarg);
		a->dtype_set = 1;
		break;
	case OPT_COLS:
		a->cols = cli_int("--cols", optarg, LLONG_MIN, INT32_MAX);
		if (a->cols < 1)
			cli_die_usage("--cols must be >= 1 (got %lld)", a->cols);
		break;
	case OPT_SM:
		a->sm = (int)cli_int("--sm", optarg, 50, 200);
		check_sm(a->sm);
		break;
	case OPT_TARGET:
		if (!strcmp(optarg, "i32") || !strcmp(optarg, "int32"))
			a->opts |= KG_XO_I32;
		else if (strcmp(optarg, "i64") && strcmp(optarg, "int64"))
			cli_die_usage("unknown target type '%s' (i32, i64)", optarg);
		break;
	case OPT_WEIGHT: a->opts |= KG_XO_WEIGHT; break;
	case OPT_SMOOTH: a->opts |= KG_XO_SMOOTH; break;
	case OPT_ZLOSS: a->opts |= KG_XO_ZLOSS; break;
	case OPT_SOFTCAP: a->opts |= KG_XO_SOFTCAP; break;
	default: return 0;
	}
	return 1;
}

/* The numeric options of a run (rows, device, jobs, reps, top, seed, the
 * budget and the copy's margin): 1 when c is one of them. */
static int number_opt(int c, args *a)
{
	switch (c) {
	case OPT_ROWS: a->rows = cli_int("--rows", optarg, 1, INT32_MAX); break;
	case OPT_DEVICE:
		a->device = (int)cli_int("--device", optarg, 0, 1023);
		a->device_set = 1;
		break;
	case OPT_JOBS: a->jobs = (int)cli_int("--jobs", optarg, 1, 64); break;
	case OPT_REPS: a->reps = (int)cli_int("--reps", optarg, 1, 1000); break;
	case OPT_TOP: a->top = (int)cli_int("--top", optarg, 1, 100000); break;
	case OPT_PRIOR_TOP: a->prior_top = (int)cli_int("--prior-top", optarg, 2, 100000); break;
	case OPT_SEED: a->seed = (unsigned long long)cli_int("--seed", optarg, 1, LLONG_MAX); break;
	case OPT_BUDGET: {
		char *end;
		a->budget = strtod(optarg, &end);
		if (!*optarg || *end || !isfinite(a->budget))
			cli_die_usage("--budget needs a number of seconds, not '%s'", optarg);
		if (a->budget <= 0)
			cli_die_usage("--budget must be > 0 (got %s)", optarg);
		break;
	}
	case OPT_NEAR_COPY: {
		char *end;
		a->near_copy = strtod(optarg, &end);
		if (!*optarg || *end || !isfinite(a->near_copy) || a->near_copy <= 0 || a->near_copy > 100)
			cli_die_usage("--near-copy needs a percentage in (0, 100], not '%s'", optarg);
		break;
	}
	default: return 0;
	}
	return 1;
}

/* The rest: switches, paths and names, the preset and the devices. */
static void other_opt(int c, args *a)
{
	switch (c) {
	case OPT_CACHE: a->cache_dir = optarg; break;
	case OPT_CHECK: a->check_only = 1; break;
	case OPT_CONFIG: a->config = optarg; break;
	case OPT_GEOMETRY: a->geometry = 1; break;
	case OPT_CUBIN: a->cubin = optarg; break;
	case OPT_FRESH: a->fresh = 1; break;
	case OPT_PRIOR: a->prior = optarg; break;
	case OPT_STORE: a->store = 1; break;
	case OPT_ONLY:
		if (a->n_only == MAX_ONLY)
			cli_die_usage("at most %d --only", MAX_ONLY);
		for (int k = 0; k < a->n_only; k++)
			if (!strcmp(a->only[k], optarg))
				cli_die_usage("--only '%s' given twice", optarg);
		a->only[a->n_only++] = optarg;
		break;
	case OPT_PRIOR_ADD: {
		const char *eq = strchr(optarg, '=');
		if (!eq || eq == optarg || !eq[1] || strchr(optarg, ','))
			cli_die_usage("--prior-add takes one KEY=VALUE of a configuration (e.g. xchg=global), not '%s'",
			              optarg);
		if (a->n_prior_add == MAX_PRIOR_ADD)
			cli_die_usage("at most %d --prior-add", MAX_PRIOR_ADD);
		a->prior_add[a->n_prior_add++] = optarg;
		break;
	}
	case OPT_KEEP_CURRENT: a->keep_current = 1; break;
	case OPT_FULL: a->full = 1; break;
	case OPT_JSON: a->json = 1; break;
	case OPT_PRESET: a->preset = optarg; break;
	case OPT_LIST: a->list = 1; break;
	case OPT_SHARD:
		if (preset_parse_shard(optarg, &a->shard, &a->shards))
			cli_die_usage("--shard needs I/N with 0 <= I < N, not '%s'", optarg);
		break;
	case OPT_DEVICES: parse_devices(optarg, a); break;
	case 'q': a->quiet = 1; break;
	}
}

/* With --preset: a known preset, and no option that names a problem. */
static void check_preset_args(const args *a)
{
	tune_problem *list;
	int n;
	if (preset_get(a->preset, &list, &n)) {
		char names[256];
		preset_names(names, sizeof names);
		cli_die_usage("unknown preset '%s' (%s)", a->preset, names);
	}
	free(list);
	if (a->op || a->pass || a->cols != -1 || a->dtype_set || a->opts)
		cli_die_usage("--preset takes no --op, --pass, --dtype, --cols or cross-entropy options");
}

/* Without --preset: the problem complete (the pass defaulted) and known. */
static void check_problem_args(args *a)
{
	if (!a->op)
		cli_die_usage("missing --op (softmax, log_softmax, xent)");
	if (!gen_family(a->op))
		cli_die_usage("unknown op '%s' (softmax, log_softmax, xent)", a->op);
	if (!a->pass)
		a->pass = !strcmp(gen_family(a->op), "xent") ? "fused" : "fwd";
	if ((a->op_id = kg_op_find(a->op, a->pass)) < 0)
		cli_die_usage("unknown pass '%s' for op '%s' (%s)", a->pass, a->op,
		          !strcmp(gen_family(a->op), "xent") ? "fwd, bwd, fused" : "fwd, bwd");
	if (a->opts && !kg_ops[a->op_id].xent)
		cli_die_usage("--target, --weight, --smooth, --zloss and --softcap apply to xent only");
	if (a->cols == -1)
		cli_die_usage("missing --cols");
	if (a->cols < 1)
		cli_die_usage("--cols must be >= 1 (got %lld)", a->cols);
}

/* Parse the options of a subcommand; "allowed" is the set the command takes. */
static void parse_args(int argc, char **argv, const char *usage, const char *allowed, args *a)
{
	int c;
	args_init(a);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":qh", long_opts, NULL)) != -1) {
		const char *name = NULL;
		for (const struct option *o = long_opts; o->name; o++)
			if (o->val == c)
				name = o->name;
		if (c == '?')
			cli_die_usage("unknown option '%s'", argv[optind - 1]);
		if (c == ':')
			cli_die_usage("option '%s' needs a value", argv[optind - 1]);
		if (c == 'h')
			print_usage(usage);
		if (name && !cli_word_in(allowed, name))
			cli_die_usage("option '--%s' does not apply to '%s'", name, argv[0]);
		if (!problem_opt(c, a) && !number_opt(c, a))
			other_opt(c, a);
	}
	if (optind < argc)
		cli_die_usage("unexpected argument '%s'", argv[optind]);
	if (a->shards && !a->preset)
		cli_die_usage("--shard applies to --preset only");
	if (a->list && !a->preset)
		cli_die_usage("--list applies to --preset only");
	if (a->ndevices && a->device_set)
		cli_die_usage("give --device or --devices, not both");
	if (a->fresh && a->keep_current)
		cli_die_usage("give --fresh or --keep-current, not both");
	if (a->check_only && a->keep_current)
		cli_die_usage("give --check-only or --keep-current, not both");
	if (a->prior && (a->check_only || a->full))
		cli_die_usage("--prior times a few variants: not with %s", a->check_only ? "--check-only" : "--full");
	if (a->prior_top && !a->prior)
		cli_die_usage("--prior-top applies to --prior only");
	if (a->n_prior_add && !a->prior)
		cli_die_usage("--prior-add applies to --prior only");
	if (a->n_only && (a->preset || a->prior || a->keep_current))
		cli_die_usage("--only names variants of one problem: not with %s",
		              a->preset ? "--preset" : a->prior ? "--prior" : "--keep-current");
	if (a->store && !a->n_only)
		cli_die_usage("--store applies to --only");
	if (a->n_only && a->near_copy)
		cli_die_usage("--only times every variant asked for: not with --near-copy");
	if (a->preset)
		check_preset_args(a);
	else
		check_problem_args(a);
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

/* Ctrl-C (SIGINT) or SIGTERM: finish the variant at hand, keep the best so
 * far, exit 128 + the signal; the same signal again ends the process now. */
static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	static const char m[] = "\nkgen: stopping after the variant at hand (again to quit now)\n";
	if (stop_signal) {
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	stop_signal = sig;
	if (write(2, m, sizeof m - 1) < 0)
		stop_signal = sig;
}

static void catch_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* One run of 'kgen tune': a problem or a list, on one GPU or several. */
typedef struct tune_cli {
	const args *a;
	report_item *items;
	int n, finished;
	int single;     /* one problem: the full table */
	FILE *human;    /* stdout, or stderr under --json */
	progress pr;
	double t0;
} tune_cli;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fmt_secs(char *buf, size_t len, double s)
{
	if (s < 60)
		snprintf(buf, len, "%.0fs", s);
	else if (s < 3600)
		snprintf(buf, len, "%dm%02ds", (int)s / 60, (int)s % 60);
	else
		snprintf(buf, len, "%dh%02dm", (int)s / 3600, (int)s % 3600 / 60);
}

static void cli_progress(void *arg, int device, const char *phase, int done, int total, const char *config)
{
	tune_cli *t = arg;
	(void)device;
	on_progress(&t->pr, phase, done, total, config);
}

static void cli_done(void *arg, int device, int i, int rc, const char *error, const tune_result *res)
{
	tune_cli *t = arg;
	const args *a = t->a;
	report_item *it = &t->items[i];
	report_item_set(it, &it->p, it->p.rows ? it->p.rows : a->rows, a->ndevices ? device : -1, rc, error, res);
	t->finished++;
	if (a->json)
		report_json(stdout, it, a->n_only ? res : NULL); /* --only: each variant's time */
	if (t->single) {
		if (res->kept) {
			fprintf(t->human, "kept the record in '%s': %s %.2f us, %.0f GB/s (tuned with this template before; "
			        "--keep-current)\n", res->cache_dir, it->best.config, it->best.us, it->best.gbps);
			return;
		}
		if (res->n && (!rc || !strcmp(it->status, "untimed") || !strcmp(it->status, "stopped"))) {
			if (!res->timed)
				fprintf(t->human, "GPU: none   problem: %s\n", res->key);
			else
				report_table(t->human, res, a->top);
			report_counts(t->human, it, a->budget);
		}
		return;
	}
	if (a->quiet)
		return;
	double el = now_s() - t->t0;
	char sel[32], seta[32];
	fmt_secs(sel, sizeof sel, el);
	fmt_secs(seta, sizeof seta, el / t->finished * (t->n - t->finished));
	FILE *f = a->json ? stderr : t->human;
	if (a->ndevices)
		fprintf(f, "[gpu %d] ", device);
	fprintf(f, "[%d/%d] ", t->finished, t->n);
	report_line(f, it);
	fprintf(f, " (%.1f s; elapsed %s, ETA %s)\n", it->res.total_s, sel, seta);
	fflush(f);
}

static void cli_start(void *arg, int device, int i)
{
	tune_cli *t = arg;
	char name[160];
	if (t->single || t->a->quiet || !t->pr.tty)
		return;
	problem_name(&t->items[i].p, name, sizeof name);
	if (t->a->ndevices)
		fprintf(stderr, "[gpu %d] ", device);
	fprintf(stderr, "%s ...\n", name);
}

/* The problems of a run: those of --preset (of its shard), with each one's
 * index in the preset in *orig, or the one of --op and --cols (*problems
 * is then one). 0, or KGEN_ENOMEM. */
static int tune_problems(const args *a, tune_problem *one, tune_problem **problems, int **orig, int *n)
{
	*orig = NULL;
	*n = 1;
	if (!a->preset) {
		*one = (tune_problem){a->op_id, a->opts, a->dtype, a->cols, 0};
		*problems = one;
		return 0;
	}
	preset_get(a->preset, problems, n);
	if (!(*orig = malloc(sizeof **orig * (size_t)(*n ? *n : 1)))) {
		free(*problems);
		*problems = NULL;
		return KGEN_ENOMEM;
	}
	for (int i = 0; i < *n; i++)
		(*orig)[i] = i;
	if (a->shards)
		preset_shard(*problems, n, a->shard, a->shards, *orig);
	return 0;
}

/* --list: the problems, one per line (--json: one object each). */
static void list_problems(const args *a, const tune_problem *problems, const int *orig, int n)
{
	char optstr[96];
	for (int i = 0; i < n; i++) {
		const kg_opinfo *info = &kg_ops[problems[i].op];
		kg_opts_string(problems[i].op, problems[i].opts, optstr, sizeof optstr);
		long long rows = problems[i].rows ? problems[i].rows : a->rows;
		if (a->json)
			printf("{\"index\":%d,\"op\":\"%s\",\"pass\":\"%s\",\"dtype\":\"%s\",\"cols\":%lld,"
			       "\"rows\":%lld,\"options\":\"%s\"}\n",
			       orig[i], info->op, info->pass, kg_dtype_names[problems[i].dtype], problems[i].cols, rows,
			       optstr);
		else if (problems[i].rows) /* rows of its own: after the cols, as rows=N */
			printf("%d %s %s %s %lld rows=%lld\n", orig[i], info->op, info->pass,
			       kg_dtype_names[problems[i].dtype], problems[i].cols, rows);
		else
			printf("%d %s %s %s %lld\n", orig[i], info->op, info->pass, kg_dtype_names[problems[i].dtype],
			       problems[i].cols);
	}
}

/* What is checked before a run starts: without --sm, a driver to take the
 * SM from (said once, not per problem); every ordinal of --devices present
 * where there is a driver (without one, the workers compile and the run
 * exits 3). 0, or 1 with the error printed. */
static int check_devices(const args *a)
{
	if (!a->sm && kg_cu_load())
		return cli_error("no GPU to take the SM from (%s): give --sm", kgen_last_error());
	if (a->ndevices && kg_cu_load() == 0) {
		int count = 0;
		kg_cu.cuDeviceGetCount(&count);
		for (int i = 0; i < a->ndevices; i++)
			if (a->devices[i] >= count)
				return cli_error("no CUDA device %d (this machine has %d)", a->devices[i], count);
	}
	return 0;
}

/* The options every problem of the run shares. */
static void tune_opts_of(const args *a, tune_opts *o)
{
	memset(o, 0, sizeof *o);
	o->rows = a->rows;
	o->sm = a->sm;
	o->device = a->device;
	o->cache_dir = a->cache_dir;
	o->jobs = a->jobs;
	o->reps = a->reps;
	o->no_time = a->check_only;
	o->fresh = a->fresh;
	o->keep_current = a->keep_current;
	o->budget_s = a->budget;
	o->full = a->full || a->n_only > 0; /* --only: every variant asked for is timed */
	o->near_copy_pct = a->near_copy;
	o->prior_top = a->prior_top;
	o->prior_add = a->prior_add;
	o->n_prior_add = a->n_prior_add;
	o->only = a->only;
	o->n_only = a->n_only;
	o->only_store = a->store;
	o->seed = a->seed;
	o->stop = &stop_signal;
}

/* The run's state, one report item per problem: 0, or KGEN_ENOMEM. */
static int tune_cli_init(tune_cli *t, const args *a, const tune_problem *problems, int n)
{
	memset(t, 0, sizeof *t);
	t->a = a;
	t->n = n;
	t->single = !a->preset;
	t->human = a->json ? stderr : stdout;
	t->pr.tty = isatty(2);
	t->pr.quiet = a->quiet;
	t->t0 = now_s();
	if (!(t->items = calloc((size_t)n, sizeof *t->items)))
		return KGEN_ENOMEM;
	for (int i = 0; i < n; i++)
		t->items[i].p = problems[i];
	return 0;
}

/* "tuning softmax fwd bf16 cols=... rows=..." or "tuning N problems of
 * preset '...'" on stderr (not with --quiet). */
static void announce(const args *a, const tune_problem *problems, int n)
{
	char optstr[96];
	if (a->quiet)
		return;
	if (!a->preset) {
		kg_opts_string(a->op_id, a->opts, optstr, sizeof optstr);
		fprintf(stderr, "tuning %s %s %s cols=%lld rows=%lld%s%s%s%.0d\n", a->op, a->pass, kg_dtype_names[a->dtype],
		        a->cols, a->rows, strcmp(optstr, "-") ? " " : "", strcmp(optstr, "-") ? optstr : "",
		        a->sm ? " sm_" : "", a->sm);
		return;
	}
	fprintf(stderr, "tuning %d problems of preset '%s'", n, a->preset);
	if (a->shards)
		fprintf(stderr, " (shard %d/%d)", a->shard, a->shards);
	int own = 0;
	for (int i = 0; i < n; i++)
		own += problems[i].rows != 0;
	fprintf(stderr, ", rows=%lld%s%s%.0d\n", a->rows, own ? " (or the problem's own)" : "", a->sm ? " sm_" : "",
	        a->sm);
}

/* Tune the problems over the workers, reporting through t; Ctrl-C and
 * SIGTERM stop it. 0, or a KGEN_E* code. */
static int run_tune(tune_cli *t, const tune_opts *o, tune_problem *problems, int n)
{
	const args *a = t->a;
	batch_opts b = {
		.base = o, .problems = problems, .n = n, .devices = a->ndevices ? a->devices : NULL,
		.ndevices = a->ndevices, .on_start = cli_start, .on_done = cli_done,
		/* per-variant progress: for one problem, or one live line of a list */
		.progress = t->single || (t->pr.tty && a->ndevices <= 1) ? cli_progress : NULL, .arg = t,
	};
	catch_signals();
	return batch_run(&b);
}

/* One problem's outcome: its error, or where the best went; the exit status. */
static int report_single(const tune_cli *t)
{
	const report_item *it = &t->items[0];
	if (!it->done)
		return stop_signal ? 128 + stop_signal : 1;
	if (!strcmp(it->status, "untimed")) {
		cli_error("%s", it->error);
		return EXIT_NOGPU;
	}
	if (!strcmp(it->status, "failed")) {
		cli_error("%s", it->error[0] ? it->error : kgen_strerror(it->rc));
		return it->rc == KGEN_EINVAL ? EXIT_USAGE : 1;
	}
	if (it->res.store_error[0]) {
		cli_error("%s", it->res.store_error);
		return 1;
	}
	if (it->res.kept) /* cli_done said it */
		return 0;
	if (it->res.stored)
		fprintf(t->human, "best stored in '%s'%s\n", it->res.cache_dir,
		        t->a->store ? " (the fastest of the variants asked for, --store)" : "");
	else if (t->a->n_only && it->res.timed)
		fprintf(t->human, "the variants asked for (--only) timed; nothing stored as the best, no trial record "
		                  "written\n");
	else if (it->res.timed && it->has_best)
		fprintf(t->human, "the cache '%s' already holds this record or a faster one; kept it\n", it->res.cache_dir);
	return !strcmp(it->status, "stopped") ? 128 + (stop_signal ? stop_signal : SIGINT) : 0;
}

/* A list's outcome: the summary, then the worst outcome decides the exit
 * status. */
static int report_list(const tune_cli *t)
{
	const args *a = t->a;
	int n = t->n, failed = 0, untimed = 0, stopped = 0, kept = 0;
	char keptstr[48] = "";
	for (int i = 0; i < n; i++) {
		const report_item *it = &t->items[i];
		kept += it->done && !strcmp(it->status, "kept");
		failed += it->done && !strcmp(it->status, "failed");
		untimed += it->done && !strcmp(it->status, "untimed");
		stopped += !it->done || !strcmp(it->status, "stopped");
	}
	if (!a->quiet)
		report_summary(t->human, t->items, n);
	if (a->keep_current)
		snprintf(keptstr, sizeof keptstr, ", %d kept", kept);
	if (!a->quiet || failed)
		fprintf(stderr, "%d problems: %d tuned%s, %d failed, %d compiled but not timed, %d not finished; %.1f s\n", n,
		        n - failed - untimed - stopped - kept, keptstr, failed, untimed, stopped, now_s() - t->t0);
	if (untimed && !failed && !stop_signal) {
		for (int i = 0; i < n; i++)
			if (t->items[i].done && !strcmp(t->items[i].status, "untimed")) {
				cli_error("%d problems compiled but not timed; the first: %s", untimed, t->items[i].error);
				break;
			}
	}
	return stop_signal ? 128 + stop_signal : failed ? 1 : untimed ? EXIT_NOGPU : 0;
}

static int cmd_tune(int argc, char **argv)
{
	args a;
	tune_opts o;
	tune_cli t;
	cache *prior = NULL;
	tune_problem *problems = NULL, one;
	int *orig = NULL, n = 1, rc, status;
	parse_args(argc, argv, usage_tune,
	           "op pass dtype cols vocab sm rows device cache-dir jobs reps top check-only seed quiet help "
	           "target weight smooth zloss softcap budget fresh keep-current json preset list shard devices full near-copy "
	           "prior prior-top prior-add only store",
	           &a);
	if ((rc = tune_problems(&a, &one, &problems, &orig, &n)))
		return cli_fail(rc);
	if (a.list) {
		list_problems(&a, problems, orig, n);
		status = 0;
	} else if (check_devices(&a)) {
		status = 1;
	} else if (a.prior && kg_pack_open(&prior, a.prior)) {
		status = cli_error("--prior: %s", kgen_last_error());
	} else if ((rc = tune_cli_init(&t, &a, problems, n))) {
		status = cli_fail(rc);
	} else {
		tune_opts_of(&a, &o);
		o.prior = prior;
		announce(&a, problems, n);
		if ((rc = run_tune(&t, &o, problems, n)))
			status = cli_fail(rc);
		else
			status = t.single ? report_single(&t) : report_list(&t);
		free(t.items);
	}
	cache_close(prior);
	if (problems != &one)
		free(problems);
	free(orig);
	return status;
}

static int cmd_space(int argc, char **argv)
{
	args a;
	gen *g;
	char **configs;
	int n, rc;
	char optstr[96];
	parse_args(argc, argv, usage_space, "op pass dtype cols vocab sm help target weight smooth zloss softcap json",
	           &a);
	if (!a.sm)
		cli_die_usage("missing --sm");
	kg_opts_string(a.op_id, a.opts, optstr, sizeof optstr);
	gen_problem p = {kg_ops[a.op_id].op, a.pass, a.dtype, a.cols, a.sm, optstr};
	if ((rc = gen_open(&g)))
		return cli_fail(rc);
	if ((rc = gen_space(g, &p, &configs, &n))) {
		gen_close(g);
		return cli_fail(rc);
	}
	if (a.json) {
		char *dflt = NULL;
		gen_default(g, &p, &dflt);
		printf("{\"op\":\"%s\",\"pass\":\"%s\",\"dtype\":\"%s\",\"cols\":%lld,\"sm\":%d,\"options\":\"%s\","
		       "\"default\":",
		       kg_ops[a.op_id].op, kg_ops[a.op_id].pass, kg_dtype_names[a.dtype], a.cols, a.sm, optstr);
		cli_json_str(stdout, dflt ? dflt : "");
		printf(",\"variants\":%d,\"configs\":[", n);
		free(dflt);
	}
	for (int i = 0; i < n; i++) {
		if (a.json) {
			printf("%s", i ? "," : "");
			cli_json_str(stdout, configs[i]);
		} else {
			printf("%s\n", configs[i]);
		}
		free(configs[i]);
	}
	if (a.json)
		printf("]}\n");
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
		cli_die_usage("missing --sm");
	kg_opts_string(a.op_id, a.opts, optstr, sizeof optstr);
	gen_problem p = {kg_ops[a.op_id].op, a.pass, a.dtype, a.cols, a.sm, optstr};
	if ((rc = gen_open(&g)))
		return cli_fail(rc);
	if ((rc = gen_render(g, &p, a.config, &v))) {
		gen_close(g); /* every path out frees what it made */
		return cli_fail(rc);
	}
	if (a.geometry)
		printf("/* kernel %s: block %u, dynamic smem %u, rows per CTA %u, cluster %u;"
		       " grid = ceil(rows / %u) x %u CTAs%s%s%s%s%s%s */\n",
		       v.kernel, v.block, v.smem, v.rows_per_cta, v.cluster, v.rows_per_cta, v.cluster,
		       v.persist ? ", at most " : "", v.persist ? "persist x the SMs (persistent)" : "",
		       v.prep ? "; first " : "", v.prep ? v.prep : "", v.finish ? "; after it, for a reduced loss, " : "",
		       v.finish ? v.finish : "");
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
			rc = cli_fail(rc);
			goto out;
		}
		int bad = !(f = fopen(a.cubin, "wb"));
		if (f) {
			bad = fwrite(cubin, 1, size, f) != size;
			bad = (fclose(f) != 0) || bad; /* closed either way */
		}
		if (bad) {
			cli_error("cannot write '%s'", a.cubin);
			free(cubin);
			rc = 1;
			goto out;
		}
		free(cubin);
	}
	rc = 0;
out:
	gen_variant_free(&v);
	gen_close(g);
	return rc;
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
	cli_die_usage("unknown command '%s'", argv[1]);
}
