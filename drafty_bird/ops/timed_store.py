"""The store proxy that times every async call into drafty_bird_db_operation_duration_seconds{op}."""

import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

from drafty_bird.ops.metrics import DB_SECONDS


class TimedStore:
    """Times every async store call into drafty_bird_db_operation_duration_seconds{op}.

    A proxy, so the data layer never imports ops; op is the method name (bounded).
    """

    def __init__(self, store: Any) -> None:
        self._store = store
        self._wrapped: dict[str, Callable[..., Awaitable[Any]]] = {}

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if name.startswith("_") or not inspect.iscoroutinefunction(attr):
            if inspect.ismethod(attr) and not name.startswith("_"):
                setattr(self, name, attr)  # a plain method (cached_top): untimed, found directly from now on
            return attr
        if name not in self._wrapped:
            histogram = DB_SECONDS.labels(name)

            async def timed(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    return await getattr(self._store, name)(*args, **kwargs)
                finally:
                    histogram.observe(time.perf_counter() - started)

            self._wrapped[name] = timed
            setattr(self, name, timed)  # found directly from now on: __getattr__ runs once per name
        return self._wrapped[name]
