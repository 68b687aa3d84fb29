-- xent.lua: cross-entropy over logits [rows, vocab] (row stride ld) and
-- integer targets, with torch's semantics (torch.nn.functional.cross_entropy)
-- plus z-loss and logit softcapping.
--
-- passes:
--   fwd    per-row loss and logsumexp (fp32); no gradient is written
--   bwd    dlogits from the logits, the saved logsumexp and dloss
--   fused  loss, logsumexp and dlogits from one pass over the logits
--          (dlogits may be the logits: in place)
-- problem options (p.opts; they change the code, so they are part of the
-- problem key): target = i32|i64, weight, smooth, zloss, softcap (0 or 1).
-- The other options are kernel arguments (kg_args): ignore_index, eps,
-- zloss, softcap, reduction, inv_den.
--
-- With z = softcap(x) = c * tanh(x / c) (or x), lse = logsumexp(z), t the
-- target and w the class weights (1 without weights), the loss of a row
-- whose target is not ignore_index is
--   w_t (1 - eps) (lse - z_t) / D_nll                      (torch's nll)
--   + eps / C * sum_c w_c (lse - z_c) / D_smooth            (label smoothing)
--   + zloss * lse^2 / D_z                                   (z-loss)
-- where for reduction mean D_nll = D_smooth = the sum of w_t over the kept
-- rows (their count without weights, as torch 2.x does), D_z = the count of
-- kept rows; for sum all D are 1; for sum over a denominator all D are that
-- denominator. Ignored rows have loss 0 and gradient 0; a
-- target outside [0, C) gives the row a NaN loss and gradient and counts in
-- a.bad. No host synchronization is needed: the forward's reduced loss is
-- divided by kgen_xent_finish, from the terms the row kernel's CTAs add
-- into the loss slots; a gradient of the mean takes its denominators from
-- kgen_xent_prep, launched first on the same stream; a call of one row
-- takes its own (the row kernel's `a.rows == 1` branch). Prep runs only
-- for the gradient of a mean and for weights with smoothing
-- (kg_xent_with_prep).
local cuda = require("lib.cuda")
local rows = require("lib.rows")
local host = require("lib.host")

local T = {}
T.keys = rows.keys
T.complete = rows.complete

local function opts(p)
  local o = p.opts or {}
  local t = o.target or "i64"
  if t ~= "i32" and t ~= "i64" then host.user_error("target must be i32 or i64 (got " .. tostring(t) .. ")") end
  return {
    target = t,
    weight = (o.weight or 0) ~= 0,
    smooth = (o.smooth or 0) ~= 0,
    zloss = (o.zloss or 0) ~= 0,
    softcap = (o.softcap or 0) ~= 0,
  }
end

local function validate_problem(p)
  if p.pass ~= "fwd" and p.pass ~= "bwd" and p.pass ~= "fused" then
    host.user_error(string.format("op xent has no pass '%s' (fwd, bwd, fused)", tostring(p.pass)))
  end
  opts(p)
end

function T.check(p, cfg)
  validate_problem(p)
  return rows.check(p, cfg, 1)
end

function T.space(p)
  validate_problem(p)
  -- bwd is one streaming pass: holding the row in registers gains nothing.
  return rows.space(p, 1, p.pass ~= "bwd")
end

function T.default(p)
  validate_problem(p)
  return rows.default(p, 1, p.pass ~= "bwd")
end

local prep = [[
/* Denominators of the reductions, for the passes that need them before
 * they write (a gradient of a mean; a smoothed loss with class weights):
 * the runtime launches prep only then (kg_xent_with_prep). Several CTAs
 * (one per 2048 rows, at most 128) add their partial sums into double
 * accumulators in the scratch; the last CTA to finish writes the results
 * and leaves the accumulators zeroed for the next call. Scratch (cleared
 * once by its owner): float results [0..2], double accumulators at byte
 * 16, a CTA counter at byte 40; the loss slots from byte 128 (kg_loss_add,
 * kgen_xent_finish, which leaves them clear).
 * On sm_90 the row kernel is launched as this kernel's programmatic
 * dependent: it may start at once, and waits (kg_dep_wait) for this
 * kernel's completion only where it reads what this kernel writes. */
extern "C" __global__ void __launch_bounds__(1024) kgen_xent_prep(const kg_args a)
{
    __shared__ double sh[3][32];
    __shared__ bool last;
    double *acc = (double *)((char *)a.scratch + 16);
    unsigned *count = (unsigned *)((char *)a.scratch + 40);
    kg_dep_launch();
    double v[3] = {0, 0, 0}; /* kept rows, their weights, class weights */
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long r = (long long)blockIdx.x * blockDim.x + threadIdx.x; r < a.rows; r += stride) {
        const long long t = (long long)((const TARGET_T *)a.target)[r];
        if (t != a.ignore_index) {
            v[0] += 1;
            v[1] += (HAS_WEIGHT && t >= 0 && t < COLS) ? (double)a.weight[t] : 1.0;
        }
    }
    if (HAS_WEIGHT)
        for (long long c = (long long)blockIdx.x * blockDim.x + threadIdx.x; c < COLS; c += stride)
            v[2] += a.weight[c];
#pragma unroll
    for (int k = 0; k < 3; ++k) {
        for (int o = 16; o > 0; o >>= 1)
            v[k] += __shfl_xor_sync(0xffffffffu, v[k], o);
        if (threadIdx.x % 32 == 0)
            sh[k][threadIdx.x / 32] = v[k];
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int k = 0; k < 3; ++k) {
            double t = 0;
            for (int w = 0; w < (int)(blockDim.x / 32); ++w)
                t += sh[k][w];
            atomicAdd(&acc[k], t);
        }
        __threadfence();
        last = atomicAdd(count, 1u) == gridDim.x - 1;
    }
    __syncthreads();
    if (last && threadIdx.x == 0) {
        __threadfence();
        const double cnt = atomicAdd(&acc[0], 0.0), sw = atomicAdd(&acc[1], 0.0), wsum = atomicAdd(&acc[2], 0.0);
        a.scratch[0] = (float)(HAS_WEIGHT ? sw : cnt);              /* D_nll */
        a.scratch[1] = (float)cnt;                                  /* D_z */
        a.scratch[2] = HAS_WEIGHT ? (float)wsum : (float)COLS;      /* sum of class weights */
        acc[0] = acc[1] = acc[2] = 0;
        *count = 0;
    }
}
]]

