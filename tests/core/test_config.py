from __future__ import annotations

import dataclasses
import inspect

import pytest
import yaml

from tasklab.core import config, model_options, sections, source_options
from tasklab.core.config import (
    ConfigError,
    ExplainConfig,
    GateConfig,
    StrategyConfig,
    TrainConfig,
    apply_overrides,
    config_to_dict,
    dump_config,
    load_config,
    parse_config,
    parse_stop_at,
)
from tasklab.core.model_options import MLPOptions
from tasklab.core.sections import Section
from tasklab.core.source_options import SpokenWordsOptions
from tests.conftest import REPO

MINIMAL = {"name": "demo", "task": "image_classification", "data": {"uri": "builtin:digits"}}


def with_(**sections):
    raw = {**MINIMAL, **sections}
    return parse_config(raw)


def test_minimal_config_fills_every_default():
    config = parse_config(MINIMAL)
    assert config.model.name == "small_cnn"
    assert config.model.options.filters == 32
    assert config.train.epochs == 20 and config.strategy.name == "auto" and config.seed == 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.train.epochs = 3


def test_shipped_digits_config_loads():
    config = load_config(REPO / "configs" / "digits.yaml")
    assert config.data.uri == "builtin:digits" and config.task == "image_classification"


def test_dump_round_trips():
    config = with_(model={"name": "mobilenet_v3_small", "alpha": 0.75}, train={"patience": None})
    assert parse_config(yaml.safe_load(dump_config(config))) == config
    assert config_to_dict(config)["model"] == {
        "name": "mobilenet_v3_small",
        "image_size": None,
        "augment": True,
        "flip": False,
        "dropout": 0.2,
        "weights": None,
        "alpha": 0.75,
        "minimalistic": False,
    }


