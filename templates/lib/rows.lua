-- rows.lua: the row kernel every op is written in.
--
-- A row kernel gives each row of a [rows, cols] problem to TPR threads
-- (several rows per warp when TPR < 32, several warps per row when
-- TPR > 32), THREADS / TPR rows per CTA. An op describes its work as loops
-- over the row's vectors of VEC elements; rows.lua emits each loop for one
-- of two strategies:
--   reg   the inputs of the row are loaded once into registers (the first
--         loop that names an input loads it) and later loops reuse them:
--         one DRAM read per element;
--   loop  every loop streams its inputs from memory again (any cols);
--         with cluster > 1 (sm_90) the row is split across the CTAs of
--         a cluster and each streams its slice (rows too long for the
--         cluster's registers, and a few long rows: decode);
--   cluster  (sm_90) a row is split across the CLUSTER CTAs of a thread
--         block cluster, each holding its slice in registers; the row's
--         max / sum partials are exchanged through distributed shared
--         memory: one DRAM read per element for rows of up to 262144
--         elements and more;
-- and the reductions over the threads of a row (warp shuffles, then shared
-- memory across the warps of a row, then DSMEM across the cluster).
--
-- How the reg and cluster strategies bring the row on chip (config key
-- load; absent means direct):
--   direct   16-byte loads from global memory straight into registers;
--   cpasync  (sm_80) each thread copies its vectors into shared memory with
--            cp.async, waits, then reads them into registers;
--   tma      (sm_90) one warp issues bulk copies (cp.async.bulk) of the
--            CTA's whole part of the row into shared memory, completing on
--            an mbarrier the threads wait on; no registers hold loads in flight.
--
-- Rows whose length or start is not a multiple of the vector width (a
-- vocabulary of 50257, say) take config key shift=1: each row is cut at
-- the 16-byte boundaries of its own start, so that every vector but the
-- first and the last of the row is a full aligned access; those two are
-- read and written element by element. The runtime gives shifted kernels
-- only calls whose pointers and strides put every row of every tensor at
-- the same offset within VEC elements.
--
-- xchg (strategy cluster): how the CTAs of a cluster exchange their
-- partials. push (absent means push, but for persistent grids): each CTA
-- pushes its partial into every CTA's shared memory with st.async,
-- completing on that CTA's mbarrier. barrier: each CTA writes its partial
-- for the others to read between two cluster barriers. With push a CTA
-- waits only for the partials it needs, and leaves as soon as its part of
-- the row is written: no cluster barrier per row, and none before exit (no
-- CTA reads another's shared memory). The one cluster barrier left orders
-- the mbarriers' initialisation before the first push; it is split, its
-- arrive before the loads and its wait after them.
--
-- persist=N: a persistent grid of at most N CTAs per multiprocessor that
-- walks over the groups of rows, instead of one CTA per group (strategies
-- reg and loop with direct loads; reg and cluster with load=tma). With
-- load=tma it double-buffers: while a CTA reduces and writes one group of
-- rows, the bulk copies of its next group are already in flight, so that
-- the memory pipe does not idle at the reductions' barriers.
--
-- Config keys (the same for every op): strategy, vec, tpr, threads,
-- cluster (CTAs per row; 1 except for the cluster strategy), load, occ,
-- shift, persist, xchg.
local cuda = require("lib.cuda")

local R = {}

-- Every config key of a row kernel (load is absent from configs that load directly).
R.keys = { "strategy", "vec", "tpr", "threads", "cluster", "load", "occ", "shift", "persist", "xchg" }

-- occ (strategy loop): at most this many CTAs per SM (1 or 2), enforced by
-- reserving unused dynamic shared memory, so that the rows in flight fit in
-- L2 and the second pass over a row hits L2 instead of DRAM.
local OCC_SMEM = { [1] = 120 * 1024, [2] = 80 * 1024 }

local MAX_EPT = 128        -- fp32 values of the row one thread may hold per input
local REGS_BUDGET = 32768  -- threads * values held, so that registers fit

local function pow2(x) return math.type(x) == "integer" and x >= 1 and (x & (x - 1)) == 0 end

-- Largest vector width that divides cols, within 16 bytes.
function R.max_vec(p)
  local v = cuda.dtype(p.dtype).maxvec
  while p.cols % v ~= 0 do v = v // 2 end
  return v
end

-- Columns a row spans in vectors of VEC: with shift, the row may start up
-- to VEC - 1 elements into its first vector.
function R.span(p, cfg)
  if (cfg.shift or 0) ~= 0 then return cuda.ceil_div(p.cols + cfg.vec - 1, cfg.vec) * cfg.vec end
  return p.cols
end

-- Columns of one CTA's slice of the row (a multiple of vec).
function R.slice(p, cfg)
  local cl = cfg.cluster or 1
  if cl == 1 then return R.span(p, cfg) end
  return cuda.ceil_div(cuda.ceil_div(R.span(p, cfg), cl), cfg.vec) * cfg.vec
end

-- Values per thread held in registers by the reg and cluster strategies (per input).
function R.ept(p, cfg)
  return cuda.ceil_div(R.slice(p, cfg), cfg.tpr * cfg.vec) * cfg.vec
end

-- Dynamic shared memory one CTA may have, less 1 KiB for the static arrays.
local SMEM_MAX = { [80] = 163, [86] = 99, [87] = 163, [89] = 99, [90] = 227 }
local function smem_max(sm) return ((SMEM_MAX[sm] or (sm >= 90 and 227 or 99)) - 1) * 1024 end
local PIECE = 16384  -- bytes per bulk copy (tma): several copies in flight per row

-- Bytes of shared memory the cpasync and tma loads stage a CTA's rows in
-- (one buffer; a persistent grid has two).
function R.stage_bytes(p, cfg, ninputs)
  return (cfg.threads // cfg.tpr) * ninputs * R.slice(p, cfg) * cuda.dtype(p.dtype).size
end
local function stage_total(p, cfg, ninputs)
  return R.stage_bytes(p, cfg, ninputs) * (cfg.persist and 2 or 1)
end

-- A copy of config c with the keys of t set (or cleared, by false).
local function with(c, t)
  local n = {}
  for k, v in pairs(c) do n[k] = v end
  for k, v in pairs(t) do n[k] = v or nil end
  return n
end

local function reg_fits(threads, ept, ninputs)
  return ept * ninputs <= MAX_EPT and threads * ept * ninputs <= REGS_BUDGET
end

-- Validate a config; ninputs is the number of row inputs held in registers.
function R.check(p, cfg, ninputs)
  local d = cuda.dtype(p.dtype)
  if p.sm < 80 then return false, "needs sm_80 or newer (bf16 and packed conversions)" end
  if cfg.strategy ~= "reg" and cfg.strategy ~= "loop" and cfg.strategy ~= "cluster" then
    return false, "strategy must be reg, loop or cluster"
  end
  local cl = cfg.cluster or 1
  if cfg.strategy == "cluster" or (cfg.strategy == "loop" and cl ~= 1) then
    local what = "strategy " .. cfg.strategy .. (cfg.strategy == "loop" and " with cluster > 1" or "")
    if cfg.xchg == "global" then
      -- (no thread-block cluster: any SM; a group of CTAs of any size that
      -- fits the GPU at once)
      if not pow2(cl) or cl < 2 or cl > 128 then
        return false, "xchg=global splits a row over 2 to 128 CTAs (cluster, a power of two)"
      end
    else
      if p.sm < 90 then return false, what .. " needs sm_90 or newer" end
      if cl ~= 2 and cl ~= 4 and cl ~= 8 and cl ~= 16 then return false, "cluster must be 1, 2, 4, 8 or 16" end
    end
    if cfg.tpr ~= cfg.threads then return false, what .. " takes one row per cluster (tpr = threads)" end
    if cfg.threads < 64 then return false, what .. " takes at least 64 threads per CTA" end
    if (cl - 1) * R.slice(p, cfg) >= R.span(p, cfg) then return false, "cluster too large: a CTA would hold no columns" end
    if cfg.strategy == "loop" and (cfg.persist ~= nil or cfg.occ ~= nil) then
      return false, what .. " takes neither persist nor occ"
    end
  elseif cl ~= 1 then
    return false, "cluster must be 1 for strategy reg"
  end
  if cfg.xchg ~= nil then
    if cfg.xchg ~= "push" and cfg.xchg ~= "barrier" and cfg.xchg ~= "global" then
      return false, "xchg must be push, barrier or global"
    end
    if cl == 1 then return false, "xchg applies to rows split across a cluster (cluster > 1)" end
    if cfg.xchg == "global" then
      if cfg.strategy ~= "cluster" then return false, "xchg=global takes strategy cluster" end
      if cfg.persist == nil then
        return false, "xchg=global takes a persistent grid (persist): every CTA of a row resident at once"
      end
      if (cfg.load or "direct") ~= "direct" then return false, "xchg=global takes direct loads" end
    end
    if cfg.persist ~= nil and cfg.xchg == "push" then
      return false, "xchg=push takes a grid of one cluster per row (persistent clusters exchange by barrier)"
    end
  end
  if not pow2(cfg.vec) or cfg.vec * d.size > 16 then
    return false, "vec must be a power of two of at most 16 bytes"
  end
  local shift = cfg.shift or 0
  if shift ~= 0 and shift ~= 1 then return false, "shift must be 0 or 1" end
  if shift == 0 and p.cols % cfg.vec ~= 0 then return false, "vec must divide cols (or take shift=1)" end
  if shift == 1 and (cfg.load or "direct") == "tma" then
    return false, "shift=1 takes direct or cpasync loads (bulk copies move the CTA's part whole)"
  end
  if cfg.persist ~= nil then
    if math.type(cfg.persist) ~= "integer" or cfg.persist < 1 or cfg.persist > 32 then
      return false, "persist must be an integer in 1..32"
    end
    local load = cfg.load or "direct"
    if load == "cpasync" then return false, "persist takes direct or tma loads" end
    if cfg.strategy == "cluster" and load ~= "tma" and cfg.xchg ~= "global" then
      return false, "persist with strategy cluster takes load=tma (or xchg=global)"
    end
    if cfg.persist * cfg.threads > 2048 then return false, "persist * threads must be <= 2048 (threads per SM)" end
  end
  if not pow2(cfg.tpr) or cfg.tpr > 1024 then return false, "tpr must be a power of two <= 1024" end
  if not pow2(cfg.threads) or cfg.threads < 32 or cfg.threads > 1024 then
    return false, "threads must be a power of two in 32..1024"
  end
  if cfg.threads < cfg.tpr then return false, "threads must be >= tpr" end
  if cfg.occ ~= nil then
    if cfg.strategy ~= "loop" then return false, "occ applies to strategy loop" end
    if cfg.occ ~= 1 and cfg.occ ~= 2 then return false, "occ must be 1 or 2" end
    if OCC_SMEM[cfg.occ] > smem_max(p.sm) then return false, "occ needs more shared memory than sm_" .. p.sm .. " has" end
  end
  local load = cfg.load or "direct"
  if load ~= "direct" then
    if load ~= "cpasync" and load ~= "tma" then return false, "load must be direct, cpasync or tma" end
    if cfg.strategy == "loop" and (cfg.persist ~= nil or cfg.occ ~= nil) then
      return false, "load " .. load .. " with strategy loop takes neither persist nor occ"
    end
    if load == "tma" and p.sm < 90 then return false, "load tma needs sm_90 or newer" end
    if cfg.vec * d.size ~= 16 then return false, "load " .. load .. " moves 16-byte vectors (vec * element size = 16)" end
    if stage_total(p, cfg, ninputs) > smem_max(p.sm) then
      return false, string.format("load %s: %d bytes of staged rows exceed the %d bytes of shared memory of sm_%d",
        load, stage_total(p, cfg, ninputs), smem_max(p.sm), p.sm)
    end
  end
  if cfg.strategy ~= "loop" and not reg_fits(cfg.threads, R.ept(p, cfg), ninputs) then
    return false, string.format("%d values per thread do not fit in registers at %d threads",
      R.ept(p, cfg) * ninputs, cfg.threads)
  end
  return true
end

-- Every valid config: the two widest vector widths; reg wherever it fits;
-- loop for rows of 2048 and more (and wherever reg does not fit); on sm_90,
-- cluster for rows of 16384 and more.
function R.space(p, ninputs, reg_ok)
  local out = {}
  local V = R.max_vec(p)
  local vecs = { { V, nil } }
  if V > 1 then vecs[2] = { V // 2, nil } end
  -- Rows that no wide vector divides: the two widest vectors, shifted, and
  -- the widest that divides, unshifted (shift=0 said outright: the default,
  -- which configs are completed from, is shifted).
  local W = cuda.dtype(p.dtype).maxvec
  if V < W and p.cols >= 2 * W then
    vecs = { { W, 1 }, { W // 2, 1 }, { V, 0 } }
    if W // 2 <= V then table.remove(vecs, 2) end
  end
  for _, vs in ipairs(vecs) do
    local vec, shift = vs[1], vs[2]
    local nvec = cuda.ceil_div(p.cols, vec)
    if reg_ok ~= false then
      for _, tpr in ipairs(cuda.pow2s(1, math.min(1024, cuda.next_pow2(nvec)))) do
        for _, threads in ipairs(cuda.pow2s(math.max(64, tpr), 1024)) do
          local cfg = { strategy = "reg", vec = vec, tpr = tpr, threads = threads, cluster = 1, shift = shift }
          if R.check(p, cfg, ninputs) then out[#out + 1] = cfg end
        end
      end
    end
    local loop_tprs = {}
    if p.cols >= 2048 or reg_ok == false or #out == 0 then
      for _, tpr in ipairs(cuda.pow2s(math.max(1, math.min(256, cuda.next_pow2(nvec) // 8)), 1024)) do
        loop_tprs[#loop_tprs + 1] = tpr
      end
    end
    for _, tpr in ipairs(loop_tprs) do
      for _, threads in ipairs({ 256, 512, 1024 }) do
        if threads >= tpr and (tpr >= 256 or threads == 256) then
          out[#out + 1] = { strategy = "loop", vec = vec, tpr = tpr, threads = threads, cluster = 1, shift = shift }
        end
      end
    end
    if reg_ok ~= false and p.sm >= 90 and p.cols >= 16384 then
      for _, cl in ipairs({ 2, 4, 8, 16 }) do
        for _, threads in ipairs({ 128, 256, 512, 1024 }) do
          local cfg = { strategy = "cluster", vec = vec, tpr = threads, threads = threads, cluster = cl, shift = shift }
          -- keep every thread busy: a slice of at least one vector per thread
          if R.check(p, cfg, ninputs) and R.slice(p, cfg) >= threads * vec then
            out[#out + 1] = cfg -- (xchg push)
            -- barrier exchanges for CTAs of 256 threads and more
            if threads >= 256 then out[#out + 1] = with(cfg, { xchg = "barrier" }) end
          end
        end
      end
    end
  end
  -- Streamed rows split across a cluster (sm_90): each CTA streams its
  -- slice; for rows too long to hold on chip (1M columns) and for a few
  -- long rows (decode), whose slices are read again from L2.
  if p.sm >= 90 and p.cols >= 65536 then
    local vec, shift = vecs[1][1], vecs[1][2]
    for _, cl in ipairs({ 4, 8, 16 }) do
      for _, threads in ipairs({ 256, 512 }) do
        local cfg = { strategy = "loop", vec = vec, tpr = threads, threads = threads, cluster = cl, shift = shift }
        if R.check(p, cfg, ninputs) and R.slice(p, cfg) >= threads * vec then out[#out + 1] = cfg end
      end
    end
  end
  -- A row split over 16 to 128 CTAs that are no cluster (xchg=global), each
  -- holding its slice in registers, the partials exchanged through global
  -- memory (L2) on counters, in a persistent grid of as many CTAs as the
  -- GPU holds at once: for a few long rows (decode), where a cluster of 16
  -- CTAs leaves most SMs idle. Any SM (no cluster hardware).
  if reg_ok ~= false and p.cols * cuda.dtype(p.dtype).size * ninputs >= 262144 then
    local vec, shift = vecs[1][1], vecs[1][2]
    for _, cl in ipairs({ 16, 32, 64, 128 }) do
      for _, threads in ipairs({ 128, 256 }) do
        local cfg = { strategy = "cluster", vec = vec, tpr = threads, threads = threads, cluster = cl, shift = shift,
                      xchg = "global", persist = 2048 // threads }
        if R.check(p, cfg, ninputs) and R.slice(p, cfg) >= threads * vec then out[#out + 1] = cfg end
      end
    end
  end
  -- Rows held in shared memory (sm_90, 16-byte vectors; a row that they
  -- do not divide is shifted): every whole vector of a CTA's slice copied at once with cp.async, each
  -- pass reading the slice from shared memory (strategy loop, load
  -- cpasync): few registers, so small CTAs of several rows resident per SM.
  if p.sm >= 90 and p.cols >= 16384 and (V == W or p.cols >= 2 * W) then
    -- (rows no 16-byte vector divides: shifted, the two ends by element)
    local shift = V < W and 1 or nil
    for _, cl in ipairs({ 1, 2, 4, 8, 16 }) do
      for _, threads in ipairs({ 128, 256, 512 }) do
        local cfg = { strategy = "loop", vec = W, tpr = threads, threads = threads, cluster = cl, load = "cpasync",
                      shift = shift }
        if R.check(p, cfg, ninputs) and R.slice(p, cfg) >= threads * W then out[#out + 1] = cfg end
      end
    end
  end
  -- Long streamed rows with few CTAs per SM (the second pass from L2).
  if p.cols >= 16384 then
    local n = #out
    for i = 1, n do
      local c = out[i]
      if c.strategy == "loop" and c.threads >= 512 and c.tpr == c.threads and c.cluster == 1 then
        for _, occ in ipairs({ 1, 2 }) do
          local cfg = with(c, { occ = occ })
          if R.check(p, cfg, ninputs) then out[#out + 1] = cfg end
        end
      end
    end
  end
  -- A persistent grid, filling each SM's 2048 threads: for CTAs of 256 or
  -- 512 threads that hold their rows in registers, and for streamed rows.
  do
    local n = #out
    for i = 1, n do
      local c = out[i]
      if c.occ == nil and ((c.strategy == "reg" and (c.threads == 256 or c.threads == 512))
          or (c.strategy == "loop" and c.cluster == 1 and (c.tpr == c.threads or c.threads == 256))) then
        local cfg = with(c, { persist = 2048 // c.threads })
        if R.check(p, cfg, ninputs) then out[#out + 1] = cfg end
      end
    end
  end
  -- Staged loads for rows of 2048 and more, where a CTA's part of the row
  -- is large enough for them to matter: every register-held config of 16-byte
  -- vectors with at least 64 threads per row and 256 per CTA.
  if p.cols >= 2048 then
    local n = #out
    for i = 1, n do
      local c = out[i]
      if c.strategy ~= "loop" and c.tpr >= 64 and (c.threads >= 256 or c.strategy == "cluster") and c.persist == nil then
        for _, load in ipairs({ "cpasync", "tma" }) do
          -- (shifted rows: cp.async of every whole vector, the two ends by element)
          if (c.shift or 0) == 0 or load == "cpasync" then
            local cfg = with(c, { load = load, shift = (c.shift == 1) and 1 or false })
            if R.check(p, cfg, ninputs) then out[#out + 1] = cfg end
          end
        end
      end
    end
    -- Each tma variant once more on a persistent grid, double-buffered: as
    -- many CTAs per SM as two buffers each and the SM's threads allow.
    n = #out
    for i = 1, n do
      local c = out[i]
      if c.load == "tma" and c.threads <= 512 and (c.strategy ~= "cluster" or c.xchg == "barrier") then
        -- (at 1024 threads, 64 registers: the loop's state spills)
        local by_smem = smem_max(p.sm) // (2 * R.stage_bytes(p, c, ninputs) + 1024)
        local per_sm = math.min(by_smem, 2048 // c.threads, 32)
        if per_sm >= 1 then
          local cfg = with(c, { persist = per_sm, xchg = false })
          if R.check(p, cfg, ninputs) then out[#out + 1] = cfg end
        end
      end
    end
  end
  -- The order a tuner with a time budget times the space in (after the
  -- template's default): clusters that push their partials first (the
  -- long rows' likely winners), streamed (loop) variants last: they read
  -- long rows twice and rarely win.
  local push, first, last = {}, {}, {}
  for _, c in ipairs(out) do
    if (c.cluster > 1 and c.xchg == nil and c.persist == nil and c.strategy == "cluster") or c.load == "cpasync" and c.strategy == "loop" then
      push[#push + 1] = c
    elseif c.strategy == "loop" then last[#last + 1] = c
    else first[#first + 1] = c end
  end
  for _, c in ipairs(first) do push[#push + 1] = c end
  for _, c in ipairs(last) do push[#push + 1] = c end
  return push
end

-- About four vectors per thread: enough loads in flight, few registers.
-- Rows that no 16-byte vector divides are shifted (16-byte accesses but
-- for each row's first and last vector).
function R.default(p, ninputs, reg_ok)
  local vec, shift = R.max_vec(p), nil
  if vec < cuda.dtype(p.dtype).maxvec and p.cols >= 2 * cuda.dtype(p.dtype).maxvec then
    vec, shift = cuda.dtype(p.dtype).maxvec, 1
  end
  local nvec = cuda.ceil_div(p.cols, vec)
  local tpr = math.min(1024, cuda.next_pow2(cuda.ceil_div(nvec, 4)))
  local cfg = { strategy = "reg", vec = vec, tpr = tpr, threads = math.max(tpr, 256), cluster = 1, shift = shift }
  -- Long rows (48 KB and more) whose 16-byte vectors divide the row or
  -- are shifted: shared-memory slices (strategy loop, load cpasync), the
  -- tuned winners of nearly every long width on an H100 (bench/NOTES.md,
  -- "Clusters that push their partials, ... shared-memory slices"). Each
  -- CTA of 256 threads copies its slice of the row into shared memory with
  -- cp.async at once and every pass reads it there; on sm_90 the row is
  -- split over a cluster so that a CTA stages at most 64 KB of all its
  -- inputs together (one input: cluster 1 up to 64 KB, 4 at 256 KB, 8 at
  -- 512 KB; 16 at most), so that several CTAs share an SM.
  local d = cuda.dtype(p.dtype)
  local row_bytes = p.cols * d.size
  if vec * d.size == 16 and row_bytes >= 49152 then
    local cl = 1
    if p.sm >= 90 then
      cl = math.min(16, cuda.next_pow2(cuda.ceil_div(row_bytes * ninputs, 65536)))
    end
    for _, threads in ipairs({ 256, 512, 1024 }) do
      local c = { strategy = "loop", load = "cpasync", vec = vec, tpr = threads, threads = threads, cluster = cl,
                  shift = shift }
      if R.check(p, c, ninputs) then return c end
    end
  end
  -- (else, rows of 128 KB and more on sm_90: a register-held cluster of
  -- CTAs of 128 threads, each copying its whole slice with cp.async at
  -- once, partials pushed)
  if reg_ok ~= false and p.sm >= 90 and row_bytes >= 131072 and vec * d.size == 16 and shift == nil then
    local cl = math.min(16, math.max(2, cuda.next_pow2(cuda.ceil_div(row_bytes, 16384))))
    for _, threads in ipairs({ 128, 256, 512, 1024 }) do
      local c = { strategy = "cluster", vec = vec, tpr = threads, threads = threads, cluster = cl, load = "cpasync" }
      if R.check(p, c, ninputs) then return c end
    end
    -- (a row too long for the largest cluster's registers: each CTA of
    -- the cluster streams its slice)
    local c = { strategy = "loop", vec = vec, tpr = 512, threads = 512, cluster = 16 }
    if R.check(p, c, ninputs) then return c end
  end
  if reg_ok ~= false and reg_fits(cfg.threads, R.ept(p, cfg), ninputs) then return cfg end
  -- Too long for one CTA's registers (and no clusters): stream it.
  return { strategy = "loop", vec = vec, tpr = math.min(1024, tpr), threads = math.max(256, math.min(1024, tpr)),
           cluster = 1, shift = shift }
end

-- A config given in part (kgen gen --config, a record) is completed from
-- the default; keys that belong to the default's strategy alone do not
-- carry over to another strategy: given is the table of keys set.
-- A config that names its strategy (every config of the space, every
-- record) is whole: the optional keys it leaves out (load, occ, persist,
-- xchg) are absent, not the default's.
function R.complete(p, cfg, given)
  if given.strategy ~= nil then
    for _, k in ipairs({ "load", "occ", "persist", "xchg" }) do
      if given[k] == nil then cfg[k] = nil end
    end
  end
  if cfg.strategy == "reg" and given.cluster == nil then cfg.cluster = 1 end
  if given.strategy ~= nil and given.cluster == nil and given.strategy ~= "cluster" then cfg.cluster = 1 end
  if (cfg.cluster or 1) == 1 and given.xchg == nil then cfg.xchg = nil end
  -- Staged loads move 16-byte vectors: a narrower vec given alone loads directly.
  if given.vec ~= nil and given.load == nil and cfg.load ~= nil
     and cfg.vec * cuda.dtype(p.dtype).size ~= 16 then
    cfg.load = nil
  end
  return cfg
end

-- An emitter for one kernel body. inputs: list of {name, ptr, ld, pad}
-- where ptr / ld are C expressions of the row-0 pointer and the stride,
-- pad is the value of elements past the end of the row (reg strategy).
function R.emitter(p, cfg, inputs)
  local cl = cfg.cluster or 1
  local E = { p = p, cfg = cfg, reg = cfg.strategy ~= "loop", cluster = cl, loaded = {}, inputs = {},
              load = cfg.load or "direct" }
  E.staged = E.load ~= "direct"
  E.shift = (cfg.shift or 0) ~= 0
  E.persist = cfg.persist ~= nil
  E.global = cl > 1 and cfg.xchg == "global" -- CTAs of a row that are no cluster: exchange through a.xg
  E.push = cl > 1 and cfg.xchg ~= "barrier" and not E.global and not E.persist
  E.nxchg = 0 -- exchanges emitted so far (push): each has its own mbarrier
  -- Rows held on chip by threads of several warps (reg, cluster): each
  -- thread sums exp relative to its own max and one exchange of (max, sum)
  -- pairs (E.reduce_ms) replaces a max then a sum, a barrier (a cluster
  -- barrier) fewer. Within a warp there is no barrier to save: max first.
  E.split_ms = E.reg and cfg.tpr > 32
  for _, inp in ipairs(inputs) do E.inputs[inp.name] = inp end

  -- Defines, then the kernel's row bookkeeping.
  function E.head()
    return cuda.subst([[
#define COLS $cols
#define VEC $vec
#define TPR $tpr            /* threads per row */
#define THREADS $threads
#define ROWS_PER_CTA $rpc
#define WARPS_PER_ROW $wpr
#define CLUSTER $cl          /* CTAs per row */
#define SLICE $slice        /* columns of one CTA's part of the row */
#define NCHUNK $nchunk      /* vectors per thread (reg and cluster strategies) */
#define EVEN $even          /* the slices tile the row and TPR * VEC divides SLICE: no bounds checks */
#define LOG2E 1.4426950408889634f
#define LN2 0.6931471805599453f
#define KG_NEG_INF __int_as_float(0xff800000)
#define KG_NAN __int_as_float(0x7fffffff)
#define NIN $nin             /* row inputs */
#define PIECE $piece        /* bytes per bulk copy (load tma) */
#define SHIFT $shift          /* rows start anywhere within a vector: partial first and last vectors */
#define PERSIST $persist        /* CTAs per SM of a persistent grid (0: one CTA per group of rows) */
#define STAGE_BYTES $stage_bytes /* one buffer of staged rows (load cpasync or tma) */
/* Whether the vector at u (from the row's first vector) lies wholly inside
 * the row: every vector but a shifted row's first and last. */
#define KG_WHOLE(u) (SHIFT ? ((u) - off >= 0 && (u) - off + VEC <= COLS) : (u) < COLS)
/* Whether element j of the vector at column c is inside the row. */
#define KG_IN(j) (ok && (!SHIFT || (unsigned)(c + (j)) < (unsigned)COLS))
/* The VEC elements at columns c.. of the row at p: one aligned access, or
 * (SHIFT, the row's first and last vectors) element by element, pad
 * standing for the elements outside the row. */
__device__ __forceinline__ void kg_load_row(const T *__restrict__ p, int c, float (&v)[VEC], float pad)
{
    if (!SHIFT || (c >= 0 && c + VEC <= COLS)) {
        kg_load<VEC>(p + c, v);
        return;
    }
#pragma unroll
    for (int j = 0; j < VEC; ++j)
        v[j] = (unsigned)(c + j) < (unsigned)COLS ? kg_to_f32(p[c + j]) : pad;
}
/* Element j inside the row, in a loop over whole vectors only. */
#define KG_IN_WHOLE(j) (ok)
/* The VEC elements at columns c.. of the row at p, c a whole vector's. */
__device__ __forceinline__ void kg_store_whole(T *__restrict__ p, int c, const float (&v)[VEC], float scale)
{
    if (SHIFT)
        kg_st_global(p + c, kg_pack_raw<VEC>(v, scale)); /* the compiler would split it */
    else
        kg_store<VEC>(p + c, v, scale);
}
__device__ __forceinline__ void kg_store_row(T *__restrict__ p, int c, const float (&v)[VEC], float scale)
{
    if (!SHIFT || (c >= 0 && c + VEC <= COLS)) {
        if (SHIFT)
            kg_st_global(p + c, kg_pack_raw<VEC>(v, scale)); /* the compiler would split it */
        else
            kg_store<VEC>(p + c, v, scale);
        return;
    }
#pragma unroll
    for (int j = 0; j < VEC; ++j)
        if ((unsigned)(c + j) < (unsigned)COLS)
            p[c + j] = kg_from_f32(v[j] * scale);
}
]], {
      nin = #inputs, piece = PIECE, stage_bytes = E.staged and R.stage_bytes(p, cfg, #inputs) or 0, shift = E.shift and 1 or 0, persist = cfg.persist or 0,
      cols = p.cols, vec = cfg.vec, tpr = cfg.tpr, threads = cfg.threads,
      rpc = cfg.threads // cfg.tpr, wpr = math.max(1, cfg.tpr // 32),
      cl = cl, slice = R.slice(p, cfg),
      nchunk = cuda.ceil_div(R.slice(p, cfg), cfg.tpr * cfg.vec),
      even = (not E.shift and R.slice(p, cfg) * cl == p.cols and R.slice(p, cfg) % (cfg.tpr * cfg.vec) == 0) and 1 or 0,
    }) .. ((cl > 1 and not E.global) and cuda.cluster_helpers or "") .. (E.global and cuda.xg_helpers or "")
       .. ((E.staged or E.push) and cuda.mbar_helpers or "")
       .. (E.staged and cuda.stage_helpers or "") .. (E.push and cuda.push_helpers or "")
  end

  -- Stage this CTA's part of its rows in shared memory (load cpasync or
  -- tma). stage_setup runs once per CTA, before any loop over groups of
  -- rows; stage the per group part.
  local function stage_setup()
    if E.load ~= "tma" then return "" end
    local src = {}
    for k, inp in ipairs(inputs) do
      src[#src + 1] = string.format("k == %d ? (const T *)(%s) + (row0 + g) * (%s)", k - 1, inp.ptr, inp.ld)
    end
    return cuda.subst([[
    __shared__ __attribute__((aligned(8))) unsigned long long bar[2];
    if (threadIdx.x == 0) {
        kg_mbar_init(&bar[0], 1);
        kg_mbar_init(&bar[1], 1);
    }
    __syncthreads();
    /* Warp 0: bulk copies of this CTA's part of group blk's rows into buffer buf. */
    auto stage = [&](long long blk, int buf) {
        const long long row0 = blk * ROWS_PER_CTA;
        const int nrows = (int)(a.rows - row0 < ROWS_PER_CTA ? a.rows - row0 : ROWS_PER_CTA);
        const int cnt = COLS - rank * SLICE < SLICE ? COLS - rank * SLICE : SLICE; /* this CTA's columns */
        const unsigned bytes = (unsigned)cnt * sizeof(T);
        const int npiece = (int)((bytes + PIECE - 1) / PIECE);
        if (threadIdx.x == 0)
            kg_mbar_expect(&bar[buf], bytes * NIN * nrows);
        __syncwarp();
        for (int q = threadIdx.x; q < nrows * NIN * npiece; q += 32) {
            const int g = q / (NIN * npiece), k = q / npiece % NIN;
            const unsigned off = (unsigned)(q % npiece) * PIECE;
            const T *src = ($src : 0) + rank * SLICE;
            kg_bulk_load(kg_stage + (size_t)buf * STAGE_BYTES + (size_t)(g * NIN + k) * SLICE * sizeof(T) + off,
                         (const char *)src + off, bytes - off < PIECE ? bytes - off : PIECE, &bar[buf]);
        }
    };
]], { src = table.concat(src, " : ") }) .. (E.persist and [[
    if (threadIdx.x < 32)
        stage(blockIdx.x / CLUSTER, 0);
]] or "")
  end

  -- early: code run while the copies are in flight (before the wait).
  local function stage(early)
    early = early or ""
    local out = {}
    local buf = (E.load == "tma" and E.persist) and "buf * STAGE_BYTES + " or ""
    for k, inp in ipairs(inputs) do
      out[#out + 1] = string.format("    const T *%s_s = (const T *)(kg_stage + %s(size_t)(group * NIN + %d) * SLICE * sizeof(T));",
        inp.name, buf, k - 1)
    end
    if E.load == "cpasync" then
      out[#out + 1] = "#pragma unroll\n    for (int i = 0; i < NCHUNK; ++i) {"
      out[#out + 1] = "        const int o = (i * TPR + lane) * VEC; /* in the slice */"
      out[#out + 1] = "        if (live && (EVEN || (o < SLICE && KG_WHOLE(rank * SLICE + o)))) {"
      for _, inp in ipairs(inputs) do
        -- (shifted: the aligned vector at u starts off elements before the column u - off)
        out[#out + 1] = string.format("            kg_cp_async16((void *)(%s_s + o), %s_p - off + rank * SLICE + o);",
          inp.name, inp.name)
      end
      out[#out + 1] = "        }\n    }"
      out[#out + 1] = early .. "    kg_cp_async_wait(); /* each thread reads back only what it copied */"
      return table.concat(out, "\n") .. "\n"
    end
    if E.persist then
      -- Buffer buf holds this group (its copies were issued an iteration
      -- ago); the other buffer was read in the last iteration, which every
      -- thread has left (the barrier at the loop's end): refill it.
      out[#out + 1] = [[
    if (threadIdx.x < 32 && (blk + gridDim.x / CLUSTER) * ROWS_PER_CTA < a.rows) {
        kg_fence_proxy_async();
        stage(blk + gridDim.x / CLUSTER, buf ^ 1);
    }]]
      out[#out + 1] = early .. "    kg_mbar_wait(&bar[buf], (it >> 1) & 1);"
    else
      out[#out + 1] = "    if (threadIdx.x < 32)\n        stage(blockIdx.x / CLUSTER, 0);"
      out[#out + 1] = early .. "    kg_mbar_wait(&bar[0], 0);"
    end
    return table.concat(out, "\n") .. "\n"
  end

  -- xchg=push: the slots the cluster's CTAs push their partials into (one
  -- set per exchange of the row: at most XCHG_MAX), and their mbarriers,
  -- each expecting one 8-byte push from every CTA. Initialised, then the
  -- cluster barrier's arrive; its wait comes before the first push.
  local XCHG_MAX = 3
  local function push_setup()
    return cuda.subst([[
    __shared__ __attribute__((aligned(16))) float xch[$nx][CLUSTER][2]; /* [exchange][from CTA] */
    __shared__ __attribute__((aligned(8))) unsigned long long xbar[$nx];
    if (threadIdx.x == 0) {
#pragma unroll
        for (int k = 0; k < $nx; ++k) {
            kg_mbar_init(&xbar[k], 1);
            kg_mbar_expect(&xbar[k], CLUSTER * 8);
        }
    }
    kg_cluster_arrive(); /* the mbarriers are ready for the cluster's pushes */
]], { nx = XCHG_MAX })
  end

  -- One exchange (push): every CTA's pair (a, b) into slot rank of every
  -- CTA; then this CTA waits for the cluster's pairs. Returns the code and
  -- the exchange's index.
  local function push_exchange(a, b)
    local k = E.nxchg
    if k >= XCHG_MAX then error("rows.lua: more than " .. XCHG_MAX .. " cluster exchanges in one kernel") end
    E.nxchg = k + 1
    return cuda.subst([[
$wait    if (threadIdx.x < CLUSTER)
        kg_push2(kg_smem(&xch[$k][rank][0]), kg_smem(&xbar[$k]), threadIdx.x, $a, $b);
    kg_mbar_wait_cluster(&xbar[$k], 0);
]], { k = k, a = a, b = b, wait = k == 0 and "    kg_cluster_wait(); /* every CTA's mbarriers are initialised */\n" or "" }), k
  end

  -- One exchange (global): warp 0 publishes this CTA's pair (a, b) into the
  -- exchange area, waits for the group's CLUSTER pairs of this row and
  -- combines them (kind "max", "sum" or "ms": a (max, sum of exp) pair);
  -- every thread then reads the row's a (and b for ms) from shared memory.
  local function global_exchange(a, b, kind)
    local k = E.nxchg
    -- (the exchange area holds KG_XG_NX = 3 exchanges a CTA: lib/cuda.lua)
    if k >= XCHG_MAX or k >= 3 then error("rows.lua: more than 3 exchanges of a row in one kernel") end
    E.nxchg = k + 1
    local merge = ({ max = "va = fmaxf(va, q.x);", sum = "va += q.x;", ms = "kg_ms_merge(va, vb, q.x, q.y);" })[kind]
    local red = ({ max = "va = kg_group_max<32>(va);", sum = "va = kg_group_sum<32>(va);",
                   ms = "kg_group_ms<32>(va, vb);" })[kind]
    return cuda.subst([[
    if (threadIdx.x < 32) { /* warp 0: this CTA's pair out, the group's in */
        const unsigned xg_group = blockIdx.x / CLUSTER;
        unsigned *xg_count = kg_xg_count(a.xg, xg_group, $k);
        const unsigned gen = xg_gen[$k] + it; /* this row's generation of the counter */
        if (threadIdx.x == 0)
            kg_xg_publish(xg_count, kg_xg_pair(a.xg, blockIdx.x, $k, gen & 1), $a, $b, CLUSTER);
        kg_xg_wait(xg_count, KG_XG_ROW * (gen + 1));
        float va = $init, vb = 0.f;
        for (int r = threadIdx.x; r < CLUSTER; r += 32) {
            const float2 q = __ldcg(kg_xg_pair(a.xg, xg_group * CLUSTER + r, $k, gen & 1));
            $merge
        }
        $red
        if (threadIdx.x == 0)
            xgr[$k] = make_float2(va, vb);
    }
    __syncthreads();
    $a = xgr[$k].x;
]], { k = k, a = a, b = b, init = kind == "sum" and "0.f" or "KG_NEG_INF", merge = merge, red = red })
      .. (kind == "ms" and string.format("    %s = xgr[%d].y;\n", b, k) or "")
  end

  -- The kernel's head up to its row's inputs on chip (staged loads: issued
  -- and waited for). early: code of the row's own scalars (a target, say)
  -- that only reads memory, run while the staged copies are in flight, so
  -- that its loads' latency hides behind theirs; after the row's pointers
  -- when nothing is staged.
  function E.prologue(early)
    early = early or ""
    local lines = {
      cfg.tpr > 32 and "    __shared__ float red[4][THREADS / 32];" or "",
      (cl > 1 and not E.push and not E.global) and (E.persist and "    __shared__ float part[2][4]; /* this CTA's partials, read by the cluster (by group parity) */"
        or "    __shared__ float part[4]; /* this CTA's partials, read by the cluster */") or "",
      "    const int lane = threadIdx.x % TPR;",
      "    const int group = threadIdx.x / TPR;",
      "    const int first = group * WARPS_PER_ROW; /* this row's first warp */",
      cl > 1 and "    const int rank = blockIdx.x % CLUSTER; /* this CTA's slice of the row */"
        or "    const int rank = 0;",
      "    (void)first;",
    }
    if E.persist then
      -- Closed by E.epilogue; the group index is uniform over the CTA (and
      -- the cluster); it counts the groups this CTA has done.
      if E.global then
        lines[#lines + 1] = string.format("    __shared__ float2 xgr[%d]; /* the row's combined pairs, by exchange */", XCHG_MAX)
        -- (each counter's generation of this CTA's first row, read while
        -- the row's loads are on their way; every exchange follows a
        -- barrier of the CTA's reduction)
        lines[#lines + 1] = string.format([[
    __shared__ unsigned xg_gen[%d]; /* read by warp 0 after the row's first barrier */
    if (threadIdx.x < %d)
        xg_gen[threadIdx.x] = kg_xg_generation(kg_xg_count(a.xg, blockIdx.x / CLUSTER, threadIdx.x));]],
          XCHG_MAX, XCHG_MAX)
      end
      if E.staged then lines[#lines + 1] = stage_setup() end
      lines[#lines + 1] = "    unsigned it = 0;"
      lines[#lines + 1] = "    for (long long blk = blockIdx.x / CLUSTER; blk * ROWS_PER_CTA < a.rows; blk += gridDim.x / CLUSTER, ++it) {"
      lines[#lines + 1] = "    const int buf = it & 1;"
      lines[#lines + 1] = "    (void)buf;"
      lines[#lines + 1] = "    const long long row = blk * ROWS_PER_CTA + group;"
    else
      if E.push then lines[#lines + 1] = push_setup() end
      if E.staged then lines[#lines + 1] = stage_setup() end
      lines[#lines + 1] = "    const long long row = (long long)(blockIdx.x / CLUSTER) * ROWS_PER_CTA + group;"
    end
    lines[#lines + 1] = "    const bool live = row < a.rows;"
    lines[#lines + 1] = "    const bool leader = live && lane == 0 && rank == 0; /* writes the row's scalars */"
    lines[#lines + 1] = "    (void)leader;"
    for k, inp in ipairs(inputs) do
      lines[#lines + 1] = string.format("    const T *%s_p = (const T *)(%s) + row * (%s);", inp.name, inp.ptr, inp.ld)
      if k == 1 then
        -- Every tensor's row starts at the same offset within VEC elements.
        lines[#lines + 1] = string.format(
          "    const int off = SHIFT ? (int)((unsigned long long)%s_p / sizeof(T) %% VEC) : 0; /* the row's start within its first vector */",
          inp.name)
      end
      if E.reg then
        lines[#lines + 1] = string.format("    float %s_r[NCHUNK][VEC];", inp.name)
      end
    end
    return table.concat(lines, "\n") .. "\n" .. (E.staged and stage(early) or early)
  end

  -- One loop over the row's vectors. uses: input names the body reads as
  -- name[j]; body: code run per vector with c (first column) and ok (the
  -- vector is inside the row) defined.
  function E.loop(uses, body)
    local pre = {}
    for _, name in ipairs(uses) do
      local inp = E.inputs[name]
      if E.reg then
        if not E.loaded[name] then
          E.loaded[name] = true
          local direct = string.format("kg_load_row(%s_p, c, %s_r[i], %s);", name, name, inp.pad)
          local load = direct
          if E.staged then
            load = string.format([[if (!SHIFT || KG_WHOLE(u))
                kg_load<VEC>(%s_s + (u - rank * SLICE), %s_r[i]);
            else /* a shifted row's partial end vector: from global memory */
                %s]], name, name, direct)
          end
          pre[#pre + 1] = string.format([[
        if (ok) {
            %s
        } else {
#pragma unroll
            for (int j = 0; j < VEC; ++j)
                %s_r[i][j] = %s;
        }]], load, name, inp.pad)
        end
        pre[#pre + 1] = string.format("        float (&%s)[VEC] = %s_r[i];", name, name)
      elseif E.staged then
        -- (the vectors this thread copied: u runs over them)
        pre[#pre + 1] = string.format([[
        float %s[VEC];
        if (!SHIFT || KG_WHOLE(u))
            kg_load<VEC>(%s_s + (u - rank * SLICE), %s);
        else /* a shifted row's partial end vector: from global memory */
            kg_load_row(%s_p, c, %s, %s);]], name, name, name, name, name, inp.pad)
      else
        pre[#pre + 1] = string.format("        float %s[VEC];\n        kg_load_row(%s_p, c, %s, %s);", name, name, name,
          inp.pad)
      end
    end
    if E.reg then
      return table.concat({
        "#pragma unroll",
        "    for (int i = 0; i < NCHUNK; ++i) {",
        cl > 1 and "        const int u = rank * SLICE + (i * TPR + lane) * VEC; /* from the row's first vector */"
          or "        const int u = (i * TPR + lane) * VEC; /* from the row's first vector */",
        "        const int c = u - off; /* the column */",
        cl > 1 and "        const bool ok = live && (EVEN || ((i * TPR + lane) * VEC < SLICE && u < COLS + off));"
          or "        const bool ok = live && (EVEN || u < COLS + off);",
        table.concat(pre, "\n"),
        body,
        "    }",
      }, "\n") .. "\n"
    end
    if E.shift then
      -- A shifted row: the loop over its whole vectors (no test for a
      -- partial one left in the unrolled body, which would keep a second
      -- load path and its registers alive), then the row's partial first
      -- and last vectors, element by element, by the threads whose loop
      -- they fall in.
      local whole = {}
      for _, name in ipairs(uses) do
        whole[#whole + 1] = string.format("        float %s[VEC];", name)
        if E.staged then
          whole[#whole + 1] = string.format("        kg_load<VEC>(%s_s + (u - rank * SLICE), %s);", name, name)
        else
          whole[#whole + 1] = string.format("        kg_load<VEC>(%s_p + c, %s);", name, name)
        end
      end
      local part = {}
      for _, name in ipairs(uses) do
        part[#part + 1] = string.format("            float %s[VEC];\n            kg_load_row(%s_p, c, %s, %s);", name, name,
          name, E.inputs[name].pad)
      end
      local wbody = body:gsub("kg_store_row%(", "kg_store_whole("):gsub("KG_IN%(", "KG_IN_WHOLE(")
      local u0 = cl > 1 and "rank * SLICE" or "0"
      return table.concat({
        "    {",
        cl > 1 and "    const int ue = (rank + 1) * SLICE; /* the slice's end, from the row's first vector */" or "",
        "#pragma unroll 4",
        string.format("    for (int u = %s + lane * VEC + (off && %s + lane == 0 ? TPR * VEC : 0); live && %su - off + VEC <= COLS; u += TPR * VEC) {",
          u0, cl > 1 and "rank" or "0", cl > 1 and "u < ue && " or ""),
        "        const int c = u - off; /* the column */",
        "        const bool ok = true;",
        table.concat(whole, "\n"),
        wbody,
        "    }",
        "#pragma unroll 1",
        "    for (int e = 0; e < 2; ++e) { /* the partial first and last vectors */",
        "        const int u = e == 0 ? 0 : (COLS + off) / VEC * VEC;",
        "        if (!live || (e == 0 ? off == 0 : u >= COLS + off || (off && u == 0)))",
        "            continue;",
        cl > 1 and "        if (u < rank * SLICE || u >= (rank + 1) * SLICE || (u - rank * SLICE) / VEC % TPR != lane)"
          or "        if (u / VEC % TPR != lane)",
        "            continue;",
        "        {",
        "        const int c = u - off; /* the column */",
        "        const bool ok = true;",
        table.concat(part, "\n"),
        body,
        "        }",
        "    }",
        "    }",
      }, "\n") .. "\n"
    end
    if cl > 1 then
      -- this CTA's slice of the row
      return table.concat({
        "    {",
        "    const int ue = min((rank + 1) * SLICE, COLS + off); /* the slice's end, from the row's first vector */",
        "#pragma unroll 4",
        "    for (int u = rank * SLICE + lane * VEC; live && u < ue; u += TPR * VEC) {",
        "        const int c = u - off; /* the column */",
        "        const bool ok = true;",
        table.concat(pre, "\n"),
        body,
        "    }",
        "    }",
      }, "\n") .. "\n"
    end
    return table.concat({
      "#pragma unroll 4",
      "    for (int u = lane * VEC; live && u < COLS + off; u += TPR * VEC) {",
      "        const int c = u - off; /* the column */",
      "        const bool ok = true;",
      table.concat(pre, "\n"),
      body,
      "    }",
    }, "\n") .. "\n"
  end

  -- Reduce var over the threads of the row; op "max" or "sum"; slot 0..3
  -- picks the shared-memory array (consecutive reductions use different
  -- slots so that no barrier is needed between them).
  function E.reduce(op, var, slot)
    local f = op == "max" and "kg_group_max" or "kg_group_sum"
    if cfg.tpr <= 32 then
      return string.format("    %s = %s<TPR>(%s);\n", var, f, var)
    end
    local line = op == "max"
      and string.format("%s = fmaxf(%s, red[%d][first + w]);", var, var, slot)
      or string.format("%s += red[%d][first + w];", var, slot)
    local code = cuda.subst([[
    $var = $f<32>($var);
    if (threadIdx.x % 32 == 0)
        red[$slot][threadIdx.x / 32] = $var;
    __syncthreads();
    $var = red[$slot][first];
#pragma unroll
    for (int w = 1; w < WARPS_PER_ROW; ++w)
        $line
]], { var = var, f = f, slot = slot, line = line })
    if cl == 1 then return code end
    if E.global then return code .. global_exchange(var, "0.f", op) end
    if E.push then
      -- every CTA combines the cluster's partials in the same order
      local x, k = push_exchange(var, "0.f")
      local comb = op == "max" and string.format("%s = fmaxf(%s, xch[%d][r][0]);", var, var, k)
        or string.format("%s += xch[%d][r][0];", var, k)
      return code .. x .. cuda.subst([[
    $var = xch[$k][0][0];
#pragma unroll
    for (int r = 1; r < CLUSTER; ++r)
        $comb
]], { var = var, k = k, comb = comb })
    end
    -- Across the cluster: each CTA publishes its partial, then reads all.
    -- A persistent cluster alternates two sets of partials: a CTA may write
    -- the next group's while another still reads this group's (that read
    -- happens before the other CTA arrives at the next group's barrier).
    local pt = E.persist and string.format("part[it & 1][%d]", slot) or string.format("part[%d]", slot)
    local comb = op == "max" and string.format("%s = fmaxf(%s, kg_dsmem_load(&%s, r));", var, var, pt)
      or string.format("%s += kg_dsmem_load(&%s, r);", var, pt)
    return code .. cuda.subst([[
    if (threadIdx.x == 0)
        $pt = $var;
    kg_cluster_sync();
    $var = kg_dsmem_load(&$pt, 0);
#pragma unroll
    for (unsigned r = 1; r < CLUSTER; ++r)
        $comb
]], { var = var, pt = pt, comb = comb })
  end

  -- Reduce the pair (m, s), a max and a sum of exp(v - m), over the threads
  -- of the row in one exchange (slots 0 and 1): one barrier (one cluster
  -- barrier) where a max then a sum would take two.
  function E.reduce_ms(m, s)
    if cfg.tpr <= 32 then
      return string.format("    kg_group_ms<TPR>(%s, %s);\n", m, s)
    end
    local code = cuda.subst([[
    kg_group_ms<32>($m, $s);
    if (threadIdx.x % 32 == 0) {
        red[0][threadIdx.x / 32] = $m;
        red[1][threadIdx.x / 32] = $s;
    }
    __syncthreads();
    /* lane l of every warp takes warp l's pair (l modulo the row's warps) */
    $m = red[0][first + threadIdx.x % WARPS_PER_ROW];
    $s = red[1][first + threadIdx.x % WARPS_PER_ROW];
    kg_group_ms<WARPS_PER_ROW>($m, $s);
]], { m = m, s = s })
    if cl == 1 then return code end
    if E.global then return code .. global_exchange(m, s, "ms") end
    if E.push then
      local x, k = push_exchange(m, s)
      return code .. x .. cuda.subst([[
    /* lane l of every warp takes CTA l's pair (l modulo CLUSTER) */
    $m = xch[$k][threadIdx.x % CLUSTER][0];
    $s = xch[$k][threadIdx.x % CLUSTER][1];
    kg_group_ms<CLUSTER>($m, $s);
]], { m = m, s = s, k = k })
    end
    local pm = E.persist and "part[it & 1][0]" or "part[0]"
    local ps = E.persist and "part[it & 1][1]" or "part[1]"
    return code .. cuda.subst([[
    if (threadIdx.x == 0) {
        $pm = $m;
        $ps = $s;
    }
    kg_cluster_sync();
    /* lane l of every warp takes CTA l's pair (l modulo CLUSTER) */
    $m = kg_dsmem_load(&$pm, threadIdx.x % CLUSTER);
    $s = kg_dsmem_load(&$ps, threadIdx.x % CLUSTER);
    kg_group_ms<CLUSTER>($m, $s);
]], { m = m, s = s, pm = pm, ps = ps })
  end

  -- The end of every kernel: in a cluster, no CTA may exit while another
  -- can still read its shared memory.
  function E.epilogue()
    if E.persist then
      -- the next group of rows reuses the shared arrays of the reductions
      -- (and, double-buffered, the staging buffer just read)
      return "    __syncthreads();\n    }\n" .. ((cl > 1 and not E.global) and "    kg_cluster_sync();\n" or "")
    end
    -- (push: no CTA reads another's shared memory, and every push into
    -- this CTA has landed before it passed its mbarriers; a kernel with no
    -- exchange, a streamed row split across a cluster, completes the
    -- cluster barrier it arrived at)
    if E.push then return E.nxchg == 0 and "    kg_cluster_wait();\n" or "" end
    return cl > 1 and "    kg_cluster_sync();\n" or ""
  end

  -- After a pass of R.online_step: the row's max m and sum s over its threads.
  function E.online_combine()
    return E.reduce_ms("m", "s") ..
      "    if (m == KG_NEG_INF)\n        s = KG_NAN; /* a row of -inf: NaN, as torch's softmax (and strategy reg) */\n"
  end

  return E
end

-- One vector v[VEC] of a single-pass ("online") max and sum: m is the
-- running max, s the running sum of exp(v - m), rescaled when m grows.
function R.online_step(v)
  return string.format([[
        float cm = m;
#pragma unroll
        for (int j = 0; j < VEC; ++j)
            cm = fmaxf(cm, %s[j]);
        if (cm != m)
            s *= kg_exp2((m - cm) * LOG2E);
        m = cm;
        const float mz = m == KG_NEG_INF ? 0.f : m; /* no -inf - -inf while all so far are -inf */
#pragma unroll
        for (int j = 0; j < VEC; ++j)
            s += kg_exp2((%s[j] - mz) * LOG2E);]], v, v)
end

-- The kernel's name: base (kgen_<op>_<pass>), the dtype, then the variant
-- (strategy, CTAs per row, load path, exchange, vector width, threads,
-- threads per row where it differs, shift, persist, occ), so that a profile
-- (ncu, nsys) names the variant: kgen_xent_fused_bf16_cluster_c16_cpasync_push_v8_t128.
function R.kernel_name(base, p, cfg)
  local cl = cfg.cluster or 1
  local parts = { base, p.dtype, cfg.strategy }
  if cl > 1 then parts[#parts + 1] = "c" .. cl end
  if (cfg.load or "direct") ~= "direct" then parts[#parts + 1] = cfg.load end
  if cl > 1 then
    parts[#parts + 1] = cfg.xchg == "global" and "global"
      or (cfg.xchg == "barrier" or cfg.persist ~= nil) and "barrier" or "push"
  end
  parts[#parts + 1] = "v" .. cfg.vec
  parts[#parts + 1] = "t" .. cfg.threads
  if cfg.tpr ~= cfg.threads then parts[#parts + 1] = "r" .. cfg.tpr end
  if (cfg.shift or 0) ~= 0 then parts[#parts + 1] = "shift" end
  if cfg.persist then parts[#parts + 1] = "p" .. cfg.persist end
  if cfg.occ then parts[#parts + 1] = "o" .. cfg.occ end
  return table.concat(parts, "_")
end

-- The launch geometry every row kernel shares.
function R.geometry(cfg, p, ninputs)
  local smem = (cfg.load or "direct") ~= "direct" and stage_total(p, cfg, ninputs) or 0
  if cfg.occ then smem = OCC_SMEM[cfg.occ] end
  return { block = cfg.threads, smem = smem, rows_per_cta = cfg.threads // cfg.tpr, cluster = cfg.cluster or 1,
           persist = cfg.persist or 0, split = cfg.xchg == "global" and 1 or 0 }
end

return R
