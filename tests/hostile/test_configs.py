"""Hostile configs: YAML built to exhaust memory or the parser, and the usual mistakes.

Every case: exit status 2, one `error:` line naming the file (or key) and the
fix, no traceback. Config errors answer before TensorFlow is imported, so the
memory cases run as real `tasklab` processes under a 2 GB address-space cap.
"""

from __future__ import annotations

import pytest

from tests.hostile.harness import (
    TASKLAB,
    TENSORFLOW_ADDRESS_SPACE,
    assert_refused,
    capped,
    cli,
    digest,
)


def billion_laughs(levels: int = 9) -> str:
    """YAML whose aliases repeat each other: 1.4 KB that expands to 9**levels strings."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


DIGITS_HEAD = "name: d\ntask: image_classification\ndata: {uri: 'builtin:digits'}\n"


def test_billion_laughs_config_is_refused_in_bounded_memory(tmp_path):
    config = tmp_path / "bomb.yaml"
    config.write_text(billion_laughs())
    line = assert_refused(capped([*TASKLAB, "run", str(config)], tmp_path), "bomb.yaml", "alias")
    assert "billion laughs" in line


def test_billion_laughs_in_a_set_value_is_refused_in_bounded_memory(tmp_path):
    flow = "{" + billion_laughs().strip().replace("\n", ", ") + "}"  # One line, as --set takes.
    outcome = capped([*TASKLAB, "run", "digits", "--set", f"data.columns={flow}"], tmp_path)
    assert_refused(outcome, "override", "alias")


CASES = {
    # name: (config text, words the error must name)
    "alias_that_contains_itself": ("a: &a [1, *a]\n" + DIGITS_HEAD, ("contains itself",)),
    "nested_too_deep": ("x: " + "[" * 50_000 + "]" * 50_000 + "\n", ("too deeply",)),
    "tab_indentation": (DIGITS_HEAD + "train:\n\tepochs: 3\n", ("line 5", "not valid YAML")),
    "unclosed_bracket": (DIGITS_HEAD + "baselines: [xgboost\n", ("not valid YAML", "line")),
    "top_level_list": ("- name: d\n- task: x\n", ("mapping of sections",)),
    "unknown_section": (DIGITS_HEAD + "trian: {epochs: 3}\n", ("trian", "train")),
    "unknown_train_key": (DIGITS_HEAD + "train: {epoch: 3}\n", ("epoch", "epochs")),
    "wrong_type": (DIGITS_HEAD + "train: {epochs: many}\n", ("train.epochs", "many")),
    "unknown_task": (
        "name: d\ntask: image_clasification\ndata: {uri: 'builtin:digits'}\n",
        ("image_clasification", "image_classification"),
    ),
    "unknown_model": (DIGITS_HEAD + "model: {name: resnet9000}\n", ("resnet9000",)),
    "unknown_model_option": (DIGITS_HEAD + "model: {name: small_cnn, filtres: 8}\n", ("filtres",)),
    "unknown_scheme": ("name: d\ntask: image_classification\ndata: {uri: 'ftp:x'}\n", ("ftp",)),
    "no_scheme": ("name: d\ntask: image_classification\ndata: {uri: digits}\n", ("SCHEME",)),
    "unknown_builtin": (
        "name: d\ntask: image_classification\ndata: {uri: 'builtin:digit'}\n",
        ("digit", "digits"),
    ),
    "bad_name": ("name: ../../etc\ntask: image_classification\ndata: {uri: 'builtin:digits'}\n",
                 ("name must be",)),
    "missing_task": ("name: d\ndata: {uri: 'builtin:digits'}\n", ("task",)),
    "fraction_out_of_range": (DIGITS_HEAD.replace("}", ", val_fraction: 1.5}"), ("val_fraction",)),
    "zero_max_pixels": (DIGITS_HEAD.replace("}", ", max_pixels: 0}"), ("max_pixels",)),
    "unknown_baseline": (DIGITS_HEAD + "baselines: [xgbost]\n", ("xgbost", "xgboost")),
    "unknown_top_level_key": (DIGITS_HEAD + "name2: 1\n", ("name2",)),
    "yes_as_a_string": (DIGITS_HEAD.replace("'builtin:digits'", "yes"), ("data.uri", "quote")),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_config_file_is_one_error_line(case, tmp_path, capfd):
    text, words = CASES[case]
    config = tmp_path / f"{case}.yaml"
    config.write_text(text)
    assert_refused(cli(capfd, "run", str(config)), *words)


def test_a_config_of_megabytes_is_refused_unread(tmp_path, capfd):
    config = tmp_path / "huge.yaml"
    with config.open("wb") as file:
        file.truncate(50 << 20)  # Sparse: 50 MB of zeros without writing them.
    assert_refused(cli(capfd, "run", str(config)), "huge.yaml", "bytes")


def test_a_config_that_is_not_utf8_is_refused(tmp_path, capfd):
    config = tmp_path / "latin1.yaml"
    config.write_bytes(DIGITS_HEAD.encode() + "# Zürich\n".encode("latin-1"))
    assert_refused(cli(capfd, "run", str(config)), "latin1.yaml", "UTF-8")


def test_a_missing_config_names_the_shipped_ones(tmp_path, capfd):
    assert_refused(cli(capfd, "run", "digitz"), "digitz", "digits")


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ("train.epochs", ("section.key=value",)),
        ("train.epochs=[1", ("train.epochs=[1", "not valid YAML")),
        ("train.epochs.x=3", ("epochs", "not a section")),
        ("a: &a [1, *a]", ("section.key=value",)),
        ("train.epochs=&a [1, *a]", ("contains itself",)),
    ],
)
def test_a_bad_override_is_one_error_line(override, words, capfd):
    assert_refused(cli(capfd, "run", "digits", "--set", override), *words)


@pytest.mark.parametrize(
    ("config_text", "words"),
    [
        ("- just\n- a list\n", ("config.yaml", "mapping")),
        ("train: {epochs: [\n", ("config.yaml", "not valid YAML")),
    ],
    ids=["list", "broken"],
)
@pytest.mark.parametrize("command", ["export", "explain"])
def test_a_run_whose_config_was_replaced_is_refused_and_kept(
    command, config_text, words, digits_run, capfd
):
    (digits_run / "config.yaml").write_text(config_text)
    before = digest(digits_run)
    assert_refused(cli(capfd, command, str(digits_run)), *words)
    assert digest(digits_run) == before


def test_a_run_whose_config_became_a_billion_laughs_is_refused_in_bounded_memory(
    digits_run, tmp_path
):
    """`tasklab export` re-reads the run's config; copying its tree expanded the aliases."""
    (digits_run / "config.yaml").write_text(billion_laughs())
    before = digest(digits_run)
    outcome = capped(
        [*TASKLAB, "export", str(digits_run)], tmp_path, address_space=TENSORFLOW_ADDRESS_SPACE
    )
    assert_refused(outcome, "config.yaml", "alias")
    assert digest(digits_run) == before
