// Paged attention over span lists (the tile-16 / tile-64 flash-attention
// kernel and the one-query decode kernel), split over long contexts with
// the last split to finish merging. Shapes and structs: kernels.h.
#include "backend/cuda/common.cuh"
#include "backend/cuda/kernels.h"
#include <limits.h>
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
// → O += P·V (WMMA, O kept in shared memory as f32). q8 blocks: K and V rows
// are widened to bf16 as they are staged, their row scales folded into the
// per-position key / value factors (exact: S = (Q·K_int)·scale).

enum { KT = 64, SLD = KT + 4 };   // KV tile; f32 score row stride (P reuses it as bf16, stride 2·SLD)

static __host__ __device__ inline int pad16(int x) { return (x + 15) & ~15; }

// q8 blocks (backend/backend.h): the int8 values sit at the element offsets
// (one byte each), the f32 row scales (one per position and KV head) from
// byte q8_scale_base on; an int8 value widens to bf16 exactly (|q| <= 127),
// and its row's scale is folded into the position's key / value factor.
static __device__ __forceinline__ size_t q8_scale_base(const gck_attn_args &a) {
    return (size_t)a.n_layers * 2 * 16 * (size_t)a.KV * (size_t)a.hd;
}
// Bytes 0 and 1 of v (int8) as a packed bf16 pair, byte 0 in the low half.
static __device__ __forceinline__ uint32_t q8_pair_bf16(uint32_t v) {
    const __nv_bfloat162 h = __floats2bfloat162_rn((float)(int8_t)(v & 0xffu), (float)(int8_t)((v >> 8) & 0xffu));
    return *reinterpret_cast<const uint32_t *>(&h);
}
// 8 int8 values → 8 bf16 (16 bytes).
static __device__ __forceinline__ int4 q8x8_bf16(uint2 v) {
    return make_int4((int)q8_pair_bf16(v.x), (int)q8_pair_bf16(v.x >> 16), (int)q8_pair_bf16(v.y),
                     (int)q8_pair_bf16(v.y >> 16));
}
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
    // the splits, summed in split order. Every split's value is loaded at
    // once (predicated, unrolled to GCK_MAX_SPLIT), so the merge costs one
    // L2 round trip for the weights and one per output group, not one per
    // split. wgt: (M, GCK_MAX_SPLIT) weights, then (M) 1/denominator.
    const int ns = g.nsplit;
    for (int r = tid; r < R; r += NT) {
        float m[GCK_MAX_SPLIT], l[GCK_MAX_SPLIT];
#pragma unroll
        for (int sp = 0; sp < GCK_MAX_SPLIT; sp++) {
            m[sp] = -INFINITY;
            l[sp] = 0.0f;
            if (sp < ns) {
                const float2 ml = __ldcg((const float2 *)(a.part_ml + ((size_t)(g.part0 + sp) * M + r) * 2));
                m[sp] = ml.x;
                l[sp] = ml.y;
            }
        }
        float mx = -INFINITY;
#pragma unroll
        for (int sp = 0; sp < GCK_MAX_SPLIT; sp++) mx = fmaxf(mx, m[sp]);
        float den = 0.0f;
#pragma unroll
        for (int sp = 0; sp < GCK_MAX_SPLIT; sp++) {
            const float f = (mx == -INFINITY || m[sp] == -INFINITY) ? 0.0f : __expf(m[sp] - mx);
            if (sp < ns) wgt[r * GCK_MAX_SPLIT + sp] = f;
            den += f * l[sp];
        }
        wgt[M * GCK_MAX_SPLIT + r] = den > 0.0f ? 1.0f / den : 0.0f;
    }
    __syncthreads();
    if ((hd & 3) == 0) {   // 4 dims per thread
        const int h4 = hd / 4;
        for (int idx = tid; idx < R * h4; idx += NT) {
            const int r = idx / h4, d = (idx % h4) * 4;
            float4 v[GCK_MAX_SPLIT];
#pragma unroll
            for (int sp = 0; sp < GCK_MAX_SPLIT; sp++)
                if (sp < ns) v[sp] = __ldcg((const float4 *)(a.part_o + ((size_t)(g.part0 + sp) * M + r) * hd + d));
            float4 num = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
#pragma unroll
            for (int sp = 0; sp < GCK_MAX_SPLIT; sp++)
                if (sp < ns) {
                    const float f = wgt[r * GCK_MAX_SPLIT + sp];
                    num.x += f * v[sp].x; num.y += f * v[sp].y; num.z += f * v[sp].z; num.w += f * v[sp].w;
                }
            const float inv = wgt[M * GCK_MAX_SPLIT + r];
            const int i = g.q0 + r / G, h = g.kh * G + r % G;
            __nv_bfloat162 lo = __floats2bfloat162_rn(num.x * inv, num.y * inv), hi = __floats2bfloat162_rn(num.z * inv, num.w * inv);
            uint2 pk;
            pk.x = *reinterpret_cast<const uint32_t *>(&lo);
            pk.y = *reinterpret_cast<const uint32_t *>(&hi);
            *(uint2 *)(a.out + (size_t)(sq.row0 + i) * qd + (size_t)h * hd + d) = pk;
        }
        return;
    }
    for (int idx = tid; idx < R * hd; idx += NT) {
        const int r = idx / hd, d = idx % hd;
        float v[GCK_MAX_SPLIT];
#pragma unroll
        for (int sp = 0; sp < GCK_MAX_SPLIT; sp++)
            if (sp < ns) v[sp] = __ldcg(a.part_o + ((size_t)(g.part0 + sp) * M + r) * hd + d);
        float num = 0.0f;
#pragma unroll
        for (int sp = 0; sp < GCK_MAX_SPLIT; sp++)
            if (sp < ns) num += wgt[r * GCK_MAX_SPLIT + sp] * v[sp];
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

    const size_t plane = (size_t)16 * row;   // elements (= q8 bytes) between a block's K and V planes of one layer
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
                const size_t e0 = ((size_t)(a.layer * 2) * 16 + slot) * row + (size_t)it.kh * hd;   // the K row's element
                float ks = 1.0f, vs = 1.0f, kq = 1.0f, vq = 1.0f;
                if (a.kv_q8) {
                    addr = sp.base + e0;
                    const float *sc = (const float *)(uintptr_t)(sp.base + q8_scale_base(a));
                    kq = sc[e0 / hd];
                    vq = sc[(e0 + plane) / hd];
                } else {
                    addr = sp.base + e0 * 2;
                }
                int hidden = 0;
                if (sp.mod >= 0) {
                    const gck_mod md = a.mods[(size_t)sp.mod * a.n_layers + a.layer];
                    ks = md.k_scale; vs = md.v_scale; hidden = md.hidden;
                }
                if (!hidden) { kf = a.scale * ks * kq; vf = vs * vq; }
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
                    if (ad && d < hd && a.kv_q8) {   // 8 int8 values → 8 bf16
                        const unsigned char *kp = (const unsigned char *)(uintptr_t)ad + d;
                        kv[u] = q8x8_bf16(__ldg((const uint2 *)kp));
                        vv[u] = q8x8_bf16(__ldg((const uint2 *)(kp + plane)));
                    } else if (ad && d < hd) {
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
                if (ad && d < hd && a.kv_q8) {   // 2 int8 values → 2 bf16
                    const unsigned char *kp = (const unsigned char *)(uintptr_t)ad + d;
                    kv = q8_pair_bf16(*(const uint16_t *)kp);
                    vv = q8_pair_bf16(*(const uint16_t *)(kp + plane));
                } else if (ad && d < hd) {
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
// tile-16 kernel (row r = head kh·G + r). Tensor cores (mma.m16n8k16, bf16
// in, f32 accumulate), computed transposed so that no mma row is wasted on
// the (at most 8) heads:
//   Sᵀ (16 positions × 8 heads) = K (16 × hd) · Qᵀ: A = K rows (ldmatrix from
//       shared memory), B = Q (registers, loaded once; heads >= G are zero);
//   online softmax per head in f32: lane (g, t) holds positions g and g+8 of
//       heads 2t and 2t+1, the max over the 16 positions by three shuffles;
//       the span's k scale multiplies the score, its v scale multiplies p
//       (not the denominator); hidden spans, positions past kv_hi or the
//       causal limit get p = 0;
//   Oᵀ (hd × 8 heads) += Vᵀ (hd × 16) · Pᵀ: A = V rows through
//       ldmatrix.trans, B = P, moved from the score accumulators into the B
//       layout by movmatrix.trans (one per 8 positions).
// Four warps; warp w takes the 16-position tiles w, w+4, … of [kv_lo, kv_hi)
// through its own NS-stage cp.async ring in shared memory (K and V rows of a
// tile, 16-byte chunks XOR-swizzled by row so that ldmatrix is conflict
// free), with its own (m, l, O). Addresses are resolved once per tile: a
// window of 32 spans sits in the lanes (lane j: span wb + j), the lane of a
// tile's first position comes from a ballot, the others from the bit mask of
// span starts inside the tile (one warp OR-reduction), so spans of any
// length and block offset cost no search. The warps' (m, l, O) are merged
// through shared memory in warp order; split items write partial rows and the
// last split of the group merges them (merge_splits).
static __device__ __forceinline__ uint32_t smem_addr(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }
// 16-byte copy global → shared (L2 only); bytes = 0 writes zeros, reads nothing.
// P256: the L2 fetches the 256 bytes around it at once (a whole K / V row of
// a head when hd = 128).
template <bool P256> static __device__ __forceinline__ void dec_cp16(uint32_t dst, const void *src, int bytes) {
    if constexpr (P256)
        asm volatile("cp.async.cg.shared.global.L2::256B [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(bytes)
                     : "memory");
    else
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(bytes) : "memory");
}
static __device__ __forceinline__ void dec_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N> static __device__ __forceinline__ void dec_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}
static __device__ __forceinline__ void ldsm_x4(uint32_t (&r)[4], uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr)
                 : "memory");
}
static __device__ __forceinline__ void ldsm_x4_t(uint32_t (&r)[4], uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr)
                 : "memory");
}
static __device__ __forceinline__ uint32_t movm_t(uint32_t x) {
    uint32_t y;
    asm volatile("movmatrix.sync.aligned.m8n8.trans.b16 %0, %1;\n" : "=r"(y) : "r"(x));
    return y;
}
static __device__ __forceinline__ void mma_16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
static __device__ __forceinline__ uint32_t pack_bf2(float lo, float hi) {
    const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);   // .x (lo) in the low half
    return *reinterpret_cast<const uint32_t *>(&h);
}

