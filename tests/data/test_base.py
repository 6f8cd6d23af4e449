"""The shared duplicate finder every loader of repeatable examples goes through."""

from __future__ import annotations

import numpy as np

from tasklab.data.base import find_duplicates


def test_copies_under_one_label_keep_their_first_and_contradictions_keep_none():
    keys = ["a", "b", "a", "c", "b", "a", "d"]
    labels = [0, 1, 0, 1, 0, 0, 1]
    duplicates = find_duplicates(keys, labels)
    assert duplicates.repeated == ((0, 2, 5),)
    assert duplicates.conflicting == ((1, 4),)
    np.testing.assert_array_equal(duplicates.keep, [0, 3, 6])
    assert duplicates.dropped == 4


def test_no_duplicates_keeps_everything_in_order():
    duplicates = find_duplicates([b"x", b"y", b"z"], ["p", "q", "p"])
    np.testing.assert_array_equal(duplicates.keep, [0, 1, 2])
    assert duplicates.dropped == 0 and not duplicates.repeated and not duplicates.conflicting


def test_the_verdict_does_not_depend_on_the_order_of_the_examples():
    rng = np.random.default_rng(0)
    keys = rng.integers(0, 30, size=200)
    labels = rng.integers(0, 3, size=200)
    order = rng.permutation(200)
    kept = {(keys[i], labels[i]) for i in find_duplicates(keys.tolist(), labels.tolist()).keep}
    shuffled = find_duplicates(keys[order].tolist(), labels[order].tolist())
    assert {(keys[order][i], labels[order][i]) for i in shuffled.keep} == kept
