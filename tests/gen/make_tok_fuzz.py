#!/usr/bin/python3
"""Random strings over many scripts and character classes (combining marks of every
combining class, Indic and musical Mc marks, CJK incl. the Extension E boundary, Hangul
jamo, Greek with ypogegrammeni, math alphanumerics, emoji, spaces, controls), for the
differential test against the Python BertTokenizer algorithm (bert_ref.py).  Characters
unassigned in this Python's Unicode database are left out (Unicode-version noise), except
U+0378.  Deterministic (seed 7).  Writes one JSON string per line to stdout."""
import json, random, unicodedata
random.seed(7)
pools = [
  list(range(0x20, 0x7f)) * 3,
  list(range(0xa0, 0x250)),
  list(range(0x300, 0x370)),          # combining
  list(range(0x370, 0x400)),          # greek
  list(range(0x400, 0x530)),          # cyrillic
  list(range(0x590, 0x700)),          # hebrew arabic
  list(range(0x900, 0xe80)),          # indic thai
  list(range(0x1100, 0x1200)),        # jamo
  list(range(0x1d00, 0x2000)),        # phonetic, latin ext additional, greek ext
  list(range(0x2000, 0x2100)),        # punctuation, spaces
  list(range(0x2100, 0x2c00)),        # symbols
  list(range(0x3000, 0x3100)),
  list(range(0x4e00, 0x4f00)),
  list(range(0xac00, 0xad00)),
  list(range(0xf900, 0xfb50)),
  list(range(0xfe00, 0xfff0)),
  list(range(0x1d100, 0x1d250)),      # musical incl. Mc marks
  list(range(0x1d400, 0x1d800)),      # math alnum
  list(range(0x1f300, 0x1fa00)),      # emoji
  list(range(0x20000, 0x20100)), list(range(0x2b800, 0x2b940)),
  [0x130, 0x131, 0x3a3, 0x3c2, 0xdf, 0x1e9e, 0x345, 0x307, 0x20e3, 0xfe0f, 0x200d, 0xad, 0x85, 0xb, 0xc, 0x1f, 0x7f, 0x2028, 0x2029, 0xfffd],
]
out = []
for i in range(4000):
    n = random.randint(1, 60)
    s = []
    for _ in range(n):
        p = random.choice(pools)
        c = chr(random.choice(p))
        if unicodedata.category(c) == 'Cn' and ord(c) not in (0x378,):  # avoid unicode-version noise
            continue
        if 0xd800 <= ord(c) <= 0xdfff or c == '\0':
            continue
        s.append(c)
        if random.random() < 0.15: s.append(' ')
    out.append(''.join(s))
for s in out:
    print(json.dumps(s))
