"""Config sections as declared data: each field states its type and constraints, one validator
reads them.

A section is a frozen dataclass deriving from `Section`. A field declares its
constraints with `typing.Annotated` in the vocabulary of the `annotated-types`
package (`Ge`, `Gt`, `Le`, `Lt`, `MinLen`, `MaxLen`, `Len`, `Interval`), on the
field or on the items of a list, plus three markers of our own: `Distinct` (no
value twice), `Pattern` (a regular expression and what it means in words) and
`Why` (the reason for a bound, given by the error and the schema)::

    epochs: Annotated[int, Ge(1)] = 20
    patience: Annotated[int, Ge(1)] | None = 5
    speeds: Annotated[tuple[Annotated[int, Ge(80), Le(450)], ...], MinLen(1)] = (120, 150)

`parse_section` builds a section from YAML data: it checks the keys, the
types and the `Literal` choices, then the declared constraints. A section
constructed in code (`TrainConfig(epochs=0)`) has the same constraints checked
by `Section.__post_init__`. Either way one template words a broken constraint:

    train.epochs must be >= 1. Received: 0.

A rule that relates two fields stays code, in the section's `check()`.
`core.config_schema` turns the same annotations into a JSON Schema.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, ClassVar, Literal

import annotated_types as at

from tasklab.core.errors import ConfigError
from tasklab.core.registry import closest_hint


@dataclasses.dataclass(frozen=True, slots=True)
class Why(at.BaseMetadata):
    """Why a field's constraints are what they are: said in parentheses by the error and
    the schema's description (`Ge(3), Why("padding, out-of-vocabulary and one token")`)."""

    reason: str


