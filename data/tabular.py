"""Tabular data: `csv:PATH` and sklearn's bundled sets, typed, checked, and encoded.

A raw table goes through three steps:

1. `read_csv_table` checks the file as text before pandas sees it (pandas pads
   short rows with NaN and renames duplicate headers silently), then reads it.
2. `infer_column_kinds` decides each column's kind: numeric, categorical
   (strings, and integers with few distinct values) or boolean; `data.columns`
   overrides any of them. A column that is mostly numbers with some text is an
   error that names the rows, not a silent categorical.
3. `TabularEncoder` is fitted on the train split only and turns any split into
   (a) a float32 feature vector for the Keras model (numeric imputed with the
   train median plus a missing indicator, booleans as 0/1, categoricals
   one-hot over the train categories plus an `<other>` slot for unseen ones),
   and (b) a typed frame for classical baselines (NaN kept, pandas categoricals).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import dataclasses
import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler

from tasklab.core.config import DataConfig
from tasklab.core.errors import name_some
from tasklab.core.problems import Problem
from tasklab.core.registry import closest_hint
from tasklab.data.base import (
    DataError,
    Dataset,
    DataSpec,
    Split,
    array_split,
    split_indices,
)
from tasklab.edge.edge_inputs import MAX_TEXT_BYTES, MISSING_MARKERS

COLUMN_KINDS = ("numeric", "categorical", "boolean")
MAX_INTEGER_CATEGORIES = 10  # Integer columns with at most this many values are categorical.
# A categorical column with a distinct value in at least this share of its (at least this
# many) rows is noted as an identifier.
_IDENTIFIER_SHARE = 0.9
_MIN_ROWS_FOR_IDENTIFIERS = 20
MAX_ONE_HOT = 50  # Rarer categories than the 50 most frequent share the `<other>` slot.
MISSING = "<missing>"
OTHER = "<other>"
_TRUE_FALSE = ({"true", "false"}, {"yes", "no"}, {"t", "f"}, {"y", "n"})
_MAX_NAMED = 5


@dataclasses.dataclass(frozen=True)
class ColumnEncoding:
    """How one input column becomes features.

    Attributes:
        name: the column.
        kind: `numeric`, `categorical` or `boolean`.
        inferred: False when `data.columns` set the kind.
        fill_value: train median (numeric, boolean) used for missing values.
        indicator: whether a `<name>__missing` feature flags missing values.
        categories: the train categories that get their own one-hot slot.
    """

    name: str
    kind: str
    inferred: bool
    fill_value: float | None = None
    indicator: bool = False
    categories: tuple[str, ...] = ()

    def feature_names(self) -> list[str]:
        """Names of the features this column produces, in order."""
        if self.kind == "categorical":
            return [f"{self.name}={category}" for category in (*self.categories, OTHER)]
        return [self.name, f"{self.name}__missing"] if self.indicator else [self.name]


@dataclasses.dataclass(frozen=True)
class TabularSchema:
    """The fitted encoding of a table: everything needed to turn a raw row into features.

    Attributes:
        columns: one encoding per input column, in feature order.
        target: the target column.
        feature_names: the name of every feature of the encoded vector.
        feature_mean: per-feature train mean (for the model's Normalization layer).
        feature_variance: per-feature train variance (1 for a feature constant in training).
        target_mean: train mean of a regression target (0 for classification).
        target_std: train standard deviation of a regression target (1 for classification).
    """

    columns: tuple[ColumnEncoding, ...]
    target: str
    feature_names: tuple[str, ...]
    feature_mean: tuple[float, ...]
    feature_variance: tuple[float, ...]
    target_mean: float = 0.0
    target_std: float = 1.0


def read_csv_table(path: Path, encoding: str = "utf-8") -> pd.DataFrame:
    """Reads a CSV file with a header row, refusing what pandas would silently repair.

    Args:
        path: the CSV file.
        encoding: its text encoding (`data.encoding`); UTF-8 may start with a BOM.

    Returns:
        The table, with pandas' type inference.

    Raises:
        DataError: for a missing or empty file, bytes that are not in
            `encoding` (never replaced: two values that differ in one letter
            would become one), no data rows, a header that looks delimited by
            another character, duplicate column names, or a row whose field
            count differs from the header's (lines counted in the file, so
            quoted line breaks do not shift them).
    """
    if not path.is_file():
        raise DataError(f"The CSV file '{path}' does not exist. Check data.uri.")
    encoding = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    with path.open(newline="", encoding=encoding) as handle, _csv_field_limit(MAX_TEXT_BYTES):
        rows = csv.reader(handle)
        try:
            lines = _check_csv_rows(rows, path)
        except UnicodeDecodeError as error:
            raise DataError(_encoding_message(path, error)) from None
        except csv.Error as error:  # A field past the limit, or an unclosed quote at the end.
            raise DataError(
                f"Line {rows.line_num} of '{path}' cannot be read as CSV ({error}). Fix the row; "
                f"a field may hold at most {MAX_TEXT_BYTES:,} characters."
            ) from None
    if not lines:
        raise DataError(f"The CSV file '{path}' has a header but no data rows.")
    try:
        frame = pd.read_csv(path, encoding=encoding)
    except pd.errors.ParserError as error:  # What csv tolerates, e.g. a quote left open at the end.
        raise DataError(
            f"'{path}' cannot be read as CSV: {error}. Fix the file (close every quoted field)."
        ) from None
    if len(frame) == len(lines):
        # Rows are indexed by the file line they start on, so that every message
        # naming a row names the line an editor shows, quoted line breaks and all.
        frame.index = pd.Index(lines, name="line")
    else:  # pandas and csv disagree on what a row is; positions are the best guess.
        frame.index = pd.RangeIndex(2, len(frame) + 2, name="line")
    return frame


def _check_csv_rows(rows, path: Path) -> list[int]:
    """Checks the header and every row's field count.

    Returns:
        The file line each data row starts on (1 is the header's).
    """
    header = next(rows, None)
    if not header:
        raise DataError(f"The CSV file '{path}' is empty; it needs a header row and data rows.")
    if len(header) == 1:
        other = next((d for d in _OTHER_DELIMITERS if d in header[0]), None)
        if other is not None:
            raise DataError(
                f"The header of '{path}' is one column named '{header[0][:80]}': the file looks "
                f"{_OTHER_DELIMITERS[other]}-delimited, and tasklab reads comma-separated files. "
                "Save it comma-separated (or quote the header if that really is one name)."
            )
    duplicates = sorted(name for name, count in Counter(header).items() if count > 1)
    if duplicates:
        raise DataError(
            f"The CSV file '{path}' has duplicate column names {duplicates}. "
            "Rename them so each column has a unique name."
        )
    lines, last_line = [], rows.line_num
    for row in rows:
        # line_num counts the file's lines read so far: a row starts after the last one.
        start, last_line = last_line + 1, rows.line_num
        if not row:
            continue  # Blank lines are not rows.
        lines.append(start)
        if any("\0" in field for field in row):
            raise DataError(
                f"Line {start} of '{path}' holds NUL bytes: the file is binary, not a CSV "
                "table. Check data.uri."
            )
        if len(row) != len(header):
            # line_num counts the file's lines read so far: a quoted field with line breaks
            # spans several, so the row ends on this line.
            raise DataError(
                f"Line {rows.line_num} of '{path}' has {len(row)} fields but the header has "
                f"{len(header)}. Fix the row (quote fields that contain commas)."
                + ((comment_hint(header) if start == 2 else "") or header_hint(header))
            )
    return lines


_OTHER_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}


def comment_hint(header: Sequence[str]) -> str:
    """A sentence for errors when the first line is a comment (`# Data source: ...`), as
    files exported by some tools start; tasklab reads the first line as the column names.
    Empty otherwise (a first column may well be named `#`)."""
    if not header or not header[0].lstrip().startswith("#"):
        return ""
    first_line = ",".join(header)
    shown = first_line if len(first_line) <= 60 else first_line[:57] + "..."
    return (
        f" Its first line ({shown!r}) looks like a comment, not a header row: delete the "
        "comment line(s) above the header."
    )


def header_hint(header: Sequence[str]) -> str:
    """A sentence for errors when the header row holds numbers, as the first line of a
    file saved without a header does (scikit-learn's iris.csv starts `150,4,setosa,...`);
    empty otherwise. Only a hint: years make numeric column names too."""
    numbers = [name for name in header if _is_number(name)]
    if not numbers:
        return ""
    shown = ", ".join(list(header)[:5]) + (", ..." if len(header) > 5 else "")
    return (
        f" Its first line ({shown}) has numbers where column names go: if it is data, add a "
        "header row naming the columns."
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@contextlib.contextmanager
def _csv_field_limit(limit: int):
    """Lets the csv module read fields up to `limit` characters (its default is 128 KB,
    less than a long text), restoring the process-wide setting after."""
    previous = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _encoding_message(path: Path, error: UnicodeDecodeError) -> str:
    """Names the first line with bytes not in the encoding, the bytes, and the two fixes.

    The decoder reads ahead in blocks, so the error does not say which line
    it came from; the file is read again line by line to find it.
    """
    line, sample = _first_undecodable_line(path, error.encoding)
    guess = ""
    if error.encoding.replace("_", "-").lower().startswith("utf-8"):
        with contextlib.suppress(UnicodeDecodeError):
            guess = f" (in Windows-1252/Latin-1 they read {sample.decode('cp1252')!r})"
    return (
        f"Line {line} of '{path}' holds bytes that are not {error.encoding}: "
        f"{sample!r}{guess}. Save the file as UTF-8, or set data.encoding to its encoding "
        "(e.g. data.encoding: cp1252). Undecodable bytes are never replaced: 'Zürich' and "
        "'Zärich' would become one category."
    )


def _first_undecodable_line(path: Path, encoding: str) -> tuple[int, bytes]:
    """The number of the first line that does not decode, and its first bad bytes."""
    decoder = codecs.getincrementaldecoder(encoding)()
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                decoder.decode(raw)
            except UnicodeDecodeError as error:
                return number, raw[error.start : error.start + 4]
    return number, b""


def markers_as_missing(inputs: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Reads `MISSING_MARKERS` in the input columns as missing values, and says so.

    Without this a numeric column with 20% `?` would be a one-hot over number
    strings. A column of numbers and markers becomes numeric.

    Returns:
        The columns with markers as NaN, and a note per column that had any.
    """
    inputs, notes = inputs.copy(), []
    for name in inputs.columns:
        series = inputs[name]
        if pd.api.types.is_numeric_dtype(series):
            continue
        # Besides pandas' own NA strings (empty, NA, N/A, null, NaN, ...); the runner's too.
        marked = series.isin(MISSING_MARKERS)
        if not marked.any():
            continue
        series = series.mask(marked)
        numbers = pd.to_numeric(series, errors="coerce")
        all_numbers = numbers.notna().sum() == series.notna().sum()
        inputs[name] = numbers if all_numbers else series
        count = int(marked.sum())
        notes.append(
            f"Column '{name}': {count} value(s) {sorted(MISSING_MARKERS)} read as missing."
        )
    return inputs, notes


def infer_column_kinds(
    frame: pd.DataFrame, overrides: Mapping[str, str]
) -> dict[str, tuple[str, bool]]:
    """Decides each column's kind.

    Args:
        frame: the input columns (target excluded).
        overrides: `data.columns`, column -> kind.

    Returns:
        Column -> (kind, inferred).

    Raises:
        DataError: for an override naming no column, or a numeric-looking
            column that holds text.
    """
    unknown = [name for name in overrides if name not in frame.columns]
    if unknown:
        raise DataError(
            f"data.columns names {unknown}, which are not input columns. Columns: "
            f"{list(frame.columns)}." + closest_hint(unknown[0], [str(c) for c in frame.columns])
        )
    kinds = {}
    for name in frame.columns:
        if name in overrides:
            kinds[name] = (overrides[name], False)
        else:
            kinds[name] = (_infer_kind(frame[name]), True)
    return kinds


def identifier_notes(frame: pd.DataFrame, kinds: Mapping[str, tuple[str, bool]]) -> list[str]:
    """A note for each categorical column with a distinct value in (almost) every row.

    Such a column (a date, a name, an ID) names rows rather than describing them: the
    validation and test rows' values were never seen in training, so the model learns
    nothing from it. It is kept (a user may mean it), but the run says so.

    Returns:
        One sentence per such column.
    """
    notes = []
    for name, (kind, _) in kinds.items():
        values = frame[name].dropna()
        distinct = values.nunique()
        if (
            kind == "categorical"
            and len(values) >= _MIN_ROWS_FOR_IDENTIFIERS
            and (distinct >= _IDENTIFIER_SHARE * len(values))
        ):
            notes.append(
                f"Column '{name}' has a distinct value in {distinct:,} of its {len(values):,} "
                "rows: it identifies rows rather than describing them, so held-out rows bring "
                "values never seen in training. Remove the column from the file if it is an "
                "identifier or a date."
            )
    return notes


def _infer_kind(series: pd.Series) -> str:
    values = series.dropna()
    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_numeric_dtype(series):
        distinct = set(values.unique().tolist())
        if pd.api.types.is_integer_dtype(series) or all(float(v).is_integer() for v in distinct):
            if distinct <= {0, 1} and len(distinct) == 2:
                return "boolean"
            if pd.api.types.is_integer_dtype(series) and len(distinct) <= MAX_INTEGER_CATEGORIES:
                return "categorical"
        return "numeric"
    lowered = {str(v).strip().lower() for v in values.unique()}
    if any(lowered == pair for pair in _TRUE_FALSE):
        return "boolean"
    numbers = pd.to_numeric(values, errors="coerce")
    if len(values) and numbers.notna().mean() >= 0.9:
        bad = values[numbers.isna()]
        shown = _line_values(bad)
        raise DataError(
            f"Column '{series.name}' looks numeric but {len(bad)} value(s) are text ({shown}). "
            "Fix them, leave them empty to mark them missing, or declare the column with "
            f"data.columns: {{{series.name}: categorical}}."
        )
    return "categorical"


def _as_numeric(series: pd.Series, kind: str) -> tuple[pd.Series, int]:
    """Converts a numeric or boolean column to floats (NaN for missing); counts infinities."""
    if kind == "boolean" and not pd.api.types.is_numeric_dtype(series):
        truthy = {"true", "yes", "t", "y", "1"}
        text = series.astype("string").str.strip().str.lower()
        values = text.map(lambda v: np.nan if pd.isna(v) else float(v in truthy)).astype(float)
    else:
        values = pd.to_numeric(series, errors="coerce").astype(float)
        text_values = series[values.isna() & series.notna()]
        if len(text_values):
            shown = _line_values(text_values)
            raise DataError(
                f"Column '{series.name}' is {kind} but holds text ({shown}). Fix the values or "
                f"declare data.columns: {{{series.name}: categorical}}."
            )
    infinite = np.isinf(values.to_numpy())
    return values.mask(infinite), int(infinite.sum())


def _as_category_text(series: pd.Series) -> pd.Series:
    """Categorical values as strings, with missing values as their own `<missing>` category."""
    return series.map(_category_text).astype(object)


def _category_text(value: Any) -> str:
    # pandas reads the integer 3 as 3.0 in a column with gaps: spell whole numbers
    # the same way ("3") whatever the column's dtype, so files with and without
    # gaps encode alike.
    if pd.isna(value):
        return MISSING
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class TabularEncoder:
    """Fitted on the train split; encodes any split the same way.

    Args:
        kinds: column -> (kind, inferred), from `infer_column_kinds`.
    """

    def __init__(self, kinds: Mapping[str, tuple[str, bool]]):
        self.kinds = dict(kinds)

    def fit(self, frame: pd.DataFrame) -> TabularEncoder:
        """Learns fill values, indicators and categories from the train rows.

        Returns:
            self.
        """
        encodings = []
        for name, (kind, inferred) in self.kinds.items():
            if kind == "categorical":
                counts = _as_category_text(frame[name]).value_counts()
                categories = tuple(sorted(counts.index[:MAX_ONE_HOT].tolist()))
                encodings.append(ColumnEncoding(name, kind, inferred, categories=categories))
            else:
                values, _ = _as_numeric(frame[name], kind)
                median = float(values.median()) if values.notna().any() else 0.0
                encodings.append(
                    ColumnEncoding(
                        name, kind, inferred, fill_value=median, indicator=bool(values.isna().any())
                    )
                )
        self.columns_ = tuple(encodings)
        return self

    def features(self, frame: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
        """Encodes rows as the model's float32 feature vectors.

        Returns:
            The `(rows, features)` matrix and notes on what was imputed or unseen.
        """
        blocks, notes = [], []
        for column in self.columns_:
            if column.kind == "categorical":
                text = _as_category_text(frame[column.name])
                known = text.isin(column.categories)
                unseen = int((~known).sum())
                if unseen:
                    notes.append(
                        f"Column '{column.name}': {unseen} value(s) not among the train categories "
                        f"were encoded as {OTHER}."
                    )
                one_hot = np.zeros((len(frame), len(column.categories) + 1), np.float32)
                index = {category: i for i, category in enumerate(column.categories)}
                positions = text.map(lambda v, index=index: index.get(v, len(index))).to_numpy()
                one_hot[np.arange(len(frame)), positions] = 1.0
                blocks.append(one_hot)
            else:
                values, infinite = _as_numeric(frame[column.name], column.kind)
                if infinite:
                    notes.append(
                        f"Column '{column.name}': {infinite} infinite value(s) treated as missing."
                    )
                missing = values.isna().to_numpy()
                if missing.any() and not column.indicator:
                    notes.append(
                        f"Column '{column.name}': {int(missing.sum())} missing value(s) imputed "
                        "with the train median (the train split had none: no indicator)."
                    )
                block = [values.fillna(column.fill_value).to_numpy(np.float32)]
                if column.indicator:
                    block.append(missing.astype(np.float32))
                blocks.append(np.stack(block, axis=1))
        return np.concatenate(blocks, axis=1), notes

    def typed_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The rows as baselines take them: floats with NaN, and pandas categoricals.

        Categories are the train ones, so an unseen category becomes missing
        (NaN), which XGBoost's native categorical support and the baselines'
        own imputers handle.
        """
        typed = {}
        for column in self.columns_:
            if column.kind == "categorical":
                text = _as_category_text(frame[column.name])
                known = text.where(text.isin(column.categories))  # Unseen -> NaN.
                typed[column.name] = pd.Categorical(known, categories=list(column.categories))
            else:
                typed[column.name] = _as_numeric(frame[column.name], column.kind)[0].to_numpy()
        return pd.DataFrame(typed, index=frame.index)

    def feature_names(self) -> list[str]:
        """Names of the encoded features, in order."""
        return [name for column in self.columns_ for name in column.feature_names()]


def _csv_lines(index: pd.Index) -> str:
    """`CSV line 2` or `CSV lines 2, 5, 9, ...` for rows of a table (`read_csv_table`
    indexes rows by the line they start on)."""
    lines = [str(i) for i in index[:_MAX_NAMED]]
    more = ", ..." if len(index) > _MAX_NAMED else ""
    return f"CSV line{'s' if len(index) > 1 else ''} {', '.join(lines)}{more}"


def _line_values(values: pd.Series) -> str:
    """`line 4: '?', line 9: 'n/a'` for some values of a column (see `_csv_lines`)."""
    return ", ".join(f"line {i}: {v!r}" for i, v in list(values.items())[:_MAX_NAMED])


def encode_target(series: pd.Series, problem: Problem, class_names: tuple[str, ...] | None):
    """Turns the target column into class indices or float values.

    Args:
        series: the target column.
        problem: what is predicted: classes, or values.
        class_names: known class names for integer-coded targets (sklearn sets).

    Returns:
        `(targets, class_names)`; class names are empty for values.

    Raises:
        DataError: for missing or infinite targets, a non-numeric regression
            target, a continuous classification target, or a single class.
    """
    missing = series.isna()
    if missing.any():
        raise DataError(
            f"The target column '{series.name}' has {int(missing.sum())} missing value(s) "
            f"({_csv_lines(series.index[missing])}). Drop those rows or fill in their targets."
        )
    if not problem.has_classes:
        values = pd.to_numeric(series, errors="coerce")
        if values.isna().any():
            example = series[values.isna()].iloc[0]
            raise DataError(
                f"The target column '{series.name}' must be numeric for regression; it holds "
                f"{example!r}. Use task: tabular_classification for a categorical target."
            )
        values = values.to_numpy(np.float64)
        if not np.isfinite(values).all():
            raise DataError(
                f"The target column '{series.name}' has infinite values "
                f"({_csv_lines(series.index[~np.isfinite(values)])}). Fix or drop those rows."
            )
        return values.astype(np.float32), ()
    if pd.api.types.is_float_dtype(series):
        infinite = np.isinf(series.to_numpy(np.float64))
        if infinite.any():
            raise DataError(
                f"The target column '{series.name}' holds infinite values "
                f"({_csv_lines(series.index[infinite])}), which are no class. Fix or drop "
                "those rows."
            )
        fractional = series % 1 != 0
        if fractional.any():
            raise DataError(
                f"The target column '{series.name}' holds continuous numbers "
                f"({_csv_lines(series.index[fractional])}: {series[fractional].iloc[0]!r}); "
                "classification needs classes. Use task: tabular_regression, or bin the target "
                "into classes."
            )
    if class_names is None:
        if pd.api.types.is_float_dtype(series):
            series = series.astype(int)
        class_names = tuple(str(v) for v in sorted(series.unique()))
        lookup = {name: i for i, name in enumerate(class_names)}
        labels = series.map(lambda v: lookup[str(v)]).to_numpy(np.int64)
    else:
        labels = series.to_numpy(np.int64)
    if len(np.unique(labels)) < 2:
        raise DataError(
            f"The target column '{series.name}' has a single class ({class_names[labels[0]]!r}); "
            "classification needs at least 2."
        )
    return labels, class_names


def load_table(
    uri: str,
    frame: pd.DataFrame,
    target: str,
    config: DataConfig,
    seed: int,
    problem: Problem,
    class_names: tuple[str, ...] | None = None,
) -> Dataset:
    """Splits a table, fits the encoder on the train split and encodes every split.

    Args:
        uri: the dataset URI.
        frame: the whole table, target included.
        target: the target column.
        config: the data section (fractions, column overrides).
        seed: seeds the split.
        problem: what is predicted: classes, or values.
        class_names: names of integer-coded classes, when known.

    Returns:
        The dataset: float32 feature splits for the model, typed frames for baselines.
    """
    if target not in frame.columns:
        columns = [str(c) for c in frame.columns]
        raise DataError(
            f"The target column '{target}' is not in {uri}. Its columns: {name_some(columns)}."
            + (closest_hint(target, columns) or header_hint(columns))
        )
    labels, class_names = encode_target(frame[target], problem, class_names)
    inputs, marker_notes = markers_as_missing(frame.drop(columns=[target]))
    if inputs.shape[1] == 0:
        raise DataError("The table has no input columns besides the target.")
    kinds = infer_column_kinds(inputs, config.columns)
    marker_notes += identifier_notes(inputs, kinds)
    fingerprint = _fingerprint(frame)

    def resplit(train: np.ndarray, val: np.ndarray, test: np.ndarray) -> Dataset:
        return encode_table(
            uri,
            str(target),
            inputs,
            labels,
            kinds,
            (train, val, test),
            problem,
            class_names,
            fingerprint,
            resplit,
            marker_notes,
        )

    parts = split_indices(
        labels, (config.val_fraction, config.test_fraction), seed, class_names or None
    )
    # Its notes (imputations, unseen categories, infinities) are logged by the run.
    return resplit(*parts)


def encode_table(
    uri: str,
    target: str,
    inputs: pd.DataFrame,
    labels: np.ndarray,
    kinds: Mapping[str, tuple[str, bool]],
    parts: tuple[np.ndarray, np.ndarray, np.ndarray],
    problem: Problem,
    class_names: tuple[str, ...],
    fingerprint: str,
    resplit,
    notes: Sequence[str] = (),
) -> Dataset:
    """Fits the encoder on the train part and encodes all three splits.

    Args:
        uri: the dataset URI.
        target: the target column's name.
        inputs: every row's input columns.
        labels: every row's target.
        kinds: column kinds.
        parts: train, val and test row indices.
        problem: what is predicted: classes, or values.
        class_names: the classes (empty for values).
        fingerprint: the table's fingerprint.
        resplit: the function that re-splits this table (kept on the result).
        notes: what reading the table found, ahead of the encoder's notes.

    Returns:
        The dataset.
    """
    encoder = TabularEncoder(kinds).fit(inputs.iloc[parts[0]])
    splits, notes = [], [*notes, _describe_kinds(encoder)]
    for split_name, indices in zip(("train", "val", "test"), parts, strict=True):
        rows = inputs.iloc[indices]
        features, split_notes = encoder.features(rows)
        notes += [f"{split_name} split: {note}" for note in split_notes]
        splits.append((features, labels[indices], encoder.typed_frame(rows)))
    train_features, train_targets = splits[0][0], splits[0][1]
    # A feature constant in training (the <other> indicator of an identifier column, say) gets
    # variance 1, as StandardScaler scales it: with its variance of 0 the model's Normalization
    # would divide by epsilon and turn the first unseen value at test time into ~1e7.
    scaler = StandardScaler().fit(train_features)
    # A value target is standardized for training (its mean and spread, from the train split).
    regression = not problem.has_classes
    schema = TabularSchema(
        columns=encoder.columns_,
        target=target,
        feature_names=tuple(encoder.feature_names()),
        feature_mean=tuple(float(v) for v in scaler.mean_),
        feature_variance=tuple(float(v) for v in scaler.scale_**2),
        target_mean=float(train_targets.mean()) if regression else 0.0,
        target_std=float(train_targets.std() or 1.0) if regression else 1.0,
    )
    return Dataset(
        uri=uri,
        spec=DataSpec(
            kind="tabular",
            class_names=class_names,
            example_shape=(train_features.shape[1],),
            schema=schema,
        ),
        train=_table_split(*splits[0]),
        val=_table_split(*splits[1]),
        test=_table_split(*splits[2]),
        fingerprint=fingerprint,
        notes=tuple(notes),
        pool_labels=labels,
        resplit=resplit,
    )


def load_csv(uri: str, path: str, config: DataConfig, seed: int, problem: Problem) -> Dataset:
    """`csv:PATH` with `data.target`: a table from a CSV file with a header row."""
    if not config.target:
        raise DataError(f"{uri}: set data.target to the name of the column to predict.")
    table = read_csv_table(Path(path).expanduser(), config.encoding)
    return load_table(uri, table, config.target, config, seed, problem)


def _table_split(features: np.ndarray, targets: np.ndarray, frame: pd.DataFrame) -> Split:
    split = array_split(features, targets, np.arange(len(targets)))
    return dataclasses.replace(split, frame=frame)


def _describe_kinds(encoder: TabularEncoder) -> str:
    by_kind: dict[str, list[str]] = {kind: [] for kind in COLUMN_KINDS}
    for column in encoder.columns_:
        by_kind[column.kind].append(column.name + ("" if column.inferred else " (set)"))
    described = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in by_kind.items() if names)
    return f"Column kinds ({len(encoder.columns_)} inputs): {described}."


def _fingerprint(frame: pd.DataFrame) -> str:
    digest = hashlib.sha256(",".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()
