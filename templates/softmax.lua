-- softmax.lua: softmax forward over the last dimension of a row-major
-- [rows, cols] tensor with row strides, fp32 math, numerically stable.
--
-- Config keys:
--   strategy  "reg": the row stays in registers, one read and one write per
--             element; "loop": the row streams through twice (online max and
--             sum, then normalize), for rows too long for registers
--   vec       elements per access (up to 16 bytes); divides cols
--   tpr       threads per row (power of two); tpr < 32 puts several rows in
--             a warp, tpr > 32 spreads one row over several warps
--   threads   threads per CTA; rows per CTA = threads / tpr
local cuda = require("lib.cuda")
local host = require("lib.host")

local T = {}

local MAX_EPT = 128      -- fp32 values of the row one thread may hold
local REGS_BUDGET = 32768 -- threads * values held, so that registers fit

local function reg_fits(threads, ept)
  return ept <= MAX_EPT and threads * ept <= REGS_BUDGET
end

-- Largest vector width that divides cols, within 16 bytes.
local function max_vec(p)
  local v = cuda.dtype(p.dtype).maxvec
  while p.cols % v ~= 0 do v = v // 2 end
  return v
end

local function ept(p, cfg)
  return cuda.ceil_div(p.cols, cfg.tpr * cfg.vec) * cfg.vec
end

function T.check(p, cfg)
  local d = cuda.dtype(p.dtype)
  if p.sm < 80 then return false, "needs sm_80 or newer (bf16 and packed conversions)" end
  if cfg.strategy ~= "reg" and cfg.strategy ~= "loop" then
    return false, "strategy must be reg or loop"
  end
  local function pow2(x) return math.type(x) == "integer" and x >= 1 and (x & (x - 1)) == 0 end
  if not pow2(cfg.vec) or cfg.vec * d.size > 16 then
    return false, "vec must be a power of two of at most 16 bytes"
  end
  if p.cols % cfg.vec ~= 0 then return false, "vec must divide cols" end
  if not pow2(cfg.tpr) or cfg.tpr > 1024 then return false, "tpr must be a power of two <= 1024" end
  if not pow2(cfg.threads) or cfg.threads < 32 or cfg.threads > 1024 then
    return false, "threads must be a power of two in 32..1024"
  end
  if cfg.threads < cfg.tpr then return false, "threads must be >= tpr" end
  if cfg.strategy == "reg" and not reg_fits(cfg.threads, ept(p, cfg)) then
    return false, string.format("%d values per thread do not fit in registers at %d threads",
      ept(p, cfg), cfg.threads)
  end
  if cfg.strategy == "loop" and cfg.tpr ~= cfg.threads then
    return false, "strategy loop takes one row per CTA (tpr = threads)"
  end
  return true
end

