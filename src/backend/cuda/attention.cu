// Paged attention over span lists (the tile-16 / tile-64 flash-attention
// kernel and the one-query decode kernel), split over long contexts with
// the last split to finish merging. Shapes and structs: kernels.h.
#include "backend/cuda/common.cuh"
#include "backend/cuda/kernels.h"
#include <math.h>
#include <mma.h>

using namespace nvcuda;

// ---------------------------------------------------------------- attention
// Flash-attention over paged spans with tensor cores (WMMA bf16, f32
// accumulation). A block takes one item: the G = H/KV query heads of KV head
// kh for nq query positions, stacked as M tile rows (row r = position
// q0 + r/G, head kh·G + r%G), and walks its cache range in tiles of 64
// positions: S = Q·Kᵀ (WMMA) → online softmax in f32 (per-column key scale,
// hidden spans and the causal limit masked; the value scale folded into P)
// → O += P·V (WMMA, O kept in shared memory as f32).

enum { KT = 64, SLD = KT + 4 };   // KV tile; f32 score row stride (P reuses it as bf16, stride 2·SLD)

static __host__ __device__ inline int pad16(int x) { return (x + 15) & ~15; }
static __host__ __device__ inline size_t align128(size_t x) { return (x + 127) & ~(size_t)127; }

struct attn_smem {
    size_t q, k, v, s, o, m, l, a, kf, vf, ptr, starts, total;
};

enum { MAX_SMEM_SPANS = 512 };

static __host__ __device__ attn_smem attn_layout(int M, int hd) {
    const int hdp = pad16(hd), ldh = hdp + 8, ldo = hdp + 4;
    attn_smem L;
    size_t off = 0;
    L.q = off; off = align128(off + (size_t)M * ldh * 2);
    L.k = off; off = align128(off + (size_t)KT * ldh * 2);
    L.v = off; off = align128(off + (size_t)KT * ldh * 2);
    L.s = off; off = align128(off + (size_t)M * SLD * 4);
    L.o = off; off = align128(off + (size_t)M * ldo * 4);
    L.m = off; off = align128(off + (size_t)M * 4);
    L.l = off; off = align128(off + (size_t)M * 4);
    L.a = off; off = align128(off + (size_t)M * 4);
    L.kf = off; off = align128(off + (size_t)KT * 4);
    L.vf = off; off = align128(off + (size_t)KT * 4);
    L.ptr = off; off = align128(off + (size_t)KT * 8);
    L.starts = off; off = align128(off + (size_t)MAX_SMEM_SPANS * 4);
    L.total = off + 16;
    return L;
}

extern "C" size_t gck_attention_smem(int tile_m, int hd) { return attn_layout(tile_m, hd).total; }

// After an item wrote its partial rows (R of them, M-row slots): the last
// split of the group to finish merges all splits into the output. wgt:
// M·(GCK_MAX_SPLIT + 1) floats of shared scratch; every thread calls this.
template <int M>
static __device__ void merge_splits(const gck_attn_args &a, const gck_item &it, const gck_seq &sq, int R, float *wgt,
                                    int *last_flag) {
    const int tid = threadIdx.x, NT = blockDim.x, hd = a.hd, G = a.H / a.KV, qd = a.H * hd;
    __threadfence();
    __syncthreads();
    const gck_group g = a.groups[it.group];
    if (tid == 0) {
        const int done = atomicAdd(a.counters + it.group, 1);
        *last_flag = done == g.nsplit - 1;
        if (*last_flag) a.counters[it.group] = 0;
    }
    __syncthreads();
    if (!*last_flag) return;
    __threadfence();
    // Per row: the common max, each split's weight exp(m_s - max) and the
    // denominator, once; then each output element is one weighted sum over
    // the splits. wgt: (M, GCK_MAX_SPLIT) weights, then (M) 1/denominator.
    for (int r = tid; r < R; r += NT) {
        float mx = -INFINITY;
        for (int sp = 0; sp < g.nsplit; sp++) mx = fmaxf(mx, __ldcg(a.part_ml + ((size_t)(g.part0 + sp) * M + r) * 2));
        float den = 0.0f;
        for (int sp = 0; sp < g.nsplit; sp++) {
            const size_t pr = (size_t)(g.part0 + sp) * M + r;
            const float m = __ldcg(a.part_ml + pr * 2);
            const float f = (mx == -INFINITY || m == -INFINITY) ? 0.0f : __expf(m - mx);
            wgt[r * GCK_MAX_SPLIT + sp] = f;
            den += f * __ldcg(a.part_ml + pr * 2 + 1);
        }
        wgt[M * GCK_MAX_SPLIT + r] = den > 0.0f ? 1.0f / den : 0.0f;
    }
    __syncthreads();
    for (int idx = tid; idx < R * hd; idx += NT) {
        const int r = idx / hd, d = idx % hd;
        float num = 0.0f;
        for (int sp = 0; sp < g.nsplit; sp++)
            num += wgt[r * GCK_MAX_SPLIT + sp] * __ldcg(a.part_o + ((size_t)(g.part0 + sp) * M + r) * hd + d);
        const int i = g.q0 + r / G, h = g.kh * G + r % G;
        a.out[(size_t)(sq.row0 + i) * qd + (size_t)h * hd + d] = f2bf(num * wgt[M * GCK_MAX_SPLIT + r]);
    }
}

