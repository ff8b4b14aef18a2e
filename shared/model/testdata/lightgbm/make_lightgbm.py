#!/usr/bin/python3
"""Writes tiny LightGBM text models by hand and their expected predictions.

LightGBM cannot be installed here, so this script writes models in
LightGBM's text model format (what Booster.save_model writes: a header of
key=value lines -- version, num_class, num_tree_per_iteration, label_index,
max_feature_idx, objective, feature_names, feature_infos, tree_sizes -- then
one "Tree=N" block per tree with num_leaves, num_cat, split_feature,
split_gain, threshold, decision_type, left_child, right_child, leaf_value,
leaf_weight, leaf_count, internal_value, internal_weight, internal_count,
is_linear, shrinkage; see LightGBM's src/boosting/gbdt_model_text.cpp
SaveModelToString and src/io/tree.cpp Tree::ToString), and computes the
predictions with its own evaluator of LightGBM's documented decision rule
(include/LightGBM/tree.h, Tree::NumericalDecision):

    missing_type = (decision_type >> 2) & 3     # 0 None, 1 Zero, 2 NaN
    default_left = decision_type & 2
    if isnan(x) and missing_type != NaN: x = 0
    if (missing_type == Zero and |x| <= 1e-35) or (missing_type == NaN and isnan(x)):
        go left if default_left else right
    else go left if x <= threshold else right

a negative child ~i is leaf i; the raw score is the sum of the leaf values of
the trees of an output (tree t belongs to output t % num_class), and the
objective's output transform gives the prediction: binary sigmoid:k ->
1 / (1 + exp(-k * raw)); multiclass -> softmax over the outputs; regression
-> raw (LightGBM's src/objective/*.hpp ConvertOutput).

Run from this directory: python3 make_lightgbm.py. It writes NAME.txt,
NAME.txt.dropcast.yaml and NAME.expected.csv for binary, multiclass and
regression. The Go tests read only these files.
"""
import csv
import math

NAN = float("nan")
FEATURES = ["age", "income", "score"]

# A tree: (nodes, leaf values); a node is (feature, threshold, decision_type,
# left, right) with children >= 0 internal nodes and ~leaf for leaves.
# decision_type: 2 = default left, missing None; 8 = missing NaN, default
# right; 10 = missing NaN, default left; 6 = missing Zero, default left.
BINARY = [
    ([(0, 30.5, 2, 1, ~2), (1, 1000.25, 8, ~0, ~1)], [-0.4, 0.15, 0.3]),
    ([(2, 0.5, 6, ~0, 1), (0, 50.0, 10, ~1, ~2)], [0.2, -0.1, 0.25]),
]
MULTICLASS = [  # iteration 1: classes 0, 1, 2; iteration 2: classes 0, 1, 2
    ([(0, 40.0, 10, ~0, ~1)], [0.3, -0.2]),
    ([(1, 2000.0, 8, ~0, ~1)], [-0.1, 0.4]),
    ([(2, 0.25, 2, ~0, ~1)], [0.05, -0.05]),
    ([(0, 25.0, 2, ~0, 1), (2, 0.75, 6, ~1, ~2)], [0.1, 0.2, -0.3]),
    ([(1, 500.5, 10, ~0, ~1)], [-0.2, 0.1]),
    ([(2, 0.6, 8, ~0, ~1)], [0.15, -0.25]),
]
REGRESSION = [
    ([(0, 35.0, 10, 1, 2), (1, 1500.0, 2, ~0, ~1), (2, 0.4, 6, ~2, ~3)], [10.5, 12.25, 14.0, 9.75]),
    ([(1, 800.0, 8, ~0, ~1)], [-0.5, 0.75]),
]

TEST_ROWS = [
    [30.5, 1000.25, 0.5],      # exactly on thresholds: x <= threshold goes left
    [NAN, NAN, NAN],           # all missing
    [0.0, 0.0, 0.0],           # zeros (missing type Zero)
    [22.0, 3500.0, 0.9],
    [61.0, 120.0, 0.1],
    [45.0, NAN, 0.7],
    [NAN, 1999.99, 0.3],
    [37.25, 800.0, NAN],
]


