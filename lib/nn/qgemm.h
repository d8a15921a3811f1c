/* The int8 inference GEMM (issue 16): y = act(dequant(A) dequant(W)^T + b) for a linear
 * layer whose weights were quantised and packed once, its input quantised per row at run
 * time (dynamic quantisation, as torch.ao.quantization.quantize_dynamic and ONNX Runtime's
 * DynamicQuantizeLinear + MatMulInteger).
 *
 * Conventions (the float twin is nn/gemm.h; kernels.h's rules hold):
 *  - Weights are W (N, K) row-major (nn.Linear's (OC, C)), quantised per output channel,
 *    symmetric: w ~ wscale[n] * wq[n][k], wq int8, wscale = max_k |W[n][k]| / wmax.
 *  - Activations are x (M, K), quantised per row, asymmetric u8 with a zero point:
 *    x ~ ascale[m] * (q[m][k] - zp[m]), q in [0, amax], the row's min and max (and 0, so
 *    that 0 is exact) mapped to the ends of the range.  Rounding is to nearest, ties to
 *    even (lrintf, cvtps2dq), everywhere.
 *  - The integer product C[m][n] = sum_k q[m][k] wq[n][k] is exact int32 on every path;
 *    the float output is, in this order and in float (no fused multiply-add):
 *        y = (float)(C[m][n] - zp[m] colsum[n]) * (ascale[m] * wscale[n]) + bias[n]
 *    with colsum[n] = sum_k wq[n][k] kept in the packed weight.  So every path (scalar,
 *    AVX2, AVX-VNNI, AVX-512 VNNI) gives the same bits, whatever the rows or threads in
 *    the call, and the _ref twins are the plain loops over the unpacked operands.
 *  - K < 65536, so that every int32 sum is exact (255 * 128 * K < 2^31).
 *
 * Why the code ranges are cut to 7 bits on one side (the scheme): the AVX2 path multiplies
 * u8 by s8 with vpmaddubsw, which adds two adjacent products into an int16 with
 * SATURATION: 255 * -128 * 2 = -65280 does not fit, and a saturated sum would silently
 * differ from the exact one (and from the VNNI paths, whose vpdpbusd adds four products in
 * int32 and cannot saturate).  A pair stays exact when amax * 128 * 2 <= 32767 for s8
 * weights or 255 * 64 * 2 <= 32767 for 7-bit weights; the two usual ways out are:
 *   QGEMM_W7: activations u8 [0, 255], weights 7-bit, quantised to [-63, 63] (ONNX
 *             Runtime's reduce_range, which restricts the weights);
 *   QGEMM_A7: activations u7 [0, 127], weights s8, quantised to [-127, 127] (FBGEMM's and
 *             PyTorch's x86 default, reduce_range=True on the activation observer).
 * Either halves one side's resolution.  QGEMM_W7 is the default: on the trained
 * checkpoints at hand (bench/qgemm/qgemm-accuracy.sh, every linear layer on the int8 grid, 2,700
 * test tweets each) its logits' relative RMS error was 0.32-0.36% against a7's 0.39-0.48%
 * (bert-mini teacher, distilbert-mini, bert-tiny, albert-tiny), the argmax agreed with the
 * float model on 99.70-99.93% of the tweets and test accuracy moved by 0 to +0.11 points.
 * Full 8 bits on both sides (which only the VNNI paths could run exactly) would give
 * 0.19-0.26%.  On synthetic rows with outlier features (test_qgemm prints it) w7 also
 * beats a7 (0.024 vs 0.037), as the activation grid is the one the outliers stretch.  The
 * scheme is recorded in the packed weight; qgemm_pack refuses codes outside it, and the
 * activation quantiser takes it from there, so a mismatch cannot reach the AVX2 path.
 *
 * Packed layout (qgemm_packed_bytes): a 64-byte header, then ceil(N / 16) panels of 16
 * output columns; in a panel, for each quad of k (k = 4 q .. 4 q + 3, Kq = ceil(K / 4)
 * quads), 16 columns x 4 consecutive int8 weights: panel p, quad q, column j, i < 4 is
 * byte 64 (p Kq + q) + 4 j + i, wq[16 p + j][4 q + i] (0 past N or K).  A 32-byte load
 * is 8 columns x 4 k (one vpmaddubsw / vpdpbusd ymm operand against a broadcast 4-byte
 * group of a row of q), a 64-byte load is a whole quad of the panel (zmm).  Then colsum
 * and wscale, 16 ceil(N / 16) each (0 past N).
 *
 * Threads: par_for (util/par.h), as gemm_packed.  Kernels never allocate. */
