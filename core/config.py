"""Run configuration: YAML -> frozen dataclasses, validated once, declared as data.

Each section below is a frozen dataclass (a `core.sections.Section`) whose
fields say everything about themselves in one place: the type and the
constraints in the annotation (`epochs: Annotated[int, Ge(1)] = 20`, in the
`annotated-types` vocabulary), the default as the field's default, and the
meaning in the class docstring's `Attributes:` entry. From these one parser
(`core.sections.parse_section`) checks every section alike, with one wording:
an unknown key or value names what was received, lists the valid ones and
suggests the closest; a broken constraint reads `train.epochs must be >= 1.
Received: 0.`. A rule relating two fields is code, in the section's `check()`.
`core.config_schema` writes the JSON Schema of the config from the same
declarations (`tasklab schema`), for editors.

The `model` section is the one dynamic part: which options are valid depends
on the task and the model name, so its options dataclass is looked up in
`core.model_options`. Settings of one data source live with that source's
options (`core.source_options`: `data.synthesis` of `builtin:spoken_words`).
"""

from __future__ import annotations

import codecs
import dataclasses
import importlib.resources
import re
import typing
from collections.abc import Iterable, Mapping
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from annotated_types import Ge, Gt, Le, Len, Lt, MinLen

from tasklab.core.catalog import BASELINE_NAMES, BUILTINS, DATA_SCHEMES
from tasklab.core.errors import ConfigError
from tasklab.core.model_options import MODEL_OPTIONS, default_model
from tasklab.core.registry import closest_hint
from tasklab.core.sections import (
    Distinct,
    Pattern,
    Section,
    Why,
    check_declared,
    check_keys,
    coerce,
    field_types,
    parse_section,
)
from tasklab.core.source_options import SpokenWordsOptions, TexturedShapesOptions
from tasklab.core.yaml_text import YAMLInputError, parse_yaml, read_yaml_file

# A fraction of the examples held out: neither none nor all of them.
Fraction = Annotated[float, Gt(0), Lt(1)]
# A count of one or more (epochs, examples, steps, threads).
Count = Annotated[int, Ge(1)]


@dataclasses.dataclass(frozen=True)
class TokenizerConfig(Section):
    """How texts become token ids (Keras `TextVectorization`, adapted on the train split).

    Attributes:
        mode: `word` (split on whitespace) or `char` (every character; suits
            language identification).
        ngrams: the longest n-gram; every n-gram from 1 to this becomes a token
            (e.g. 3 with `char`: characters, character pairs and triples).
        max_tokens: vocabulary size, padding and out-of-vocabulary tokens included.
        sequence_length: token ids per text: shorter texts are padded with 0,
            longer ones truncated (the data notes count them).
        standardize: `lower_and_strip_punctuation`, `lower` (ASCII letters are
            lowercased, as `tf.strings.lower` does), `strip_punctuation` (ASCII
            punctuation) or `none`.
    """

    where: ClassVar[str] = "data.tokenizer"

    mode: Literal["word", "char"] = "word"
    ngrams: Count = 1
    max_tokens: Annotated[int, Ge(3), Why("padding, out-of-vocabulary and one token")] = 20_000
    sequence_length: Count = 256
    standardize: Literal["lower_and_strip_punctuation", "lower", "strip_punctuation", "none"] = (
        "lower_and_strip_punctuation"
    )


@dataclasses.dataclass(frozen=True)
class AudioConfig(Section):
    """How audio becomes fixed-length clips (speech tasks).

    Attributes:
        sample_rate: the rate every clip is resampled to (Hz).
        clip_seconds: the clip length: shorter recordings are padded with
            silence, longer ones cropped to their loudest window (counted in
            the data notes).
    """

    where: ClassVar[str] = "data.audio"

    sample_rate: Annotated[int, Ge(4_000), Le(96_000)] = 16_000
    clip_seconds: Annotated[float, Ge(0.1), Le(10)] = 1.0

    @property
    def clip_samples(self) -> int:
        """Samples per clip."""
        return round(self.sample_rate * self.clip_seconds)


BACKGROUND_COLORS = {
    "white": (255.0, 255.0, 255.0),
    "black": (0.0, 0.0, 0.0),
    "gray": (128.0, 128.0, 128.0),
    "grey": (128.0, 128.0, 128.0),
}


