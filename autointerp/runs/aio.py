"""Running a coroutine to the end from synchronous code, also where an event loop is already running (Jupyter).

``asyncio.run`` refuses to start inside a running loop; there the coroutine runs on a worker thread with a
loop of its own, and the caller waits for it (its exceptions are re-raised in the caller).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def in_running_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coro)``, on a worker thread when this thread already runs an event loop."""
    if not in_running_loop():
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="autointerp-loop") as pool:
        return pool.submit(asyncio.run, coro).result()
