-- cuda.lua: the CUDA text every kernel shares: element types and their
-- conversion to fp32, vector loads and stores of 2 to 16 bytes, fast exp2,
-- and warp reductions over aligned groups of lanes. No CUDA headers are
-- needed, so NVRTC compiles the result without an include path.
local M = {}

M.dtypes = {
  f32  = { ctype = "float",          size = 4, maxvec = 4 },
  f16  = { ctype = "unsigned short", size = 2, maxvec = 8 },
  bf16 = { ctype = "unsigned short", size = 2, maxvec = 8 },
}

function M.dtype(name)
  local d = M.dtypes[name]
  if not d then error("unknown dtype '" .. tostring(name) .. "'") end
  return d
end

local convert = {
  f32 = [[
__device__ __forceinline__ float kg_to_f32(float x) { return x; }
__device__ __forceinline__ float kg_from_f32(float x) { return x; }
]],
  f16 = [[
__device__ __forceinline__ float kg_to_f32(unsigned short h)
{
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}
__device__ __forceinline__ unsigned short kg_from_f32(float f)
{
    unsigned short h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
}
/* Two floats to one packed pair: lo in bits 0-15, hi in bits 16-31. */
__device__ __forceinline__ unsigned kg_pack2(float lo, float hi)
{
    unsigned r;
    asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}
]],
  bf16 = [[
__device__ __forceinline__ float kg_to_f32(unsigned short h)
{
    return __uint_as_float((unsigned)h << 16);
}
__device__ __forceinline__ unsigned short kg_from_f32(float f)
{
    unsigned short h;
    asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
}
/* Two floats to one packed pair: lo in bits 0-15, hi in bits 16-31. */
__device__ __forceinline__ unsigned kg_pack2(float lo, float hi)
{
    unsigned r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}
]],
}