@dataclasses.dataclass(frozen=True)
class ImageConfig(Section):
    """How the pixels of image files become the model's input (`folder:`, `tfds:`).

    Attributes:
        alpha: `composite` paints every image over `background` by its alpha,
            as a viewer shows it (opaque pixels keep their values); `channel`
            keeps alpha as an extra last channel instead (when some image has
            transparency), for models that should see the shape's outline.
        background: what `composite` paints transparent pixels over: a color
            name (`white`, `black`, `gray`), a gray level 0..255 or
            `[r, g, b]` with values 0..255. A gray one keeps grayscale images
            with alpha in one channel; another color makes them RGB.
        size: `[height, width]` every image (and mask) is resized to as it is
            read into memory, for tfds segmentation datasets (`tfds:oxford_iiit_pet`),
            whose images all differ in size; null: 128x128. Folders keep their
            most common size and do not read this setting; `model.image_size`
            resizes for the model in either case.
    """

    where: ClassVar[str] = "data.image"

    alpha: Literal["composite", "channel"] = "composite"
    background: Any = "white"
    size: Annotated[tuple[Count, ...], Len(2, 2), Why("[height, width]")] | None = None

    def check(self) -> None:
        if isinstance(self.background, list):
            object.__setattr__(self, "background", tuple(self.background))
        if isinstance(self.size, list):
            object.__setattr__(self, "size", tuple(self.size))
        parse_background(self.background)  # A bad color fails here, not at decoding.

    @property
    def background_rgb(self) -> tuple[float, float, float]:
        """`background` as `(r, g, b)` floats in 0..255."""
        return parse_background(self.background)


def parse_background(value: Any) -> tuple[float, float, float]:
    """Reads `data.image.background` (a color name, a gray level or `[r, g, b]`) as RGB floats.

    Raises:
        ConfigError: naming the three accepted forms.
    """
    if isinstance(value, str) and value.lower() in BACKGROUND_COLORS:
        return BACKGROUND_COLORS[value.lower()]
    if _is_level(value):
        return (float(value),) * 3
    if isinstance(value, tuple | list) and len(value) == 3 and all(_is_level(v) for v in value):
        return tuple(float(v) for v in value)
    hint = closest_hint(value, list(BACKGROUND_COLORS)) if isinstance(value, str) else ""
    raise ConfigError(
        f"data.image.background must be a color name {sorted(BACKGROUND_COLORS)}, a gray "
        f"level 0..255 or [r, g, b] with values 0..255. Received: {value!r}." + hint
    )


