#!/usr/bin/env bash
# test_sass.sh KGEN: what the machine code of the generated kernels must show
# (cuobjdump --dump-sass on cubins NVRTC makes for sm_90; no GPU needed):
#   - the default variant of every op at 8192 columns, bf16: 16-byte global
#     loads (LDG.E.128), no local-memory spills (LDL/STL);
#   - a cluster variant: the cluster barrier (UCGABAR_ARV / UCGABAR_WAIT),
#     generic loads through the distributed-shared-memory window (LD.E),
#     no spills;
#   - a tma variant (a cluster of CTAs staging their slices): the bulk copy
#     global -> shared (UBLKCP.S.G), the mbarrier's transaction arrive and
#     wait (SYNCS.ARRIVE.TRANS64, SYNCS.PHASECHK), 16-byte shared loads, and
#     no 16-byte global loads of the row; a cpasync variant: LDGSTS.E.BYPASS.128;
#     neither spills;
#   - a persistent double-buffered tma variant (a cluster walking over rows,
#     the next row's bulk copies issued before this row's reductions): bulk
#     copies in two places (the first row, then each next one), the proxy
#     fence before refilling a buffer, the cluster barrier, no spills;
#   - cross-entropy with cp.async copies: the row's target and scalars
#     read before the copies' wait, not after it;
#   - a shifted variant (a vocabulary of 50257, rows starting anywhere):
#     16-byte global loads and stores for the aligned body of each row,
#     2-byte accesses for its ends, no spills; a shifted staged loop within
#     16 registers of the same loop on aligned rows;
#   - cross-entropy's reduced loss: one add a term and CTA through the
#     loss slots, the row kernel waiting for prep, prep starting it early,
#     the loss added without waiting, finish waiting for the row kernel.
# Skips (77) without cuobjdump (scripts/deps.sh installs it from PyPI).
set -u
kgen=$1
cuobjdump=$(command -v cuobjdump || true)
if [ -z "$cuobjdump" ]; then
	# from PyPI, in the source tree's .venv (scripts/deps.sh) or python3's packages
	py=$(dirname "$0")/../.venv/bin/python
	[ -x "$py" ] || py=python3
	bin=$("$py" -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "cu13", "bin"))' 2>/dev/null)
	[ -n "$bin" ] && [ -x "$bin/cuobjdump" ] && cuobjdump=$bin/cuobjdump && export PATH="$bin:$PATH"
fi
if [ -z "$cuobjdump" ]; then
	echo "SKIP: no cuobjdump (pip install nvidia-cuda-cuobjdump nvidia-cuda-nvdisasm)"
	exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

sass() { # NAME GEN-ARGS...: compile one variant, dump its SASS to $tmp/NAME.sass
	local name=$1
	shift
	"$kgen" gen "$@" --sm 90 --cubin "$tmp/$name.cubin" >/dev/null || { echo "FAIL: kgen gen $*"; fails=$((fails + 1)); return 1; }
	"$cuobjdump" --dump-sass "$tmp/$name.cubin" >"$tmp/$name.sass" || { echo "FAIL: cuobjdump on $name"; fails=$((fails + 1)); return 1; }
}
want() { # NAME PATTERN WHAT
	grep -qE "$2" "$tmp/$1.sass" || { echo "FAIL: $1: no $3 ($2)"; fails=$((fails + 1)); }
}
refuse() { # NAME PATTERN WHAT
	! grep -qE "$2" "$tmp/$1.sass" || { echo "FAIL: $1: $3 ($2)"; fails=$((fails + 1)); }
}

for op in "softmax fwd" "softmax bwd" "log_softmax fwd" "log_softmax bwd" "xent fwd" "xent bwd" "xent fused"; do
	set -- $op
	name="$1_$2"
	sass "$name" --op "$1" --pass "$2" --cols 8192 --dtype bf16 || continue
	want "$name" 'LDG\.E\.128' "16-byte global loads"
	refuse "$name" '\b(LDL|STL)\b' "local-memory spills"
