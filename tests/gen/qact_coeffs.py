#!/usr/bin/python3
"""The polynomial tables of lib/nn/qact.c (the int8 path's erf and GELUs).

Run from the repository root:  /usr/bin/python3 tests/gen/qact_coeffs.py
Prints the two tables (erf, then the tanh GELU) as C initialisers to paste into qact.c;
tests/unit/test_qact.c measures what they give.

The argument is a = |x| / sqrt 2 (|z| for erf itself), on eight intervals of width 1/2
over [0, 4); interval i has its own degree-6 polynomial p_i in u, evaluated by Horner:
  i = 0:   u = a^2,          p ~ f(a) / a - 1   (odd part; f = a + a p exactly at 0)
  i >= 1:  u = a - (i/2 + 1/4), p ~ f(a) - 1    (the small tail, no cancellation)
where f is erf(a) for the erf table and tanh(sqrt(2/pi) (x + 0.044715 x^3)) at
x = a sqrt 2 for the tanh GELU's.  Interval 0 uses degree 4 (its higher coefficients are
0).  Each polynomial is a weighted minimax fit (Lawson's iteratively reweighted least
squares in double on 4,000 Chebyshev points; relative weight on interval 0, absolute on
the others); the coefficients are then rounded to float one at a time from the constant
term up, the higher ones refitted to what the rounded lower ones leave.
"""
import math

import numpy as np

WIDTH, NINT, DEG, DEG0 = 0.5, 8, 6, 4
SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


def target(kind, i, a):
    """f(a) / a - 1 on interval 0, f(a) - 1 on the others, in double."""
    out = []
    for y in a:
        if kind == "erf":
            f = math.erf(y) / y - 1 if i == 0 else -math.erfc(y)
        else:
            x = y * math.sqrt(2)
            u = SQRT_2_OVER_PI * (x + 0.044715 * x ** 3)
            f = math.tanh(u) / y - 1 if i == 0 else -2 / (math.exp(2 * u) + 1)
        out.append(f)
    return np.array(out)


def lawson(V, y, wt, iters):
    """minimax-weighted least squares: the weights grow where the error is largest"""
    w = wt.copy()
    for _ in range(iters):
        c, *_ = np.linalg.lstsq(V * w[:, None], y * w, rcond=None)
        e = np.abs(V @ c - y) * wt
        w = w * np.sqrt(e / e.max() + 1e-30)
        w /= w.max()
    return c


def fit(kind, i):
    lo, hi = i * WIDTH, (i + 1) * WIDTH
    a = lo + (hi - lo) * (0.5 - 0.5 * np.cos(np.linspace(0, math.pi, 4000)))
    a = a[a > 0]
    off = 0.0 if i == 0 else (lo + hi) / 2
    u = (a * a if i == 0 else a) - off
    y = target(kind, i, a)
    wt = 1 / np.abs(y + 1) if i == 0 else np.ones_like(y)   # relative to f / a on 0
    deg = DEG0 if i == 0 else DEG
    c = np.zeros(DEG + 1)
    for k in range(deg + 1):
        rest = y - sum(c[j] * u ** j for j in range(k))
        V = np.vander(u, deg + 1, increasing=True)[:, k:]
        c[k] = float(np.float32(lawson(V, rest, wt, 40)[0]))
    return off, c


def cfloat(v):
    return "0.0f" if v == 0 else ("%.9g" % np.float32(v)).replace("e-0", "e-") + "f"


for kind in ("erf", "gelu_tanh"):
    rows = [fit(kind, i) for i in range(NINT)]
    print("/* %s: offsets, then the coefficients of u^0 .. u^%d */" % (kind, DEG))
    print("    { " + ", ".join(cfloat(r[0]) for r in rows) + " },")
    for k in range(DEG + 1):
        print("    { " + ", ".join(cfloat(r[1][k]) for r in rows) + " },")