def _is_level(value: Any) -> bool:
    """Whether `value` is a number in 0..255 (not a bool: YAML reads `yes` as true)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 255


@dataclasses.dataclass(frozen=True)
class DataConfig(Section):
    """Where the data comes from and how it is split.

    Attributes:
        uri: the dataset URI: `builtin:NAME`, `folder:PATH`, `tfds:NAME[/CONFIG]`
            or `csv:PATH`.
        val_fraction: fraction of the examples held out for validation (early
            stopping, checkpoint selection). When the dataset has its own
            validation split, that is used instead.
        test_fraction: fraction held out for the final test. Ignored when the
            dataset has its own test split.
        skip_corrupt: skip files that cannot be decoded (with a warning that
            names them) instead of failing.
        tfds_data_dir: where TensorFlow Datasets keeps prepared data
            (default: tfds's own default, `~/tensorflow_datasets`).
        target: the target column of a `csv:` dataset (the class of a text dataset).
        text: the text column of a `csv:` dataset for a text task.
        columns: column kind overrides for tabular data, `{column: kind}` with
            kind `numeric`, `categorical` or `boolean` (default: inferred).
        tokenizer: how texts become token ids (text tasks only).
        audio: how audio becomes clips (speech tasks only).
        synthesis: how `builtin:spoken_words` is synthesized (its own
            options, `core.source_options`).
        scenes: what `builtin:textured_shapes` draws (its own options).
        image: how image files with transparency become pixels (`folder:` images).
        max_pixels: an image file whose header declares more pixels (width x
            height) is refused before it is decoded (a "decompression bomb" of a
            few hundred KB can declare billions); the edge bundle keeps the limit.
        encoding: the text encoding of a `csv:` file (e.g. `cp1252`, `latin-1`);
            bytes that are not in it are an error naming the line, never replaced.
    """

    where: ClassVar[str] = "data"

    uri: str
    val_fraction: Fraction = 0.1
    test_fraction: Fraction = 0.2
    skip_corrupt: bool = False
    max_pixels: Count = 40_000_000
    encoding: str = "utf-8"
    tfds_data_dir: str | None = None
    target: str | None = None
    text: str | None = None
    columns: dict[str, Literal["numeric", "categorical", "boolean"]] = dataclasses.field(
        default_factory=dict
    )
    tokenizer: TokenizerConfig = TokenizerConfig()
    audio: AudioConfig = AudioConfig()
    synthesis: SpokenWordsOptions = SpokenWordsOptions()  # noqa: RUF009 (frozen, as the others)
    scenes: TexturedShapesOptions = TexturedShapesOptions()  # noqa: RUF009 (frozen, as the others)
    image: ImageConfig = ImageConfig()

    def check(self) -> None:
        if ":" not in self.uri:
            raise ConfigError(
                f"data.uri must look like 'SCHEME:NAME_OR_PATH' (e.g. 'builtin:digits', "
                f"'folder:path/to/images'). Received: '{self.uri}'."
            )
        scheme, _, rest = self.uri.partition(":")
        if scheme not in DATA_SCHEMES:
            raise ConfigError(
                f"The data.uri scheme must be one of {list(DATA_SCHEMES)}. Received: '{scheme}' "
                f"(in '{self.uri}')." + closest_hint(scheme, list(DATA_SCHEMES))
            )
        if scheme == "builtin" and rest not in BUILTINS:
            raise ConfigError(
                f"data.uri: Unknown built-in dataset '{rest}'. Known built-in datasets: "
                f"{sorted(BUILTINS)}.{closest_hint(rest, list(BUILTINS))} See `tasklab datasets`."
            )
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise ConfigError(
                f"data.encoding: unknown text encoding '{self.encoding}'. Use a Python codec "
                "name such as utf-8, cp1252 or latin-1."
            ) from None
        if self.val_fraction + self.test_fraction >= 0.9:
            raise ConfigError(
                "data.val_fraction + data.test_fraction must leave at least 10% for training. "
                f"Received: {self.val_fraction} + {self.test_fraction}."
            )


# The kind of data each nested `data` section applies to; a run of another kind ignores it
# (the report leaves it out of the resolved config it shows).
DATA_SECTION_KINDS = {
    "tokenizer": ("text",),
    "audio": ("audio",),
    "synthesis": ("audio",),
    "scenes": ("segmentation",),
    "image": ("image", "segmentation"),
}


@dataclasses.dataclass(frozen=True)
class TrainConfig(Section):
    """How the model is fitted.

    Attributes:
        epochs: the maximum number of epochs.
        batch_size: examples per replica per step; the global batch is this
            times the number of replicas.
        learning_rate: peak learning rate (AdamW).
        schedule: `cosine` (linear warm-up, then cosine decay to 0) or `constant`.
        warmup_epochs: length of the warm-up, in epochs (cosine only).
        weight_decay: AdamW's decoupled weight decay.
        patience: early stopping: epochs without improvement of the validation
            loss before stopping (the best weights are restored); null disables it.
        deterministic: enable TensorFlow's op determinism (slower; identical
            results for identical seeds on the same machine).
        mixed_precision: compute in 16 bits with float32 variables:
            `mixed_float16` (with loss scaling) on GPUs, `mixed_bfloat16` on
            TPUs and CPUs. Outputs and signal front ends stay float32, and the
            trained model is saved, evaluated and exported in float32.
        jit_compile: compile the training step with XLA (true or false); null
            lets Keras decide (XLA on GPUs when the model supports it, off on CPUs).
        stop_at: stop training at the end of the first epoch whose logged value
            reaches a target, written `KEY >= VALUE` or `KEY <= VALUE` with a
            key of `history.json` (`val_accuracy >= 0.95`, `val_rmse <= 60`);
            null trains until `epochs` or early stopping.
    """

    where: ClassVar[str] = "train"

    epochs: Count = 20
    batch_size: Count = 64
    learning_rate: Annotated[float, Gt(0)] = 1e-3
    schedule: Literal["cosine", "constant"] = "cosine"
    warmup_epochs: Annotated[float, Ge(0)] = 1.0
    weight_decay: Annotated[float, Ge(0)] = 1e-4
    patience: Count | None = 5
    deterministic: bool = False
    mixed_precision: bool = False
    jit_compile: bool | None = None
    stop_at: str | None = None

    def check(self) -> None:
        if self.stop_at is not None:
            parse_stop_at(self.stop_at)  # A malformed target fails here, not at the first epoch.

    @property
    def target(self) -> StopAt | None:
        """`stop_at` parsed, or None when it is null."""
        return None if self.stop_at is None else parse_stop_at(self.stop_at)


class StopAt(typing.NamedTuple):
    """A parsed `train.stop_at`: stop once `logs[metric] op value` holds."""

    metric: str
    op: Literal[">=", "<="]
    value: float

    def reached(self, logs: Mapping[str, float]) -> bool:
        """Whether an epoch's logs reach the target (False when the key is missing)."""
        logged = logs.get(self.metric)
        if logged is None:
            return False
        return logged >= self.value if self.op == ">=" else logged <= self.value

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"

    def stop_message(self, epoch: int) -> str:
        """What training prints when the 1-based `epoch` reached the target."""
        return f"Reached {self} in epoch {epoch}: training stops."


