"""Hostile edge bundles and inputs: the runner reads only its own files, in bounded memory.

A bundle is handed to a device by someone else, so every byte of it is
untrusted: `preprocessing.json` may name files outside the bundle, describe
shapes the model does not have, or lack keys; the inputs may be images built to
exhaust memory. Each case: exit status 2, one `error:` line, no traceback, and
the memory cases under a 2 GB address-space cap (the runner imports no
TensorFlow).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import write_image
from tests.hostile.harness import EDGE_RUNNER, assert_refused, capped, edge
from tests.image_files import write_png_bomb

SPEC = "preprocessing.json"


@pytest.fixture(scope="session")
def png_bomb(tmp_path_factory) -> Path:
    """12000 x 12000 gray zeros: 140 KB on disk, 144 MP (2.3 GB as float RGBA)."""
    return write_png_bomb(tmp_path_factory.mktemp("bomb") / "bomb.png", 12_000)


@pytest.fixture
def digit_png(tmp_path) -> Path:
    return write_image(tmp_path / "digit.png", np.full((8, 8, 1), 200, np.uint8))


def edit_spec(bundle: Path, change) -> None:
    spec = json.loads((bundle / SPEC).read_text())
    change(spec)
    (bundle / SPEC).write_text(json.dumps(spec))


def float_file(bundle: Path) -> str:
    return json.loads((bundle / SPEC).read_text())["variants"]["float32"]["file"]


def test_the_intact_bundle_predicts(bundle, digit_png, capfd):
    outcome = edge(capfd, str(bundle), str(digit_png))
    assert outcome.status == 0 and str(digit_png) in outcome.stdout, outcome.stderr


def test_a_folder_of_inputs_is_read_with_its_sub_folders_in_sorted_order(bundle, tmp_path, capfd):
    for name in ("b/2.png", "a/1.png", "a/3.PNG"):
        (tmp_path / "inputs" / name).parent.mkdir(parents=True, exist_ok=True)
        write_image(tmp_path / "inputs" / name, np.full((8, 8, 1), 200, np.uint8))
    (tmp_path / "inputs" / "a" / "notes.txt").write_text("not an input of an image model")
    outcome = edge(capfd, str(bundle), str(tmp_path / "inputs"))
    assert outcome.status == 0, outcome.stderr
    names = [line.split("\t")[0] for line in outcome.stdout.splitlines()]
    assert names == [str(tmp_path / "inputs" / n) for n in ("a/1.png", "a/3.PNG", "b/2.png")]


def test_a_folder_without_inputs_of_the_model_s_kind_is_one_error_line(bundle, tmp_path, capfd):
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "word.wav").write_bytes(b"RIFF")
    outcome = edge(capfd, str(bundle), str(tmp_path / "clips"))
    assert_refused(outcome, "clips", ".png", "image model")


def test_a_decompression_bomb_is_refused_in_bounded_memory(bundle, png_bomb, tmp_path):
    outcome = capped([*EDGE_RUNNER, str(bundle), str(png_bomb)], tmp_path)
    assert_refused(outcome, "bomb.png", "12000 x 12000", "max_pixels")


def test_a_bundle_asking_for_a_huge_input_is_refused_in_bounded_memory(bundle, digit_png, tmp_path):
    edit_spec(bundle, lambda spec: spec["input"].update(height=100_000, width=100_000))
    outcome = capped([*EDGE_RUNNER, str(bundle), str(digit_png)], tmp_path)
    assert_refused(outcome, SPEC, "[100000, 100000, 1]", "[8, 8, 1]")


def _variant_file(name):
    return lambda spec: spec["variants"]["float32"].update(file=name)


SPEC_CASES = {
    # name: (change to preprocessing.json, words the error must name)
    "parent_path": (_variant_file("../../../../etc/passwd"), ("outside the bundle",)),
    "absolute_path": (_variant_file("/etc/passwd"), ("outside the bundle", "/etc/passwd")),
    "missing_model": (_variant_file("gone.tflite"), ("gone.tflite", "lacks")),
    "no_input": (lambda spec: spec.pop("input"), ("lacks the key 'input'",)),
    "no_variants": (lambda spec: spec.pop("variants"), ("'variants'",)),
    "empty_variants": (lambda spec: spec.update(variants={}), ("'variants' is empty",)),
    "variant_not_object": (lambda spec: spec["variants"].update(float32="x"), ("float32",)),
    "no_default": (lambda spec: spec.pop("default_variant"), ("default_variant",)),
    "unknown_default": (lambda spec: spec.update(default_variant="int3"), ("int3",)),
    "problem_not_a_string": (lambda spec: spec.update(problem=3), ("problem", "str")),
    "unknown_output": (lambda spec: spec["output"].update(kind="ranking"), ("output", "ranking")),
    "no_output": (lambda spec: spec.pop("output"), ("lacks the key 'output'",)),
    "unknown_kind": (lambda spec: spec["input"].update(kind="video"), ("kind", "video")),
    "too_few_classes": (lambda spec: spec.update(class_names=["0", "1"]), ("2 classes", "10")),
    "class_names_not_strings": (lambda spec: spec.update(class_names=[1] * 10), ("class_names",)),
    "height_a_string": (lambda spec: spec["input"].update(height="8"), ("height", "int")),
    "negative_width": (lambda spec: spec["input"].update(width=-8), ("> 0",)),
    "wrong_channels": (lambda spec: spec["input"].update(channels=3), ("[8, 8, 3]", "[8, 8, 1]")),
    "no_channels": (lambda spec: spec["input"].pop("channels"), ("channels",)),
    "bad_alpha": (lambda spec: spec["input"].update(alpha="sometimes"), ("alpha",)),
    "background_a_number": (lambda spec: spec["input"].update(background=7), (SPEC,)),
    "audio_rate_absurd": (
        lambda spec: spec["input"].update(kind="audio", sample_rate=10**12, clip_samples=64),
        ("sample_rate",),
    ),
    "empty_object": (lambda spec: spec.clear(), ("lacks the key",)),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(SPEC_CASES))
def test_a_damaged_preprocessing_json_is_one_error_line(case, bundle, digit_png, capfd):
    change, words = SPEC_CASES[case]
    edit_spec(bundle, change)
    assert_refused(edge(capfd, str(bundle), str(digit_png)), *words)


def test_a_model_file_linked_out_of_the_bundle_is_refused(bundle, digit_png, tmp_path, capfd):
    outside = tmp_path / "elsewhere.tflite"
    (bundle / float_file(bundle)).rename(outside)
    os.symlink(outside, bundle / float_file(bundle))
    assert_refused(edge(capfd, str(bundle), str(digit_png)), "outside the bundle")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"not json", ("not valid JSON", "line 1")),
        (b"[" * 100_000 + b"]" * 100_000, ("too deeply",)),
        ('{"a": "Zürich"}'.encode("latin-1"), ("UTF-8",)),
        (b"[1, 2]", ("JSON object",)),
    ],
    ids=["garbage", "nested", "latin1", "list"],
)
def test_an_unreadable_preprocessing_json_is_one_error_line(
    content, words, bundle, digit_png, capfd
):
    (bundle / SPEC).write_bytes(content)
    assert_refused(edge(capfd, str(bundle), str(digit_png)), SPEC, *words)


def test_a_preprocessing_json_of_gigabytes_is_refused_unread(bundle, digit_png, tmp_path):
    with (bundle / SPEC).open("wb") as file:
        file.truncate(4 << 30)  # Sparse: 4 GB not written, more than the cap lets be read.
    outcome = capped([*EDGE_RUNNER, str(bundle), str(digit_png)], tmp_path)
    assert_refused(outcome, SPEC, "bytes")


def test_an_input_image_of_gigabytes_is_refused_unread(bundle, tmp_path):
    huge = _sparse(tmp_path / "huge.png", 4 << 30)
    outcome = capped([*EDGE_RUNNER, str(bundle), str(huge)], tmp_path)
    assert_refused(outcome, "huge.png", "bytes")


def test_a_model_file_that_is_not_a_model_is_refused(bundle, digit_png, capfd):
    (bundle / float_file(bundle)).write_bytes(b"TFL3" + os.urandom(2000))
    assert_refused(edge(capfd, str(bundle), str(digit_png)), "LiteRT runtime can load")


@pytest.mark.parametrize(
    ("make_input", "words"),
    [
        (lambda d: d / "missing.png", ("missing.png", "does not exist")),
        (lambda d: _write(d / "text.png", b"hello"), ("text.png", "not a readable image")),
        (lambda d: _write(d / "cut.png", b"\x89PNG\r\n\x1a\n\0\0"), ("cut.png",)),
        (lambda d: _write(d / "empty.png", b""), ("empty.png",)),
    ],
    ids=["missing", "not_an_image", "truncated_png", "empty"],
)
def test_a_bad_input_file_is_one_error_line(make_input, words, bundle, tmp_path, capfd):
    assert_refused(edge(capfd, str(bundle), str(make_input(tmp_path))), *words)


@pytest.mark.parametrize("threads", ["0", "100000"])
def test_an_absurd_thread_count_is_refused(threads, bundle, digit_png, capfd):
    assert_refused(edge(capfd, str(bundle), str(digit_png), "--threads", threads), "--threads")


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def _sparse(path: Path, size: int) -> Path:
    with path.open("wb") as file:
        file.write(b"\x89PNG\r\n\x1a\n")
        file.truncate(size)
    return path