-- The scalars of one row: target, coefficients of the loss terms.
local row_setup = [[
    /* The target and its logit, read before any store: dlogits may be the logits. */
    const long long t = live ? (long long)((const TARGET_T *)a.target)[row] : a.ignore_index;
    const bool valid = t != a.ignore_index;
    const bool bad = valid && (t < 0 || t >= COLS);
    /* reciprocals once per row, and no division: its slow path is a call */
    const float inv_cap = HAS_SOFTCAP ? kg_rcp(a.softcap) : 0.f;
    const float zt = valid && !bad ? kg_cap(kg_to_f32(x_p[t]), a.softcap, inv_cap) : 0.f;
    const float wt = HAS_WEIGHT && valid && !bad ? a.weight[t] : 1.f;
    (void)zt;
$dl]]

-- What prep wrote: the denominators and the sum of class weights, read
-- once the row is on chip and reduced, after the wait for prep (a no-op
-- when the row kernel was not launched as prep's dependent).
local den_setup = [[
    kg_dep_wait();
    /* the sum of class weights: computed by prep, which runs whenever it is used */
    const float wsum = HAS_WEIGHT && HAS_SMOOTH ? a.scratch[2] : (float)COLS;
    float inv_nll = 1.f, inv_s = 1.f, inv_z = 1.f;
    if (a.reduction == 2 && a.rows == 1) {
        /* one row: its own denominators (the prep kernel's, without it) */
        inv_nll = inv_s = kg_rcp(valid ? wt : 0.f);
        inv_z = kg_rcp(valid ? 1.f : 0.f);
    } else if (a.reduction == 2 && !KG_FWD) { /* the forward's mean: finish divides */
        inv_nll = inv_s = kg_rcp(a.scratch[0]);
        inv_z = kg_rcp(a.scratch[1]);
    } else if (a.reduction == 3) {
        inv_nll = inv_s = inv_z = a.inv_den;
    }
    (void)wsum;
]]

local loss_out = [[
    /* the row's terms before their denominators: the negative
     * log-likelihood with its smoothing (over inv_nll == inv_s) and the
     * z-loss (over inv_z) */
    const float lnll = wt * (1.f - a.eps) * (lse - zt);
    const float ls = HAS_SMOOTH ? a.eps / COLS * (lse * wsum - sz) : 0.f;
    float ln = lnll + ls;
    const float lz = HAS_ZLOSS ? a.zloss * lse * lse : 0.f;
    /* each term over its own denominator: weights of 0 give 0 * inf = NaN, as torch */
    float loss = lnll * inv_nll + (HAS_SMOOTH ? ls * inv_s : 0.f) + lz * inv_z;
    if (!valid)
        loss = 0.f;
    if (bad)
        loss = ln = KG_NAN;
    if (leader) {
        if (a.lse)
            a.lse[row] = lse;
        if (a.reduction == 0)
            a.loss[row] = loss;
        if (bad && a.bad)
            atomicAdd(a.bad, 1ull);
    }
    if (a.reduction != 0) {
        /* The CTA's rows are summed first, then its groups of rows (a
         * persistent CTA's): one add per term and CTA at its end
         * (kg_loss_add). The forward: the terms, their weights and the
         * kept rows, which finish divides; the fused pass, which has the
         * denominators for its gradient: the loss itself. One row: its
         * loss is the total. */
        __shared__ float cta_loss[KG_TERMS][ROWS_PER_CTA];
        if (lane == 0) {
            const bool keep = leader && valid;
            const float term[KG_TERMS] = {a.rows == 1 || !KG_FWD ? loss : ln, lz, wt, 1.f};
#pragma unroll
            for (int k = 0; k < KG_TERMS; ++k)
                if (kg_term_used(k, a.reduction))
                    cta_loss[k][group] = keep ? term[k] : 0.f;
        }
        __syncthreads();
        if (threadIdx.x < 32) {
            float v[KG_TERMS];
#pragma unroll
            for (int k = 0; k < KG_TERMS; ++k) {
                v[k] = 0.f;
                if (kg_term_used(k, a.reduction)) {
                    for (int g = threadIdx.x; g < ROWS_PER_CTA; g += 32)
                        v[k] += cta_loss[k][g];
                    v[k] = kg_group_sum<32>(v[k]);
                }
            }
            if (threadIdx.x == 0 && rank == 0) {
                if (a.rows == 1) /* no slots: the one row's loss is the total */
                    a.loss[0] = a.reduction == 2 && !valid ? KG_NAN : v[0]; /* torch: mean of nothing is NaN */
                else
#pragma unroll
                    for (int k = 0; k < KG_TERMS; ++k)
                        groups_loss[k] += v[k];
            }
        }
    }
]]

-- After the last group of rows: the CTA's (the cluster's) loss into its slot.
local loss_add = [[
    if (a.reduction != 0 && a.rows != 1 && threadIdx.x == 0 && blockIdx.x % CLUSTER == 0)
        kg_loss_add(a.scratch, blockIdx.x / CLUSTER, groups_loss, a.reduction);
]]