_STOP_AT = re.compile(
    r"^\s*(?P<metric>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>>=|<=)\s*(?P<value>\S+)\s*$"
)


def parse_stop_at(text: str) -> StopAt:
    """Parses `train.stop_at` (`KEY >= VALUE` or `KEY <= VALUE`).

    Raises:
        ConfigError: naming the expected form.
    """
    match = _STOP_AT.match(str(text))
    value = None
    if match:
        try:
            value = float(match["value"])
        except ValueError:
            value = None
    if value is None or value != value:  # NaN never compares true: it would never stop.
        raise ConfigError(
            f"train.stop_at must read 'KEY >= VALUE' or 'KEY <= VALUE' with a logged key and a "
            f"number, e.g. 'val_accuracy >= 0.95' or 'val_rmse <= 60'. Received: '{text}'."
        )
    return StopAt(match["metric"], match["op"], value)


@dataclasses.dataclass(frozen=True)
class StrategyConfig(Section):
    """Which `tf.distribute` strategy trains the model.

    Attributes:
        name: `auto` (TPU if one resolves, else all GPUs mirrored, else CPU),
            `cpu`, `mirrored`, `multi_worker` or `tpu`.
        devices: number of replicas for `mirrored`. On a machine without GPUs
            the CPU is split into that many logical devices. Default: all GPUs,
            or 1 on a CPU-only machine.
        tpu: the TPU's name or `grpc://` address for `tpu` (default `local`,
            a TPU attached to this host). Setting it makes `auto` try it.
        cluster: `multi_worker` without `TF_CONFIG`: every worker's
            `host:port`, the chief (worker 0) first. Default: `TF_CONFIG`, or
            one local worker when that is unset too.
        task_index: this process's index in `cluster`.
    """

    where: ClassVar[str] = "strategy"

    name: Literal["auto", "cpu", "mirrored", "multi_worker", "tpu"] = "auto"
    devices: Count | None = None
    tpu: str | None = None
    cluster: (
        Annotated[
            tuple[Annotated[str, Pattern(r":[0-9]+$", "host:port")], ...],
            MinLen(1),
            Why("every worker's host:port"),
        ]
        | None
    ) = None
    task_index: Annotated[int, Ge(0)] | None = None

    def check(self) -> None:
        if self.devices is not None and self.name not in ("mirrored", "auto"):
            raise ConfigError(
                f"strategy.devices applies to the 'mirrored' strategy only. Received "
                f"devices={self.devices} with strategy.name='{self.name}'. "
                "Set strategy.name: mirrored, or remove strategy.devices."
            )
        self._check_cluster()

    def _check_cluster(self) -> None:
        if (self.cluster is not None or self.task_index is not None) and (
            self.name != "multi_worker"
        ):
            raise ConfigError(
                "strategy.cluster and strategy.task_index apply to the 'multi_worker' strategy "
                f"only. Received strategy.name='{self.name}'. Set strategy.name: multi_worker."
            )
        if (self.cluster is None) != (self.task_index is None):
            raise ConfigError(
                "strategy.cluster and strategy.task_index go together: the list of every "
                "worker's host:port and this process's index in it."
            )
        if self.cluster is not None and self.task_index >= len(self.cluster):
            raise ConfigError(
                f"strategy.task_index must be between 0 and {len(self.cluster) - 1} (the "
                f"cluster has {len(self.cluster)} workers). Received: {self.task_index}."
            )


