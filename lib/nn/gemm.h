/* The inference GEMM: y = x W^T + b for a linear layer whose weights were packed once.
 *
 * Why not OpenBLAS here: sgemm packs (copies) the weight matrix on every call.  At the
 * row counts of inference (32 rows for one tweet, a few thousand for a batch) that copy
 * costs as much as the arithmetic: a one-tweet bert-mini forward spent 41% of its time in
 * sgemm_incopy.  Packing once, when the weights change, and streaming the packed panels
 * straight into the FMA units removes it.
 *
 * Arithmetic: every output element is one fused multiply-add chain over k = 0 .. K-1 in
 * order, starting from 0, then + bias.  The AVX-512, AVX2+FMA and scalar (fmaf) paths
 * therefore give the same bits, and a row's result never depends on how many rows, which
 * rows or how many threads share the call.  Inference uses it for the attention products
 * too (nn/kernels.c), so an inference forward gives the same bits on every x86-64 machine
 * whatever OpenBLAS would pick. */
#ifndef EMO_GEMM_H
#define EMO_GEMM_H

#include <stddef.h>

/* Output columns per packed panel. */
#define GEMM_NR 16

/* Floats needed to pack a (N, K) weight: ceil(N / 16) panels of K x 16.  Panel p holds
 * output columns [16 p, 16 p + 16) and starts at P + 16 p K: when c0 is a multiple of
 * 16, columns [c0, N) alone are the packed weight at P + c0 K. */
size_t gemm_packed_floats(size_t N, size_t K);

/* P[panel][k][j] = W[16 panel + j][k] (zeros past N).  W is (N, K) row-major, PyTorch's
 * nn.Linear layout; P is 64-byte aligned, gemm_packed_floats(N, K) floats. */
void gemm_pack(float *P, const float *W, size_t N, size_t K);

/* On the calling thread only (inside a par_for job), W's rows ldw floats apart. */
void gemm_pack_serial(float *P, const float *W, size_t ldw, size_t N, size_t K);
/* The same panels from W^T given as (K, N) rows ldw floats apart, calling thread only:
 * P[panel][k][j] = Wt[k ldw + 16 panel + j] (B = V in attention's probs @ V). */
void gemm_pack_t(float *P, const float *Wt, size_t ldw, size_t K, size_t N);

/* y (M, N) = x (M, K) W^T + bias (N, or NULL for none), W packed in P; x rows are lda
 * floats apart (lda >= K), y rows N apart.  Threads: par_for (util/par.h). */
void gemm_packed(float *y, const float *x, size_t lda, const float *P, const float *bias,
                 size_t M, size_t K, size_t N);
/* y = act(x W^T + bias), act applied in place to each block of y while it is still in
 * cache (act(out, in, n): elementwise, e.g. act_serial() of nn/kernels.h).  The same bits
 * as gemm_packed followed by act over all of y. */
void gemm_packed_act(float *y, const float *x, size_t lda, const float *P, const float *bias,
                     size_t M, size_t K, size_t N, void (*act)(float *, const float *, size_t));
/* The same with y rows ldy floats apart (a column slice of a wider output). */
void gemm_packed_ld(float *y, size_t ldy, const float *x, size_t lda, const float *P,
                    const float *bias, size_t M, size_t K, size_t N);
/* The same on the calling thread only (inside a par_for job), y rows ldy apart. */
void gemm_packed_serial(float *y, size_t ldy, const float *x, size_t lda, const float *P,
                        const float *bias, size_t M, size_t K, size_t N);

/* Instruction set of the inner kernel. */
enum gemm_isa { GEMM_SCALAR, GEMM_AVX2, GEMM_AVX512 };

/* The kernel in use.  Chosen once: AVX-512 when the CPU has it and OpenBLAS also runs its
 * AVX-512 kernels (so the sgemm rate reported beside the engine is a fair yardstick; with
 * OPENBLAS_CORETYPE=Haswell both sides use AVX2), else AVX2+FMA if present, else scalar. */
enum gemm_isa gemm_isa(void);
const char *gemm_isa_name(enum gemm_isa isa);
/* Forces a kernel (tests); returns -1 if this CPU cannot run it. */
int gemm_set_isa(enum gemm_isa isa);

#endif