-- The loss total, after the row kernel (fwd and fused).
local finish = [[
/* The loss from the slots, once the row kernel is complete: one CTA of
 * KG_LOSS_SLOTS threads, a slot each, which it leaves clear for the next
 * call. The forward's terms are divided here (a mean: the log-likelihood
 * term by the kept rows' weights, the z-loss by the kept rows), so the
 * forward needs no prep; the fused pass, which divides its gradient by
 * prep's denominators anyway, adds its rows' losses divided. The runtime launches it after the row kernel of a
 * reduced loss of more than one row, on sm_90 as its programmatic
 * dependent: it is resident before the row kernel ends and waits
 * (kg_dep_wait) for the row kernel's completion and memory. The row
 * kernel's CTAs add with fire-and-forget atomics and leave at once: no
 * CTA waits on an atomic's result or a fence. */
extern "C" __global__ void __launch_bounds__(KG_LOSS_SLOTS) kgen_xent_finish(const kg_args a)
{
    __shared__ double part[KG_TERMS][KG_LOSS_SLOTS / 32];
    kg_dep_wait(); /* first, on every path: the dependent of a kernel that starts it early waits */
    if (a.reduction == 0 || a.rows == 1) /* no slots: the row kernel wrote the loss (the runtime does not launch it) */
        return;
    float *slot = (float *)((char *)a.scratch + KG_SLOT_BASE + threadIdx.x * KG_SLOT_BYTES);
#pragma unroll
    for (int k = 0; k < KG_TERMS; ++k) {
        double v = kg_term_used(k, a.reduction) ? (double)slot[k] : 0.0;
        slot[k] = 0.f; /* clear for the next call */
        for (int o = 16; o > 0; o >>= 1)
            v += __shfl_xor_sync(0xffffffffu, v, o);
        if (threadIdx.x % 32 == 0)
            part[k][threadIdx.x / 32] = v;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        double t[KG_TERMS];
#pragma unroll
        for (int k = 0; k < KG_TERMS; ++k) {
            t[k] = 0.0;
            for (int w = 0; w < KG_LOSS_SLOTS / 32; ++w)
                t[k] += part[k][w];
        }
        double loss = t[0] + t[1];
        if (!KG_FWD) { /* the rows' losses over prep's denominators; none (no kept rows, or weights of 0): NaN, as torch */
            if (a.reduction == 2 && a.scratch[0] == 0.f)
                loss = KG_NAN;
        } else if (a.reduction == 2) { /* no kept rows, or their weights 0: NaN, as torch's 0 / 0 */
            const double d = HAS_WEIGHT ? t[2] : t[3];
            loss = d == 0.0 ? (double)KG_NAN : t[0] / d + (HAS_ZLOSS ? t[1] / t[3] : 0.0);
        } else if (a.reduction == 3) {
            loss *= (double)a.inv_den;
        }
        a.loss[0] = (float)loss;
    }
}
]]

