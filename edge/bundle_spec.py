"""An edge bundle's `preprocessing.json`, read as untrusted input.

A bundle is a folder copied to a device; whoever hands it over controls every
byte. So the runner checks what it reads before it acts on it: the file is of
bounded size and valid JSON with the keys and types the runner uses, every
file it names lies inside the bundle (no `../` or absolute paths, no links out),
and the shapes it describes are the model's own input and output shapes (a
bundle asking to resize every image to 100000 x 100000 is refused, not
allocated). Imports only the standard library and numpy.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .audio_io import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE
from .edge_inputs import EdgeInputError
from .outputs import OUTPUT_READERS, PER_CLASS_OUTPUTS

PREPROCESSING_FILE = "preprocessing.json"
# A 20,000-token text vocabulary is ~300 KB; nothing a bundle needs comes near this.
MAX_SPEC_BYTES = 64 << 20
INPUT_KINDS = ("image", "tabular", "text", "audio")


def read_spec(directory: Path) -> dict[str, Any]:
    """Reads and checks a bundle's `preprocessing.json`.

    Args:
        directory: the bundle.

    Returns:
        The spec, its top-level structure checked (see `check_spec`).

    Raises:
        EdgeInputError: naming the file and what is wrong with it.
    """
    spec_file = Path(directory) / PREPROCESSING_FILE
    if not spec_file.is_file():
        raise EdgeInputError(
            f"'{directory}' holds no {PREPROCESSING_FILE}: it is not an export bundle. "
            "Pass the export/ folder of a run (made by `tasklab export RUN_DIR`)."
        )
    size = spec_file.stat().st_size
    if size > MAX_SPEC_BYTES:
        raise EdgeInputError(
            f"{spec_file} is {size:,} bytes, more than a bundle's {MAX_SPEC_BYTES:,}: it is not "
            "one tasklab wrote. Export the run again (`tasklab export RUN_DIR`)."
        )
    try:
        spec = json.loads(spec_file.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as error:
        raise EdgeInputError(
            f"{spec_file} is not UTF-8 (byte {error.start}). {_REEXPORT}"
        ) from None
    except json.JSONDecodeError as error:
        raise EdgeInputError(
            f"{spec_file} is not valid JSON ({error.msg} at line {error.lineno}, column "
            f"{error.colno}). {_REEXPORT}"
        ) from None
    except RecursionError:
        raise EdgeInputError(f"{spec_file} nests too deeply to read. {_REEXPORT}") from None
    check_spec(spec, spec_file)
    return spec


_REEXPORT = "The bundle was damaged or edited: export the run again (`tasklab export RUN_DIR`)."


def check_spec(spec: Any, spec_file: Path) -> None:
    """Checks the keys the runner relies on, with their types.

    Raises:
        EdgeInputError: naming the first missing or mistyped key.
    """
    where = str(spec_file)
    _require(isinstance(spec, dict), where, "its top level must be a JSON object")
    _field(spec, "problem", str, where)  # Shown to people; the output kind decides the reading.
    output = _field(_field(spec, "output", dict, where), "kind", str, f"{where}: output")
    _require(
        output in OUTPUT_READERS,
        where,
        f"output 'kind' must be one of {list(OUTPUT_READERS)}, not {output!r}",
    )
    variants = _field(spec, "variants", dict, where)
    _require(bool(variants), where, "'variants' is empty")
    for name, variant in variants.items():
        _require(isinstance(variant, dict), where, f"variant '{name}' must be a JSON object")
        _field(variant, "file", str, f"{where}: variant '{name}'")
    _field(spec, "default_variant", str, where)
    described = _field(spec, "input", dict, where)
    kind = _field(described, "kind", str, f"{where}: input")
    _require(
        kind in INPUT_KINDS, where, f"input 'kind' must be one of {list(INPUT_KINDS)}, not {kind!r}"
    )
    if kind == "audio":
        rate = _field(described, "sample_rate", int, f"{where}: input")
        _require(
            MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE,
            where,
            f"input 'sample_rate' must be {MIN_SAMPLE_RATE:,} to {MAX_SAMPLE_RATE:,} Hz, "
            f"not {rate:,}",
        )
    if output in PER_CLASS_OUTPUTS:
        names = _field(spec, "class_names", list, where)
        _require(
            bool(names) and all(isinstance(name, str) for name in names),
            where,
            "'class_names' must be a non-empty list of strings",
        )


def bundle_file(directory: Path, name: str, what: str) -> Path:
    """The file `name` inside the bundle, refusing names that lead out of it.

    Args:
        directory: the bundle.
        name: a relative file name from `preprocessing.json`.
        what: what the file is, for the error.

    Raises:
        EdgeInputError: for an absolute name, one that resolves (links
            followed) outside the bundle, or one that is not a file there.
    """
    root = Path(directory).resolve()
    path = (root / name).resolve()
    if Path(name).is_absolute() or not path.is_relative_to(root):
        raise EdgeInputError(
            f"{PREPROCESSING_FILE} names {what} '{name}', outside the bundle '{directory}'; a "
            "bundle only reads its own files. Export the run again (`tasklab export RUN_DIR`)."
        )
    if not path.is_file():
        raise EdgeInputError(
            f"The bundle '{directory}' lacks {what} '{name}' that {PREPROCESSING_FILE} names. "
            "Copy the whole export/ folder, or export the run again."
        )
    return path


def example_shape(described: Mapping[str, Any], where: str) -> tuple[int, ...] | None:
    """The input shape `preprocessing.json` describes (None for tables: checked per row).

    Raises:
        EdgeInputError: when a dimension is missing or not a positive integer.
    """
    kind = described["kind"]
    keys = {
        "image": ("height", "width", "channels"),
        "text": ("sequence_length",),
        "audio": ("clip_samples",),
    }.get(kind)
    if keys is None:
        return None
    dims = tuple(_field(described, key, int, f"{where}: input") for key in keys)
    named = dict(zip(keys, dims, strict=True))
    _require(all(d > 0 for d in dims), where, f"input {named} must be > 0")
    return dims


def check_matches_model(
    spec: Mapping[str, Any], example: tuple[int, ...], output: tuple[int, ...], where: str
) -> None:
    """Checks the described input and classes against the model's own tensors.

    Args:
        spec: the checked spec.
        example: the model's input shape for one example.
        output: the model's output shape for one example (its last axis holds
            the class scores of a per-class output).
        where: names the spec file.

    Raises:
        EdgeInputError: on any mismatch, with both shapes.
    """
    described = example_shape(spec["input"], where)
    if described is not None and described != example:
        raise EdgeInputError(
            f"{where} describes inputs of shape {list(described)}, but the model takes "
            f"{list(example)}: the file does not belong to this model. {_REEXPORT}"
        )
    per_class = spec["output"]["kind"] in PER_CLASS_OUTPUTS
    scores = output[-1] if output else 1
    if per_class and len(spec["class_names"]) != scores:
        raise EdgeInputError(
            f"{where} names {len(spec['class_names'])} classes, but the model outputs {scores} "
            f"scores: the file does not belong to this model. {_REEXPORT}"
        )


def _field(mapping: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in mapping:
        raise EdgeInputError(f"{where} lacks the key '{key}'. {_REEXPORT}")
    value = mapping[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise EdgeInputError(
            f"{where}: '{key}' must be {kind.__name__}, not {type(value).__name__}. {_REEXPORT}"
        )
    return value


def _require(condition: bool, where: str, problem: str) -> None:
    if not condition:
        raise EdgeInputError(f"{where}: {problem}. {_REEXPORT}")
