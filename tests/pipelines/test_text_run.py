"""A text run end to end: CSV in; baselines, token explanations, LiteRT bundle and report out."""

from __future__ import annotations

import csv
import json

import numpy as np

from tasklab.core import io
from tasklab.core.config import parse_config
from tasklab.edge.run import EdgeBundle
from tasklab.edge.run import main as edge_main
from tasklab.pipelines.run import run
from tests.data.test_text import make_texts

SCRIPT = "<script>alert(1)</script>"


def write_texts_csv(path):
    rows = []
    for label, items in make_texts(per_class=40).items():
        for i, text in enumerate(items):
            rows.append([f"{text} {SCRIPT}" if i % 2 else text, label])
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["message", "category"])
        writer.writerows(rows)
    return path


def test_text_csv_run_end_to_end(tmp_path, capsys):
    config = parse_config(
        {
            "name": "texts",
            "task": "text_classification",
            "seed": 0,
            "data": {
                "uri": f"csv:{write_texts_csv(tmp_path / 'texts.csv')}",
                "text": "message",
                "target": "category",
                # Punctuation kept, so the report must escape the script tag it shows.
                "tokenizer": {"standardize": "lower", "sequence_length": 16},
            },
            "model": {"name": "embedding_bag", "embedding_dim": 16},
            "train": {"epochs": 15, "batch_size": 16, "learning_rate": 0.02},
            "strategy": {"name": "cpu"},
            "compare": {"repeats": 1, "folds": 2},
            "export": {"variants": ["float32", "int8"], "latency_runs": 5},
            "explain": {"examples": 8, "ig_steps": 16},
        }
    )
    result = run(config, runs_dir=tmp_path / "runs")
    run_dir = result.run_dir
    assert result.metrics.test["accuracy"] > 0.9
    assert any("Vocabulary of" in note for note in result.metrics.data_notes)

    comparison = io.read_json(run_dir / "baselines.json")
    names = [entry["name"] for entry in comparison["models"]]
    assert set(names) == {"keras", "tfidf_xgboost", "tfidf_linear", "dummy"}
    # Each fold gives up data.val_fraction of its train half for early stopping.
    cv = comparison["protocol"]["cv"]
    assert cv == {
        "repeats": 1,
        "folds": 2,
        "train_rows": 54,
        "test_rows": 60,
        # Two folds of 54 rows fit 2.5 runs' worth of examples in the run's full 15 epochs.
        "keras_refit": {"epochs": 15, "run_epochs": 15, "cv_budget": 2.5},
    }
    assert comparison["verdict"]

    explained = io.read_json(run_dir / "explain.json")
    (method,) = explained["methods"]
    assert method["name"] == "token_integrated_gradients"
    assert method["checks"]["completeness"]["passed"]
    assert {"randomization", "deletion"} <= set(method["checks"])
    highlights = explained["highlights"]
    assert highlights and all(h["methods"]["token_integrated_gradients"] for h in highlights)
    units = [u for h in highlights for u, _ in h["methods"]["token_integrated_gradients"]]
    assert SCRIPT in units

    html = (run_dir / "report.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and SCRIPT not in html
    assert "Token attributions on" in html

    exported = {e["name"]: e for e in io.read_json(run_dir / "export.json")["variants"]}
    assert exported["float32"]["passed"] and exported["int8"]["agreement"] >= 0.98
    bundle = EdgeBundle(run_dir / "export", variant="int8")
    assert bundle.spec["input"]["dtype"] == "int32" and bundle.kind == "text"
    note = tmp_path / "note.txt"
    note.write_text("bread soup cake apple rice bread", encoding="utf-8")
    capsys.readouterr()  # Drop the run's own output.
    assert (
        edge_main([str(run_dir / "export"), str(note), "--text", "goal match team", "--json"]) == 0
    )
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["label"] for line in lines] == ["food", "sport"]
    assert np.isclose(sum(lines[0]["top"].values()), 1.0, atol=0.05)
