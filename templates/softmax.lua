-- softmax.lua: softmax and log-softmax, forward and backward, over the last
-- dimension of row-major [rows, cols] tensors with row strides; fp32 math.
--
--   softmax fwd      y  = exp(x - max) / sum exp(x - max)
--   softmax bwd      dx = y * (dy - sum(dy * y))          (from y and dy)
--   log_softmax fwd  y  = x - logsumexp(x)
--   log_softmax bwd  dx = dy - exp(y) * sum(dy)          (from y and dy)
--
-- Every op is a row kernel (lib/rows.lua): its config keys are strategy,
-- vec, tpr and threads. Forward ops hold one input per element, backward
-- ops two. A row of all -inf gives NaN, as in torch.
local cuda = require("lib.cuda")
local rows = require("lib.rows")
local host = require("lib.host")

local T = {}
T.keys = rows.keys
T.complete = rows.complete

local function ninputs(p) return p.pass == "bwd" and 2 or 1 end

local function validate_problem(p)
  if p.op ~= "softmax" and p.op ~= "log_softmax" then
    host.user_error("softmax.lua has no op '" .. tostring(p.op) .. "'")
  end
  if p.pass ~= "fwd" and p.pass ~= "bwd" then
    host.user_error(string.format("op %s has no pass '%s' (fwd, bwd)", p.op, tostring(p.pass)))
  end
end

function T.check(p, cfg)
  validate_problem(p)
  return rows.check(p, cfg, ninputs(p))
end

function T.space(p)
  validate_problem(p)
  return rows.space(p, ninputs(p))
end

function T.default(p)
  validate_problem(p)
  return rows.default(p, ninputs(p))
end

-- The body of each op, per strategy. E is the emitter of lib/rows.lua.
local bodies = {}

-- One vector's part of the row maximum m (strategy reg).
local row_max_body = [[
#pragma unroll
        for (int j = 0; j < VEC; ++j)
            m = fmaxf(m, x[j]);]]

-- This thread's max ml of the row's values it holds, and mz, the same but
-- 0 for a thread that holds only -inf, for a sum of exp(x - mz) relative to
-- it (strategy reg). Differences x - max, never x log2(e) - max log2(e):
-- the rounding of a product of a large max would scale every term.
local function thread_max(E)
  return "    float m = KG_NEG_INF, s = 0.f;\n" .. E.loop({ "x" }, row_max_body) ..
    "    const float ml = m, mz = m == KG_NEG_INF ? 0.f : m;\n"
end

