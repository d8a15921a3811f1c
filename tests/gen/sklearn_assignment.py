#!/usr/bin/python3
"""The paper's split made by scikit-learn, as an assignment for `emo split --from-assignment`.

Reads records as JSON Lines (`emo dump clean.rec`) with `id` and `label`, splits them with
train_test_split(stratify=label, random_state=SEED) twice (test first, then val out of the
rest, like the usual two-step 70/15/15), and writes "id<TAB>split" lines with a header.
NumPy's MT19937 and sklearn's tie-breaking make this split impossible to reproduce in C,
hence the import.

Usage: emo dump clean.rec | /usr/bin/python3 tests/gen/sklearn_assignment.py [VAL TEST SEED] > split.tsv
       (defaults 0.15 0.15 42)"""
import json
import sys

from sklearn.model_selection import train_test_split


def main():
    val, test, seed = 0.15, 0.15, 42
    if len(sys.argv) == 4:
        val, test, seed = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    ids, labels = [], []
    for line in sys.stdin:
        r = json.loads(line)
        ids.append(r["id"])
        labels.append(r["label"])
    rest, test_ix = train_test_split(range(len(ids)), test_size=test, stratify=labels, random_state=seed)
    train_ix, val_ix = train_test_split(rest, test_size=val / (1 - test), stratify=[labels[i] for i in rest],
                                        random_state=seed)
    split = {}
    for name, ix in (("train", train_ix), ("val", val_ix), ("test", test_ix)):
        for i in ix:
            split[i] = name
    out = ["id\tsplit"] + ["%d\t%s" % (ids[i], split[i]) for i in range(len(ids))]
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
