/* The plain twins of the tuned kernels (kernels.h): loops in double where they sum, libm
 * for the transcendental functions, one thread, no BLAS.  The tests hold each tuned kernel
 * to its twin (tests/unit/test_kernels.c); nothing else calls them. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "nn/kernels.h"
#include "nn/vmath.h"

/* ------------------------------------------------------------------------------------
 * linear */

void matmul_forward_ref(float *out, const float *inp, const float *w, const float *bias,
                        size_t N, size_t C, size_t OC)
{
    for (size_t i = 0; i < N; i++)
        for (size_t o = 0; o < OC; o++) {
            double acc = bias ? bias[o] : 0.0;
            for (size_t c = 0; c < C; c++)
                acc += (double)inp[i * C + c] * w[o * C + c];
            out[i * OC + o] = (float)acc;
        }
}

void matmul_backward_ref(float *dinp, float *dw, float *dbias, const float *dout,
                         const float *inp, const float *w, size_t N, size_t C, size_t OC)
{
    if (dinp)
        for (size_t i = 0; i < N; i++)
            for (size_t c = 0; c < C; c++) {
                double acc = 0;
                for (size_t o = 0; o < OC; o++)
                    acc += (double)dout[i * OC + o] * w[o * C + c];
                dinp[i * C + c] += (float)acc;
            }
    for (size_t o = 0; o < OC; o++)
        for (size_t c = 0; c < C; c++) {
            double acc = 0;
            for (size_t i = 0; i < N; i++)
                acc += (double)dout[i * OC + o] * inp[i * C + c];
            dw[o * C + c] += (float)acc;
        }
    if (dbias)
        for (size_t o = 0; o < OC; o++) {
            double acc = 0;
            for (size_t i = 0; i < N; i++)
                acc += dout[i * OC + o];
            dbias[o] += (float)acc;
        }
}

/* ------------------------------------------------------------------------------------
 * LayerNorm */

void layernorm_forward_ref(float *out, float *mean, float *rstd, const float *inp,
                           const float *w, const float *b, size_t N, size_t C, float eps)
{
    for (size_t i = 0; i < N; i++) {
        const float *x = inp + i * C;
        double m = 0, v = 0;
        for (size_t c = 0; c < C; c++)
            m += x[c];
        m /= (double)C;
        for (size_t c = 0; c < C; c++)
            v += (x[c] - m) * (x[c] - m);
        double r = 1.0 / sqrt(v / (double)C + eps);
        for (size_t c = 0; c < C; c++)
            out[i * C + c] = (float)((x[c] - m) * r * w[c] + b[c]);
        mean[i] = (float)m;
        rstd[i] = (float)r;
    }
}

void layernorm_backward_ref(float *dinp, float *dw, float *db, const float *dout,
                            const float *inp, const float *w, const float *mean,
                            const float *rstd, size_t N, size_t C)
{
    for (size_t i = 0; i < N; i++) {
        double dsum = 0, dnsum = 0;
        for (size_t c = 0; c < C; c++) {
            double n = ((double)inp[i * C + c] - mean[i]) * rstd[i];
            double dn = (double)w[c] * dout[i * C + c];
            dsum += dn;
            dnsum += dn * n;
        }
        dsum /= (double)C;
        dnsum /= (double)C;
        for (size_t c = 0; c < C; c++) {
            double n = ((double)inp[i * C + c] - mean[i]) * rstd[i];
            double dn = (double)w[c] * dout[i * C + c];
            dinp[i * C + c] += (float)((dn - dsum - n * dnsum) * rstd[i]);
            db[c] += dout[i * C + c];
            dw[c] += (float)(n * dout[i * C + c]);
        }
    }
}

/* ------------------------------------------------------------------------------------
 * activations */

void gelu_erf_forward_ref(float *out, const float *inp, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        out[i] = 0.5f * x * (1.0f + erff(x * INV_SQRT2));
    }
}

void gelu_erf_backward_ref(float *dinp, const float *dout, const float *inp, size_t n)
{
    // d/dx [x Phi(x)] = Phi(x) + x phi(x)
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float cdf = 0.5f * (1.0f + erff(x * INV_SQRT2));
        float pdf = INV_SQRT2PI * expf(-0.5f * x * x);
        dinp[i] += dout[i] * (cdf + x * pdf);
    }
}

void gelu_tanh_forward_ref(float *out, const float *inp, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float u = SQRT_2_OVER_PI * (x + 0.044715f * x * x * x);
        out[i] = 0.5f * x * (1.0f + tanhf(u));
    }
}

void gelu_tanh_backward_ref(float *dinp, const float *dout, const float *inp, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float u = SQRT_2_OVER_PI * (x + 0.044715f * x * x * x);
        float t = tanhf(u);
        float du = SQRT_2_OVER_PI * (1.0f + 3.0f * 0.044715f * x * x);
        dinp[i] += dout[i] * (0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du);
    }
}

void tanh_forward_ref(float *out, const float *inp, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = tanhf(inp[i]);
}

/* ------------------------------------------------------------------------------------
 * softmax */

