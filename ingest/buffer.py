"""The bounded buffer between exchange fetches and database writes.

Fetched rows wait here as batches; the writer takes runs of batches of one kind + exchange + stream. While
the database is unreachable batches accumulate up to ``max_rows`` rows; past the bound the **oldest** batches
are dropped (the live feed matters most; catch-up backfill can refetch history) and counted in the
``rows_dropped`` metric.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import pandas as pd

from ingest.metrics import Metrics


@dataclass(frozen=True)
class Batch:
    """Rows of one ``kind`` (``candles``, ``funding`` or ``metrics``) from ``exchange`` + ``stream``
    (``None`` for metrics)."""

    kind: str
    frame: pd.DataFrame
    exchange: str | None = None
    stream: str | None = None

    @property
    def key(self) -> tuple:
        return (self.kind, self.exchange, self.stream)


class Buffer:
    """FIFO of :class:`Batch` holding at most ``max_rows`` rows (one batch larger than the bound is kept
    alone). Not thread-safe: used from the worker's event loop only."""

    def __init__(self, max_rows: int, metrics: Metrics) -> None:
        self.max_rows = max_rows
        self.metrics = metrics
        self._batches: deque[Batch] = deque()
        self.rows = 0

    def put(self, batch: Batch) -> None:
        """Append ``batch``; drop the oldest batches while the bound is exceeded (counted)."""
        if batch.frame.empty:
            return
        self._batches.append(batch)
        self.rows += len(batch.frame)
        while self.rows > self.max_rows and len(self._batches) > 1:
            dropped = self._batches.popleft()
            self.rows -= len(dropped.frame)
            self.metrics.inc("rows_dropped", len(dropped.frame))

    def take_run(self, max_rows: int) -> Batch | None:
        """Remove and return the oldest batches with the same key as the first, merged, up to ``max_rows``
        rows (at least one batch); ``None`` when empty."""
        if not self._batches:
            return None
        first = self._batches.popleft()
        frames, n = [first.frame], len(first.frame)
        while self._batches and self._batches[0].key == first.key and n + len(self._batches[0].frame) <= max_rows:
            nxt = self._batches.popleft()
            frames.append(nxt.frame)
            n += len(nxt.frame)
        self.rows -= n
        frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        return Batch(first.kind, frame, first.exchange, first.stream)

    def put_back(self, batch: Batch) -> None:
        """Return a batch that could not be written to the front (written first when the database returns)."""
        self._batches.appendleft(batch)
        self.rows += len(batch.frame)
