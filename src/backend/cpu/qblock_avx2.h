// AVX2 pieces shared by the fast matmul's panel packer (qgemm_pack.c) and its
// direct products (qgemv_avx2.c): spreading a quant block's packed 4-bit
// codes and 5th bits into one byte per element.
#ifndef GC_BACKEND_CPU_QBLOCK_AVX2_H
#define GC_BACKEND_CPU_QBLOCK_AVX2_H
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

// Low nibbles of 16 bytes (elements 0..15) then high nibbles (16..31).
static inline __attribute__((always_inline)) __m256i qb_nibbles32(const uint8_t *qs) {
    __m128i v = _mm_loadu_si128((const __m128i *)qs), m = _mm_set1_epi8(15);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m), _mm_and_si128(v, m));
}

// Byte j = 16 where bit j of the little-endian u32 at qh is set, else 0
// (the 5th bit of Q5_0/Q5_1/Q5_K codes, already in place).
static inline __attribute__((always_inline)) __m256i qb_bits32(const uint8_t *qh) {
    uint32_t h;
    memcpy(&h, qh, 4);
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                            2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)h), spread);
    v = _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
    return _mm256_and_si256(v, _mm256_set1_epi8(16));
}

#endif