void softmax_forward_ref(float *p, const float *x, size_t rows, size_t n, size_t ld)
{
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * ld;
        float *pr = p + r * ld;
        float mx = -INFINITY;
        for (size_t j = 0; j < n; j++)
            mx = xr[j] > mx ? xr[j] : mx;
        float s = 0.0f;
        for (size_t j = 0; j < n; j++) {
            pr[j] = expf(xr[j] - mx);
            s += pr[j];
        }
        float inv = 1.0f / s;
        for (size_t j = 0; j < n; j++)
            pr[j] *= inv;
    }
}

/* ------------------------------------------------------------------------------------
 * attention */

void attention_forward_ref(float *ctx, float *att, float *att_drop, const float *qkv,
                           const attn_batch *ab, float p_drop, rng_t *rng)
{
    int NH = ab->NH, hd = ab->hd, H = NH * hd, H3 = 3 * H;
    double alpha = 1.0 / sqrt((double)hd);
    uint64_t seed = p_drop > 0.0f ? rng_u64(rng) : 0;
    for (int b = 0; b < ab->B; b++) {
        int n = ab->lens[b];
        const float *x = qkv + ab->tok_off[b] * (size_t)H3;
        float *c = ctx + ab->tok_off[b] * (size_t)H;
        for (int h = 0; h < NH; h++) {
            float *a = att + ab->att_off[b] + (size_t)h * n * n;
            for (int i = 0; i < n; i++) {
                double mx = -INFINITY, s = 0;
                double sc[n];
                for (int j = 0; j < n; j++) {
                    double acc = 0;
                    for (int e = 0; e < hd; e++)
                        acc += (double)x[i * H3 + h * hd + e] * x[j * H3 + H + h * hd + e];
                    sc[j] = acc * alpha;
                    mx = sc[j] > mx ? sc[j] : mx;
                }
                for (int j = 0; j < n; j++)
                    s += (sc[j] = exp(sc[j] - mx));
                for (int j = 0; j < n; j++)
                    a[i * n + j] = (float)(sc[j] / s);
            }
            float *pv = a;
            if (p_drop > 0.0f) {
                rng_t r;
                rng_seed(&r, seed + (uint64_t)b * NH + h);
                pv = att_drop + ab->att_off[b] + (size_t)h * n * n;
                for (int i = 0; i < n * n; i++)
                    pv[i] = rng_uniform(&r) >= p_drop ? a[i] / (1.0f - p_drop) : 0.0f;
            }
            for (int i = 0; i < n; i++)
                for (int e = 0; e < hd; e++) {
                    double acc = 0;
                    for (int j = 0; j < n; j++)
                        acc += (double)pv[i * n + j] * x[j * H3 + 2 * H + h * hd + e];
                    c[i * H + h * hd + e] = (float)acc;
                }
        }
    }
}

void attention_backward_ref(float *dqkv, float *datt, const float *dctx, const float *dextra,
                            size_t T, const float *att, const float *att_drop,
                            const float *qkv, const attn_batch *ab, float p_drop)
{
    int NH = ab->NH, hd = ab->hd, H = NH * hd, H3 = 3 * H;
    double alpha = 1.0 / sqrt((double)hd);
    double scale = p_drop > 0.0f ? 1.0 / (1.0 - p_drop) : 1.0;
    for (int b = 0; b < ab->B; b++) {
        int n = ab->lens[b];
        const float *x = qkv + ab->tok_off[b] * H3;
        float *dx = dqkv + ab->tok_off[b] * H3;
        const float *dc = dctx + ab->tok_off[b] * H;
        for (int h = 0; h < NH; h++) {
            size_t off = ab->att_off[b] + (size_t)h * n * n;
            const float *a = att + off;
            const float *pv = p_drop > 0.0f ? att_drop + off : a;
            float *da = datt + off;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++) {
                    double g = 0;
                    for (int e = 0; e < hd; e++)
                        g += (double)dc[i * H + h * hd + e] * x[j * H3 + 2 * H + h * hd + e];
                    if (dextra)
                        g += dextra[(((size_t)b * NH + h) * T + i) * T + j];
                    if (p_drop > 0.0f)
                        g = pv[i * n + j] != 0.0f ? g * scale : 0.0;
                    da[i * n + j] = (float)g;
                }
            for (int j = 0; j < n; j++)
                for (int e = 0; e < hd; e++) {
                    double g = 0;
                    for (int i = 0; i < n; i++)
                        g += (double)pv[i * n + j] * dc[i * H + h * hd + e];
                    dx[j * H3 + 2 * H + h * hd + e] += (float)g;
                }
            for (int i = 0; i < n; i++) {
                double dot = 0;
                for (int j = 0; j < n; j++)
                    dot += (double)da[i * n + j] * a[i * n + j];
                for (int j = 0; j < n; j++)
                    da[i * n + j] = (float)(a[i * n + j] * (da[i * n + j] - dot));
            }
            for (int i = 0; i < n; i++)
                for (int e = 0; e < hd; e++) {
                    double gq = 0, gk = 0;
                    for (int j = 0; j < n; j++) {
                        gq += (double)da[i * n + j] * x[j * H3 + H + h * hd + e];
                        gk += (double)da[j * n + i] * x[j * H3 + h * hd + e];
                    }
                    dx[i * H3 + h * hd + e] += (float)(gq * alpha);
                    dx[i * H3 + H + h * hd + e] += (float)(gk * alpha);
                }
        }
    }
}