def test_overrides_are_parsed_as_yaml():
    raw = apply_overrides(
        MINIMAL,
        [
            "train.epochs=5",
            "strategy.name=mirrored",
            "strategy.devices=2",
            "model.image_size=[32, 24]",
        ],
    )
    config = parse_config(raw)
    assert config.train.epochs == 5
    assert (config.strategy.name, config.strategy.devices) == ("mirrored", 2)
    assert config.model.options.image_size == (32, 24)
    assert apply_overrides({"a": {"b": 1}}, ["export.variants=[float32,int8]"])["export"] == {
        "variants": ["float32", "int8"]
    }
    assert "train" not in MINIMAL  # The input is not modified.


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"trian": {}}, "Unknown config key 'trian'.*Did you mean 'train'"),
        ({"train": {"epoch": 3}}, "Unknown config key 'train.epoch'.*Did you mean 'epochs'"),
        (
            {"train": {"epochs": "five"}},
            r"'train.epochs' must be an integer. Received: 'five' \(str\)",
        ),
        ({"train": {"epochs": 2.5}}, "'train.epochs' must be an integer"),
        ({"train": {"deterministic": "yes"}}, "'train.deterministic' must be true or false"),
        ({"train": {"epochs": 0}}, "train.epochs must be >= 1"),
        ({"train": {"schedule": "cosin"}}, r"must be one of \['cosine', 'constant'\].*'cosine'"),
        (
            {"strategy": {"name": "mirored"}},
            r"The 'strategy.name' option must be one of \['auto', 'cpu', 'mirrored', "
            r"'multi_worker', 'tpu'\]. Received: 'mirored'. Did you mean 'mirrored'",
        ),
        ({"strategy": {"name": "cpu", "devices": 2}}, "applies to the 'mirrored' strategy only"),
        (
            {"strategy": {"name": "cpu", "cluster": ["a:1"], "task_index": 0}},
            "apply to the 'multi_worker' strategy only",
        ),
        ({"strategy": {"name": "multi_worker", "cluster": ["a:1"]}}, "go together"),
        (
            {"strategy": {"name": "multi_worker", "cluster": ["a:1", "b"], "task_index": 0}},
            r"strategy.cluster\[1\] must be host:port. Received: 'b'\.",
        ),
        (
            {"strategy": {"name": "multi_worker", "cluster": ["a:1", "b:1"], "task_index": 2}},
            "task_index must be between 0 and 1",
        ),
        ({"train": {"mixed_precision": "bf16"}}, "'train.mixed_precision' must be true or false"),
        (
            {"task": "image_clasification"},
            "Unknown task 'image_clasification'.*image_classification",
        ),
        ({"model": {"name": "resnet"}}, "Unknown image_classification model 'resnet'.*small_cnn"),
        ({"model": {"filter": 8}}, "Unknown config key 'model.filter'.*Did you mean 'filters'"),
        ({"model": {"name": "mobilenet_v3_small", "weights": "imagenet"}}, "nothing is downloaded"),
        ({"data": {"uri": "digits"}}, "must look like 'SCHEME:NAME_OR_PATH'"),
        ({"data": {"uri": "builtin:digits", "test_fraction": 1.5}}, r"> 0 and < 1. Received: 1.5"),
        ({"data": "builtin:digits"}, "'data' must be a mapping"),
        ({"name": "my run!"}, "name must be letters"),
        ({"seed": "1"}, "'seed' must be an integer"),
        (
            {"export": {"variants": ["int4"]}},
            r"'export.variants\[0\]' option must be one of \['float32', 'float16', "
            r"'dynamic_int8', 'int8'\]. Received: 'int4'",
        ),
        (
            {"export": {"variants": ["int8", "int8"]}},
            r"export.variants must list each value once. Received: \['int8', 'int8'\]",
        ),
        ({"export": {"int8": {"min_agreement": 1.5}}}, "min_agreement must be between 0 and 1"),
        ({"export": {"float32": {"max_abs_diff": -1}}}, "max_abs_diff must be >= 0"),
        ({"export": {"int8": {"agreement": 0.9}}}, "Did you mean 'min_agreement'"),
        ({"export": {"representative_size": 0}}, "export.representative_size must be >= 1"),
        ({"explain": {"examples": 1}}, "explain.examples must be >= 2"),
        ({"explain": {"methods": ["gradient", "gradient"]}}, "methods must list each value once"),
        ({"explain": {"ig_steps": 128, "ig_max_steps": 64}}, "ig_max_steps .64. must be >="),
        ({"explain": {"max_randomization_correlation": 2}}, "between -1 and 1"),
        ({"explain": {"deletion_steps": 0}}, "explain.deletion_steps must be >= 1"),
        ({"explain": {"completeness_tolerance": 0}}, "explain.completeness_tolerance must be > 0"),
        ({"explain": {"ig_step": 8}}, "Did you mean 'ig_steps'"),
        ({"train": {"stop_at": "val_accuracy > 0.9"}}, "must read 'KEY >= VALUE' or 'KEY <="),
        ({"train": {"stop_at": "val_accuracy >= high"}}, "Received: 'val_accuracy >= high'"),
        ({"train": {"stop_at": "val_accuracy >= nan"}}, "train.stop_at must read"),
        ({"train": {"stop_at": "0.9"}}, "train.stop_at must read"),
    ],
)
def test_invalid_values_name_the_problem_and_the_fix(raw, message):
    with pytest.raises(ConfigError, match=message):
        parse_config({**MINIMAL, **raw})


def test_missing_sections_and_files():
    with pytest.raises(ConfigError, match="needs a top-level 'data'"):
        parse_config({"name": "x", "task": "image_classification"})
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("no/such/config.yaml")
    with pytest.raises(ConfigError, match=r"must look like 'section.key=value'"):
        apply_overrides(MINIMAL, ["train.epochs"])


def test_bad_yaml_is_reported(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)
    path.write_text("- a list\n")
    with pytest.raises(ConfigError, match="mapping of sections"):
        load_config(path)