-- The helpers of prep, the row kernel and finish: the programmatic
-- dependences, and the loss slots.
local helpers = [[
/* Programmatic dependent launch (sm_90): a kernel lets its dependent start
 * (kg_dep_launch: prep the row kernel, the row kernel finish); the
 * dependent waits for the completion and memory of the kernel before it
 * (kg_dep_wait). Without the launch attribute the wait returns at once. */
__device__ __forceinline__ void kg_dep_launch(void)
{
#if __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}
__device__ __forceinline__ void kg_dep_wait(void)
{
#if __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
/* The loss slots: KG_LOSS_SLOTS lines of KG_SLOT_BYTES from byte
 * KG_SLOT_BASE of the scratch (KGEN_XENT_WORKSPACE_BYTES = KG_SLOT_BASE +
 * KG_LOSS_SLOTS * KG_SLOT_BYTES), KG_TERMS float sums at the start of each:
 * the log-likelihood term (with smoothing), the z-loss term, the kept
 * rows' weights and the kept rows, before any denominator. Clear when
 * their owner makes them; kgen_xent_finish sums them into the loss and
 * clears them again. Same-address atomics serialize in L2 (about 1.3 ns
 * each on an H100): 131072 CTAs adding into the one loss cost 166 us;
 * spread over the slots' lines (and L2's slices) they do not. */
#define KG_LOSS_SLOTS 128
#define KG_SLOT_BASE 128
#define KG_SLOT_BYTES 128
#define KG_TERMS 4
/* Whether a reduction uses term k: the forward's weights and kept rows
 * only for a mean, the weights only with class weights, the z-loss only
 * with it; the fused pass adds its rows' losses, divided already (term 0). */
__device__ __forceinline__ bool kg_term_used(int k, int reduction)
{
    if (!KG_FWD)
        return k == 0;
    return k == 0 || (k == 1 && HAS_ZLOSS) || (k == 2 && HAS_WEIGHT && reduction == 2) || (k == 3 && reduction == 2);
}
/* Unit u (a CTA, or a cluster) adds its terms into slot u % KG_LOSS_SLOTS:
 * atomics whose results are not used (reductions the SM does not wait for). */
__device__ __forceinline__ void kg_loss_add(float *scratch, unsigned u, const float v[KG_TERMS], int reduction)
{
    float *slot = (float *)((char *)scratch + KG_SLOT_BASE + (u % KG_LOSS_SLOTS) * KG_SLOT_BYTES);
#pragma unroll
    for (int k = 0; k < KG_TERMS; ++k)
        if (kg_term_used(k, reduction))
            atomicAdd(slot + k, v[k]);
}
]]

-- (read with the row's scalars: the loss gradient, for the passes that write one)
local dl_load = [[
    const float dl = live && a.dloss ? (a.reduction == 0 ? a.dloss[row] : a.dloss[0]) : 1.f;
]]

local grad_setup = [[
    /* d loss / d z_j = p_j (ca + cb wsum + cg) - ca [j == t] - cb w_j */
    const float ca = valid ? (bad ? KG_NAN : wt * (1.f - a.eps) * inv_nll * dl) : 0.f;
    const float cb = valid && HAS_SMOOTH ? a.eps / COLS * inv_s * dl : 0.f;
    const float cg = valid && HAS_ZLOSS ? 2.f * a.zloss * inv_z * dl * lse : 0.f;
    const float kp = ca + cb * wsum + cg;
    /* a shifted row: the target's column in 32 bits (none: never matched);
     * compared in 64 bits with c = u - off, c + j == t held 30-50 more
     * registers in its loop (aligned rows keep t: a few fewer there) */
    const int tc = valid && !bad ? (int)t : -(1 << 30);
]]

-- Per vector: z[] holds capped logits; writes the gradient to dx_p + c.
local grad_body = [[
        if (ok) {
            float o[VEC];
#pragma unroll
            for (int j = 0; j < VEC; ++j) {
                /* z - lse first: exact where p matters, whatever the size of lse */
                float g = kg_exp2((z[j] - lse) * LOG2E) * kp;
                if (HAS_SMOOTH && KG_IN(j))
                    g -= cb * a.weight_or_one(c + j);
                if (SHIFT ? c + j == tc : c + j == t)
                    g -= ca;
                if (HAS_SOFTCAP)
                    g *= 1.f - (z[j] * inv_cap) * (z[j] * inv_cap);
                o[j] = valid ? g : 0.f;
            }
            kg_store_row(dx_p, c, o, 1.0f);
        }]]

function T.render(p, cfg)
  validate_problem(p)
  local o = opts(p)
  local E = rows.emitter(p, cfg, { { name = "x", ptr = "a.in0", ld = "a.ld_in0", pad = "KG_NEG_INF" } })
  -- (the options that change the code name it too: weight, smooth, zloss, softcap, i32 targets)
  local base = "kgen_xent_" .. p.pass
  for _, k in ipairs({ "weight", "smooth", "zloss", "softcap" }) do
    if o[k] then base = base .. "_" .. k end
  end
  if o.target == "i32" then base = base .. "_i32" end
  local kernel = rows.kernel_name(base, p, cfg)
  local body = {}
  local function add(s) body[#body + 1] = s end
  -- z[] names the capped logits: in registers (reg) or recomputed (loop).
  local cap_in_place = [[
#pragma unroll
        for (int j = 0; j < VEC; ++j)
            x[j] = KG_IN(j) ? kg_cap(x[j], a.softcap, inv_cap) : KG_NEG_INF;
        float (&z)[VEC] = x;]]
  local grad = grad_body:gsub("a%.weight_or_one%(c %+ j%)", "(HAS_WEIGHT ? a.weight[c + j] : 1.f)")

  -- The passes that write a gradient read the row's scalars while its
  -- logits are on their way (staged loads), before any store: dlogits may
  -- be the logits. The forward reads them once the row is on chip: early,
  -- they cost it 2% where a cluster stages the row (bench/NOTES.md).
  local early = cuda.subst(row_setup, { dl = p.pass ~= "fwd" and dl_load or "" })
  if p.pass == "bwd" then early = early .. "    const float lse = live ? a.lse[row] : 0.f;\n" end
  if p.pass == "fwd" then
    add(early)
    early = ""
  end
  if p.pass == "bwd" then
    add(den_setup)
    add(grad_setup)
    add(E.loop({ "x" }, cap_in_place .. "\n" .. grad))
  else
    add("    float m = KG_NEG_INF, s = 0.f, sz = 0.f;\n")
    local smooth_acc = [[
        if (HAS_SMOOTH)
#pragma unroll
            for (int j = 0; j < VEC; ++j)
                if (KG_IN(j))
                    sz += (HAS_WEIGHT ? a.weight[c + j] : 1.f) * z[j];]]
    if E.reg then
      add(E.loop({ "x" }, cap_in_place .. [[

#pragma unroll
        for (int j = 0; j < VEC; ++j)
            m = fmaxf(m, z[j]);
]] .. smooth_acc))
      if E.cluster > 1 then
        -- this thread's sum relative to its own max, then one exchange of
        -- (max, sum) pairs: a cluster barrier fewer (not for a row in one
        -- CTA: with the options' code, those variants spill)
        add("    const float mz = m == KG_NEG_INF ? 0.f : m; /* no -inf - -inf */\n")
        add(E.loop({ "x" }, [[
#pragma unroll
        for (int j = 0; j < VEC; ++j)
            s += kg_exp2((x[j] - mz) * LOG2E);]]))
        add(E.online_combine())
      else
        add(E.reduce("max", "m", 0))
        add(E.loop({ "x" }, [[
#pragma unroll
        for (int j = 0; j < VEC; ++j)
            s += kg_exp2((x[j] - m) * LOG2E);]]))
        add(E.reduce("sum", "s", 1))
      end
    else
      add(E.loop({ "x" }, cap_in_place .. "\n" .. rows.online_step("z") .. "\n" .. smooth_acc))
      add(E.online_combine())
    end
    if o.smooth then add(E.reduce("sum", "sz", 2)) end
    add("    const float lse = m + logf(s);\n")
    add(den_setup)
    add(loss_out)
    if p.pass == "fused" then
      if cfg.tpr <= 32 then
        -- In place, a lane's gradient store may overwrite the target logit
        -- another lane of the row read: shuffles do not order memory.
        add("    __syncwarp();\n")
      end
      add(grad_setup)
      if E.reg then
        add(E.loop({ "x" }, "        float (&z)[VEC] = x;\n" .. grad))
      else
        add(E.loop({ "x" }, cap_in_place .. "\n" .. grad))
      end
    end
  end

  local source = table.concat({
    string.format("/* kgen xent %s: %s, vocab=%d, sm_%d, %s; options %s */", p.pass, p.dtype, p.cols, p.sm,
      host.format(cfg), host.format(p.opts or {})),
    cuda.prelude(p.dtype),
    E.head(),
    string.format("typedef %s TARGET_T;", o.target == "i32" and "int" or "long long"),
    string.format("#define HAS_WEIGHT %d", o.weight and 1 or 0),
    string.format("#define HAS_SMOOTH %d", o.smooth and 1 or 0),
    string.format("#define HAS_ZLOSS %d", o.zloss and 1 or 0),
    string.format("#define HAS_SOFTCAP %d", o.softcap and 1 or 0),
    string.format("#define KG_FWD %d", p.pass == "fwd" and 1 or 0),
    [[
/* c tanh(x / c), with inv_c = 1 / c */
__device__ __forceinline__ float kg_cap(float x, float c, float inv_c)
{
    return HAS_SOFTCAP ? c * tanhf(x * inv_c) : x;
}
]],
    helpers,
    prep,
    p.pass ~= "bwd" and finish or "",
    string.format('extern "C" __global__ void __launch_bounds__(THREADS)\n%s(const kg_args a)\n{', kernel),
    p.pass ~= "bwd" and "    float groups_loss[KG_TERMS] = {0.f, 0.f, 0.f, 0.f}; /* this CTA's rows' terms (thread 0) */\n" ..
      "    kg_dep_launch(); /* kgen_xent_finish may start (its wait holds it) */\n" or "",
    E.prologue(early),
    p.pass ~= "fwd" and "    T *dx_p = (T *)a.out + row * a.ld_out;\n" or "",
    table.concat(body),
    E.epilogue(),
    p.pass ~= "bwd" and loss_add or "",
    "}\n",
  }, "\n")
  local g = rows.geometry(cfg, p, 1)
  g.source, g.kernel, g.prep = source, kernel, "kgen_xent_prep"
  if p.pass ~= "bwd" then g.finish = "kgen_xent_finish" end
  return g
end

return T