@dataclasses.dataclass(frozen=True)
class CompareConfig(Section):
    """How the model is compared with the baselines.

    Attributes:
        cv_max_rows: datasets up to this many examples are compared by
            repeated k-fold cross-validation (every model refitted per fold);
            larger ones on the single held-out split only.
        repeats: repetitions of the k-fold split (5 x 2 folds enables
            Dietterich's 5x2cv t-test; other shapes use the corrected
            resampled t-test).
        folds: k of the k-fold split.
        alpha: significance level of the verdict.
        cv_budget: how much the cross-validation's Keras refits may train, in
            all folds together, as a multiple of the examples the run's own
            training processed (epochs x train examples): each fold gets the
            epochs that fit, at most `train.epochs`, with the learning-rate
            schedule (warm-up included) sized to them. null: every fold trains
            `train.epochs`, like the run.
    """

    where: ClassVar[str] = "compare"

    cv_max_rows: int = 10_000
    repeats: Count = 5
    folds: Annotated[int, Ge(2)] = 2
    alpha: Annotated[float, Gt(0), Lt(1)] = 0.05
    cv_budget: Annotated[float, Gt(0)] | None = 2.5


EXPORT_VARIANTS = ("float32", "float16", "dynamic_int8", "int8")


@dataclasses.dataclass(frozen=True)
class GateConfig(Section):
    """The parity gate one exported variant must pass against the Keras model.

    Attributes:
        min_agreement: least fraction of test examples whose top-1 class equals
            the Keras model's (classification only; regression has no classes).
        max_abs_diff: largest allowed absolute difference of any output value:
            of probabilities, or, for predicted values, relative to the Keras
            outputs' largest magnitude (at least 1); null: not checked.
        max_metric_drop: largest allowed loss in the primary test metric: in
            absolute terms for scores (accuracy 0.99 -> 0.98 is a drop of 0.01),
            relative to the Keras value for errors (RMSE 50 -> 50.5 is 0.01);
            null: not checked.
    """

    where: ClassVar[str] = "export.VARIANT"

    min_agreement: Annotated[float, Ge(0), Le(1)] = 0.98
    max_abs_diff: Annotated[float, Ge(0)] | None = None
    max_metric_drop: Annotated[float, Ge(0)] | None = 0.01


@dataclasses.dataclass(frozen=True)
class ExportConfig(Section):
    """LiteRT export: which variants, how they are calibrated, checked and timed.

    Attributes:
        variants: the LiteRT variants to export (`[]` turns the stage off):
            `float32`, `float16` (weights), `dynamic_int8` (int8 weights) and
            `int8` (full integer, int8 input and output).
        allow_flex: accept models that need Flex (select TF) ops; the device
            must then link the Flex delegate.
        representative_size: train examples (stratified) that calibrate `int8`.
        num_threads: LiteRT interpreter threads for the timings (1, like a
            small device).
        latency_runs: timed single-example invocations (after 10 warm-up ones).
        triage_layers: when `int8` fails its gate, this many of the layers
            with the worst quantization error are kept in float for a retry
            (`int8_selective`); if that fails too, every layer up to the
            worst one is (`int8_float_front`). Speech models first retry with
            their log-mel front end in float (`int8_float_frontend`). 0 turns
            the triage off.
        float32: gate of the float32 variant.
        float16: gate of the float16 variant.
        dynamic_int8: gate of the dynamic-range int8 variant.
        int8: gate of the full-integer int8 variant (and of its triage retry).
    """

    where: ClassVar[str] = "export"

    variants: Annotated[
        tuple[Literal["float32", "float16", "dynamic_int8", "int8"], ...], Distinct()
    ] = EXPORT_VARIANTS
    allow_flex: bool = False
    representative_size: Count = 300
    num_threads: Count = 1
    latency_runs: Count = 100
    triage_layers: Annotated[int, Ge(0)] = 3
    float32: GateConfig = GateConfig(min_agreement=0.999, max_abs_diff=1e-4, max_metric_drop=None)
    float16: GateConfig = GateConfig(min_agreement=0.99, max_metric_drop=0.005)
    dynamic_int8: GateConfig = GateConfig(min_agreement=0.98, max_metric_drop=0.01)
    int8: GateConfig = GateConfig(min_agreement=0.98, max_metric_drop=0.01)

    def gate(self, variant: str) -> GateConfig:
        """The gate of a variant (the triage retries of `int8`, `int8_*`, use `int8`'s)."""
        return self.int8 if variant.startswith("int8_") else getattr(self, variant)


