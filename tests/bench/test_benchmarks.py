"""Each benchmark runs end to end on small settings, writes its results, and the summary turns
them into the README tables."""

from __future__ import annotations

import math

import pytest

from bench import common, explain_cost, first_run, growth, overhead, summary, time_to_accuracy
from bench.images import SHAPES, write_shapes_folder
from tasklab.core import io
from tasklab.core.config import load_config, parse_stop_at
from tasklab.data import load_dataset
from tasklab.tasks import get_task
from tests.conftest import REPO


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory):
    """One results directory the benchmarks of this module write into, as `make bench` does."""
    path = tmp_path_factory.mktemp("results")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(common, "RESULTS_DIR", path)
        yield path


def test_every_shipped_config_has_a_target_its_training_logs():
    shipped = sorted(path.stem for path in (REPO / "configs").glob("*.yaml"))
    assert sorted(time_to_accuracy.TARGETS) == shipped
    for name, target in time_to_accuracy.TARGETS.items():
        config = load_config(REPO / "configs" / f"{name}.yaml", [f"train.stop_at={target}"])
        problem = get_task(config.task).problem
        # The first metric the task's training logs (checked at run time by stop_at_target).
        logged = problem.keras_metrics(4)[0]["config"]["name"]
        assert parse_stop_at(config.train.stop_at).metric == f"val_{logged}"


def test_overhead_compares_the_same_model_both_ways(results_dir):
    # The folder case alone: it generates its data and streams it; digits differs only in
    # its config, and would add three TensorFlow processes.
    result = overhead.main(
        ["--repeats", "1", "--folder-epochs", "1", "--folder-images", "200", "--cases", "folder"]
    )
    written = io.read_json(results_dir / "overhead.json")
    assert set(written["cases"]) == {"folder"} and written["machine"]["cpus"] >= 1
    for case in result["cases"].values():
        ours, plain = case["tasklab_examples_per_second"], case["plain_examples_per_second"]
        assert case["ratio"] == pytest.approx(max(ours) / max(plain))
        cosine = case["tasklab_cosine_examples_per_second"]
        assert case["cosine_vs_constant"] == pytest.approx(max(cosine) / max(ours))
        assert case["pipeline_vs_step"] == pytest.approx(
            case["pipeline_examples_per_second"] / case["step_examples_per_second"]
        )
        assert case["parameters"] > 1000


def test_growth_fits_the_exponent_and_the_memory_ratio(results_dir):
    result = growth.main(["--sizes", "200", "400", "--epochs", "2"])
    rows = result["sizes"]
    assert [row["images"] for row in rows] == [200, 400]
    assert rows[1]["train_examples"] > rows[0]["train_examples"]
    expected = math.log(rows[1]["train_seconds"] / rows[0]["train_seconds"]) / math.log(2)
    assert result["time_exponent"] == pytest.approx(expected)
    assert result["peak_rss_ratio"] == pytest.approx(
        rows[1]["peak_rss_mib"] / rows[0]["peak_rss_mib"]
    )
    assert all(row["peak_rss_mib"] > 100 for row in rows)  # A TensorFlow process, measured.
    line = result["later_epochs_linear_fit"]  # Two points: the line goes through both.
    assert line["r_squared"] == pytest.approx(1.0)
    assert line["fixed_seconds"] + line["seconds_per_1000"] * 0.4 == pytest.approx(
        rows[1]["later_epochs_seconds"]
    )
    assert (results_dir / "growth.json").is_file()


def test_time_to_accuracy_and_edge_of_a_shipped_config(results_dir):
    result = time_to_accuracy.main(
        ["--configs", "breast_cancer", "--set", "export.variants=[float32,dynamic_int8]"]
    )
    (row,) = result["time_to_accuracy"]
    assert row["reached"] and row["seconds_to_target"] > 0 and row["epoch"] <= row["epochs_run"]
    assert row["baseline"] == "xgboost" and row["baseline_test_value"] > 0.8
    (edge,) = result["edge"]
    assert [v["variant"] for v in edge["variants"]] == ["float32", "dynamic_int8"]
    for variant in edge["variants"]:
        assert variant["latency_vs_keras"] == pytest.approx(
            variant["latency_ms"] / edge["keras"]["latency_ms"]
        )
        assert variant["latency_vs_xgboost"] == pytest.approx(
            variant["latency_ms"] / edge["xgboost"]["latency_ms"]
        )
    assert edge["variants"][1]["size_vs_float32"] < 0.5  # int8 weights: about a quarter.
    assert (results_dir / "edge.json").is_file()


def test_explain_cost_times_every_method(results_dir):
    results = explain_cost.main(["--rows", "20", "--images", "2"])
    methods = {row["method"] for row in results}
    assert {"tree_shap", "keras_shap", "gradient", "integrated_gradients"} <= methods
    assert all(row["ms_per_example"] > 0 for row in results)


def test_first_run_times_the_whole_run_against_its_training(results_dir):
    quick = ["train.epochs=2", "compare.repeats=1", "baselines=[linear]", "explain.methods=[]",
             "export.variants=[]"]  # fmt: skip
    result = first_run.main(["--shipped-only", *(f"--set={setting}" for setting in quick)])
    shipped = io.read_json(results_dir / "first_run.json")["shipped"]
    assert shipped == result["shipped"] and "full_refits" not in result
    assert shipped["wall_over_training"] == pytest.approx(
        shipped["wall_seconds"] / shipped["train_seconds"], rel=0.01
    )
    assert shipped["wall_seconds"] > sum(shipped["stage_seconds"].values()) > 0
    assert {"data", "training", "evaluation", "comparison"} <= set(shipped["stage_seconds"])
    assert "Keras small_cnn" in shipped["verdict"] and shipped["refit_epochs"] >= 1


def test_summary_writes_every_table_into_the_readme(results_dir, tmp_path):
    # Runs after the benchmarks above (file order), on what they wrote; scaling has its own test.
    readme = tmp_path / "README.md"
    readme.write_text(
        f"# x\n\n## Performance\n\n{summary.START}\nSTALE TABLE\n{summary.END}\n\n## Next\n"
    )
    body = summary.main(["--readme", str(readme)])
    text = readme.read_text()
    assert "STALE TABLE" not in text and body in text and text.endswith("## Next\n")
    assert "| folder (1 epochs" in body and "| breast_cancer | `val_accuracy >= 0.95` |" in body
    assert "dynamic_int8" in body and "fitted exponent" in body and "tree_shap" in body
    assert "| digits, as shipped; refits" in body
    assert "Not measured yet: run `make bench`" in body  # scaling.json is not in this directory.
    with pytest.raises(ValueError, match="no '<!-- bench:start -->'"):
        summary.replace_between_markers("no markers", body)


def test_generated_folder_is_a_loadable_dataset_of_every_shape(tmp_path):
    root = write_shapes_folder(tmp_path / "shapes", 40, size=16)
    config = load_config(REPO / "configs" / "digits.yaml", [f"data.uri=folder:{root}"])
    dataset = load_dataset(config.data, 0, "classification", "image")
    assert dataset.spec.class_names == tuple(sorted(SHAPES))
    assert dataset.spec.example_shape == (16, 16, 1)
    assert sum(dataset.split_sizes().values()) == 40
