"""YAML from untrusted files, bounded: configs, `--set` values and a run's `config.yaml`.

`yaml.safe_load` builds no objects but plain data, yet two things in it can
still exhaust a machine. Aliases are loaded as shared references, so nine
levels of `&a [*b, *b, ...]` ("billion laughs", about a kilobyte) load in
milliseconds and expand into billions of values the moment anything copies
or walks the tree; and deep nesting overflows the parser's recursion. Both
are refused here with one line, before the config is used: the expanded size
is counted on the shared structure (each shared node once), never expanded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tasklab.core.errors import UserError

# A config holds a few hundred values; a vocabulary-sized list is still far below these.
MAX_YAML_BYTES = 1_000_000
MAX_YAML_VALUES = 100_000


class YAMLInputError(UserError, ValueError):
    """A YAML text is not valid, too large, or expands beyond the bound."""


def read_yaml_file(path: Path, where: str) -> Any:
    """Reads and parses a YAML file of bounded size.

    Args:
        path: the file.
        where: how to name it in an error (e.g. "Config file 'x.yaml'").

    Returns:
        The parsed value.

    Raises:
        YAMLInputError: when the file is larger than `MAX_YAML_BYTES`, not
            UTF-8, not valid YAML, or expands beyond `MAX_YAML_VALUES`.
    """
    size = path.stat().st_size
    if size > MAX_YAML_BYTES:
        raise YAMLInputError(
            f"{where} is {size:,} bytes; a config is at most {MAX_YAML_BYTES:,}. "
            "Check that the path names a config, not a data file."
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise YAMLInputError(
            f"{where} is not UTF-8 text (byte {error.start}); save it as UTF-8."
        ) from None
    return parse_yaml(text, where)


def parse_yaml(text: str, where: str) -> Any:
    """Parses YAML text, refusing texts that expand beyond `MAX_YAML_VALUES` values.

    Args:
        text: the YAML text.
        where: how to name its source in an error.

    Returns:
        The parsed value (shared aliases stay shared; the caller may copy it).

    Raises:
        YAMLInputError: on invalid YAML (one line: the problem and its place),
            nesting too deep to parse, an alias that contains itself, or too
            many values once aliases are expanded.
    """
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise YAMLInputError(f"{where} is not valid YAML: {yaml_problem(error)}") from None
    except RecursionError:
        raise YAMLInputError(
            f"{where} nests its values too deeply to parse; a config is a few levels deep."
        ) from None
    count = expanded_values(value, where)
    if count > MAX_YAML_VALUES:
        raise YAMLInputError(
            f"{where} expands to more than {MAX_YAML_VALUES:,} values once its aliases (*name) "
            "are expanded (aliases repeating aliases, a 'billion laughs' text); a config holds "
            "a few hundred. Write the values out, or drop the aliases that repeat each other."
        )
    return value


def yaml_problem(error: yaml.YAMLError) -> str:
    """One line for a PyYAML error: its problem and where (PyYAML's own text spans lines)."""
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        context = f" ({error.context})" if error.context else ""
        return f"{error.problem}{context} at line {mark.line + 1}, column {mark.column + 1}"
    return " ".join(str(error).split())


def expanded_values(value: Any, where: str) -> int:
    """The number of values in `value` with every shared alias expanded, capped.

    Walks the loaded structure without recursion, counting each shared list or
    mapping once and multiplying by its uses, so the count of a billion-laughs
    text costs as little as its few kilobytes. Stops counting past
    `MAX_YAML_VALUES`.

    Raises:
        YAMLInputError: when a list or mapping contains itself (`&a [*a]`).
    """
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    # Post-order walk: (node, expanded?) pairs; a container is summed once its children are.
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        node, children_done = stack.pop()
        if not isinstance(node, dict | list):
            continue
        key = id(node)
        children = [*node.keys(), *node.values()] if isinstance(node, dict) else node
        if children_done:
            on_path.discard(key)
            total = 1 + sum(sizes.get(id(c), 1) for c in children)
            sizes[key] = min(total, MAX_YAML_VALUES + 1)
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise YAMLInputError(
                f"{where} holds a list or mapping that contains itself (an alias inside its "
                "own anchor, like `&a [*a]`); it would never end. Remove that alias."
            )
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in children if isinstance(child, dict | list))
    return sizes.get(id(value), 1)