bodies.softmax_fwd = function(E)
  local out = {}
  if E.reg and not E.split_ms then
    out[#out + 1] = "    float m = KG_NEG_INF, s = 0.f;\n"
    out[#out + 1] = E.loop({ "x" }, row_max_body)
    out[#out + 1] = E.reduce("max", "m", 0)
    out[#out + 1] = E.loop({ "x" }, [[
#pragma unroll
        for (int j = 0; j < VEC; ++j) {
            x[j] = kg_exp2((x[j] - m) * LOG2E);
            s += x[j];
        }]])
    out[#out + 1] = E.reduce("sum", "s", 1)
    out[#out + 1] = "    const float inv = 1.0f / s;\n"
    out[#out + 1] = E.loop({ "x" }, [[
        if (ok)
            kg_store_row(y_p, c, x, inv);]])
    return table.concat(out)
  end
  if E.reg then
    -- Each thread sums exp relative to its own max; one exchange of (max,
    -- sum) pairs then gives the row's, and the thread's values are rescaled
    -- as they are stored.
    out[#out + 1] = thread_max(E)
    out[#out + 1] = E.loop({ "x" }, [[
#pragma unroll
        for (int j = 0; j < VEC; ++j) {
            x[j] = kg_exp2((x[j] - mz) * LOG2E);
            s += x[j];
        }]])
    out[#out + 1] = E.online_combine()
    -- (a thread of only -inf holds zeros: any finite factor)
    out[#out + 1] = "    const float inv = (ml == KG_NEG_INF ? 0.f : kg_exp2((ml - m) * LOG2E)) * (1.0f / s);\n"
    out[#out + 1] = E.loop({ "x" }, [[
        if (ok)
            kg_store_row(y_p, c, x, inv);]])
    return table.concat(out)
  end
  -- loop: one pass for the running max and sum, one to write.
  out[#out + 1] = "    float m = KG_NEG_INF, s = 0.f;\n"
  out[#out + 1] = E.loop({ "x" }, rows.online_step("x"))
  out[#out + 1] = E.online_combine()
  out[#out + 1] = "    const float inv = 1.0f / s;\n"
  out[#out + 1] = E.loop({ "x" }, [[
#pragma unroll
        for (int j = 0; j < VEC; ++j)
            x[j] = kg_exp2((x[j] - m) * LOG2E);
        kg_store_row(y_p, c, x, inv);]])
  return table.concat(out)
end

bodies.log_softmax_fwd = function(E)
  local out = {}
  if E.reg and not E.split_ms then
    out[#out + 1] = "    float m = KG_NEG_INF, s = 0.f;\n"
    out[#out + 1] = E.loop({ "x" }, row_max_body)
    out[#out + 1] = E.reduce("max", "m", 0)
    out[#out + 1] = E.loop({ "x" }, [[
#pragma unroll
        for (int j = 0; j < VEC; ++j)
            s += kg_exp2((x[j] - m) * LOG2E);]])
    out[#out + 1] = E.reduce("sum", "s", 1)
  elseif E.reg then
    out[#out + 1] = thread_max(E)
    out[#out + 1] = E.loop({ "x" }, [[
#pragma unroll
        for (int j = 0; j < VEC; ++j)
            s += kg_exp2((x[j] - mz) * LOG2E);]])
    out[#out + 1] = "    (void)ml;\n"
    out[#out + 1] = E.online_combine()
  else
    out[#out + 1] = "    float m = KG_NEG_INF, s = 0.f;\n"
    out[#out + 1] = E.loop({ "x" }, rows.online_step("x"))
    out[#out + 1] = E.online_combine()
  end
  -- (x - m) - log(s), as torch: m + log(s) would lose log(s) beside a max
  -- of the largest magnitudes (a row of the dtype's lowest value, masked)
  out[#out + 1] = "    const float ls = logf(s);\n"
  out[#out + 1] = E.loop({ "x" }, [[
        if (ok) {
            float o[VEC];
#pragma unroll
            for (int j = 0; j < VEC; ++j)
                o[j] = (x[j] - m) - ls;
            kg_store_row(y_p, c, o, 1.0f);
        }]])
  return table.concat(out)
end

bodies.softmax_bwd = function(E)
  return table.concat({
    "    float dot = 0.f;\n",
    E.loop({ "y", "dy" }, [[
#pragma unroll
        for (int j = 0; j < VEC; ++j)
            dot = fmaf(y[j], dy[j], dot);]]),
    E.reduce("sum", "dot", 0),
    E.loop({ "y", "dy" }, [[
        if (ok) {
            float o[VEC];
#pragma unroll
            for (int j = 0; j < VEC; ++j)
                o[j] = y[j] * (dy[j] - dot);
            kg_store_row(dx_p, c, o, 1.0f);
        }]]),
  })
end

bodies.log_softmax_bwd = function(E)
  return table.concat({
    "    float sdy = 0.f;\n",
    E.loop({ "dy" }, [[
#pragma unroll
        for (int j = 0; j < VEC; ++j)
            sdy += dy[j];]]),
    E.reduce("sum", "sdy", 0),
    E.loop({ "y", "dy" }, [[
        if (ok) {
            float o[VEC];
#pragma unroll
            for (int j = 0; j < VEC; ++j)
                o[j] = dy[j] - kg_exp2(y[j] * LOG2E) * sdy;
            kg_store_row(dx_p, c, o, 1.0f);
        }]]),
  })
end

function T.render(p, cfg)
  validate_problem(p)
  local name = p.op .. "_" .. p.pass
  local inputs, outname
  if p.pass == "fwd" then
    inputs = { { name = "x", ptr = "a.in0", ld = "a.ld_in0", pad = "KG_NEG_INF" } }
    outname = "y"
  else
    inputs = {
      { name = "y", ptr = "a.in0", ld = "a.ld_in0", pad = "0.f" },
      { name = "dy", ptr = "a.in1", ld = "a.ld_in1", pad = "0.f" },
    }
    outname = "dx"
  end
  local E = rows.emitter(p, cfg, inputs)
  local kernel = rows.kernel_name("kgen_" .. name, p, cfg)
  local source = table.concat({
    string.format("/* kgen %s %s: %s, cols=%d, sm_%d, %s */", p.op, p.pass, p.dtype, p.cols, p.sm,
      host.format(cfg)),
    cuda.prelude(p.dtype),
    E.head(),
    string.format('extern "C" __global__ void __launch_bounds__(THREADS)\n%s(const kg_args a)\n{', kernel),
    E.prologue(),
    string.format("    T *%s_p = (T *)a.out + row * a.ld_out;\n", outname),
    bodies[name](E),
    E.epilogue(),
    "}\n",
  }, "\n")
  local g = rows.geometry(cfg, p, ninputs(p))
  g.source, g.kernel = source, kernel
  return g
end

return T