@dataclasses.dataclass(frozen=True)
class ExplainConfig(Section):
    """Explanations of the trained model (and of the XGBoost baseline), and their checks.

    Attributes:
        methods: the explanation methods to run (default: every method the
            task lists; `[]` turns the stage off). See `tasklab explain --help`.
        examples: test examples explained by every method (default: the
            task's, 16 images or up to 1000 table rows); images are chosen
            half misclassified where there are that many, the rest correct.
        background: train examples SHAP integrates over for the Keras model.
        batch_size: examples (or interpolation points) per model call.
        ig_steps: Integrated Gradients' intervals along the path; an example
            whose attributions miss completeness (`completeness_tolerance`) is
            refined by doubling them, up to `ig_max_steps` (set it equal to
            `ig_steps` for a fixed count).
        ig_max_steps: the most intervals that refinement doubles up to (at
            least `ig_steps`).
        smoothgrad_samples: noisy copies SmoothGrad averages.
        smoothgrad_noise: SmoothGrad's noise, as a fraction of the input's range.
        gradcam_layer: the layer Grad-CAM reads (default: the model's last
            top-level convolution).
        max_randomization_correlation: the randomization check passes when the
            mean Spearman correlation between the trained and the randomized
            model's attributions stays below this.
        deletion_steps: points of the deletion curve (fractions of features deleted).
        deletion_random_orders: random deletion orders averaged for the reference curve.
        completeness_tolerance: Integrated Gradients passes completeness when
            every example's attributions sum to f(x) - f(baseline) within this
            relative error.
        tree_additivity_tolerance: largest allowed |base + sum - output| of
            Tree SHAP (margin units; for predicted values, relative to the
            largest explained value, at least 1).
        keras_additivity_tolerance: the same for SHAP of the Keras model
            (output units, e.g. probability), where the algorithm promises it.
    """

    where: ClassVar[str] = "explain"

    methods: Annotated[tuple[str, ...], Distinct()] | None = None
    examples: Annotated[int, Ge(2), Why("the checks compare examples")] | None = None
    background: Count = 100
    batch_size: Count = 64
    ig_steps: Count = 64
    ig_max_steps: Count = 4096
    smoothgrad_samples: Count = 25
    smoothgrad_noise: Annotated[float, Gt(0)] = 0.15
    gradcam_layer: str | None = None
    max_randomization_correlation: Annotated[float, Ge(-1), Le(1)] = 0.5
    deletion_steps: Count = 20
    deletion_random_orders: Count = 3
    completeness_tolerance: Annotated[float, Gt(0)] = 0.05
    tree_additivity_tolerance: Annotated[float, Gt(0)] = 1e-4
    keras_additivity_tolerance: Annotated[float, Gt(0)] = 0.01

    def check(self) -> None:
        if self.ig_max_steps < self.ig_steps:
            raise ConfigError(
                f"explain.ig_max_steps ({self.ig_max_steps}) must be >= explain.ig_steps "
                f"({self.ig_steps})."
            )


