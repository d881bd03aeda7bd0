"""A small per-process cache for lookups on hot paths (keys found by their secret).

Thread-safe, bounded (cleared whole when full: simpler than LRU, and refilling costs one
query per entry), and every entry lives ttl_s seconds, so a change made by another
process is seen within that time.
"""

import threading
import time
import weakref
from collections.abc import Callable
from typing import ClassVar


class TtlCache:
    # Every live cache, for clear_all: tests roll back the rows an entry came from, so an
    # entry must not outlive its test (a cached GatewayKey of a rolled-back seed kept its
    # old id for ttl_s, and the next test's authorization referred to a row that was gone).
    _instances: ClassVar[weakref.WeakSet["TtlCache"]] = weakref.WeakSet()

    def __init__(self, *, ttl_s: float | Callable[[], float], size_max: int) -> None:
        # A callable is read at each lookup (e.g. a setting tests may change).
        self._ttl_s = ttl_s if callable(ttl_s) else (lambda: ttl_s)
        self._size_max = size_max
        self._entries: dict[str, tuple[object, float]] = {}
        self._lock = threading.Lock()
        TtlCache._instances.add(self)

    def get(self, key: str):
        """The value stored under key, or None when absent or older than ttl_s."""
        entry = self._entries.get(key)
        if entry is None or time.monotonic() - entry[1] > self._ttl_s():
            return None
        return entry[0]

    def put(self, key: str, value) -> None:
        with self._lock:
            if len(self._entries) >= self._size_max:
                self._entries.clear()
            self._entries[key] = (value, time.monotonic())

    def forget(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    @classmethod
    def clear_all(cls) -> None:
        """Empty every cache in the process (tests, between databases)."""
        for cache in list(cls._instances):
            cache.clear()
