"""A value made on one thread and waited for on others: the part of concurrent.futures'
Future that tc uses. Importing concurrent.futures imports logging, 3 ms of every `import tc`
and of every warm start, which wait for no thread."""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class Promise(Generic[T]):
    """Kept once, with `set_result` or `set_exception`; `result()` waits for it, then returns
    the value or raises the exception."""

    __slots__ = ("_kept", "_value", "_error")

    def __init__(self) -> None:
        self._kept = threading.Event()
        self._value: T | None = None
        self._error: BaseException | None = None

    def set_result(self, value: T) -> None:
        self._keep(value, None)

    def set_exception(self, error: BaseException) -> None:
        self._keep(None, error)

    def _keep(self, value: T | None, error: BaseException | None) -> None:
        if self._kept.is_set():
            raise RuntimeError("a promise is kept once")
        self._value, self._error = value, error
        self._kept.set()

    def done(self) -> bool:
        return self._kept.is_set()

    def result(self) -> T:
        self._kept.wait()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]
