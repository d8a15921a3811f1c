/* Inference attention of one (sequence, head) pair on AVX-512, reading Q, K and V where
 * they lie in the caller's buffers (nn/kernels.c's attention without dropout; internal to
 * lib/nn and its tests).
 *
 * The packed path it replaces packs K and V into scratch and runs two gemm_packed_serial
 * calls around `*= alpha` and softmax_forward.  This one transposes K 16 x 16 in registers
 * into the same panels, then takes the query rows 8 at a time through all three steps
 * while they are in L1: the scores 8 rows x 32 keys at a time, scaled as they are stored,
 * the softmax 16 lanes wide with the 8 rows' steps interleaved, the context from V read
 * in place.
 *
 * Bits: every element is computed as the packed path computes it, so the two agree to the
 * bit.  A product is one fused multiply-add chain over k in order from 0, which is what
 * every kernel of nn/gemm.c does (AVX-512, AVX2+FMA, scalar fmaf: gemm.h), whichever of
 * them gemm_isa() picked; the scale is one rounded multiply after the chain; the softmax
 * is softmax_forward's (nn/kernels.c) op for op: max from the row's first value, vexp
 * (nn/vmath.h) as written, without contraction (ISO C mode: -ffp-contract=off), the sum in
 * 8 partial sums over whole blocks of 8, the tail added in order into a separate sum that
 * then takes the 8 partial sums in order, one division, a multiply per value.
 * tests/unit/test_attn_direct.c holds it to that with every GEMM kernel this CPU runs. */
#ifndef EMO_ATTN_DIRECT_H
#define EMO_ATTN_DIRECT_H

#include <stddef.h>

/* 1 if attn_direct_pair may run for head size hd: the CPU has AVX-512 F, BW, DQ and VL,
 * hd is a multiple of 16 and the path is not switched off (attn_direct_set); a 1 is
 * counted as one use (attn_direct_uses).  Otherwise the caller keeps the packed path. */
int attn_direct_take(size_t hd);

/* One pair: a (nq, n) = softmax over each row of alpha q k^T, then ctx (nctx, hd) = a v
 * for the first nctx <= nq rows.  q (nq, hd) rows ldq floats apart, k and v (n, hd) rows
 * ldkv apart, ctx rows ldc apart; scratch: 64-byte aligned, attn_direct_scratch(n, hd)
 * floats.  Only after attn_direct_take(hd) returned 1. */
void attn_direct_pair(float *a, float *ctx, size_t ldc, const float *q, size_t ldq, size_t nq,
                      size_t nctx, const float *k, const float *v, size_t ldkv, size_t n,
                      size_t hd, float alpha, float *scratch);
/* Floats of scratch attn_direct_pair needs: K's panels and 8 rows of scores. */
size_t attn_direct_scratch(size_t n, size_t hd);

/* Tests: on = 0 switches the path off (every call then packs), 1 back on; returns -1 if
 * this CPU cannot run it (it stays off), else 0. */
int attn_direct_set(int on);
/* Calls counted by attn_direct_take since the start. */
unsigned long attn_direct_uses(void);

#endif