local common = [[
/* The arguments of every kgen kernel, passed by value; the same layout as
 * kg_args in runtime/internal.h. */
struct kg_args {
    void *out;                 /* y, dx or dlogits */
    const void *in0;           /* x, y or logits */
    const void *in1;           /* dy */
    const void *target;        /* int32 or int64 class indices */
    const float *weight;       /* class weights, or null */
    float *loss;               /* per row (reduction none) or one scalar */
    float *lse;                /* per-row logsumexp: written forward, read backward */
    const float *dloss;        /* upstream gradient: per row or scalar; null means 1 */
    unsigned long long *bad;   /* count of out-of-range targets, or null */
    float *scratch;            /* device scratch for denominators */
    unsigned *xg;              /* the exchange area of rows split over CTAs (xchg=global), or null */
    long long rows, ld_out, ld_in0, ld_in1;
    long long ignore_index;
    float eps, zloss, softcap, inv_den;
    int reduction;             /* 0 none, 1 sum, 2 mean, 3 sum / given denominator */
    int pad_;
};

/* Raw storage of N bytes, loaded and stored as one access. */
template <int N> struct kg_raw;
template <> struct kg_raw<2> { typedef unsigned short type; };
template <> struct kg_raw<4> { typedef unsigned type; };
template <> struct kg_raw<8> { typedef uint2 type; };
template <> struct kg_raw<16> { typedef uint4 type; };

/* VEC consecutive elements at p (aligned to VEC * sizeof(T)) to fp32. */
template <int VEC>
__device__ __forceinline__ void kg_load(const T *__restrict__ p, float (&v)[VEC])
{
    typedef typename kg_raw<VEC * sizeof(T)>::type R;
    union { R raw; T e[VEC]; } u;
    u.raw = *reinterpret_cast<const R *>(p);
#pragma unroll
    for (int i = 0; i < VEC; ++i)
        v[i] = kg_to_f32(u.e[i]);
}

__device__ __forceinline__ float kg_exp2(float x)
{
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

/* 1 / x without a call: the approximate reciprocal and one Newton step
 * (within an ulp of 1 / x for normal x below 2^126; zero and subnormals
 * give inf, inf and x above 2^126 give zero, NaN gives NaN: where r is
 * inf or zero the step's error term is not small, and r is kept). IEEE
 * division's slow path is a called subroutine, and the registers saved
 * around that call can spill. */
__device__ __forceinline__ float kg_rcp(float x)
{
    float r;
    asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
    const float e = fmaf(-x, r, 1.f);
    return fabsf(e) <= 1e30f ? fmaf(e, r, r) : r;
}

/* Reductions over aligned groups of W lanes (W a power of two, <= 32);
 * every lane of the warp takes part. */
template <int W>
__device__ __forceinline__ float kg_group_max(float v)
{
#pragma unroll
    for (int o = W / 2; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
template <int W>
__device__ __forceinline__ float kg_group_sum(float v)
{
#pragma unroll
    for (int o = W / 2; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
/* The pair (m, s), a max and a sum of exp(v - m), over a group of W lanes:
 * the group's max, each lane's sum rescaled to it by exp(its max - the
 * group's), then the sum; lanes of max -inf add nothing unless the whole
 * group's is -inf. Differences of maxima, never differences of maxima times
 * log2(e): the rounding of such a product of a large max (|m| of 1e3 and
 * more) would scale a lane's whole sum, which no other term cancels. */
template <int W>
__device__ __forceinline__ void kg_group_ms(float &m, float &s)
{
    const float tm = m;
    m = kg_group_max<W>(m);
    if (tm != m)
        s *= kg_exp2((tm - m) * 1.4426950408889634f);
    s = kg_group_sum<W>(s);
}
]]

local store_f32 = [[
/* VEC fp32 values, each times scale, as the raw bits of VEC elements. */
template <int VEC>
__device__ __forceinline__ typename kg_raw<VEC * sizeof(T)>::type kg_pack_raw(const float (&v)[VEC], float scale)
{
    union { typename kg_raw<VEC * sizeof(T)>::type raw; T e[VEC]; } u;
#pragma unroll
    for (int i = 0; i < VEC; ++i)
        u.e[i] = v[i] * scale;
    return u.raw;
}
]]

local store_half = [[
/* VEC fp32 values, each times scale, as the raw bits of VEC elements;
 * pairs are converted with one packed instruction. */
template <int VEC>
__device__ __forceinline__ typename kg_raw<VEC * sizeof(T)>::type kg_pack_raw(const float (&v)[VEC], float scale)
{
    union { typename kg_raw<VEC * sizeof(T)>::type raw; T e[VEC]; unsigned w[VEC / 2 > 0 ? VEC / 2 : 1]; } u;
    if (VEC == 1) {
        u.e[0] = kg_from_f32(v[0] * scale);
    } else {
#pragma unroll
        for (int i = 0; i < VEC / 2; ++i)
            u.w[i] = kg_pack2(v[2 * i] * scale, v[2 * i + 1] * scale);
    }
    return u.raw;
}
]]

local store_common = [[
/* VEC fp32 values, each times scale, to VEC elements at p (aligned to
 * VEC * sizeof(T)). */
template <int VEC>
__device__ __forceinline__ void kg_store(T *__restrict__ p, const float (&v)[VEC], float scale)
{
    *reinterpret_cast<typename kg_raw<VEC * sizeof(T)>::type *>(p) = kg_pack_raw<VEC>(v, scale);
}
/* The same as one explicit vector store to global memory: for code where
 * the compiler cannot see the alignment and would split the access. */
__device__ __forceinline__ void kg_st_global(void *p, uint4 r)
{
    asm volatile("{ .reg .u64 g; cvta.to.global.u64 g, %0; st.global.v4.b32 [g], {%1, %2, %3, %4}; }"
                 :: "l"(p), "r"(r.x), "r"(r.y), "r"(r.z), "r"(r.w) : "memory");
}
__device__ __forceinline__ void kg_st_global(void *p, uint2 r)
{
    asm volatile("{ .reg .u64 g; cvta.to.global.u64 g, %0; st.global.v2.b32 [g], {%1, %2}; }"
                 :: "l"(p), "r"(r.x), "r"(r.y) : "memory");
}
__device__ __forceinline__ void kg_st_global(void *p, unsigned r) { *(unsigned *)p = r; }
__device__ __forceinline__ void kg_st_global(void *p, unsigned short r) { *(unsigned short *)p = r; }
]]

-- A row split over CTAs that are no cluster (exchange global): the exchange
-- area a.xg, as runtime/internal.h lays it out (KG_XG_*): per group of
-- CLUSTER CTAs (one row at a time) 4 counters, one per exchange of the row
-- (the fourth unused); then per CTA and exchange two pairs, by the parity
-- of the exchange's generation (a CTA may publish the next row's pair while
-- another still reads this row's). A CTA publishes its pair, then adds
-- KG_XG_ROW / CLUSTER to the exchange's counter (a release), so that a
-- row's arrivals add KG_XG_ROW whatever the kernel's CLUSTER (kernels of
-- other sizes share the area: a count left by one of 32 CTAs a row must be
-- a whole generation for one of 128); the counter reaching KG_XG_ROW times
-- the generation after this one says every pair of the row is there. The
-- counters only grow, by KG_XG_ROW a row, from launch to launch (the area
-- is cleared once, when made): a CTA reads each counter as it starts, when
-- the count over KG_XG_ROW is the generation of its first row (no CTA of
-- its group can be past that generation before this one arrives), and
-- counts on from there; unsigned arithmetic wraps consistently (KG_XG_ROW
-- divides 2^32). Every CTA of the grid must be resident at once: the grid
-- is persistent, at most what the GPU holds.
M.xg_helpers = [[
#define KG_XG_GROUPS 1024u
#define KG_XG_CTAS 4096u
#define KG_XG_NX 3 /* exchanges a row at most (rows.lua's XCHG_MAX) */
#define KG_XG_ROW 128u /* what a row's arrivals add to a counter (CLUSTER divides it) */
__device__ __forceinline__ unsigned *kg_xg_count(unsigned *xg, unsigned group, int k)
{
    return xg + group * 4u + k;
}
__device__ __forceinline__ float2 *kg_xg_pair(unsigned *xg, unsigned cta, int k, unsigned parity)
{
    return (float2 *)(xg + KG_XG_GROUPS * 4u) + ((size_t)cta * KG_XG_NX + k) * 2u + parity;
}
/* The generation of the counter's next row. */
__device__ __forceinline__ unsigned kg_xg_generation(const unsigned *count)
{
    unsigned v;
    asm volatile("ld.relaxed.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(count) : "memory");
    return v / KG_XG_ROW;
}
/* This CTA's pair (a, b) into its slot, then its share of the row (n CTAs)
 * at the counter (a release: the pair is visible before the count). */
__device__ __forceinline__ void kg_xg_publish(unsigned *count, float2 *slot, float a, float b, unsigned n)
{
    __stcg(slot, make_float2(a, b));
    asm volatile("red.release.gpu.global.add.u32 [%0], %1;" :: "l"(count), "r"(KG_XG_ROW / n) : "memory");
}
/* Wait until the counter reaches want (acquire: the pairs published before
 * it are then visible to this thread; read them with __ldcg, past L1). */
__device__ __forceinline__ void kg_xg_wait(const unsigned *count, unsigned want)
{
    for (;;) {
        unsigned v;
        asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(count) : "memory");
        if ((int)(v - want) >= 0)
            return;
        __nanosleep(20);
    }
}
/* (m, s) and (qm, qs), two maxima and sums of exp(v - max), as one. */
__device__ __forceinline__ void kg_ms_merge(float &m, float &s, float qm, float qs)
{
    const float n = fmaxf(m, qm);
    if (n != __int_as_float(0xff800000))
        s = (m == n ? s : s * kg_exp2((m - n) * 1.4426950408889634f)) +
            (qm == n ? qs : qs * kg_exp2((qm - n) * 1.4426950408889634f));
    m = n;
}
]]

-- Thread-block clusters (sm_90): the cluster barrier and a load from
-- another CTA's shared memory (distributed shared memory).
M.cluster_helpers = [[
__device__ __forceinline__ void kg_cluster_sync()
{
    asm volatile("barrier.cluster.arrive.release.aligned;\n\tbarrier.cluster.wait.acquire.aligned;" ::: "memory");
}
/* The float at p (in this CTA's shared memory) as seen in CTA rank of the cluster. */
__device__ __forceinline__ float kg_dsmem_load(const float *p, unsigned rank)
{
    unsigned local, remote;
    float v;
    asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(local) : "l"(p));
    asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(remote) : "r"(local), "r"(rank));
    asm volatile("ld.shared::cluster.f32 %0, [%1];" : "=f"(v) : "r"(remote) : "memory");
    return v;
}
]]

-- The shared-memory address of a generic pointer, and mbarriers: an
-- mbarrier's phase completes when its expected arrivals have arrived and
-- the bytes announced to it (expect_tx) have landed (bulk copies, st.async).
M.mbar_helpers = [[
/* The shared-memory address of a generic pointer into shared memory. */
__device__ __forceinline__ unsigned kg_smem(const void *p)
{
    unsigned r;
    asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(r) : "l"(p));
    return r;
}
__device__ __forceinline__ void kg_mbar_init(unsigned long long *bar, unsigned count)
{
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" :: "r"(kg_smem(bar)), "r"(count) : "memory");
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
}
/* Arrive once and expect bytes more to land before the phase completes. */
__device__ __forceinline__ void kg_mbar_expect(unsigned long long *bar, unsigned bytes)
{
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" :: "r"(kg_smem(bar)), "r"(bytes) : "memory");
}
__device__ __forceinline__ void kg_mbar_wait(unsigned long long *bar, unsigned parity)
{
    unsigned done;
    do {
        asm volatile("{\n\t.reg .pred p;\n\tmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n\t"
                     "selp.u32 %0, 1, 0, p;\n\t}" : "=r"(done) : "r"(kg_smem(bar)), "r"(parity) : "memory");
    } while (!done);
}
]]

-- Staging a row in shared memory before it is read into registers
-- (load paths cpasync, sm_80, and tma, sm_90): kg_stage is the dynamic
-- shared memory; cp.async moves 16 bytes per thread and instruction; a TMA
-- bulk copy moves a whole piece of the row for one instruction and signals
-- an mbarrier with the bytes that landed. Needs mbar_helpers.
M.stage_helpers = [[
extern __shared__ __attribute__((aligned(128))) unsigned char kg_stage[];
__device__ __forceinline__ void kg_cp_async16(void *s, const void *g)
{
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" :: "r"(kg_smem(s)), "l"(g) : "memory");
}
__device__ __forceinline__ void kg_cp_async_wait()
{
    asm volatile("cp.async.wait_all;" ::: "memory");
}
__device__ __forceinline__ void kg_bulk_load(void *s, const void *g, unsigned bytes, unsigned long long *bar)
{
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];"
                 :: "r"(kg_smem(s)), "l"(g), "r"(bytes), "r"(kg_smem(bar)) : "memory");
}
/* Order this thread's earlier shared-memory accesses (and those the last
 * barrier made visible to it) before its later bulk copies. */
__device__ __forceinline__ void kg_fence_proxy_async()
{
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
}
]]

