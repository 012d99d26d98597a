"""An answer (or a FAQ) being written, followed live: its state so far, handed to every reader as it grows.

The generating thread changes the state with each piece; each reader's event loop is woken through
`call_soon_threadsafe`, so a piece reaches a reader in the same process within milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, replace
from typing import Generic, Protocol, TypeVar

COALESCE = 0.05  # after the first piece, a reader gets at most one update per 50 ms
NOTES = {
    "full text": "Answered from the paper's full text (its PDF).",
    "abstract": "Answered from the abstract only: the paper's full text was not read.",
}


@dataclass(frozen=True, slots=True)
class AnswerState:
    """What a reader sees of an answer at one moment."""

    status: str  # running | ready | failed
    text: str
    model: str
    shared: bool  # stored and shared with every reader who asks the same (False: the reader's own model)
    context: str | None = None
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.status in ("ready", "failed")

    @property
    def note(self) -> str | None:
        return NOTES.get(self.context or "")


class _Finishable(Protocol):
    @property
    def done(self) -> bool: ...


S = TypeVar("S", bound=_Finishable)


class Live(Generic[S]):
    """Something generated in this process for readers to follow: its state now, and who to wake when
    it changes. Once every reader has gone before it is done, `abandoned` tells the generator to stop."""

    def __init__(self, first: S):
        self._lock = threading.Lock()
        self._state = first
        self._wakers: set[Callable[[], None]] = set()
        self._followed = self.abandoned = False

    def state(self) -> S:
        return self._state

    def change(self, step: Callable[[S], S]) -> None:
        """Replace the state with `step(state)` and wake every reader."""
        with self._lock:
            self._state = step(self._state)
            wakers = list(self._wakers)
        for wake in wakers:
            wake()

    async def follow(self) -> AsyncGenerator[S, None]:
        """Each new state, the first at once, then at most one per COALESCE seconds, until done."""
        loop, changed = asyncio.get_running_loop(), asyncio.Event()

        def wake() -> None:
            with contextlib.suppress(RuntimeError):  # the reader's loop is closed: nobody to wake
                loop.call_soon_threadsafe(changed.set)

        with self._lock:
            self._wakers.add(wake)
            self._followed = True
        try:
            last: S | None = None
            while True:
                changed.clear()
                state = self._state
                if state != last:
                    yield state
                    last = state
                    if state.done:
                        return
                    await asyncio.sleep(COALESCE if _grew(state) else 0)
                if self._state == last:
                    await changed.wait()
        finally:
            with self._lock:
                self._wakers.discard(wake)
                self.abandoned = self._followed and not self._wakers and not self._state.done


def _grew(state: object) -> bool:
    """Whether a state has content yet: the first piece goes at once, later ones are coalesced."""
    return bool(getattr(state, "text", None) or getattr(state, "answers", None))


class LiveAnswer(Live[AnswerState]):
    """An answer being generated in this process: its text so far, and who to wake when it grows."""

    def __init__(self, *, model: str, shared: bool):
        super().__init__(AnswerState("running", "", model, shared))

    def update(self, **changes: str | None) -> None:
        self.change(lambda state: replace(state, **changes))  # type: ignore[arg-type]

    def append(self, piece: str) -> None:
        self.change(lambda state: replace(state, text=state.text + piece))