done
sass cluster --op softmax --cols 262144 --dtype bf16 --config strategy=cluster,cluster=8,tpr=1024,threads=1024,xchg=barrier,load=direct &&
	{
		want cluster 'UCGABAR_ARV' "cluster barrier arrive"
		want cluster 'UCGABAR_WAIT' "cluster barrier wait"
		want cluster '\bLD\.E\b' "distributed shared memory loads"
		want cluster 'LDG\.E\.128' "16-byte global loads"
		refuse cluster '\b(LDL|STL)\b' "local-memory spills"
	}
sass push --op xent --pass fused --cols 128256 --dtype bf16 --smooth --config strategy=cluster,cluster=16,tpr=256,threads=256,load=direct &&
	{
		want push 'STAS\.64' "st.async pushes of the partials to the cluster's CTAs"
		want push 'SYNCS\.ARRIVE\.TRANS64' "mbarrier arrive with a transaction count"
		want push 'SYNCS\.PHASECHK' "mbarrier wait"
		want push 'UCGABAR_ARV' "the split cluster barrier's arrive"
		[ "$(grep -c 'UCGABAR_WAIT' "$tmp/push.sass")" = 1 ] ||
			{ echo "FAIL: push: not exactly one cluster barrier wait (the mbarriers' initialisation)"; fails=$((fails + 1)); }
		# the fused pass adds one float a cluster into its loss slot (its rows'
		# losses over prep's denominators), the forward's terms apart (below)
		[ "$(grep -c 'REDG\.E\.ADD\.F32' "$tmp/push.sass")" = 1 ] ||
			{ echo "FAIL: push: not exactly one float reduction (the loss slot's add)"; fails=$((fails + 1)); }
		refuse push '\bLD\.E\b' "distributed shared memory loads (the partials are pushed, not read)"
		want push 'LDG\.E\.128' "16-byte global loads"
		refuse push '\b(LDL|STL)\b' "local-memory spills"
	}
sass smemslice --op softmax --pass bwd --cols 131072 --dtype bf16 --config strategy=loop,cluster=8,tpr=256,threads=256,load=cpasync &&
	{
		want smemslice 'LDGSTS\.E\.BYPASS\.128' "16-byte cp.async copies of the slice"
		want smemslice 'LDS\.128' "16-byte shared loads (each pass reads the slice there)"
		want smemslice 'STAS\.64' "st.async pushes of the partials"
		refuse smemslice 'LDG\.E\.128' "16-byte global loads of the row (it should come by cp.async)"
		refuse smemslice '\b(LDL|STL)\b' "local-memory spills"
	}
sass shiftstaged --op xent --pass fused --cols 50257 --dtype bf16 --config strategy=cluster,cluster=8,tpr=128,threads=128,vec=8,shift=1,load=cpasync &&
	{
		want shiftstaged 'LDGSTS\.E\.BYPASS\.128' "16-byte cp.async copies of a shifted row's whole vectors"
		want shiftstaged 'LDG\.E\.U16' "2-byte loads at the ends of the row"
		refuse shiftstaged '\b(LDL|STL)\b' "local-memory spills"
	}
# The row's target, its logit and the mean's denominator are read while the
# cp.async copies are in flight: every global load up to the first wait
# (DEPBAR) comes before it, none between the wait and the first reduction.
sass xentearly --op xent --pass fused --cols 50257 --dtype bf16 --config strategy=loop,cluster=1,tpr=256,threads=256,vec=8,shift=1,load=cpasync &&
	{
		want xentearly 'LDGSTS\.E\.BYPASS\.128' "16-byte cp.async copies"
		early=$(awk '/DEPBAR\.LE/ { exit } /LDG\.E\.64/ { n++ } END { print n + 0 }' "$tmp/xentearly.sass")
		late=$(awk '/DEPBAR\.LE/ { w = 1; next } w && /SHFL|BAR\.SYNC/ { exit } w && /LDG\.E(\.64)? / { n++ } END { print n + 0 }' "$tmp/xentearly.sass")
		[ "$early" -ge 1 ] && [ "$late" = 0 ] ||
			{ echo "FAIL: xentearly: the target's load before the cp.async wait: $early, global loads after it before the first reduction: $late"; fails=$((fails + 1)); }
	}
