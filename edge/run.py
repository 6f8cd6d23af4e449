"""The edge reference runner: a bundle and raw inputs in, predicted labels out.

    python -m tasklab.edge runs/digits-.../export digit.png
    python -m tasklab.edge runs/breast_cancer-.../export rows.csv --variant int8
    python -m tasklab.edge runs/fortunes_lang-.../export note.txt --text "Dobrý den"

Uses only the LiteRT runtime (`ai_edge_litert`), numpy, the standard library
and Pillow for image files: never TensorFlow. It is what a device runs, and
the reference a port to another language is checked against. Image inputs
are image files; tabular inputs are CSV files with a header (one prediction
per row; the target column may be present and is ignored); text inputs are
text files (one text per file, UTF-8) or `--text` strings, tokenized in plain
Python exactly as the training pipeline's `TextVectorization`. A segmentation
bundle writes each image's mask and overlay (`mask_files`) into `--output-dir`:

    python -m tasklab.edge runs/textured_shapes-.../export scene.png --output-dir masks
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .bundle_spec import PREPROCESSING_FILE, bundle_file, check_matches_model, read_spec
from .edge_inputs import (
    TEXT_SUFFIXES,
    EdgeInputError,
    encode_row,
    load_audio,
    load_image,
    read_csv_rows,
    read_text,
)
from .image_io import IMAGE_SUFFIXES
from .litert import LiteRTModel
from .mask_files import unique_stems, write_mask_files
from .outputs import OUTPUT_READERS
from .text_tokens import TextTokenizer

MAX_THREADS = 64


class EdgeBundle:
    """An export bundle: its `preprocessing.json` and one loaded LiteRT variant.

    Args:
        directory: the bundle (`RUN_DIR/export`).
        variant: the variant to run (default: the bundle's `default_variant`,
            the smallest that passed its parity gate).
        num_threads: LiteRT interpreter threads.
    """

    def __init__(self, directory: Path, variant: str | None = None, num_threads: int = 1):
        self.directory = Path(directory)
        self.spec = read_spec(self.directory)
        spec_file = str(self.directory / PREPROCESSING_FILE)
        self.variant = variant or self.spec["default_variant"]
        if self.variant not in self.spec["variants"]:
            raise EdgeInputError(
                f"The bundle has no variant '{self.variant}'. Its variants: "
                f"{sorted(self.spec['variants'])}."
            )
        model_file = bundle_file(
            self.directory,
            self.spec["variants"][self.variant]["file"],
            f"the model file of variant '{self.variant}'",
        )
        if not 1 <= num_threads <= MAX_THREADS:
            raise EdgeInputError(f"--threads must be 1 to {MAX_THREADS}. Received: {num_threads}.")
        try:
            self.model = LiteRTModel(model_file, num_threads=num_threads)
        except (ValueError, RuntimeError) as error:
            reason = " ".join(str(error).split())[:200]
            raise EdgeInputError(
                f"{model_file} is not a model the LiteRT runtime can load ({reason}). Export "
                "the run again (`tasklab export RUN_DIR`)."
            ) from None
        check_matches_model(self.spec, self.model.example_shape, self.model.output_shape, spec_file)
        self.tokenizer = TextTokenizer(self.spec["input"]) if self.kind == "text" else None

    @property
    def kind(self) -> str:
        """What the model's raw input is: `image`, `tabular`, `text` or `audio`."""
        return self.spec["input"]["kind"]

    def text_input(self, text: str) -> np.ndarray:
        """The token ids of one raw text.

        Raises:
            EdgeInputError: when the bundle's model does not take texts.
        """
        if self.tokenizer is None:
            raise EdgeInputError(f"This bundle's model takes {self.kind} inputs, not texts.")
        return self.tokenizer(text)

    def inputs_from(self, path: Path) -> Iterator[tuple[str, np.ndarray]]:
        """Yields `(name, model input)` for one input file (a CSV file gives one per row),
        or for every file of the bundle's input kind under a folder, in sorted order."""
        if path.is_dir():
            files = self.files_in(path)
            if not files:
                raise EdgeInputError(
                    f"The folder '{path}' holds no {' or '.join(self.suffixes())} files, the "
                    f"inputs of this bundle's {self.kind} model."
                )
            for file in files:
                yield from self.inputs_from(file)
            return
        if not path.is_file():
            raise EdgeInputError(f"The input '{path}' does not exist.")
        described = self.spec["input"]
        if described["kind"] == "image":
            yield str(path), load_image(path, described)
        elif described["kind"] == "tabular":
            for number, row in enumerate(read_csv_rows(path, described["columns"]), start=1):
                yield f"{path}:row {number}", encode_row(row, described["columns"])
        elif described["kind"] == "text":
            yield str(path), self.text_input(read_text(path))
        elif described["kind"] == "audio":
            yield str(path), load_audio(path, described)
        else:
            raise EdgeInputError(f"This runner cannot read '{described['kind']}' inputs.")

    def suffixes(self) -> tuple[str, ...]:
        """The file suffixes of this bundle's inputs, as the training folders read them."""
        if self.kind == "audio":
            from .audio_io import AUDIO_SUFFIXES  # Only audio bundles need scipy.

            return AUDIO_SUFFIXES
        return {"image": IMAGE_SUFFIXES, "text": TEXT_SUFFIXES, "tabular": (".csv",)}[self.kind]

    def files_in(self, folder: Path) -> list[Path]:
        """The files under `folder` (and its sub-folders) that this bundle's model reads."""
        suffixes = self.suffixes()
        return sorted(
            file for file in folder.rglob("*") if file.suffix.lower() in suffixes and file.is_file()
        )

    def predict(self, inputs: np.ndarray) -> list[dict[str, Any]]:
        """Runs the model on model-ready inputs; returns one prediction per input."""
        read = OUTPUT_READERS[self.spec["output"]["kind"]]
        return read(self.model.predict(inputs), self.spec.get("class_names", []))


