"""One fetch per key, however many threads ask at once (shared replies under `--concurrency`)."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Hashable
from typing import TypeVar

V = TypeVar("V")

# set while a test is judged again alone (`--concurrency`): what it reads is fetched again, and the new
# value replaces the shared one (a reply fetched while other requests were in flight may be their victim)
REFRESH: contextvars.ContextVar[bool] = contextvars.ContextVar("rc_refresh_shared", default=False)


class Once:
    """A cache filled by the first asker of each key; others asking meanwhile wait for that fetch.

    A fetch that raises caches nothing and wakes the waiters, who then fetch for themselves (as
    each would have alone)."""

    def __init__(self) -> None:
        self._values: dict[Hashable, object] = {}
        self._asking: dict[Hashable, threading.Event] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, fetch: Callable[[], V]) -> tuple[V, bool]:
        """The value for `key` and whether this call fetched it."""
        while True:
            with self._lock:
                if key in self._values and not REFRESH.get():
                    return self._values[key], False  # type: ignore[return-value]
                asking = self._asking.get(key)
                if asking is None:
                    self._asking[key] = threading.Event()
                    break
            asking.wait()  # bounded: the fetch's requests have their deadlines
        try:
            value = fetch()
            with self._lock:
                self._values[key] = value
        finally:
            with self._lock:
                self._asking.pop(key).set()
        return value, True