-- Partials pushed to the other CTAs of a cluster (sm_90, exchange push):
-- each CTA stores its partial into a slot of every CTA's shared memory
-- with st.async, which completes on that CTA's mbarrier; a CTA waits on
-- its own mbarrier alone, so a row needs no cluster barrier (but the one
-- that orders the mbarriers' initialisation before the first push, split
-- in an arrive early and a wait late). Needs mbar_helpers.
M.push_helpers = [[
__device__ __forceinline__ void kg_cluster_arrive()
{
    asm volatile("barrier.cluster.arrive.release.aligned;" ::: "memory");
}
__device__ __forceinline__ void kg_cluster_wait()
{
    asm volatile("barrier.cluster.wait.acquire.aligned;" ::: "memory");
}
/* The pair (a, b) into the 8 bytes at slot (this CTA's shared memory
 * address) of CTA rank, completing on that CTA's mbarrier at bar. */
__device__ __forceinline__ void kg_push2(unsigned slot, unsigned bar, unsigned rank, float a, float b)
{
    unsigned rs, rb;
    asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(rs) : "r"(slot), "r"(rank));
    asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(rb) : "r"(bar), "r"(rank));
    asm volatile("st.async.shared::cluster.mbarrier::complete_tx::bytes.v2.f32 [%0], {%1, %2}, [%3];"
                 :: "r"(rs), "f"(a), "f"(b), "r"(rb) : "memory");
}
/* Wait for the phase of parity of the mbarrier at bar that the pushes of
 * the cluster complete; their stores are then visible to this thread. */