@dataclasses.dataclass(frozen=True, slots=True)
class Distinct(at.BaseMetadata):
    """A list may not hold a value twice (JSON Schema's `uniqueItems`)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Pattern(at.BaseMetadata):
    """A string must contain a match of `regex` (searched for, as JSON Schema's `pattern`
    is: anchor it to match the whole string); `meaning` says what that is, in words."""

    regex: str
    meaning: str


_BOUNDS = (at.Ge, at.Gt, at.Le, at.Lt)
_CHECKED = (*_BOUNDS, at.MinLen, at.MaxLen, Distinct, Pattern)


class Section:
    """The base of every config section (a frozen dataclass): on construction it checks each
    field's declared constraints, then the section's own `check()`.

    Attributes:
        where: the section's dotted place in the YAML, for the messages of a section
            constructed in code (a parsed one names the exact place itself).
    """

    where: ClassVar[str] = ""

    def __post_init__(self) -> None:
        hints = field_types(type(self))
        for field in dataclasses.fields(self):
            check_declared(getattr(self, field.name), hints[field.name], self._at(field.name))
        self.check()

    def check(self) -> None:
        """Checks the rules that relate two or more fields (none by default).

        Raises:
            ConfigError: naming the fields, what was received and the fix.
        """

    def _at(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name


@functools.cache
def field_types(cls: type) -> dict[str, Any]:
    """The resolved annotations of a dataclass, its `Annotated` constraints kept."""
    return typing.get_type_hints(cls, include_extras=True)


def constraints(metadata: Iterable[Any]) -> list[Any]:
    """The constraints among `Annotated` metadata, groups (`Len`, `Interval`) unpacked.

    Raises:
        TypeError: for an annotated-types constraint the validator does not check
            (declaring it would promise a check that never runs).
    """
    found = []
    for item in metadata:
        for single in item if isinstance(item, at.GroupedMetadata) else (item,):
            if isinstance(single, _CHECKED):
                found.append(single)
            elif isinstance(single, at.BaseMetadata) and not isinstance(single, Why):
                raise TypeError(f"The config validator does not check {single!r}.")
    return found


def why(metadata: Iterable[Any]) -> str | None:
    """The reason (`Why`) among `Annotated` metadata, if any."""
    return next((item.reason for item in metadata if isinstance(item, Why)), None)


def requirement(items: list[Any], text: bool = False) -> str:
    """What a set of constraints asks, in words: `be >= 1`, `be between 0 and 1`,
    `hold at least 1 item and list each value once` (the error's and the schema's wording).

    Args:
        items: constraints, as `constraints` returns them.
        text: whether they constrain a string (lengths count characters, not items).
    """
    bound = {type(item): item for item in items if isinstance(item, _BOUNDS)}
    parts = []
    if at.Ge in bound and at.Le in bound and at.Gt not in bound and at.Lt not in bound:
        parts.append(f"be between {_number(bound[at.Ge].ge)} and {_number(bound[at.Le].le)}")
    elif bound:
        words = {at.Ge: ">=", at.Gt: ">", at.Le: "<=", at.Lt: "<"}
        limits = [f"{words[kind]} {_number(_limit(item))}" for kind, item in bound.items()]
        parts.append("be " + " and ".join(limits))
    least = max((item.min_length for item in items if isinstance(item, at.MinLen)), default=None)
    most = min((item.max_length for item in items if isinstance(item, at.MaxLen)), default=None)
    unit = "character" if text else "item"
    if least is not None and least == most:
        parts.append(f"hold {least} {unit}{'s' if least != 1 else ''}")
    elif least is not None and most is not None:
        parts.append(f"hold {least} to {most} {unit}s")
    elif least is not None:
        parts.append(f"hold at least {least} {unit}{'s' if least != 1 else ''}")
    elif most is not None:
        parts.append(f"hold at most {most} {unit}{'s' if most != 1 else ''}")
    if any(isinstance(item, Distinct) for item in items):
        parts.append("list each value once")
    parts += [f"be {item.meaning}" for item in items if isinstance(item, Pattern)]
    return " and ".join(parts)


def _limit(item: Any) -> Any:
    return getattr(item, type(item).__name__.lower())  # Ge(1).ge, Lt(1).lt, ...


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _broken(item: Any, value: Any) -> bool:
    """Whether `value` breaks the constraint `item` (a value it cannot compare breaks it)."""
    try:
        if isinstance(item, at.Ge):
            return not value >= item.ge
        if isinstance(item, at.Gt):
            return not value > item.gt
        if isinstance(item, at.Le):
            return not value <= item.le
        if isinstance(item, at.Lt):
            return not value < item.lt
        if isinstance(item, at.MinLen):
            return len(value) < item.min_length
        if isinstance(item, at.MaxLen):
            return len(value) > item.max_length
        if isinstance(item, Distinct):
            return len(set(value)) != len(value)
        return re.search(item.regex, value) is None  # Pattern
    except TypeError:
        return True


def check_declared(value: Any, annotation: Any, where: str, nullable: bool = False) -> None:
    """Checks a value of the right type against the constraints its annotation declares.

    Nested sections are not entered: each checked its own fields when it was made.

    Args:
        value: the field's value.
        annotation: the field's annotation, `Annotated` metadata kept.
        where: the dotted place of the value, for the message.
        nullable: whether null is valid here too (the message says so).

    Raises:
        ConfigError: `{where} must {requirement} ({why}), or null. Received: {value}.`
    """
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        base, *metadata = typing.get_args(annotation)
        check_declared(value, base, where, nullable)
        items = constraints(metadata)
        if any(_broken(item, value) for item in items):
            reason = why(metadata)
            raise ConfigError(
                f"{where} must {requirement(items, isinstance(value, str))}"
                f"{f' ({reason})' if reason else ''}{', or null' if nullable else ''}. "
                f"Received: {_shown(value)}."
            )
    elif origin in (typing.Union, types.UnionType):
        if value is not None:
            args = typing.get_args(annotation)
            inner = next(arg for arg in args if arg is not type(None))
            check_declared(value, inner, where, nullable=type(None) in args)
    elif origin is tuple and isinstance(value, tuple | list):
        item_type = typing.get_args(annotation)[0]
        for index, item in enumerate(value):
            check_declared(item, item_type, f"{where}[{index}]")
    elif origin is dict and isinstance(value, Mapping):
        item_type = typing.get_args(annotation)[1]
        for key, item in value.items():
            check_declared(item, item_type, f"{where}.{key}")


def _shown(value: Any) -> str:
    """A received value as the message shows it: lists as YAML writes them, strings quoted."""
    if isinstance(value, tuple | list):
        return repr([_plain(item) for item in value])
    return repr(value)


def _plain(value: Any) -> Any:
    return [_plain(item) for item in value] if isinstance(value, tuple | list) else value


def parse_section(cls: type, raw: Any, where: str) -> Any:
    """Builds the section `cls` from a mapping, checking keys, types and declared constraints.

    Args:
        cls: a dataclass type whose annotations give each field's type.
        raw: the mapping to read.
        where: the dotted location, for error messages.

    Returns:
        An instance of `cls`.
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"'{where}' must be a mapping. Received: {raw!r}.")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    check_keys(raw, list(fields), where)
    hints = field_types(cls)
    values = {
        key: coerce(_onto_default(fields[key], value), hints[key], f"{where}.{key}")
        for key, value in raw.items()
    }
    for key, value in values.items():
        check_declared(value, hints[key], f"{where}.{key}")
    missing = [
        name
        for name, f in fields.items()
        if name not in values
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"'{where}' needs the key(s) {missing}.")
    try:
        return cls(**values)
    except ConfigError:
        raise
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{where}: {error}") from None