template <int M, int NW>
__global__ void __launch_bounds__(NW * 32) attention_kernel(const gck_attn_args a) {
    gck_pdl_enter();
    if ((int)blockIdx.x >= *a.n_items) return;
    extern __shared__ __align__(128) unsigned char att_sm[];
    __shared__ int last_flag;
    constexpr int NT = NW * 32, TPR = NT / M, CPT = KT / TPR;   // threads per row, columns per thread
    static_assert(NT % M == 0 && KT % TPR == 0 && TPR <= 32, "tile shape");
    static_assert(M * (GCK_MAX_SPLIT + 1) <= M * SLD, "split weights fit in the score tile");
    const int tid = threadIdx.x, warp = tid >> 5;
    const gck_item it = a.items[blockIdx.x];
    const gck_seq sq = a.seqs[it.seq];
    const int hd = a.hd, hdp = pad16(hd), ldh = hdp + 8, ldo = hdp + 4;
    const int G = a.H / a.KV, R = it.nq * G, qd = a.H * hd, row = a.KV * hd;
    const attn_smem L = attn_layout(M, hd);
    bf16 *sQ = (bf16 *)(att_sm + L.q), *sK = (bf16 *)(att_sm + L.k), *sV = (bf16 *)(att_sm + L.v);
    float *sS = (float *)(att_sm + L.s), *sO = (float *)(att_sm + L.o);
    bf16 *sP = (bf16 *)sS;   // row r of P overlays row r of S (same byte stride)
    float *sM = (float *)(att_sm + L.m), *sL = (float *)(att_sm + L.l), *sA = (float *)(att_sm + L.a);
    float *sKf = (float *)(att_sm + L.kf), *sVf = (float *)(att_sm + L.vf);
    uint64_t *sPtr = (uint64_t *)(att_sm + L.ptr);
    int *sStart = (int *)(att_sm + L.starts);

    // Q tile (rows past R and columns past hd are zero).
    for (int idx = tid; idx < M * (hdp / 2); idx += NT) {
        const int r = idx / (hdp / 2), d = (idx % (hdp / 2)) * 2;
        uint32_t v = 0;
        if (r < R && d < hd) {
            const int i = it.q0 + r / G, h = it.kh * G + r % G;
            v = *(const uint32_t *)(a.q + (size_t)(sq.row0 + i) * qd + (size_t)h * hd + d);
        }
        *(uint32_t *)(sQ + r * ldh + d) = v;
    }
    for (int idx = tid; idx < M * ldo; idx += NT) sO[idx] = 0.0f;
    for (int r = tid; r < M; r += NT) { sM[r] = -INFINITY; sL[r] = 0.0f; }
    const int n_sp = it.span_hi - it.span_lo;
    const bool starts_in_smem = n_sp <= MAX_SMEM_SPANS;
    if (starts_in_smem)
        for (int j = tid; j < n_sp; j += NT) sStart[j] = a.spans[it.span_lo + j].start;
    __syncthreads();

    const size_t plane = (size_t)16 * row;   // elements between a block's K and V planes of one layer
    for (int p0 = it.kv_lo; p0 < it.kv_hi; p0 += KT) {
        // Where each of the tile's positions lives, and its key / value factors.
        if (tid < KT) {
            const int p = p0 + tid;
            uint64_t addr = 0;
            float kf = -INFINITY, vf = 0.0f;
            if (p < it.kv_hi) {
                int lo = 0, hi = n_sp - 1;   // last span with start <= p
                while (lo < hi) {
                    const int mid = (lo + hi + 1) >> 1;
                    const int st = starts_in_smem ? sStart[mid] : a.spans[it.span_lo + mid].start;
                    if (st <= p) lo = mid; else hi = mid - 1;
                }
                const gck_span sp = a.spans[it.span_lo + lo];
                const int slot = sp.off + (p - sp.start);
                addr = sp.base + (((size_t)(a.layer * 2) * 16 + slot) * row + (size_t)it.kh * hd) * 2;
                float ks = 1.0f, vs = 1.0f;
                int hidden = 0;
                if (sp.mod >= 0) {
                    const gck_mod md = a.mods[(size_t)sp.mod * a.n_layers + a.layer];
                    ks = md.k_scale; vs = md.v_scale; hidden = md.hidden;
                }
                if (!hidden) { kf = a.scale * ks; vf = vs; }
            }
            sPtr[tid] = addr; sKf[tid] = kf; sVf[tid] = vf;
        }
        __syncthreads();
        // K and V rows of the tile (zero where the position is absent).
        if ((hd & 7) == 0) {
            const int cpr = hdp / 8, total = KT * cpr;
            for (int base = tid; base < total; base += 4 * NT) {
                int4 kv[4], vv[4];
#pragma unroll
                for (int u = 0; u < 4; u++) {   // issue every load before the first store
                    const int idx = base + u * NT, j = idx / cpr, d = (idx % cpr) * 8;
                    kv[u] = make_int4(0, 0, 0, 0);
                    vv[u] = kv[u];
                    const uint64_t ad = idx < total ? sPtr[j] : 0;
                    if (ad && d < hd) {
                        const bf16 *kp = (const bf16 *)(uintptr_t)ad + d;
                        kv[u] = __ldg((const int4 *)kp);
                        vv[u] = __ldg((const int4 *)(kp + plane));
                    }
                }
#pragma unroll
                for (int u = 0; u < 4; u++) {
                    const int idx = base + u * NT, j = idx / cpr, d = (idx % cpr) * 8;
                    if (idx < total) {
                        *(int4 *)(sK + j * ldh + d) = kv[u];
                        *(int4 *)(sV + j * ldh + d) = vv[u];
                    }
                }
            }
        } else {
            const int cpr = hdp / 2;
            for (int idx = tid; idx < KT * cpr; idx += NT) {
                const int j = idx / cpr, d = (idx % cpr) * 2;
                uint32_t kv = 0, vv = 0;
                const uint64_t ad = sPtr[j];
                if (ad && d < hd) {
                    const bf16 *kp = (const bf16 *)(uintptr_t)ad + d;
                    kv = *(const uint32_t *)kp;
                    vv = *(const uint32_t *)(kp + plane);
                }
                *(uint32_t *)(sK + j * ldh + d) = kv;
                *(uint32_t *)(sV + j * ldh + d) = vv;
            }
        }
        __syncthreads();
        // S = Q·Kᵀ
        for (int t = warp; t < (M / 16) * (KT / 16); t += NW) {
            const int tm = t / (KT / 16), tn = t % (KT / 16);
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
            wmma::fill_fragment(acc, 0.0f);
            for (int k0 = 0; k0 < hdp; k0 += 16) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> fa;
                wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> fb;
                wmma::load_matrix_sync(fa, sQ + tm * 16 * ldh + k0, ldh);
                wmma::load_matrix_sync(fb, sK + tn * 16 * ldh + k0, ldh);
                wmma::mma_sync(acc, fa, fb, acc);
            }
            wmma::store_matrix_sync(sS + tm * 16 * SLD + tn * 16, acc, SLD, wmma::mem_row_major);
        }
        __syncthreads();
        // Online softmax: TPR consecutive lanes per row, CPT columns each.
        {
            const int r = tid / TPR, c0 = (tid % TPR) * CPT;
            const int qpos = sq.ctx_first + it.q0 + r / G;
            float sv[CPT];
            float mx = -INFINITY;
#pragma unroll
            for (int c = 0; c < CPT; c++) {
                const int p = p0 + c0 + c;
                const float kf = sKf[c0 + c];
                const bool ok = r < R && p < it.kv_hi && p <= qpos && kf != -INFINITY;
                sv[c] = ok ? sS[r * SLD + c0 + c] * kf : -INFINITY;
                mx = fmaxf(mx, sv[c]);
            }
            for (int o = TPR / 2; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(FULL_MASK, mx, o));
            const float m_old = sM[r], m_new = fmaxf(m_old, mx);
            const float alpha = m_new == -INFINITY ? 1.0f : __expf(m_old - m_new);
            float sum = 0.0f;
#pragma unroll
            for (int c = 0; c < CPT; c++) {
                const float e = sv[c] == -INFINITY ? 0.0f : __expf(sv[c] - m_new);
                sum += e;
                sv[c] = e * sVf[c0 + c];
            }
            for (int o = TPR / 2; o > 0; o >>= 1) sum += __shfl_xor_sync(FULL_MASK, sum, o);
            // All lanes of this row have read their S values (the shuffles above
            // order it), so P may now overwrite the row.
#pragma unroll
            for (int c = 0; c < CPT; c++) sP[r * 2 * SLD + c0 + c] = __float2bfloat16_rn(sv[c]);
            if (tid % TPR == 0) {
                sM[r] = m_new;
                sL[r] = sL[r] * alpha + sum;
                sA[r] = alpha;
            }
        }
        __syncthreads();
        for (int idx = tid; idx < R * hdp; idx += NT) {
            const int r = idx / hdp, d = idx % hdp;
            sO[r * ldo + d] *= sA[r];
        }
        __syncthreads();
        // O += P·V
        for (int t = warp; t < (M / 16) * (hdp / 16); t += NW) {
            const int tm = t / (hdp / 16), tn = t % (hdp / 16);
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
            wmma::load_matrix_sync(acc, sO + tm * 16 * ldo + tn * 16, ldo, wmma::mem_row_major);
            for (int k0 = 0; k0 < KT; k0 += 16) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> fa;
                wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> fb;
                wmma::load_matrix_sync(fa, sP + tm * 16 * 2 * SLD + k0, 2 * SLD);
                wmma::load_matrix_sync(fb, sV + k0 * ldh + tn * 16, ldh);
                wmma::mma_sync(acc, fa, fb, acc);
            }
            wmma::store_matrix_sync(sO + tm * 16 * ldo + tn * 16, acc, ldo, wmma::mem_row_major);
        }
        __syncthreads();
    }

    if (it.part < 0) {
        for (int idx = tid; idx < R * hd; idx += NT) {
            const int r = idx / hd, d = idx % hd;
            const int i = it.q0 + r / G, h = it.kh * G + r % G;
            const float l = sL[r];
            a.out[(size_t)(sq.row0 + i) * qd + (size_t)h * hd + d] = f2bf(l > 0.0f ? sO[r * ldo + d] / l : 0.0f);
        }
        return;
    }
    // Partial result; the last split of the group to finish merges all of them.
    float *po = a.part_o + (size_t)it.part * M * hd;
    for (int idx = tid; idx < R * hd; idx += NT) {
        const int r = idx / hd, d = idx % hd;
        po[r * hd + d] = sO[r * ldo + d];
    }
    for (int r = tid; r < R; r += NT) {
        a.part_ml[((size_t)it.part * M + r) * 2] = sM[r];
        a.part_ml[((size_t)it.part * M + r) * 2 + 1] = sL[r];
    }
    merge_splits<M>(a, it, sq, R, sS, &last_flag);
}