def main(argv: Sequence[str] | None = None) -> int:
    """Prints one prediction per input (tab-separated, or JSON lines with `--json`)."""
    parser = argparse.ArgumentParser(
        prog=_prog(),
        description="Runs an exported LiteRT model on raw inputs (image files, CSV rows, texts or "
        "WAV files).",
    )
    parser.add_argument("bundle", type=Path, help="the export/ folder of a run")
    parser.add_argument(
        "inputs",
        type=Path,
        nargs="*",
        help="image, CSV, text or WAV files, or folders of them (read with their sub-folders)",
    )
    parser.add_argument(
        "--text", action="append", default=[], help="a text to classify (repeatable; text models)"
    )
    parser.add_argument("--variant", help="the variant to run (default: the bundle's default)")
    parser.add_argument("--threads", type=int, default=1, help="interpreter threads (default 1)")
    parser.add_argument("--json", action="store_true", help="print JSON lines")
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=Path("."),
        help="where a segmentation model's NAME.mask.png and NAME.overlay.png go "
        "(default: the current directory)",
    )
    args = parser.parse_args(argv)
    try:
        bundle = EdgeBundle(args.bundle, args.variant, args.threads)
        named = [item for path in args.inputs for item in bundle.inputs_from(path)]
        named += [(repr(text), bundle.text_input(text)) for text in args.text]
    except EdgeInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (KeyError, TypeError) as error:
        # The checked keys are checked up front; the rest of a kind's input section is
        # read where it is used, and a missing or mistyped one lands here.
        print(
            f"error: {args.bundle / PREPROCESSING_FILE} lacks, or mistypes, a setting of its "
            f"input ({type(error).__name__}: {error}). The bundle was damaged or edited: "
            "export the run again (`tasklab export RUN_DIR`).",
            file=sys.stderr,
        )
        return 2
    if not named:
        print("error: nothing to predict: give input files (or --text).", file=sys.stderr)
        return 2
    predictions = bundle.predict(np.stack([model_input for _, model_input in named]))
    if bundle.spec["output"]["kind"] == "pixel_probabilities":
        try:
            write_masks(named, predictions, len(bundle.spec["class_names"]), args.output_dir)
        except OSError as error:
            print(
                f"error: cannot write the masks into '{args.output_dir}' "
                f"({error.strerror or error}). Pass a writable --output-dir.",
                file=sys.stderr,
            )
            return 2
    for (name, _), prediction in zip(named, predictions, strict=True):
        if args.json:
            print(json.dumps({"input": name, "variant": bundle.variant, **prediction}))
        elif "mask_file" in prediction:
            classes = ", ".join(f"{c} {share:.1%}" for c, share in prediction["classes"].items())
            print(f"{name}\t{prediction['mask_file']}\t{classes}")
        elif "label" in prediction:
            print(f"{name}\t{prediction['label']}\t{prediction['score']:.4f}")
        else:
            print(f"{name}\t{prediction['value']:.6g}")
    return 0


def write_masks(
    named: list[tuple[str, np.ndarray]],
    predictions: list[dict[str, Any]],
    classes: int,
    folder: Path,
) -> None:
    """Writes each image's mask and overlay files; each prediction then names them
    (`mask_file`, `overlay_file`) instead of holding the mask array."""
    sources = [Path(name) for name, _ in named]
    for source, stem, prediction in zip(sources, unique_stems(sources), predictions, strict=True):
        mask_path, overlay_path = write_mask_files(
            source, prediction.pop("mask"), classes, folder, stem
        )
        prediction["mask_file"], prediction["overlay_file"] = str(mask_path), str(overlay_path)


def _prog() -> str:
    """How this runner was started: `python -m tasklab.edge`, or `python -m runner` in a bundle."""
    return f"python -m {__package__}"


if __name__ == "__main__":
    sys.exit(main())