#ifndef EMO_QGEMM_H
#define EMO_QGEMM_H

#include <stddef.h>
#include <stdint.h>

/* Output columns per packed panel; k per packed group. */
#define QGEMM_NR 16
#define QGEMM_KG 4

enum qgemm_scheme { QGEMM_W7 = 0, QGEMM_A7 = 1 };

/* Largest activation code (255 or 127) and weight code (63 or 127) of a scheme.  The
 * quantisers produce weights in [-wmax, wmax]; the kernels accept [-wmax - 1, wmax]
 * (255 * 64 * 2 and 127 * 128 * 2 both fit in int16). */
int qgemm_amax(enum qgemm_scheme s);
int qgemm_wmax(enum qgemm_scheme s);
const char *qgemm_scheme_name(enum qgemm_scheme s);

/* ---- weights (offline: emo quantize) ------------------------------------------------ */
/* wq (N, K), wscale (N) from W (N, K): wscale[n] = max_k |W[n][k]| / wmax (0 for an all-
 * zero row, whose codes are 0), wq = lrintf(W / wscale) clamped to [-wmax, wmax]. */
void qgemm_quantize_weights(int8_t *wq, float *wscale, const float *W, size_t N, size_t K,
                            enum qgemm_scheme s);
/* W (N, K) = wscale[n] * wq[n][k] (emo ckpt dequantize; the tests' float reference). */
void qgemm_dequantize_weights(float *W, const int8_t *wq, const float *wscale, size_t N, size_t K);

/* ---- activations (each forward) ----------------------------------------------------- */
/* q (M, K) rows ldq bytes apart, ascale (M), zp (M) from x (M, K) rows ldx floats apart:
 * lo = min(0, min x), hi = max(0, max x), ascale = (hi - lo) / amax (1 for an all-zero
 * row), inv = 1 / ascale, zp = clamp(lrintf(-lo inv), 0, amax),
 * q = clamp(lrintf(x inv) + zp, 0, amax).  x finite.  Threads: par_for over rows; AVX2
 * unless qgemm_isa() is QGEMM_SCALAR; the same bits as the _ref. */
void qgemm_quantize_rows(uint8_t *q, size_t ldq, float *ascale, int32_t *zp, const float *x,
                         size_t ldx, size_t M, size_t K, enum qgemm_scheme s);
void qgemm_quantize_rows_ref(uint8_t *q, size_t ldq, float *ascale, int32_t *zp, const float *x,
                             size_t ldx, size_t M, size_t K, enum qgemm_scheme s);
/* One row on the calling thread (inside another kernel's par_for job, e.g. a LayerNorm
 * that quantises each row it has just written, saving a pass over x): the same bits. */
void qgemm_quantize_row(uint8_t *q, float *ascale, int32_t *zp, const float *x, size_t K,
                        enum qgemm_scheme s);
/* x (M, K) rows ldx apart = ascale[m] * (q - zp[m]) */
void qgemm_dequantize_rows(float *x, size_t ldx, const uint8_t *q, size_t ldq,
                           const float *ascale, const int32_t *zp, size_t M, size_t K);

/* ---- packing (once, at load) -------------------------------------------------------- */
/* Bytes of a packed (N, K) weight; the buffer must be 64-byte aligned. */
size_t qgemm_packed_bytes(size_t N, size_t K);
/* Packs wq (N, K) rows ldw bytes apart and wscale (N) into P for scheme s (layout above),
 * computing the column sums.  Returns -1, P unusable, if a code lies outside the scheme's
 * [-wmax - 1, wmax] (the AVX2 path would saturate on it). */
