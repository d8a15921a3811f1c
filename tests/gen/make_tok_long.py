#!/usr/bin/python3
"""Long and length-boundary texts for the tokenizer goldens (one JSON string per line on
stdout).  Deterministic; run by tests/gen/make_tok_goldens.sh."""
import json

MB = 1 << 20
texts = [
    "a" * MB,                                   # 1 MB word, no spaces: [CLS] [UNK] [SEP]
    "x " + "a" * 100 + " y",                    # exactly 100 code points: still WordPiece
    "x " + "a" * 101 + " y",                    # 101: [UNK]
    "ab" * 50, "ab" * 50 + "a",
    "\u00e9" * 100, "\u00e9" * 101,             # counted after NFD + Mn removal
    "e\u0301" * 100 + " " + "e\u0301" * 101,    # decomposed input, marks dropped
    "\u0434" * 60, "\u0434" * 100, "\u0434" * 101,   # 2-byte letters: code points, not bytes
    "\u0130" * 100, "\u0130" * 101,             # Turkish dotted I -> i + U+0307 -> i
    "\ud55c" * 33, "\ud55c" * 34,               # Hangul: 3 jamo each after NFD (99 / 102)
    ("hello." * 200000)[:MB],                   # 1 MB of short words split by punctuation
    "\u4e2d\u6587" * 5000,                      # CJK run: one token per ideograph
    ("x\u0301\u0302" * 100000),                 # long word of letters with accents
    "a" + "\u0301" * 500000 + " b",             # 500k combining marks on one letter: "a"
    "a" + "\U0001D16D\U0001D165" * 200000,       # kept marks, alternating classes: [UNK]
    # musical combining marks (category Mc, combining classes 216 and 226, kept by the
    # Mn-only accent stripping): canonical reordering inside a word
    "a\U0001D16D\U0001D165b \U0001D165\U0001D16D c z\U0001D16D\u0301\U0001D165",
    " ".join(["unbelievable"] * 20000),         # many words
    "\u00a0".join(["caf\u00e9"] * 1000),        # NBSP separated
    ("\U0001F468\u200D\U0001F469\u200D\U0001F467 " * 2000),  # ZWJ family emoji
]
for t in texts:
    print(json.dumps(t))
