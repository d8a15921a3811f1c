import json, sys, statistics as st, collections
d = collections.defaultdict(list)
for f in sys.argv[1:]:
    for line in open(f):
        side, model, js = line.split(' ', 2)
        try: r = json.loads(js)
        except Exception: continue
        d[(model, side)].append((r['median_ms'], r['cpu_ms']))
for model in sorted({m for m, _ in d}):
    o, n = d[(model, 'old')], d[(model, 'new')]
    mo, mn = st.median(x[0] for x in o), st.median(x[0] for x in n)
    co, cn = st.median(x[1] for x in o), st.median(x[1] for x in n)
    print(f"{model}: runs {len(o)}/{len(n)}  wall median-of-medians old {mo:.2f} new {mn:.2f} ms ({mo/mn:.3f}x)  cpu old {co:.2f} new {cn:.2f} ms ({co/cn:.3f}x)")
    rw = sorted(a[0] / b[0] for a, b in zip(o, n)); rc = sorted(a[1] / b[1] for a, b in zip(o, n))
    print(f"   paired old/new per round: wall median {st.median(rw):.3f}x, cpu median {st.median(rc):.3f}x")
    print(f"   best run: wall old {min(x[0] for x in o):.2f} new {min(x[0] for x in n):.2f} ms, cpu old {min(x[1] for x in o):.2f} new {min(x[1] for x in n):.2f} ms")
    print("   old wall:", ' '.join(f"{x[0]:.1f}" for x in o), " new wall:", ' '.join(f"{x[0]:.1f}" for x in n))