int qgemm_pack(void *P, const int8_t *wq, size_t ldw, const float *wscale, size_t N, size_t K,
               enum qgemm_scheme s);
/* What a packed weight holds. */
size_t qgemm_packed_n(const void *P);
size_t qgemm_packed_k(const void *P);
enum qgemm_scheme qgemm_packed_scheme(const void *P);
const int32_t *qgemm_packed_colsum(const void *P);   /* (N) */
const float *qgemm_packed_wscale(const void *P);     /* (N) */

/* ---- the GEMMs ---------------------------------------------------------------------- */
/* C (M, N) rows ldc apart = q (M, K) wq^T, the raw int32 products (no zero point), q rows
 * lda bytes apart (lda >= K; only the first K bytes of a row are read), codes within the
 * packed weight's scheme.  For the tests and for callers doing their own epilogue. */
void qgemm_s32(int32_t *C, size_t ldc, const uint8_t *q, size_t lda, const void *P, size_t M);
void qgemm_s32_ref(int32_t *C, size_t ldc, const uint8_t *q, size_t lda, const int8_t *wq,
                   size_t ldw, size_t M, size_t K, size_t N);

/* y (M, N) rows ldy floats apart = act((C - zp colsum) (ascale wscale) + bias), bias (N) or
 * NULL, act (elementwise, in place on each finished block, e.g. act_serial() of
 * nn/kernels.h) or NULL.  The formula in the conventions, bit for bit. */
void qgemm_f32(float *y, size_t ldy, const uint8_t *q, size_t lda, const float *ascale,
               const int32_t *zp, const void *P, const float *bias, size_t M,
               void (*act)(float *, const float *, size_t));
void qgemm_f32_ref(float *y, size_t ldy, const uint8_t *q, size_t lda, const float *ascale,
                   const int32_t *zp, const int8_t *wq, size_t ldw, const float *wscale,
                   const float *bias, size_t M, size_t K, size_t N);

/* The whole dynamic linear layer: quantises x (M, K), rows lda floats apart, with the
 * packed weight's scheme into scratch (qgemm_scratch_bytes(M, K), 64-byte aligned), then
 * qgemm_f32 into y (M, N), rows ldy apart. */
size_t qgemm_scratch_bytes(size_t M, size_t K);
void qgemm_forward(float *y, size_t ldy, const float *x, size_t lda, const void *P,
                   const float *bias, size_t M, void *scratch,
                   void (*act)(float *, const float *, size_t));

/* ---- instruction sets --------------------------------------------------------------- */
/* AVX2: vpmaddubsw + vpmaddwd (ymm, 4 rows x 16 columns a tile); AVX-VNNI: vpdpbusd on ymm
 * (6 x 16); AVX-512 VNNI: vpdpbusd on zmm (8 x 32).  Each is compiled with a target
 * attribute and chosen at run time from cpuid and XCR0 (the OS must save the registers). */
enum qgemm_isa { QGEMM_SCALAR, QGEMM_AVX2, QGEMM_AVXVNNI, QGEMM_AVX512VNNI, QGEMM_NISA };

/* The path in use, chosen at the first call: EMO_QGEMM_ISA (scalar, avx2, avxvnni,
 * avx512vnni) if set and this CPU runs it (else a line on stderr and the default), else
 * the best this CPU has: AVX-512 VNNI, AVX-VNNI, AVX2, scalar. */
enum qgemm_isa qgemm_isa(void);
const char *qgemm_isa_name(enum qgemm_isa isa);
/* 1 if this CPU (and OS) can run isa. */
int qgemm_cpu_has(enum qgemm_isa isa);
/* Forces a path (tests, bench); -1 if this CPU cannot run it. */
int qgemm_set_isa(enum qgemm_isa isa);

#endif
