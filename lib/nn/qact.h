/* The int8 inference path's activations (issue 16): erf and the two GELUs as piecewise
 * polynomials, with no exp, division or libm call, for the feed-forward GELU that
 * qgemm_f32 applies to each finished block (nn/qgemm.h's act).  The float model keeps
 * kernels.h's GELUs (its PyTorch parity does not move); an int8 model's GELU is this one.
 *
 * The function: a = |x| / sqrt 2 (|z| for erf) picks one of eight intervals of width 1/2
 * over [0, 4), each with its own degree-6 polynomial (tests/gen/qact_coeffs.py fits
 * them): on [0, 1/2) erf(a) = a + a p(a^2), above it p(a - centre) = erf(a) - 1, from
 * 4 on erf is +-1 (erff rounds to 1 from 3.92).  The GELUs use the same tail, so
 * 0.5 x (1 + erf) is x + 0.5 x (erf - 1) for x > 0 (one rounding, no cancellation) and
 * -0.5 x (erf - 1) below; the tanh form fits tanh(sqrt(2/pi) (x + 0.044715 x^3)) alike.
 * Accuracy (tests/unit/test_qact.c, against double): erf within 1.25 ulp; the GELUs
 * within 2.4e-7 of the exact double GELU for |x| <= 10 (about half an ulp of the output
 * where |GELU| is in [4, 8)), x beyond 10 gives x, below -10 gives 0; NaN gives NaN,
 * +inf gives +inf, -inf gives 0.
 *
 * Paths: scalar (fmaf), AVX2 + FMA and AVX-512F, each compiled with a target attribute
 * and chosen at run time from cpuid; the same operations in the same order with a fused
 * multiply-add in the same places, so every path gives the same bits for every input
 * (ISO C mode keeps -ffp-contract=off: the scalar path fuses only where it calls fmaf).
 * Each call runs on the calling thread; out may be inp; n any length. */
#ifndef EMO_QACT_H
#define EMO_QACT_H

#include <stddef.h>

#include "nn/kernels.h"

/* out (n) = erf(inp) */
void qact_erf(float *out, const float *inp, size_t n);
/* out (n) = 0.5 x (1 + erf(x / sqrt 2))   (model_act 0, HF "gelu") */
void qact_gelu_erf(float *out, const float *inp, size_t n);
/* out (n) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))   (model_act 1, "gelu_new") */
void qact_gelu_tanh(float *out, const float *inp, size_t n);

/* The int8 epilogue's activation for model_act act: the GELUs above on the path in use
 * (the function of that path, no dispatch per call), ReLU as act_serial's. */
act_fn qact_serial(int act);

enum qact_isa { QACT_SCALAR, QACT_AVX2, QACT_AVX512, QACT_NISA };

/* The path in use, chosen at the first call: EMO_QACT_ISA (scalar, avx2, avx512) if set
 * and this CPU runs it (else a line on stderr and the default), else the best this CPU
 * has. */
enum qact_isa qact_isa(void);
const char *qact_isa_name(enum qact_isa isa);
/* 1 if this CPU (and OS) can run isa. */
int qact_cpu_has(enum qact_isa isa);
/* Forces a path (tests, bench); -1 if this CPU cannot run it. */
int qact_set_isa(enum qact_isa isa);

#endif
