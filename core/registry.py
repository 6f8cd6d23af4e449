"""A small name -> object registry whose lookup errors list what exists."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


def closest_hint(name: str, choices: list[str]) -> str:
    """Returns ' Did you mean 'x'?' for the closest choice, or '' when none is close.

    Args:
        name: the name that was received.
        choices: the valid names.

    Returns:
        A sentence to append to an error message.
    """
    match = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f" Did you mean '{match[0]}'?" if match else ""


class Registry(Generic[T]):
    """Maps names to objects (task classes, model builders, datasets).

    Args:
        kind: what the registry holds, used in error messages (e.g. "task").
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Returns a decorator that registers its argument under `name`.

        Args:
            name: the public name; registering it twice is an error.

        Returns:
            The decorator, which returns the object unchanged.
        """

        def decorator(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"A {self.kind} named '{name}' is already registered.")
            self._items[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        """Returns the object registered under `name`.

        Raises:
            LookupError: naming the known entries and the closest one.
        """
        try:
            return self._items[name]
        except KeyError:
            known = sorted(self._items)
            raise LookupError(
                f"Unknown {self.kind} '{name}'. Known {self.kind}s: {known}."
                + closest_hint(name, known)
            ) from None

    def names(self) -> list[str]:
        """Returns the registered names, sorted."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