def decide(node, x):
    feature, threshold, decision_type, left, right = node
    v = x[feature]
    missing_type = (decision_type >> 2) & 3
    default_left = decision_type & 2
    if math.isnan(v) and missing_type != 2:
        v = 0.0
    if (missing_type == 1 and abs(v) <= 1e-35) or (missing_type == 2 and math.isnan(v)):
        return left if default_left else right
    return left if v <= threshold else right


def tree_value(tree, x):
    nodes, leaves = tree
    i = 0
    while True:
        child = decide(nodes[i], x)
        if child < 0:
            return leaves[~child]
        i = child


def raw_scores(trees, num_class, x):
    raw = [0.0] * num_class
    for t, tree in enumerate(trees):
        raw[t % num_class] += tree_value(tree, x)
    return raw


def fmt(values):
    return " ".join(repr(float(v)) if isinstance(v, float) else str(v) for v in values)


def tree_text(i, tree):
    nodes, leaves = tree
    lines = [
        f"num_leaves={len(leaves)}",
        "num_cat=0",
        "split_feature=" + fmt([n[0] for n in nodes]),
        "split_gain=" + fmt([1.0] * len(nodes)),
        "threshold=" + fmt([n[1] for n in nodes]),
        "decision_type=" + fmt([n[2] for n in nodes]),
        "left_child=" + fmt([n[3] for n in nodes]),
        "right_child=" + fmt([n[4] for n in nodes]),
        "leaf_value=" + fmt(leaves),
        "leaf_weight=" + fmt([10.0] * len(leaves)),
        "leaf_count=" + fmt([10] * len(leaves)),
        "internal_value=" + fmt([0.0] * len(nodes)),
        "internal_weight=" + fmt([20.0] * len(nodes)),
        "internal_count=" + fmt([20] * len(nodes)),
        "is_linear=0",
        "shrinkage=1",
    ]
    return f"Tree={i}\n" + "\n".join(lines) + "\n\n\n"


def write_model(name, trees, num_class, objective, task, classes):
    blocks = [tree_text(i, t) for i, t in enumerate(trees)]
    header = [
        "tree",
        "version=v3",
        f"num_class={num_class}",
        f"num_tree_per_iteration={num_class}",
        "label_index=0",
        f"max_feature_idx={len(FEATURES) - 1}",
        f"objective={objective}",
        "feature_names=" + " ".join(FEATURES),
        "feature_infos=[0:100] [0:5000] [0:1]",
        "tree_sizes=" + " ".join(str(len(b)) for b in blocks),
    ]
    with open(name + ".txt", "w") as f:
        f.write("\n".join(header) + "\n\n")
        f.write("".join(blocks))
        f.write("end of trees\n")
    with open(name + ".txt.dropcast.yaml", "w") as f:
        f.write(f"# The sidecar of {name}.txt; the features are the file's feature_names.\n")
        f.write("target: outcome\n")
        f.write(f"task: {task}\n")
        if classes:
            f.write("classes: [" + ", ".join(classes) + "]\n")
    with open(name + ".expected.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        if task == "regression":
            w.writerow(FEATURES + ["value"])
        else:
            w.writerow(FEATURES + ["score_" + c for c in classes])
        for x in TEST_ROWS:
            raw = raw_scores(trees, num_class, x)
            if objective.startswith("binary"):
                k = float(objective.split("sigmoid:")[1])
                p = 1 / (1 + math.exp(-k * raw[0]))
                out = [1 - p, p]
            elif objective.startswith("multiclass"):
                hi = max(raw)
                e = [math.exp(r - hi) for r in raw]
                out = [v / sum(e) for v in e]
            else:
                out = raw
            w.writerow(["" if math.isnan(v) else repr(v) for v in x] + [repr(v) for v in out])


def main():
    write_model("binary", BINARY, 1, "binary sigmoid:1", "classification", ["no", "yes"])
    write_model("multiclass", MULTICLASS, 3, "multiclass num_class:3", "classification", ["low", "mid", "high"])
    write_model("regression", REGRESSION, 1, "regression", "regression", None)


if __name__ == "__main__":
    main()