def _onto_default(field: dataclasses.Field, value: Any) -> Any:
    """A partial mapping for a nested section fills in that field's own defaults.

    `export.float32: {min_agreement: 0.99}` keeps float32's default
    `max_abs_diff`, not the generic default of the section's class.
    """
    if dataclasses.is_dataclass(field.default) and isinstance(value, Mapping):
        return {**dataclasses.asdict(field.default), **value}
    return value


def check_keys(raw: Mapping[str, Any], valid: list[str], where: str) -> None:
    """Refuses a key that is not in `valid`, listing the valid ones and the closest."""
    for key in raw:
        if key not in valid:
            location = f"{where}.{key}" if where else str(key)
            raise ConfigError(
                f"Unknown config key '{location}'. Valid keys{' in ' + where if where else ''}: "
                f"{sorted(valid)}." + closest_hint(str(key), valid)
            )


_TYPE_WORDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def coerce(value: Any, annotation: Any, where: str) -> Any:
    """Checks `value` against a type annotation and returns it converted (its declared
    constraints are `check_declared`'s)."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return coerce(value, typing.get_args(annotation)[0], where)
    if dataclasses.is_dataclass(annotation):
        return parse_section(annotation, value, where)
    if origin is Literal:
        choices = list(typing.get_args(annotation))
        if value not in choices:
            raise ConfigError(
                f"The '{where}' option must be one of {choices}. Received: {value!r}."
                + closest_hint(str(value), [str(c) for c in choices])
            )
        return value
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if value is None:
            return None
        return coerce(value, args[0], where)
    if origin is dict:
        value_type = typing.get_args(annotation)[1]
        if not isinstance(value, Mapping):
            raise ConfigError(f"'{where}' must be a mapping. Received: {value!r}.")
        return {str(k): coerce(v, value_type, f"{where}.{k}") for k, v in value.items()}
    if origin is tuple:
        item_type = typing.get_args(annotation)[0]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"'{where}' must be a list. Received: {value!r}.")
        return tuple(coerce(item, item_type, f"{where}[{i}]") for i, item in enumerate(value))
    if annotation is Any:
        return value
    if annotation is float and isinstance(value, str):
        # PyYAML reads `1e-9` (no dot) as a string, a common trap for thresholds.
        try:
            return float(value)
        except ValueError:
            pass
    ok = (
        isinstance(value, bool)
        if annotation is bool
        else isinstance(value, int | float) and not isinstance(value, bool)
        if annotation is float
        else isinstance(value, annotation) and not isinstance(value, bool)
    )
    if not ok:
        hint = ""
        if annotation is str and isinstance(value, bool):
            hint = ' YAML reads unquoted yes/no/on/off as true/false: quote the word, e.g. "yes".'
        raise ConfigError(
            f"'{where}' must be {_TYPE_WORDS.get(annotation, annotation.__name__)}. "
            f"Received: {value!r} ({type(value).__name__}).{hint}"
        )
    return float(value) if annotation is float else value
