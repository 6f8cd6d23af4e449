"""The JSON Schema (draft 2020-12) of the YAML config, from the declarations the parser reads.

`tasklab schema` writes it. An editor that knows it (a first line
`# yaml-language-server: $schema=tasklab-config.schema.json`, or the editor's
schema settings) validates a config as it is typed and completes its keys and
values, each with its description and default.

Nothing here restates a rule: a field's type and `Annotated` constraints give
its schema (`Annotated[int, Ge(1)]` -> `{"type": "integer", "minimum": 1}`),
the field's default its `default`, and the class docstring's `Attributes:`
entry its `description`. The values that code checks rather than a
declaration get their schema from the tables that code checks against: the
task and the model with its options (`core.model_options`), the baselines and
`data.uri` (`core.catalog`), and `data.image.background`. The cross-field
rules of the sections' `check()` (`val_fraction + test_fraction < 0.9`, ...)
are left to `tasklab run`.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import types
import typing
from typing import Annotated, Any, Literal

import annotated_types as at

from tasklab.core.catalog import BASELINE_NAMES, BUILTINS, DATA_SCHEMES
from tasklab.core.config import BACKGROUND_COLORS, ModelConfig, RunConfig, config_to_dict
from tasklab.core.model_options import MODEL_OPTIONS, default_model
from tasklab.core.sections import Distinct, Pattern, constraints, field_types, requirement, why

DIALECT = "https://json-schema.org/draft/2020-12/schema"
_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}


def config_schema() -> dict[str, Any]:
    """The JSON Schema of a tasklab YAML config.

    Returns:
        A draft 2020-12 schema: plain JSON data.
    """
    schema = section_schema(RunConfig, None, "")
    properties = schema["properties"]
    # The task's default model is built when the config names none.
    schema["required"] = [name for name in schema["required"] if name != "model"]
    properties["task"]["enum"] = list(MODEL_OPTIONS)
    properties["baselines"] = {
        "description": properties["baselines"]["description"],
        "type": ["array", "null"],
        "items": {"enum": list(BASELINE_NAMES)},
        "default": None,
    }
    definitions, any_model, by_task = _model_schemas()
    properties["model"] = {
        "description": properties["model"]["description"]
        + " The options beside `name` depend on the task and the model.",
        "type": "object",
        "anyOf": any_model,
    }
    schema["allOf"] = [
        {
            "if": {"properties": {"task": {"const": task}}, "required": ["task"]},
            "then": {"properties": {"model": {"anyOf": branches}}},
        }
        for task, branches in by_task.items()
    ]
    return {
        "$schema": DIALECT,
        "title": "tasklab config",
        **schema,
        "$defs": definitions,
    }


def section_schema(cls: type, defaults: Any, where: str) -> dict[str, Any]:
    """The schema of one section: an object of its fields, no other key allowed.

    Args:
        cls: the section's dataclass.
        defaults: the instance whose values are the defaults (a nested section's
            field default, e.g. `export.float32`'s gate), or None for the fields' own.
        where: the section's dotted place in the YAML.
    """
    docs = attribute_docs(cls)
    hints = field_types(cls)
    properties: dict[str, Any] = {}
    required = []
    for field in dataclasses.fields(cls):
        location = f"{where}.{field.name}" if where else field.name
        default = _default(field, defaults)
        nested = default if dataclasses.is_dataclass(default) else None
        override = _OVERRIDES.get(location)
        body = override() if override else type_schema(hints[field.name], nested, location)
        described = " ".join(filter(None, (docs.get(field.name), body.pop("description", None))))
        prop = {"description": described} if described else {}
        prop.update(body)
        if default is dataclasses.MISSING:
            required.append(field.name)
        else:
            prop["default"] = config_to_dict(default)
        properties[field.name] = prop
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    schema["additionalProperties"] = False
    return schema


def _default(field: dataclasses.Field, defaults: Any) -> Any:
    if defaults is not None:
        return getattr(defaults, field.name)
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return dataclasses.MISSING


def type_schema(annotation: Any, defaults: Any, where: str) -> dict[str, Any]:
    """The schema of one annotation, its declared constraints as JSON Schema keywords."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        base, *metadata = typing.get_args(annotation)
        schema = type_schema(base, defaults, where)
        items = constraints(metadata)
        schema.update(_keywords(items, schema.get("type")))
        reason = why(metadata)
        if reason:
            text = requirement(items, schema.get("type") == "string")
            schema["description"] = f"Must {text} ({reason})."
        return schema
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        inner = next(arg for arg in args if arg is not type(None))
        schema = type_schema(inner, defaults, where)
        return _or_null(schema) if type(None) in args else schema
    if origin is Literal:
        return {"enum": list(typing.get_args(annotation))}
    if origin is tuple:
        return {"type": "array", "items": type_schema(typing.get_args(annotation)[0], None, where)}
    if origin is dict:
        value_type = typing.get_args(annotation)[1]
        return {"type": "object", "additionalProperties": type_schema(value_type, None, where)}
    if dataclasses.is_dataclass(annotation):
        return section_schema(annotation, defaults, where)
    if annotation is Any:
        return {}
    return {"type": _TYPES[annotation]}


def _keywords(items: list[Any], kind: Any) -> dict[str, Any]:
    """JSON Schema keywords of declared constraints (lengths count items or characters)."""
    keywords: dict[str, Any] = {}
    size = "Length" if kind == "string" else "Items"
    for item in items:
        if isinstance(item, at.Ge):
            keywords["minimum"] = item.ge
        elif isinstance(item, at.Gt):
            keywords["exclusiveMinimum"] = item.gt
        elif isinstance(item, at.Le):
            keywords["maximum"] = item.le
        elif isinstance(item, at.Lt):
            keywords["exclusiveMaximum"] = item.lt
        elif isinstance(item, at.MinLen):
            keywords[f"min{size}"] = item.min_length
        elif isinstance(item, at.MaxLen):
            keywords[f"max{size}"] = item.max_length
        elif isinstance(item, Distinct):
            keywords["uniqueItems"] = True
        elif isinstance(item, Pattern):
            keywords["pattern"] = item.regex
    return keywords


def _or_null(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema`, accepting null too (constraints of a type hold for that type only)."""
    if "type" in schema:
        return {**schema, "type": [schema["type"], "null"]}
    if "enum" in schema:
        return {**schema, "enum": [*schema["enum"], None]}
    return schema if not schema else {"anyOf": [schema, {"type": "null"}]}


def attribute_docs(cls: type) -> dict[str, str]:
    """Each field's `Attributes:` entry in the docstrings of `cls` and its bases, one line each
    (a subclass's entry replaces its base's)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        docs.update(_attributes(klass.__dict__.get("__doc__") or ""))
    return docs


def _attributes(docstring: str) -> dict[str, str]:
    lines = inspect.cleandoc(docstring).splitlines()
    heading = next((i for i, line in enumerate(lines) if line.strip() == "Attributes:"), None)
    if heading is None:
        return {}
    base = _indent(lines[heading])
    entries: dict[str, str] = {}
    entry_indent, current = None, None
    for line in lines[heading + 1 :]:
        if not line.strip() or _indent(line) <= base:
            break
        match = re.match(r"(\w+): (.*)", line.strip())
        if match and _indent(line) == (entry_indent or _indent(line)):
            entry_indent, current = _indent(line), match[1]
            entries[current] = match[2]
        elif current is not None:
            entries[current] += " " + line.strip()
    return entries


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def summary(cls: type) -> str:
    """The first paragraph of a class's docstring, one line."""
    first = inspect.cleandoc(cls.__dict__.get("__doc__") or "").split("\n\n")[0]
    return " ".join(first.split())


def _model_schemas() -> tuple[dict[str, Any], list[Any], dict[str, list[Any]]]:
    """The model options as `$defs` (one per model name and options class), the `anyOf` of
    every model, and per task the `anyOf` of its models (the default one needs no `name`)."""
    definitions: dict[str, Any] = {}
    name_doc = attribute_docs(ModelConfig)["name"]
    by_task: dict[str, list[Any]] = {}
    for task, models in MODEL_OPTIONS.items():
        by_task[task] = []
        for name, options in models.items():
            key = f"{options.__name__}.{name}"
            if key not in definitions:
                body = section_schema(options, None, "model")
                body["properties"] = {
                    "name": {"description": name_doc, "const": name},
                    **body["properties"],
                }
                definitions[key] = {"title": name, "description": summary(options), **body}
            branch: dict[str, Any] = {"$ref": f"#/$defs/{key}"}
            if name != default_model(task):
                branch["required"] = ["name"]
            by_task[task].append(branch)
    return definitions, [{"$ref": f"#/$defs/{key}"} for key in definitions], by_task


def _uri_schema() -> dict[str, Any]:
    others = "|".join(scheme for scheme in DATA_SCHEMES if scheme != "builtin")
    return {
        "type": "string",
        "pattern": f"^({'|'.join(DATA_SCHEMES)}):",
        "anyOf": [{"enum": [f"builtin:{name}" for name in BUILTINS]}, {"pattern": f"^({others}):"}],
    }


def _background_schema() -> dict[str, Any]:
    level = {"type": "number", "minimum": 0, "maximum": 255}
    # Color names in any case, as the parser reads them.
    names = "|".join("".join(f"[{c.upper()}{c}]" for c in name) for name in BACKGROUND_COLORS)
    return {
        "anyOf": [
            {"type": "string", "pattern": f"^({names})$", "examples": list(BACKGROUND_COLORS)},
            level,
            {"type": "array", "items": level, "minItems": 3, "maxItems": 3},
        ]
    }


# The fields that code checks rather than a declaration (see the module docstring).
_OVERRIDES = {"data.uri": _uri_schema, "data.image.background": _background_schema}
