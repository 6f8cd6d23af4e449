"""Time per example of every explanation method, against the model's own prediction time.

    .venv/bin/python -m bench.explain_cost [--rows 1000] [--images 16]

Tables: an XGBoost model and an MLP fitted on a synthetic 30-column table
(scikit-learn's `make_classification`, 5,000 rows), each SHAP method timed on
`--rows` held-out rows. Images: the small CNN fitted briefly on the bundled
digits, each image method timed on `--images` test images. Each method's
time per example is printed beside its model's prediction time per example
(measured in the same run), as a ratio: what one explanation costs in
predictions. Results go to `bench/results/explain_cost.json`.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split

import tasklab.explain.stage  # noqa: F401  (registers every method)
from bench.common import REPO, write_result
from tasklab.baselines.models import fit_baseline
from tasklab.core.config import load_config
from tasklab.core.problems import CLASSIFICATION
from tasklab.data import load_dataset
from tasklab.data.base import DataSpec
from tasklab.data.tabular import TabularSchema
from tasklab.explain.base import EXPLAINERS, ExplainOptions, predict
from tasklab.tasks import get_task
from tasklab.training.train import split_inputs


def per_example(call, count: int, repeats: int = 3) -> float:
    """The best of `repeats` wall times of `call()`, divided by `count`."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    return best / count


def numeric_table_spec(x: np.ndarray) -> DataSpec:
    """The spec of an all-numeric table, with the train statistics the MLP normalizes with."""
    schema = TabularSchema(
        columns=(),
        target="y",
        feature_names=tuple(f"x{i}" for i in range(x.shape[1])),
        feature_mean=tuple(x.mean(axis=0).tolist()),
        feature_variance=tuple(x.var(axis=0).tolist()),
        target_mean=0.0,
        target_std=1.0,
    )
    return DataSpec("tabular", ("0", "1"), (x.shape[1],), schema)


def table_methods(rows: int, seed: int) -> list[dict]:
    """Tree SHAP and SHAP of an MLP on `rows` held-out rows of a synthetic table."""
    x, y = make_classification(5000, 30, n_informative=10, random_state=seed)
    x = x.astype(np.float32)
    x_train, x_test, y_train, _ = train_test_split(x, y, test_size=rows, random_state=seed)
    x_fit, x_val, y_fit, y_val = train_test_split(x_train, y_train, test_size=0.15, random_state=0)
    trees = fit_baseline("xgboost", CLASSIFICATION, seed, (x_fit, y_fit), (x_val, y_val))
    task = get_task("tabular_classification")(
        load_config(REPO / "configs" / "breast_cancer.yaml").model, numeric_table_spec(x_train)
    )
    net = task.build_model()
    task.compile(net, keras.optimizers.Adam(1e-3))
    net.fit(x_fit, y_fit, epochs=5, batch_size=64, verbose=0)
    targets = np.asarray(trees.predict(x_test), dtype=int)
    options = ExplainOptions(background=x_fit[:100], seed=seed)
    results = []
    for name, model, predict_one in (
        ("tree_shap", trees, lambda: trees.predict_proba(x_test)),
        ("keras_shap", net, lambda: predict(net, x_test)),
    ):
        explain = EXPLAINERS.get(name).explain
        seconds = per_example(
            lambda e=explain, m=model: e(m, x_test, targets, options), rows, repeats=1
        )
        results.append(_entry(name, "table", rows, seconds, per_example(predict_one, rows)))
    return results


def image_methods(images: int, seed: int) -> list[dict]:
    """The image methods on `images` digits test images, with the small CNN."""
    config = load_config(REPO / "configs" / "digits.yaml")
    task_cls = get_task(config.task)
    dataset = load_dataset(config.data, seed, task_cls.problem, task_cls.data_kind)
    task = task_cls(config.model, dataset.spec)
    model = task.build_model()
    task.compile(model, keras.optimizers.Adam(1e-3))
    train = split_inputs(dataset.train, task, 64, seed)
    model.fit(train, np.asarray(dataset.train.labels), epochs=5, batch_size=64, verbose=0)
    inputs = split_inputs(dataset.test, task, 64, seed)[:images]
    targets = predict(model, inputs).argmax(axis=1)
    options = ExplainOptions(reference=task.reference_input(), seed=seed)
    predict_seconds = per_example(lambda: predict(model, inputs), images)
    results = []
    for name in task.explain_methods:
        explain = EXPLAINERS.get(name).explain
        seconds = per_example(lambda e=explain: e(model, inputs, targets, options), images)
        results.append(_entry(name, "digits 8x8", images, seconds, predict_seconds))
    return results


def _entry(name, data, count, seconds, predict_seconds) -> dict:
    return {
        "method": name,
        "data": data,
        "examples": count,
        "ms_per_example": seconds * 1e3,
        "predict_ms_per_example": predict_seconds * 1e3,
        "ratio_to_predict": seconds / predict_seconds,
        "total_seconds": seconds * count,
    }


def main(argv: list[str] | None = None) -> list[dict]:
    """Times every method and writes the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000, help="table rows explained")
    parser.add_argument("--images", type=int, default=16, help="images explained")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    results = table_methods(args.rows, args.seed) + image_methods(args.images, args.seed)
    print(f"{'method':<22}{'data':<12}{'ms/example':>12}{'predict ms':>12}{'x predict':>11}")
    for r in results:
        print(
            f"{r['method']:<22}{r['data']:<12}{r['ms_per_example']:>12.3f}"
            f"{r['predict_ms_per_example']:>12.4f}{r['ratio_to_predict']:>11.0f}"
        )
    print(
        write_result(
            "explain_cost",
            {
                "rows": args.rows,
                "images": args.images,
                "results": results,
            },
        )
    )
    return results


if __name__ == "__main__":
    main()