__device__ __forceinline__ void kg_mbar_wait_cluster(unsigned long long *bar, unsigned parity)
{
    unsigned done;
    do {
        asm volatile("{\n\t.reg .pred p;\n\tmbarrier.try_wait.parity.acquire.cluster.shared::cta.b64 p, [%1], %2;\n\t"
                     "selp.u32 %0, 1, 0, p;\n\t}" : "=r"(done) : "r"(kg_smem(bar)), "r"(parity) : "memory");
    } while (!done);
}
]]

-- The shared prelude for one element type; defines T.
function M.prelude(dtype)
  local d = M.dtype(dtype)
  return table.concat({
    "/* element type: " .. dtype .. " */",
    "typedef " .. d.ctype .. " T;",
    convert[dtype],
    common,
    dtype == "f32" and store_f32 or store_half,
    store_common,
  }, "\n")
end

-- Powers of two from lo to hi inclusive.
function M.pow2s(lo, hi)
  local out, v = {}, lo
  while v <= hi do out[#out + 1] = v; v = v * 2 end
  return out
end

function M.ceil_div(a, b) return (a + b - 1) // b end

function M.next_pow2(n)
  local v = 1
  while v < n do v = v * 2 end
  return v
end

-- Expand $NAME in text from the table vars (a missing name is an error).
function M.subst(text, vars)
  return (string.gsub(text, "%$([%w_]+)", function(k)
    local v = vars[k]
    if v == nil then error("template variable $" .. k .. " has no value", 2) end
    return tostring(v)
  end))
end

return M