def test_export_defaults_and_a_partial_gate_keeps_the_variants_own_defaults():
    export = parse_config(MINIMAL).export
    assert export.variants == ("float32", "float16", "dynamic_int8", "int8")
    assert (export.float32.min_agreement, export.float32.max_abs_diff) == (0.999, 1e-4)
    assert (export.int8.min_agreement, export.int8.max_metric_drop) == (0.98, 0.01)
    changed = parse_config(
        apply_overrides(
            MINIMAL, ["export.float32.min_agreement=0.99", "export.int8.max_abs_diff=1e-9"]
        )
    ).export
    # `1e-9` is a string to YAML 1.1; number fields accept it.
    assert (changed.float32.min_agreement, changed.float32.max_abs_diff) == (0.99, 1e-4)
    assert changed.int8.max_abs_diff == 1e-9 and changed.int8.min_agreement == 0.98
    assert changed.gate("int8_selective") == changed.int8
    assert parse_config({**MINIMAL, "export": {"variants": []}}).export.variants == ()


def test_an_unquoted_yes_among_words_says_to_quote_it():
    raw = {"name": "k", "task": "keyword_spotting", "data": {"uri": "builtin:spoken_words"}}
    raw["data"]["synthesis"] = yaml.safe_load("keywords: [yes, up]")
    with pytest.raises(ConfigError, match=r'keywords\[0\].*quote the word, e\.g\. "yes"'):
        parse_config(raw)


def test_stop_at_reads_both_directions():
    at_least = parse_stop_at(with_(train={"stop_at": "val_accuracy >= 0.95"}).train.stop_at)
    assert at_least == ("val_accuracy", ">=", 0.95) and str(at_least) == "val_accuracy >= 0.95"
    assert at_least.reached({"val_accuracy": 0.95}) and not at_least.reached({"accuracy": 1.0})
    at_most = parse_stop_at("val_rmse<=60")
    assert at_most.reached({"val_rmse": 59.9}) and not at_most.reached({"val_rmse": 60.1})
    # From the command line the value stays a string (the first '=' splits the key).
    config = parse_config(apply_overrides(MINIMAL, ["train.stop_at=val_loss<=0.2"]))
    assert parse_stop_at(config.train.stop_at) == ("val_loss", "<=", 0.2)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: TrainConfig(epochs=0), r"^train.epochs must be >= 1. Received: 0.$"),
        (
            lambda: GateConfig(min_agreement=1.5),
            r"min_agreement must be between 0 and 1. Received: 1.5.$",
        ),
        (lambda: ExplainConfig(examples=1), r"explain.examples must be >= 2 \(the checks"),
        (lambda: MLPOptions(hidden=()), r"model.hidden must hold at least 1 item"),
        (lambda: MLPOptions(hidden=(8, 0)), r"model.hidden\[1\] must be >= 1. Received: 0."),
        (lambda: SpokenWordsOptions(snr_db=(30.0, 5.0)), r"snr_db must be \[low, high\]"),
        (lambda: StrategyConfig(name="multi_worker", cluster=("a:1",), task_index=1), "between"),
    ],
)
def test_sections_made_in_code_check_the_same_constraints(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


def test_a_field_constraint_is_declared_not_coded():
    """Only the shared base has a `__post_init__`: a section states its single-field rules in
    its annotations, and its `check()` holds the rules relating fields."""
    for module in (config, model_options, source_options):
        source = inspect.getsource(module)
        assert "__post_init__" not in source, module.__name__
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if dataclasses.is_dataclass(cls) and cls.__module__ == module.__name__:
                assert issubclass(cls, Section), cls
    assert inspect.getsource(sections).count("def __post_init__") == 1


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("data.scenes.scenes=5", r"data\.scenes\.scenes must be >= 12\. Received: 5"),
        ("data.scenes.size=8", r"data\.scenes\.size must be between 16 and 1024\. Received: 8"),
        ("data.scenes.colour=2", r"data\.scenes.*colour"),
    ],
)
def test_builtin_scene_settings_are_checked_when_the_config_is_read(setting, message):
    with pytest.raises(ConfigError, match=message):
        load_config(REPO / "configs" / "textured_shapes.yaml", [setting])
