"""The ingest worker's use of glibc's allocator: fewer malloc arenas, and freed heap memory handed back to the
system (``mallopt(3)``, ``malloc_trim(3)``). Where there is no glibc both are no-ops that return False."""

from __future__ import annotations

import ctypes


def _libc():
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


_LIBC = _libc()

#: glibc ``mallopt`` parameter ``M_ARENA_MAX`` (malloc.h) and the arenas the worker keeps.
M_ARENA_MAX, WORKER_ARENAS = -8, 2


def limit_malloc_arenas(arenas: int = WORKER_ARENAS) -> bool:
    """Cap glibc's malloc arenas (as ``MALLOC_ARENA_MAX``): each database write runs in a new thread
    (``ingest.sessions.in_thread``) and glibc gives threads arenas of their own, up to 8 per core, each keeping the
    memory it freed (~2 MB of worker RSS at the full universe, ``make bench-market``). Call before threads start.
    Returns False where there is no glibc (the default allocator stays)."""
    try:
        return bool(_LIBC.mallopt(M_ARENA_MAX, arenas))
    except AttributeError:  # no libc (None) or no mallopt
        return False


def trim_heap() -> bool:
    """Give the heap's free pages back to the system (``malloc_trim(0)``): the worker's minute frames and driver
    buffers are freed after each write, but glibc keeps the pages (its mmap threshold grows after large frees, so
    later large frames come from the heap). Returns True when memory was released. Cost: one walk of the heap's
    free lists (well under a millisecond at the worker's size)."""
    try:
        return bool(_LIBC.malloc_trim(0))
    except AttributeError:
        return False
