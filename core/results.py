"""Stage results as frozen dataclasses whose JSON form is the run directory's artifact.

A stage returns a `Record` and writes `record.to_json()`; the report, the CLI
and `bench/` read it back with `Record.from_json`, so an artifact's keys are
declared once, by the fields, and a file that lacks one is refused naming it.
A field of a `Record` type (or a tuple of them, or either or None) is read as
that record; other fields hold JSON values as they are (a tuple field's list
becomes a tuple). Keys a later version adds get defaults, so older run
directories still read; keys a reader does not know are ignored.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from pathlib import Path
from typing import Any, Self

from tasklab.core import io


class Record:
    """A mixin for frozen dataclasses written as JSON objects."""

    def to_json(self) -> dict[str, Any]:
        """The record as JSON data (nested records as objects, tuples as lists)."""
        return {
            field.name: _to_json(getattr(self, field.name))
            for field in dataclasses.fields(type(self))
        }

    @classmethod
    def from_json(cls, data: Any, where: str | Path) -> Self:
        """Reads a record from JSON data.

        Args:
            data: what the artifact holds.
            where: the artifact's path, named in errors.

        Raises:
            ArtifactReadError: when `data` is not an object or lacks a key
                without a default (naming the file and the keys).
        """
        if not isinstance(data, dict):
            raise io.damaged(Path(where), f"a JSON {type(data).__name__}, not an object")
        required = [field.name for field in dataclasses.fields(cls) if _is_required(field)]
        missing = [name for name in required if name not in data]
        if missing:
            raise io.damaged(Path(where), f"without the key(s) {missing}")
        hints = _hints(cls)
        values = {
            field.name: _from_json(hints[field.name], data[field.name], where)
            for field in dataclasses.fields(cls)
            if field.name in data
        }
        return cls(**values)

    @classmethod
    def read(cls, path: str | Path) -> Self:
        """Reads a record from its JSON file (see `from_json`)."""
        return cls.from_json(io.read_json(path), path)

    def write(self, path: str | Path) -> Path:
        """Writes the record to its JSON file, atomically."""
        return io.write_json(path, self.to_json())


def _is_required(field: dataclasses.Field) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _to_json(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_json()
    if isinstance(value, tuple | list):
        return [_to_json(item) for item in value]
    return value


def _from_json(hint: Any, value: Any, where: str | Path) -> Any:
    """`value` read as `hint` says: records and tuples of them; JSON values as they are."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        record = next((a for a in args if isinstance(a, type) and issubclass(a, Record)), None)
        return record.from_json(value, where) if record is not None else value
    if isinstance(hint, type) and issubclass(hint, Record):
        return hint.from_json(value, where)
    if origin is tuple:
        if not isinstance(value, list):
            raise io.damaged(Path(where), f"holding {type(value).__name__} where a list belongs")
        return tuple(_from_json(args[0], item, where) for item in value)
    return value
