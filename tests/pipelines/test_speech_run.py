"""A speech run end to end: synthesized clips in; baselines, spectrogram saliency, bundle out."""

from __future__ import annotations

import json

import keras
import numpy as np
from scipy.io import wavfile

from tasklab.core import io
from tasklab.core.config import parse_config
from tasklab.data import load_dataset
from tasklab.edge.edge_inputs import load_audio
from tasklab.edge.run import EdgeBundle
from tasklab.edge.run import main as edge_main
from tasklab.pipelines.run import run


def test_spoken_words_run_end_to_end(tmp_path, capsys):
    config = parse_config(
        {
            "name": "words",
            "task": "keyword_spotting",
            "seed": 0,
            "data": {
                "uri": "builtin:spoken_words",
                "val_fraction": 0.2,
                "test_fraction": 0.2,
                "synthesis": {
                    "keywords": ["yes", "no"],
                    "unknown_words": ["cat", "dog"],
                    "accents": ["gmw/en-US", "gmw/en-GB-x-rp"],
                    "variants": ["none", "f2", "m3", "Alicia", "m1"],
                    "cache_dir": str(tmp_path / "cache"),
                },
            },
            "model": {"name": "ds_cnn", "filters": 16, "blocks": 2},
            "train": {"epochs": 3, "batch_size": 8},
            "strategy": {"name": "cpu"},
            "export": {"variants": ["float32", "int8"], "latency_runs": 5},
            "explain": {"examples": 4, "ig_steps": 16, "smoothgrad_samples": 4},
        }
    )
    result = run(config, runs_dir=tmp_path / "runs")
    run_dir = result.run_dir
    assert result.metrics.splits == {"train": 24, "val": 8, "test": 8}
    assert any("never heard in training" in note for note in result.metrics.data_notes)

    comparison = io.read_json(run_dir / "baselines.json")
    assert {entry["name"] for entry in comparison["models"]} == {
        "keras",
        "xgboost",
        "linear",
        "dummy",
    }
    assert comparison["verdict"]

    explained = io.read_json(run_dir / "explain.json")
    assert explained["explain_input"] == "spectrogram"
    methods = {method["name"]: method for method in explained["methods"]}
    assert set(methods) == {"gradient", "smoothgrad", "integrated_gradients", "grad_cam"}
    assert all(method["skipped"] is None for method in methods.values())
    assert methods["integrated_gradients"]["checks"]["completeness"]["passed"]
    assert all({"randomization", "deletion"} <= set(m["checks"]) for m in methods.values())
    assert (run_dir / "explain" / "overlays_correct.png").is_file() or (
        run_dir / "explain" / "overlays_misclassified.png"
    ).is_file()

    exported = {e["name"]: e for e in io.read_json(run_dir / "export.json")["variants"]}
    assert exported["float32"]["passed"] and "agreement" in exported["int8"]
    if not exported["int8"]["passed"]:
        # The first retry keeps the log-mel front end, and only it, in float.
        kept = exported["int8_float_frontend"]["kept_float"]
        assert kept and all("mel_spectrogram" in tensor or "log_mel" in tensor for tensor in kept)
    bundle = EdgeBundle(run_dir / "export", variant="float32")
    assert bundle.kind == "audio" and bundle.spec["input"]["sample_rate"] == 16000

    # A test clip as a device might record it: 44.1 kHz stereo 16-bit.
    dataset = load_dataset(config.data, config.seed, kind="audio")  # From the cache.
    clip, _ = next(dataset.test.make_dataset().as_numpy_iterator())
    clip = clip.astype(np.float32) / 32768
    recorded = np.interp(np.arange(44100) * 16000 / 44100, np.arange(16000), clip)
    wav = tmp_path / "recorded.wav"
    wavfile.write(wav, 44100, (np.stack([recorded, recorded], axis=1) * 32767).astype(np.int16))
    model = keras.saving.load_model(run_dir / "model.keras", safe_mode=True)
    expected = np.asarray(model(load_audio(wav, bundle.spec["input"])[None])).argmax()
    capsys.readouterr()  # Drop the run's own output.
    assert edge_main([str(run_dir / "export"), str(wav), "--variant", "float32", "--json"]) == 0
    (line,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert line["label"] == dataset.spec.class_names[expected]