// Decode attention: items with one query position (nq = 1), the G <= 8
// query heads of KV head kh, partial rows in the M = 16 slot layout of the
// tile-16 kernel (row r = head kh·G + r). Four warps; warp w takes the
// 32-position chunks w, w+4, … of [kv_lo, kv_hi):
//   scores: lane j owns position c0 + j, finds its span, reads its K row
//           with 16-byte loads and dots it with the G query rows (f32 in
//           shared memory) → s_g (× scale × the span's k scale);
//   softmax: per head, chunk max / sum by warp shuffles, running (m, l);
//   values: lane owns HD/32 consecutive dims and walks the chunk's 32
//           positions (V rows read whole by the warp), p_g broadcast by
//           shuffle, the span's v scale folded into p (not into l).
// The four warps' (m, l, acc) are merged through shared memory in warp order.
template <int HD>
__global__ void __launch_bounds__(128) attention_decode_kernel(const gck_attn_args a) {
    gck_pdl_enter();
    if ((int)blockIdx.x >= *a.n_items) return;
    constexpr int GM = 8, NWD = 4, DPL = HD / 32, M = 16;
    __shared__ float sq[GM][HD];
    __shared__ float wm[NWD][GM], wl[NWD][GM];
    __shared__ float wacc[NWD][GM][HD];
    __shared__ int last_flag;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const gck_item it = a.items[blockIdx.x];
    const gck_seq sqn = a.seqs[it.seq];
    const int G = a.H / a.KV, qd = a.H * HD, row = a.KV * HD;
    const int qpos = sqn.ctx_first + it.q0;
    for (int idx = tid; idx < G * HD; idx += 128) {
        const int g = idx / HD, d = idx % HD;
        sq[g][d] = bf2f(a.q[(size_t)(sqn.row0 + it.q0) * qd + (size_t)(it.kh * G + g) * HD + d]);
    }
    __syncthreads();
    float m[GM], l[GM], acc[GM][DPL];
#pragma unroll
    for (int g = 0; g < GM; g++) {
        m[g] = -INFINITY;
        l[g] = 0.0f;
#pragma unroll
        for (int d = 0; d < DPL; d++) acc[g][d] = 0.0f;
    }
    const size_t plane = (size_t)16 * row;   // elements between a block's K and V planes of one layer
    const int n_sp = it.span_hi - it.span_lo;
    for (int c0 = it.kv_lo + warp * 32; c0 < it.kv_hi; c0 += NWD * 32) {
        const int p = c0 + lane;
        uint64_t kaddr = 0;
        float kf = -INFINITY, vf = 0.0f;
        if (p < it.kv_hi && p <= qpos) {
            int lo = 0, hi = n_sp - 1;   // last span with start <= p
            while (lo < hi) {
                const int mid = (lo + hi + 1) >> 1;
                if (a.spans[it.span_lo + mid].start <= p) lo = mid; else hi = mid - 1;
            }
            const gck_span sp = a.spans[it.span_lo + lo];
            const int slot = sp.off + (p - sp.start);
            float ks = 1.0f, vs = 1.0f;
            int hidden = 0;
            if (sp.mod >= 0) {
                const gck_mod md = a.mods[(size_t)sp.mod * a.n_layers + a.layer];
                ks = md.k_scale; vs = md.v_scale; hidden = md.hidden;
            }
            if (!hidden) {
                kaddr = sp.base + (((size_t)(a.layer * 2) * 16 + slot) * row + (size_t)it.kh * HD) * 2;
                kf = a.scale * ks;
                vf = vs;
            }
        }
        float sc[GM];
#pragma unroll
        for (int g = 0; g < GM; g++) sc[g] = 0.0f;
        if (kaddr) {
            const int4 *k4 = (const int4 *)(uintptr_t)kaddr;
#pragma unroll
            for (int c = 0; c < HD / 8; c += 4) {
                int4 kv[4];
#pragma unroll
                for (int u = 0; u < 4; u++) kv[u] = __ldg(k4 + c + u);
#pragma unroll
                for (int u = 0; u < 4; u++) {
                    const __nv_bfloat162 *kp2 = (const __nv_bfloat162 *)&kv[u];
                    float kx[8];
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        const float2 f = __bfloat1622float2(kp2[e]);
                        kx[2 * e] = f.x;
                        kx[2 * e + 1] = f.y;
                    }
#pragma unroll
                    for (int g = 0; g < GM; g++) {
                        if (g >= G) break;
                        const float *qg = &sq[g][(c + u) * 8];
#pragma unroll
                        for (int e = 0; e < 8; e++) sc[g] = fmaf(kx[e], qg[e], sc[g]);
                    }
                }
            }
        }
        float pv[GM];
#pragma unroll
        for (int g = 0; g < GM; g++) {
            pv[g] = 0.0f;
            if (g >= G) continue;
            const float sv = kaddr ? sc[g] * kf : -INFINITY;
            float cm = sv;
            for (int o = 16; o > 0; o >>= 1) cm = fmaxf(cm, __shfl_xor_sync(FULL_MASK, cm, o));
            const float mn = fmaxf(m[g], cm);
            if (mn == -INFINITY) continue;   // nothing visible yet for this head (uniform over the warp)
            const float alpha = __expf(m[g] - mn);
            const float e = sv == -INFINITY ? 0.0f : __expf(sv - mn);
            float es = e;
            for (int o = 16; o > 0; o >>= 1) es += __shfl_xor_sync(FULL_MASK, es, o);
            l[g] = l[g] * alpha + es;
            m[g] = mn;
#pragma unroll
            for (int d = 0; d < DPL; d++) acc[g][d] *= alpha;
            pv[g] = e * vf;
        }
        const uint64_t vaddr = kaddr ? kaddr + plane * 2 : 0;
#pragma unroll 4
        for (int j = 0; j < 32; j++) {
            const unsigned long long va = __shfl_sync(FULL_MASK, (unsigned long long)vaddr, j);
            float v[DPL];
            if (va) {
                const uint16_t *vp = (const uint16_t *)(uintptr_t)va + lane * DPL;
                if (DPL == 4) {
                    const uint2 raw = __ldg((const uint2 *)vp);
                    v[0] = __uint_as_float(raw.x << 16); v[1] = __uint_as_float(raw.x & 0xffff0000u);
                    v[2 % DPL] = __uint_as_float(raw.y << 16); v[3 % DPL] = __uint_as_float(raw.y & 0xffff0000u);
                } else {
#pragma unroll
                    for (int d = 0; d < DPL; d++) v[d] = bf2f(vp[d]);
                }
            } else {
#pragma unroll
                for (int d = 0; d < DPL; d++) v[d] = 0.0f;
            }
#pragma unroll
            for (int g = 0; g < GM; g++) {
                if (g >= G) break;
                const float pj = __shfl_sync(FULL_MASK, pv[g], j);
#pragma unroll
                for (int d = 0; d < DPL; d++) acc[g][d] = fmaf(pj, v[d], acc[g][d]);
            }
        }
    }
    // Merge the warps (fixed order).
    if (lane == 0)
        for (int g = 0; g < G; g++) { wm[warp][g] = m[g]; wl[warp][g] = l[g]; }
