"""A small in-process cache, least recently used out first, bounded by entries and by bytes.

Every key includes what its value depends on (boundary set, data revision, day, language...),
so a change shows at once in every worker: a new revision is a new key, and old ones fall out.
A value may say what it weighs with a ``cache_weight()`` method (bytes, roughly).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

#: What a value without ``cache_weight()`` counts for.
DEFAULT_WEIGHT = 1024


def weight_of(value: Any) -> int:
    """Return what `value` weighs in the cache (its ``cache_weight()``, else 1 KB)."""
    fn = getattr(value, "cache_weight", None)
    if callable(fn):
        return int(fn())
    if isinstance(value, bytes | str):
        return len(value)
    if isinstance(value, tuple):
        return sum(weight_of(v) for v in value) or DEFAULT_WEIGHT
    return DEFAULT_WEIGHT


class LRUCache:
    """Values by key in process memory; the least recently used go first.

    Bounded by entries and by bytes (the national map data is about 9 MB per revision and
    language), so old revisions fall out instead of piling up.
    """

    def __init__(self, size: int = 64, max_bytes: int = 160 * 1024 * 1024):
        self.size = size
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.misses = 0

    def get(self, key: tuple, make: Callable[[], Any]) -> Any:
        """Return the value cached under `key`, making it with `make()` when absent."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key][0]
        value = make()  # outside the lock: a duplicate make is harmless, a stall is not
        weight = weight_of(value)
        with self._lock:
            self.misses += 1
            if key in self._items:
                self._bytes -= self._items.pop(key)[1]
            self._items[key] = (value, weight)
            self._bytes += weight
            while len(self._items) > 1 and (
                len(self._items) > self.size or self._bytes > self.max_bytes
            ):
                self._bytes -= self._items.popitem(last=False)[1][1]
        return value

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0
