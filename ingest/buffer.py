"""The bounded buffer between exchange fetches and database writes: one FIFO per kind of batch.

Fetched rows wait here as batches, in one queue per kind (``candles``, ``funding``, ``metrics``): each kind has its
own writer lane (:mod:`ingest.writer`), so a table that is locked or slow holds up only its own kind. The bound
(``max_rows``) is on all kinds together; past it, the oldest batches of the fullest kind leave memory: to the
durable spool (``spill``, :mod:`ingest.spool`) when the worker has one, else they are dropped and counted in
``rows_dropped``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ingest.metrics import Metrics


@dataclass(frozen=True)
class Batch:
    """Rows of one ``kind`` (``candles``, ``funding`` or ``metrics``) from ``exchange`` + ``stream``
    (``None`` for metrics); ``spool``: the spool files holding (part of) these rows, deleted once written."""

    kind: str
    frame: pd.DataFrame
    exchange: str | None = None
    stream: str | None = None
    spool: tuple[Path, ...] = ()

    @property
    def key(self) -> tuple:
        return (self.kind, self.exchange, self.stream)


class Buffer:
    """FIFOs of :class:`Batch` per kind holding at most ``max_rows`` rows together (one batch larger than the bound
    is kept alone). ``spill(batch)`` takes batches pushed out by the bound (``None``: drop them). Not thread-safe:
    used from the worker's event loop only."""

    def __init__(self, max_rows: int, metrics: Metrics, spill: Callable[[Batch], None] | None = None) -> None:
        self.max_rows = max_rows
        self.metrics = metrics
        self.spill = spill
        self._queues: dict[str, deque[Batch]] = {}
        self.rows = 0

    def rows_of(self, kind: str) -> int:
        """Rows of ``kind`` waiting."""
        return sum(len(b.frame) for b in self._queues.get(kind, ()))

    def batches(self) -> list[Batch]:
        """Every waiting batch (kinds in first-seen order, each oldest first)."""
        return [b for queue in self._queues.values() for b in queue]

    def put(self, batch: Batch) -> None:
        """Append ``batch``; while the bound is exceeded, push out the oldest batch of the fullest kind."""
        if batch.frame.empty:
            return
        self._queues.setdefault(batch.kind, deque()).append(batch)
        self.rows += len(batch.frame)
        while self.rows > self.max_rows:
            if sum(len(q) for q in self._queues.values()) <= 1:
                break
            queue = max(self._queues.values(), key=lambda q: sum(len(b.frame) for b in q))
            evicted = queue.popleft()
            self.rows -= len(evicted.frame)
            if self.spill is not None:
                self.spill(evicted)
            else:
                self.metrics.inc("rows_dropped", len(evicted.frame))

    def take_run(self, max_rows: int, kind: str) -> Batch | None:
        """Remove and return the oldest batches of ``kind`` with the same key as its first, merged, up to
        ``max_rows`` rows (at least one batch); ``None`` when ``kind`` has none."""
        queue = self._queues.get(kind)
        if not queue:
            return None
        first = queue.popleft()
        frames, n, spooled = [first.frame], len(first.frame), list(first.spool)
        while queue and queue[0].key == first.key and n + len(queue[0].frame) <= max_rows:
            nxt = queue.popleft()
            frames.append(nxt.frame)
            spooled += nxt.spool
            n += len(nxt.frame)
        self.rows -= n
        frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        return Batch(first.kind, frame, first.exchange, first.stream, tuple(spooled))

    def put_back(self, batch: Batch) -> None:
        """Return a batch that could not be written to the front of its kind (written first when the database
        returns)."""
        self._queues.setdefault(batch.kind, deque()).appendleft(batch)
        self.rows += len(batch.frame)

    def clear(self) -> list[Batch]:
        """Remove and return every waiting batch."""
        out = self.batches()
        self._queues.clear()
        self.rows = 0
        return out