sass tma --op xent --pass fused --cols 128256 --dtype bf16 --config strategy=cluster,cluster=4,tpr=512,threads=512,load=tma,xchg=barrier &&
	{
		want tma 'UBLKCP\.S\.G' "bulk copies global -> shared"
		want tma 'SYNCS\.ARRIVE\.TRANS64' "mbarrier arrive with a transaction count"
		want tma 'SYNCS\.PHASECHK' "mbarrier wait"
		want tma 'LDS\.128' "16-byte shared loads"
		want tma 'UCGABAR_WAIT' "cluster barrier wait"
		refuse tma 'LDG\.E\.128' "16-byte global loads of the row (it should come by bulk copy)"
		refuse tma '\b(LDL|STL)\b' "local-memory spills"
	}
sass cpasync --op softmax --pass bwd --cols 8192 --dtype bf16 --config strategy=reg,tpr=256,threads=256,load=cpasync &&
	{
		want cpasync 'LDGSTS\.E\.BYPASS\.128' "16-byte cp.async copies"
		want cpasync 'LDS\.128' "16-byte shared loads"
		refuse cpasync '\b(LDL|STL)\b' "local-memory spills"
	}
sass persist --op softmax --cols 131072 --dtype bf16 --config strategy=cluster,cluster=16,tpr=256,threads=256,load=tma,persist=4 &&
	{
		[ "$(grep -c 'UBLKCP\.S\.G' "$tmp/persist.sass")" -ge 2 ] ||
			{ echo "FAIL: persist: bulk copies in fewer than two places"; fails=$((fails + 1)); }
		want persist 'FENCE\.VIEW\.ASYNC\.S' "proxy fence before a buffer is refilled"
		want persist 'SYNCS\.PHASECHK' "mbarrier wait"
		want persist 'UCGABAR_WAIT' "cluster barrier wait"
		refuse persist '\b(LDL|STL)\b' "local-memory spills"
	}
sass shifted --op xent --pass fused --cols 50257 --dtype bf16 --config strategy=loop,tpr=1024,threads=1024,vec=8,shift=1 &&
	{
		want shifted 'LDG\.E\.128' "16-byte global loads"
		want shifted 'STG\.E\.128' "16-byte global stores"
		want shifted 'LDG\.E\.U16' "2-byte loads at the ends of the row"
		want shifted 'STG\.E\.U16' "2-byte stores at the ends of the row"
		refuse shifted '\b(LDL|STL)\b' "local-memory spills"
	}
# A shifted row's loop over its whole vectors carries no second load path:
# about the registers of the same loop on an aligned row (a shared loop
# with the partial ends inside took 125 against 32, halving occupancy).
regs() { # NAME: the registers of its row kernel (not cross-entropy's prep)
	"$cuobjdump" --dump-resource-usage "$tmp/$1.cubin" |
		awk '/Function/ { row = $0 !~ /_prep:/ } row && match($0, /REG:[0-9]+/) { print substr($0, RSTART + 4, RLENGTH - 4); exit }'
}
loop=strategy=loop,cluster=4,tpr=256,threads=256,vec=8,load=cpasync
sass aligned --op softmax --cols 100000 --dtype bf16 --config $loop &&
	sass peeled --op softmax --cols 100003 --dtype bf16 --config $loop,shift=1 &&
	{
		ra=$(regs aligned) rp=$(regs peeled)
		[ -n "$ra" ] && [ -n "$rp" ] && [ "$rp" -le $((ra + 16)) ] ||
			{ echo "FAIL: peeled: a shifted loop uses ${rp:-?} registers, the aligned one ${ra:-?}"; fails=$((fails + 1)); }
		want peeled 'LDG\.E\.U16' "2-byte loads at the ends of the row"
		refuse peeled '\b(LDL|STL)\b' "local-memory spills"
	}
