"""Keyed entity tables that remember what changed since the last flush.

Coalescing rules: an entity changed many times appears once, with its value at ``take`` time;
one created and removed between two takes appears nowhere (the flusher never saw it); one
removed and then re-created appears as upserted.

Tombstones remember, per key, the seq of the event that removed an entity, so that a list
reply older than that removal cannot bring a ghost back.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
E = TypeVar("E")

MAX_TOMBSTONES = 4096


@dataclass(frozen=True, slots=True)
class Delta(Generic[K, E]):
    """What changed in one table: copies of the upserted entities, and the removed keys."""

    upserted: dict[K, E] = field(default_factory=dict)
    removed: frozenset[K] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.upserted or self.removed)


class Table(Generic[K, E]):
    """Entities of one kind by key. ``group`` indexes tuple keys by their first part (queue)."""

    __slots__ = ("rows", "groups", "_upserted", "_removed", "_created", "_tombs")

    def __init__(self, *, grouped: bool = False) -> None:
        self.rows: dict[K, E] = {}
        self.groups: dict[Any, dict[K, E]] | None = {} if grouped else None
        self._upserted: dict[K, E] = {}
        self._removed: set[K] = set()
        self._created: set[K] = set()
        self._tombs: OrderedDict[K, int] = OrderedDict()

    # -- reading ---------------------------------------------------------------------------
    def get(self, key: K) -> E | None:
        return self.rows.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self.rows

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[K]:
        return iter(self.rows)

    def values(self) -> list[E]:
        return list(self.rows.values())

    def group(self, head: Any) -> dict[K, E]:
        assert self.groups is not None
        return self.groups.get(head, {})

    # -- writing ---------------------------------------------------------------------------
    def add(self, key: K, entity: E) -> E:
        if key not in self.rows:
            if key in self._removed:
                self._removed.discard(key)
            else:
                self._created.add(key)
            self._tombs.pop(key, None)
        self.rows[key] = entity
        if self.groups is not None:
            self.groups.setdefault(key[0], {})[key] = entity  # type: ignore[index]
        self._upserted[key] = entity
        return entity

    def mark(self, key: K, entity: E) -> None:
        """Record that ``entity`` (already in the table) changed."""
        self._upserted[key] = entity

    def remove(self, key: K, seq: int = 0) -> E | None:
        entity = self.rows.pop(key, None)
        if entity is None:
            return None
        if self.groups is not None:
            head = key[0]  # type: ignore[index]
            members = self.groups.get(head)
            if members is not None:
                members.pop(key, None)
                if not members:
                    del self.groups[head]
        self._upserted.pop(key, None)
        if key in self._created:
            self._created.discard(key)
        else:
            self._removed.add(key)
        self.bury(key, seq)
        return entity

    def bury(self, key: K, seq: int) -> None:
        """Remember that an event at ``seq`` removed ``key`` (present or not)."""
        self._tombs[key] = seq
        self._tombs.move_to_end(key)
        if len(self._tombs) > MAX_TOMBSTONES:
            self._tombs.popitem(last=False)

    def removed_after(self, key: K, seq: int) -> bool:
        """True if an event newer than ``seq`` removed ``key``."""
        tomb = self._tombs.get(key)
        return tomb is not None and tomb > seq

    def was_removed(self, key: K) -> bool:
        return key in self._tombs

    def forget_history(self) -> None:
        """A new session: seq numbers restart, so old tombstones mean nothing."""
        self._tombs.clear()

    # -- flushing --------------------------------------------------------------------------
    def take(self) -> Delta[K, E]:
        delta: Delta[K, E] = Delta(
            {k: copy.copy(v) for k, v in self._upserted.items()}, frozenset(self._removed)
        )
        self._upserted = {}
        self._removed = set()
        self._created = set()
        return delta