// Q8: the blocks are q8; the ring holds the stored int8 rows (half the
// bytes), each stage is widened to bf16 into the warp's conversion tile (the
// bf16 stage layout, swizzled alike) before the mma, and the rows' scales,
// copied next to them, are folded into the key / value factors.
template <int HD, int NS, bool Q8> struct dec_cfg {
    static constexpr int NW = 4, TP = 16;                       // warps; positions per warp tile
    static constexpr int EB = Q8 ? 1 : 2;                       // bytes of a stored K / V element
    static constexpr int STAGE = 2 * TP * HD * EB;              // bytes of one stage: K rows, then V rows, as stored
    static constexpr int CONV = Q8 ? 2 * TP * HD * 2 : 0;       // q8: a stage widened to bf16 (after the ring)
    static constexpr int WARP_BYTES = NS * STAGE + CONV;        // a warp's ring (and conversion tile)
    static constexpr int KF_OFF = NW * WARP_BYTES;              // (NW, NS, 2, TP) f32: key / value factors
    static constexpr int SC_OFF = KF_OFF + NW * NS * 2 * TP * 4;   // q8: (NW, NS, 2, TP) f32 row scales as stored
    static constexpr int SMEM = SC_OFF + (Q8 ? NW * NS * 2 * TP * 4 : 0);   // dynamic shared memory
    static constexpr int OLD = HD + 4;                          // f32 row stride of a warp's O (8 heads) in the merge
    static_assert(8 * OLD * 4 <= WARP_BYTES, "a warp's O fits in its ring");
};