@dataclasses.dataclass(frozen=True)
class ModelConfig(Section):
    """Which model the task builds, and its options.

    In YAML the options sit beside `name` (`model: {name: small_cnn, dropout: 0.2}`);
    the valid options depend on the model and are listed by the error for an
    unknown one.

    Attributes:
        name: a model registered for the task.
        options: the model's options dataclass, defaults filled in.
    """

    where: ClassVar[str] = "model"

    name: str
    options: Any


@dataclasses.dataclass(frozen=True)
class RunConfig(Section):
    """One experiment: a task on a dataset, trained under a strategy.

    Attributes:
        name: the experiment's name, used for the run directory.
        task: a registered task (see `tasklab run --help`).
        data: the dataset and its splits.
        model: the model and its options.
        train: the training settings.
        strategy: the distribution strategy.
        seed: seeds Python, NumPy, TensorFlow and the data splits.
        baselines: the classical baselines to compare with (default: all;
            `[]` turns the comparison off).
        compare: how the comparison is run.
        export: the LiteRT export and its parity gate.
        explain: the explanations and their sanity checks.
    """

    name: Annotated[
        str,
        Pattern(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", "letters, digits, '_', '.' or '-'"),
        Why("it names the run directory"),
    ]
    task: str
    data: DataConfig
    model: ModelConfig
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    strategy: StrategyConfig = dataclasses.field(default_factory=StrategyConfig)
    seed: int = 0
    baselines: tuple[str, ...] | None = None
    compare: CompareConfig = dataclasses.field(default_factory=CompareConfig)
    export: ExportConfig = dataclasses.field(default_factory=ExportConfig)
    explain: ExplainConfig = dataclasses.field(default_factory=ExplainConfig)


_SECTIONS = {
    "data": DataConfig,
    "train": TrainConfig,
    "strategy": StrategyConfig,
    "compare": CompareConfig,
    "export": ExportConfig,
    "explain": ExplainConfig,
}


def load_config(path: str | Path, overrides: Iterable[str] = ()) -> RunConfig:
    """Reads a YAML config file (or a shipped config by name), applies overrides, validates it.

    Args:
        path: the YAML file, or the name of a config shipped with tasklab
            (`digits` is its `digits.yaml`; see `shipped_configs`).
        overrides: `dotted.key=value` strings; each value is parsed as YAML.

    Returns:
        The validated config.

    Raises:
        ConfigError: on a missing file, bad YAML or an invalid value.
    """
    source = config_source(path)
    try:
        if isinstance(source, Path):
            raw = read_yaml_file(source, f"Config file '{path}'")
        else:  # A shipped config: package data, trusted and small.
            raw = parse_yaml(source.read_text(encoding="utf-8"), f"Config '{path}'")
    except YAMLInputError as error:
        raise ConfigError(str(error)) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"Config file '{path}' must hold a mapping of sections at top level.")
    return parse_config(apply_overrides(raw, overrides))


def config_source(path: str | Path) -> Path | Traversable:
    """The config file `path` names: a file, else a shipped config of that name.

    Raises:
        ConfigError: when it is neither, listing the shipped configs.
    """
    file = Path(path)
    if file.is_file():
        return file
    shipped = _shipped_dir() / f"{file.name}.yaml"
    if file.suffix == "" and len(file.parts) == 1 and shipped.is_file():
        return shipped
    raise ConfigError(
        f"Config file '{path}' does not exist. Check the path, or name a config shipped with "
        f"tasklab: {', '.join(shipped_configs())} (e.g. `tasklab run digits`)."
        + closest_hint(file.stem, shipped_configs())
    )


def shipped_configs() -> list[str]:
    """The names of the configs shipped with tasklab (`tasklab run NAME`)."""
    return sorted(
        entry.name.removesuffix(".yaml")
        for entry in _shipped_dir().iterdir()
        if entry.name.endswith(".yaml")
    )


def _shipped_dir() -> Traversable:
    return importlib.resources.files("tasklab.configs")