#pragma unroll
    for (int g = 0; g < GM; g++) {
        if (g >= G) break;
#pragma unroll
        for (int d = 0; d < DPL; d++) wacc[warp][g][lane * DPL + d] = acc[g][d];
    }
    __syncthreads();
    float *po = it.part < 0 ? nullptr : a.part_o + (size_t)it.part * M * HD;
    for (int idx = tid; idx < G * HD; idx += 128) {
        const int g = idx / HD, d = idx % HD;
        float mx = -INFINITY;
        for (int w = 0; w < NWD; w++) mx = fmaxf(mx, wm[w][g]);
        float num = 0.0f, den = 0.0f;
        for (int w = 0; w < NWD; w++) {
            const float f = (mx == -INFINITY || wm[w][g] == -INFINITY) ? 0.0f : __expf(wm[w][g] - mx);
            num += f * wacc[w][g][d];
            den += f * wl[w][g];
        }
        if (!po) {
            a.out[(size_t)(sqn.row0 + it.q0) * qd + (size_t)(it.kh * G + g) * HD + d] = f2bf(den > 0.0f ? num / den : 0.0f);
        } else {
            po[g * HD + d] = num;
            if (d == 0) {
                a.part_ml[((size_t)it.part * M + g) * 2] = mx;
                a.part_ml[((size_t)it.part * M + g) * 2 + 1] = den;
            }
        }
    }
    if (!po) return;
    __syncthreads();   // wacc is the merge's scratch now
    merge_splits<M>(a, it, sqn, G, &wacc[0][0][0], &last_flag);
}

