"""CPU time of one piece of benchmark work, split between this process and the database server (not a test).

Where a cold page opening's time goes decides what can shorten it: an opening whose server time is about this
process's CPU time is bound by Python (one interpreter lock: reading on more connections at once does not help), one
with idle CPU is bound by waits. :class:`CpuMeter` reads both around a piece of work: this process's CPU
(``time.process_time``: every thread, Flask's test client included) and the embedded TimescaleDB cluster's (the
postmaster of ``var/pgdata`` and its children, from Linux's ``/proc``: backends, WAL writer, background workers).
The server's figure is None when the database is not the embedded cluster or ``/proc`` cannot be read; its
resolution is the kernel's clock tick (10 ms), so it is meaningful only as a mean over many openings.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from db.local import LocalCluster
from settings import Settings


def _postmaster_pid(settings: Settings) -> int | None:
    """The embedded cluster's postmaster pid (first line of ``postmaster.pid``), or None."""
    if not settings.uses_local_cluster:
        return None
    try:
        return int((LocalCluster.from_settings(settings).data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _stat_fields(path: Path) -> list[str] | None:
    """The fields of a ``/proc/<pid>/stat`` after the command name (field 3 onwards), or None when it is gone."""
    try:
        text = path.read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def _cluster_seconds(postmaster: int) -> float | None:
    """User + system CPU seconds of ``postmaster`` and its children (``/proc/<pid>/stat`` fields 14 and 15, in
    clock ticks; ``man 5 proc``), or None when ``/proc`` has no such process."""
    tick = os.sysconf("SC_CLK_TCK")
    total, found = 0, False
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = _stat_fields(stat)
        if fields is None:
            continue
        if int(stat.parent.name) == postmaster or int(fields[1]) == postmaster:  # pid, or parent pid (field 4)
            total += int(fields[11]) + int(fields[12])
            found = True
    return total / tick if found else None


class CpuMeter:
    """Reads (this process's CPU seconds, the embedded cluster's CPU seconds or None); :meth:`spent` gives the
    milliseconds of each since a :meth:`read`."""

    def __init__(self, settings: Settings) -> None:
        self.postmaster = _postmaster_pid(settings)

    def _cluster(self) -> float | None:
        return _cluster_seconds(self.postmaster) if self.postmaster is not None else None

    def read(self) -> tuple[float, float | None]:
        """``(process seconds, cluster seconds or None)`` now (the process's read last: the scan of ``/proc`` is
        not counted)."""
        cluster = self._cluster()
        return time.process_time(), cluster

    def spent(self, since: tuple[float, float | None]) -> tuple[float, float | None]:
        """``(process ms, cluster ms or None)`` since ``since`` (a :meth:`read`; the process's read first, so the
        scan of ``/proc`` is not counted)."""
        process, cluster = time.process_time(), self._cluster()
        used = None if cluster is None or since[1] is None else (cluster - since[1]) * 1000
        return (process - since[0]) * 1000, used
