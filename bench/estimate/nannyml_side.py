"""NannyML's side of the estimation benchmark; runs in bench/estimate/.venv-nannyml.

    python nannyml_side.py IN.npz OUT.json

IN holds the reference (labelled) and analysis (labels held back) data of one scenario;
the analysis rows are cut into chunks of ``chunk`` rows, the same windows deploykit
estimates. Writes each chunk's estimate and confidence band, and the seconds fit and
estimate took.
"""

import json
import sys
import time
import warnings

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")
import nannyml as nml  # noqa: E402


def frame(d, prefix, columns):
    df = pd.DataFrame(d[f"{prefix}_X"], columns=columns)
    df["y_pred"] = d[f"{prefix}_pred"]
    if f"{prefix}_proba" in d:
        proba = d[f"{prefix}_proba"]
        for j, c in enumerate(d["classes"]):
            df[f"p_{c}"] = proba[:, j]
    if f"{prefix}_y" in d:
        df["y_true"] = d[f"{prefix}_y"]
    return df


def main(src, dst):
    d = dict(np.load(src, allow_pickle=False))
    task = str(d["task"])
    chunk = int(d["chunk"])
    columns = [str(c) for c in d["columns"]]
    ref, ana = frame(d, "ref", columns), frame(d, "an", columns)
    out = {"task": task, "metrics": {}}
    if task == "regression":
        est = nml.DLE(
            feature_column_names=columns,
            y_pred="y_pred",
            y_true="y_true",
            metrics=["mae", "rmse"],
            chunk_size=chunk,
        )
        names = ["mae", "rmse"]
    else:
        classes = [str(c) for c in d["classes"]]
        if task == "binary":
            ref["y_pred"] = ref["y_pred"].astype(int)
            ana["y_pred"] = ana["y_pred"].astype(int)
            proba = f"p_{classes[1]}"
            names = ["roc_auc", "accuracy", "f1", "precision", "recall"]
        else:
            proba = {int(c): f"p_{c}" for c in classes}
            names = ["roc_auc", "accuracy", "f1", "precision", "recall"]
        est = nml.CBPE(
            y_pred_proba=proba,
            y_pred="y_pred",
            y_true="y_true",
            problem_type="classification_binary"
            if task == "binary"
            else "classification_multiclass",
            metrics=names,
            chunk_size=chunk,
        )
    t0 = time.perf_counter()
    est.fit(ref)
    t1, c1 = time.perf_counter(), time.process_time()
    result = est.estimate(ana)
    t2, c2 = time.perf_counter(), time.process_time()
    df = result.filter(period="analysis").to_df()
    for m in names:
        out["metrics"][m] = {
            "value": df[(m, "value")].astype(float).tolist(),
            "lower": df[(m, "lower_confidence_boundary")].astype(float).fillna(-np.inf).tolist(),
            "upper": df[(m, "upper_confidence_boundary")].astype(float).fillna(np.inf).tolist(),
        }
    out["fit_seconds"] = t1 - t0
    out["estimate_seconds"] = t2 - t1
    out["estimate_cpu"] = c2 - c1
    out["version"] = nml.__version__
    with open(dst, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