def apply_overrides(raw: dict, overrides: Iterable[str]) -> dict:
    """Returns a copy of `raw` with each `dotted.key=value` override set.

    Args:
        raw: the config as loaded from YAML.
        overrides: strings like `train.epochs=5` or `export.variants=[float32,int8]`.

    Returns:
        The updated mapping (the input is not modified).
    """
    result = _deep_copy(raw)
    for override in overrides:
        key, sep, text = override.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"An override must look like 'section.key=value'. Received: '{override}'."
            )
        try:
            value = parse_yaml(text, f"The value in override '{override}'")
        except YAMLInputError as error:
            raise ConfigError(str(error)) from None
        target = result
        *parents, leaf = key.strip().split(".")
        for part in parents:
            child = target.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"Cannot set '{key}': '{part}' is not a section.")
            target = child
        target[leaf] = value
    return result


def parse_config(raw: Mapping[str, Any]) -> RunConfig:
    """Validates a config mapping into a `RunConfig`.

    Args:
        raw: the mapping (as read from YAML, overrides applied).

    Returns:
        The validated, frozen config with every default filled in.
    """
    check_keys(raw, [f.name for f in dataclasses.fields(RunConfig)], where="")
    for required in ("name", "task", "data"):
        if required not in raw:
            raise ConfigError(f"The config needs a top-level '{required}'.")
    hints = field_types(RunConfig)
    name = coerce(raw["name"], str, "name")
    check_declared(name, hints["name"], "name")
    task_name = coerce(raw["task"], str, "task")
    sections = {key: parse_section(cls, raw.get(key, {}), key) for key, cls in _SECTIONS.items()}
    return RunConfig(
        name=name,
        task=task_name,
        model=parse_model_config(task_name, raw.get("model") or {}),
        seed=coerce(raw.get("seed", 0), int, "seed"),
        baselines=parse_baselines(raw.get("baselines")),
        **sections,
    )


def parse_baselines(raw: Any) -> tuple[str, ...] | None:
    """Validates the `baselines` list against the known baselines (None: the task's)."""
    names = coerce(raw, tuple[str, ...] | None, "baselines")
    known = list(BASELINE_NAMES)
    for name in names or ():
        if name not in known:
            raise ConfigError(
                f"The 'baselines' option lists unknown baseline '{name}'. Known baselines: "
                f"{known}." + closest_hint(name, known)
            )
    return names


def parse_model_config(task_name: str, raw: Mapping[str, Any]) -> ModelConfig:
    """Validates the `model` section against the task's models (`model_options`).

    Args:
        task_name: the task whose models are valid.
        raw: the `model` mapping: `name` plus the model's options.

    Returns:
        The model config with its options dataclass.
    """

    if task_name not in MODEL_OPTIONS:
        raise ConfigError(
            f"task: Unknown task '{task_name}'. Known tasks: {sorted(MODEL_OPTIONS)}."
            + closest_hint(task_name, list(MODEL_OPTIONS))
        )
    if not isinstance(raw, Mapping):
        raise ConfigError(f"model must be a mapping. Received: {raw!r}.")
    options = dict(raw)
    model_name = coerce(options.pop("name", default_model(task_name)), str, "model.name")
    models = MODEL_OPTIONS[task_name]
    if model_name not in models:
        raise ConfigError(
            f"model.name: Unknown {task_name} model '{model_name}'. Known {task_name} models: "
            f"{sorted(models)}." + closest_hint(model_name, list(models))
        )
    return ModelConfig(name=model_name, options=parse_section(models[model_name], options, "model"))


def config_to_dict(config: Any) -> Any:
    """Turns a config (or any nested dataclass) into plain YAML/JSON data.

    The model's options are flattened beside its name, as in the YAML.

    Args:
        config: a dataclass instance, or a plain value.

    Returns:
        Dicts, lists and scalars only.
    """
    if isinstance(config, ModelConfig):
        return {"name": config.name, **config_to_dict(config.options)}
    if dataclasses.is_dataclass(config):
        return {f.name: config_to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, tuple | list):
        return [config_to_dict(item) for item in config]
    return config


def dump_config(config: RunConfig) -> str:
    """Returns the fully resolved config as YAML (every default written out)."""
    return yaml.safe_dump(config_to_dict(config), sort_keys=False)


def _deep_copy(raw: Any) -> Any:
    if isinstance(raw, dict):
        return {key: _deep_copy(value) for key, value in raw.items()}
    if isinstance(raw, list):
        return [_deep_copy(item) for item in raw]
    return raw
