"""The start/stop/with shape every sandbox service shares, written once."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class StartStop:
    """``with service:`` starts it and always stops it, also when the block raised."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
