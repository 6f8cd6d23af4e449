"""The config's JSON Schema agrees with the parser: it accepts what `parse_config` accepts and
refuses what it refuses, for every declared constraint (walked generically, so a new one is
covered without a new test)."""

from __future__ import annotations

import copy
import dataclasses
import math
import re
import types
import typing
from typing import Annotated, Any

import annotated_types as at
import jsonschema
import pytest
import yaml

from tasklab.core.catalog import BASELINE_NAMES
from tasklab.core.config import ConfigError, RunConfig, config_to_dict, parse_config
from tasklab.core.config_schema import attribute_docs, config_schema
from tasklab.core.model_options import MODEL_OPTIONS, default_model
from tasklab.core.sections import Distinct, Pattern, constraints, field_types
from tests.conftest import REPO

SCHEMA = config_schema()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
# Valid values of the constrained fields whose default (null) holds none to start from.
EXAMPLES = {
    "strategy.cluster": ["a:1", "b:2"],
    "model.image_size": [32, 32],
    "data.image.size": [64, 64],
    "explain.methods": ["gradient", "smoothgrad"],
}
# Fields that code checks against a table, not a declaration (tested below by name).
CODED = {"task", "model", "baselines"}


def minimal(task: str = "image_classification") -> dict[str, Any]:
    return {"name": "demo", "task": task, "data": {"uri": "builtin:digits"}}


@dataclasses.dataclass
class Place:
    """One field of the config: where it sits and how it is declared."""

    path: tuple[str, ...]
    annotation: Any
    default: Any
    task: str = "image_classification"
    model: str | None = None

    @property
    def key(self) -> str:
        return ".".join(self.path)

    @property
    def label(self) -> str:
        return self.key if self.model is None else f"{self.task}.{self.model}:{self.key}"

    def raw(self, value: Any) -> dict[str, Any]:
        raw = minimal(self.task)
        if self.model is not None:
            raw["model"] = {"name": self.model}
        target = raw
        for part in self.path[:-1]:
            target = target.setdefault(part, {})
        target[self.path[-1]] = copy.deepcopy(value)
        return raw


def places() -> list[Place]:
    found = []

    def walk(cls: type, path: tuple[str, ...], defaults: Any, **where: Any) -> None:
        hints = field_types(cls)
        for field in dataclasses.fields(cls):
            if not path and field.name in CODED:
                continue
            if defaults is not None:
                default = getattr(defaults, field.name)
            elif field.default_factory is not dataclasses.MISSING:
                default = field.default_factory()
            else:
                default = field.default
            place = Place((*path, field.name), hints[field.name], default, **where)
            found.append(place)
            if dataclasses.is_dataclass(hints[field.name]):
                nested = default if dataclasses.is_dataclass(default) else None
                walk(hints[field.name], place.path, nested, **where)

    walk(RunConfig, (), None)
    for task, models in MODEL_OPTIONS.items():
        for name, options in models.items():
            walk(options, ("model",), None, task=task, model=name)
    return found


PLACES = places()


