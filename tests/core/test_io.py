from __future__ import annotations

import stat

import pytest

from tasklab.core import io


def test_atomic_write_replaces_whole_file(tmp_path):
    path = tmp_path / "sub" / "metrics.json"
    io.write_json(path, {"a": 1})
    io.write_json(path, {"a": 2})
    assert io.read_json(path) == {"a": 2}
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in path.parent.iterdir()] == ["metrics.json"]


def test_failed_write_leaves_the_old_artifact_and_no_temp_file(tmp_path):
    path = tmp_path / "model.keras"
    path.write_text("old")
    with pytest.raises(RuntimeError), io.atomic_path(path) as tmp:
        assert tmp.suffix == ".keras" and tmp.parent == tmp_path
        tmp.write_text("half-written")
        raise RuntimeError("disk full")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]


def test_nan_is_refused_rather_than_written_as_invalid_json(tmp_path):
    with pytest.raises(ValueError):
        io.write_json(tmp_path / "m.json", {"x": float("nan")})
    assert not (tmp_path / "m.json").exists()


def test_read_json_names_the_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"metrics\.json"):
        io.read_json(tmp_path / "metrics.json")