template <int M, int NW>
static cudaError_t attention_launch(cudaStream_t s, const gck_attn_args *a, int grid) {
    const size_t smem = attn_layout(M, a->hd).total;
    cudaError_t e = cudaFuncSetAttribute(attention_kernel<M, NW>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
    if (e != cudaSuccess) return e;
    gck_launch(attention_kernel<M, NW>, grid, NW * 32, smem, s, *a);
    return cudaGetLastError();
}

extern "C" cudaError_t gck_attention(cudaStream_t s, int tile_m, const gck_attn_args *a, int grid) {
    if (grid <= 0) return cudaSuccess;
    if (a->hd > 256 || (a->hd & 1)) return cudaErrorInvalidValue;
    if (tile_m == 1) {   // decode kernel: nq = 1 items in the tile-16 layout, G <= 8
        if (a->H / a->KV > 8) return cudaErrorInvalidValue;
        if (a->hd == 128) { gck_launch(attention_decode_kernel<128>, grid, 128, 0, s, *a); return cudaGetLastError(); }
        if (a->hd == 64) { gck_launch(attention_decode_kernel<64>, grid, 128, 0, s, *a); return cudaGetLastError(); }
        return cudaErrorInvalidValue;
    }
    if (tile_m == 16) return attention_launch<16, 4>(s, a, grid);
    if (tile_m == 64) return attention_launch<64, 8>(s, a, grid);
    return cudaErrorInvalidValue;
}
