"""A durable spool of batches the database did not take: rows fetched are never lost, at shutdown included.

The live worker writes a batch here when it cannot reach the database in time: at shutdown (whatever is still
buffered or in flight when the flush deadline passes) and when its in-memory buffer overflows during an outage.
Its writer lanes replay the files, oldest first, whenever their kind has nothing newer waiting: on the next start
that is at once. Writes are idempotent, so a batch that was committed after all (its cancel lost the race) writes
0 rows again. A file is deleted only after its batch is written; a batch the database refuses for good (not an
outage: e.g. a constraint) is moved to ``rejected/`` for a person to inspect, never deleted.

Layout: ``<ALPHAPULSE_VAR_DIR>/spool/<host>_<database>/<ns>-<seq>-<kind>.json`` (one directory per database, so
a spool is replayed into the database it was meant for), mode 0700. Each file holds one batch: kind, exchange,
stream and every column with its pandas dtype and values (times as integer ns, missing values ``null``; an object
column of ``datetime`` values, as live rows have, is stored as UTC ``datetime64``); written
to a temporary name, fsynced, renamed, directory fsynced (a crash leaves either the whole file or none).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import time
from datetime import datetime
from pathlib import Path

import orjson
import pandas as pd
from sqlalchemy import Engine

from ingest.buffer import Batch

#: Directory (under a spool) of batches the database refused for good.
REJECTED = "rejected"


def _encode_column(series: pd.Series) -> dict:
    if series.dtype == object and any(isinstance(v, datetime) for v in series):  # live rows: datetimes or None
        series = pd.to_datetime(series, utc=True)
    dtype = str(series.dtype)
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        values = [None if pd.isna(v) else int(pd.Timestamp(v).value) for v in series]
    elif pd.api.types.is_float_dtype(series.dtype):
        values = [None if pd.isna(v) else float(v) for v in series]
    else:
        values = [None if v is None or (isinstance(v, float) and pd.isna(v)) else v for v in series.tolist()]
    return {"name": series.name, "dtype": dtype, "values": values}


def _decode_column(column: dict) -> pd.Series:
    dtype, values = column["dtype"], column["values"]
    if dtype.startswith("datetime64"):
        times = pd.to_datetime(pd.Series([pd.NaT if v is None else v for v in values], dtype="object"), unit="ns",
                               utc="UTC" in dtype)
        return times.astype(dtype).rename(column["name"])
    if dtype.startswith("float"):
        return pd.Series([float("nan") if v is None else v for v in values], dtype=dtype, name=column["name"])
    return pd.Series(values, dtype=dtype, name=column["name"])


def encode_batch(batch: Batch) -> bytes:
    """JSON bytes of ``batch`` (kind, exchange, stream, typed columns); :func:`decode_batch` restores it exactly."""
    return orjson.dumps({"kind": batch.kind, "exchange": batch.exchange, "stream": batch.stream,
                         "columns": [_encode_column(batch.frame[c]) for c in batch.frame.columns]})


def decode_batch(data: bytes) -> Batch:
    """The :class:`Batch` of :func:`encode_batch`'s bytes; raises ``ValueError``/``KeyError`` for a corrupt file."""
    doc = orjson.loads(data)
    frame = pd.DataFrame({c["name"]: _decode_column(c) for c in doc["columns"]})
    return Batch(doc["kind"], frame, doc["exchange"], doc["stream"])


class Spool:
    """The spool directory of one database (module docstring). Not thread-safe: the worker's event loop only."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._seq = itertools.count()

    @classmethod
    def for_engine(cls, var_dir: Path, engine: Engine) -> Spool:
        """The spool of ``engine``'s database under ``var_dir/spool``."""
        url = engine.url
        key = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{url.host or 'socket'}_{url.database}")
        return cls(var_dir / "spool" / key)

    def _durable_write(self, path: Path, data: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def save(self, batch: Batch) -> Path:
        """Write ``batch`` durably; returns its file. Raises ``OSError`` (disk full, permissions)."""
        path = self.directory / f"{time.time_ns():020d}-{next(self._seq):06d}-{batch.kind}.json"
        self._durable_write(path, encode_batch(batch))
        return path

    def pending(self, kind: str) -> list[Path]:
        """Files of ``kind`` waiting to be written, oldest first."""
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob(f"*-{kind}.json"))

    def load(self, path: Path) -> Batch:
        """The batch of ``path``, remembering its file (``Batch.spool``); raises ``OSError``, ``ValueError`` or
        ``KeyError`` for an unreadable file."""
        batch = decode_batch(path.read_bytes())
        return Batch(batch.kind, batch.frame, batch.exchange, batch.stream, spool=(path,))

    def done(self, batch: Batch) -> None:
        """Delete the files of a written batch."""
        for path in batch.spool:
            path.unlink(missing_ok=True)

    def reject(self, batch: Batch) -> Path:
        """Keep a batch the database refused for good under ``rejected/`` (its files move there; a batch from
        memory is written there). Returns the directory."""
        target = self.directory / REJECTED
        target.mkdir(parents=True, exist_ok=True, mode=0o700)
        if batch.spool:
            for path in batch.spool:
                self.reject_file(path)
        else:
            self._durable_write(target / f"{time.time_ns():020d}-{next(self._seq):06d}-{batch.kind}.json",
                                encode_batch(batch))
        return target

    def reject_file(self, path: Path) -> Path:
        """Move one spool file (e.g. unreadable) under ``rejected/``; returns the directory."""
        target = self.directory / REJECTED
        target.mkdir(parents=True, exist_ok=True, mode=0o700)
        if path.exists():
            path.replace(target / path.name)
        return target

    def tidy(self) -> None:
        """Remove the directory when nothing is left in it (a test database's spool, a clean shutdown)."""
        with contextlib.suppress(OSError):
            self.directory.rmdir()
