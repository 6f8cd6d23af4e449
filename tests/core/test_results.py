"""`Record`: stage results as frozen dataclasses, written and read back as JSON."""

from __future__ import annotations

import dataclasses

import pytest

from tasklab.core import io
from tasklab.core.results import Record


@dataclasses.dataclass(frozen=True)
class Part(Record):
    name: str
    scores: tuple[float, ...]


@dataclasses.dataclass(frozen=True)
class Whole(Record):
    parts: tuple[Part, ...]
    best: Part | None
    notes: dict[str, int]
    added_later: str = "default"


WHOLE = Whole(parts=(Part("a", (1.0, 2.0)), Part("b", ())), best=Part("a", (1.0,)), notes={"x": 1})


def test_a_record_round_trips_through_its_json_file(tmp_path):
    path = WHOLE.write(tmp_path / "whole.json")
    assert io.read_json(path)["parts"][0] == {"name": "a", "scores": [1.0, 2.0]}
    again = Whole.read(path)
    assert again == WHOLE and isinstance(again.parts[0], Part) and again.parts[0].scores == (1, 2)


def test_optional_records_and_keys_added_later_read_from_older_files():
    older = {"parts": [], "best": None, "notes": {}}
    assert Whole.from_json(older, "old.json") == Whole((), None, {}, "default")


def test_unknown_keys_are_ignored():
    data = {**WHOLE.to_json(), "written_by_a_newer_version": True}
    assert Whole.from_json(data, "new.json") == WHOLE


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"parts": [], "notes": {}}, ("whole.json", "without the key(s) ['best']")),
        ({"parts": [{"name": "a"}], "best": None, "notes": {}}, ("['scores']",)),
        ({"parts": {"name": "a"}, "best": None, "notes": {}}, ("dict where a list belongs",)),
        ([1, 2], ("a JSON list, not an object",)),
    ],
    ids=["missing_key", "missing_nested_key", "object_for_list", "list_for_object"],
)
def test_a_damaged_file_is_refused_naming_it_and_the_problem(data, words):
    with pytest.raises(io.ArtifactReadError) as raised:
        Whole.from_json(data, "runs/x/whole.json")
    message = str(raised.value)
    assert "runs/x/whole.json" in message and "tasklab run" in message
    for word in words:
        assert word in message
