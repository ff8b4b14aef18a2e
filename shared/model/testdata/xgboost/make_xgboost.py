#!/usr/bin/python3
"""Makes the tiny XGBoost test models and what XGBoost itself predicts.

Run with Debian's python3-xgboost (apt-get install -y python3-xgboost),
from this directory:

    /usr/bin/python3 make_xgboost.py

For each objective it trains a few shallow trees on a small synthetic data
set (fixed seed, some values missing) and writes

    NAME.json            the model in XGBoost's JSON format (save_model)
    NAME.bin             the model in XGBoost's binary format (save_model)
    NAME.json.dropcast.yaml, NAME.bin.dropcast.yaml   the sidecars
    NAME.expected.csv    input rows and XGBoost's predictions for them
                         (Booster.predict: probabilities, or the value)

The Go tests read only these files.
"""
import csv
import json

import numpy as np
import xgboost as xgb

FEATURES = ["length", "width", "weight", "ratio"]
ROUNDS = 6


def data(rng, n):
    x = np.round(rng.normal(size=(n, len(FEATURES))) * [3, 2, 10, 1] + [10, 5, 50, 0], 2)
    # Missing values: the trees learn a default direction for them.
    mask = rng.uniform(size=x.shape) < 0.1
    x[mask] = np.nan
    return x


def main():
    rng = np.random.RandomState(20240101)
    x = data(rng, 400)
    filled = np.nan_to_num(x, nan=0.0)
    score = 0.4 * (filled[:, 0] - 10) - 0.5 * (filled[:, 1] - 5) + 0.05 * (filled[:, 2] - 50) + filled[:, 3]
    y_binary = (score + rng.normal(size=len(x)) > 0).astype(int)
    y_multi = np.digitize(score + rng.normal(size=len(x)) * 0.5, [-1.0, 1.0])
    y_reg = 3 * score + 20 + rng.normal(size=len(x))

    test = data(rng, 12)
    test[0] = [10.0, 5.0, 50.0, 0.0]
    test[1] = [np.nan, np.nan, np.nan, np.nan]

    models = {
        "binary": ({"objective": "binary:logistic"}, y_binary, ["no", "yes"], "classification"),
        "multiclass": ({"objective": "multi:softprob", "num_class": 3}, y_multi, ["low", "mid", "high"], "classification"),
        "regression": ({"objective": "reg:squarederror"}, y_reg, None, "regression"),
    }
    for name, (params, y, classes, task) in models.items():
        params = dict(params, max_depth=3, eta=0.3, seed=1, base_score=0.5 if task == "classification" else 20.0)
        dtrain = xgb.DMatrix(x, label=y, feature_names=FEATURES)
        booster = xgb.train(params, dtrain, num_boost_round=ROUNDS)
        booster.save_model(name + ".json")
        booster.save_model(name + ".bin")
        # Rows 2-5 put one feature exactly on a split value of the first
        # tree (XGBoost goes right when the value equals it).
        tree = json.loads(booster.get_dump(dump_format="json")[0])
        on_split = test.copy()
        node = tree
        for i in range(2, 6):
            if "split" not in node:
                break
            f = FEATURES.index(node["split"])
            on_split[i][f] = float(np.float32(node["split_condition"]))
            node = node["children"][0]
        pred = booster.predict(xgb.DMatrix(on_split, feature_names=FEATURES))
        for ext in ("json", "bin"):
            with open(f"{name}.{ext}.dropcast.yaml", "w") as f:
                f.write(f"# The sidecar of {name}.{ext}: what the model file lacks.\n")
                f.write("target: target\n")
                f.write(f"task: {task}\n")
                if classes:
                    f.write("classes: [" + ", ".join(classes) + "]\n")
                f.write("features: [" + ", ".join(FEATURES) + "]\n")
        with open(name + ".expected.csv", "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            if classes and len(classes) == 2:
                header = FEATURES + [f"score_{classes[1]}"]
            elif classes:
                header = FEATURES + [f"score_{c}" for c in classes]
            else:
                header = FEATURES + ["value"]
            w.writerow(header)
            for row, p in zip(on_split, pred):
                cells = ["" if np.isnan(v) else repr(float(v)) for v in row]
                values = np.atleast_1d(p)
                w.writerow(cells + [repr(float(v)) for v in values])
    print("xgboost", xgb.__version__)


if __name__ == "__main__":
    main()