def unwrap(annotation: Any) -> tuple[Any, list[Any]]:
    """The type and the declared constraints of an annotation, null (Optional) dropped."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    if typing.get_origin(annotation) is Annotated:
        base, *metadata = typing.get_args(annotation)
        return base, constraints(metadata)
    return annotation, []


def just_outside(annotation: Any, valid: Any) -> list[Any]:
    """A value just outside each declared constraint of `annotation` (`valid`: a valid value)."""
    base, items = unwrap(annotation)
    bad = []
    for item in items:
        if isinstance(item, at.Ge):
            bad.append(item.ge - 1 if base is int else math.nextafter(item.ge, -math.inf))
        elif isinstance(item, at.Gt):
            bad.append(item.gt)
        elif isinstance(item, at.Le):
            bad.append(item.le + 1 if base is int else math.nextafter(item.le, math.inf))
        elif isinstance(item, at.Lt):
            bad.append(item.lt)
        elif isinstance(item, at.MinLen):
            bad.append(list(valid)[: item.min_length - 1])
        elif isinstance(item, at.MaxLen):
            bad.append([*valid, *valid][: item.max_length + 1])
        elif isinstance(item, Distinct):
            bad.append([valid[0], valid[0]])
        elif isinstance(item, Pattern):
            assert not re.search(item.regex, "!")
            bad.append("!")
    if typing.get_origin(base) is tuple and _all_constraints(typing.get_args(base)[0]):
        for item in just_outside(typing.get_args(base)[0], valid[0]):
            bad.append([item, *valid[1:]])
    return bad


def constrained() -> list[tuple[Place, Any]]:
    cases = []
    for place in PLACES:
        valid = EXAMPLES.get(place.key, config_to_dict(place.default))
        if place.key == "name":
            valid = "demo"
        listed = typing.get_origin(unwrap(place.annotation)[0]) is tuple
        if valid is None and listed and _all_constraints(place.annotation):
            raise AssertionError(f"Add a valid {place.key} to EXAMPLES, to start from.")
        for value in just_outside(place.annotation, valid):
            cases.append((place, value))
    return cases


def test_the_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA["required"] == ["name", "task", "data"]
    assert SCHEMA["properties"]["data"]["required"] == ["uri"]


@pytest.mark.parametrize("path", sorted(REPO.glob("configs/*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_config_validates(path):
    raw = yaml.safe_load(path.read_text())
    parse_config(raw)
    assert not list(VALIDATOR.iter_errors(raw))


def test_the_walk_covers_every_kind_of_constraint():
    kinds = {type(item) for place in PLACES for item in _all_constraints(place.annotation)}
    assert kinds == {at.Ge, at.Gt, at.Le, at.Lt, at.MinLen, at.MaxLen, Distinct, Pattern}
    assert len(constrained()) > 80


def _all_constraints(annotation: Any) -> list[Any]:
    base, items = unwrap(annotation)
    if typing.get_origin(base) is tuple:
        items = [*items, *_all_constraints(typing.get_args(base)[0])]
    return items


@pytest.mark.parametrize(
    ("place", "value"),
    constrained(),
    ids=[f"{place.label}={value!r}" for place, value in constrained()],
)
def test_a_value_just_outside_a_declared_constraint_is_refused_by_both(place, value):
    raw = place.raw(value)
    with pytest.raises(ConfigError, match=rf"^{re.escape(place.key)}(\[\d+\])? must .*Received: "):
        parse_config(raw)
    assert not VALIDATOR.is_valid(raw), f"the schema accepts {place.key}={value!r}"


@pytest.mark.parametrize(
    "place",
    [place for place in PLACES if place.default is not dataclasses.MISSING],
    ids=lambda place: place.label,
)
def test_the_default_is_accepted_by_both_and_is_the_schemas(place):
    raw = place.raw(config_to_dict(place.default))
    parse_config(raw)
    assert not list(VALIDATOR.iter_errors(raw))
    if place.model is None:
        node = SCHEMA
        for part in place.path:
            node = node["properties"][part]
        assert node["default"] == config_to_dict(place.default)


def test_a_nested_sections_defaults_are_its_fields_own():
    gates = SCHEMA["properties"]["export"]["properties"]
    assert gates["float32"]["properties"]["min_agreement"]["default"] == 0.999
    assert gates["int8"]["properties"]["min_agreement"]["default"] == 0.98


def test_every_field_has_its_docstring_description():
    def walk(node: dict, where: str) -> None:
        for name, prop in node.get("properties", {}).items():
            assert prop.get("description"), f"{where}.{name} has no description"
            walk(prop, f"{where}.{name}")

    walk(SCHEMA, "")
    for name, definition in SCHEMA["$defs"].items():
        walk(definition, name)
    train = SCHEMA["properties"]["train"]
    assert train["description"] == attribute_docs(RunConfig)["train"] == "the training settings."
    assert train["properties"]["epochs"]["description"] == "the maximum number of epochs."
    tokens = SCHEMA["properties"]["data"]["properties"]["tokenizer"]["properties"]["max_tokens"]
    assert tokens["description"].endswith("(padding, out-of-vocabulary and one token).")


@pytest.mark.parametrize(
    "raw",
    [
        {"trian": {}},
        {"train": {"epoch": 3}},
        {"data": {"uri": "builtin:digits", "tokenizer": {"mode": "word", "ngram": 2}}},
        {"export": {"int8": {"agreement": 0.9}}},
        {"model": {"filter": 8}},
        {"model": {"alpha": 0.5}},  # mobilenet_v3_small's, but small_cnn is the default
        {"model": {"name": "resnet"}},
        {"task": "image_clasification"},
        {"baselines": ["xgbost"]},
        {"data": {"uri": "builtin:digit"}},
        {"data": {"uri": "foldr:images"}},
        {"data": {"uri": "builtin:digits", "image": {"background": "whit"}}},
        {"train": {"schedule": "cosin"}},
        {"train": {"epochs": "five"}},
        {"name": "my run!"},
    ],
)
def test_what_the_parser_refuses_the_schema_refuses(raw):
    raw = {**minimal(), **raw}
    with pytest.raises(ConfigError):
        parse_config(raw)
    assert not VALIDATOR.is_valid(raw)


@pytest.mark.parametrize(
    ("task", "model"),
    [(task, model) for task, models in MODEL_OPTIONS.items() for model in models],
)
def test_every_model_of_every_task_validates(task, model):
    raw = {**minimal(task), "model": {"name": model}}
    parse_config(raw)
    assert VALIDATOR.is_valid(raw)
    options = config_to_dict(MODEL_OPTIONS[task][model]())
    assert VALIDATOR.is_valid({**raw, "model": {"name": model, **options}})
    if model == default_model(task):
        assert VALIDATOR.is_valid({**raw, "model": options})


def test_a_model_of_another_task_is_refused_by_both():
    raw = {**minimal("text_classification"), "model": {"name": "small_cnn"}}
    with pytest.raises(ConfigError, match="Unknown text_classification model 'small_cnn'"):
        parse_config(raw)
    assert not VALIDATOR.is_valid(raw)
    # `cnn` of keyword_spotting takes `mel_bins`; `cnn` of text_classification does not.
    raw["model"] = {"name": "cnn", "mel_bins": 40}
    with pytest.raises(ConfigError, match=r"'model.mel_bins'"):
        parse_config(raw)
    assert not VALIDATOR.is_valid(raw)


def test_the_tables_code_checks_against_are_in_the_schema():
    properties = SCHEMA["properties"]
    assert properties["task"]["enum"] == list(MODEL_OPTIONS)
    assert properties["baselines"]["items"]["enum"] == list(BASELINE_NAMES)
    for uri in ("builtin:spoken_words", "folder:images", "csv:x.csv", "tfds:mnist"):
        assert VALIDATOR.is_valid({**minimal(), "data": {"uri": uri}}), uri
    for background in ("Black", 128, [255, 0, 0.5]):
        data = {"uri": "folder:x", "image": {"background": background}}
        parse_config({**minimal(), "data": data})
        assert VALIDATOR.is_valid({**minimal(), "data": data}), background