# (and cross-entropy's gradient, whose target test c + j == t held 64-bit
# arithmetic per element when the row is shifted)
sass fusedaligned --op xent --pass fused --cols 50256 --dtype bf16 --config $loop &&
	sass fusedpeeled --op xent --pass fused --cols 50257 --dtype bf16 --config $loop,shift=1 &&
	{
		ra=$(regs fusedaligned) rp=$(regs fusedpeeled)
		[ -n "$ra" ] && [ -n "$rp" ] && [ "$rp" -le $((ra + 16)) ] ||
			{ echo "FAIL: fusedpeeled: a shifted fused loop uses ${rp:-?} registers, the aligned one ${ra:-?}"; fails=$((fails + 1)); }
	}
# cross-entropy's reduced loss: in the row kernel (not prep or finish), the
# CTA's adds into a loss slot (kg_loss_add: without weights or z-loss, the
# log-likelihood term and, for a mean, the kept rows), atomics whose results
# are not used (REDG), and no atomic that returns a value (ATOMG) or fence (MEMBAR)
# for a CTA to wait on; the wait for prep (griddepcontrol.wait: ACQBULK)
# before prep's results are read, and the early start of finish
# (griddepcontrol.launch_dependents: PREEXIT); in prep, the start of the row
# kernel (PREEXIT); in finish, the wait for the row kernel (ACQBULK)
if [ -s "$tmp/xent_fwd.sass" ]; then
	fn_has() { # KERNEL-NAME-REGEX PATTERN: how many lines of that kernel match (the regexes
		# through the environment: awk -v would read their backslashes as escapes)
		K=$1 P=$2 awk '/Function :/ { on = $3 ~ ENVIRON["K"] } on && $0 ~ ENVIRON["P"] { n++ } END { print n + 0 }' "$tmp/xent_fwd.sass"
	}
	row='^kgen_xent_fwd_'
	counts="$(fn_has "$row" 'REDG\.E\.ADD\.F32') $(fn_has "$row" 'ATOMG') $(fn_has "$row" 'MEMBAR')"
	[ "$counts" = "2 0 0" ] || { echo "FAIL: xent_fwd: float reductions, returning atomics, fences in the row kernel: $counts (want 2 0 0)"; fails=$((fails + 1)); }
	[ "$(fn_has '_finish$' 'ATOMG|REDG| LDL| STL')" = 0 ] || { echo "FAIL: xent_fwd: finish adds atomically or spills"; fails=$((fails + 1)); }
	[ "$(fn_has "$row" ACQBULK)" -ge 1 ] || { echo "FAIL: xent_fwd: no wait for prep (ACQBULK) in the row kernel"; fails=$((fails + 1)); }
	[ "$(fn_has "$row" PREEXIT)" -ge 1 ] || { echo "FAIL: xent_fwd: the row kernel does not start finish (PREEXIT)"; fails=$((fails + 1)); }
	[ "$(fn_has '_prep$' PREEXIT)" -ge 1 ] || { echo "FAIL: xent_fwd: prep does not start its dependent (PREEXIT)"; fails=$((fails + 1)); }
	[ "$(fn_has '_finish$' ACQBULK)" -ge 1 ] || { echo "FAIL: xent_fwd: finish does not wait for the row kernel (ACQBULK)"; fails=$((fails + 1)); }
fi
if [ "$fails" -ne 0 ]; then
	echo "test_sass: $fails failures"
	exit 1
fi
echo "test_sass: ok ($("$cuobjdump" --version | tail -1))"