function T.space(p)
  local out = {}
  local V = max_vec(p)
  local vecs = { V }
  if V > 1 then vecs[2] = V // 2 end
  for _, vec in ipairs(vecs) do
    local nvec = p.cols // vec
    for _, tpr in ipairs(cuda.pow2s(1, math.min(1024, cuda.next_pow2(nvec)))) do
      for _, threads in ipairs(cuda.pow2s(math.max(64, tpr), 1024)) do
        local cfg = { strategy = "reg", vec = vec, tpr = tpr, threads = threads }
        if T.check(p, cfg) then out[#out + 1] = cfg end
      end
    end
    if p.cols >= 2048 then
      for _, threads in ipairs({ 256, 512, 1024 }) do
        out[#out + 1] = { strategy = "loop", vec = vec, tpr = threads, threads = threads }
      end
    end
  end
  return out
end

function T.default(p)
  local vec = max_vec(p)
  local nvec = p.cols // vec
  -- About four vectors per thread: enough loads in flight, few registers.
  local tpr = math.min(1024, cuda.next_pow2(cuda.ceil_div(nvec, 4)))
  local cfg = { strategy = "reg", vec = vec, tpr = tpr, threads = math.max(tpr, 256) }
  if not reg_fits(cfg.threads, ept(p, cfg)) then
    cfg = { strategy = "loop", vec = vec, tpr = 1024, threads = 1024 }
  end
  return cfg
end

-- Reduce `var` over the threads of one row with op "max" or "sum"; slot
-- picks the shared-memory array, so that consecutive reductions need no
-- barrier between them.
local function row_reduce(cfg, op, var, slot)
  local f = op == "max" and "kg_group_max" or "kg_group_sum"
  if cfg.tpr <= 32 then
    return string.format("    %s = %s<TPR>(%s);\n", var, f, var)
  end
  local combine = op == "max" and "%s = fmaxf(%s, red[%d][first + w]);" or "%s += red[%d][first + w];"
  local line = op == "max" and string.format(combine, var, var, slot) or string.format(combine, var, slot)
  return cuda.subst([[
    $var = $f<32>($var);
    if (threadIdx.x % 32 == 0)
        red[$slot][threadIdx.x / 32] = $var;
    __syncthreads();
    $var = red[$slot][first];
#pragma unroll
    for (int w = 1; w < WARPS_PER_ROW; ++w)
        $line
]], { var = var, f = f, slot = slot, line = line })
end

local head = [[
#define COLS $cols
#define VEC $vec
#define TPR $tpr            /* threads per row */
#define THREADS $threads
#define ROWS_PER_CTA $rows_per_cta
#define WARPS_PER_ROW $warps_per_row
#define LOG2E 1.4426950408889634f
#define KG_NEG_INF __int_as_float(0xff800000)
]]

local body_reg = [[
#define NCHUNK $nchunk      /* vectors per thread */
#define EVEN $even          /* TPR * VEC divides COLS: no bounds checks */

extern "C" __global__ void __launch_bounds__(THREADS)
kgen_softmax_fwd(T *__restrict__ y, const T *__restrict__ x, long long rows,
                 long long ld_x, long long ld_y)
{
$shared    const int lane = threadIdx.x % TPR;
    const int group = threadIdx.x / TPR;
    const int first = group * WARPS_PER_ROW; /* this row's first warp */
    const long long row = (long long)blockIdx.x * ROWS_PER_CTA + group;
    const bool live = row < rows;
    const T *xr = x + row * ld_x;
    T *yr = y + row * ld_y;
    (void)first;

    float v[NCHUNK][VEC];
#pragma unroll
    for (int i = 0; i < NCHUNK; ++i) {
        const int c = (i * TPR + lane) * VEC;
        if (live && (EVEN || c < COLS)) {
            kg_load<VEC>(xr + c, v[i]);
        } else {
#pragma unroll
            for (int j = 0; j < VEC; ++j)
                v[i][j] = KG_NEG_INF;
        }
    }

    float m = KG_NEG_INF;
#pragma unroll
    for (int i = 0; i < NCHUNK; ++i)
#pragma unroll
        for (int j = 0; j < VEC; ++j)
            m = fmaxf(m, v[i][j]);
$reduce_max
    const float mb = m * LOG2E;
    float s = 0.f;
#pragma unroll
    for (int i = 0; i < NCHUNK; ++i)
#pragma unroll
        for (int j = 0; j < VEC; ++j) {
            v[i][j] = kg_exp2(fmaf(v[i][j], LOG2E, -mb));
            s += v[i][j];
        }
$reduce_sum
    const float inv = 1.0f / s;
#pragma unroll
    for (int i = 0; i < NCHUNK; ++i) {
        const int c = (i * TPR + lane) * VEC;
        if (live && (EVEN || c < COLS))
            kg_store<VEC>(yr + c, v[i], inv);
    }
}
]]

local body_loop = [[
extern "C" __global__ void __launch_bounds__(THREADS)
kgen_softmax_fwd(T *__restrict__ y, const T *__restrict__ x, long long rows,
                 long long ld_x, long long ld_y)
{
$shared    const int first = 0;
    const T *xr = x + (long long)blockIdx.x * ld_x;
    T *yr = y + (long long)blockIdx.x * ld_y;
    (void)rows;

    /* Pass 1: running max and sum of exp(x - max) for this thread's part. */
    float m = KG_NEG_INF, s = 0.f;
#pragma unroll 4
    for (int c = threadIdx.x * VEC; c < COLS; c += THREADS * VEC) {
        float v[VEC];
        kg_load<VEC>(xr + c, v);
        float cm = m;
#pragma unroll
        for (int j = 0; j < VEC; ++j)
            cm = fmaxf(cm, v[j]);
        if (cm != m)
            s *= kg_exp2((m - cm) * LOG2E);
        m = cm;
        const float mb = m * LOG2E;
#pragma unroll
        for (int j = 0; j < VEC; ++j)
            s += kg_exp2(fmaf(v[j], LOG2E, -mb));
    }
    const float tm = m;
$reduce_max
    if (tm != m)
        s *= kg_exp2((tm - m) * LOG2E);
$reduce_sum
    /* Pass 2: normalize. */
    const float mb = m * LOG2E, inv = 1.0f / s;
#pragma unroll 4
    for (int c = threadIdx.x * VEC; c < COLS; c += THREADS * VEC) {
        float v[VEC];
        kg_load<VEC>(xr + c, v);
#pragma unroll
        for (int j = 0; j < VEC; ++j)
            v[j] = kg_exp2(fmaf(v[j], LOG2E, -mb));
        kg_store<VEC>(yr + c, v, inv);
    }
}
]]

function T.render(p, cfg)
  local rows_per_cta = cfg.threads // cfg.tpr
  local vars = {
    cols = p.cols, vec = cfg.vec, tpr = cfg.tpr, threads = cfg.threads,
    rows_per_cta = rows_per_cta,
    warps_per_row = math.max(1, cfg.tpr // 32),
    nchunk = cuda.ceil_div(p.cols, cfg.tpr * cfg.vec),
    even = (p.cols % (cfg.tpr * cfg.vec) == 0) and 1 or 0,
    shared = cfg.tpr > 32 and "    __shared__ float red[2][THREADS / 32];\n" or "",
    reduce_max = row_reduce(cfg, "max", "m", 0),
    reduce_sum = row_reduce(cfg, "sum", "s", 1),
  }
  local source = table.concat({
    string.format("/* kgen softmax fwd: %s, cols=%d, sm_%d, %s */",
      p.dtype, p.cols, p.sm, host.format(cfg)),
    cuda.prelude(p.dtype),
    cuda.subst(head, vars),
    cuda.subst(cfg.strategy == "reg" and body_reg or body_loop, vars),
  }, "\n")
  return {
    source = source,
    kernel = "kgen_softmax_fwd",
    block = cfg.threads,
    smem = 0,
    rows_per_cta = rows_per_cta,
    cluster = 1,
  }
end

return T