// 4-byte copy global → shared (L1 allowed: .cg takes 16 bytes only); bytes = 0 writes zeros.
static __device__ __forceinline__ void dec_cp4(uint32_t dst, const void *src, int bytes) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(dst), "l"(src), "r"(bytes) : "memory");
}

template <int HD, int NS, bool P256, bool Q8>
__global__ void __launch_bounds__(128) attention_decode_kernel(const gck_attn_args a) {
    gck_pdl_enter();
    if ((int)blockIdx.x >= *a.n_items) return;
    using C = dec_cfg<HD, NS, Q8>;
    constexpr int NW = C::NW, TP = C::TP, M = 16, KS = HD / 16, CPR = HD / 8, RPI = 32 / CPR, NIT = TP / RPI;
    static_assert(HD % 32 == 0 && 32 % CPR == 0 && TP == 16, "shape");
    extern __shared__ __align__(128) unsigned char dsm[];
    __shared__ float wm[NW][8], wl[NW][8];
    __shared__ float wgt[M * (GCK_MAX_SPLIT + 1)];
    __shared__ int last_flag;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t = lane & 3;
    const gck_item it = a.items[blockIdx.x];
    const gck_seq sqn = a.seqs[it.seq];
    const int G = a.H / a.KV, qd = a.H * HD, row = a.KV * HD;
    const int qpos = sqn.ctx_first + it.q0;

    // Q as the B operand of Sᵀ (k = dims, n = heads): lane (g, t) holds
    // Q[head g][16s + 2t, +1] and Q[head g][16s + 8 + 2t, +1].
    uint32_t qb[KS][2];
    {
        const uint16_t *qr = a.q + (size_t)(sqn.row0 + it.q0) * qd + (size_t)(it.kh * G + (g < G ? g : 0)) * HD + 2 * t;
#pragma unroll
        for (int s = 0; s < KS; s++) {
            qb[s][0] = g < G ? *(const uint32_t *)(qr + 16 * s) : 0u;
            qb[s][1] = g < G ? *(const uint32_t *)(qr + 16 * s + 8) : 0u;
        }
    }

    // Span window: lane j holds span wb + j (start INT_MAX past span_hi).
    const int sp_end = it.span_hi;
    int wb = it.span_lo, w_st = INT_MAX, w_off = 0, w_mod = -1;
    uint64_t w_base = 0;
    float w_kf = 0.0f, w_vf = 0.0f;
    bool mods_stale = true;
    auto load_spans = [&](int base) {
        wb = base;
        const int j = base + lane;
        w_st = INT_MAX; w_off = 0; w_base = 0; w_mod = -1;
        if (j < sp_end) {
            const gck_span sp = a.spans[j];
            w_st = sp.start; w_off = sp.off; w_base = sp.base; w_mod = sp.mod;
        }
        mods_stale = true;
    };
    auto load_mods = [&]() {
        float ks = 1.0f, vs = 1.0f;
        int hidden = 0;
        if (w_mod >= 0) {
            const gck_mod md = a.mods[(size_t)w_mod * a.n_layers + a.layer];
            ks = md.k_scale; vs = md.v_scale; hidden = md.hidden;
        }
        w_kf = hidden ? -INFINITY : a.scale * ks;
        w_vf = vs;
        mods_stale = false;
    };

    const int n16 = (it.kv_hi - it.kv_lo + TP - 1) / TP;
    const int nt = warp < n16 ? (n16 - warp + NW - 1) / NW : 0;   // this warp's tiles
    unsigned char *wsm = dsm + warp * C::WARP_BYTES;
    const uint32_t wsm_u = smem_addr(wsm);
    float *kfv = (float *)(dsm + C::KF_OFF) + warp * NS * 2 * TP;   // [stage][key, value][TP]
    float *q8s = (float *)(dsm + C::SC_OFF) + warp * NS * 2 * TP;   // q8: [stage][key, value][TP] row scales
    const size_t plane_b = (size_t)16 * row * C::EB;                 // bytes from a K row to its V row
    const size_t q8_sc = Q8 ? q8_scale_base(a) : 0;                  // q8: byte of a block's first scale
    const size_t lay = (size_t)(a.layer * 2) * 16;                   // slot index of the layer's K plane
    if (nt > 0) load_spans(it.span_lo);

    // Resolves tile k's positions and starts its K / V copies into stage k % NS.
    auto issue = [&](int k) {
        const int p0 = it.kv_lo + TP * (warp + NW * k);
        int c = __popc(__ballot_sync(FULL_MASK, w_st <= p0)) - 1;   // lane of the span holding p0
        while (c > 32 - TP && wb + 32 < sp_end) {   // the tile's spans might run past the window
            load_spans(wb + c);
            c = __popc(__ballot_sync(FULL_MASK, w_st <= p0)) - 1;
        }
        const int rel = w_st - p0;
        const unsigned starts = __reduce_or_sync(FULL_MASK, rel > 0 && rel < TP ? 1u << rel : 0u);
        const int i = lane & (TP - 1), p = p0 + i;
        const int jj = c + __popc(starts & ((2u << i) - 1u));
        const int st = __shfl_sync(FULL_MASK, w_st, jj), off = __shfl_sync(FULL_MASK, w_off, jj);
        const uint64_t bs = __shfl_sync(FULL_MASK, w_base, jj);
        const bool ok = p < it.kv_hi && p <= qpos;
        const size_t e0 = (lay + (size_t)(off + (p - st))) * row + (size_t)it.kh * HD;   // the K row's element
        const uint64_t ka = ok ? bs + e0 * C::EB : 0;
        const int stage = k % NS;
        const uint32_t sk = wsm_u + stage * C::STAGE;
        if constexpr (Q8) {
            // int8 rows of HD bytes, unswizzled (the widening reads them in
            // order); lane i < TP: position i's K scale, lane TP + i: its V scale.
            constexpr int CPRQ = HD / 16, RPIQ = 32 / CPRQ, NITQ = TP / RPIQ;
#pragma unroll
            for (int u = 0; u < NITQ; u++) {
                const int r = u * RPIQ + lane / CPRQ, ch = lane % CPRQ;
                const uint64_t ra = __shfl_sync(FULL_MASK, ka, r);
                const uint32_t d = sk + r * HD + ch * 16;
                const char *src = ra ? (const char *)(uintptr_t)ra + ch * 16 : (const char *)a.q;
                const int nb = ra ? 16 : 0;
                dec_cp16<P256>(d, src, nb);
                dec_cp16<P256>(d + TP * HD, ra ? src + plane_b : src, nb);
            }
            const float *sa = (const float *)(uintptr_t)(bs + q8_sc) + e0 / HD + (lane >= TP ? 16 * a.KV : 0);
            dec_cp4(smem_addr(q8s + stage * 2 * TP + lane), ok ? (const void *)sa : (const void *)a.q, ok ? 4 : 0);
        } else {
#pragma unroll
            for (int u = 0; u < NIT; u++) {
                const int r = u * RPI + lane / CPR, ch = lane % CPR;
                const uint64_t ra = __shfl_sync(FULL_MASK, ka, r);
                const uint32_t d = sk + r * (HD * 2) + ((ch ^ (r & 7)) << 4);
                const char *src = ra ? (const char *)(uintptr_t)ra + ch * 16 : (const char *)a.q;
                const int nb = ra ? 16 : 0;
                dec_cp16<P256>(d, src, nb);
                dec_cp16<P256>(d + TP * HD * 2, ra ? src + plane_b : src, nb);
            }
        }
        if (mods_stale) load_mods();   // after the copies are on their way
        const float kf = __shfl_sync(FULL_MASK, w_kf, jj), vf = __shfl_sync(FULL_MASK, w_vf, jj);
        if (lane < TP) {
            kfv[stage * 2 * TP + lane] = ok ? kf : -INFINITY;
            kfv[stage * 2 * TP + TP + lane] = vf;
        }
    };

    // ldmatrix row / chunk of this lane: K (a0..a3 = pos 0-7 | 8-15 × dims
    // 16s.. | 16s+8..), V transposed (a0..a3 = dims 16j.. | 16j+8.. × pos 0-7 | 8-15).
    const int x7 = lane & 7;
    const int r_k = ((lane >> 3) & 1) * 8 + x7, c_k = lane >> 4;
    const int r_v = (lane >> 4) * 8 + x7, c_v = (lane >> 3) & 1;
    float o[KS][4];   // Oᵀ: (dim 16j+g | 16j+8+g) × (head 2t, 2t+1)
#pragma unroll
    for (int j = 0; j < KS; j++) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.0f;
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f;   // heads 2t, 2t+1 (l: this lane's positions)

#pragma unroll
    for (int s = 0; s < NS - 1; s++) {
        if (s < nt) issue(s);
        dec_commit();
    }
    for (int k = 0; k < nt; k++) {
        if (k + NS - 1 < nt) issue(k + NS - 1);
        dec_commit();
        dec_wait<NS - 1>();
        __syncwarp();
        const int stage = k % NS;
        uint32_t sk = wsm_u + stage * C::STAGE;
        if constexpr (Q8) {
            // Widen the stage's int8 rows into the conversion tile, in the bf16
            // stage's layout (row r's 16-byte chunk c at chunk c ^ (r & 7)), and
            // fold each position's row scales into its factors (a key factor of
            // -inf, a masked position, stays -inf).
            const unsigned char *qs = wsm + stage * C::STAGE;
            unsigned char *cv = wsm + NS * C::STAGE;
            constexpr int QCH = HD / 16;   // 16-value int8 chunks per row
            for (int c = lane; c < 2 * TP * QCH; c += 32) {
                const int rr = c / QCH, ch = c % QCH, r = rr % TP;   // rr: K rows, then V rows
                const int4 v = *(const int4 *)(qs + c * 16);
                unsigned char *rowp = cv + (rr / TP) * (TP * HD * 2) + r * (HD * 2);
                *(int4 *)(rowp + (((2 * ch) ^ (r & 7)) << 4)) = q8x8_bf16(make_uint2((uint32_t)v.x, (uint32_t)v.y));
                *(int4 *)(rowp + (((2 * ch + 1) ^ (r & 7)) << 4)) = q8x8_bf16(make_uint2((uint32_t)v.z, (uint32_t)v.w));
            }
            float *f = kfv + stage * 2 * TP;
            const float raw = q8s[stage * 2 * TP + lane];
            if (lane >= TP || f[lane] != -INFINITY) f[lane] *= raw;
            __syncwarp();
            sk = wsm_u + NS * C::STAGE;
        }
        const uint32_t sv = sk + TP * HD * 2;
        float sa[4] = {0.0f, 0.0f, 0.0f, 0.0f}, sb[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
        for (int s = 0; s < KS; s++) {
            uint32_t fa[4];
            ldsm_x4(fa, sk + r_k * (HD * 2) + (((2 * s + c_k) ^ x7) << 4));
            if (s & 1) mma_16816(sb, fa, qb[s][0], qb[s][1]);
            else mma_16816(sa, fa, qb[s][0], qb[s][1]);
        }
        // Scores (pos g, head 2t), (g, 2t+1), (g+8, 2t), (g+8, 2t+1).
        const float *kv = kfv + stage * 2 * TP;
        const float kf0 = kv[g], kf1 = kv[g + 8], vf0 = kv[TP + g], vf1 = kv[TP + g + 8];
        const float s00 = kf0 == -INFINITY ? -INFINITY : (sa[0] + sb[0]) * kf0;
        const float s01 = kf0 == -INFINITY ? -INFINITY : (sa[1] + sb[1]) * kf0;
        const float s10 = kf1 == -INFINITY ? -INFINITY : (sa[2] + sb[2]) * kf1;
        const float s11 = kf1 == -INFINITY ? -INFINITY : (sa[3] + sb[3]) * kf1;
        float mx0 = fmaxf(s00, s10), mx1 = fmaxf(s01, s11);
#pragma unroll
        for (int sh = 4; sh < 32; sh <<= 1) {
            mx0 = fmaxf(mx0, __shfl_xor_sync(FULL_MASK, mx0, sh));
            mx1 = fmaxf(mx1, __shfl_xor_sync(FULL_MASK, mx1, sh));
        }
        const float mn0 = fmaxf(m0, mx0), mn1 = fmaxf(m1, mx1);
        const float mu0 = mn0 == -INFINITY ? 0.0f : mn0, mu1 = mn1 == -INFINITY ? 0.0f : mn1;
        const float al0 = __expf(m0 - mu0), al1 = __expf(m1 - mu1);   // 0 while nothing was seen
        const float p00 = __expf(s00 - mu0), p01 = __expf(s01 - mu1);
        const float p10 = __expf(s10 - mu0), p11 = __expf(s11 - mu1);
        l0 = l0 * al0 + (p00 + p10);
        l1 = l1 * al1 + (p01 + p11);
        m0 = mn0;
        m1 = mn1;
        // Pᵀ as the B operand (k = positions, n = heads), v scale folded in.
        const uint32_t b0 = movm_t(pack_bf2(p00 * vf0, p01 * vf0));
        const uint32_t b1 = movm_t(pack_bf2(p10 * vf1, p11 * vf1));
#pragma unroll
        for (int j = 0; j < KS; j++) {
            uint32_t fv[4];
            ldsm_x4_t(fv, sv + r_v * (HD * 2) + (((2 * j + c_v) ^ x7) << 4));
            o[j][0] *= al0; o[j][1] *= al1; o[j][2] *= al0; o[j][3] *= al1;
            mma_16816(o[j], fv, b0, b1);
        }
        __syncwarp();   // every lane is done with this stage before it is refilled
    }
    dec_wait<0>();
    __syncwarp();

    // This warp's (m, l, O) → shared memory (O over its own ring).
#pragma unroll
    for (int sh = 4; sh < 32; sh <<= 1) {
        l0 += __shfl_xor_sync(FULL_MASK, l0, sh);
        l1 += __shfl_xor_sync(FULL_MASK, l1, sh);
    }
    float *wo = (float *)wsm;
#pragma unroll
    for (int j = 0; j < KS; j++) {
        wo[(2 * t) * C::OLD + 16 * j + g] = o[j][0];
        wo[(2 * t + 1) * C::OLD + 16 * j + g] = o[j][1];
        wo[(2 * t) * C::OLD + 16 * j + 8 + g] = o[j][2];
        wo[(2 * t + 1) * C::OLD + 16 * j + 8 + g] = o[j][3];
    }
    if (lane < 4) {
        wm[warp][2 * t] = m0; wm[warp][2 * t + 1] = m1;
        wl[warp][2 * t] = l0; wl[warp][2 * t + 1] = l1;
    }
    __syncthreads();

    // Merge the warps (fixed order), 4 dims per thread.
    float *po = it.part < 0 ? nullptr : a.part_o + (size_t)it.part * M * HD;
    for (int idx = tid; idx < G * (HD / 4); idx += NW * 32) {
        const int h = idx / (HD / 4), d = (idx % (HD / 4)) * 4;
        float mx = -INFINITY;
#pragma unroll
        for (int w = 0; w < NW; w++) mx = fmaxf(mx, wm[w][h]);
        float4 num = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        float den = 0.0f;
#pragma unroll
        for (int w = 0; w < NW; w++) {
            const float f = wm[w][h] == -INFINITY ? 0.0f : __expf(wm[w][h] - mx);
            const float4 v = *(const float4 *)((const float *)(dsm + w * C::WARP_BYTES) + h * C::OLD + d);
            num.x += f * v.x; num.y += f * v.y; num.z += f * v.z; num.w += f * v.w;
            den += f * wl[w][h];
        }
        if (!po) {
            const float inv = den > 0.0f ? 1.0f / den : 0.0f;
            uint2 pk;
            pk.x = pack_bf2(num.x * inv, num.y * inv);
            pk.y = pack_bf2(num.z * inv, num.w * inv);
            *(uint2 *)(a.out + (size_t)(sqn.row0 + it.q0) * qd + (size_t)(it.kh * G + h) * HD + d) = pk;
        } else {
            *(float4 *)(po + h * HD + d) = num;
            if (d == 0) {
                a.part_ml[((size_t)it.part * M + h) * 2] = mx;
                a.part_ml[((size_t)it.part * M + h) * 2 + 1] = den;
            }
        }
    }
    if (!po) return;
    merge_splits<M>(a, it, sqn, G, wgt, &last_flag);
}

template <int HD, int NS, bool P256, bool Q8>
static cudaError_t decode_launch(cudaStream_t s, const gck_attn_args *a, int grid) {
    const int smem = dec_cfg<HD, NS, Q8>::SMEM;
    cudaError_t e = cudaFuncSetAttribute(attention_decode_kernel<HD, NS, P256, Q8>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
    if (e == cudaSuccess)
        e = cudaFuncSetAttribute(attention_decode_kernel<HD, NS, P256, Q8>,
                                 cudaFuncAttributePreferredSharedMemoryCarveout, cudaSharedmemCarveoutMaxShared);
    if (e != cudaSuccess) return e;
    gck_launch(attention_decode_kernel<HD, NS, P256, Q8>, grid, 128, smem, s, *a);
    return cudaGetLastError();
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
        if (a->kv_q8) {
            if (a->hd == 128) return decode_launch<128, 2, true, true>(s, a, grid);
            if (a->hd == 64) return decode_launch<64, 2, false, true>(s, a, grid);
            return cudaErrorInvalidValue;
        }
        if (a->hd == 128) return decode_launch<128, 2, true, false>(s, a, grid);
        if (a->hd == 64) return decode_launch<64, 2, false, false>(s, a, grid);
        return cudaErrorInvalidValue;
    }
    if (tile_m == 16) return attention_launch<16, 4>(s, a, grid);
    if (tile_m == 64) return attention_launch<64, 8>(s, a, grid);
    return cudaErrorInvalidValue;
}
